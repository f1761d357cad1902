//! `hll_cardinality(sketch)`: the estimated number of distinct values a
//! HyperLogLog sketch counted.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::sketches;

/// The `hll_cardinality` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllCardinality {
    signature: Signature,
}

impl Default for HllCardinality {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HllCardinality {
    fn name(&self) -> &str {
        "hll_cardinality"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [sketch] = args.args.as_slice() else {
            return exec_err!("hll_cardinality() takes one sketch");
        };
        let mut out = Int64Builder::new();
        for sketch in sketches(&sketch.to_array(args.number_rows)?)? {
            out.append_option(sketch.map(|s| i64::try_from(s.estimate()).unwrap_or(i64::MAX)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
