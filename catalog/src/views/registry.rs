//! Finding views: the views as last read from their store, and keyspaces in
//! which a view's table reads as the view.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result;

use super::{MaterializedView, APPLIED_TO, REFRESH_ID, SOURCE_PARTITION};
use crate::DefinitionStore;

/// How long what was read of the views is trusted by a query naming a
/// table: a view created through another gateway is seen this soon.
const TRUST_READ_FOR: Duration = Duration::from_secs(1);

/// The materialized views, as last read from their store.
#[derive(Debug)]
pub struct MaterializedViews {
    store: Arc<dyn DefinitionStore>,
    known: RwLock<BTreeMap<(String, String), Arc<MaterializedView>>>,
    loaded: RwLock<Option<Instant>>,
    /// Views created or dropped through this gateway, and when: a reload
    /// that read the store before must not undo them.
    changed: RwLock<BTreeMap<(String, String), Instant>>,
}

impl MaterializedViews {
    /// Views kept in `store`.
    pub fn new(store: Arc<dyn DefinitionStore>) -> Self {
        Self {
            store,
            known: RwLock::new(BTreeMap::new()),
            loaded: RwLock::new(None),
            changed: RwLock::new(BTreeMap::new()),
        }
    }

    /// Reads the views again unless they were read recently.
    pub async fn reload_if_stale(&self) -> Result<()> {
        let fresh = self
            .loaded
            .read()
            .ok()
            .and_then(|l| *l)
            .is_some_and(|at| at.elapsed() < TRUST_READ_FOR);
        if !fresh {
            self.reload().await?;
        }
        Ok(())
    }

    /// Reads every view from the store again. A stored view that cannot be
    /// read is skipped, with the reason returned beside the others.
    pub async fn reload(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let stored = self.store.list().await?;
        let mut views = BTreeMap::new();
        let mut broken = Vec::new();
        for definition in stored {
            match MaterializedView::parse(&definition.sql) {
                Ok(view) => {
                    views.insert((view.schema.clone(), view.name.clone()), Arc::new(view));
                }
                Err(e) => broken.push(format!("{}.{}: {e}", definition.schema, definition.name)),
            }
        }
        if let (Ok(mut known), Ok(mut changed)) = (self.known.write(), self.changed.write()) {
            changed.retain(|_, at| *at >= started);
            for key in changed.keys() {
                match known.get(key) {
                    Some(view) => views.insert(key.clone(), view.clone()),
                    None => views.remove(key),
                };
            }
            *known = views;
        }
        if let Ok(mut loaded) = self.loaded.write() {
            *loaded = Some(Instant::now());
        }
        Ok(broken)
    }

    /// Stores `view`. Returns whether it was stored (`false`: a view of
    /// that name exists).
    pub async fn create(&self, view: MaterializedView) -> Result<bool> {
        if !self.store.insert(&view.stored()).await? {
            return Ok(false);
        }
        let key = (view.schema.clone(), view.name.clone());
        if let Ok(mut known) = self.known.write() {
            known.insert(key.clone(), Arc::new(view));
        }
        if let Ok(mut changed) = self.changed.write() {
            changed.insert(key, Instant::now());
        }
        Ok(true)
    }

    /// Forgets `schema.name`; returns whether it was there.
    pub async fn drop_view(&self, schema: &str, name: &str) -> Result<bool> {
        let removed = self.store.remove(schema, name).await?;
        let key = (schema.to_string(), name.to_string());
        if let Ok(mut known) = self.known.write() {
            known.remove(&key);
        }
        if let Ok(mut changed) = self.changed.write() {
            changed.insert(key, Instant::now());
        }
        Ok(removed)
    }

    /// The view `schema.name`, as last read.
    pub fn get(&self, schema: &str, name: &str) -> Option<Arc<MaterializedView>> {
        self.known
            .read()
            .ok()?
            .get(&(schema.to_string(), name.to_string()))
            .cloned()
    }

    /// Every view, as last read.
    pub fn list(&self) -> Vec<Arc<MaterializedView>> {
        self.known
            .read()
            .map(|k| k.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A keyspace's schema in which the tables of materialized views read as
/// the views: their partials merged, or their refresh marker left out.
#[derive(Debug)]
pub struct ViewOverlay {
    inner: Arc<dyn SchemaProvider>,
    schema: String,
    views: Arc<MaterializedViews>,
}

impl ViewOverlay {
    /// `inner` (the keyspace `schema`) with the views of `views` in it.
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        schema: &str,
        views: Arc<MaterializedViews>,
    ) -> Self {
        Self {
            inner,
            schema: schema.to_string(),
            views,
        }
    }
}

#[async_trait]
impl SchemaProvider for ViewOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(raw) = self.inner.table(name).await? else {
            return Ok(None);
        };
        // A view's table has the columns of partials, or a recomputed
        // view's marker; only then may it be a view this gateway has not
        // read of yet.
        let schema = raw.schema();
        let partials =
            schema.index_of(SOURCE_PARTITION).is_ok() && schema.index_of(APPLIED_TO).is_ok();
        if partials || schema.index_of(REFRESH_ID).is_ok() {
            self.views.reload_if_stale().await?;
        }
        match self.views.get(&self.schema, name) {
            Some(view) => Ok(Some(Arc::new(ViewTable::new(
                view.read_plan(raw)?,
                Some(view.sql.clone()),
            )))),
            None => Ok(Some(raw)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }
}
