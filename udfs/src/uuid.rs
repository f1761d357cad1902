//! uuids written as text, as PostgreSQL reads them.
//!
//! A uuid column is `FixedSizeBinary(16)` (its sixteen bytes), and Arrow has
//! no cast from text to it. So, without help, `WHERE user_id = '6f1c…'`,
//! `'6f1c…'::uuid` and `INSERT … SELECT '6f1c…'` all fail to plan. This
//! module gives them PostgreSQL's meaning:
//!
//! - [`ToUuid`], the function `to_uuid(text)`: a string in any form
//!   PostgreSQL's `uuid` input accepts (hex digits, a hyphen after any group
//!   of four, optional braces, either case) becomes the uuid's bytes. Any
//!   other string is an error that quotes it, never a null.
//! - [`UuidText`], the function `uuid_text(uuid)`: the canonical text of a
//!   uuid (lower-case, hyphenated).
//! - [`UuidTypePlanner`]: the SQL type `uuid` is `FixedSizeBinary(16)`, so
//!   `CAST(x AS uuid)` and `x::uuid` plan.
//! - [`UuidTextCoercion`], an analyzer rule that runs before type coercion:
//!   a cast of text to a uuid becomes `to_uuid` (`try_to_uuid`, NULL for
//!   text that is no uuid, for `TRY_CAST`), a cast of a uuid to text
//!   `uuid_text`, and text compared with a
//!   uuid (`=`, `<>`, `<`, …, `IN`, `BETWEEN`) is read as a uuid. Literals
//!   are converted once, while planning, so a uuid literal still reaches
//!   partition-key pushdown as a constant.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::{InList, ScalarFunction};
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TryCast, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::DataType as SqlType;

/// The Arrow type of a uuid.
pub const UUID: DataType = DataType::FixedSizeBinary(16);

/// The bytes of the uuid `text` spells, in PostgreSQL's input forms.
pub fn parse_uuid(text: &str) -> Result<[u8; 16], ArrowError> {
    let invalid = || {
        ArrowError::ParseError(format!(
            "invalid input syntax for type uuid: \"{}\"",
            text.escape_default()
        ))
    };
    let digits = match text.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(invalid)?,
        None => text,
    };
    let mut bytes = [0u8; 16];
    let mut count = 0usize;
    let mut chars = digits.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            // Only between two groups of four digits.
            let between = count > 0 && count.is_multiple_of(4) && count < 32;
            if !between || chars.peek().is_none_or(|next| *next == '-') {
                return Err(invalid());
            }
            continue;
        }
        let digit = c.to_digit(16).ok_or_else(invalid)? as u8;
        let byte = bytes.get_mut(count / 2).ok_or_else(invalid)?;
        *byte = (*byte << 4) | digit;
        count += 1;
    }
    if count == 32 {
        Ok(bytes)
    } else {
        Err(invalid())
    }
}

/// The canonical text of a uuid: lower-case, hyphenated.
pub fn format_uuid(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// `uuid_text(uuid)`: the canonical text of a uuid.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UuidText {
    signature: Signature,
}

impl Default for UuidText {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![UUID], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UuidText {
    fn name(&self) -> &str {
        "uuid_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(
                "uuid_text takes one argument".to_string(),
            ));
        };
        let array = arg.to_array(args.number_rows)?;
        let Some(uuids) = array.as_fixed_size_binary_opt() else {
            return Err(DataFusionError::Plan(format!(
                "uuid_text takes a uuid, not {}",
                array.data_type()
            )));
        };
        let text: StringArray = uuids.iter().map(|v| v.map(format_uuid)).collect();
        Ok(match arg {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&text, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(text)),
        })
    }
}

/// `to_uuid(text)`: the uuid a string spells. Its lenient form,
/// `try_to_uuid(text)`, which `TRY_CAST(x AS uuid)` calls, is NULL where
/// the string is no uuid.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToUuid {
    signature: Signature,
    lenient: bool,
}

impl Default for ToUuid {
    fn default() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable),
            lenient: false,
        }
    }
}

impl ToUuid {
    /// `try_to_uuid`: NULL for a string that is no uuid.
    pub fn lenient() -> Self {
        Self {
            lenient: true,
            ..Self::default()
        }
    }

    /// The uuid `text` spells; for the lenient form, none when it is no
    /// uuid.
    fn parse(&self, text: &str) -> Result<Option<[u8; 16]>, ArrowError> {
        match parse_uuid(text) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) if self.lenient => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl ScalarUDFImpl for ToUuid {
    fn name(&self) -> &str {
        if self.lenient {
            "try_to_uuid"
        } else {
            "to_uuid"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(UUID)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(
                "to_uuid takes one argument".to_string(),
            ));
        };
        match arg {
            ColumnarValue::Scalar(value) => Ok(ColumnarValue::Scalar(self.scalar(value)?)),
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(Arc::new(self.read(array)?))),
        }
    }
}

impl ToUuid {
    /// The uuids the strings of `text` spell (any string type), NULL for
    /// NULL; an error for one that is no uuid (NULL for the lenient form).
    pub fn read(&self, text: &ArrayRef) -> Result<FixedSizeBinaryArray> {
        let text = cast(text, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut out = FixedSizeBinaryBuilder::with_capacity(text.len(), 16);
        for value in text.iter() {
            match value.map(|v| self.parse(v)).transpose()?.flatten() {
                Some(bytes) => out.append_value(bytes)?,
                None => out.append_null(),
            }
        }
        Ok(out.finish())
    }

    /// The uuid a string scalar spells, as a scalar.
    fn scalar(&self, value: &ScalarValue) -> Result<ScalarValue> {
        let text = match value {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => v,
            ScalarValue::Null => &None,
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{} takes text, not {}",
                    self.name(),
                    other.data_type()
                )))
            }
        };
        let bytes = text
            .as_deref()
            .map(|text| self.parse(text))
            .transpose()?
            .flatten()
            .map(|bytes| bytes.to_vec());
        Ok(ScalarValue::FixedSizeBinary(16, bytes))
    }
}

/// Plans the SQL type `uuid`, and asks `inner` about every other type.
#[derive(Debug)]
pub struct UuidTypePlanner {
    inner: Option<Arc<dyn TypePlanner>>,
}

impl UuidTypePlanner {
    /// A planner that knows `uuid`, in front of the session's own.
    pub fn new(inner: Option<Arc<dyn TypePlanner>>) -> Self {
        Self { inner }
    }
}

impl TypePlanner for UuidTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        if matches!(sql_type, SqlType::Uuid) {
            // No extension metadata on a cast's target: the logical and
            // physical layers would disagree on the field.
            return Ok(Some(Arc::new(Field::new("", UUID, true))));
        }
        match &self.inner {
            Some(inner) => inner.plan_type_field(sql_type),
            None => Ok(None),
        }
    }
}

/// Reads text as a uuid where a uuid is expected. Add it before the
/// analyzer's type coercion, which would refuse these expressions.
#[derive(Debug)]
pub struct UuidTextCoercion {
    to_uuid: Arc<ScalarUDF>,
    try_to_uuid: Arc<ScalarUDF>,
    uuid_text: Arc<ScalarUDF>,
}

impl Default for UuidTextCoercion {
    fn default() -> Self {
        Self {
            to_uuid: Arc::new(ScalarUDF::new_from_impl(ToUuid::default())),
            try_to_uuid: Arc::new(ScalarUDF::new_from_impl(ToUuid::lenient())),
            uuid_text: Arc::new(ScalarUDF::new_from_impl(UuidText::default())),
        }
    }
}

impl AnalyzerRule for UuidTextCoercion {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        Ok(plan
            .transform_up_with_subqueries(|plan| self.rewrite_plan(plan))?
            .data)
    }

    fn name(&self) -> &str {
        "uuid_text_coercion"
    }
}

impl UuidTextCoercion {
    fn rewrite_plan(&self, plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        let mut schema = merge_schema(&plan.inputs());
        if let LogicalPlan::TableScan(scan) = &plan {
            schema.merge(scan.projected_schema.as_ref());
        }
        // An output keeps the name it had (`id::text` stays `id`), so the
        // nodes above it still find it. Filters, joins and the like have no
        // outputs of their own.
        let has_outputs = !matches!(
            plan,
            LogicalPlan::Filter(_)
                | LogicalPlan::Join(_)
                | LogicalPlan::TableScan(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::Statement(_)
        );
        let rewritten = plan.map_expressions(|expr| {
            let name = match &expr {
                Expr::Alias(_) => None,
                _ if has_outputs => Some(match expr.to_field(&schema) {
                    Ok((relation, field)) => (relation, field.name().clone()),
                    Err(_) => expr.qualified_name(),
                }),
                _ => None,
            };
            let rewritten = expr.transform_up(|expr| self.rewrite_expr(expr, &schema))?;
            Ok(match name {
                Some((relation, name)) if rewritten.transformed => {
                    rewritten.update_data(|expr| expr.alias_qualified(relation, name))
                }
                _ => rewritten,
            })
        })?;
        if rewritten.transformed {
            rewritten.map_data(|plan| plan.recompute_schema())
        } else {
            Ok(rewritten)
        }
    }

    fn rewrite_expr(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let is_uuid = |e: &Expr| matches!(e.get_type(schema), Ok(t) if t == UUID);
        let is_text = |e: &Expr| {
            matches!(
                e.get_type(schema),
                Ok(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            )
        };
        let to_uuid = |e: Expr| self.to_uuid(e);
        let is_text_type =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        Ok(match expr {
            Expr::Cast(Cast { expr, field }) if *field.data_type() == UUID && is_text(&expr) => {
                Transformed::yes(to_uuid(*expr)?)
            }
            Expr::TryCast(TryCast { expr, field })
                if *field.data_type() == UUID && is_text(&expr) =>
            {
                Transformed::yes(self.try_to_uuid(*expr)?)
            }
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
                if is_uuid(&expr) && is_text_type(field.data_type()) =>
            {
                let text = Expr::ScalarFunction(ScalarFunction::new_udf(
                    Arc::clone(&self.uuid_text),
                    vec![*expr],
                ));
                Transformed::yes(text.cast_to(field.data_type(), schema)?)
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
                if is_uuid(&left) && is_text(&right) {
                    Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        left,
                        op,
                        Box::new(to_uuid(*right)?),
                    )))
                } else if is_text(&left) && is_uuid(&right) {
                    Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        Box::new(to_uuid(*left)?),
                        op,
                        right,
                    )))
                } else {
                    Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))
                }
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) if is_uuid(&expr) && list.iter().any(is_text) => {
                let list = list
                    .into_iter()
                    .map(|item| {
                        if is_text(&item) {
                            to_uuid(item)
                        } else {
                            Ok(item)
                        }
                    })
                    .collect::<Result<_>>()?;
                Transformed::yes(Expr::InList(InList::new(expr, list, negated)))
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) if is_uuid(&expr) && (is_text(&low) || is_text(&high)) => {
                let bound = |e: Box<Expr>| -> Result<Box<Expr>> {
                    Ok(Box::new(if is_text(&e) { to_uuid(*e)? } else { *e }))
                };
                Transformed::yes(Expr::Between(Between::new(
                    expr,
                    negated,
                    bound(low)?,
                    bound(high)?,
                )))
            }
            other => Transformed::no(other),
        })
    }

    /// `text` read as a uuid: converted now if it is a constant.
    fn to_uuid(&self, text: Expr) -> Result<Expr> {
        Self::call(&self.to_uuid, ToUuid::default(), text)
    }

    /// `text` read leniently: NULL where it is no uuid.
    fn try_to_uuid(&self, text: Expr) -> Result<Expr> {
        Self::call(&self.try_to_uuid, ToUuid::lenient(), text)
    }

    /// `function(text)`; a literal is read once, here.
    fn call(function: &Arc<ScalarUDF>, reader: ToUuid, text: Expr) -> Result<Expr> {
        match text {
            Expr::Literal(value, _) => Ok(Expr::Literal(reader.scalar(&value)?, None)),
            other => Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::clone(function),
                vec![other],
            ))),
        }
    }
}

/// Whether `op` compares its operands.
fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 16] = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];

    #[test]
    fn reads_every_form_postgresql_accepts() {
        for text in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        ] {
            assert_eq!(parse_uuid(text).unwrap(), BYTES, "{text}");
        }
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_uuid(&BYTES), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }

    #[test]
    fn refuses_anything_else() {
        for text in [
            "",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11é",
        ] {
            let err = parse_uuid(text).unwrap_err().to_string();
            assert!(
                err.contains("invalid input syntax for type uuid"),
                "{text}: {err}"
            );
        }
    }
}
