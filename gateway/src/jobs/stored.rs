//! The stored partial rows of a continuous view that one worker knows,
//! kept in memory so that a batch need not read them back from Cassandra.
//!
//! While a gateway holds the lease of source partition `p` of a view, it is
//! the only writer of the view's rows for `p` (see `jobs/views.rs`). So the
//! rows it last wrote, or read, are what Cassandra holds, and the next batch
//! can merge into them without reading them again. Only the groups it has
//! not seen yet are read.
//!
//! The memory is bounded: past its budget, the rows of the groups touched
//! least recently are forgotten (and read again if they come back).
//!
//! The memory is forgotten whenever that reasoning may not hold: a worker
//! starts with none, a batch that fails ends its worker, and a lease that
//! may have lapsed clears it. A view whose rows expire (a TTL) keeps none,
//! since Cassandra may drop a row the memory still holds.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::error::{DataFusionError, Result};

/// The stored rows of the groups one source partition's batches touched:
/// key columns first, then the partial aggregates and the applied offset.
pub(super) struct StoredRows {
    /// The columns of a stored row, all nullable.
    schema: SchemaRef,
    /// How many leading columns are the group's key.
    keys: usize,
    key_rows: RowConverter,
    whole_rows: RowConverter,
    /// Each group's row, by its key, with the number of the last batch
    /// that wrote or read it.
    rows: HashMap<Box<[u8]>, (OwnedRow, u64)>,
    /// The bytes the rows take, roughly.
    bytes: usize,
    /// The most bytes kept; past it, the rows of the groups touched least
    /// recently are forgotten, down to three quarters of it.
    budget: usize,
    /// How many batches were remembered.
    batches: u64,
}

impl StoredRows {
    /// Memory for rows of `schema`, whose first `keys` columns are the key,
    /// of at most `budget` bytes (none when 0).
    pub(super) fn new(schema: SchemaRef, keys: usize, budget: usize) -> Result<Self> {
        let sort_fields = |fields: &[Arc<datafusion::arrow::datatypes::Field>]| {
            fields
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect::<Vec<_>>()
        };
        let fields = schema.fields();
        Ok(Self {
            key_rows: RowConverter::new(sort_fields(&fields[..keys]))?,
            whole_rows: RowConverter::new(sort_fields(fields))?,
            schema,
            keys,
            rows: HashMap::new(),
            bytes: 0,
            budget,
            batches: 0,
        })
    }

    /// The columns of a stored row.
    pub(super) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Forgets every row.
    pub(super) fn clear(&mut self) {
        self.rows.clear();
        self.bytes = 0;
    }

    /// The known stored rows of the groups whose keys `keys` holds (one
    /// column per key column, in order), and the indices of the groups
    /// whose row is not known.
    pub(super) fn known(&self, keys: &[ArrayRef]) -> Result<(Option<RecordBatch>, Vec<u32>)> {
        let rows = self.key_rows.convert_columns(keys)?;
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for (i, key) in rows.iter().enumerate() {
            match self.rows.get(key.as_ref()) {
                Some((row, _)) => found.push(row),
                None => missing.push(i as u32),
            }
        }
        if found.is_empty() {
            return Ok((None, missing));
        }
        let columns = self
            .whole_rows
            .convert_rows(found.into_iter().map(|row| row.row()))?;
        Ok((
            Some(RecordBatch::try_new(self.schema.clone(), columns)?),
            missing,
        ))
    }

    /// Remembers `batch`'s rows (of [`Self::schema`]'s columns) as the
    /// stored rows of their groups.
    pub(super) fn remember(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.budget == 0 || batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self
            .key_rows
            .convert_columns(&batch.columns()[..self.keys])?;
        let whole = self.whole_rows.convert_columns(batch.columns())?;
        self.batches += 1;
        for (key, row) in keys.iter().zip(whole.iter()) {
            let size = key.as_ref().len() + row.as_ref().len();
            let entry = (row.owned(), self.batches);
            if let Some((old, _)) = self.rows.insert(key.as_ref().into(), entry) {
                self.bytes -= key.as_ref().len() + old.as_ref().len();
            }
            self.bytes += size;
        }
        if self.bytes > self.budget {
            self.evict();
        }
        Ok(())
    }

    /// Forgets the rows of the groups touched least recently, until the
    /// rest take at most three quarters of the budget: groups that went
    /// cold (yesterday's, say) make room, and the ones in use stay.
    fn evict(&mut self) {
        let mut by_age: Vec<(u64, usize)> = self
            .rows
            .iter()
            .map(|(key, (row, batch))| (*batch, key.len() + row.as_ref().len()))
            .collect();
        by_age.sort_unstable();
        let target = self.budget / 4 * 3;
        let mut left = self.bytes;
        let mut oldest_kept = u64::MAX;
        for (batch, size) in by_age {
            if left <= target {
                oldest_kept = batch;
                break;
            }
            left -= size;
        }
        // Whole batches go: a batch's groups are kept or forgotten together.
        self.rows.retain(|_, (_, batch)| *batch >= oldest_kept);
        self.bytes = self
            .rows
            .iter()
            .map(|(key, (row, _))| key.len() + row.as_ref().len())
            .sum();
        // One batch's groups alone are too many.
        if self.bytes > self.budget {
            self.clear();
        }
    }
}

/// The columns of `batch` named as `schema`'s, under `schema`.
pub(super) fn project(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            batch.column_by_name(f.name()).cloned().ok_or_else(|| {
                DataFusionError::Internal(format!("column {} missing from a view's rows", f.name()))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The rows of `batch` at `indices`.
pub(super) fn rows_at(batch: &RecordBatch, indices: Vec<u32>) -> Result<RecordBatch> {
    Ok(take_record_batch(batch, &UInt32Array::from(indices))?)
}

/// `schema` with every field nullable.
pub(super) fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, BinaryArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};

    fn schema() -> SchemaRef {
        nullable(&Schema::new(vec![
            Field::new("campaign", DataType::Int64, false),
            Field::new("day", DataType::Utf8, false),
            Field::new("events", DataType::Int64, false),
            Field::new("users", DataType::Binary, false),
        ]))
    }

    fn rows(campaigns: &[i64], days: &[&str], events: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(campaigns.to_vec())),
                Arc::new(StringArray::from(days.to_vec())),
                Arc::new(Int64Array::from(events.to_vec())),
                Arc::new(BinaryArray::from_iter_values(
                    events.iter().map(|e| vec![*e as u8; 4]),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn known_rows_come_back_and_unknown_ones_are_listed() {
        let mut stored = StoredRows::new(schema(), 2, 1 << 20).unwrap();
        stored
            .remember(&rows(&[1, 2], &["a", "a"], &[10, 20]))
            .unwrap();
        // A later write of group (1, a) replaces its row.
        stored.remember(&rows(&[1], &["a"], &[11])).unwrap();
        let asked = rows(&[2, 3, 1], &["a", "a", "a"], &[0, 0, 0]);
        let (found, missing) = stored.known(&asked.columns()[..2]).unwrap();
        assert_eq!(missing, vec![1]);
        let found = found.unwrap();
        assert_eq!(found.num_rows(), 2);
        let events = found
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(events.values(), &[20, 11]);
        assert_eq!(found.column(3).len(), 2);
    }

    #[test]
    fn past_its_budget_or_without_one_it_keeps_nothing() {
        let mut small = StoredRows::new(schema(), 2, 64).unwrap();
        small
            .remember(&rows(&[1, 2, 3], &["a", "b", "c"], &[1, 2, 3]))
            .unwrap();
        let asked = rows(&[1], &["a"], &[0]);
        assert_eq!(small.known(&asked.columns()[..2]).unwrap().1, vec![0]);

        let mut none = StoredRows::new(schema(), 2, 0).unwrap();
        none.remember(&asked).unwrap();
        assert_eq!(none.known(&asked.columns()[..2]).unwrap().1, vec![0]);
    }

    #[test]
    fn past_its_budget_it_forgets_the_groups_touched_least_recently() {
        let one = {
            let mut probe = StoredRows::new(schema(), 2, 1 << 20).unwrap();
            probe.remember(&rows(&[1], &["a"], &[1])).unwrap();
            probe.bytes
        };
        // Room for four rows (three after an eviction).
        let mut stored = StoredRows::new(schema(), 2, one * 4 + one / 2).unwrap();
        stored
            .remember(&rows(&[1, 2], &["a", "a"], &[1, 2]))
            .unwrap();
        stored.remember(&rows(&[3], &["a"], &[3])).unwrap();
        // Group 1 is touched again, so group 2 is now the coldest.
        stored.remember(&rows(&[1], &["a"], &[4])).unwrap();
        stored
            .remember(&rows(&[4, 5], &["a", "a"], &[5, 6]))
            .unwrap();
        let asked = rows(&[1, 2, 3, 4, 5], &["a"; 5], &[0; 5]);
        let (found, missing) = stored.known(&asked.columns()[..2]).unwrap();
        assert_eq!(missing, vec![1, 2], "groups 2 and 3 are forgotten");
        let events = found.unwrap();
        let events = events
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(events.values(), &[4, 5, 6]);
        assert!(stored.bytes <= one * 3, "{} > {}", stored.bytes, one * 3);
    }

    #[test]
    fn cleared_rows_are_unknown() {
        let mut stored = StoredRows::new(schema(), 2, 1 << 20).unwrap();
        let batch = rows(&[1], &["a"], &[1]);
        stored.remember(&batch).unwrap();
        assert!(stored.known(&batch.columns()[..2]).unwrap().1.is_empty());
        stored.clear();
        assert_eq!(stored.known(&batch.columns()[..2]).unwrap().1, vec![0]);
    }
}
