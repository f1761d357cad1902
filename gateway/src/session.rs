//! Session assembly: one DataFusion `SessionContext` per connection, all
//! built from the same catalog, functions and configuration.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use smackql_cassandra::{CassandraSessionOptions, SharedConnection};
use smackql_catalog::{SmackqlCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
use smackql_kafka::KafkaSessionOptions;
use smackql_udfs::{UuidTextCoercion, UuidTypePlanner};

use crate::pg_functions::NameTypePlanner;

/// The PostgreSQL version smackql presents itself as. Drivers parse it
/// (pgjdbc, SQLAlchemy, asyncpg), so it keeps PostgreSQL's shape.
pub const PG_COMPAT_VERSION: &str = "16.6";

/// `server_version` as sent at start-up and shown by `SHOW server_version`.
pub fn server_version() -> String {
    format!(
        "{PG_COMPAT_VERSION} (smackql {})",
        env!("CARGO_PKG_VERSION")
    )
}

/// What `version()` returns.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_COMPAT_VERSION} (smackql {}) on {}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// Builds sessions. Cheap to share; each session gets its own settings
/// while the catalog and functions are shared.
pub struct SessionFactory {
    template: SessionContext,
    next_id: AtomicU64,
}

/// A session could not be assembled.
#[derive(Debug, thiserror::Error)]
#[error("cannot assemble the SQL session: {0}")]
pub struct SessionError(String);

impl std::fmt::Debug for SessionFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFactory")
            .field("session_id", &self.template.session_id())
            .finish_non_exhaustive()
    }
}

impl SessionFactory {
    /// A factory over `catalog`, with `pg_catalog` and smackql's functions;
    /// `cassandra` answers the size functions.
    pub fn new(
        catalog: Arc<SmackqlCatalog>,
        cassandra: SharedConnection,
    ) -> Result<Self, SessionError> {
        let config = SessionConfig::new()
            // smackql's own (crate::information_schema) names PostgreSQL's
            // types.
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
            // Both wire formats send strings contiguous (Flight SQL as
            // `Utf8`, for clients without view types), so SQL's string
            // types plan as `Utf8` rather than as views converted back.
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
            // PostgreSQL's `TimeZone` starts as UTC here, so `timestamptz`
            // (`now()`, `x::timestamptz`) plans as a timestamp with a zone;
            // `SET TIME ZONE` changes it for the session.
            .set_str("datafusion.execution.time_zone", "UTC")
            .with_option_extension(CassandraSessionOptions::default())
            .with_option_extension(KafkaSessionOptions::default());
        let template = SessionContext::new_with_config(config);
        template.register_catalog(CATALOG_NAME, catalog);
        setup_pg_catalog(&template, CATALOG_NAME, EmptyContextProvider)
            .map_err(|e| SessionError(e.to_string()))?;
        crate::pg_catalog::install(&template, CATALOG_NAME, cassandra)
            .map_err(|e| SessionError(e.to_string()))?;
        crate::information_schema::install(&template, CATALOG_NAME)
            .map_err(|e| SessionError(e.to_string()))?;

        smackql_udfs::register_all(&template);
        crate::pg_functions::register(&template);
        plan_pg_types(&template);
        template.register_udf(create_udf(
            "version",
            vec![],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    version_string(),
                ))))
            }),
        ));
        Ok(Self {
            template,
            next_id: AtomicU64::new(1),
        })
    }

    /// A new session with default settings.
    pub fn new_session(&self) -> SessionContext {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = SessionStateBuilder::new_from_existing(self.template.state())
            .with_session_id(format!("session-{id}"))
            .build();
        SessionContext::new_with_state(state)
    }
}

/// Plans the types `uuid` and `name`, and reads text as a uuid where one is
/// expected (`user_id = '6f1c…'`), as PostgreSQL does: see
/// [`smackql_udfs::UUID`].
fn plan_pg_types(context: &SessionContext) {
    let state = context.state_ref();
    let mut builder = SessionStateBuilder::new_from_existing(state.read().clone());
    let types = builder.type_planner().take();
    let uuids: Arc<dyn TypePlanner> = Arc::new(UuidTypePlanner::new(types));
    builder = builder.with_type_planner(Arc::new(NameTypePlanner::new(Some(uuids))));
    if let Some(analyzer) = builder.analyzer() {
        // Before type coercion, which would refuse these expressions.
        analyzer
            .rules
            .insert(0, Arc::new(UuidTextCoercion::default()));
    }
    *state.write() = builder.build();
}
