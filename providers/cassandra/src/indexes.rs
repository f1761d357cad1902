//! Storage-attached indexes (SAI, Cassandra 5) that answer predicates
//! exactly, so those predicates can be sent to Cassandra.
//!
//! An index is used only when all of these hold:
//! - it is an SAI index on the column itself (not `keys(...)`, `values(...)`,
//!   `entries(...)` or `full(...)` of a collection);
//! - it matches values exactly: no `case_sensitive = false`, `normalize` or
//!   `ascii` folding, which would return rows SQL's `=` does not;
//! - the node reports it queryable (built), in
//!   `system_views.sai_column_indexes`.
//!
//! Cassandra's metadata tables are read once per table and schema version:
//! the cache is dropped whenever the driver re-reads the schema, which it
//! does on every schema change event, and entries with an index still
//! building expire after [`BUILDING_RECHECK`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::cluster::ClusterState;
use tracing::debug;

use crate::error::{Error, Result};

/// How long the indexes of a table with an index still building are kept
/// before they are read again.
pub const BUILDING_RECHECK: Duration = Duration::from_secs(2);

/// The SAI index class, as `system_schema.indexes` names it: in full, or
/// by the alias given in `USING`.
const SAI_CLASSES: &[&str] = &[
    "org.apache.cassandra.index.sai.StorageAttachedIndex",
    "StorageAttachedIndex",
    "sai",
];

/// A column with an SAI index that answers `=` (and, on ordered types,
/// ranges) exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedColumn {
    /// The column, exactly as in Cassandra.
    pub column: String,
    /// The index's name.
    pub index: String,
}

/// The exact-match target column of an index, from its `options` map.
///
/// `target` is the column name, double-quoted when it needs quoting, or a
/// function of it for collection indexes.
pub fn exact_target(options: &HashMap<String, String>) -> Option<String> {
    let class = options.get("class_name")?;
    if !SAI_CLASSES.iter().any(|c| c.eq_ignore_ascii_case(class)) {
        return None;
    }
    let folds = |key: &str, default: bool| {
        options
            .get(key)
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(default)
    };
    if !folds("case_sensitive", true) || folds("normalize", false) || folds("ascii", false) {
        return None;
    }
    if options.contains_key("similarity_function") || options.contains_key("index_analyzer") {
        return None;
    }
    let target = options.get("target")?;
    if let Some(quoted) = target.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Some(quoted.replace("\"\"", "\""));
    }
    if target.contains('(') {
        return None;
    }
    Some(target.clone())
}

/// The indexes of one table, and when they were read.
#[derive(Debug, Clone)]
struct Entry {
    columns: Arc<[IndexedColumn]>,
    /// Set when an index was still building: read again after this.
    expires: Option<Instant>,
}

/// Per-table SAI indexes, valid for one version of the cluster metadata.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    inner: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// The metadata the entries were read under.
    state: Option<Arc<ClusterState>>,
    tables: HashMap<(String, String), Entry>,
}

impl IndexCache {
    /// The usable SAI indexes of `keyspace.table`.
    pub(crate) async fn get(
        &self,
        session: &Session,
        keyspace: &str,
        table: &str,
    ) -> Result<Arc<[IndexedColumn]>> {
        let current = session.get_cluster_state();
        let key = (keyspace.to_string(), table.to_string());
        if let Ok(mut cache) = self.inner.lock() {
            if !cache
                .state
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &current))
            {
                cache.state = Some(current);
                cache.tables.clear();
            }
            if let Some(entry) = cache.tables.get(&key) {
                if entry.expires.is_none_or(|at| Instant::now() < at) {
                    return Ok(entry.columns.clone());
                }
            }
        }
        let (columns, building) = read(session, keyspace, table).await?;
        let columns: Arc<[IndexedColumn]> = columns.into();
        if let Ok(mut cache) = self.inner.lock() {
            let expires = building.then(|| Instant::now() + BUILDING_RECHECK);
            cache.tables.insert(
                key,
                Entry {
                    columns: columns.clone(),
                    expires,
                },
            );
        }
        Ok(columns)
    }
}

/// Reads the table's exact SAI indexes, and whether any index is still
/// building.
async fn read(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<(Vec<IndexedColumn>, bool)> {
    let defined = session
        .query_unpaged(
            "SELECT index_name, options FROM system_schema.indexes \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .map_err(|e| Error::request(table, &e))?
        .into_rows_result()
        .map_err(|e| Error::response(table, &e))?;
    let mut candidates = Vec::new();
    for row in defined
        .rows::<(String, HashMap<String, String>)>()
        .map_err(|e| Error::response(table, &e))?
    {
        let (index, options) = row.map_err(|e| Error::response(table, &e))?;
        if let Some(column) = exact_target(&options) {
            candidates.push(IndexedColumn { column, index });
        }
    }
    if candidates.is_empty() {
        return Ok((candidates, false));
    }
    // Only built indexes answer queries; a missing view means no SAI.
    let queryable: HashMap<String, bool> = match session
        .query_unpaged(
            "SELECT index_name, is_queryable FROM system_views.sai_column_indexes \
             WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
    {
        Ok(result) => match result.into_rows_result() {
            Ok(rows) => rows
                .rows::<(String, Option<bool>)>()
                .map(|rows| {
                    rows.filter_map(|r| r.ok())
                        .map(|(name, q)| (name, q.unwrap_or(false)))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => HashMap::new(),
        },
        Err(err) => {
            debug!(error = %err, "cannot read SAI index status");
            HashMap::new()
        }
    };
    let building = candidates
        .iter()
        .any(|c| !queryable.get(&c.index).copied().unwrap_or(false));
    candidates.retain(|c| queryable.get(&c.index).copied().unwrap_or(false));
    Ok((candidates, building))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_exact_sai_indexes_on_columns_are_used() {
        let sai = |extra: &[(&str, &str)]| {
            let mut o = options(&[("class_name", "sai"), ("target", "city")]);
            o.extend(options(extra));
            exact_target(&o)
        };
        assert_eq!(sai(&[]), Some("city".to_string()));
        assert_eq!(sai(&[("case_sensitive", "true")]), Some("city".into()));
        assert_eq!(sai(&[("case_sensitive", "false")]), None);
        assert_eq!(sai(&[("normalize", "true")]), None);
        assert_eq!(sai(&[("ascii", "true")]), None);
        assert_eq!(sai(&[("target", "values(tags)")]), None);
        assert_eq!(
            sai(&[("target", "\"Mixed \"\"Case\"\"\"")]),
            Some("Mixed \"Case\"".into())
        );
        // Legacy secondary indexes are not SAI.
        assert_eq!(exact_target(&options(&[("target", "city")])), None);
        let full = options(&[("class_name", SAI_CLASSES[0]), ("target", "city")]);
        assert_eq!(exact_target(&full), Some("city".into()));
    }
}
