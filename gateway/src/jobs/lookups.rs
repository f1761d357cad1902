//! The dimension tables of a continuous view, read by key for each batch.
//!
//! A continuous view may join its Kafka table with Cassandra tables, each
//! by equalities that cover the table's partition key:
//!
//! ```sql
//! SELECT c.advertiser, date_trunc('day', e.ts) AS day, count(*) AS events
//!   FROM kafka.ad_events e JOIN shop.campaigns c ON c.campaign_id = e.campaign_id
//!  GROUP BY c.advertiser, date_trunc('day', e.ts)
//! ```
//!
//! A batch reads its events first ([`read_slice`]), then, per dimension
//! table, the distinct values its events join on, and reads just those rows
//! of the table, as partition reads ([`look_up`]). The view's query then
//! runs over the events and those rows alone ([`substitute`]).
//!
//! Each event is matched with its dimension rows as they are when its batch
//! is folded in, as in a stream-table join: a later change of a dimension
//! row does not move the events already folded. For that to stay exactly
//! once through a crash, a batch that is redone must join what the first
//! attempt joined, although the table may have changed in between. So the
//! rows a batch reads are stored, encoded as Arrow IPC, before the batch
//! writes anything (`smackql_meta.view_lookups`), and a redone batch reads
//! them back instead of the table. They are stored in one write, so a
//! redone batch finds all of them or (if the first attempt stopped before
//! it began) does not redo anything.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::compute::kernels::cmp::lt;
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::{provider_as_source, MemTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{lit, Expr, LogicalPlan, TableScanBuilder};
use datafusion::prelude::SessionContext;
use smackql_catalog::{Dimension, MaterializedView, CATALOG_NAME};

use super::col_named;

/// Partition reads one query by key asks for at most; the cross product of
/// its `IN` lists stays within the provider's partition-read limit.
const READS_PER_QUERY: usize = 400;

/// The tables a view reads, resolved once per worker.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    /// The Kafka table.
    pub(super) source: Arc<dyn TableProvider>,
    /// Each dimension table, in the view's join order.
    pub(super) dimensions: Vec<Arc<dyn TableProvider>>,
}

impl Sources {
    /// The tables of `view`, as `session` resolves them.
    pub(super) async fn resolve(session: &SessionContext, view: &MaterializedView) -> Result<Self> {
        let table = |schema: &str, name: &str| {
            TableReference::full(CATALOG_NAME, schema.to_string(), name.to_string())
        };
        let source = session
            .table_provider(table(&view.source_schema, &view.source_table))
            .await?;
        let mut dimensions = Vec::with_capacity(view.dimensions.len());
        for d in &view.dimensions {
            dimensions.push(session.table_provider(table(&d.schema, &d.table)).await?);
        }
        Ok(Self { source, dimensions })
    }
}

/// The events of source partition `partition` at offsets `[from, to)`.
pub(super) async fn read_slice(
    session: &SessionContext,
    source: &Arc<dyn TableProvider>,
    partition: i32,
    from: i64,
    to: i64,
) -> Result<Vec<RecordBatch>> {
    session
        .read_table(source.clone())?
        .filter(
            col_named("_partition")
                .eq(lit(partition))
                .and(col_named("_offset").gt_eq(lit(from)))
                .and(col_named("_offset").lt(lit(to))),
        )?
        .collect()
        .await
}

/// The events of `slice` before offset `to`.
pub(super) fn truncate(slice: &[RecordBatch], to: i64) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(slice.len());
    for batch in slice {
        let offsets = batch
            .column_by_name("_offset")
            .ok_or_else(|| DataFusionError::Internal("events without _offset".into()))?;
        let keep = lt(offsets, &Int64Array::new_scalar(to))?;
        out.push(filter_record_batch(batch, &keep)?);
    }
    Ok(out)
}

/// The rows of each dimension table of `view` that the events of `slice`
/// join, read by key.
pub(super) async fn look_up(
    session: &SessionContext,
    view: &MaterializedView,
    sources: &Sources,
    slice: &[RecordBatch],
) -> Result<Vec<Vec<RecordBatch>>> {
    let mut found = Vec::with_capacity(view.dimensions.len());
    for (dimension, table) in view.dimensions.iter().zip(&sources.dimensions) {
        found.push(look_up_one(session, view, dimension, table, slice).await?);
    }
    Ok(found)
}

async fn look_up_one(
    session: &SessionContext,
    view: &MaterializedView,
    dimension: &Dimension,
    table: &Arc<dyn TableProvider>,
    slice: &[RecordBatch],
) -> Result<Vec<RecordBatch>> {
    let schema = table.schema();
    let events = session
        .read_batches(slice.iter().cloned())?
        .alias(view.source_reference())?;
    let mut exprs = Vec::with_capacity(dimension.keys.len());
    for (i, (expr, column)) in dimension.keys.iter().enumerate() {
        let field = schema.field_with_name(column).map_err(|_| {
            DataFusionError::Plan(format!(
                "{} has no column {column}, which materialized view {} joins on",
                dimension.qualified_name(),
                view.qualified_name()
            ))
        })?;
        let expr = events.parse_sql_expr(expr)?;
        exprs.push(
            datafusion::logical_expr::cast(expr, field.data_type().clone()).alias(format!("k{i}")),
        );
    }
    let keys = events.select(exprs)?.distinct()?.collect().await?;
    // Distinct key tuples, with no null (a null never joins).
    let mut tuples: Vec<Vec<ScalarValue>> = Vec::new();
    for batch in &keys {
        for row in 0..batch.num_rows() {
            let tuple = batch
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, row))
                .collect::<Result<Vec<_>>>()?;
            if tuple.iter().all(|v| !v.is_null()) {
                tuples.push(tuple);
            }
        }
    }
    tuples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));

    let mut rows = Vec::new();
    for chunk in chunks(&tuples) {
        let mut filter: Option<Expr> = None;
        for (i, (_, column)) in dimension.keys.iter().enumerate() {
            let mut seen = HashSet::new();
            let values: Vec<Expr> = chunk
                .iter()
                .filter(|t| seen.insert(t[i].clone()))
                .map(|t| lit(t[i].clone()))
                .collect();
            let condition = col_named(column).in_list(values, false);
            filter = Some(match filter {
                Some(f) => f.and(condition),
                None => condition,
            });
        }
        let Some(filter) = filter else { continue };
        rows.extend(
            session
                .read_table(table.clone())?
                .filter(filter)?
                .collect()
                .await?,
        );
    }
    Ok(rows)
}

/// `tuples` (sorted) cut into runs whose `IN` lists, one per column,
/// multiply to at most [`READS_PER_QUERY`] combinations. Tuples that share
/// their first value stay in one run, so no two runs read the same row.
pub(super) fn chunks(tuples: &[Vec<ScalarValue>]) -> Vec<&[Vec<ScalarValue>]> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < tuples.len() {
        let mut end = start;
        let width = tuples[start].len();
        let mut distinct: Vec<HashSet<&ScalarValue>> = vec![HashSet::new(); width];
        while end < tuples.len() {
            // The whole group of tuples with this first value.
            let mut group_end = end + 1;
            while group_end < tuples.len() && tuples[group_end][0] == tuples[end][0] {
                group_end += 1;
            }
            let mut grown = distinct.clone();
            for tuple in &tuples[end..group_end] {
                for (i, value) in tuple.iter().enumerate() {
                    grown[i].insert(value);
                }
            }
            let reads = grown.iter().map(HashSet::len).product::<usize>();
            if end > start && reads > READS_PER_QUERY {
                break;
            }
            distinct = grown;
            end = group_end;
        }
        runs.push(&tuples[start..end]);
        start = end;
    }
    runs
}

/// Rows encoded for `smackql_meta.view_lookups`.
pub(super) fn encode(schema: &SchemaRef, rows: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
    for batch in rows {
        writer.write(batch)?;
    }
    Ok(writer.into_inner()?)
}

/// Rows [`encode`]d before.
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// `plan`, the view's partial query, reading `slice` for its Kafka table
/// and `rows` (by dimension) for its dimension tables.
pub(super) fn substitute(
    plan: LogicalPlan,
    view: &MaterializedView,
    sources: &Sources,
    slice: Vec<RecordBatch>,
    rows: Vec<Vec<RecordBatch>>,
) -> Result<LogicalPlan> {
    let mut tables: Vec<(String, String, Arc<dyn TableProvider>)> = Vec::new();
    tables.push((
        view.source_schema.clone(),
        view.source_table.clone(),
        in_memory(sources.source.schema(), slice)?,
    ));
    for ((dimension, table), rows) in view.dimensions.iter().zip(&sources.dimensions).zip(rows) {
        tables.push((
            dimension.schema.clone(),
            dimension.table.clone(),
            in_memory(table.schema(), rows)?,
        ));
    }
    plan.transform_up(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let name = &scan.table_name;
        let Some((_, _, table)) = tables.iter().find(|(schema, table, _)| {
            name.schema() == Some(schema.as_str()) && name.table() == table
        }) else {
            return Ok(Transformed::no(node));
        };
        let replaced =
            TableScanBuilder::new(scan.table_name.clone(), provider_as_source(table.clone()))
                .with_projection(scan.projection.clone())
                .with_filters(scan.filters.clone())
                .with_fetch(scan.fetch)
                .build()?;
        Ok(Transformed::yes(LogicalPlan::TableScan(replaced)))
    })
    .map(|t| t.data)
}

/// A table of `rows`, with the columns of `schema`.
fn in_memory(schema: SchemaRef, rows: Vec<RecordBatch>) -> Result<Arc<dyn TableProvider>> {
    let rows = rows
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform(&schema, b))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(MemTable::try_new(schema, vec![rows])?))
}

/// `batch` under `schema`: its columns by name, cast where their type
/// differs, and null where it lacks one (rows stored before the table
/// gained a column).
fn conform(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => cast(column, field.data_type()),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(values: &[i64]) -> Vec<ScalarValue> {
        values
            .iter()
            .map(|v| ScalarValue::Int64(Some(*v)))
            .collect()
    }

    #[test]
    fn chunks_bound_the_cross_product_and_keep_first_values_together() {
        let single: Vec<_> = (0..1000).map(|i| tuple(&[i])).collect();
        let runs = chunks(&single);
        assert_eq!(runs.len(), 3);
        assert!(runs.iter().all(|r| r.len() <= READS_PER_QUERY));
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 1000);

        let mut pairs: Vec<_> = (0..50)
            .flat_map(|a| (0..30).map(move |b| tuple(&[a, b])))
            .collect();
        pairs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let runs = chunks(&pairs);
        for run in &runs {
            let firsts: HashSet<_> = run.iter().map(|t| t[0].clone()).collect();
            let seconds: HashSet<_> = run.iter().map(|t| t[1].clone()).collect();
            assert!(firsts.len() * seconds.len() <= READS_PER_QUERY);
        }
        for pair in runs.windows(2) {
            assert_ne!(pair[0].last().unwrap()[0], pair[1][0][0]);
        }
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 1500);
    }

    #[test]
    fn encoded_rows_decode() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let bytes = encode(&schema, std::slice::from_ref(&batch)).unwrap();
        assert_eq!(decode(&bytes).unwrap(), vec![batch]);
        assert!(decode(&encode(&schema, &[]).unwrap()).unwrap().is_empty());
    }
}
