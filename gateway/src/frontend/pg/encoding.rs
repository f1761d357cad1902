//! Query results in Postgres's own types.
//!
//! arrow-pg encodes most Arrow columns. smackql encodes the ones where
//! Postgres has a better type than arrow-pg picks, or where arrow-pg would
//! fail or lose digits:
//!
//! | Arrow column                                  | Postgres type          |
//! |-----------------------------------------------|------------------------|
//! | `FixedSizeBinary(16)` (extension `arrow.uuid` or none) | `uuid`        |
//! | list of such UUIDs                            | `uuid[]`               |
//! | any decimal (all 38 or 76 digits kept)        | `numeric`              |
//! | list of decimals                              | `numeric[]`            |
//! | Cassandra `inet` (text in Arrow)              | `inet`                 |
//! | map, or a list or struct holding one of the above | `json`             |
//!
//! Both the text and the binary result formats are produced, so drivers
//! that ask for binary results (JDBC, asyncpg, tokio-postgres) decode the
//! same values as psql.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, DecimalType, Field,
    FieldRef, Schema, SchemaRef,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{
    make_encoder, Encoder as JsonEncoder, EncoderFactory, EncoderOptions, NullableEncoder,
};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::DataFrame;
use datafusion_postgres::arrow_pg::datatypes::field_into_pg_type;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse};
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::pgwire::types::ToSqlText;
use futures::{stream, StreamExt};
use postgres_types::{to_sql_checked, IsNull, ToSql};
use smackql_cassandra::types::{CQL_TYPE_METADATA, UUID_EXTENSION};

type BoxError = Box<dyn StdError + Sync + Send>;

mod plain;
mod rows;

use plain::PlainColumn;
use rows::RowWriter;

/// How one result column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// arrow-pg's encoding.
    ArrowPg,
    /// arrow-pg's types and values, for the common scalar types (see
    /// [`plain`]).
    Plain,
    Uuid,
    UuidArray,
    Numeric,
    NumericArray,
    Inet,
    Json,
    /// `int2vector` or `oidvector`: a list of integers marked with
    /// [`PG_VECTOR_METADATA`], sent as PostgreSQL sends the catalog's
    /// vectors (`1 2` as text).
    Vector(Vector),
}

/// Field metadata naming the PostgreSQL vector type (`int2vector`,
/// `oidvector`) a list column of `pg_catalog` is.
pub(crate) const PG_VECTOR_METADATA: &str = "smackql.pg_vector";

/// The catalog's vector types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vector {
    Int2,
    Oid,
}

impl Encoding {
    fn of(field: &Field) -> Self {
        if is_uuid(field) {
            return Self::Uuid;
        }
        match field.metadata().get(PG_VECTOR_METADATA).map(String::as_str) {
            Some("int2vector") => return Self::Vector(Vector::Int2),
            Some("oidvector") => return Self::Vector(Vector::Oid),
            _ => {}
        }
        match field.data_type() {
            dt if is_decimal(dt) => Self::Numeric,
            DataType::Utf8 if is_inet(field) => Self::Inet,
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
                if is_uuid(item) {
                    Self::UuidArray
                } else if is_decimal(item.data_type()) {
                    Self::NumericArray
                } else if needs_json(item) || is_list(item.data_type()) {
                    // PostgreSQL's arrays are rectangular; lists of lists
                    // need not be.
                    Self::Json
                } else {
                    Self::ArrowPg
                }
            }
            DataType::Map(..) => Self::Json,
            DataType::Struct(fields) if fields.iter().any(|f| needs_json(f)) => Self::Json,
            _ if plain::handles(field) => Self::Plain,
            _ => Self::ArrowPg,
        }
    }

    fn pg_type(self, field: &FieldRef) -> PgWireResult<Type> {
        Ok(match self {
            Self::ArrowPg | Self::Plain => field_into_pg_type(field)?,
            Self::Uuid => Type::UUID,
            Self::UuidArray => Type::UUID_ARRAY,
            Self::Numeric => Type::NUMERIC,
            Self::NumericArray => Type::NUMERIC_ARRAY,
            Self::Inet => Type::INET,
            Self::Json => Type::JSON,
            Self::Vector(Vector::Int2) => Type::INT2_VECTOR,
            Self::Vector(Vector::Oid) => Type::OID_VECTOR,
        })
    }
}

/// Cassandra's uuids carry the `arrow.uuid` extension; one computed in SQL
/// (`'…'::uuid`) does not. PostgreSQL has no other sixteen-byte type.
fn is_uuid(field: &Field) -> bool {
    field.data_type() == &DataType::FixedSizeBinary(16)
        && field
            .extension_type_name()
            .is_none_or(|name| name == UUID_EXTENSION)
}

fn is_inet(field: &Field) -> bool {
    field.metadata().get(CQL_TYPE_METADATA).map(String::as_str) == Some("inet")
}

fn is_list(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

fn is_decimal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

/// Whether a value nested in a list or struct needs more than arrow-pg's
/// arrays and records can carry.
fn needs_json(field: &Field) -> bool {
    if is_uuid(field) || is_decimal(field.data_type()) {
        return true;
    }
    match field.data_type() {
        DataType::Map(..) => true,
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            needs_json(item)
        }
        DataType::Struct(fields) => fields.iter().any(|f| needs_json(f)),
        _ => false,
    }
}

/// The row description of `schema`.
pub(crate) fn pg_fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(idx, field)| {
            let pg_type = Encoding::of(field).pg_type(field)?;
            let info = FieldInfo::new(
                field.name().clone(),
                None,
                None,
                pg_type,
                format.format_for(idx),
            );
            Ok(match &options {
                Some(options) => info.with_format_options(options.clone()),
                None => info,
            })
        })
        .collect()
}

/// The PostgreSQL type a column of `field` is sent as, which `pg_catalog`
/// reports as the column's type.
pub(crate) fn wire_type(field: &FieldRef) -> PgWireResult<Type> {
    Encoding::of(field).pg_type(field)
}

/// Runs `df` and streams its rows, one Arrow batch at a time; its columns
/// are described with `names` where given (see [`column_names`]).
///
/// [`column_names`]: super::column_names
pub(crate) async fn encode_dataframe(
    df: DataFrame,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
    names: Option<&[String]>,
) -> PgWireResult<QueryResponse> {
    let schema = super::column_names::renamed(df.schema().as_arrow(), names);
    let batches = df
        .execute_stream()
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    encode_stream(&schema, batches, format, options)
}

/// Streams the rows of `batches`, whose columns `schema` describes, one
/// Arrow batch at a time.
pub(crate) fn encode_stream(
    schema: &SchemaRef,
    batches: SendableRecordBatchStream,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(pg_fields(schema, format, options)?);
    let encodings: Arc<[Encoding]> = schema.fields().iter().map(|f| Encoding::of(f)).collect();
    let row_fields = fields.clone();
    let mut writer = RowWriter::new();
    let rows = batches
        .map(move |batch| {
            let rows = match batch {
                Ok(batch) => match encode_batch(&mut writer, &row_fields, &encodings, &batch) {
                    Ok(rows) => rows.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                },
                Err(e) => vec![Err(PgWireError::ApiError(Box::new(e)))],
            };
            stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(fields, rows))
}

fn encode_batch(
    encoder: &mut RowWriter,
    fields: &Arc<Vec<FieldInfo>>,
    encodings: &[Encoding],
    batch: &RecordBatch,
) -> PgWireResult<Vec<DataRow>> {
    let schema = batch.schema();
    let json = encodings
        .iter()
        .zip(schema.fields().iter().zip(batch.columns()))
        .map(|(encoding, (field, column))| match encoding {
            Encoding::Json => json_column(field, column).map(Some),
            _ => Ok(None),
        })
        .collect::<PgWireResult<Vec<_>>>()?;
    let plain = encodings
        .iter()
        .zip(batch.columns())
        .map(|(encoding, column)| match encoding {
            Encoding::Plain => PlainColumn::of(column.as_ref()),
            _ => Ok(None),
        })
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (col, column) in batch.columns().iter().enumerate() {
            let pg = &fields[col];
            if let Some(plain) = &plain[col] {
                plain.put(encoder, row, pg)?;
                continue;
            }
            match encodings[col] {
                // arrow-pg sends some NULLs (intervals) as zero values.
                Encoding::ArrowPg | Encoding::Plain if column.is_null(row) => {
                    encoder.put_binary(None)?
                }
                Encoding::ArrowPg | Encoding::Plain => {
                    encode_value(encoder, column, row, schema.field(col), pg)?
                }
                Encoding::Uuid => put(encoder, &uuid_at(column, row)?, pg)?,
                Encoding::UuidArray => put(encoder, &list_at(column, row, uuid_at)?, pg)?,
                Encoding::Numeric => put(encoder, &numeric_at(column, row)?, pg)?,
                Encoding::NumericArray => put(encoder, &list_at(column, row, numeric_at)?, pg)?,
                Encoding::Inet => put(encoder, &inet_at(column, row)?, pg)?,
                Encoding::Vector(_) => put(encoder, &vector_at(column, row)?, pg)?,
                Encoding::Json => {
                    let value = json[col].as_ref().and_then(|values| values[row].as_deref());
                    put(encoder, &value.map(Json), pg)?;
                }
            }
        }
        rows.push(encoder.finish_row());
    }
    Ok(rows)
}

fn put<T: ToSql + ToSqlText>(
    encoder: &mut RowWriter,
    value: &T,
    pg: &FieldInfo,
) -> PgWireResult<()> {
    encoder.put(value, pg.datatype(), pg.format(), pg.format_options())
}

fn unexpected(column: &dyn Array, wanted: &str) -> PgWireError {
    PgWireError::ApiError(Box::new(ArrowError::InvalidArgumentError(format!(
        "expected {wanted}, found a column of {}",
        column.data_type()
    ))))
}

fn uuid_at(column: &dyn Array, row: usize) -> PgWireResult<Option<Uuid>> {
    let array: &FixedSizeBinaryArray = column
        .as_fixed_size_binary_opt()
        .ok_or_else(|| unexpected(column, "16-byte UUIDs"))?;
    if array.is_null(row) {
        return Ok(None);
    }
    let bytes = array
        .value(row)
        .try_into()
        .map_err(|_| unexpected(column, "16-byte UUIDs"))?;
    Ok(Some(Uuid(bytes)))
}

fn numeric_at(column: &dyn Array, row: usize) -> PgWireResult<Option<Numeric>> {
    if column.is_null(row) {
        return Ok(None);
    }
    fn digits<T: DecimalType>(column: &dyn Array, row: usize) -> String
    where
        T::Native: fmt::Display,
    {
        column.as_primitive::<T>().value(row).to_string()
    }
    let (unscaled, scale) = match column.data_type() {
        DataType::Decimal32(_, s) => (digits::<Decimal32Type>(column, row), *s),
        DataType::Decimal64(_, s) => (digits::<Decimal64Type>(column, row), *s),
        DataType::Decimal128(_, s) => (digits::<Decimal128Type>(column, row), *s),
        DataType::Decimal256(_, s) => (digits::<Decimal256Type>(column, row), *s),
        _ => return Err(unexpected(column, "decimals")),
    };
    Ok(Some(Numeric::new(&unscaled, scale)))
}

fn inet_at(column: &dyn Array, row: usize) -> PgWireResult<Option<Inet>> {
    let array = column
        .as_string_opt::<i32>()
        .ok_or_else(|| unexpected(column, "addresses"))?;
    if array.is_null(row) {
        return Ok(None);
    }
    let text = array.value(row);
    let address = text.parse().map_err(|_| {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "22P02".into(),
            format!("invalid input syntax for type inet: \"{text}\""),
        )))
    })?;
    Ok(Some(Inet(address)))
}

/// The items of the list at `row`, each read by `item`, or `None` for a
/// null list.
fn list_at<T>(
    column: &dyn Array,
    row: usize,
    item: impl Fn(&dyn Array, usize) -> PgWireResult<Option<T>>,
) -> PgWireResult<Option<Vec<Option<T>>>> {
    if column.is_null(row) {
        return Ok(None);
    }
    let values = match column.data_type() {
        DataType::List(_) => column.as_list::<i32>().value(row),
        DataType::LargeList(_) => column.as_list::<i64>().value(row),
        DataType::FixedSizeList(..) => column.as_fixed_size_list().value(row),
        _ => return Err(unexpected(column, "lists")),
    };
    (0..values.len())
        .map(|i| item(values.as_ref(), i))
        .collect::<PgWireResult<Vec<_>>>()
        .map(Some)
}

/// A UUID: 16 bytes in binary, `8-4-4-4-12` hex digits in text.
#[derive(Debug)]
struct Uuid([u8; 16]);

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_char('-')?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl ToSql for Uuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }

    to_sql_checked!();
}

impl ToSqlText for Uuid {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut BytesMut,
        _: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        write!(out, "{self}")?;
        Ok(IsNull::No)
    }
}

/// An exact decimal: its digits and how many of them are fractional.
#[derive(Debug, PartialEq, Eq)]
struct Numeric {
    negative: bool,
    /// The integer part, without leading zeros (empty for zero).
    integer: String,
    /// The fractional part, exactly `scale` digits.
    fraction: String,
}

impl Numeric {
    /// The decimal `unscaled × 10^-scale`, from the unscaled value's digits.
    fn new(unscaled: &str, scale: i8) -> Self {
        let (negative, digits) = match unscaled.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, unscaled),
        };
        let mut digits = digits.to_string();
        let scale = match usize::try_from(scale) {
            Ok(scale) => scale,
            Err(_) => {
                // A negative scale multiplies by a power of ten.
                digits.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
                0
            }
        };
        if digits.len() < scale {
            digits.insert_str(0, &"0".repeat(scale - digits.len()));
        }
        let fraction = digits.split_off(digits.len() - scale);
        let integer = digits.trim_start_matches('0').to_string();
        let negative = negative && (integer.bytes().chain(fraction.bytes()).any(|d| d != b'0'));
        Self {
            negative,
            integer,
            fraction,
        }
    }

    /// Base-10000 digits and the weight of the first one, as Postgres's
    /// binary `numeric` stores them.
    fn base_10000(&self) -> (Vec<i16>, i16) {
        let pad = (4 - self.integer.len() % 4) % 4;
        let integer = format!("{}{}", "0".repeat(pad), self.integer);
        let pad = (4 - self.fraction.len() % 4) % 4;
        let fraction = format!("{}{}", self.fraction, "0".repeat(pad));
        let group = |chunk: &[u8]| {
            chunk
                .iter()
                .fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))
        };
        let mut digits: Vec<i16> = integer
            .as_bytes()
            .chunks(4)
            .chain(fraction.as_bytes().chunks(4))
            .map(group)
            .collect();
        // At most 77 digits: the weight always fits.
        let mut weight = i16::try_from(integer.len() / 4).unwrap_or(i16::MAX) - 1;
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        weight -= i16::try_from(leading).unwrap_or(0);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        (digits, weight)
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_char('-')?;
        }
        f.write_str(if self.integer.is_empty() {
            "0"
        } else {
            &self.integer
        })?;
        if !self.fraction.is_empty() {
            write!(f, ".{}", self.fraction)?;
        }
        Ok(())
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let (digits, weight) = self.base_10000();
        out.put_i16(i16::try_from(digits.len())?);
        out.put_i16(weight);
        out.put_u16(if self.negative { 0x4000 } else { 0 });
        out.put_u16(u16::try_from(self.fraction.len())?);
        for digit in digits {
            out.put_i16(digit);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl ToSqlText for Numeric {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut BytesMut,
        _: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        write!(out, "{self}")?;
        Ok(IsNull::No)
    }
}

/// An IP address, as Postgres `inet` without a netmask.
#[derive(Debug)]
struct Inet(IpAddr);

impl ToSql for Inet {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        // Family (PGSQL_AF_INET = 2, PGSQL_AF_INET6 = 3), netmask bits,
        // is-cidr, address length, address.
        match self.0 {
            IpAddr::V4(v4) => {
                out.put_slice(&[2, 32, 0, 4]);
                out.put_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.put_slice(&[3, 128, 0, 16]);
                out.put_slice(&v6.octets());
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INET
    }

    to_sql_checked!();
}

impl ToSqlText for Inet {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut BytesMut,
        _: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        write!(out, "{}", self.0)?;
        Ok(IsNull::No)
    }
}

/// The integers of list `column` at `row`, as a catalog vector.
fn vector_at(column: &dyn Array, row: usize) -> PgWireResult<Option<PgVector>> {
    if column.is_null(row) {
        return Ok(None);
    }
    let list = column
        .as_list_opt::<i32>()
        .ok_or_else(|| unexpected(column, "a list"))?;
    let items = datafusion::arrow::compute::cast(&list.value(row), &DataType::Int64)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let items = items.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    Ok(Some(PgVector(items.iter().flatten().collect())))
}

/// An `int2vector` or `oidvector`: space-separated in text, PostgreSQL's
/// one-dimensional array format in binary.
#[derive(Debug)]
struct PgVector(Vec<i64>);

impl ToSql for PgVector {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let (element, width) = if *ty == Type::OID_VECTOR {
            (Type::OID, 4)
        } else {
            (Type::INT2, 2)
        };
        // Dimensions, has-nulls, element type, then length and lower bound.
        out.put_i32(1);
        out.put_i32(0);
        out.put_u32(element.oid());
        out.put_i32(i32::try_from(self.0.len())?);
        out.put_i32(0);
        for value in &self.0 {
            out.put_i32(width);
            if width == 2 {
                out.put_i16(i16::try_from(*value)?);
            } else {
                out.put_u32(u32::try_from(*value)?);
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT2_VECTOR || *ty == Type::OID_VECTOR
    }

    to_sql_checked!();
}

impl ToSqlText for PgVector {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut BytesMut,
        _: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        let text: Vec<String> = self.0.iter().map(i64::to_string).collect();
        out.put_slice(text.join(" ").as_bytes());
        Ok(IsNull::No)
    }
}

/// A JSON document; `json` is sent as its text in both formats.
#[derive(Debug)]
struct Json<'a>(&'a str);

impl ToSql for Json<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }

    to_sql_checked!();
}

impl ToSqlText for Json<'_> {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut BytesMut,
        _: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

/// Every value of `column` as a JSON document: maps as objects (keys in
/// their text form), UUIDs as strings, decimals as exact numbers.
fn json_column(field: &FieldRef, column: &ArrayRef) -> PgWireResult<Vec<Option<String>>> {
    let options = EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(JsonValues));
    let mut encoder = make_encoder(field, column.as_ref(), &options)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let mut buffer = Vec::new();
    (0..column.len())
        .map(|row| {
            if column.is_null(row) {
                return Ok(None);
            }
            buffer.clear();
            encoder.encode(row, &mut buffer);
            String::from_utf8(buffer.clone())
                .map(Some)
                .map_err(|e| PgWireError::ApiError(Box::new(e)))
        })
        .collect()
}

/// arrow-json's encoders, plus UUIDs as strings and maps whose keys are not
/// text.
#[derive(Debug)]
struct JsonValues;

impl EncoderFactory for JsonValues {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        if is_uuid(field) {
            if let Some(uuids) = array.as_fixed_size_binary_opt() {
                let nulls = uuids.nulls().cloned();
                return Ok(Some(NullableEncoder::new(Box::new(UuidJson(uuids)), nulls)));
            }
        }
        if let (DataType::Map(entries, _), Some(map)) = (field.data_type(), array.as_map_opt()) {
            let DataType::Struct(kv) = entries.data_type() else {
                return Ok(None);
            };
            if kv.len() != 2 || matches!(kv[0].data_type(), DataType::Utf8 | DataType::LargeUtf8) {
                return Ok(None);
            }
            let encoder = MapJson {
                offsets: map.value_offsets(),
                keys: make_encoder(&kv[0], map.keys().as_ref(), options)?,
                values: make_encoder(&kv[1], map.values().as_ref(), options)?,
                key: Vec::new(),
            };
            return Ok(Some(NullableEncoder::new(
                Box::new(encoder),
                map.nulls().cloned(),
            )));
        }
        Ok(None)
    }
}

struct UuidJson<'a>(&'a FixedSizeBinaryArray);

impl JsonEncoder for UuidJson<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        match <[u8; 16]>::try_from(self.0.value(idx)) {
            Ok(bytes) => {
                let _ = write!(ByteSink(out), "\"{}\"", Uuid(bytes));
            }
            Err(_) => out.extend_from_slice(b"null"),
        }
    }
}

/// A map as a JSON object whose keys are the JSON text of the map keys.
struct MapJson<'a> {
    offsets: &'a [i32],
    keys: NullableEncoder<'a>,
    values: NullableEncoder<'a>,
    key: Vec<u8>,
}

impl JsonEncoder for MapJson<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let start = usize::try_from(self.offsets[idx]).unwrap_or(0);
        let end = usize::try_from(self.offsets[idx + 1]).unwrap_or(start);
        out.push(b'{');
        for entry in start..end {
            if entry > start {
                out.push(b',');
            }
            self.key.clear();
            self.keys.encode(entry, &mut self.key);
            if self.key.first() == Some(&b'"') {
                out.extend_from_slice(&self.key);
            } else {
                json_string(&String::from_utf8_lossy(&self.key), out);
            }
            out.push(b':');
            if self.values.is_null(entry) {
                out.extend_from_slice(b"null");
            } else {
                self.values.encode(entry, out);
            }
        }
        out.push(b'}');
    }
}

/// Appends `text` as a JSON string literal.
fn json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(ByteSink(out), "\\u{:04x}", u32::from(c));
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `fmt::Write` into a byte vector.
struct ByteSink<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{Decimal128Array, MapBuilder, StringBuilder};
    use datafusion::arrow::array::{FixedSizeBinaryBuilder, Int32Builder};

    use super::*;

    fn numeric_text(unscaled: &str, scale: i8) -> String {
        Numeric::new(unscaled, scale).to_string()
    }

    #[test]
    fn null_intervals_are_sent_as_null() {
        use datafusion::arrow::array::IntervalMonthDayNanoArray;
        use datafusion::arrow::datatypes::IntervalMonthDayNano;
        let column: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(vec![
            Some(IntervalMonthDayNano::new(1, 2, 3_000)),
            None,
        ]));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "d",
            column.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![column]).unwrap();
        for format in [Format::UnifiedText, Format::UnifiedBinary] {
            let fields = Arc::new(pg_fields(&schema, &format, None).unwrap());
            let encodings: Vec<Encoding> =
                schema.fields().iter().map(|f| Encoding::of(f)).collect();
            let rows = encode_batch(&mut RowWriter::new(), &fields, &encodings, &batch).unwrap();
            // A NULL is a field of length -1.
            assert_ne!(&rows[0].data[..4], &(-1i32).to_be_bytes(), "{format:?}");
            assert_eq!(&rows[1].data[..4], &(-1i32).to_be_bytes(), "{format:?}");
        }
    }

    #[test]
    fn numeric_text_keeps_every_digit() {
        assert_eq!(
            numeric_text("-123456789012345678901234567890123456", 0),
            "-123456789012345678901234567890123456"
        );
        assert_eq!(numeric_text("12345", 2), "123.45");
        assert_eq!(numeric_text("5", 3), "0.005");
        assert_eq!(numeric_text("-5", 3), "-0.005");
        assert_eq!(numeric_text("0", 2), "0.00");
        assert_eq!(numeric_text("-0", 0), "0");
        assert_eq!(numeric_text("12", -3), "12000");
    }

    #[test]
    fn numeric_binary_is_base_10000() {
        // 12345.678 = 1 2345 . 6780
        assert_eq!(
            Numeric::new("12345678", 3).base_10000(),
            (vec![1, 2345, 6780], 1)
        );
        // 0.0005 = 0 . 0005
        assert_eq!(Numeric::new("5", 4).base_10000(), (vec![5], -1));
        // 0.00000001: the first group is zero, so the weight drops by one.
        assert_eq!(Numeric::new("1", 8).base_10000(), (vec![1], -2));
        // 10000 = 1 0000: the trailing zero group is implied by the weight.
        assert_eq!(Numeric::new("10000", 0).base_10000(), (vec![1], 1));
        assert_eq!(Numeric::new("0", 5).base_10000(), (vec![], 0));
        let mut out = BytesMut::new();
        Numeric::new("-12345678", 3)
            .to_sql(&Type::NUMERIC, &mut out)
            .unwrap();
        assert_eq!(
            out.as_ref(),
            [0, 3, 0, 1, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
    }

    #[test]
    fn uuid_text_is_hyphenated() {
        let bytes = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ];
        assert_eq!(
            Uuid(bytes).to_string(),
            "123e4567-e89b-12d3-a456-426614174000"
        );
    }

    fn uuid_field(name: &str) -> Field {
        Field::new(name, DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([(
            "ARROW:extension:name".to_string(),
            UUID_EXTENSION.to_string(),
        )]))
    }

    #[test]
    fn encodings_follow_the_arrow_type() {
        let inet = Field::new("a", DataType::Utf8, true).with_metadata(HashMap::from([(
            CQL_TYPE_METADATA.to_string(),
            "inet".to_string(),
        )]));
        let uuids = Field::new_list("l", uuid_field("item"), true);
        let ints = Field::new_list("l", Field::new("item", DataType::Int32, true), true);
        let with_uuid = Field::new_struct("s", vec![uuid_field("id")], true);
        let record = Field::new_struct("s", vec![Field::new("x", DataType::Int32, true)], true);
        let cases = [
            (uuid_field("u"), Encoding::Uuid),
            // A uuid computed in SQL carries no extension.
            (
                Field::new("b", DataType::FixedSizeBinary(16), true),
                Encoding::Uuid,
            ),
            (
                Field::new("b", DataType::FixedSizeBinary(8), true),
                Encoding::ArrowPg,
            ),
            (
                Field::new("d", DataType::Decimal256(76, 0), true),
                Encoding::Numeric,
            ),
            (inet, Encoding::Inet),
            (Field::new("t", DataType::Utf8, true), Encoding::Plain),
            (Field::new("i", DataType::Int8, true), Encoding::Plain),
            (Field::new("u", DataType::UInt8, true), Encoding::ArrowPg),
            (uuids, Encoding::UuidArray),
            (ints, Encoding::ArrowPg),
            (with_uuid, Encoding::Json),
            (record, Encoding::ArrowPg),
        ];
        for (field, expected) in cases {
            assert_eq!(Encoding::of(&field), expected, "{field}");
        }
    }

    #[test]
    fn maps_and_uuids_become_json() {
        let mut map = MapBuilder::new(None, Int32Builder::new(), StringBuilder::new());
        map.keys().append_value(1);
        map.values().append_value("one \"1\"");
        map.keys().append_value(2);
        map.values().append_null();
        map.append(true).unwrap();
        map.append(false).unwrap();
        let map: ArrayRef = Arc::new(map.finish());
        let field = Arc::new(Field::new("m", map.data_type().clone(), true));
        assert_eq!(
            json_column(&field, &map).unwrap(),
            vec![Some(r#"{"1":"one \"1\"","2":null}"#.to_string()), None]
        );

        let mut uuids = FixedSizeBinaryBuilder::new(16);
        uuids.append_value([0xab; 16]).unwrap();
        let uuids: ArrayRef = Arc::new(uuids.finish());
        let decimals: ArrayRef = Arc::new(
            Decimal128Array::from(vec![12_345_678_901_234_567_890_123_456_789_012_345_678])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        let fields = vec![
            Arc::new(uuid_field("id")),
            Arc::new(Field::new("d", decimals.data_type().clone(), true)),
        ];
        let row: ArrayRef = Arc::new(datafusion::arrow::array::StructArray::new(
            fields.clone().into(),
            vec![uuids, decimals],
            None,
        ));
        let field = Arc::new(Field::new("s", row.data_type().clone(), true));
        assert_eq!(
            json_column(&field, &row).unwrap(),
            vec![Some(format!(
                r#"{{"id":"{}","d":123456789012345678901234567890123456.78}}"#,
                Uuid([0xab; 16])
            ))]
        );
    }
}
