//! `INSERT INTO` a Cassandra table: concurrent prepared upserts. The same
//! machinery deletes rows by primary key ([`CassandraDataSink::deleting`]).
//!
//! Rows are checked before any is written: every primary-key column must
//! have a value, and every value must fit its CQL type. They are then
//! grouped by partition (by token), and each group is written as one
//! unlogged batch of the prepared `INSERT`. A single-partition batch is
//! applied atomically by the replica that owns the partition, and the
//! driver routes it there. A bounded number of groups is in flight at once.
//!
//! A sink may take each row's write timestamp from one of its columns
//! ([`WriteTime`]): of two writes of the same row, Cassandra then keeps the
//! one whose column says more, whichever arrives last.
//!
//! An `INSERT` whose rows come to at most [`CHECK_BEFORE_WRITE_BYTES`] is
//! checked whole before its first write, so one bad row writes nothing. A
//! larger one is checked that far, then written as it streams: Cassandra
//! has no transactions, so a bad row after that point leaves the rows
//! before it written.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::cluster::metadata::ColumnKind;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use crate::connection::SharedConnection;
use crate::cql;
use crate::encode::{approximate_size, cql_values};
use crate::error::Error;
use crate::provider::ColumnMeta;
use crate::session_options::RequestOptions;

/// The most bytes (roughly) one write batch carries; Cassandra warns about
/// larger batches and refuses much larger ones.
const MAX_BATCH_BYTES: usize = 16 * 1024;

/// Bytes of values (roughly) an `INSERT` checks before its first write.
pub(crate) const CHECK_BEFORE_WRITE_BYTES: usize = 16 << 20;

/// What a sink does with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// Writes it: `INSERT`.
    Upsert,
    /// Deletes the row with its primary key: `DELETE`.
    Delete,
}

/// Each row's write timestamp, from its value in an integer column:
/// `base + scale × value`, in microseconds as Cassandra counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteTime {
    /// The column's position among the sink's columns.
    pub column: usize,
    /// The timestamp of a row whose column holds 0.
    pub base: i64,
    /// Microseconds per unit of the column.
    pub scale: i64,
}

impl WriteTime {
    /// The timestamp of a row whose column holds `value`.
    fn of(&self, value: i64) -> Option<i64> {
        self.scale
            .checked_mul(value)
            .and_then(|t| t.checked_add(self.base))
    }
}

/// Writes rows into one Cassandra table.
#[derive(Debug)]
pub struct CassandraDataSink {
    mutation: Mutation,
    write_time: Option<WriteTime>,
    connection: SharedConnection,
    keyspace: String,
    table: String,
    columns: Vec<ColumnMeta>,
    schema: SchemaRef,
    request: RequestOptions,
    metrics: ExecutionPlanMetricsSet,
}

impl CassandraDataSink {
    /// A sink for `keyspace.table`, whose columns (in `schema` order) are
    /// `columns`.
    pub fn new(
        connection: SharedConnection,
        keyspace: &str,
        table: &str,
        columns: Vec<ColumnMeta>,
        schema: SchemaRef,
        request: RequestOptions,
    ) -> Self {
        Self {
            mutation: Mutation::Upsert,
            write_time: None,
            connection,
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            columns,
            schema,
            request,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// A sink that deletes, from `keyspace.table`, the row with the primary
    /// key of each row it gets; `key` (in `schema` order) is every column
    /// of the primary key.
    pub fn deleting(
        connection: SharedConnection,
        keyspace: &str,
        table: &str,
        key: Vec<ColumnMeta>,
        schema: SchemaRef,
        request: RequestOptions,
    ) -> Self {
        Self {
            mutation: Mutation::Delete,
            ..Self::new(connection, keyspace, table, key, schema, request)
        }
    }

    /// Writes each row with the timestamp `write_time` takes from it.
    pub fn with_write_time(mut self, write_time: WriteTime) -> Self {
        self.write_time = Some(write_time);
        self
    }

    /// `INSERT INTO "ks"."t" ("a", "b") VALUES (?, ?)` (with `USING
    /// TIMESTAMP ?` when rows carry their write time), or for a deleting
    /// sink `DELETE FROM "ks"."t" WHERE "a" = ? AND "b" = ?`.
    pub fn cql(&self) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| cql::quote_identifier(&c.name))
            .collect();
        if self.mutation == Mutation::Delete {
            let conditions: Vec<String> = names.iter().map(|n| format!("{n} = ?")).collect();
            return format!(
                "DELETE FROM {} WHERE {}",
                cql::qualified_table(&self.keyspace, &self.table),
                conditions.join(" AND ")
            );
        }
        let marks = vec!["?"; names.len()].join(", ");
        let timestamp = if self.write_time.is_some() {
            " USING TIMESTAMP ?"
        } else {
            ""
        };
        format!(
            "INSERT INTO {} ({}) VALUES ({marks}){timestamp}",
            cql::qualified_table(&self.keyspace, &self.table),
            names.join(", ")
        )
    }

    /// Positions of the primary-key columns.
    fn key_columns(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering))
            .map(|(i, _)| i)
            .collect()
    }

    fn qualified_name(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// The rows of `batch` as bound values, or the first reason one of them
    /// cannot be written. `first_row` numbers the batch's first row.
    fn encode(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<Vec<Option<CqlValue>>>> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (meta, array) in self.columns.iter().zip(batch.columns()) {
            let is_key = matches!(meta.kind, ColumnKind::PartitionKey | ColumnKind::Clustering);
            if is_key && array.null_count() > 0 {
                let row = (0..array.len()).find(|i| array.is_null(*i)).unwrap_or(0);
                return Err(Error::MissingKey {
                    table: self.qualified_name(),
                    column: meta.name.clone(),
                    row: first_row + row as u64,
                }
                .into());
            }
            let values = cql_values(array.as_ref(), &meta.cql_type).map_err(|e| Error::Encode {
                table: self.qualified_name(),
                column: meta.name.clone(),
                reason: e.to_string(),
            })?;
            columns.push(values.into_iter());
        }
        let mut rows: Vec<Vec<Option<CqlValue>>> = (0..batch.num_rows())
            .map(|_| columns.iter_mut().map(|c| c.next().flatten()).collect())
            .collect();
        if let Some(write_time) = self.write_time {
            for (i, row) in rows.iter_mut().enumerate() {
                let timestamp = match row.get(write_time.column) {
                    Some(Some(CqlValue::BigInt(value))) => write_time.of(*value),
                    _ => None,
                };
                let Some(timestamp) = timestamp else {
                    return Err(Error::Encode {
                        table: self.qualified_name(),
                        column: self.columns[write_time.column].name.clone(),
                        reason: format!(
                            "row {} has no write time: the column must hold a bigint",
                            first_row + i as u64
                        ),
                    }
                    .into());
                };
                row.push(Some(CqlValue::BigInt(timestamp)));
            }
        }
        Ok(rows)
    }
}

impl DisplayAs for CassandraDataSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CassandraDataSink: cql=[{}]{}", self.cql(), self.request)
    }
}

struct WriteMetrics {
    rows: Count,
    requests: Count,
    remote_time: Time,
}

#[async_trait]
impl DataSink for CassandraDataSink {
    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let table = self.qualified_name();
        let session = self.connection.session().await?;
        let mut prepared = self.connection.prepare(&table, &self.cql()).await?;
        self.request.apply(&mut prepared);
        let metrics = WriteMetrics {
            rows: MetricBuilder::new(&self.metrics).counter("rows_written", 0),
            requests: MetricBuilder::new(&self.metrics).counter("write_requests", 0),
            remote_time: MetricBuilder::new(&self.metrics).subset_time("remote_time", 0),
        };
        let writer = Writer {
            session: &session,
            prepared: &prepared,
            table: &table,
            metrics: &metrics,
            key_columns: self.key_columns(),
            parallelism: self.connection.options().write_parallelism.max(1),
        };
        // Rows checked but not written yet, while the statement may still
        // be refused whole.
        let mut pending: Vec<Vec<Option<CqlValue>>> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut streaming = false;
        let mut checked = 0u64;
        while let Some(batch) = data.next().await {
            let rows = self.encode(&batch?, checked + 1)?;
            checked += rows.len() as u64;
            if streaming {
                writer.write(rows).await?;
                continue;
            }
            pending_bytes += rows
                .iter()
                .flat_map(|row| row.iter().flatten())
                .map(approximate_size)
                .sum::<usize>();
            pending.extend(rows);
            if pending_bytes > CHECK_BEFORE_WRITE_BYTES {
                streaming = true;
                writer.write(std::mem::take(&mut pending)).await?;
            }
        }
        writer.write(pending).await?;
        Ok(checked)
    }
}

/// Writes checked rows, `parallelism` requests at a time.
struct Writer<'a> {
    session: &'a Session,
    prepared: &'a PreparedStatement,
    table: &'a str,
    metrics: &'a WriteMetrics,
    key_columns: Vec<usize>,
    parallelism: usize,
}

impl Writer<'_> {
    async fn write(&self, rows: Vec<Vec<Option<CqlValue>>>) -> Result<()> {
        let count = rows.len();
        let groups = group_by_partition(self.prepared, &self.key_columns, rows)?;
        let (session, prepared, table, metrics) =
            (self.session, self.prepared, self.table, self.metrics);
        futures::stream::iter(groups.into_iter().map(|group| async move {
            let started = std::time::Instant::now();
            let result = if group.len() == 1 {
                session
                    .execute_unpaged(prepared, &group[0])
                    .await
                    .map(|_| ())
            } else {
                let mut batch = Batch::new(BatchType::Unlogged);
                for _ in &group {
                    batch.append_statement(prepared.clone());
                }
                if let Some(consistency) = prepared.get_consistency() {
                    batch.set_consistency(consistency);
                }
                batch.set_request_timeout(prepared.get_request_timeout());
                session.batch(&batch, &group).await.map(|_| ())
            };
            metrics.remote_time.add_elapsed(started);
            metrics.requests.add(1);
            result.map_err(|e| Error::request(table, &e))
        }))
        .buffer_unordered(self.parallelism)
        .try_collect::<Vec<()>>()
        .await?;
        metrics.rows.add(count);
        Ok(())
    }
}

/// The rows split into write batches: rows of one partition together, at
/// most [`MAX_BATCH_BYTES`] each.
///
/// The writes of one batch share a timestamp (unless they carry their
/// own), so of two rows with the same primary key Cassandra would keep the
/// greater value, not the later row.
/// Only the last row of each primary key is kept, as separate statements
/// would have left it.
fn group_by_partition(
    prepared: &PreparedStatement,
    key_columns: &[usize],
    rows: Vec<Vec<Option<CqlValue>>>,
) -> Result<Vec<Vec<Vec<Option<CqlValue>>>>> {
    let mut by_token: HashMap<i64, Vec<Vec<Option<CqlValue>>>> = HashMap::new();
    let mut order: Vec<i64> = Vec::new();
    for row in rows {
        let token = prepared
            .calculate_token(&row)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
            .map_or(0, |t| t.value());
        by_token
            .entry(token)
            .or_insert_with(|| {
                order.push(token);
                Vec::new()
            })
            .push(row);
    }
    let mut out = Vec::new();
    for token in order {
        let Some(mut rows) = by_token.remove(&token) else {
            continue;
        };
        if rows.len() > 1 {
            rows = last_row_per_key(rows, key_columns);
        }
        let mut current: Vec<Vec<Option<CqlValue>>> = Vec::new();
        let mut bytes = 0usize;
        for row in rows {
            let size: usize = row.iter().flatten().map(approximate_size).sum();
            if !current.is_empty() && bytes + size > MAX_BATCH_BYTES {
                out.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += size;
            current.push(row);
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    Ok(out)
}

fn last_row_per_key(
    rows: Vec<Vec<Option<CqlValue>>>,
    key_columns: &[usize],
) -> Vec<Vec<Option<CqlValue>>> {
    let key = |row: &[Option<CqlValue>]| -> Vec<Option<CqlValue>> {
        key_columns.iter().map(|i| row[*i].clone()).collect()
    };
    let mut kept: Vec<Vec<Option<CqlValue>>> = Vec::with_capacity(rows.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        // CqlValue is not hashable; its debug form identifies it exactly.
        match index.entry(format!("{:?}", key(&row))) {
            std::collections::hash_map::Entry::Occupied(at) => kept[*at.get()] = row,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(row);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_rows_of_a_key_win() {
        let row = |k: i32, v: &str| vec![Some(CqlValue::Int(k)), Some(CqlValue::Text(v.into()))];
        let kept = last_row_per_key(vec![row(1, "a"), row(2, "b"), row(1, "c")], &[0]);
        assert_eq!(kept, vec![row(1, "c"), row(2, "b")]);
    }
}
