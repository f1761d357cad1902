//! The `smackql` catalog: local schemas plus the schemas of injected sources.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::plan_err;
use datafusion::error::Result;

/// The name SQL uses for the catalog (`current_database()`).
pub const CATALOG_NAME: &str = "smackql";
/// The schema unqualified names resolve in.
pub const DEFAULT_SCHEMA: &str = "public";

/// A source of schemas owned by a backend, such as the keyspaces of a
/// Cassandra cluster.
///
/// Both methods are called while planning, so they must not block: answer
/// from what the source already knows.
pub trait SchemaSource: Debug + Send + Sync {
    /// The schemas to list, as of now. A source that cannot reach its
    /// backend lists none.
    fn schema_names(&self) -> Vec<String>;

    /// The schema called `name`, if this source may have it. A source may
    /// answer for a name it has not confirmed yet and decide when a table in
    /// it is looked up, which can wait for the backend.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>>;
}

/// The one catalog of a smackql gateway.
///
/// Local schemas take precedence over sources, and earlier sources over later
/// ones, so a keyspace can never shadow `pg_catalog` or `public`.
#[derive(Debug)]
pub struct SmackqlCatalog {
    local: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
    sources: Vec<Arc<dyn SchemaSource>>,
}

impl SmackqlCatalog {
    /// A catalog with an empty `public` schema and the given sources.
    pub fn new(sources: Vec<Arc<dyn SchemaSource>>) -> Self {
        let mut local: BTreeMap<String, Arc<dyn SchemaProvider>> = BTreeMap::new();
        local.insert(
            DEFAULT_SCHEMA.to_string(),
            Arc::new(MemorySchemaProvider::new()),
        );
        Self {
            local: RwLock::new(local),
            sources,
        }
    }

    fn local_schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.local.read().ok()?.get(name).cloned()
    }
}

impl CatalogProvider for SmackqlCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .local
            .read()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();
        for source in &self.sources {
            names.extend(source.schema_names());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.local_schema(name)
            .or_else(|| self.sources.iter().find_map(|s| s.schema(name)))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let Ok(mut local) = self.local.write() else {
            return plan_err!("the catalog is unavailable after an earlier failure");
        };
        Ok(local.insert(name.to_string(), schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(Vec<&'static str>);

    impl SchemaSource for Fixed {
        fn schema_names(&self) -> Vec<String> {
            self.0.iter().map(|s| s.to_string()).collect()
        }
        fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
            self.0
                .contains(&name)
                .then(|| Arc::new(MemorySchemaProvider::new()) as Arc<dyn SchemaProvider>)
        }
    }

    #[test]
    fn lists_local_and_source_schemas_once() {
        let catalog = SmackqlCatalog::new(vec![Arc::new(Fixed(vec!["shop", "public"]))]);
        assert_eq!(catalog.schema_names(), vec!["public", "shop"]);
        assert!(catalog.schema("shop").is_some());
        assert!(catalog.schema("nope").is_none());
    }

    #[test]
    fn local_schemas_shadow_sources() {
        let catalog = SmackqlCatalog::new(vec![Arc::new(Fixed(vec!["pg_catalog"]))]);
        let mine: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog.register_schema("pg_catalog", mine.clone()).unwrap();
        let found = catalog.schema("pg_catalog").unwrap();
        assert!(Arc::ptr_eq(&found, &mine));
    }
}
