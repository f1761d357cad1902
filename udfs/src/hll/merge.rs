//! `hll_merge(a, b)`: the union of two HyperLogLog sketches. A null side is
//! an empty sketch; both null give null.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::sketches;

/// The `hll_merge` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllMerge {
    signature: Signature,
}

impl Default for HllMerge {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HllMerge {
    fn name(&self) -> &str {
        "hll_merge"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("hll_merge() takes two sketches");
        };
        let rows = args.number_rows;
        let a = sketches(&a.to_array(rows)?)?;
        let b = sketches(&b.to_array(rows)?)?;
        let mut out = BinaryBuilder::new();
        for (a, b) in a.into_iter().zip(b) {
            match (a, b) {
                (Some(mut a), Some(b)) => {
                    a.merge(&b);
                    out.append_value(a.to_bytes());
                }
                (Some(one), None) | (None, Some(one)) => out.append_value(one.to_bytes()),
                (None, None) => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
