//! SQL text run in-process the way the front ends run it: schema statements
//! go to [`Ddl`], everything else to DataFusion.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use smackql_catalog::definitions::parse_external_tables;

use crate::ddl::Ddl;

/// Runs SQL scripts in a session.
#[derive(Debug, Clone)]
pub struct SqlRunner {
    ddl: Arc<Ddl>,
}

impl SqlRunner {
    /// A runner that sends Cassandra schema statements to `ddl`.
    pub fn new(ddl: Arc<Ddl>) -> Self {
        Self { ddl }
    }

    /// Runs every statement of `sql` in order, and returns the rows of the
    /// last one (none for a schema statement).
    pub async fn run(
        &self,
        session: &SessionContext,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, DataFusionError> {
        if let Some(creates) = parse_external_tables(sql) {
            for create in &creates {
                self.ddl.create_external(create).await?;
            }
            return Ok(Vec::new());
        }
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| DataFusionError::SQL(Box::new(e), None))?;
        let mut last = Vec::new();
        for statement in statements {
            last = match self.ddl.execute(&statement).await {
                Some(done) => {
                    done?;
                    Vec::new()
                }
                None => session.sql(&statement.to_string()).await?.collect().await?,
            };
        }
        Ok(last)
    }
}
