//! Statements as Flight SQL clients send them: `?` placeholders, parameter
//! values in Arrow batches, and tickets that name the query to run.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use prost::Message;

/// Rewrites the `?` placeholders of JDBC and ADBC into DataFusion's `$1`,
/// `$2`, ..., leaving quoted text, quoted identifiers and comments alone.
/// Statements written with `$n` pass unchanged.
pub(crate) fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut n = 0;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // A doubled quote inside is an escaped quote: the loop
                // leaves and re-enters the quoted text.
                for q in chars.by_ref() {
                    out.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = '\0';
                for q in chars.by_ref() {
                    out.push(q);
                    if prev == '*' && q == '/' {
                        break;
                    }
                    prev = q;
                }
            }
            '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The parameter values of row `row` of `batch`, each cast to the type the
/// statement expects at its position (where it says).
pub(crate) fn parameter_row(
    batch: &RecordBatch,
    row: usize,
    expected: &[Option<DataType>],
) -> Result<ParamValues, DataFusionError> {
    if batch.num_columns() != expected.len() {
        return Err(DataFusionError::Plan(format!(
            "the statement has {} parameters, but {} values were bound",
            expected.len(),
            batch.num_columns()
        )));
    }
    let values = batch
        .columns()
        .iter()
        .zip(expected)
        .map(|(column, expected)| {
            let value = ScalarValue::try_from_array(column, row)?;
            match expected {
                Some(t) if value.data_type() != *t => bound_as(value, t),
                _ => Ok(value),
            }
        })
        .collect::<Result<Vec<_>, DataFusionError>>()?;
    Ok(ParamValues::List(
        values.into_iter().map(Into::into).collect(),
    ))
}

/// `value` as a parameter of type `wanted`: text read as a uuid (or a list
/// of them) as PostgreSQL reads it, anything else cast.
fn bound_as(value: ScalarValue, wanted: &DataType) -> Result<ScalarValue, DataFusionError> {
    let uuids = smackql_udfs::ToUuid::default();
    if *wanted == smackql_udfs::UUID {
        return ScalarValue::try_from_array(&uuids.read(&value.to_array()?)?, 0);
    }
    match wanted {
        DataType::List(item) if *item.data_type() == smackql_udfs::UUID => {
            let ScalarValue::List(list) =
                value.cast_to(&DataType::new_list(DataType::Utf8, true))?
            else {
                return Err(DataFusionError::Plan(
                    "a uuid[] parameter must be a list".into(),
                ));
            };
            let items = uuids.read(list.values())?;
            let list = ListArray::try_new(
                item.clone(),
                list.offsets().clone(),
                Arc::new(items),
                list.nulls().cloned(),
            )?;
            Ok(ScalarValue::List(Arc::new(list)))
        }
        _ => value.cast_to(wanted),
    }
}

/// The schema of a prepared statement's parameters, `$1`, `$2`, ...; a
/// parameter whose type the statement does not fix is `Null` (any value).
pub(crate) fn parameter_schema(types: &[Option<DataType>]) -> Schema {
    Schema::new(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Field::new(
                    format!("${}", i + 1),
                    t.clone().unwrap_or(DataType::Null),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// What a ticket names: a query id (for cancellation and split plans) and
/// either SQL text or a prepared statement's handle.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TicketBody {
    /// Unique per `GetFlightInfo`.
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) query_id: Vec<u8>,
    /// The statement, when it is not prepared.
    #[prost(string, tag = "2")]
    pub(crate) sql: String,
    /// The prepared statement's handle, when it is.
    #[prost(bytes = "vec", tag = "3")]
    pub(crate) prepared: Vec<u8>,
    /// The output partition to read, when the query is split into one
    /// endpoint per partition.
    #[prost(uint32, optional, tag = "4")]
    pub(crate) partition: Option<u32>,
}

/// The schema results are sent in: view types become their plain
/// equivalents, which every client reads (the Flight SQL JDBC driver reads
/// no view types).
pub(crate) fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| match plain_type(f.data_type()) {
            Some(t) => Arc::new(f.as_ref().clone().with_data_type(t)),
            None => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` in the `wire` schema made by [`wire_schema`].
pub(crate) fn to_wire(batch: RecordBatch, wire: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == wire.fields() {
        return RecordBatch::try_new(wire.clone(), batch.columns().to_vec());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(wire.fields())
        .map(|(column, field)| -> Result<ArrayRef, ArrowError> {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column.as_ref(), field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(wire.clone(), columns)
}

fn plain_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        DataType::ListView(f) => Some(DataType::List(f.clone())),
        DataType::LargeListView(f) => Some(DataType::LargeList(f.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StringViewArray};

    #[test]
    fn numbers_placeholders_outside_quotes_and_comments() {
        assert_eq!(
            number_placeholders("select * from t where a = ? and b > ?"),
            "select * from t where a = $1 and b > $2"
        );
        assert_eq!(
            number_placeholders("select '?', \"q?\", 'it''s ?' -- ?\n, ? /* ? */ from t"),
            "select '?', \"q?\", 'it''s ?' -- ?\n, $1 /* ? */ from t"
        );
        assert_eq!(number_placeholders("select $1"), "select $1");
    }

    #[test]
    fn binds_and_casts_parameters() {
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
            ("b", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
        ])
        .unwrap();
        let params = parameter_row(&batch, 1, &[Some(DataType::Int32), None]).unwrap();
        let ParamValues::List(values) = params else {
            panic!("positional")
        };
        assert_eq!(values[0].value(), &ScalarValue::Int32(Some(8)));
        assert_eq!(values[1].value(), &ScalarValue::Utf8(Some("y".into())));
        assert!(parameter_row(&batch, 0, &[None]).is_err());
    }

    #[test]
    fn view_types_go_out_plain() {
        let batch = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringViewArray::from(vec!["a", "b"])) as ArrayRef,
        )])
        .unwrap();
        let wire = wire_schema(&batch.schema());
        assert_eq!(wire.field(0).data_type(), &DataType::Utf8);
        let out = to_wire(batch, &wire).unwrap();
        assert_eq!(out.column(0).data_type(), &DataType::Utf8);
        assert_eq!(out.num_rows(), 2);
    }

    #[test]
    fn tickets_round_trip() {
        let body = TicketBody {
            query_id: vec![1, 2],
            sql: "select 1".into(),
            prepared: vec![],
            partition: Some(3),
        };
        let bytes = body.encode_to_vec();
        assert_eq!(TicketBody::decode(bytes.as_slice()).unwrap(), body);
    }
}
