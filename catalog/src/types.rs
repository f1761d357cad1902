//! SQL type names beyond DataFusion's own.
//!
//! DataFusion has no `uuid` type. smackql represents UUIDs the way Arrow's
//! canonical extension type does, 16 bytes tagged `arrow.uuid`, which is
//! also how Cassandra's `uuid` and `timeuuid` columns arrive and how the
//! front ends recognize a column to send as `uuid`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast;

/// The Arrow extension type name of UUID columns.
pub const UUID_EXTENSION: &str = "arrow.uuid";

/// A nullable UUID field called `name`: `FixedSizeBinary(16)` tagged
/// [`UUID_EXTENSION`].
pub fn uuid_field(name: &str) -> Field {
    Field::new(name, DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([(
        "ARROW:extension:name".to_string(),
        UUID_EXTENSION.to_string(),
    )]))
}

/// Plans the SQL types smackql adds: `uuid`.
#[derive(Debug, Default)]
pub struct SqlTypes;

impl TypePlanner for SqlTypes {
    fn plan_type_field(&self, sql_type: &ast::DataType) -> Result<Option<FieldRef>> {
        Ok(match sql_type {
            ast::DataType::Uuid => Some(Arc::new(uuid_field(""))),
            _ => None,
        })
    }
}
