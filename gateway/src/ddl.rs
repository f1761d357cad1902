//! Schema statements: `CREATE SCHEMA` (a keyspace), `CREATE TABLE` and
//! `DROP TABLE` on Cassandra keyspaces, `CREATE EXTERNAL TABLE` and
//! `DROP TABLE` of tables over Kafka topics (see [`crate::external`]), and
//! the statements on materialized views (see [`crate::views`]).
//!
//! DataFusion would create an in-memory table, or refuse; such a statement
//! is answered here instead, before DataFusion plans it, by the same code
//! for every front end. Statements on the gateway's own schemas (`public`)
//! are left to DataFusion.

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::CreateExternalTable;
use datafusion::sql::sqlparser::ast::{ObjectType, SchemaName, Statement};
use smackql_cassandra::ddl::{normalize, KeyspaceDefinition, TableDefinition};
use smackql_cassandra::{cql, CassandraConnection, Error as CassandraError};
use smackql_catalog::definitions::schema_and_table;
use smackql_catalog::DEFAULT_SCHEMA;

use crate::external::ExternalDdl;
use crate::views::ViewDdl;

/// Schema statements that smackql runs itself.
#[derive(Debug)]
pub struct Ddl {
    connection: Arc<CassandraConnection>,
    allow_drop_table: bool,
    external: Arc<ExternalDdl>,
    views: Arc<ViewDdl>,
}

/// What a schema statement did, as a command tag names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdlOutcome {
    /// `CREATE SCHEMA`
    CreatedSchema,
    /// `CREATE TABLE`
    CreatedTable,
    /// `DROP TABLE`
    DroppedTable,
    /// `CREATE EXTERNAL TABLE`
    CreatedExternalTable,
    /// `CREATE MATERIALIZED VIEW`
    CreatedMaterializedView,
    /// `DROP MATERIALIZED VIEW`
    DroppedMaterializedView,
    /// `REFRESH MATERIALIZED VIEW`
    RefreshedMaterializedView,
}

impl DdlOutcome {
    /// The command tag front ends report.
    pub fn tag(self) -> &'static str {
        match self {
            DdlOutcome::CreatedSchema => "CREATE SCHEMA",
            DdlOutcome::CreatedTable => "CREATE TABLE",
            DdlOutcome::DroppedTable => "DROP TABLE",
            DdlOutcome::CreatedExternalTable => "CREATE EXTERNAL TABLE",
            DdlOutcome::CreatedMaterializedView => "CREATE MATERIALIZED VIEW",
            DdlOutcome::DroppedMaterializedView => "DROP MATERIALIZED VIEW",
            DdlOutcome::RefreshedMaterializedView => "REFRESH MATERIALIZED VIEW",
        }
    }
}

/// Schemas that are the gateway's own, never keyspaces.
fn is_local_schema(schema: &str) -> bool {
    matches!(schema, DEFAULT_SCHEMA | "information_schema" | "pg_catalog")
}

impl Ddl {
    /// Schema statements through `connection` (`DROP TABLE` of a Cassandra
    /// table only when `allow_drop_table`), on declared tables through
    /// `external`, and on materialized views through `views`.
    pub fn new(
        connection: Arc<CassandraConnection>,
        allow_drop_table: bool,
        external: Arc<ExternalDdl>,
        views: Arc<ViewDdl>,
    ) -> Self {
        Self {
            connection,
            allow_drop_table,
            external,
            views,
        }
    }

    /// Whether `statement` is one this handler answers.
    pub fn handles(&self, statement: &Statement) -> bool {
        ViewDdl::handles(statement)
            || self.external_drop(statement).is_some()
            || self.target(statement).is_some()
    }

    /// `REFRESH MATERIALIZED VIEW schema.name`.
    pub async fn refresh_view(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<DdlOutcome, DataFusionError> {
        self.views.refresh(schema, name).await?;
        Ok(DdlOutcome::RefreshedMaterializedView)
    }

    /// Declares a table over data elsewhere (a Kafka topic).
    pub async fn create_external(
        &self,
        create: &CreateExternalTable,
    ) -> Result<DdlOutcome, DataFusionError> {
        self.external.create(create).await?;
        Ok(DdlOutcome::CreatedExternalTable)
    }

    /// The schema, name and `IF EXISTS` of a `DROP TABLE` of a declared table.
    fn external_drop(&self, statement: &Statement) -> Option<(String, String, bool)> {
        let Statement::Drop {
            object_type: ObjectType::Table,
            names,
            if_exists,
            ..
        } = statement
        else {
            return None;
        };
        let [name] = names.as_slice() else {
            return None;
        };
        let (schema, table) = schema_and_table(name)?;
        self.external
            .drops(&schema)
            .then_some((schema, table, *if_exists))
    }

    /// The keyspace and table (empty for a schema statement) of `statement`.
    fn target(&self, statement: &Statement) -> Option<(String, String)> {
        if let Statement::CreateSchema {
            schema_name: SchemaName::Simple(name),
            ..
        } = statement
        {
            let [part] = name.0.as_slice() else {
                return None;
            };
            let keyspace = normalize(part.as_ident()?);
            return (!is_local_schema(&keyspace)).then(|| (keyspace, String::new()));
        }
        let name = match statement {
            Statement::CreateTable(create) => &create.name,
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } if names.len() == 1 => &names[0],
            _ => return None,
        };
        schema_and_table(name).filter(|(schema, _)| !is_local_schema(schema))
    }

    /// Runs `statement` if it is a schema change on a Cassandra keyspace;
    /// `None` leaves it to DataFusion.
    pub async fn execute(
        &self,
        statement: &Statement,
    ) -> Option<Result<DdlOutcome, DataFusionError>> {
        match statement {
            Statement::CreateView(create) if ViewDdl::handles(statement) => {
                let created = self.views.create(create).await;
                return Some(created.map(|_| DdlOutcome::CreatedMaterializedView));
            }
            Statement::Drop { .. } if ViewDdl::handles(statement) => {
                let dropped = self.views.drop_view(statement).await;
                return Some(dropped.map(|()| DdlOutcome::DroppedMaterializedView));
            }
            _ => {}
        }
        if let Some((schema, table, if_exists)) = self.external_drop(statement) {
            let dropped = self.external.drop_table(&schema, &table, if_exists).await;
            return Some(dropped.map(|()| DdlOutcome::DroppedTable));
        }
        let (keyspace, table) = self.target(statement)?;
        Some(self.run(statement, &keyspace, &table).await)
    }

    async fn run(
        &self,
        statement: &Statement,
        keyspace: &str,
        table: &str,
    ) -> Result<DdlOutcome, DataFusionError> {
        let qualified = format!("{keyspace}.{table}");
        self.connection.session().await?;
        if let Statement::CreateSchema {
            if_not_exists,
            with,
            ..
        } = statement
        {
            let definition = KeyspaceDefinition::from_sql(
                keyspace,
                *if_not_exists,
                with.as_deref().unwrap_or(&[]),
            )?;
            self.connection
                .change_schema(keyspace, &definition.cql())
                .await?;
            return Ok(DdlOutcome::CreatedSchema);
        }
        // Only an existing keyspace is a Cassandra schema.
        if !self.connection.has_keyspace(keyspace) {
            self.connection.refresh_schema().await?;
        }
        if !self.connection.has_keyspace(keyspace) {
            return Err(CassandraError::NotFound(format!(
                "schema \"{keyspace}\" does not exist; create the keyspace in Cassandra first"
            ))
            .into());
        }
        match statement {
            Statement::CreateTable(create) => {
                let definition = TableDefinition::from_sql(create, keyspace, table)?;
                self.connection
                    .change_schema(&qualified, &definition.cql())
                    .await?;
                Ok(DdlOutcome::CreatedTable)
            }
            Statement::Drop { if_exists, .. } => {
                if !self.allow_drop_table {
                    return Err(CassandraError::Forbidden(format!(
                        "DROP TABLE of Cassandra table {qualified} is disabled; set \
                         cassandra.allow_drop_table = true in the gateway's configuration \
                         to allow it"
                    ))
                    .into());
                }
                if !*if_exists && !self.connection.has_table(keyspace, table) {
                    return Err(CassandraError::NotFound(format!(
                        "table {qualified} does not exist"
                    ))
                    .into());
                }
                let mut cql = String::from("DROP TABLE ");
                if *if_exists {
                    cql.push_str("IF EXISTS ");
                }
                cql.push_str(&cql::qualified_table(keyspace, table));
                self.connection.change_schema(&qualified, &cql).await?;
                Ok(DdlOutcome::DroppedTable)
            }
            _ => Err(DataFusionError::Internal(
                "not a Cassandra schema statement".into(),
            )),
        }
    }
}
