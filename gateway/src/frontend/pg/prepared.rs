//! Prepared statements planned once and run many times.
//!
//! A statement a client executes again (by name, as drivers do with their
//! prepared statements) is optimized and turned into a physical plan once,
//! with its parameters still placeholders. Each execution then binds the
//! values into the plan's Cassandra scans and runs it, skipping DataFusion's
//! optimizer and physical planner, which cost more than the scan itself for
//! a partition-key lookup.
//!
//! Only plans whose operators keep no state between executions are reused:
//! projections, filters, limits and Cassandra scans. A plan that calls a
//! function whose result is not fixed by its arguments (`now()`,
//! `random()`) is planned afresh each time, as is any statement while it is
//! executed for the first time. The cache is per connection and is emptied
//! by every statement other than a query, so `SET` takes effect at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ParamValues;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::Type;
use futures::future::BoxFuture;
use futures::FutureExt;
use smackql_cassandra::CassandraScanExec;

/// How many statements one connection keeps plans for.
const CAPACITY: usize = 64;

/// A statement's plan, ready to bind and run.
#[derive(Debug)]
pub(crate) struct ReadyPlan {
    /// The physical plan, with placeholders in its scans.
    pub(crate) physical: Arc<dyn ExecutionPlan>,
    /// The result schema that Describe reported.
    pub(crate) schema: SchemaRef,
    /// The parameter types DataFusion inferred, by position.
    pub(crate) inferred: Vec<Option<DataType>>,
    /// The parameter types on the wire, by position.
    pub(crate) wire: Vec<Type>,
    /// The session's settings when the plan was made.
    pub(crate) task: Arc<TaskContext>,
}

/// What the cache knows of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// Never executed before (now it has been once).
    First,
    /// Executed before: worth planning for reuse.
    Again,
    /// Planned for reuse.
    Ready(Arc<ReadyPlan>),
    /// Its plan cannot be reused.
    Unusable,
}

/// The reusable plans of one connection's statements.
#[derive(Debug)]
pub(crate) struct PreparedPlans<S> {
    entries: Mutex<VecDeque<(Arc<StoredStatement<S>>, Lookup)>>,
}

impl<S> Default for PreparedPlans<S> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl<S> PreparedPlans<S> {
    /// What is known of `statement`, recording that it runs now.
    pub(crate) fn lookup(&self, statement: &Arc<StoredStatement<S>>) -> Lookup {
        let Ok(mut entries) = self.entries.lock() else {
            return Lookup::Unusable;
        };
        // Entries hold their statement, so its address is not reused while
        // it is cached.
        if let Some((_, known)) = entries.iter_mut().find(|(s, _)| Arc::ptr_eq(s, statement)) {
            return match known {
                Lookup::First => {
                    *known = Lookup::Again;
                    Lookup::Again
                }
                other => other.clone(),
            };
        }
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back((statement.clone(), Lookup::First));
        Lookup::First
    }

    /// Records what planning `statement` for reuse gave.
    pub(crate) fn store(&self, statement: &Arc<StoredStatement<S>>, outcome: Lookup) {
        if let Ok(mut entries) = self.entries.lock() {
            if let Some((_, known)) = entries.iter_mut().find(|(s, _)| Arc::ptr_eq(s, statement)) {
                *known = outcome;
            }
        }
    }

    /// Forgets every plan, for a statement that may change the session.
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Plans `plan` (which may hold placeholders) for reuse, or says why its
/// physical plan cannot be run more than once.
pub(crate) async fn plan_for_reuse(
    session: &SessionContext,
    plan: &LogicalPlan,
    inferred: Vec<Option<DataType>>,
    wire: Vec<Type>,
) -> Result<ReadyPlan, String> {
    if !is_deterministic(plan) {
        return Err("it calls a volatile or clock function".into());
    }
    let state = session.state();
    let optimized = state.optimize(plan).map_err(|e| e.to_string())?;
    // A placeholder anywhere but in a Cassandra scan fails here.
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, &state)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(name) = stateful_operator(&physical) {
        return Err(format!("{name} keeps state between executions"));
    }
    Ok(ReadyPlan {
        physical,
        schema: Arc::new(plan.schema().as_arrow().clone()),
        inferred,
        wire,
        task: state.task_ctx(),
    })
}

/// `plan` with `params` bound into its scans, or `None` when they change how
/// a scan reads and the statement must be planned with its values.
pub(crate) fn bind<'a>(
    plan: &'a Arc<dyn ExecutionPlan>,
    params: &'a ParamValues,
) -> BoxFuture<'a, Result<Option<Arc<dyn ExecutionPlan>>>> {
    async move {
        if let Some(scan) = plan.downcast_ref::<CassandraScanExec>() {
            let bound = scan.bind(params).await?;
            return Ok(bound.map(|scan| Arc::new(scan) as Arc<dyn ExecutionPlan>));
        }
        let mut children = Vec::with_capacity(plan.children().len());
        for child in plan.children() {
            match bind(child, params).await? {
                Some(bound) => children.push(bound),
                None => return Ok(None),
            }
        }
        if children.is_empty() {
            return Ok(Some(plan.clone()));
        }
        // A bound scan may read with fewer streams than its template.
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        plan.clone().replace_children(children, options).map(Some)
    }
    .boxed()
}

/// The first operator of `plan` that may keep state from one execution to
/// the next, if any.
fn stateful_operator(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let stateless = plan.is::<CassandraScanExec>()
        || plan.is::<CooperativeExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<FilterExec>()
        || plan.is::<CoalescePartitionsExec>()
        || plan.is::<GlobalLimitExec>()
        || plan.is::<LocalLimitExec>()
        || plan.is::<PlaceholderRowExec>()
        || plan.is::<EmptyExec>();
    if !stateless {
        return Some(plan.name().to_string());
    }
    plan.children().into_iter().find_map(stateful_operator)
}

/// Whether `plan` gives the same rows for the same data and parameters: it
/// calls no function that is volatile (`random()`) or reads the clock
/// (`now()`, which the optimizer would fix at planning time).
fn is_deterministic(plan: &LogicalPlan) -> bool {
    let fixed = |expr: &Expr| {
        !expr
            .exists(|e| {
                Ok(matches!(e, Expr::ScalarFunction(f)
                    if f.func.signature().volatility != Volatility::Immutable))
            })
            .unwrap_or(true)
    };
    let mut deterministic = true;
    let _ = plan.apply_with_subqueries(|node| {
        deterministic = node.expressions().iter().all(fixed);
        Ok(if deterministic {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    deterministic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(id: &str) -> Arc<StoredStatement<String>> {
        Arc::new(StoredStatement::new(
            id.into(),
            format!("select {id}"),
            Vec::new(),
        ))
    }

    async fn logical(ctx: &SessionContext, sql: &str) -> LogicalPlan {
        ctx.sql(sql).await.unwrap().logical_plan().clone()
    }

    #[tokio::test]
    async fn a_statement_is_planned_for_reuse_on_its_second_execution() {
        let plans = PreparedPlans::default();
        let (a, b) = (statement("a"), statement("b"));
        assert!(matches!(plans.lookup(&a), Lookup::First));
        assert!(matches!(plans.lookup(&a), Lookup::Again));
        // Another statement with the same text is another statement.
        assert!(matches!(plans.lookup(&statement("a")), Lookup::First));

        let ctx = SessionContext::new();
        let ready = plan_for_reuse(&ctx, &logical(&ctx, "select 1").await, vec![], vec![])
            .await
            .unwrap();
        plans.store(&a, Lookup::Ready(Arc::new(ready)));
        assert!(matches!(plans.lookup(&a), Lookup::Ready(_)));
        plans.lookup(&b);
        plans.store(&b, Lookup::Unusable);
        assert!(matches!(plans.lookup(&b), Lookup::Unusable));

        plans.clear();
        assert!(matches!(plans.lookup(&a), Lookup::First));
    }

    #[test]
    fn the_oldest_statements_make_room() {
        let plans = PreparedPlans::default();
        let first = statement("first");
        plans.lookup(&first);
        let rest: Vec<_> = (0..CAPACITY).map(|i| statement(&i.to_string())).collect();
        for s in &rest {
            plans.lookup(s);
        }
        assert!(matches!(plans.lookup(&first), Lookup::First));
        assert!(matches!(plans.lookup(&rest[CAPACITY - 1]), Lookup::Again));
    }

    #[tokio::test]
    async fn clocks_and_stateful_operators_are_not_reused() {
        let ctx = SessionContext::new();
        let reason = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let plan = logical(&ctx, sql).await;
                plan_for_reuse(&ctx, &plan, vec![], vec![]).await.err()
            }
        };
        assert_eq!(reason("select 1 + 1").await, None);
        assert!(reason("select now()").await.unwrap().contains("clock"));
        assert!(reason("select random()")
            .await
            .unwrap()
            .contains("volatile"));
        let aggregate = reason("select count(*) from (values (1), (2)) t(x) group by x").await;
        assert!(
            aggregate.as_deref().unwrap_or("").contains("keeps state"),
            "{aggregate:?}"
        );
    }

    #[tokio::test]
    async fn binding_makes_a_new_plan_each_time() {
        let ctx = SessionContext::new();
        let ready = plan_for_reuse(&ctx, &logical(&ctx, "select 1").await, vec![], vec![])
            .await
            .unwrap();
        let params = ParamValues::List(vec![]);
        let bound = bind(&ready.physical, &params).await.unwrap().unwrap();
        let batches = datafusion::physical_plan::collect(bound, ready.task.clone())
            .await
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    }
}
