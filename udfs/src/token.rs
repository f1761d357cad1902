//! `token(pk, ...)`: the Murmur3 token Cassandra computes for a partition key.
//!
//! It is the value of CQL's `token()` for the same key, so
//! `select token(campaign_id, day) from ks.events` agrees with Cassandra, and
//! token ranges in SQL mean what they mean in CQL.
//!
//! Each argument is encoded as the CQL type its Arrow type maps back to:
//! Int32 as `int`, Int64 as `bigint`, Utf8 as `text`, Date32 as `date`,
//! Timestamp(ms) as `timestamp`, FixedSizeBinary(16) as `uuid`, and so on.
//! SQL integer literals are Int64, so call `token(7::int)` for an `int` key.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, not_impl_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `token` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TokenFunc {
    signature: Signature,
}

impl Default for TokenFunc {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TokenFunc {
    fn name(&self) -> &str {
        "token"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        for t in arg_types {
            if !encodable(t) {
                return not_impl_err!("token() of a {t} value");
            }
        }
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.is_empty() {
            return exec_err!("token() needs the partition-key columns as arguments");
        }
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let mut out = Int64Builder::with_capacity(rows);
        let mut key = Vec::new();
        let mut component = Vec::new();
        'row: for row in 0..rows {
            key.clear();
            for array in &arrays {
                if array.is_null(row) {
                    out.append_null();
                    continue 'row;
                }
                component.clear();
                encode(&ScalarValue::try_from_array(array, row)?, &mut component)?;
                if arrays.len() == 1 {
                    key.extend_from_slice(&component);
                } else {
                    // A composite key: each component as [u16 length][bytes][0].
                    let len = u16::try_from(component.len()).map_err(|_| {
                        datafusion::error::DataFusionError::Execution(
                            "a partition-key component is longer than 65535 bytes".into(),
                        )
                    })?;
                    key.extend_from_slice(&len.to_be_bytes());
                    key.extend_from_slice(&component);
                    key.push(0);
                }
            }
            out.append_value(murmur3_token(&key));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn encodable(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Boolean
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::FixedSizeBinary(16)
            | DataType::Date32
            | DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, _)
            | DataType::Null
    )
}

/// A value's CQL serialization.
fn encode(value: &ScalarValue, out: &mut Vec<u8>) -> Result<()> {
    match value {
        ScalarValue::Int8(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Int16(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Int32(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Int64(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Float32(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Float64(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        ScalarValue::Boolean(Some(v)) => out.push(u8::from(*v)),
        ScalarValue::Utf8(Some(v))
        | ScalarValue::Utf8View(Some(v))
        | ScalarValue::LargeUtf8(Some(v)) => out.extend_from_slice(v.as_bytes()),
        ScalarValue::Binary(Some(v)) | ScalarValue::FixedSizeBinary(16, Some(v)) => {
            out.extend_from_slice(v)
        }
        ScalarValue::Date32(Some(days)) => {
            let raw = (i64::from(*days) + (1i64 << 31)) as u32;
            out.extend_from_slice(&raw.to_be_bytes())
        }
        ScalarValue::TimestampMillisecond(Some(ms), _) => out.extend_from_slice(&ms.to_be_bytes()),
        other => return not_impl_err!("token() of {other:?}"),
    }
    Ok(())
}

/// Cassandra's `Murmur3Partitioner.getToken`: the first half of
/// MurmurHash3 x64/128 (seed 0), with Cassandra's sign-extension of tail
/// bytes, and `i64::MIN` mapped to `i64::MAX`.
pub fn murmur3_token(key: &[u8]) -> i64 {
    let h1 = cassandra_murmur3_x64_128(key)[0];
    if h1 == i64::MIN {
        i64::MAX
    } else {
        h1
    }
}

fn cassandra_murmur3_x64_128(key: &[u8]) -> [i64; 2] {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let len = key.len();
    let mut h1: u64 = 0;
    let mut h2: u64 = 0;

    let blocks = len / 16;
    for i in 0..blocks {
        let block = &key[i * 16..i * 16 + 16];
        let mut k1 = u64::from_le_bytes(block[..8].try_into().unwrap_or_default());
        let mut k2 = u64::from_le_bytes(block[8..].try_into().unwrap_or_default());

        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);

        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    // Cassandra reads tail bytes as signed Java bytes and sign-extends them.
    let tail = &key[blocks * 16..];
    let byte = |i: usize| tail[i] as i8 as i64 as u64;
    let mut k1: u64 = 0;
    let mut k2: u64 = 0;
    for i in (8..tail.len()).rev() {
        k2 ^= byte(i) << ((i - 8) * 8);
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    for i in (0..tail.len().min(8)).rev() {
        k1 ^= byte(i) << (i * 8);
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }

    h1 ^= len as u64;
    h2 ^= len as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    [h1 as i64, h2 as i64]
}

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_key_is_zero() {
        // All-zero state stays zero through fmix.
        assert_eq!(murmur3_token(&[]), 0);
    }

    #[test]
    fn tokens_spread_and_are_stable() {
        let a = murmur3_token(&1i32.to_be_bytes());
        let b = murmur3_token(&2i32.to_be_bytes());
        assert_ne!(a, b);
        assert_eq!(a, murmur3_token(&1i32.to_be_bytes()));
        // Keys longer than one block exercise the block loop.
        let long = murmur3_token(b"a key longer than sixteen bytes, with a tail");
        assert_ne!(long, 0);
    }
}
