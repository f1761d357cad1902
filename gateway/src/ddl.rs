//! `CREATE SCHEMA` (a keyspace), `CREATE TABLE` and `DROP TABLE` on
//! Cassandra keyspaces.
//!
//! DataFusion would create an in-memory table, or refuse; a statement naming
//! a Cassandra keyspace is answered here instead, before DataFusion plans it,
//! by the same code for every front end. Statements on the gateway's own
//! schemas (`public`) are left to DataFusion.

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, SchemaName, Statement};
use smackql_cassandra::ddl::{normalize, KeyspaceDefinition, TableDefinition};
use smackql_cassandra::{cql, CassandraConnection, Error as CassandraError};
use smackql_catalog::{CATALOG_NAME, DEFAULT_SCHEMA};

/// Schema statements that smackql runs on Cassandra.
#[derive(Debug)]
pub struct CassandraDdl {
    connection: Arc<CassandraConnection>,
    allow_drop_table: bool,
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
}

impl DdlOutcome {
    /// The command tag front ends report.
    pub fn tag(self) -> &'static str {
        match self {
            DdlOutcome::CreatedSchema => "CREATE SCHEMA",
            DdlOutcome::CreatedTable => "CREATE TABLE",
            DdlOutcome::DroppedTable => "DROP TABLE",
        }
    }
}

/// A table name split into keyspace and table, when it names a keyspace.
fn keyspace_table(name: &ObjectName) -> Option<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [schema, table] => Some((schema.clone(), table.clone())),
        [catalog, schema, table] if catalog == CATALOG_NAME => {
            Some((schema.clone(), table.clone()))
        }
        _ => None,
    }
}

/// Schemas that are the gateway's own, never keyspaces.
fn is_local_schema(schema: &str) -> bool {
    matches!(schema, DEFAULT_SCHEMA | "information_schema" | "pg_catalog")
}

impl CassandraDdl {
    /// Schema statements through `connection`; `DROP TABLE` only when
    /// `allow_drop_table`.
    pub fn new(connection: Arc<CassandraConnection>, allow_drop_table: bool) -> Self {
        Self {
            connection,
            allow_drop_table,
        }
    }

    /// Whether `statement` is one this handler answers.
    pub fn handles(&self, statement: &Statement) -> bool {
        self.target(statement).is_some()
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
        keyspace_table(name).filter(|(schema, _)| !is_local_schema(schema))
    }

    /// Runs `statement` if it is a schema change on a Cassandra keyspace;
    /// `None` leaves it to DataFusion.
    pub async fn execute(
        &self,
        statement: &Statement,
    ) -> Option<Result<DdlOutcome, DataFusionError>> {
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
