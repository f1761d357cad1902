//! `.slt` files, run over the Postgres wire and in-process.
//!
//! The same file runs both ways, so a difference between what DataFusion
//! answers and what a Postgres client receives shows up as a failure. Errors
//! read `SQLSTATE: message` in both modes, so files can expect codes:
//!
//! ```text
//! statement error 42P01
//! select * from nope
//! ```

use std::fmt;
use std::path::Path;

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use smackql::frontend::pg::errors::classify;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::{Client, SimpleQueryMessage};

/// An error as both modes report it.
#[derive(Debug)]
pub struct SltError(String);

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// Runs statements over the Postgres wire protocol.
pub struct WireDb {
    client: Client,
}

impl WireDb {
    /// Wraps a connected client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for WireDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let messages = self.client.simple_query(sql).await.map_err(|e| {
            let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            let message = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string());
            SltError(format!("{code}: {message}"))
        })?;
        let mut rows = Vec::new();
        let mut columns = 0;
        let mut returned_rows = false;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(desc) => {
                    columns = desc.len();
                    returned_rows = true;
                }
                SimpleQueryMessage::Row(row) => {
                    returned_rows = true;
                    columns = row.len();
                    rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map_or("NULL".to_string(), normalize))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(_) => {}
                _ => {}
            }
        }
        if returned_rows {
            Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; columns],
                rows,
            })
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "smackql-wire"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// Runs statements on a DataFusion session in-process.
pub struct InProcessDb {
    ctx: SessionContext,
}

impl InProcessDb {
    /// Wraps a session.
    pub fn new(ctx: SessionContext) -> Self {
        Self { ctx }
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for InProcessDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let to_error = |e: datafusion::error::DataFusionError| {
            let (code, message) = classify(&e);
            SltError(format!("{code}: {message}"))
        };
        let df = self.ctx.sql(sql).await.map_err(to_error)?;
        let columns = df.schema().fields().len();
        let batches = df.collect().await.map_err(to_error)?;
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SltError(e.to_string()))?;
            let booleans: Vec<bool> = batch
                .columns()
                .iter()
                .map(|c| c.data_type() == &datafusion::arrow::datatypes::DataType::Boolean)
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(&booleans)
                        .map(|(f, boolean)| {
                            let text = f.value(row).to_string();
                            // Postgres' text form of booleans.
                            match (*boolean, text.as_str()) {
                                (true, "true") => "t".to_string(),
                                (true, "false") => "f".to_string(),
                                _ => normalize(&text),
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "smackql-in-process"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// Empty strings print as `(empty)`, as in DataFusion's own `.slt` files.
fn normalize(value: &str) -> String {
    if value.is_empty() {
        "(empty)".to_string()
    } else {
        value.to_string()
    }
}

/// Runs one `.slt` file on `db`, panicking with the runner's report.
pub async fn run_file<D>(db: D, path: &Path)
where
    D: sqllogictest::AsyncDB + Send + 'static,
{
    let mut db = Some(db);
    let mut runner = sqllogictest::Runner::new(move || {
        let db = db.take();
        async move { db.ok_or_else(|| panic!("one connection per runner")) }
    });
    if let Err(err) = runner.run_file_async(path).await {
        panic!("{}: {}", path.display(), err.display(true));
    }
}
