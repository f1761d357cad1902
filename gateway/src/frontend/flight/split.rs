//! Results a client may read in parallel: a full scan of a Cassandra table,
//! split by token range, is handed out as one endpoint per output partition
//! of its plan.
//!
//! Each endpoint's `DoGet` runs one partition of the same physical plan,
//! planned once at `GetFlightInfo`. Only plans whose partitions are
//! independent of each other are split: a token-range scan under
//! projections, filters and cooperative yielding, each partition of which
//! reads its own token ranges. Anything that combines partitions (an
//! aggregate, a sort, a limit, a join, a repartition) makes the result one
//! endpoint, read through the plan as a whole.

use std::sync::{Arc, Mutex};

use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use smackql_cassandra::{CassandraScanExec, CassandraTableProvider};

/// Whether `plan` may be a split scan: projections, filters and aliases
/// over one scan of a Cassandra table. Checked before planning it
/// physically, which other statements are not.
pub(crate) fn may_split(plan: &LogicalPlan) -> bool {
    plain_scan(plan).is_some_and(|scan| {
        source_as_provider(&scan.source).is_ok_and(|provider| {
            provider
                .as_ref()
                .downcast_ref::<CassandraTableProvider>()
                .is_some()
        })
    })
}

/// The one table scan of `plan`, when all else in it is projections,
/// filters and aliases.
fn plain_scan(plan: &LogicalPlan) -> Option<&TableScan> {
    let mut node = plan;
    loop {
        node = match node {
            LogicalPlan::Projection(p) => &p.input,
            LogicalPlan::Filter(f) => &f.input,
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::TableScan(scan) => return Some(scan),
            _ => return None,
        };
    }
}

/// How many independent output partitions `plan` has, when it has more
/// than one and each can run on its own.
pub(crate) fn partitions(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let count = plan.output_partitioning().partition_count();
    (count > 1 && independent(plan)).then_some(count)
}

fn independent(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let node = plan.as_ref();
    if let Some(scan) = node.downcast_ref::<CassandraScanExec>() {
        return scan.reads_token_ranges();
    }
    let per_partition = node.downcast_ref::<ProjectionExec>().is_some()
        || node.downcast_ref::<FilterExec>().is_some()
        || node.downcast_ref::<CooperativeExec>().is_some();
    match plan.children().as_slice() {
        [child] if per_partition => {
            child.output_partitioning().partition_count()
                == plan.output_partitioning().partition_count()
                && independent(child)
        }
        _ => false,
    }
}

/// A plan whose output partitions are a query's endpoints, with the
/// partitions whose streams have ended.
#[derive(Debug)]
pub(crate) struct SplitPlan {
    pub(crate) plan: Arc<dyn ExecutionPlan>,
    /// Who planned it; only they may read it when users are configured.
    pub(crate) user: Option<String>,
    ended: Mutex<Vec<bool>>,
}

impl SplitPlan {
    pub(crate) fn new(
        plan: Arc<dyn ExecutionPlan>,
        partitions: usize,
        user: Option<String>,
    ) -> Self {
        Self {
            plan,
            user,
            ended: Mutex::new(vec![false; partitions]),
        }
    }

    /// How many endpoints it has.
    pub(crate) fn partitions(&self) -> usize {
        self.ended.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Marks `partition`'s stream ended; whether every one has.
    pub(crate) fn end(&self, partition: usize) -> bool {
        let Ok(mut ended) = self.ended.lock() else {
            return true;
        };
        if let Some(flag) = ended.get_mut(partition) {
            *flag = true;
        }
        ended.iter().all(|e| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::repartition::RepartitionExec;
    use datafusion::physical_plan::Partitioning;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn only_plain_scans_may_split() {
        // A memory table is no Cassandra table: only the shape is checked.
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a int, b int) AS VALUES (1, 2)")
            .await
            .unwrap();
        for (sql, expected) in [
            ("SELECT a FROM t", true),
            ("SELECT a + 1 AS x FROM t AS u WHERE b > 1", true),
            ("SELECT a FROM t ORDER BY a", false),
            ("SELECT a FROM t LIMIT 3", false),
            ("SELECT count(*) FROM t", false),
            ("SELECT t.a FROM t JOIN t AS u ON t.a = u.b", false),
            ("SELECT a FROM t UNION ALL SELECT b FROM t", false),
            ("SELECT 1", false),
        ] {
            let plan = ctx.state().create_logical_plan(sql).await.unwrap();
            assert_eq!(plain_scan(&plan).is_some(), expected, "{sql}");
            assert!(!may_split(&plan), "{sql}");
        }
    }

    #[test]
    fn partitions_that_combine_are_not_split() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let empty: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema).with_partitions(4));
        // Not a scan this module knows to be independent.
        assert_eq!(partitions(&empty), None);
        let repartitioned: Arc<dyn ExecutionPlan> =
            Arc::new(RepartitionExec::try_new(empty, Partitioning::RoundRobinBatch(2)).unwrap());
        assert_eq!(partitions(&repartitioned), None);
    }

    #[test]
    fn a_split_ends_with_its_last_partition() {
        let schema = Arc::new(Schema::empty());
        let split = SplitPlan::new(Arc::new(EmptyExec::new(schema)), 3, None);
        assert_eq!(split.partitions(), 3);
        assert!(!split.end(1));
        assert!(!split.end(1));
        assert!(!split.end(0));
        assert!(split.end(2));
    }
}
