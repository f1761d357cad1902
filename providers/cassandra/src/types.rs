//! CQL ↔ Arrow type mapping, and decoders that turn CQL's wire encoding
//! straight into Arrow arrays.
//!
//! | CQL                      | Arrow                                           |
//! |--------------------------|-------------------------------------------------|
//! | ascii, text, varchar     | Utf8                                            |
//! | tinyint … bigint         | Int8 … Int64                                    |
//! | counter                  | Int64                                           |
//! | float, double            | Float32, Float64                                |
//! | boolean                  | Boolean                                         |
//! | blob                     | Binary                                          |
//! | date                     | Date32                                          |
//! | time                     | Time64(ns)                                      |
//! | timestamp                | Timestamp(ms, "UTC")                            |
//! | duration                 | Interval(MonthDayNano)                          |
//! | uuid, timeuuid           | FixedSizeBinary(16), extension `arrow.uuid`     |
//! | inet                     | Utf8 (the address in its canonical text form)   |
//! | decimal                  | Decimal128(38, scale), scale from [`TypeOptions`] |
//! | varint                   | Decimal128(38, 0)                               |
//! | list, set                | List                                            |
//! | map                      | Map (unsorted keys)                             |
//! | tuple                    | Struct with fields `0`, `1`, …                  |
//! | user-defined type        | Struct with the UDT's field names               |
//! | vector<T, n>             | FixedSizeList(T, n)                             |
//!
//! Nothing is rounded: a decimal with more fractional digits than the scale,
//! or more than 38 significant digits, is a decoding error that names the
//! column, never a silently different number.
//!
//! Decoding never builds per-row values: each column has a [`ColumnDecoder`]
//! that appends the raw bytes of every cell to Arrow buffers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, FixedSizeListArray, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, IntervalMonthDayNanoBuilder, ListArray, MapArray,
    StringBuilder, StructArray, Time64NanosecondBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, IntervalMonthDayNano, IntervalUnit, TimeUnit,
};
use scylla::cluster::metadata::{CollectionType, ColumnType, NativeType};

use crate::error::{Error, Result};

/// The Arrow extension name that marks a 16-byte UUID column.
pub const UUID_EXTENSION: &str = "arrow.uuid";
/// Field metadata key that records the CQL type a column was mapped from.
pub const CQL_TYPE_METADATA: &str = "cassandra.type";

/// The largest precision Decimal128 holds.
const MAX_PRECISION: u8 = 38;

/// Choices in the type mapping that a table or session may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeOptions {
    /// The fixed scale CQL `decimal` columns are read into (CQL decimals carry
    /// their own scale per value; Arrow's carry one per column).
    pub decimal_scale: i8,
}

impl Default for TypeOptions {
    fn default() -> Self {
        Self { decimal_scale: 10 }
    }
}

/// The Arrow type of a CQL type.
pub fn arrow_type(cql: &ColumnType<'_>, opts: TypeOptions) -> Result<DataType> {
    Ok(match cql {
        ColumnType::Native(native) => native_type(native, opts)?,
        ColumnType::Collection { typ, .. } => match typ {
            CollectionType::List(item) | CollectionType::Set(item) => {
                DataType::List(item_field(item, opts)?)
            }
            CollectionType::Map(key, value) => map_type(key, value, opts)?,
            other => {
                return Err(Error::UnsupportedType(format!("{other:?}")));
            }
        },
        ColumnType::Tuple(items) => DataType::Struct(
            items
                .iter()
                .enumerate()
                .map(|(i, t)| arrow_field(&i.to_string(), t, opts))
                .collect::<Result<Fields>>()?,
        ),
        ColumnType::UserDefinedType { definition, .. } => DataType::Struct(
            definition
                .field_types
                .iter()
                .map(|(name, t)| arrow_field(name, t, opts))
                .collect::<Result<Fields>>()?,
        ),
        ColumnType::Vector { typ, dimensions } => {
            DataType::FixedSizeList(item_field(typ, opts)?, i32::from(*dimensions))
        }
        other => return Err(Error::UnsupportedType(format!("{other:?}"))),
    })
}

/// The CQL type that holds values of Arrow type `arrow` without loss, for
/// tables smackql creates from query results (materialized views).
/// Timestamps keep millisecond precision, which is Cassandra's.
pub fn cql_type_for(arrow: &DataType) -> Result<&'static str> {
    Ok(match arrow {
        DataType::Int8 => "tinyint",
        DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "int",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 => "varint",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Boolean => "boolean",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "blob",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Time32(_) | DataType::Time64(_) => "time",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "decimal",
        DataType::FixedSizeBinary(16) => "uuid",
        DataType::Interval(IntervalUnit::MonthDayNano) => "duration",
        other => {
            return Err(Error::UnsupportedType(format!(
                "{other} in a Cassandra column"
            )))
        }
    })
}

fn native_type(native: &NativeType, opts: TypeOptions) -> Result<DataType> {
    Ok(match native {
        NativeType::Ascii | NativeType::Text | NativeType::Inet => DataType::Utf8,
        NativeType::TinyInt => DataType::Int8,
        NativeType::SmallInt => DataType::Int16,
        NativeType::Int => DataType::Int32,
        NativeType::BigInt | NativeType::Counter => DataType::Int64,
        NativeType::Float => DataType::Float32,
        NativeType::Double => DataType::Float64,
        NativeType::Boolean => DataType::Boolean,
        NativeType::Blob => DataType::Binary,
        NativeType::Date => DataType::Date32,
        NativeType::Time => DataType::Time64(TimeUnit::Nanosecond),
        NativeType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        NativeType::Duration => DataType::Interval(IntervalUnit::MonthDayNano),
        NativeType::Uuid | NativeType::Timeuuid => DataType::FixedSizeBinary(16),
        NativeType::Decimal => DataType::Decimal128(MAX_PRECISION, opts.decimal_scale),
        NativeType::Varint => DataType::Decimal128(MAX_PRECISION, 0),
        other => return Err(Error::UnsupportedType(format!("{other:?}"))),
    })
}

fn map_type(key: &ColumnType<'_>, value: &ColumnType<'_>, opts: TypeOptions) -> Result<DataType> {
    let entries = Fields::from(vec![
        field_with_metadata("key", key, opts)?.with_nullable(false),
        field_with_metadata("value", value, opts)?,
    ]);
    Ok(DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    ))
}

fn item_field(item: &ColumnType<'_>, opts: TypeOptions) -> Result<FieldRef> {
    Ok(Arc::new(field_with_metadata("item", item, opts)?))
}

fn field_with_metadata(name: &str, cql: &ColumnType<'_>, opts: TypeOptions) -> Result<Field> {
    let field = Field::new(name, arrow_type(cql, opts)?, true);
    Ok(match cql {
        ColumnType::Native(NativeType::Uuid | NativeType::Timeuuid) => {
            field.with_metadata(HashMap::from([(
                "ARROW:extension:name".to_string(),
                UUID_EXTENSION.to_string(),
            )]))
        }
        _ => field,
    })
}

/// The Arrow field of a column: nullable, with the CQL type in its metadata.
pub fn arrow_field(name: &str, cql: &ColumnType<'_>, opts: TypeOptions) -> Result<FieldRef> {
    let field = field_with_metadata(name, cql, opts)?;
    let mut metadata = field.metadata().clone();
    metadata.insert(CQL_TYPE_METADATA.to_string(), cql_type_name(cql));
    Ok(Arc::new(field.with_metadata(metadata)))
}

/// The CQL spelling of a type, as `DESCRIBE` would print it.
pub fn cql_type_name(cql: &ColumnType<'_>) -> String {
    match cql {
        ColumnType::Native(native) => native_name(native).to_string(),
        ColumnType::Collection { frozen, typ } => {
            let inner = match typ {
                CollectionType::List(t) => format!("list<{}>", cql_type_name(t)),
                CollectionType::Set(t) => format!("set<{}>", cql_type_name(t)),
                CollectionType::Map(k, v) => {
                    format!("map<{}, {}>", cql_type_name(k), cql_type_name(v))
                }
                other => format!("{other:?}"),
            };
            frozen_name(*frozen, inner)
        }
        ColumnType::Tuple(items) => format!(
            "tuple<{}>",
            items
                .iter()
                .map(cql_type_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ColumnType::UserDefinedType { frozen, definition } => {
            frozen_name(*frozen, definition.name.to_string())
        }
        ColumnType::Vector { typ, dimensions } => {
            format!("vector<{}, {dimensions}>", cql_type_name(typ))
        }
        other => format!("{other:?}"),
    }
}

fn frozen_name(frozen: bool, inner: String) -> String {
    if frozen {
        format!("frozen<{inner}>")
    } else {
        inner
    }
}

fn native_name(native: &NativeType) -> &'static str {
    match native {
        NativeType::Ascii => "ascii",
        NativeType::Boolean => "boolean",
        NativeType::Blob => "blob",
        NativeType::Counter => "counter",
        NativeType::Date => "date",
        NativeType::Decimal => "decimal",
        NativeType::Double => "double",
        NativeType::Duration => "duration",
        NativeType::Float => "float",
        NativeType::Int => "int",
        NativeType::BigInt => "bigint",
        NativeType::Text => "text",
        NativeType::Timestamp => "timestamp",
        NativeType::Inet => "inet",
        NativeType::SmallInt => "smallint",
        NativeType::TinyInt => "tinyint",
        NativeType::Time => "time",
        NativeType::Timeuuid => "timeuuid",
        NativeType::Uuid => "uuid",
        NativeType::Varint => "varint",
        _ => "unknown",
    }
}

// --- decoding -----------------------------------------------------------------

/// Appends CQL-encoded cells of one column to Arrow buffers.
///
/// `append(None)` appends a null. `finish` returns the array of everything
/// appended since the last `finish` and starts over.
#[derive(Debug)]
pub struct ColumnDecoder {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Utf8(StringBuilder),
    Inet(StringBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Binary(BinaryBuilder),
    Date32(Date32Builder),
    Time64(Time64NanosecondBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    Uuid(FixedSizeBinaryBuilder),
    Decimal {
        builder: Decimal128Builder,
        scale: i8,
    },
    Varint(Decimal128Builder),
    List(Box<ListState>),
    Map(Box<MapState>),
    Struct(Box<StructState>),
    Vector(Box<VectorState>),
}

#[derive(Debug)]
struct ListState {
    field: FieldRef,
    offsets: Vec<i32>,
    validity: Vec<bool>,
    items: ColumnDecoder,
}

#[derive(Debug)]
struct MapState {
    entries_field: FieldRef,
    entry_fields: Fields,
    offsets: Vec<i32>,
    validity: Vec<bool>,
    keys: ColumnDecoder,
    values: ColumnDecoder,
}

#[derive(Debug)]
struct StructState {
    fields: Fields,
    validity: Vec<bool>,
    children: Vec<ColumnDecoder>,
}

#[derive(Debug)]
struct VectorState {
    field: FieldRef,
    dimensions: i32,
    /// The fixed byte width of one element, or `None` when elements are
    /// length-prefixed with an unsigned vint.
    element_width: Option<usize>,
    validity: Vec<bool>,
    items: ColumnDecoder,
}

impl ColumnDecoder {
    /// A decoder for cells of type `cql`, producing `arrow_type(cql, opts)`.
    pub fn try_new(cql: &ColumnType<'_>, opts: TypeOptions) -> Result<Self> {
        let kind = match cql {
            ColumnType::Native(native) => match native {
                NativeType::Ascii | NativeType::Text => Kind::Utf8(StringBuilder::new()),
                NativeType::Inet => Kind::Inet(StringBuilder::new()),
                NativeType::TinyInt => Kind::Int8(Int8Builder::new()),
                NativeType::SmallInt => Kind::Int16(Int16Builder::new()),
                NativeType::Int => Kind::Int32(Int32Builder::new()),
                NativeType::BigInt | NativeType::Counter => Kind::Int64(Int64Builder::new()),
                NativeType::Float => Kind::Float32(Float32Builder::new()),
                NativeType::Double => Kind::Float64(Float64Builder::new()),
                NativeType::Boolean => Kind::Boolean(BooleanBuilder::new()),
                NativeType::Blob => Kind::Binary(BinaryBuilder::new()),
                NativeType::Date => Kind::Date32(Date32Builder::new()),
                NativeType::Time => Kind::Time64(Time64NanosecondBuilder::new()),
                NativeType::Timestamp => {
                    Kind::Timestamp(TimestampMillisecondBuilder::new().with_timezone("UTC"))
                }
                NativeType::Duration => Kind::Interval(IntervalMonthDayNanoBuilder::new()),
                NativeType::Uuid | NativeType::Timeuuid => {
                    Kind::Uuid(FixedSizeBinaryBuilder::new(16))
                }
                NativeType::Decimal => Kind::Decimal {
                    builder: decimal_builder(opts.decimal_scale)?,
                    scale: opts.decimal_scale,
                },
                NativeType::Varint => Kind::Varint(decimal_builder(0)?),
                other => return Err(Error::UnsupportedType(format!("{other:?}"))),
            },
            ColumnType::Collection { typ, .. } => match typ {
                CollectionType::List(item) | CollectionType::Set(item) => {
                    Kind::List(Box::new(ListState {
                        field: item_field(item, opts)?,
                        offsets: vec![0],
                        validity: Vec::new(),
                        items: ColumnDecoder::try_new(item, opts)?,
                    }))
                }
                CollectionType::Map(key, value) => {
                    let DataType::Map(entries_field, _) = map_type(key, value, opts)? else {
                        return Err(Error::UnsupportedType(format!("{cql:?}")));
                    };
                    let DataType::Struct(entry_fields) = entries_field.data_type().clone() else {
                        return Err(Error::UnsupportedType(format!("{cql:?}")));
                    };
                    Kind::Map(Box::new(MapState {
                        entries_field,
                        entry_fields,
                        offsets: vec![0],
                        validity: Vec::new(),
                        keys: ColumnDecoder::try_new(key, opts)?,
                        values: ColumnDecoder::try_new(value, opts)?,
                    }))
                }
                other => return Err(Error::UnsupportedType(format!("{other:?}"))),
            },
            ColumnType::Tuple(items) => {
                let DataType::Struct(fields) = arrow_type(cql, opts)? else {
                    return Err(Error::UnsupportedType(format!("{cql:?}")));
                };
                Kind::Struct(Box::new(StructState {
                    fields,
                    validity: Vec::new(),
                    children: items
                        .iter()
                        .map(|t| ColumnDecoder::try_new(t, opts))
                        .collect::<Result<_>>()?,
                }))
            }
            ColumnType::UserDefinedType { definition, .. } => {
                let DataType::Struct(fields) = arrow_type(cql, opts)? else {
                    return Err(Error::UnsupportedType(format!("{cql:?}")));
                };
                Kind::Struct(Box::new(StructState {
                    fields,
                    validity: Vec::new(),
                    children: definition
                        .field_types
                        .iter()
                        .map(|(_, t)| ColumnDecoder::try_new(t, opts))
                        .collect::<Result<_>>()?,
                }))
            }
            ColumnType::Vector { typ, dimensions } => Kind::Vector(Box::new(VectorState {
                field: item_field(typ, opts)?,
                dimensions: i32::from(*dimensions),
                element_width: fixed_width(typ),
                validity: Vec::new(),
                items: ColumnDecoder::try_new(typ, opts)?,
            })),
            other => return Err(Error::UnsupportedType(format!("{other:?}"))),
        };
        Ok(Self { kind })
    }

    /// Appends one cell; `None` is a null.
    pub fn append(&mut self, cell: Option<&[u8]>) -> std::result::Result<(), DecodeError> {
        match &mut self.kind {
            Kind::Utf8(b) => match cell {
                None => b.append_null(),
                Some(bytes) => b.append_value(
                    std::str::from_utf8(bytes).map_err(|_| DecodeError::new("invalid UTF-8"))?,
                ),
            },
            Kind::Inet(b) => match cell {
                None | Some([]) => b.append_null(),
                Some(bytes) => b.append_value(decode_inet(bytes)?),
            },
            Kind::Int8(b) => b.append_option(fixed::<1>(cell)?.map(i8::from_be_bytes)),
            Kind::Int16(b) => b.append_option(fixed::<2>(cell)?.map(i16::from_be_bytes)),
            Kind::Int32(b) => b.append_option(fixed::<4>(cell)?.map(i32::from_be_bytes)),
            Kind::Int64(b) => b.append_option(fixed::<8>(cell)?.map(i64::from_be_bytes)),
            Kind::Float32(b) => b.append_option(fixed::<4>(cell)?.map(f32::from_be_bytes)),
            Kind::Float64(b) => b.append_option(fixed::<8>(cell)?.map(f64::from_be_bytes)),
            Kind::Boolean(b) => b.append_option(fixed::<1>(cell)?.map(|[v]| v != 0)),
            Kind::Binary(b) => b.append_option(cell),
            Kind::Date32(b) => b.append_option(
                fixed::<4>(cell)?
                    // CQL dates count days from 2^31 days before the epoch.
                    .map(|v| (u32::from_be_bytes(v) as i64 - (1i64 << 31)) as i32),
            ),
            Kind::Time64(b) => b.append_option(fixed::<8>(cell)?.map(i64::from_be_bytes)),
            Kind::Timestamp(b) => b.append_option(fixed::<8>(cell)?.map(i64::from_be_bytes)),
            Kind::Interval(b) => match cell {
                None | Some([]) => b.append_null(),
                Some(bytes) => b.append_value(decode_duration(bytes)?),
            },
            Kind::Uuid(b) => match fixed::<16>(cell)? {
                None => b.append_null(),
                Some(v) => b
                    .append_value(v)
                    .map_err(|e| DecodeError::new(e.to_string()))?,
            },
            Kind::Decimal { builder, scale } => match cell {
                None | Some([]) => builder.append_null(),
                Some(bytes) => {
                    if bytes.len() < 4 {
                        return Err(DecodeError::new("decimal shorter than its scale"));
                    }
                    let (scale_bytes, unscaled) = bytes.split_at(4);
                    let value_scale = i32::from_be_bytes(scale_bytes.try_into().unwrap_or([0; 4]));
                    let unscaled = varint_to_i128(unscaled)?;
                    builder.append_value(rescale(unscaled, value_scale, i32::from(*scale))?);
                }
            },
            Kind::Varint(b) => match cell {
                None | Some([]) => b.append_null(),
                Some(bytes) => b.append_value(check_precision(varint_to_i128(bytes)?)?),
            },
            Kind::List(state) => state.append(cell)?,
            Kind::Map(state) => state.append(cell)?,
            Kind::Struct(state) => state.append(cell)?,
            Kind::Vector(state) => state.append(cell)?,
        }
        Ok(())
    }

    /// The array of all cells appended since the last call.
    pub fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match &mut self.kind {
            Kind::Utf8(b) | Kind::Inet(b) => Arc::new(b.finish()),
            Kind::Int8(b) => Arc::new(b.finish()),
            Kind::Int16(b) => Arc::new(b.finish()),
            Kind::Int32(b) => Arc::new(b.finish()),
            Kind::Int64(b) => Arc::new(b.finish()),
            Kind::Float32(b) => Arc::new(b.finish()),
            Kind::Float64(b) => Arc::new(b.finish()),
            Kind::Boolean(b) => Arc::new(b.finish()),
            Kind::Binary(b) => Arc::new(b.finish()),
            Kind::Date32(b) => Arc::new(b.finish()),
            Kind::Time64(b) => Arc::new(b.finish()),
            Kind::Timestamp(b) => Arc::new(b.finish()),
            Kind::Interval(b) => Arc::new(b.finish()),
            Kind::Uuid(b) => Arc::new(b.finish()),
            Kind::Decimal { builder, .. } => Arc::new(builder.finish()),
            Kind::Varint(b) => Arc::new(b.finish()),
            Kind::List(state) => {
                let offsets = std::mem::replace(&mut state.offsets, vec![0]);
                let nulls = take_nulls(&mut state.validity);
                Arc::new(ListArray::try_new(
                    state.field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    state.items.finish()?,
                    nulls,
                )?)
            }
            Kind::Map(state) => {
                let offsets = std::mem::replace(&mut state.offsets, vec![0]);
                let nulls = take_nulls(&mut state.validity);
                let entries = StructArray::try_new(
                    state.entry_fields.clone(),
                    vec![state.keys.finish()?, state.values.finish()?],
                    None,
                )?;
                Arc::new(MapArray::try_new(
                    state.entries_field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    entries,
                    nulls,
                    false,
                )?)
            }
            Kind::Struct(state) => {
                let nulls = take_nulls(&mut state.validity);
                let children = state
                    .children
                    .iter_mut()
                    .map(ColumnDecoder::finish)
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(StructArray::try_new(state.fields.clone(), children, nulls)?)
            }
            Kind::Vector(state) => {
                let nulls = take_nulls(&mut state.validity);
                Arc::new(FixedSizeListArray::try_new(
                    state.field.clone(),
                    state.dimensions,
                    state.items.finish()?,
                    nulls,
                )?)
            }
        })
    }
}

impl ListState {
    fn append(&mut self, cell: Option<&[u8]>) -> std::result::Result<(), DecodeError> {
        let last = *self.offsets.last().unwrap_or(&0);
        let Some(bytes) = cell else {
            self.validity.push(false);
            self.offsets.push(last);
            return Ok(());
        };
        let mut reader = Reader::new(bytes);
        let count = reader.count()?;
        for _ in 0..count {
            self.items.append(reader.cell()?)?;
        }
        self.validity.push(true);
        self.offsets.push(last + count);
        Ok(())
    }
}

impl MapState {
    fn append(&mut self, cell: Option<&[u8]>) -> std::result::Result<(), DecodeError> {
        let last = *self.offsets.last().unwrap_or(&0);
        let Some(bytes) = cell else {
            self.validity.push(false);
            self.offsets.push(last);
            return Ok(());
        };
        let mut reader = Reader::new(bytes);
        let count = reader.count()?;
        for _ in 0..count {
            let key = reader
                .cell()?
                .ok_or_else(|| DecodeError::new("null map key"))?;
            self.keys.append(Some(key))?;
            self.values.append(reader.cell()?)?;
        }
        self.validity.push(true);
        self.offsets.push(last + count);
        Ok(())
    }
}

impl StructState {
    fn append(&mut self, cell: Option<&[u8]>) -> std::result::Result<(), DecodeError> {
        let Some(bytes) = cell else {
            self.validity.push(false);
            for child in &mut self.children {
                child.append(None)?;
            }
            return Ok(());
        };
        // Fields are [int length][bytes] each; trailing fields may be absent
        // (a UDT that gained fields after the value was written).
        let mut reader = Reader::new(bytes);
        for child in &mut self.children {
            if reader.is_empty() {
                child.append(None)?;
            } else {
                child.append(reader.cell()?)?;
            }
        }
        self.validity.push(true);
        Ok(())
    }
}

impl VectorState {
    fn append(&mut self, cell: Option<&[u8]>) -> std::result::Result<(), DecodeError> {
        let Some(bytes) = cell else {
            self.validity.push(false);
            for _ in 0..self.dimensions {
                self.items.append(None)?;
            }
            return Ok(());
        };
        let mut reader = Reader::new(bytes);
        for _ in 0..self.dimensions {
            let element = match self.element_width {
                Some(width) => reader.take(width)?,
                None => {
                    let len = reader.unsigned_vint()?;
                    reader.take(
                        usize::try_from(len)
                            .map_err(|_| DecodeError::new("vector element too long"))?,
                    )?
                }
            };
            self.items.append(Some(element))?;
        }
        self.validity.push(true);
        Ok(())
    }
}

fn take_nulls(validity: &mut Vec<bool>) -> Option<NullBuffer> {
    let validity = std::mem::take(validity);
    if validity.iter().all(|v| *v) {
        None
    } else {
        Some(NullBuffer::from(validity))
    }
}

fn decimal_builder(scale: i8) -> Result<Decimal128Builder> {
    Ok(Decimal128Builder::new().with_precision_and_scale(MAX_PRECISION, scale)?)
}

/// The serialized width of a CQL type's values, when it is fixed.
fn fixed_width(cql: &ColumnType<'_>) -> Option<usize> {
    match cql {
        ColumnType::Native(native) => match native {
            NativeType::Boolean | NativeType::TinyInt => Some(1),
            NativeType::SmallInt => Some(2),
            NativeType::Int | NativeType::Float | NativeType::Date => Some(4),
            NativeType::BigInt
            | NativeType::Counter
            | NativeType::Double
            | NativeType::Time
            | NativeType::Timestamp => Some(8),
            NativeType::Uuid | NativeType::Timeuuid => Some(16),
            _ => None,
        },
        _ => None,
    }
}

/// A cell that could not be decoded; the scan adds the column and table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl DecodeError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fixed-width cell; an empty cell (legal in CQL for most types) is null.
fn fixed<const N: usize>(cell: Option<&[u8]>) -> std::result::Result<Option<[u8; N]>, DecodeError> {
    match cell {
        None | Some([]) => Ok(None),
        Some(bytes) => bytes
            .try_into()
            .map(Some)
            .map_err(|_| DecodeError::new(format!("expected {N} bytes, got {}", bytes.len()))),
    }
}

fn decode_inet(bytes: &[u8]) -> std::result::Result<String, DecodeError> {
    match bytes.len() {
        4 => {
            let octets: [u8; 4] = bytes.try_into().unwrap_or_default();
            Ok(Ipv4Addr::from(octets).to_string())
        }
        16 => {
            let octets: [u8; 16] = bytes.try_into().unwrap_or_default();
            Ok(Ipv6Addr::from(octets).to_string())
        }
        n => Err(DecodeError::new(format!("inet of {n} bytes"))),
    }
}

/// CQL `duration`: three signed vints (months, days, nanoseconds).
fn decode_duration(bytes: &[u8]) -> std::result::Result<IntervalMonthDayNano, DecodeError> {
    let mut reader = Reader::new(bytes);
    let months = reader.signed_vint()?;
    let days = reader.signed_vint()?;
    let nanos = reader.signed_vint()?;
    let months = i32::try_from(months).map_err(|_| DecodeError::new("duration months overflow"))?;
    let days = i32::try_from(days).map_err(|_| DecodeError::new("duration days overflow"))?;
    Ok(IntervalMonthDayNano::new(months, days, nanos))
}

/// A big-endian two's-complement integer of any length, if it fits an i128.
fn varint_to_i128(bytes: &[u8]) -> std::result::Result<i128, DecodeError> {
    if bytes.is_empty() {
        return Ok(0);
    }
    // Strip redundant sign-extension bytes, then check what is left fits.
    let negative = bytes[0] & 0x80 != 0;
    let pad = if negative { 0xff } else { 0x00 };
    let mut start = 0;
    while start + 1 < bytes.len()
        && bytes[start] == pad
        && (bytes[start + 1] & 0x80 != 0) == negative
    {
        start += 1;
    }
    let significant = &bytes[start..];
    if significant.len() > 16 {
        return Err(DecodeError::new(
            "integer has more than 38 digits and does not fit numeric(38)",
        ));
    }
    let mut buf = [pad; 16];
    buf[16 - significant.len()..].copy_from_slice(significant);
    Ok(i128::from_be_bytes(buf))
}

const POW10: [i128; 39] = {
    let mut table = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

fn check_precision(value: i128) -> std::result::Result<i128, DecodeError> {
    if value.unsigned_abs() >= POW10[38] as u128 {
        Err(DecodeError::new(
            "value has more than 38 digits and does not fit numeric(38)",
        ))
    } else {
        Ok(value)
    }
}

/// Re-expresses `unscaled * 10^-from` at scale `to`, exactly or not at all.
fn rescale(unscaled: i128, from: i32, to: i32) -> std::result::Result<i128, DecodeError> {
    let result = if from == to {
        Some(unscaled)
    } else if from < to {
        usize::try_from(to - from)
            .ok()
            .and_then(|d| POW10.get(d))
            .and_then(|p| unscaled.checked_mul(*p))
    } else {
        let divisor = usize::try_from(from - to).ok().and_then(|d| POW10.get(d));
        match divisor {
            Some(p) if unscaled % p == 0 => Some(unscaled / p),
            Some(_) => {
                return Err(DecodeError::new(format!(
                    "decimal has {from} fractional digits, more than the column's scale {to}; \
                     raise the table's decimal_scale option to read it exactly"
                )))
            }
            None if unscaled == 0 => Some(0),
            None => None,
        }
    };
    result
        .ok_or_else(|| DecodeError::new("decimal does not fit numeric(38)"))
        .and_then(check_precision)
}

/// Reads the length-prefixed parts of collection, tuple and vector values.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::new("value ends early"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn int(&mut self) -> std::result::Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self) -> std::result::Result<i32, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            return Err(DecodeError::new("negative element count"));
        }
        Ok(n)
    }

    /// `[int n][n bytes]`, where a negative `n` is null.
    fn cell(&mut self) -> std::result::Result<Option<&'a [u8]>, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            Ok(None)
        } else {
            self.take(n as usize).map(Some)
        }
    }

    /// Cassandra's unsigned vint: the count of leading one bits in the first
    /// byte is the number of extra bytes.
    fn unsigned_vint(&mut self) -> std::result::Result<u64, DecodeError> {
        let first = self.take(1)?[0];
        let extra = first.leading_ones() as usize;
        if extra == 0 {
            return Ok(u64::from(first));
        }
        let rest = self.take(extra)?;
        let mut value = if extra >= 8 {
            0
        } else {
            u64::from(first & (0xff >> extra))
        };
        for b in rest {
            value = (value << 8) | u64::from(*b);
        }
        Ok(value)
    }

    fn signed_vint(&mut self) -> std::result::Result<i64, DecodeError> {
        let v = self.unsigned_vint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Array, AsArray, Decimal128Array, FixedSizeBinaryArray, Int32Array, StringArray,
    };
    use datafusion::arrow::datatypes::{Date32Type, Int32Type};
    use scylla::cluster::metadata::UserDefinedType;

    fn native(t: NativeType) -> ColumnType<'static> {
        ColumnType::Native(t)
    }

    fn decode(cql: &ColumnType<'_>, cells: &[Option<&[u8]>]) -> ArrayRef {
        let mut decoder = ColumnDecoder::try_new(cql, TypeOptions::default()).expect("decoder");
        for cell in cells {
            decoder.append(*cell).expect("append");
        }
        let array = decoder.finish().expect("finish");
        assert_eq!(
            array.data_type(),
            &arrow_type(cql, TypeOptions::default()).expect("type"),
            "decoded type matches the declared mapping"
        );
        array
    }

    #[test]
    fn every_native_type_maps() {
        let expected = [
            (NativeType::Ascii, DataType::Utf8),
            (NativeType::Text, DataType::Utf8),
            (NativeType::Inet, DataType::Utf8),
            (NativeType::TinyInt, DataType::Int8),
            (NativeType::SmallInt, DataType::Int16),
            (NativeType::Int, DataType::Int32),
            (NativeType::BigInt, DataType::Int64),
            (NativeType::Counter, DataType::Int64),
            (NativeType::Float, DataType::Float32),
            (NativeType::Double, DataType::Float64),
            (NativeType::Boolean, DataType::Boolean),
            (NativeType::Blob, DataType::Binary),
            (NativeType::Date, DataType::Date32),
            (NativeType::Time, DataType::Time64(TimeUnit::Nanosecond)),
            (
                NativeType::Timestamp,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ),
            (
                NativeType::Duration,
                DataType::Interval(IntervalUnit::MonthDayNano),
            ),
            (NativeType::Uuid, DataType::FixedSizeBinary(16)),
            (NativeType::Timeuuid, DataType::FixedSizeBinary(16)),
            (NativeType::Decimal, DataType::Decimal128(38, 10)),
            (NativeType::Varint, DataType::Decimal128(38, 0)),
        ];
        for (cql, arrow) in expected {
            assert_eq!(
                arrow_type(&native(cql.clone()), TypeOptions::default()).expect("maps"),
                arrow,
                "{cql:?}"
            );
        }
    }

    #[test]
    fn uuid_fields_carry_the_extension() {
        let field = arrow_field("id", &native(NativeType::Uuid), TypeOptions::default()).unwrap();
        assert_eq!(field.extension_type_name(), Some(UUID_EXTENSION));
        assert_eq!(field.metadata()[CQL_TYPE_METADATA], "uuid");
    }

    #[test]
    fn composite_types_map() {
        let list = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(native(NativeType::Int))),
        };
        assert!(
            matches!(arrow_type(&list, TypeOptions::default()).unwrap(), DataType::List(f) if f.data_type() == &DataType::Int32)
        );
        let map = ColumnType::Collection {
            frozen: true,
            typ: CollectionType::Map(
                Box::new(native(NativeType::Text)),
                Box::new(native(NativeType::BigInt)),
            ),
        };
        assert_eq!(cql_type_name(&map), "frozen<map<text, bigint>>");
        assert!(matches!(
            arrow_type(&map, TypeOptions::default()).unwrap(),
            DataType::Map(_, false)
        ));
        let vector = ColumnType::Vector {
            typ: Box::new(native(NativeType::Float)),
            dimensions: 3,
        };
        assert!(matches!(
            arrow_type(&vector, TypeOptions::default()).unwrap(),
            DataType::FixedSizeList(_, 3)
        ));
        let udt = ColumnType::UserDefinedType {
            frozen: true,
            definition: Arc::new(UserDefinedType {
                name: "address".into(),
                keyspace: "ks".into(),
                field_types: vec![
                    ("street".into(), native(NativeType::Text)),
                    ("zip".into(), native(NativeType::Int)),
                ],
            }),
        };
        let DataType::Struct(fields) = arrow_type(&udt, TypeOptions::default()).unwrap() else {
            panic!("a struct")
        };
        assert_eq!(fields[0].name(), "street");
        assert_eq!(fields[1].name(), "zip");
    }

    #[test]
    fn decodes_scalars() {
        let ints = decode(
            &native(NativeType::Int),
            &[Some(&42i32.to_be_bytes()), None, Some(&[])],
        );
        let ints = ints.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(ints.value(0), 42);
        assert!(ints.is_null(1) && ints.is_null(2));

        let text = decode(&native(NativeType::Text), &[Some("it's; --x".as_bytes())]);
        assert_eq!(
            text.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "it's; --x"
        );

        let epoch = (1u32 << 31).to_be_bytes();
        let dates = decode(&native(NativeType::Date), &[Some(&epoch)]);
        assert_eq!(dates.as_primitive::<Date32Type>().value(0), 0);

        let id = [7u8; 16];
        let uuids = decode(&native(NativeType::Uuid), &[Some(&id)]);
        assert_eq!(
            uuids
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .unwrap()
                .value(0),
            id
        );

        let inet = decode(&native(NativeType::Inet), &[Some(&[127, 0, 0, 1])]);
        assert_eq!(
            inet.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "127.0.0.1"
        );
    }

    #[test]
    fn rejects_wrong_widths() {
        let mut d =
            ColumnDecoder::try_new(&native(NativeType::BigInt), TypeOptions::default()).unwrap();
        assert!(d.append(Some(&[1, 2, 3])).is_err());
    }

    #[test]
    fn decimals_keep_every_digit() {
        // 12345.6789 is unscaled 123456789 at scale 4.
        let mut cell = 4i32.to_be_bytes().to_vec();
        cell.extend_from_slice(&123456789i32.to_be_bytes());
        let array = decode(&native(NativeType::Decimal), &[Some(&cell)]);
        let array = array.as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(array.value_as_string(0), "12345.6789000000");

        // Negative, multi-byte two's complement: -1000 at scale 0.
        let mut cell = 0i32.to_be_bytes().to_vec();
        cell.extend_from_slice(&[0xfc, 0x18]);
        let array = decode(&native(NativeType::Varint), &[Some(&cell[4..])]);
        let array = array.as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(array.value(0), -1000);
    }

    #[test]
    fn decimals_that_do_not_fit_are_errors() {
        // Scale 12 exceeds the default scale 10, with non-zero trailing digits.
        let mut cell = 12i32.to_be_bytes().to_vec();
        cell.extend_from_slice(&1i32.to_be_bytes());
        let mut d =
            ColumnDecoder::try_new(&native(NativeType::Decimal), TypeOptions::default()).unwrap();
        assert!(d
            .append(Some(&cell))
            .unwrap_err()
            .to_string()
            .contains("fractional digits"));

        // Trailing zeros beyond the scale are exact and accepted: 1.00000000000.
        let mut cell = 11i32.to_be_bytes().to_vec();
        cell.extend_from_slice(&100_000_000_000i64.to_be_bytes());
        assert!(d.append(Some(&cell)).is_ok());

        // 17 significant bytes cannot fit.
        let mut big = vec![0x01];
        big.extend_from_slice(&[0; 16]);
        let mut v =
            ColumnDecoder::try_new(&native(NativeType::Varint), TypeOptions::default()).unwrap();
        assert!(v.append(Some(&big)).is_err());
        // 10^38 fits an i128 but not numeric(38).
        assert!(v.append(Some(&POW10[38].to_be_bytes())).is_err());
        assert!(v.append(Some(&(POW10[38] - 1).to_be_bytes())).is_ok());
    }

    #[test]
    fn decodes_durations() {
        // months 1 (zigzag 2), days -1 (zigzag 1), nanos 1000 (zigzag 2000 = 0x07d0,
        // two bytes: first byte 10xxxxxx).
        let cell = [0x02, 0x01, 0x80 | 0x07, 0xd0];
        let array = decode(&native(NativeType::Duration), &[Some(&cell)]);
        let v = array
            .as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>()
            .value(0);
        assert_eq!(v, IntervalMonthDayNano::new(1, -1, 1000));
    }

    /// `[int count]` then each item as `[int length][bytes]`; a map's count
    /// is its number of pairs, half the number of items.
    fn collection(count: i32, items: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = count.to_be_bytes().to_vec();
        for item in items {
            match item {
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn decodes_lists_maps_tuples_vectors() {
        let list_type = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::Set(Box::new(native(NativeType::Int))),
        };
        let one = 1i32.to_be_bytes();
        let two = 2i32.to_be_bytes();
        let cell = collection(2, &[Some(&one), Some(&two)]);
        let array = decode(&list_type, &[Some(&cell), None]);
        let list = array.as_list::<i32>();
        assert_eq!(list.value(0).as_primitive::<Int32Type>().values(), &[1, 2]);
        assert!(list.is_null(1));

        let map_type = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::Map(
                Box::new(native(NativeType::Text)),
                Box::new(native(NativeType::Int)),
            ),
        };
        let cell = collection(2, &[Some(b"a"), Some(&one), Some(b"b"), None]);
        let array = decode(&map_type, &[Some(&cell)]);
        let map = array.as_map();
        assert_eq!(map.value_length(0), 2);
        assert!(map.values().is_null(1));

        let tuple_type = ColumnType::Tuple(vec![native(NativeType::Int), native(NativeType::Text)]);
        // Only the first field present: the second reads as null.
        let mut cell = 4i32.to_be_bytes().to_vec();
        cell.extend_from_slice(&one);
        let array = decode(&tuple_type, &[Some(&cell)]);
        let tuple = array.as_struct();
        assert_eq!(tuple.column(0).as_primitive::<Int32Type>().value(0), 1);
        assert!(tuple.column(1).is_null(0));

        let vector_type = ColumnType::Vector {
            typ: Box::new(native(NativeType::Float)),
            dimensions: 2,
        };
        let mut cell = 1.5f32.to_be_bytes().to_vec();
        cell.extend_from_slice(&(-2.0f32).to_be_bytes());
        let array = decode(&vector_type, &[Some(&cell), None]);
        let vector = array.as_fixed_size_list();
        assert_eq!(
            vector
                .value(0)
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .values(),
            &[1.5, -2.0]
        );
        assert!(vector.is_null(1));
    }

    #[test]
    fn vints() {
        let mut r = Reader::new(&[0x05, 0xc0, 0x01, 0x00]);
        assert_eq!(r.unsigned_vint().unwrap(), 5);
        assert_eq!(r.unsigned_vint().unwrap(), 256);
        assert!(r.is_empty());
        let mut r = Reader::new(&[0x03]);
        assert_eq!(r.signed_vint().unwrap(), -2);
    }
}
