//! HyperLogLog sketches of distinct values, mergeable and storable.
//!
//! A sketch is `2^PRECISION` one-byte registers after a two-byte header
//! (format version, precision): 4 KiB, with a standard error of about 1.6%.
//! Values are hashed with the 64-bit Murmur3 Cassandra uses for tokens,
//! after being brought to one representation per kind of value (every
//! integer as a 64-bit integer, every float as a double, text and bytes as
//! their bytes, anything else as its text), so the same value counts once
//! whatever the width of the column it came from, in every process and
//! version that reads the stored sketch.
//!
//! - `hll_sketch(x)` (aggregate): the sketch of the values of `x`.
//! - `hll_union(sketch)` (aggregate): the union of sketches.
//! - `hll_merge(a, b)` (scalar): the union of two sketches; either may be null.
//! - `hll_cardinality(sketch)` (scalar): the estimated number of distinct values.

mod cardinality;
mod merge;
mod sketch_agg;
mod union_agg;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{exec_err, Result};

use crate::token::murmur3_token;

pub use cardinality::HllCardinality;
pub use merge::HllMerge;
pub use sketch_agg::HllSketch;
pub use union_agg::HllUnion;

/// Registers: `2^PRECISION`.
const PRECISION: u8 = 12;
const REGISTERS: usize = 1 << PRECISION;
const VERSION: u8 = 1;
const HEADER: usize = 2;

/// One HyperLogLog sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll {
    registers: Vec<u8>,
}

impl Default for Hll {
    fn default() -> Self {
        Self {
            registers: vec![0; REGISTERS],
        }
    }
}

impl Hll {
    /// Counts a value by its 64-bit hash.
    pub fn add_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        let rest = hash << PRECISION;
        // The position of the first 1 bit in the remaining bits, from 1;
        // all zeros count as one past the last.
        let rank = (rest.leading_zeros() as u8).min(64 - PRECISION) + 1;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    /// Counts every non-null value of `values`.
    pub fn add_array(&mut self, values: &ArrayRef) -> Result<()> {
        let values = canonical(values)?;
        let hash = |bytes: &[u8]| murmur3_token(bytes) as u64;
        match values.data_type() {
            DataType::Int64 => {
                for v in values.as_primitive::<Int64Type>().iter().flatten() {
                    self.add_hash(hash(&v.to_le_bytes()));
                }
            }
            DataType::UInt64 => {
                for v in values.as_primitive::<UInt64Type>().iter().flatten() {
                    self.add_hash(hash(&v.to_le_bytes()));
                }
            }
            DataType::Float64 => {
                for v in values.as_primitive::<Float64Type>().iter().flatten() {
                    self.add_hash(hash(&v.to_bits().to_le_bytes()));
                }
            }
            DataType::Utf8 => {
                for v in values.as_string::<i32>().iter().flatten() {
                    self.add_hash(hash(v.as_bytes()));
                }
            }
            DataType::Binary => {
                for v in values.as_binary::<i32>().iter().flatten() {
                    self.add_hash(hash(v));
                }
            }
            other => return exec_err!("cannot sketch values of type {other}"),
        }
        Ok(())
    }

    /// Adds `other`'s values to this sketch.
    pub fn merge(&mut self, other: &Hll) {
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// The estimated number of distinct values counted.
    pub fn estimate(&self) -> u64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|r| 2f64.powi(-i32::from(*r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            // Few values: linear counting is more accurate.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER + REGISTERS);
        bytes.push(VERSION);
        bytes.push(PRECISION);
        bytes.extend_from_slice(&self.registers);
        bytes
    }

    /// Reads a stored sketch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [VERSION, PRECISION, registers @ ..] if registers.len() == REGISTERS => Ok(Self {
                registers: registers.to_vec(),
            }),
            _ => exec_err!(
                "not a HyperLogLog sketch of this version ({} bytes); sketches come from hll_sketch()",
                bytes.len()
            ),
        }
    }
}

/// `values` in the one representation its kind of value is hashed in.
fn canonical(values: &ArrayRef) -> Result<ArrayRef> {
    let target = match values.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => DataType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => DataType::Int64,
        DataType::UInt64 => DataType::UInt64,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => DataType::Binary,
        _ => DataType::Utf8,
    };
    if values.data_type() == &target {
        return Ok(Arc::clone(values));
    }
    Ok(cast(values, &target)?)
}

/// Each sketch of a Binary array (nulls as `None`).
fn sketches(array: &ArrayRef) -> Result<Vec<Option<Hll>>> {
    let array = cast(array, &DataType::Binary)?;
    array
        .as_binary::<i32>()
        .iter()
        .map(|bytes| bytes.map(Hll::from_bytes).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, Int64Array, StringArray};

    #[test]
    fn estimates_within_the_error_bound_and_merges_exactly() {
        let mut a = Hll::default();
        let mut b = Hll::default();
        let first: ArrayRef = Arc::new(Int64Array::from_iter_values(0..60_000));
        let second: ArrayRef = Arc::new(Int64Array::from_iter_values(40_000..100_000));
        a.add_array(&first).unwrap();
        b.add_array(&second).unwrap();
        let mut both = a.clone();
        both.merge(&b);
        let estimate = both.estimate() as f64;
        assert!(
            (estimate - 100_000.0).abs() / 100_000.0 < 0.05,
            "{estimate}"
        );
        // Merging is the same as sketching everything at once.
        let mut all = Hll::default();
        let everything: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
        all.add_array(&everything).unwrap();
        assert_eq!(all, both);
        assert_eq!(Hll::from_bytes(&both.to_bytes()).unwrap(), both);
    }

    #[test]
    fn a_value_counts_once_whatever_its_width() {
        let mut a = Hll::default();
        a.add_array(&(Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef))
            .unwrap();
        let mut b = Hll::default();
        b.add_array(&(Arc::new(Int64Array::from(vec![3, 2, 1, 1])) as ArrayRef))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.estimate(), 3);
        let mut s = Hll::default();
        s.add_array(&(Arc::new(StringArray::from(vec![Some("x"), None, Some("y")])) as ArrayRef))
            .unwrap();
        assert_eq!(s.estimate(), 2);
        assert!(Hll::from_bytes(b"junk").is_err());
    }
}
