//! Materialized views: `CREATE MATERIALIZED VIEW ... AS SELECT ... GROUP BY`,
//! stored as Cassandra tables keyed by the group keys.
//!
//! A view is kept in one of two ways, by its `refresh` option:
//!
//! - **Continuous** (`refresh = 'continuous'`, the default): over one Kafka
//!   table, possibly joined with Cassandra tables ([`Dimension`]s, each by
//!   equalities with expressions over the Kafka table), folded in as events
//!   arrive, as mergeable partial aggregates.
//! - **Recomputed** (`refresh = 'every 10 minutes'` or `'manual'`): over any
//!   tables (Cassandra, Kafka, joins of them), recomputed whole on a
//!   schedule or by `REFRESH MATERIALIZED VIEW`. Its table holds the query's
//!   result as is, one row per group, each row marked with the refresh that
//!   wrote it ([`REFRESH_ID`]); groups a refresh no longer finds are deleted
//!   once all of its rows are written.
//!
//! A continuous view is kept as *partials*: one row per group and per source Kafka
//! partition, holding that partition's partial aggregates of the group and
//! the offset up to which they are applied ([`APPLIED_TO`]). The group keys
//! lead the Cassandra primary key and the source partition
//! ([`SOURCE_PARTITION`]) ends it, so every partial of a group sits in one
//! Cassandra partition. Reading the view through SQL merges a group's
//! partials ([`MaterializedView::merged_plan`]): one partition read, and the
//! partition-key filters of a query go down through the merge.
//!
//! This module decides what a view stores and how the parts merge; the
//! gateway's maintenance job decides when, and argues why each batch lands
//! exactly once.
//!
//! A continuous view must be one `SELECT` of group keys and aggregates over
//! one Kafka table (and its dimensions), grouped by those keys. Whatever the maintenance cannot keep
//! exactly (a `HAVING`, an exact `count(DISTINCT ...)`, an expression over
//! aggregates) is refused at `CREATE` with what to write instead.
//!
//! [`plan`] holds the queries maintenance and readers run; [`registry`]
//! how views are found.

pub mod plan;
pub mod registry;

pub use plan::merge_expr;
pub use registry::{MaterializedViews, ViewOverlay};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    self, CreateTableOptions, CreateView, DuplicateTreatment, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, SelectItem, SetExpr, SqlOption, Statement, TableFactor,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use smackql_providers_common::{ErrorClass, ProviderError};

use crate::definitions::{normalize, schema_and_table};
use crate::Definition;

/// The clustering column of a view's table that names the source Kafka
/// partition a partial row belongs to.
pub const SOURCE_PARTITION: &str = "_source_partition";

/// The column of a view's table holding the source offset up to which
/// (exclusive) a partial row includes the events of its partition.
pub const APPLIED_TO: &str = "_applied_to";

/// The column of a recomputed view's table naming the refresh that wrote a
/// row: the start of its period (or of the manual refresh), in
/// milliseconds since the epoch.
pub const REFRESH_ID: &str = "_refresh";

/// The line a stored view definition starts with, before its id.
const ID_PREFIX: &str = "-- smackql view ";

fn invalid(message: impl Into<String>) -> DataFusionError {
    ProviderError::new(
        ErrorClass::InvalidDefinition,
        "materialized view",
        message.into(),
    )
    .into()
}

fn unsupported(message: impl Into<String>) -> DataFusionError {
    ProviderError::new(ErrorClass::Unsupported, "materialized view", message.into()).into()
}

/// When a view is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Continuously, from its Kafka source, as events arrive.
    Continuous,
    /// Recomputed once in every period of this length, periods counted
    /// from the Unix epoch.
    Every(Duration),
    /// Recomputed by `REFRESH MATERIALIZED VIEW` only.
    Manual,
}

impl Refresh {
    /// Reads `WITH (refresh = ...)`: `continuous`, `manual`, or `every N
    /// seconds|minutes|hours|days` (`every minute`, `every hour`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["continuous"] => Some(Refresh::Continuous),
            ["manual"] => Some(Refresh::Manual),
            ["every", unit] => unit_seconds(unit).map(|s| Refresh::Every(Duration::from_secs(s))),
            ["every", n, unit] => {
                let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
                let seconds = n.checked_mul(unit_seconds(unit)?)?;
                Some(Refresh::Every(Duration::from_secs(seconds)))
            }
            _ => None,
        }
    }

    /// The name `WITH (refresh = ...)` and listings use.
    pub fn name(self) -> String {
        match self {
            Refresh::Continuous => "continuous".into(),
            Refresh::Manual => "manual".into(),
            Refresh::Every(period) => {
                let seconds = period.as_secs();
                let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
                    .into_iter()
                    .find(|(size, _)| seconds % size == 0)
                    .map(|(size, unit)| (seconds / size, unit))
                    .unwrap_or((seconds, "second"));
                if n == 1 {
                    format!("every {unit}")
                } else {
                    format!("every {n} {unit}s")
                }
            }
        }
    }

    /// Whether the view is recomputed whole (scheduled or manual) rather
    /// than folded continuously.
    pub fn is_recomputed(self) -> bool {
        !matches!(self, Refresh::Continuous)
    }
}

fn unit_seconds(unit: &str) -> Option<u64> {
    match unit.trim_end_matches('s') {
        "second" | "sec" => Some(1),
        "minute" | "min" => Some(60),
        "hour" => Some(3_600),
        "day" => Some(86_400),
        _ => None,
    }
}

/// An aggregate a view can keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    /// `count(*)` or `count(x)`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `avg(x)`, kept as a sum and a count.
    Avg,
    /// `approx_distinct(x)`, kept as a HyperLogLog sketch.
    ApproxDistinct,
}

/// How two partial values of one stored column combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Added (counts and sums).
    Add,
    /// The smaller one.
    Min,
    /// The larger one.
    Max,
    /// The union of two sketches.
    Sketch,
}

/// One aggregate column of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewAggregate {
    /// The column's name.
    pub name: String,
    /// What it computes.
    pub kind: AggregateKind,
    /// The argument as SQL; `None` for `count(*)`.
    pub arg: Option<String>,
}

/// One group-key column of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewKey {
    /// The column's name.
    pub name: String,
    /// The grouping expression as SQL.
    pub expr: String,
}

/// A column of a view's table that holds partial aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateColumn {
    /// The column's name.
    pub name: String,
    /// How partials combine.
    pub merge: Merge,
}

/// A table a continuous view joins its Kafka source with: each batch reads
/// the rows its events join, by the table's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    /// Its schema (a Cassandra keyspace).
    pub schema: String,
    /// Its name.
    pub table: String,
    /// The name it goes by in the query: its alias, or its name.
    pub reference: String,
    /// Each equality of the join condition: an expression over the Kafka
    /// source, as SQL, and the column of this table it equals.
    pub keys: Vec<(String, String)>,
}

impl Dimension {
    /// `schema.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// A checked `CREATE MATERIALIZED VIEW`.
#[derive(Debug, Clone)]
pub struct MaterializedView {
    /// Names this incarnation of the view: a view dropped and created again
    /// under the same name starts from scratch.
    pub id: String,
    /// The keyspace of its table.
    pub schema: String,
    /// Its name, and its table's.
    pub name: String,
    /// When it is refreshed.
    pub refresh: Refresh,
    /// The schema of the Kafka table a continuous view reads (of the first
    /// table a recomputed view reads).
    pub source_schema: String,
    /// The Kafka table a continuous view reads (the first table a
    /// recomputed view reads).
    pub source_table: String,
    /// Every table named in `FROM`, as `schema.table`.
    pub sources: Vec<String>,
    /// The tables a continuous view joins its Kafka source with, in join
    /// order.
    pub dimensions: Vec<Dimension>,
    /// The group keys, in select-list order.
    pub keys: Vec<ViewKey>,
    /// The aggregates of a continuous view, in select-list order.
    pub aggregates: Vec<ViewAggregate>,
    /// The other columns of a recomputed view (its values), in select-list
    /// order.
    pub values: Vec<String>,
    /// The key columns that make the Cassandra partition key.
    pub partition_key: Vec<String>,
    /// The other key columns, in clustering order, each with whether it
    /// sorts descending.
    pub clustering: Vec<(String, bool)>,
    /// Seconds a partial row lives after its last update; none by default.
    pub ttl: Option<u32>,
    /// The most source offsets per second a continuous view folds in from
    /// each Kafka partition, to pace a backfill; unlimited by default.
    pub max_rate_per_partition: Option<f64>,
    /// The select list in order: a key (index into `keys`) or an aggregate.
    columns: Vec<Column>,
    /// The name the source relation goes by in the query (its alias, or
    /// its name), as written.
    source_ref: String,
    /// `FROM ...`, as SQL.
    from: String,
    /// `WHERE ...`, as SQL.
    selection: Option<String>,
    /// `GROUP BY ...`, as SQL.
    group_by: Vec<String>,
    /// The query, as SQL.
    query: String,
    /// The statement, without `IF NOT EXISTS`.
    pub sql: String,
}

#[derive(Debug, Clone, Copy)]
enum Column {
    Key(usize),
    Aggregate(usize),
    Value(usize),
}

/// Whether `sql` starts `REFRESH MATERIALIZED VIEW`, and the view it names.
pub fn parse_refresh(sql: &str) -> Option<Result<(String, String)>> {
    let mut words = sql
        .trim()
        .trim_end_matches(';')
        .trim_end()
        .splitn(4, |c: char| c.is_whitespace());
    let is_refresh = words.next()?.eq_ignore_ascii_case("refresh")
        && words.next()?.eq_ignore_ascii_case("materialized")
        && words.next()?.eq_ignore_ascii_case("view");
    if !is_refresh {
        return None;
    }
    let name = words.next().unwrap_or("").trim();
    let parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(name)
        .and_then(|mut p| {
            let name = p.parse_object_name(false)?;
            p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::EOF)?;
            Ok(name)
        });
    Some(match parsed {
        Ok(name) => schema_and_table(&name)
            .ok_or_else(|| invalid(format!("name the keyspace of view {name}, as in ks.{name}"))),
        Err(e) => Err(invalid(format!(
            "expected REFRESH MATERIALIZED VIEW keyspace.view: {e}"
        ))),
    })
}

impl MaterializedView {
    /// Checks a parsed statement. `id` names this incarnation.
    pub fn from_statement(create: &CreateView, id: &str) -> Result<Self> {
        let Some((schema, name)) = schema_and_table(&create.name) else {
            return Err(invalid(format!(
                "name the keyspace of materialized view {}, as in ks.{}",
                create.name, create.name
            )));
        };
        let refuse = |clause: &str| {
            unsupported(format!(
                "{clause} is not supported for materialized view {schema}.{name}"
            ))
        };
        if create.or_replace || create.or_alter {
            return Err(refuse("OR REPLACE"));
        }
        if create.temporary {
            return Err(refuse("TEMPORARY"));
        }
        if !create.columns.is_empty() {
            return Err(refuse(
                "a column list; name the columns with AS in the query instead,",
            ));
        }
        let mut options = options(&create.options, &schema, &name)?;
        let refresh = match options.remove("refresh") {
            None => Refresh::Continuous,
            Some(text) => Refresh::parse(&text).ok_or_else(|| {
                invalid(format!(
                    "refresh = '{text}' is not a refresh mode; use 'continuous', 'manual' or \
                     'every N minutes' (or seconds, hours, days)"
                ))
            })?,
        };
        let continuous = !refresh.is_recomputed();
        let query = &create.query;
        if continuous && query.with.is_some() {
            return Err(refuse(
                "WITH (a common table expression) in a continuous view's query",
            ));
        }
        if continuous
            && (query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some())
        {
            return Err(unsupported(format!(
                "ORDER BY and LIMIT cannot be kept in continuous materialized view \
                 {schema}.{name}; apply them when you query the view"
            )));
        }
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err(unsupported(format!(
                "materialized view {schema}.{name} must be one SELECT ... GROUP BY"
            )));
        };
        if continuous && select.having.is_some() {
            return Err(unsupported(format!(
                "HAVING cannot be kept in continuous materialized view {schema}.{name}, because \
                 a group that fails it now may pass it later; filter when you query the view \
                 instead, or recompute the view (refresh = 'every 10 minutes')"
            )));
        }
        if continuous && select.distinct.is_some() {
            return Err(refuse("SELECT DISTINCT; GROUP BY the columns instead,"));
        }
        let sources = named_tables(&select.from);
        let (source_schema, source_table, source_ref, dimensions) = if continuous {
            continuous_source(select, &schema, &name)?
        } else {
            let first = select.from.first().and_then(|f| match &f.relation {
                TableFactor::Table { name, .. } => schema_and_table(name),
                _ => None,
            });
            let (s, t) = first.unwrap_or_default();
            (s, t, String::new(), Vec::new())
        };
        let GroupByExpr::Expressions(group_by, modifiers) = &select.group_by else {
            return Err(refuse("GROUP BY ALL; list the key columns,"));
        };
        if group_by.is_empty() {
            return Err(invalid(format!(
                "materialized view {schema}.{name} needs a GROUP BY: its keys become the \
                 primary key of its table"
            )));
        }
        if !modifiers.is_empty() {
            return Err(refuse("a GROUP BY modifier"));
        }

        let items = select_items(&select.projection, &schema, &name)?;
        let mut keys = Vec::new();
        let mut aggregates = Vec::new();
        let mut values = Vec::new();
        let mut columns = Vec::new();
        for (position, (expr, column_name)) in items.iter().enumerate() {
            let kept = if continuous {
                aggregate(expr, &schema, &name)?
            } else {
                None
            };
            let is_key = match kept {
                Some(_) => false,
                None if continuous => true,
                None => group_by
                    .iter()
                    .any(|g| groups(g, position, expr, column_name)),
            };
            if let Some((kind, arg)) = kept {
                columns.push(Column::Aggregate(aggregates.len()));
                aggregates.push(ViewAggregate {
                    name: column_name.clone(),
                    kind,
                    arg,
                });
            } else if is_key {
                columns.push(Column::Key(keys.len()));
                keys.push(ViewKey {
                    name: column_name.clone(),
                    expr: expr.to_string(),
                });
            } else {
                columns.push(Column::Value(values.len()));
                values.push(column_name.clone());
            }
        }
        // Every key is grouped by, and every group expression is a key.
        let key_items: Vec<(usize, &ast::Expr, &String)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(columns[*i], Column::Key(_)))
            .map(|(i, (expr, name))| (i, *expr, name))
            .collect();
        let mut grouped = BTreeSet::new();
        for expr in group_by {
            match key_items
                .iter()
                .position(|(i, e, n)| groups(expr, *i, e, n))
            {
                Some(k) => {
                    grouped.insert(k);
                }
                None => {
                    return Err(invalid(format!(
                        "GROUP BY {expr} of materialized view {schema}.{name} is not in its \
                         select list; add it there, since the group keys are the view's key"
                    )))
                }
            }
        }
        if let Some(missing) = keys.iter().enumerate().find(|(i, _)| !grouped.contains(i)) {
            return Err(invalid(format!(
                "column {} of materialized view {schema}.{name} is neither grouped by nor an \
                 aggregate; add it to GROUP BY or aggregate it",
                missing.1.name
            )));
        }
        if continuous && aggregates.is_empty() {
            return Err(invalid(format!(
                "materialized view {schema}.{name} has no aggregate; add one, such as count(*)"
            )));
        }

        let key_names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
        let partition_key = match options.remove("partition_key") {
            None => vec![key_names[0].clone()],
            Some(list) => {
                let cols = column_list(&list);
                for c in &cols {
                    if !key_names.contains(c) {
                        return Err(invalid(format!(
                            "partition_key column {c} of materialized view {schema}.{name} is \
                             not one of its group keys ({})",
                            key_names.join(", ")
                        )));
                    }
                }
                if cols.is_empty() {
                    return Err(invalid("partition_key lists no column"));
                }
                cols
            }
        };
        let mut clustering: Vec<(String, bool)> = key_names
            .iter()
            .filter(|k| !partition_key.contains(k))
            .map(|k| (k.clone(), false))
            .collect();
        if let Some(order) = options.remove("clustering_order") {
            for part in order.split(',') {
                let words: Vec<&str> = part.split_whitespace().collect();
                let (column, desc) = match words.as_slice() {
                    [c] => (c.to_lowercase(), false),
                    [c, d] if d.eq_ignore_ascii_case("desc") => (c.to_lowercase(), true),
                    [c, d] if d.eq_ignore_ascii_case("asc") => (c.to_lowercase(), false),
                    _ => {
                        return Err(invalid(format!(
                            "clustering_order '{order}' of materialized view {schema}.{name}: \
                             write 'column [ASC|DESC], ...'"
                        )))
                    }
                };
                match clustering.iter_mut().find(|(c, _)| *c == column) {
                    Some(entry) => entry.1 = desc,
                    None => {
                        return Err(invalid(format!(
                            "clustering_order names {column}, which is not a clustering key of \
                             materialized view {schema}.{name} (those are the group keys \
                             outside the partition key)"
                        )))
                    }
                }
            }
        }
        let ttl = match options.remove("ttl") {
            None => None,
            Some(text) => Some(text.parse::<u32>().ok().filter(|t| *t > 0).ok_or_else(|| {
                invalid(format!(
                    "ttl '{text}' of materialized view {schema}.{name} is not a number of seconds"
                ))
            })?),
        };
        let max_rate_per_partition = match options.remove("max_rate_per_partition") {
            None => None,
            Some(_) if !continuous => {
                return Err(invalid(format!(
                    "max_rate_per_partition paces a continuous view's Kafka partitions; \
                     materialized view {schema}.{name} is recomputed, so leave it out"
                )))
            }
            Some(text) => Some(
                text.parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| {
                        invalid(format!(
                            "max_rate_per_partition '{text}' of materialized view \
                             {schema}.{name} is not a positive number of offsets per second"
                        ))
                    })?,
            ),
        };
        if !options.is_empty() {
            return Err(invalid(format!(
                "unknown option{} of materialized view {schema}.{name}: {}; the options are \
                 refresh, partition_key, clustering_order, ttl and max_rate_per_partition",
                if options.len() > 1 { "s" } else { "" },
                options.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }

        let mut stored = create.clone();
        stored.if_not_exists = false;
        stored.name_before_not_exists = false;
        Ok(Self {
            id: id.to_string(),
            schema,
            name,
            refresh,
            source_schema,
            source_table,
            sources,
            dimensions,
            keys,
            aggregates,
            values,
            partition_key,
            clustering,
            ttl,
            max_rate_per_partition,
            columns,
            source_ref,
            from: select
                .from
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            selection: select.selection.as_ref().map(|s| s.to_string()),
            group_by: group_by.iter().map(|e| e.to_string()).collect(),
            query: query.to_string(),
            sql: Statement::CreateView(stored).to_string(),
        })
    }

    /// The query of a recomputed view, as written.
    pub fn query_sql(&self) -> &str {
        &self.query
    }

    /// The name a continuous view's Kafka table goes by in its query: its
    /// alias, or its name.
    pub fn source_reference(&self) -> &str {
        &self.source_ref
    }

    /// The names of its columns, in select-list order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .map(|c| match *c {
                Column::Key(k) => self.keys[k].name.as_str(),
                Column::Aggregate(a) => self.aggregates[a].name.as_str(),
                Column::Value(v) => self.values[v].as_str(),
            })
            .collect()
    }

    /// The definition as kept in the catalog store.
    pub fn stored(&self) -> Definition {
        Definition {
            schema: self.schema.clone(),
            name: self.name.clone(),
            sql: format!("{ID_PREFIX}{}\n{}", self.id, self.sql),
        }
    }

    /// Reads a definition kept by [`Self::stored`].
    pub fn parse(stored: &str) -> Result<Self> {
        let (id, sql) = stored
            .strip_prefix(ID_PREFIX)
            .and_then(|rest| rest.split_once('\n'))
            .ok_or_else(|| invalid("a stored materialized view without its id"))?;
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| invalid(format!("a stored materialized view does not parse: {e}")))?;
        match statements.as_slice() {
            [Statement::CreateView(create)] if create.materialized => {
                Self::from_statement(create, id.trim())
            }
            _ => Err(invalid(
                "a stored materialized view is not CREATE MATERIALIZED VIEW",
            )),
        }
    }

    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The columns of its table holding partial aggregates, by aggregate.
    pub fn state_columns(&self) -> Vec<StateColumn> {
        let mut columns = Vec::new();
        for a in &self.aggregates {
            let one = |name: String, merge| StateColumn { name, merge };
            match a.kind {
                AggregateKind::Count | AggregateKind::Sum => {
                    columns.push(one(a.name.clone(), Merge::Add))
                }
                AggregateKind::Min => columns.push(one(a.name.clone(), Merge::Min)),
                AggregateKind::Max => columns.push(one(a.name.clone(), Merge::Max)),
                AggregateKind::Avg => {
                    columns.push(one(format!("{}__sum", a.name), Merge::Add));
                    columns.push(one(format!("{}__count", a.name), Merge::Add));
                }
                AggregateKind::ApproxDistinct => columns.push(one(a.name.clone(), Merge::Sketch)),
            }
        }
        columns
    }
}

/// What a continuous view reads: its Kafka table (schema, name, and the
/// name it goes by in the query) and the tables it joins that with.
type ContinuousFrom = (String, String, String, Vec<Dimension>);

/// The one Kafka table a continuous view reads, and the dimension tables it
/// joins, each by equalities between its columns and expressions over the
/// Kafka table.
fn continuous_source(select: &ast::Select, schema: &str, name: &str) -> Result<ContinuousFrom> {
    let [from] = select.from.as_slice() else {
        return Err(unsupported(format!(
            "continuous materialized view {schema}.{name} must read one Kafka table in FROM; \
             join other tables to it with JOIN ... ON"
        )));
    };
    let (source_schema, source_table, source_ref) = named_relation(&from.relation, schema, name)?;
    let mut dimensions: Vec<Dimension> = Vec::with_capacity(from.joins.len());
    for join in &from.joins {
        let (dim_schema, dim_table, reference) = named_relation(&join.relation, schema, name)?;
        let constraint = match &join.join_operator {
            ast::JoinOperator::Join(c)
            | ast::JoinOperator::Inner(c)
            | ast::JoinOperator::Left(c)
            | ast::JoinOperator::LeftOuter(c) => c,
            other => {
                return Err(unsupported(format!(
                    "{} in continuous materialized view {schema}.{name}: a continuous view \
                     joins its Kafka table with [LEFT] JOIN ... ON only, since each event is \
                     matched when it arrives; recompute the view for other joins \
                     (refresh = 'every 10 minutes')",
                    join_name(other)
                )))
            }
        };
        let ast::JoinConstraint::On(on) = constraint else {
            return Err(unsupported(format!(
                "join {dim_schema}.{dim_table} in continuous materialized view {schema}.{name} \
                 with ON and equalities, as in ON {source_ref}.campaign_id = \
                 {reference}.campaign_id"
            )));
        };
        if reference == source_ref || dimensions.iter().any(|d| d.reference == reference) {
            return Err(invalid(format!(
                "{reference} names two tables in materialized view {schema}.{name}; give each \
                 its own alias"
            )));
        }
        if (dim_schema == source_schema && dim_table == source_table)
            || dimensions
                .iter()
                .any(|d| d.schema == dim_schema && d.table == dim_table)
        {
            return Err(unsupported(format!(
                "continuous materialized view {schema}.{name} reads {dim_schema}.{dim_table} \
                 twice; join each table once"
            )));
        }
        let keys = join_keys(on, &source_ref, &reference, schema, name)?;
        dimensions.push(Dimension {
            schema: dim_schema,
            table: dim_table,
            reference,
            keys,
        });
    }
    Ok((source_schema, source_table, source_ref, dimensions))
}

/// A plain table in `FROM`: its schema, its name, and the name it goes by.
fn named_relation(
    relation: &TableFactor,
    schema: &str,
    name: &str,
) -> Result<(String, String, String)> {
    let TableFactor::Table {
        name: table,
        alias,
        args: None,
        ..
    } = relation
    else {
        return Err(unsupported(format!(
            "continuous materialized view {schema}.{name} reads tables by name only, not \
             {relation}"
        )));
    };
    let Some((table_schema, table_name)) = schema_and_table(table) else {
        return Err(invalid(format!(
            "name the schema of {table} in materialized view {schema}.{name}, as in \
             kafka.{table} or keyspace.{table}"
        )));
    };
    let reference = match alias {
        Some(alias) => normalize(&alias.name),
        None => table_name.clone(),
    };
    Ok((table_schema, table_name, reference))
}

/// How a join is written, for messages.
fn join_name(operator: &ast::JoinOperator) -> &'static str {
    match operator {
        ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => "RIGHT JOIN",
        ast::JoinOperator::FullOuter(_) => "FULL JOIN",
        ast::JoinOperator::CrossJoin(_) => "CROSS JOIN",
        ast::JoinOperator::Semi(_)
        | ast::JoinOperator::LeftSemi(_)
        | ast::JoinOperator::RightSemi(_) => "a SEMI JOIN",
        ast::JoinOperator::Anti(_)
        | ast::JoinOperator::LeftAnti(_)
        | ast::JoinOperator::RightAnti(_) => "an ANTI JOIN",
        _ => "this join",
    }
}

/// The equalities of a join condition `on` between dimension `dimension`
/// and the Kafka source `source`: each an expression over the source's
/// columns (as SQL) and the dimension column it equals.
fn join_keys(
    on: &ast::Expr,
    source: &str,
    dimension: &str,
    schema: &str,
    name: &str,
) -> Result<Vec<(String, String)>> {
    let mut conjuncts = vec![on];
    let mut keys = Vec::new();
    while let Some(expr) = conjuncts.pop() {
        match expr {
            ast::Expr::Nested(inner) => conjuncts.push(inner),
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::And,
                right,
            } => {
                conjuncts.push(right);
                conjuncts.push(left);
            }
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Eq,
                right,
            } => {
                let (column, other) = match (
                    dimension_column(left, dimension),
                    dimension_column(right, dimension),
                ) {
                    (Some(column), None) => (column, right),
                    (None, Some(column)) => (column, left),
                    _ => {
                        return Err(unsupported(format!(
                            "join condition {expr} of materialized view {schema}.{name} must \
                             equal a column of {dimension} to an expression over {source}"
                        )))
                    }
                };
                if let Some(stray) = columns_not_of(other, source) {
                    return Err(unsupported(format!(
                        "{stray} in join condition {expr} of materialized view {schema}.{name}: \
                         the other side of each equality reads {source} alone, its columns \
                         qualified as in {source}.column"
                    )));
                }
                keys.push((other.to_string(), column));
            }
            other => {
                return Err(unsupported(format!(
                    "join condition {other} of materialized view {schema}.{name}: join \
                     {dimension} by equalities joined with AND, and filter in WHERE"
                )))
            }
        }
    }
    if keys.is_empty() {
        return Err(invalid(format!(
            "the join of {dimension} in materialized view {schema}.{name} has no equality"
        )));
    }
    Ok(keys)
}

/// The column `expr` names, if it is a column of `relation` qualified by
/// its name (`relation.column`, or longer names that end so).
fn dimension_column(expr: &ast::Expr, relation: &str) -> Option<String> {
    match expr {
        ast::Expr::Nested(inner) => dimension_column(inner, relation),
        ast::Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            (normalize(&parts[parts.len() - 2]) == relation)
                .then(|| normalize(&parts[parts.len() - 1]))
        }
        _ => None,
    }
}

/// A column of `expr` that is not qualified by `relation`, if any.
fn columns_not_of(expr: &ast::Expr, relation: &str) -> Option<String> {
    let found = ast::visit_expressions(expr, |e| match e {
        ast::Expr::Identifier(ident) => ControlFlow::Break(ident.to_string()),
        ast::Expr::CompoundIdentifier(parts)
            if parts.len() < 2 || normalize(&parts[parts.len() - 2]) != relation =>
        {
            ControlFlow::Break(e.to_string())
        }
        _ => ControlFlow::Continue(()),
    });
    match found {
        ControlFlow::Break(column) => Some(column),
        ControlFlow::Continue(()) => None,
    }
}

/// Every table named in `from` and its joins, as `schema.table`.
fn named_tables(from: &[ast::TableWithJoins]) -> Vec<String> {
    let mut names = Vec::new();
    let relations = from
        .iter()
        .flat_map(|f| std::iter::once(&f.relation).chain(f.joins.iter().map(|j| &j.relation)));
    for relation in relations {
        if let TableFactor::Table { name, .. } = relation {
            let text = match schema_and_table(name) {
                Some((schema, table)) => format!("{schema}.{table}"),
                None => name.to_string(),
            };
            if !names.contains(&text) {
                names.push(text);
            }
        }
    }
    names
}

/// The select list: each expression with its column's name, which must be
/// given where the expression is not a column, and may not be reserved.
fn select_items<'a>(
    projection: &'a [SelectItem],
    schema: &str,
    name: &str,
) -> Result<Vec<(&'a ast::Expr, String)>> {
    let mut items = Vec::with_capacity(projection.len());
    let mut names = BTreeSet::new();
    for item in projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            _ => {
                return Err(invalid(format!(
                    "list the columns of materialized view {schema}.{name} one by one, not with *"
                )))
            }
        };
        let column_name = match (alias, expr) {
            (Some(alias), _) => normalize(alias),
            (None, ast::Expr::Identifier(ident)) => normalize(ident),
            (None, ast::Expr::CompoundIdentifier(parts)) => {
                parts.last().map(normalize).unwrap_or_default()
            }
            (None, other) => {
                return Err(invalid(format!(
                    "name the column {other} of materialized view {schema}.{name} with AS"
                )))
            }
        };
        if column_name.starts_with('_') || column_name.contains("__") {
            return Err(invalid(format!(
                "column name {column_name} of materialized view {schema}.{name} is reserved: \
                 names may not start with _ or contain __"
            )));
        }
        if !names.insert(column_name.clone()) {
            return Err(invalid(format!(
                "column {column_name} appears twice in materialized view {schema}.{name}"
            )));
        }
        items.push((expr, column_name));
    }
    Ok(items)
}

/// Whether GROUP BY entry `group` groups by select item `position` (from
/// 0), which is `expr` named `column`: by position, by name, or by being
/// the same expression.
fn groups(group: &ast::Expr, position: usize, expr: &ast::Expr, column: &str) -> bool {
    match group {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<usize>().ok() == Some(position + 1),
            _ => group.to_string() == expr.to_string(),
        },
        ast::Expr::Identifier(ident) => {
            normalize(ident) == column || group.to_string() == expr.to_string()
        }
        _ => group.to_string() == expr.to_string(),
    }
}

/// Whether `expr` is an aggregate the view can keep, and its kind and
/// argument; `None` when it aggregates nothing (a key).
fn aggregate(
    expr: &ast::Expr,
    schema: &str,
    view: &str,
) -> Result<Option<(AggregateKind, Option<String>)>> {
    let ast::Expr::Function(function) = expr else {
        return if contains_aggregate(expr) {
            Err(unsupported(format!(
                "{expr} in materialized view {schema}.{view} computes over aggregates; keep \
                 each aggregate as its own column and compute {expr} when you query the view"
            )))
        } else {
            Ok(None)
        };
    };
    let fname = function
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .unwrap_or_default();
    let kind = match fname.as_str() {
        "count" => AggregateKind::Count,
        "sum" => AggregateKind::Sum,
        "min" => AggregateKind::Min,
        "max" => AggregateKind::Max,
        "avg" | "mean" => AggregateKind::Avg,
        "approx_distinct" | "approx_count_distinct" => AggregateKind::ApproxDistinct,
        _ if AGGREGATE_NAMES.contains(&fname.as_str()) => {
            return Err(unsupported(format!(
                "{fname} cannot be kept in materialized view {schema}.{view}: its partial \
                 results do not merge; use count, sum, min, max, avg or approx_distinct"
            )))
        }
        _ if contains_aggregate(expr) => {
            return Err(unsupported(format!(
                "{expr} in materialized view {schema}.{view} computes over aggregates; keep \
                 each aggregate as its own column and compute {expr} when you query the view"
            )))
        }
        _ => return Ok(None),
    };
    if function.over.is_some() {
        return Err(unsupported(format!(
            "window function {expr} cannot be kept in materialized view {schema}.{view}"
        )));
    }
    if function.filter.is_some() {
        return Err(unsupported(format!(
            "FILTER in {expr} is not supported in materialized view {schema}.{view}; move the \
             condition into WHERE, or into a CASE inside the aggregate"
        )));
    }
    let FunctionArguments::List(list) = &function.args else {
        return Err(invalid(format!("{expr}: {fname} takes one argument")));
    };
    if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)) {
        return Err(unsupported(format!(
            "{expr} in materialized view {schema}.{view} cannot be kept exactly: distinct \
             values do not merge across batches without keeping them all; use \
             approx_distinct(...) for an estimate, or count distinct values when you query \
             the source"
        )));
    }
    if !list.clauses.is_empty() {
        return Err(unsupported(format!(
            "{expr}: clauses inside an aggregate are not supported in materialized views"
        )));
    }
    let arg = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if kind == AggregateKind::Count => None,
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => {
            if contains_aggregate(arg) {
                return Err(unsupported(format!(
                    "nested aggregate {expr} in materialized view {schema}.{view}"
                )));
            }
            Some(arg.to_string())
        }
        _ => return Err(invalid(format!("{expr}: {fname} takes one argument"))),
    };
    Ok(Some((kind, arg)))
}

/// Aggregate functions a view cannot keep, named to say so rather than
/// mistake them for keys.
const AGGREGATE_NAMES: &[&str] = &[
    "array_agg",
    "string_agg",
    "median",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "first_value",
    "last_value",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "approx_percentile_cont",
    "approx_median",
    "percentile_cont",
    "corr",
    "covar",
    "covar_pop",
    "covar_samp",
    "nth_value",
];

/// Whether `expr` calls an aggregate anywhere inside.
fn contains_aggregate(expr: &ast::Expr) -> bool {
    let text = expr.to_string().to_lowercase();
    ["count(", "sum(", "min(", "max(", "avg(", "approx_distinct("]
        .iter()
        .chain(AGGREGATE_NAMES.iter())
        .any(|name| {
            let name = name.trim_end_matches('(');
            text.match_indices(name).any(|(i, _)| {
                let before_ok = i == 0
                    || !text.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && text.as_bytes()[i - 1] != b'_';
                let after = text[i + name.len()..].trim_start();
                before_ok && after.starts_with('(')
            })
        })
}

/// `WITH (...)` options, names in lower case, values as text.
fn options(
    options: &CreateTableOptions,
    schema: &str,
    view: &str,
) -> Result<BTreeMap<String, String>> {
    let list: &[SqlOption] = match options {
        CreateTableOptions::None => &[],
        CreateTableOptions::With(list) => list,
        _ => {
            return Err(unsupported(format!(
                "give the options of materialized view {schema}.{view} as WITH (name = 'value')"
            )))
        }
    };
    let mut out = BTreeMap::new();
    for option in list {
        let SqlOption::KeyValue { key, value } = option else {
            return Err(invalid(format!(
                "option {option} of materialized view {schema}.{view}: write name = 'value'"
            )));
        };
        let text = match value {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                ast::Value::Number(n, _) => n.clone(),
                other => other.to_string(),
            },
            ast::Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        };
        if out
            .insert(key.value.to_lowercase(), text.trim().to_lowercase())
            .is_some()
        {
            return Err(invalid(format!(
                "option {key} of materialized view {schema}.{view} is given twice"
            )));
        }
    }
    Ok(out)
}

fn column_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<MaterializedView> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let Statement::CreateView(create) = &statements[0] else {
            panic!("not a view: {sql}");
        };
        MaterializedView::from_statement(create, "id1")
    }

    const CANONICAL: &str = "CREATE MATERIALIZED VIEW ks.views_by_campaign_day \
        WITH (refresh = 'continuous', clustering_order = 'day DESC') AS \
        SELECT campaign_id, date_trunc('day', ts) AS day, count(*) AS events, \
        sum(views) AS views, min(ts) AS first_seen, avg(cost) AS avg_cost, \
        approx_distinct(user_id) AS users FROM kafka.ad_events WHERE views > 0 GROUP BY campaign_id, date_trunc('day', ts)";

    #[test]
    fn reads_the_canonical_view() {
        let view = parse(CANONICAL).unwrap();
        assert_eq!(
            (view.schema.as_str(), view.name.as_str()),
            ("ks", "views_by_campaign_day")
        );
        assert_eq!(
            (view.source_schema.as_str(), view.source_table.as_str()),
            ("kafka", "ad_events")
        );
        assert_eq!(view.partition_key, vec!["campaign_id"]);
        assert_eq!(view.clustering, vec![("day".to_string(), true)]);
        let names: Vec<_> = view.state_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            vec![
                "events",
                "views",
                "first_seen",
                "avg_cost__sum",
                "avg_cost__count",
                "users"
            ]
        );
        let partial = view.partial_sql();
        assert!(
            partial.contains("hll_sketch(user_id) AS \"users\""),
            "{partial}"
        );
        assert!(
            partial.contains("(views > 0) AND \"ad_events\"._partition = $1"),
            "{partial}"
        );
        assert!(
            partial.ends_with("GROUP BY campaign_id, date_trunc('day', ts)"),
            "{partial}"
        );
        let again = MaterializedView::parse(&view.stored().sql).unwrap();
        assert_eq!(again.id, "id1");
        assert_eq!(again.partial_sql(), partial);
    }

    #[test]
    fn group_by_may_name_aliases_and_positions() {
        let view = parse(
            "CREATE MATERIALIZED VIEW ks.v AS SELECT a, b % 10 AS bucket, count(*) AS n \
             FROM kafka.t GROUP BY 1, bucket",
        )
        .unwrap();
        assert_eq!(view.keys.len(), 2);
    }

    fn refused(sql: &str, needle: &str) {
        let err = parse(sql).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }

    #[test]
    fn refuses_what_it_cannot_keep_and_says_what_to_write() {
        let head = "CREATE MATERIALIZED VIEW ks.v AS SELECT a, ";
        refused(
            &format!("{head}count(DISTINCT u) AS users FROM kafka.t GROUP BY a"),
            "approx_distinct",
        );
        refused(
            &format!("{head}count(*) AS n FROM kafka.t GROUP BY a HAVING count(*) > 1"),
            "HAVING",
        );
        refused(
            &format!("{head}sum(x) / count(*) AS r FROM kafka.t GROUP BY a"),
            "keep each aggregate as its own column",
        );
        refused(
            &format!("{head}median(x) AS m FROM kafka.t GROUP BY a"),
            "do not merge",
        );
        refused(
            &format!("{head}b, count(*) AS n FROM kafka.t GROUP BY a"),
            "add it to GROUP BY",
        );
        refused(
            &format!("{head}count(*) AS n FROM kafka.t GROUP BY a, c"),
            "not in its select list",
        );
        refused(
            &format!("{head}count(*) FROM kafka.t GROUP BY a"),
            "with AS",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v AS SELECT a FROM kafka.t GROUP BY a",
            "no aggregate",
        );
        refused(
            &format!("{head}count(*) AS n FROM kafka.t GROUP BY a ORDER BY a"),
            "ORDER BY",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (colour = 'red') AS SELECT a, count(*) AS n \
             FROM kafka.t GROUP BY a",
            "unknown option of materialized view ks.v: colour",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (partition_key = 'b') AS SELECT a, count(*) AS n \
             FROM kafka.t GROUP BY a",
            "not one of its group keys",
        );
        refused(
            "CREATE MATERIALIZED VIEW v AS SELECT a, count(*) AS n FROM kafka.t GROUP BY a",
            "name the keyspace",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (max_rate_per_partition = 0) AS SELECT a, \
             count(*) AS n FROM kafka.t GROUP BY a",
            "not a positive number of offsets per second",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (refresh = 'manual', max_rate_per_partition = 5) \
             AS SELECT a, count(*) AS n FROM ks.t GROUP BY a",
            "is recomputed, so leave it out",
        );
    }

    #[test]
    fn a_rate_limit_is_kept_with_the_view() {
        let view = parse(
            "CREATE MATERIALIZED VIEW ks.v WITH (max_rate_per_partition = 1500) AS \
             SELECT a, count(*) AS n FROM kafka.t GROUP BY a",
        )
        .unwrap();
        assert_eq!(view.max_rate_per_partition, Some(1500.0));
        let again = MaterializedView::parse(&view.stored().sql).unwrap();
        assert_eq!(again.max_rate_per_partition, Some(1500.0));
        assert_eq!(parse(CANONICAL).unwrap().max_rate_per_partition, None);
    }

    #[test]
    fn continuous_views_join_dimension_tables_by_key() {
        let view = parse(
            "CREATE MATERIALIZED VIEW ks.v AS SELECT c.advertiser, r.name AS region, \
             count(*) AS n FROM kafka.ad_events AS e \
             JOIN ks.campaigns c ON c.campaign_id = e.campaign_id \
             LEFT JOIN ks.regions r ON (e.region_id + 1 = r.id AND r.country = upper(e.country)) \
             GROUP BY c.advertiser, r.name",
        )
        .unwrap();
        assert_eq!(view.source_table, "ad_events");
        assert_eq!(view.source_reference(), "e");
        assert_eq!(
            view.dimensions,
            vec![
                Dimension {
                    schema: "ks".into(),
                    table: "campaigns".into(),
                    reference: "c".into(),
                    keys: vec![("e.campaign_id".into(), "campaign_id".into())],
                },
                Dimension {
                    schema: "ks".into(),
                    table: "regions".into(),
                    reference: "r".into(),
                    keys: vec![
                        ("e.region_id + 1".into(), "id".into()),
                        ("upper(e.country)".into(), "country".into()),
                    ],
                },
            ]
        );
        assert!(
            view.partial_sql().contains("\"e\"._partition = $1"),
            "{}",
            view.partial_sql()
        );

        let head = "CREATE MATERIALIZED VIEW ks.v AS SELECT c.a, count(*) AS n FROM kafka.t e ";
        for (join, says) in [
            ("RIGHT JOIN ks.c c ON c.id = e.id", "RIGHT JOIN"),
            ("FULL JOIN ks.c c ON c.id = e.id", "FULL JOIN"),
            ("CROSS JOIN ks.c c", "CROSS JOIN"),
            ("JOIN ks.c c USING (id)", "with ON and equalities"),
            ("JOIN ks.c c ON c.id > e.id", "equalities joined with AND"),
            ("JOIN ks.c c ON c.id = id", "qualified as in e.column"),
            ("JOIN ks.c c ON c.id = c.other", "must equal a column of c"),
            ("JOIN ks.c e ON e.id = e.id", "give each its own alias"),
            (
                "JOIN ks.c c ON c.id = e.id JOIN ks.c d ON d.id = e.id",
                "join each table once",
            ),
            ("JOIN (SELECT 1) c ON c.id = e.id", "by name only"),
        ] {
            refused(&format!("{head}{join} GROUP BY c.a"), says);
        }
        refused(
            "CREATE MATERIALIZED VIEW ks.v AS SELECT a, count(*) AS n FROM kafka.t, ks.c \
             GROUP BY a",
            "JOIN ... ON",
        );
    }

    #[test]
    fn reads_refresh_modes() {
        let every = |s| Refresh::Every(Duration::from_secs(s));
        assert_eq!(Refresh::parse("every 10 minutes"), Some(every(600)));
        assert_eq!(Refresh::parse("every minute"), Some(every(60)));
        assert_eq!(Refresh::parse("every 2 seconds"), Some(every(2)));
        assert_eq!(Refresh::parse("every 1 day"), Some(every(86_400)));
        assert_eq!(Refresh::parse("manual"), Some(Refresh::Manual));
        assert_eq!(Refresh::parse("every 0 minutes"), None);
        assert_eq!(Refresh::parse("every 10 fortnights"), None);
        assert_eq!(Refresh::parse("hourly"), None);
        assert_eq!(every(600).name(), "every 10 minutes");
        assert_eq!(every(3_600).name(), "every hour");
        assert_eq!(every(90).name(), "every 90 seconds");
        assert_eq!(Refresh::Manual.name(), "manual");
    }

    #[test]
    fn recomputed_views_keep_any_grouped_query() {
        let view = parse(
            "CREATE MATERIALIZED VIEW ks.v WITH (refresh = 'every 10 minutes') AS \
             SELECT c.name, date_trunc('month', e.ts) AS month, count(DISTINCT e.user_id) AS users, \
             sum(e.views) / count(*) AS ratio \
             FROM kafka.ad_events e JOIN ks.campaigns c ON e.campaign_id = c.id \
             GROUP BY c.name, 2 HAVING count(*) > 1",
        )
        .unwrap();
        assert_eq!(view.refresh, Refresh::Every(Duration::from_secs(600)));
        assert_eq!(view.sources, vec!["kafka.ad_events", "ks.campaigns"]);
        let keys: Vec<_> = view.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(keys, vec!["name", "month"]);
        assert_eq!(view.values, vec!["users", "ratio"]);
        assert_eq!(view.column_names(), vec!["name", "month", "users", "ratio"]);
        assert!(view.query_sql().contains("HAVING"), "{}", view.query_sql());
        let again = MaterializedView::parse(&view.stored().sql).unwrap();
        assert_eq!(again.refresh, view.refresh);

        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (refresh = 'manual') AS SELECT count(*) AS n \
             FROM ks.t GROUP BY a",
            "not in its select list",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (refresh = 'daily') AS SELECT a, count(*) AS n \
             FROM ks.t GROUP BY a",
            "not a refresh mode",
        );
        refused(
            "CREATE MATERIALIZED VIEW ks.v WITH (refresh = 'manual') AS SELECT a, count(*) AS n \
             FROM ks.t",
            "needs a GROUP BY",
        );
    }

    #[test]
    fn reads_refresh_statements() {
        assert_eq!(
            parse_refresh("refresh materialized view KS.\"View\";")
                .unwrap()
                .unwrap(),
            ("ks".to_string(), "View".to_string())
        );
        assert!(parse_refresh("REFRESH MATERIALIZED VIEW v")
            .unwrap()
            .is_err());
        assert!(parse_refresh("SELECT 1").is_none());
    }
}
