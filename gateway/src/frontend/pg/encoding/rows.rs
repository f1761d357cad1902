//! `DataRow` messages cut out of one shared buffer.
//!
//! pgwire's `DataRowEncoder` starts with 128 bytes and hands each row its own
//! split of them, so once a few rows are out it allocates again for nearly
//! every row. Here rows are written back to back into blocks of
//! [`BLOCK_BYTES`] and each `DataRow` holds a reference-counted slice of its
//! block: a batch of small rows costs a few allocations instead of one or two
//! per row. A block is freed once the rows cut from it have been written to
//! the socket; when they are gone before the next block is needed, the
//! writer reuses it in place.

use bytes::{BufMut, BytesMut};
use datafusion_postgres::arrow_pg::encoder::Encoder;
use datafusion_postgres::pgwire::api::results::FieldFormat;
use datafusion_postgres::pgwire::api::results::FieldInfo;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

/// Size of the blocks rows are cut from.
const BLOCK_BYTES: usize = 32 * 1024;

/// Writes the fields of one row after another and cuts each finished row
/// off as a `DataRow`.
pub(crate) struct RowWriter {
    buffer: BytesMut,
    fields: i16,
}

impl RowWriter {
    pub(crate) fn new() -> Self {
        Self {
            buffer: BytesMut::with_capacity(BLOCK_BYTES),
            fields: 0,
        }
    }

    /// Appends one field: its length (`-1` for NULL), then its bytes in
    /// `format`. The same bytes pgwire's `DataRowEncoder` writes.
    pub(crate) fn put<T: ToSql + ToSqlText>(
        &mut self,
        value: &T,
        data_type: &Type,
        format: FieldFormat,
        options: &FormatOptions,
    ) -> PgWireResult<()> {
        let start = self.buffer.len();
        self.buffer.put_i32(-1);
        let is_null = match format {
            FieldFormat::Text => value.to_sql_text(data_type, &mut self.buffer, options)?,
            FieldFormat::Binary => value.to_sql(data_type, &mut self.buffer)?,
        };
        if let IsNull::No = is_null {
            let length = i32::try_from(self.buffer.len() - start - 4).map_err(|_| {
                PgWireError::ApiError("a value longer than 2 GiB cannot be sent".into())
            })?;
            self.buffer[start..start + 4].copy_from_slice(&length.to_be_bytes());
        }
        self.fields += 1;
        Ok(())
    }

    /// Appends one field already in its binary form, or NULL.
    pub(crate) fn put_binary(&mut self, bytes: Option<&[u8]>) -> PgWireResult<()> {
        match bytes {
            None => self.buffer.put_i32(-1),
            Some(bytes) => {
                let length = i32::try_from(bytes.len()).map_err(|_| {
                    PgWireError::ApiError("a value longer than 2 GiB cannot be sent".into())
                })?;
                self.buffer.put_i32(length);
                self.buffer.put_slice(bytes);
            }
        }
        self.fields += 1;
        Ok(())
    }

    /// The row written since the last call.
    pub(crate) fn finish_row(&mut self) -> DataRow {
        let row = DataRow::new(self.buffer.split(), self.fields);
        self.fields = 0;
        // `split` keeps the block's spare capacity here; a new block is
        // taken only when little of it is left.
        if self.buffer.capacity() < BLOCK_BYTES / 8 {
            self.buffer.reserve(BLOCK_BYTES);
        }
        row
    }
}

impl Encoder for RowWriter {
    type Item = DataRow;

    fn encode_field<T: ToSql + ToSqlText + Sized>(
        &mut self,
        value: &T,
        pg: &FieldInfo,
    ) -> PgWireResult<()> {
        self.put(value, pg.datatype(), pg.format(), pg.format_options())
    }

    fn take_row(&mut self) -> DataRow {
        self.finish_row()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion_postgres::pgwire::api::results::DataRowEncoder;

    use super::*;

    fn fields(format: FieldFormat) -> Arc<Vec<FieldInfo>> {
        Arc::new(vec![
            FieldInfo::new("a".into(), None, None, Type::INT8, format),
            FieldInfo::new("b".into(), None, None, Type::TEXT, format),
        ])
    }

    #[test]
    fn rows_are_the_bytes_pgwire_writes() {
        for format in [FieldFormat::Text, FieldFormat::Binary] {
            let fields = fields(format);
            let mut ours = RowWriter::new();
            let mut theirs = DataRowEncoder::new(fields.clone());
            // Enough rows to need several blocks, with some held meanwhile.
            let mut held = Vec::new();
            for i in 0..5_000_i64 {
                let text = (i % 3 != 0).then(|| "x".repeat((i % 40) as usize));
                ours.encode_field(&i, &fields[0]).unwrap();
                ours.encode_field(&text, &fields[1]).unwrap();
                theirs.encode_field(&i).unwrap();
                theirs.encode_field(&text).unwrap();
                let row = ours.take_row();
                assert_eq!(row, theirs.take_row(), "row {i} in {format:?}");
                if i % 7 == 0 {
                    held.push(row);
                }
            }
            // Held rows still read what was written into them.
            for (n, row) in held.iter().enumerate() {
                let i = (n * 7) as i64;
                assert_eq!(row.field_count, 2);
                let mut check = DataRowEncoder::new(fields.clone());
                check.encode_field(&i).unwrap();
                check
                    .encode_field(&(i % 3 != 0).then(|| "x".repeat((i % 40) as usize)))
                    .unwrap();
                assert_eq!(*row, check.take_row());
            }
        }
    }
}
