//! Arrow → CQL: the values written by `INSERT`, one column at a time.
//!
//! This is the inverse of the mapping in [`crate::types`]: each Arrow array
//! arrives with exactly the type [`crate::types::arrow_type`] gives its
//! column (DataFusion casts inserted values to the table's schema before they
//! reach the sink), and every value becomes the CQL value of the column's
//! type. Nothing is rounded or truncated on the way: a value Cassandra cannot
//! hold is an error that names the column.

use std::net::IpAddr;

use datafusion::arrow::array::{
    Array, AsArray, FixedSizeListArray, GenericListArray, MapArray, StructArray,
};
use datafusion::arrow::datatypes::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, IntervalMonthDayNanoType, Time64NanosecondType, TimestampMillisecondType,
};
use scylla::cluster::metadata::{CollectionType, ColumnType, NativeType};
use scylla::value::{
    CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlTimeuuid, CqlValue, CqlVarint,
};

/// Why a value cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, EncodeError> {
    Err(EncodeError(message.into()))
}

/// The CQL values of every row of `array`, a column of CQL type `cql`;
/// `None` is a null.
pub fn cql_values(
    array: &dyn Array,
    cql: &ColumnType<'_>,
) -> Result<Vec<Option<CqlValue>>, EncodeError> {
    let present = |i: usize| array.is_valid(i);
    let rows = 0..array.len();
    let values: Vec<Option<CqlValue>> = match cql {
        ColumnType::Native(native) => return native_values(array, native),
        ColumnType::Collection { typ, .. } => match typ {
            CollectionType::List(item) | CollectionType::Set(item) => {
                let set = matches!(typ, CollectionType::Set(_));
                let list = list_array(array)?;
                rows.map(|i| {
                    if !present(i) {
                        return Ok(None);
                    }
                    let items = non_null(cql_values(list.value(i).as_ref(), item)?, "an element")?;
                    Ok(Some(if set {
                        CqlValue::Set(items)
                    } else {
                        CqlValue::List(items)
                    }))
                })
                .collect::<Result<_, EncodeError>>()?
            }
            CollectionType::Map(key, value) => {
                let Some(map) = array.as_any().downcast_ref::<MapArray>() else {
                    return err(format!("expected a map, got {}", array.data_type()));
                };
                rows.map(|i| {
                    if !present(i) {
                        return Ok(None);
                    }
                    let entries = map.value(i);
                    let keys = non_null(cql_values(entries.column(0).as_ref(), key)?, "a map key")?;
                    let values = non_null(
                        cql_values(entries.column(1).as_ref(), value)?,
                        "a map value",
                    )?;
                    Ok(Some(CqlValue::Map(keys.into_iter().zip(values).collect())))
                })
                .collect::<Result<_, EncodeError>>()?
            }
            other => return err(format!("unsupported collection type {other:?}")),
        },
        ColumnType::Tuple(items) => {
            let fields = struct_fields(array, items.iter())?;
            rows.map(|i| {
                Ok(present(i)
                    .then(|| CqlValue::Tuple(fields.iter().map(|f| f[i].clone()).collect())))
            })
            .collect::<Result<_, EncodeError>>()?
        }
        ColumnType::UserDefinedType { definition, .. } => {
            let fields = struct_fields(array, definition.field_types.iter().map(|(_, t)| t))?;
            rows.map(|i| {
                Ok(present(i).then(|| CqlValue::UserDefinedType {
                    keyspace: definition.keyspace.to_string(),
                    name: definition.name.to_string(),
                    fields: definition
                        .field_types
                        .iter()
                        .zip(&fields)
                        .map(|((name, _), values)| (name.to_string(), values[i].clone()))
                        .collect(),
                }))
            })
            .collect::<Result<_, EncodeError>>()?
        }
        ColumnType::Vector { typ, .. } => {
            let Some(vectors) = array.as_any().downcast_ref::<FixedSizeListArray>() else {
                return err(format!("expected a vector, got {}", array.data_type()));
            };
            rows.map(|i| {
                if !present(i) {
                    return Ok(None);
                }
                let items = non_null(cql_values(vectors.value(i).as_ref(), typ)?, "an element")?;
                Ok(Some(CqlValue::Vector(items)))
            })
            .collect::<Result<_, EncodeError>>()?
        }
        other => return err(format!("unsupported CQL type {other:?}")),
    };
    Ok(values)
}

/// Collections cannot hold nulls in CQL.
fn non_null(values: Vec<Option<CqlValue>>, what: &str) -> Result<Vec<CqlValue>, EncodeError> {
    values
        .into_iter()
        .map(|v| {
            v.ok_or_else(|| {
                EncodeError(format!(
                    "{what} of a collection is null, which CQL cannot store"
                ))
            })
        })
        .collect()
}

fn list_array(array: &dyn Array) -> Result<&GenericListArray<i32>, EncodeError> {
    array
        .as_any()
        .downcast_ref::<GenericListArray<i32>>()
        .ok_or_else(|| EncodeError(format!("expected a list, got {}", array.data_type())))
}

/// The values of each field of a struct column, field by field.
fn struct_fields<'a>(
    array: &dyn Array,
    types: impl Iterator<Item = &'a ColumnType<'a>>,
) -> Result<Vec<Vec<Option<CqlValue>>>, EncodeError> {
    let Some(structs) = array.as_any().downcast_ref::<StructArray>() else {
        return err(format!("expected a struct, got {}", array.data_type()));
    };
    let types: Vec<_> = types.collect();
    if types.len() != structs.num_columns() {
        return err(format!(
            "expected {} fields, got {}",
            types.len(),
            structs.num_columns()
        ));
    }
    structs
        .columns()
        .iter()
        .zip(types)
        .map(|(column, t)| cql_values(column.as_ref(), t))
        .collect()
}

macro_rules! primitive {
    ($array:expr, $arrow:ty, $to:expr) => {{
        let Some(values) = $array.as_primitive_opt::<$arrow>() else {
            return err(format!(
                "expected {}, got {}",
                stringify!($arrow),
                $array.data_type()
            ));
        };
        values.iter().map(|v| v.map($to).transpose()).collect()
    }};
}

fn native_values(
    array: &dyn Array,
    native: &NativeType,
) -> Result<Vec<Option<CqlValue>>, EncodeError> {
    let ok = |v: CqlValue| -> Result<CqlValue, EncodeError> { Ok(v) };
    match native {
        NativeType::Text => strings(array, |s| Ok(CqlValue::Text(s.to_string()))),
        NativeType::Ascii => strings(array, |s| {
            if s.is_ascii() {
                Ok(CqlValue::Ascii(s.to_string()))
            } else {
                err(format!("{s:?} is not ASCII"))
            }
        }),
        NativeType::Inet => strings(array, |s| {
            s.parse::<IpAddr>()
                .map(CqlValue::Inet)
                .map_err(|_| EncodeError(format!("{s:?} is not an IP address")))
        }),
        NativeType::TinyInt => primitive!(array, Int8Type, |v| ok(CqlValue::TinyInt(v))),
        NativeType::SmallInt => primitive!(array, Int16Type, |v| ok(CqlValue::SmallInt(v))),
        NativeType::Int => primitive!(array, Int32Type, |v| ok(CqlValue::Int(v))),
        NativeType::BigInt => primitive!(array, Int64Type, |v| ok(CqlValue::BigInt(v))),
        NativeType::Float => primitive!(array, Float32Type, |v| ok(CqlValue::Float(v))),
        NativeType::Double => primitive!(array, Float64Type, |v| ok(CqlValue::Double(v))),
        NativeType::Boolean => {
            let Some(values) = array.as_boolean_opt() else {
                return err(format!("expected Boolean, got {}", array.data_type()));
            };
            Ok(values.iter().map(|v| v.map(CqlValue::Boolean)).collect())
        }
        NativeType::Blob => {
            let Some(values) = array.as_binary_opt::<i32>() else {
                return err(format!("expected Binary, got {}", array.data_type()));
            };
            Ok(values
                .iter()
                .map(|v| v.map(|b| CqlValue::Blob(b.to_vec())))
                .collect())
        }
        NativeType::Date => primitive!(array, Date32Type, |days: i32| {
            // CQL dates count days from 2^31 days before the epoch.
            let raw = i64::from(days) + (1i64 << 31);
            u32::try_from(raw)
                .map(|d| CqlValue::Date(CqlDate(d)))
                .map_err(|_| EncodeError(format!("day {days} is outside CQL's date range")))
        }),
        NativeType::Time => primitive!(array, Time64NanosecondType, |ns: i64| {
            if (0..86_400_000_000_000).contains(&ns) {
                Ok(CqlValue::Time(CqlTime(ns)))
            } else {
                err(format!("{ns} ns is not a time of day"))
            }
        }),
        NativeType::Timestamp => primitive!(array, TimestampMillisecondType, |ms| ok(
            CqlValue::Timestamp(CqlTimestamp(ms))
        )),
        NativeType::Duration => primitive!(
            array,
            IntervalMonthDayNanoType,
            |v: datafusion::arrow::datatypes::IntervalMonthDayNano| {
                ok(CqlValue::Duration(CqlDuration {
                    months: v.months,
                    days: v.days,
                    nanoseconds: v.nanoseconds,
                }))
            }
        ),
        NativeType::Uuid | NativeType::Timeuuid => {
            let Some(values) = array.as_fixed_size_binary_opt() else {
                return err(format!(
                    "expected FixedSizeBinary(16), got {}",
                    array.data_type()
                ));
            };
            let timeuuid = matches!(native, NativeType::Timeuuid);
            values
                .iter()
                .map(|v| {
                    v.map(|bytes| {
                        let bytes: [u8; 16] = bytes
                            .try_into()
                            .map_err(|_| EncodeError("a uuid has 16 bytes".to_string()))?;
                        let timeuuid_value = CqlTimeuuid::from_bytes(bytes);
                        Ok(if timeuuid {
                            CqlValue::Timeuuid(timeuuid_value)
                        } else {
                            CqlValue::Uuid(timeuuid_value.into())
                        })
                    })
                    .transpose()
                })
                .collect()
        }
        NativeType::Decimal => {
            let Some(values) = array.as_primitive_opt::<Decimal128Type>() else {
                return err(format!("expected Decimal128, got {}", array.data_type()));
            };
            let scale = i32::from(values.scale());
            Ok(values
                .iter()
                .map(|v| {
                    v.map(|unscaled| {
                        let (unscaled, scale) = without_trailing_zeros(unscaled, scale);
                        CqlValue::Decimal(CqlDecimal::from_signed_be_bytes_slice_and_exponent(
                            &minimal_be_bytes(unscaled),
                            scale,
                        ))
                    })
                })
                .collect())
        }
        NativeType::Varint => {
            let Some(values) = array.as_primitive_opt::<Decimal128Type>() else {
                return err(format!("expected Decimal128, got {}", array.data_type()));
            };
            if values.scale() != 0 {
                return err("a varint has no fractional digits");
            }
            Ok(values
                .iter()
                .map(|v| {
                    v.map(|n| {
                        CqlValue::Varint(CqlVarint::from_signed_bytes_be(minimal_be_bytes(n)))
                    })
                })
                .collect())
        }
        NativeType::Counter => err("counter columns change with UPDATE, not INSERT"),
        other => err(format!("unsupported CQL type {other:?}")),
    }
}

fn strings(
    array: &dyn Array,
    to: impl Fn(&str) -> Result<CqlValue, EncodeError>,
) -> Result<Vec<Option<CqlValue>>, EncodeError> {
    if let Some(values) = array.as_string_opt::<i32>() {
        return values.iter().map(|v| v.map(&to).transpose()).collect();
    }
    if let Some(values) = array.as_string_view_opt() {
        return values.iter().map(|v| v.map(&to).transpose()).collect();
    }
    err(format!("expected text, got {}", array.data_type()))
}

/// Two's-complement big-endian bytes of `n`, without redundant sign bytes,
/// as CQL's varint and decimal encodings expect.
/// The same number with the fewest fractional digits. Arrow decimals have
/// one scale per column, so `0.5` read into a scale-10 column is
/// `0.5000000000`; Cassandra keeps a scale per value, and gets `0.5` back.
fn without_trailing_zeros(mut unscaled: i128, mut scale: i32) -> (i128, i32) {
    if unscaled == 0 {
        return (0, 0);
    }
    while scale > 0 && unscaled % 10 == 0 {
        unscaled /= 10;
        scale -= 1;
    }
    (unscaled, scale)
}

fn minimal_be_bytes(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// A rough encoded size of `value`, to keep write batches small.
pub fn approximate_size(value: &CqlValue) -> usize {
    match value {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.len() + 4,
        CqlValue::Blob(b) => b.len() + 4,
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items) => {
            items.iter().map(approximate_size).sum::<usize>() + 4
        }
        CqlValue::Map(entries) => {
            entries
                .iter()
                .map(|(k, v)| approximate_size(k) + approximate_size(v))
                .sum::<usize>()
                + 4
        }
        CqlValue::Tuple(items) => items.iter().flatten().map(approximate_size).sum::<usize>() + 4,
        CqlValue::UserDefinedType { fields, .. } => {
            fields
                .iter()
                .filter_map(|(_, v)| v.as_ref())
                .map(approximate_size)
                .sum::<usize>()
                + 4
        }
        _ => 20,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{arrow_type, ColumnDecoder, TypeOptions};
    use datafusion::arrow::array::{
        ArrayRef, Decimal128Array, Int32Array, ListBuilder, StringArray, StringBuilder,
    };
    use std::sync::Arc;

    fn text() -> ColumnType<'static> {
        ColumnType::Native(NativeType::Text)
    }

    #[test]
    fn minimal_bytes_match_twos_complement() {
        assert_eq!(minimal_be_bytes(0), vec![0]);
        assert_eq!(minimal_be_bytes(127), vec![0x7f]);
        assert_eq!(minimal_be_bytes(128), vec![0x00, 0x80]);
        assert_eq!(minimal_be_bytes(-1), vec![0xff]);
        assert_eq!(minimal_be_bytes(-128), vec![0x80]);
        assert_eq!(minimal_be_bytes(-129), vec![0xff, 0x7f]);
    }

    #[test]
    fn natives_and_nulls() {
        let ints = Int32Array::from(vec![Some(1), None]);
        assert_eq!(
            cql_values(&ints, &ColumnType::Native(NativeType::Int)).unwrap(),
            vec![Some(CqlValue::Int(1)), None]
        );
        let strings = StringArray::from(vec!["it's; --", "b"]);
        assert_eq!(
            cql_values(&strings, &text()).unwrap()[0],
            Some(CqlValue::Text("it's; --".into()))
        );
        assert!(cql_values(&strings, &ColumnType::Native(NativeType::Inet)).is_err());
        assert!(cql_values(&ints, &text()).is_err(), "wrong Arrow type");
    }

    #[test]
    fn decimals_drop_only_trailing_zeros() {
        assert_eq!(without_trailing_zeros(5_000_000_000, 10), (5, 1));
        assert_eq!(without_trailing_zeros(-1_200, 2), (-12, 0));
        assert_eq!(without_trailing_zeros(1_200, 0), (1_200, 0));
        assert_eq!(without_trailing_zeros(0, 10), (0, 0));
    }

    #[test]
    fn decimals_keep_their_digits() {
        let decimals = Decimal128Array::from(vec![Some(-12_345_678_901_234_567_891i128)])
            .with_precision_and_scale(38, 10)
            .unwrap();
        let decimal = ColumnType::Native(NativeType::Decimal);
        let values = cql_values(&decimals, &decimal).unwrap();
        let Some(CqlValue::Decimal(d)) = &values[0] else {
            panic!("{values:?}")
        };
        let (bytes, scale) = d.as_signed_be_bytes_slice_and_exponent();
        assert_eq!(scale, 10);
        assert_eq!(
            i128::from_be_bytes({
                let mut full = [0xffu8; 16];
                full[16 - bytes.len()..].copy_from_slice(bytes);
                full
            }),
            -12_345_678_901_234_567_891i128
        );
    }

    #[test]
    fn lists_reject_null_elements() {
        let mut builder = ListBuilder::new(StringBuilder::new());
        builder.values().append_value("a");
        builder.append(true);
        builder.values().append_null();
        builder.append(true);
        let lists: ArrayRef = Arc::new(builder.finish());
        let list = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(text())),
        };
        assert!(cql_values(lists.slice(0, 1).as_ref(), &list).is_ok());
        assert!(cql_values(lists.as_ref(), &list).is_err());
    }

    #[test]
    fn round_trips_through_the_decoder() {
        // What the decoder reads, the encoder writes back unchanged.
        let list = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(ColumnType::Native(NativeType::Int))),
        };
        let opts = TypeOptions::default();
        assert!(matches!(
            arrow_type(&list, opts).unwrap(),
            datafusion::arrow::datatypes::DataType::List(_)
        ));
        let mut decoder = ColumnDecoder::try_new(&list, opts).unwrap();
        // [1, 2]: count, then each element as (length, big-endian int).
        let cell: Vec<u8> = [
            2i32.to_be_bytes(),
            4i32.to_be_bytes(),
            1i32.to_be_bytes(),
            4i32.to_be_bytes(),
            2i32.to_be_bytes(),
        ]
        .concat();
        decoder.append(Some(&cell)).unwrap();
        let array = decoder.finish().unwrap();
        assert_eq!(
            cql_values(array.as_ref(), &list).unwrap(),
            vec![Some(CqlValue::List(vec![
                CqlValue::Int(1),
                CqlValue::Int(2)
            ]))]
        );
    }
}
