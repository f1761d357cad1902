//! Columns of the common scalar types, encoded without arrow-pg's checks of
//! each value's field metadata and time zone name.
//!
//! The values sent are the ones arrow-pg sends (the same Rust values through
//! the same `ToSql`/`ToSqlText`); only the per-value work of finding how to
//! encode them moves to once per batch.

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion_postgres::arrow_pg::datatypes::{PG_CHAR_KEY, PG_OID_ALIAS_KEY};
use datafusion_postgres::pgwire::api::results::{FieldFormat, FieldInfo};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};

use super::put;
use super::rows::RowWriter;

/// Whether a column of `field` is encoded here.
pub(super) fn handles(field: &Field) -> bool {
    // arrow-pg gives these markers their own Postgres types.
    let marked = |key: &str| field.metadata().contains_key(key);
    match field.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Timestamp(..) => true,
        DataType::Int32 => !marked(PG_OID_ALIAS_KEY),
        DataType::Utf8 | DataType::Utf8View => !marked(PG_CHAR_KEY),
        _ => false,
    }
}

/// One column of a batch, ready to encode value by value.
pub(super) enum PlainColumn<'a> {
    /// Sent as `int2`, PostgreSQL's smallest integer.
    Int8(&'a PrimitiveArray<Int8Type>),
    Int16(&'a PrimitiveArray<Int16Type>),
    Int32(&'a PrimitiveArray<Int32Type>),
    Int64(&'a PrimitiveArray<Int64Type>),
    Float32(&'a PrimitiveArray<Float32Type>),
    Float64(&'a PrimitiveArray<Float64Type>),
    Boolean(&'a datafusion::arrow::array::BooleanArray),
    Text(&'a datafusion::arrow::array::StringArray),
    TextView(&'a datafusion::arrow::array::StringViewArray),
    Date(&'a PrimitiveArray<Date32Type>),
    Timestamp(Timestamps<'a>, Option<Zone>),
}

/// A timestamp column, by unit.
/// The time zone of a `timestamptz` column.
#[derive(Debug, Clone, Copy)]
pub(super) enum Zone {
    Utc,
    Named(Tz),
}

pub(super) enum Timestamps<'a> {
    Second(&'a PrimitiveArray<TimestampSecondType>),
    Millisecond(&'a PrimitiveArray<TimestampMillisecondType>),
    Microsecond(&'a PrimitiveArray<TimestampMicrosecondType>),
    Nanosecond(&'a PrimitiveArray<TimestampNanosecondType>),
}

impl<'a> PlainColumn<'a> {
    /// `column` as a plain column, if [`handles`] said so for its field.
    pub(super) fn of(column: &'a dyn Array) -> PgWireResult<Option<Self>> {
        Ok(Some(match column.data_type() {
            DataType::Int8 => Self::Int8(column.as_primitive()),
            DataType::Int16 => Self::Int16(column.as_primitive()),
            DataType::Int32 => Self::Int32(column.as_primitive()),
            DataType::Int64 => Self::Int64(column.as_primitive()),
            DataType::Float32 => Self::Float32(column.as_primitive()),
            DataType::Float64 => Self::Float64(column.as_primitive()),
            DataType::Boolean => Self::Boolean(column.as_boolean()),
            DataType::Utf8 => Self::Text(column.as_string()),
            DataType::Utf8View => Self::TextView(column.as_string_view()),
            DataType::Date32 => Self::Date(column.as_primitive()),
            DataType::Timestamp(unit, tz) => {
                let tz = match tz.as_deref() {
                    // The common zone needs no lookup per value.
                    Some("UTC" | "+00:00" | "Z" | "Etc/UTC" | "+00") => Some(Zone::Utc),
                    Some(tz) => Some(Zone::Named(
                        tz.parse::<Tz>()
                            .map_err(|e| PgWireError::ApiError(Box::new(e)))?,
                    )),
                    None => None,
                };
                let values = match unit {
                    TimeUnit::Second => Timestamps::Second(column.as_primitive()),
                    TimeUnit::Millisecond => Timestamps::Millisecond(column.as_primitive()),
                    TimeUnit::Microsecond => Timestamps::Microsecond(column.as_primitive()),
                    TimeUnit::Nanosecond => Timestamps::Nanosecond(column.as_primitive()),
                };
                Self::Timestamp(values, tz)
            }
            _ => return Ok(None),
        }))
    }

    /// Encodes the value at `row`.
    pub(super) fn put(
        &self,
        encoder: &mut RowWriter,
        row: usize,
        pg: &FieldInfo,
    ) -> PgWireResult<()> {
        match self {
            Self::Int8(a) => put(encoder, &primitive(a, row).map(i16::from), pg),
            Self::Int16(a) => put(encoder, &primitive(a, row), pg),
            Self::Int32(a) => put(encoder, &primitive(a, row), pg),
            Self::Int64(a) => put(encoder, &primitive(a, row), pg),
            Self::Float32(a) => put(encoder, &primitive(a, row), pg),
            Self::Float64(a) => put(encoder, &primitive(a, row), pg),
            Self::Boolean(a) => put(encoder, &(!a.is_null(row)).then(|| a.value(row)), pg),
            Self::Text(a) => put(encoder, &(!a.is_null(row)).then(|| a.value(row)), pg),
            Self::TextView(a) => put(encoder, &(!a.is_null(row)).then(|| a.value(row)), pg),
            Self::Date(a) => put(
                encoder,
                &(!a.is_null(row)).then(|| a.value_as_date(row)).flatten(),
                pg,
            ),
            Self::Timestamp(values, tz) => match values {
                Timestamps::Second(a) => timestamp(encoder, a, tz, row, pg),
                Timestamps::Millisecond(a) => timestamp(encoder, a, tz, row, pg),
                Timestamps::Microsecond(a) => timestamp(encoder, a, tz, row, pg),
                Timestamps::Nanosecond(a) => timestamp(encoder, a, tz, row, pg),
            },
        }
    }
}

fn primitive<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, row: usize) -> Option<T::Native> {
    (!array.is_null(row)).then(|| array.value(row))
}

fn timestamp<T: ArrowTimestampType>(
    encoder: &mut RowWriter,
    array: &PrimitiveArray<T>,
    tz: &Option<Zone>,
    row: usize,
    pg: &FieldInfo,
) -> PgWireResult<()> {
    let valid = !array.is_null(row);
    if pg.format() == FieldFormat::Binary {
        // `timestamp` and `timestamptz` alike: microseconds since
        // 2000-01-01 of the stored instant, whatever the zone.
        if !valid {
            return encoder.put_binary(None);
        }
        if let Some(micros) = micros_since_2000(T::UNIT, array.value(row)) {
            return encoder.put_binary(Some(&micros.to_be_bytes()));
        }
        // Out of chrono's range: the same path as text, below.
    }
    match tz {
        Some(Zone::Utc) => {
            let value = valid
                .then(|| array.value_as_datetime(row))
                .flatten()
                .map(|d| d.and_utc().fixed_offset());
            put(encoder, &value, pg)
        }
        Some(Zone::Named(tz)) => {
            let value = valid
                .then(|| array.value_as_datetime_with_tz(row, *tz))
                .flatten()
                .map(|d| d.fixed_offset());
            put(encoder, &value, pg)
        }
        None => put(
            encoder,
            &valid.then(|| array.value_as_datetime(row)).flatten(),
            pg,
        ),
    }
}

/// Microseconds from 2000-01-01 (Postgres' epoch) to `value`, a count of
/// `unit`s from 1970-01-01, rounded toward that epoch as `postgres-types`
/// does; `None` out of range.
fn micros_since_2000(unit: TimeUnit, value: i64) -> Option<i64> {
    const UNIX_TO_2000_SECONDS: i64 = 946_684_800;
    match unit {
        TimeUnit::Second => value
            .checked_sub(UNIX_TO_2000_SECONDS)?
            .checked_mul(1_000_000),
        TimeUnit::Millisecond => value
            .checked_sub(UNIX_TO_2000_SECONDS * 1_000)?
            .checked_mul(1_000),
        TimeUnit::Microsecond => value.checked_sub(UNIX_TO_2000_SECONDS * 1_000_000),
        TimeUnit::Nanosecond => {
            Some(value.checked_sub(UNIX_TO_2000_SECONDS * 1_000_000_000)? / 1_000)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array, Int32Array,
        Int64Array, Int8Array, StringArray, StringViewArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion_postgres::arrow_pg::encoder::encode_value;
    use datafusion_postgres::pgwire::api::portal::Format;
    use datafusion_postgres::pgwire::api::results::DataRowEncoder;

    use super::*;

    fn columns() -> Vec<ArrayRef> {
        let ms = [Some(1_700_000_000_123), None, Some(-86_400_001)];
        vec![
            Arc::new(Int16Array::from(vec![Some(-3), None, Some(i16::MAX)])),
            Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(7)])),
            Arc::new(Int64Array::from(vec![Some(i64::MAX), None, Some(-1)])),
            Arc::new(Float32Array::from(vec![Some(1.5), None, Some(f32::NAN)])),
            Arc::new(Float64Array::from(vec![
                Some(f64::NEG_INFINITY),
                None,
                Some(0.1),
            ])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(StringArray::from(vec![Some("a'b;--"), None, Some("é")])),
            Arc::new(StringViewArray::from(vec![Some(""), None, Some("view")])),
            Arc::new(Date32Array::from(vec![Some(19_000), None, Some(-1)])),
            Arc::new(TimestampSecondArray::from(vec![Some(1), None, Some(-1)])),
            Arc::new(TimestampMillisecondArray::from(ms.to_vec()).with_timezone("UTC")),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(5), None, Some(-5)])
                    .with_timezone("+02:00"),
            ),
            Arc::new(
                TimestampNanosecondArray::from(vec![Some(1), None, Some(-1_999)])
                    .with_timezone("Europe/Paris"),
            ),
        ]
    }

    #[test]
    fn values_are_the_bytes_arrow_pg_sends() {
        let columns = columns();
        let schema = Schema::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        for format in [Format::UnifiedText, Format::UnifiedBinary] {
            let fields = Arc::new(super::super::pg_fields(&schema, &format, None).unwrap());
            for row in 0..3 {
                let mut ours = RowWriter::new();
                let mut theirs = DataRowEncoder::new(fields.clone());
                for (col, column) in columns.iter().enumerate() {
                    assert!(handles(schema.field(col)), "{}", column.data_type());
                    PlainColumn::of(column.as_ref())
                        .unwrap()
                        .unwrap()
                        .put(&mut ours, row, &fields[col])
                        .unwrap();
                    encode_value(&mut theirs, column, row, schema.field(col), &fields[col])
                        .unwrap();
                }
                assert_eq!(
                    ours.finish_row(),
                    theirs.take_row(),
                    "row {row} in {format:?}"
                );
            }
        }
    }

    #[test]
    fn tinyints_are_sent_as_smallints() {
        // arrow-pg describes Int8 as int2 but sends one byte in binary.
        let tiny: ArrayRef = Arc::new(Int8Array::from(vec![-128, 7]));
        let small: ArrayRef = Arc::new(Int16Array::from(vec![-128, 7]));
        for format in [Format::UnifiedText, Format::UnifiedBinary] {
            let encode = |column: &ArrayRef, row| {
                let schema = Schema::new(vec![Field::new("c", column.data_type().clone(), true)]);
                let fields = super::super::pg_fields(&schema, &format, None).unwrap();
                let mut writer = RowWriter::new();
                PlainColumn::of(column.as_ref())
                    .unwrap()
                    .unwrap()
                    .put(&mut writer, row, &fields[0])
                    .unwrap();
                writer.finish_row()
            };
            for row in 0..2 {
                assert_eq!(encode(&tiny, row), encode(&small, row), "{format:?}");
            }
        }
    }

    #[test]
    fn marked_fields_stay_with_arrow_pg() {
        let oid = Field::new("oid", DataType::Int32, false)
            .with_metadata([(PG_OID_ALIAS_KEY.to_string(), "oid".to_string())].into());
        assert!(!handles(&oid));
        let char = Field::new("c", DataType::Utf8, false)
            .with_metadata([(PG_CHAR_KEY.to_string(), "1".to_string())].into());
        assert!(!handles(&char));
        assert!(!handles(&Field::new("b", DataType::UInt8, false)));
    }
}
