//! PostgreSQL functions that clients call in their catalog queries and
//! that `datafusion-pg-catalog` does not register: psql's `\d`, `\df` and
//! `\d+`, SQLAlchemy's reflection, asyncpg's type introspection.
//!
//! Each answers what PostgreSQL answers for smackql's objects: nothing in
//! smackql has a comment, a serial column or a search-path-hidden function,
//! so those return NULL or true; settings come from the session.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int16Builder, Int32Array, Int32Builder, ListBuilder,
    StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{exec_err, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::has_privilege_udf::create_has_privilege_udf;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::pgwire::types::FromSqlText;

use crate::session::{server_version, PG_COMPAT_VERSION};

/// A configuration parameter neither PostgreSQL's fixed ones nor a session
/// setting; SQLSTATE 42704, as PostgreSQL reports it.
#[derive(Debug, thiserror::Error)]
#[error("unrecognized configuration parameter \"{0}\"")]
pub struct UnrecognizedSetting(pub String);

/// Registers the functions on `ctx`.
pub fn register(ctx: &SessionContext) {
    let any = |counts: &[usize]| {
        TypeSignature::OneOf(counts.iter().map(|n| TypeSignature::Any(*n)).collect())
    };
    let functions = [
        // Every object smackql has is on the search path.
        Compat::new(
            "pg_function_is_visible",
            any(&[1]),
            DataType::Boolean,
            always_true,
        ),
        Compat::new(
            "pg_type_is_visible",
            any(&[1]),
            DataType::Boolean,
            always_true,
        ),
        Compat::new(
            "pg_collation_is_visible",
            any(&[1]),
            DataType::Boolean,
            always_true,
        ),
        // Nothing has a comment or a sequence.
        Compat::new("col_description", any(&[2]), DataType::Utf8, null_text),
        Compat::new("obj_description", any(&[1, 2]), DataType::Utf8, null_text),
        Compat::new("shobj_description", any(&[2]), DataType::Utf8, null_text),
        Compat::new(
            "pg_get_serial_sequence",
            any(&[2]),
            DataType::Utf8,
            null_text,
        ),
        // Only PostgreSQL's built-in functions are in pg_proc, and psql's
        // `\df` lists none of them unless asked by schema; their
        // signatures are not described.
        Compat::new(
            "pg_get_function_result",
            any(&[1]),
            DataType::Utf8,
            null_text,
        ),
        Compat::new(
            "pg_get_function_arguments",
            any(&[1]),
            DataType::Utf8,
            null_text,
        ),
        Compat::new(
            "pg_get_function_identity_arguments",
            any(&[1]),
            DataType::Utf8,
            null_text,
        ),
        // `pg_rewrite` lists no rules (see `crate::pg_catalog`), so no oid
        // is a rule's.
        Compat::new("pg_get_ruledef", any(&[1, 2]), DataType::Utf8, null_text),
        // No smackql catalog holds an expression tree: column defaults,
        // index predicates and partition bounds are NULL, and, as in
        // PostgreSQL, so is their text (clients test `pg_get_expr(...) IS
        // NULL`).
        Compat::new("pg_get_expr", any(&[2, 3]), DataType::Utf8, expression_text),
        Compat::new(
            "pg_tablespace_location",
            any(&[1]),
            DataType::Utf8,
            tablespace_location,
        ),
        Compat::new("pg_size_pretty", any(&[1]), DataType::Utf8, size_pretty),
        Compat::new("format", TypeSignature::VariadicAny, DataType::Utf8, format),
        Compat::new(
            "json_build_object",
            TypeSignature::VariadicAny,
            DataType::Utf8,
            json_build_object,
        )
        .allow_no_arguments(),
        Compat::new(
            "current_setting",
            any(&[1, 2]),
            DataType::Utf8,
            current_setting,
        )
        .stable(),
        Compat::new("set_config", any(&[3]), DataType::Utf8, set_config).stable(),
        Compat::new("to_regtype", any(&[1]), DataType::Int32, to_regtype),
        Compat::new("like_escape", any(&[2]), DataType::Utf8, like_escape),
        Compat::new(
            "generate_subscripts",
            any(&[2, 3]),
            DataType::new_list(DataType::Int32, true),
            generate_subscripts,
        ),
        // Set-returning in PostgreSQL: client queries call it in a select
        // list, which `client_queries` turns into an `unnest` of this.
        Compat::new(
            "_pg_expandarray",
            any(&[1]),
            expanded_array_type(),
            expand_array,
        ),
        // Set-returning too: in select lists and as `CROSS JOIN LATERAL
        // aclexplode(...)`, both rewritten by `client_queries`.
        Compat::new(
            "aclexplode",
            any(&[1]),
            DataType::new_list(DataType::Struct(acl_item_fields()), true),
            acl_explode,
        ),
    ];
    for function in functions {
        ctx.register_udf(ScalarUDF::new_from_impl(function));
    }
    if let Ok(inner) = ctx.udf("format_type") {
        ctx.register_udf(ScalarUDF::new_from_impl(FormatType { inner }));
    }
    ctx.register_udf(create_has_privilege_udf("has_function_privilege"));
    ctx.register_udf(create_has_privilege_udf("has_type_privilege"));
}

/// datafusion-pg-catalog's `format_type(oid, typmod)`, naming also the
/// types it prints as `oid(N)` (`inet`, `record`, ...) from PostgreSQL's
/// type table, as PostgreSQL names them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatType {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for FormatType {
    fn name(&self) -> &str {
        "format_type"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let oids =
            datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Int64)?;
        let names = self.inner.invoke_with_args(args)?.to_array(rows)?;
        let names = datafusion::arrow::compute::cast(&names, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let known = (!names.is_null(row)).then(|| names.value(row));
            let named = match known {
                Some(name) if name.starts_with("oid(") && oids.is_valid(row) => {
                    u32::try_from(oids.value(row))
                        .ok()
                        .and_then(Type::from_oid)
                        .map(|t| sql_type_name(&t))
                        .unwrap_or_else(|| name.to_string())
                }
                Some(name) => name.to_string(),
                None => {
                    out.append_null();
                    continue;
                }
            };
            out.append_value(named);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// How PostgreSQL's `format_type` names `t`: SQL's names for the standard
/// types, `[]` after an array's element.
pub(crate) fn sql_type_name(t: &Type) -> String {
    if let postgres_types::Kind::Array(element) = t.kind() {
        return format!("{}[]", sql_type_name(element));
    }
    match t.name() {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "timetz" => "time with time zone",
        other => other,
    }
    .to_string()
}

type Body = fn(&ScalarFunctionArgs) -> Result<ColumnarValue>;

/// A function of a fixed name, signature and result type.
struct Compat {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl Compat {
    fn new(name: &'static str, args: TypeSignature, returns: DataType, body: Body) -> Self {
        Self {
            name,
            signature: Signature::new(args, Volatility::Immutable),
            returns,
            body,
        }
    }

    /// Its result depends on the session's settings.
    fn stable(mut self) -> Self {
        self.signature.volatility = Volatility::Stable;
        self
    }

    /// It may be called without arguments.
    fn allow_no_arguments(mut self) -> Self {
        self.signature.type_signature =
            TypeSignature::OneOf(vec![TypeSignature::Nullary, self.signature.type_signature]);
        self
    }
}

impl std::fmt::Debug for Compat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat").field("name", &self.name).finish()
    }
}

impl PartialEq for Compat {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Compat {}

impl Hash for Compat {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Compat {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        (self.body)(&args)
    }
}

fn always_true(_: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
}

fn null_text(_: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
}

/// `pg_get_expr(expression, relation [, pretty])`: NULL for a NULL
/// expression, else its text as stored.
fn expression_text(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    text_rows(args, |values| match values[0].cast_to(&DataType::Utf8)? {
        ScalarValue::Utf8(text) => Ok(text),
        _ => Ok(None),
    })
}

/// `pg_tablespace_location(oid)`: empty for the two tablespaces there are,
/// `pg_default` and `pg_global`, which live in the data directory; NULL
/// for any other oid.
fn tablespace_location(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    text_rows(args, |values| {
        let oid = values[0].cast_to(&DataType::Int64)?;
        Ok(matches!(oid, ScalarValue::Int64(Some(1663 | 1664))).then(String::new))
    })
}

/// Applies `row` to every row of `args` (arguments as scalars), building a
/// text result.
pub(crate) fn text_rows(
    args: &ScalarFunctionArgs,
    row: impl Fn(&[ScalarValue]) -> Result<Option<String>>,
) -> Result<ColumnarValue> {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays: Vec<ArrayRef> = args
        .args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect::<Result<_>>()?;
    let rows = if scalar { 1 } else { args.number_rows };
    let mut out = StringBuilder::new();
    let mut values = Vec::with_capacity(arrays.len());
    for i in 0..rows {
        values.clear();
        for array in &arrays {
            values.push(ScalarValue::try_from_array(array, i)?);
        }
        out.append_option(row(&values)?);
    }
    let array: ArrayRef = Arc::new(out.finish());
    if scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?));
    }
    Ok(ColumnarValue::Array(array))
}

/// The text of a scalar, or `None` when it is NULL.
fn text_of(value: &ScalarValue) -> Option<String> {
    (!value.is_null()).then(|| match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        ScalarValue::FixedSizeBinary(16, Some(uuid)) => smackql_udfs::format_uuid(uuid),
        other => other.to_string(),
    })
}

/// `pg_size_pretty(bytes)`: bytes, kB, MB, GB, TB or PB, rounded the way
/// PostgreSQL rounds (half up, switching unit at 10240 of the smaller one).
fn size_pretty(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    text_rows(args, |values| {
        let Some(text) = text_of(&values[0]) else {
            return Ok(None);
        };
        let bytes: f64 = text.parse().map_err(|_| {
            DataFusionError::Execution(format!("pg_size_pretty expects a number, not {text:?}"))
        })?;
        Ok(Some(pretty_size(bytes)))
    })
}

fn pretty_size(bytes: f64) -> String {
    // (name, the size it stays below, whether it is rounded, its bits);
    // a rounded unit keeps one more bit until it is printed.
    const UNITS: [(&str, i128, bool, i32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = bytes as i128;
    let mut unit = 0;
    while unit + 1 < UNITS.len() && size.abs() >= UNITS[unit].1 {
        let (_, _, round, bits) = UNITS[unit];
        let (_, _, next_round, next_bits) = UNITS[unit + 1];
        size /= 1i128 << (next_bits - bits - i32::from(next_round) + i32::from(round));
        unit += 1;
    }
    let (name, _, round, _) = UNITS[unit];
    if round {
        size = (size + if size < 0 { -1 } else { 1 }) / 2;
    }
    format!("{size} {name}")
}

/// `format(template, args...)`, as PostgreSQL's: `%s` is an argument as
/// text (NULL as nothing), `%I` a quoted identifier, `%L` a quoted literal
/// (NULL as `NULL`), `%%` a percent sign; `%n$s` takes argument n.
fn format(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    text_rows(args, |values| {
        let Some(template) = values.first().and_then(text_of) else {
            return Ok(None);
        };
        let mut out = String::with_capacity(template.len());
        let mut next = 1;
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut position = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                position.push(*d);
                chars.next();
            }
            let index = if position.is_empty() {
                next
            } else if chars.next_if_eq(&'$').is_some() {
                position.parse().unwrap_or(0)
            } else {
                return exec_err!("format: unrecognized format specifier in {template:?}");
            };
            let spec = chars.next();
            if spec == Some('%') && position.is_empty() {
                out.push('%');
                continue;
            }
            let Some(value) = (index > 0).then(|| values.get(index)).flatten() else {
                return exec_err!("format: too few arguments for {template:?}");
            };
            next = index + 1;
            let text = text_of(value);
            match (spec, text) {
                (Some('s'), text) => out.push_str(text.as_deref().unwrap_or("")),
                (Some('I'), Some(text)) => out.push_str(&crate::pg_catalog::quote(&text)),
                (Some('I'), None) => {
                    return exec_err!(
                        "format: null values cannot be formatted as an SQL identifier"
                    )
                }
                (Some('L'), Some(text)) => {
                    out.push('\'');
                    out.push_str(&text.replace('\'', "''"));
                    out.push('\'');
                }
                (Some('L'), None) => out.push_str("NULL"),
                _ => return exec_err!("format: unrecognized format specifier in {template:?}"),
            }
        }
        Ok(Some(out))
    })
}

/// `json_build_object(key, value, ...)`: a JSON object of the pairs.
fn json_build_object(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    if !args.args.len().is_multiple_of(2) {
        return exec_err!("json_build_object: argument list must have even number of elements");
    }
    text_rows(args, |values| {
        let mut object = String::from("{");
        for (i, pair) in values.chunks(2).enumerate() {
            let Some(key) = text_of(&pair[0]) else {
                return exec_err!("json_build_object: null value not allowed for object key");
            };
            if i > 0 {
                object.push_str(", ");
            }
            object.push_str(&json_string(&key));
            object.push_str(" : ");
            object.push_str(&json_value(&pair[1]));
        }
        object.push('}');
        Ok(Some(object))
    })
}

/// `value` as JSON: numbers and booleans bare, NULL as null, the rest as
/// strings.
fn json_value(value: &ScalarValue) -> String {
    if value.is_null() {
        return "null".into();
    }
    match value.data_type() {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => value.to_string(),
        DataType::Float32 | DataType::Float64 => {
            let text = value.to_string();
            if text.parse::<f64>().is_ok_and(f64::is_finite) {
                text
            } else {
                json_string(&text)
            }
        }
        _ => json_string(&text_of(value).unwrap_or_default()),
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of setting `name` in a session with `config`: PostgreSQL's
/// fixed parameters, then the session's own settings (`datafusion.*`,
/// `cassandra.*`, `kafka.*`).
pub fn setting(name: &str, config: &ConfigOptions) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "server_version" => return Some(server_version()),
        "server_version_num" => return Some(server_version_num()),
        "timezone" => {
            return Some(
                config
                    .execution
                    .time_zone
                    .clone()
                    .unwrap_or_else(|| "UTC".into()),
            )
        }
        "search_path" => return Some(config.catalog.default_schema.clone()),
        _ => {}
    }
    if let Some(value) = FIXED_SETTINGS
        .iter()
        .find(|(key, _)| *key == lower)
        .map(|(_, value)| value.to_string())
    {
        return Some(value);
    }
    config
        .entries()
        .into_iter()
        .find(|entry| entry.key == lower)
        .map(|entry| entry.value.unwrap_or_default())
}

/// The PostgreSQL parameters whose values never change in smackql.
pub const FIXED_SETTINGS: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("server_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
    ("integer_datetimes", "on"),
    ("max_identifier_length", "63"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("transaction_read_only", "off"),
    ("lc_collate", "en_US.UTF-8"),
    ("lc_ctype", "en_US.UTF-8"),
    ("block_size", "8192"),
];

/// `server_version_num`: 16.6 is 160006.
pub fn server_version_num() -> String {
    let mut parts = PG_COMPAT_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major * 10_000 + minor).to_string()
}

/// `current_setting(name [, missing_ok])`.
fn current_setting(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let config = args.config_options.clone();
    text_rows(args, |values| {
        let Some(name) = text_of(&values[0]) else {
            return Ok(None);
        };
        let missing_ok = values
            .get(1)
            .is_some_and(|v| matches!(v, ScalarValue::Boolean(Some(true))));
        match setting(&name, &config) {
            Some(value) => Ok(Some(value)),
            None if missing_ok => Ok(None),
            None => Err(DataFusionError::External(Box::new(UnrecognizedSetting(
                name,
            )))),
        }
    })
}

/// `set_config(name, value, is_local)`: settings change with `SET`, which
/// takes effect for the session; a function in a query cannot.
fn set_config(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let config = args.config_options.clone();
    text_rows(args, |values| {
        let Some(name) = text_of(&values[0]) else {
            return exec_err!("set_config: the setting name must not be null");
        };
        if setting(&name, &config).is_none() {
            return Err(DataFusionError::External(Box::new(UnrecognizedSetting(
                name,
            ))));
        }
        Err(DataFusionError::NotImplemented(format!(
            "set_config cannot change {name}; use SET {name} = ..."
        )))
    })
}

/// PostgreSQL's type names and their common spellings, by oid.
static TYPE_NAMES: LazyLock<HashMap<String, u32>> = LazyLock::new(|| {
    let mut names = HashMap::new();
    for oid in 0..10_000 {
        if let Some(ty) = Type::from_oid(oid) {
            names.insert(ty.name().to_string(), oid);
        }
    }
    for (alias, canonical) in [
        ("integer", "int4"),
        ("int", "int4"),
        ("smallint", "int2"),
        ("bigint", "int8"),
        ("real", "float4"),
        ("double precision", "float8"),
        ("boolean", "bool"),
        ("character varying", "varchar"),
        ("character", "bpchar"),
        ("char", "bpchar"),
        ("decimal", "numeric"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("time without time zone", "time"),
        ("time with time zone", "timetz"),
    ] {
        if let Some(oid) = names.get(canonical).copied() {
            names.insert(alias.to_string(), oid);
        }
    }
    names
});

/// `to_regtype(name)`: the oid of the type, or NULL when there is none.
fn to_regtype(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let names = text_rows(args, |values| Ok(text_of(&values[0])))?;
    let lookup = |name: Option<&str>| {
        let name = name?
            .trim()
            .trim_start_matches("pg_catalog.")
            .to_ascii_lowercase();
        let (base, array) = match name.strip_suffix("[]") {
            Some(base) => (base.trim().to_string(), true),
            None => (name, false),
        };
        let oid = *TYPE_NAMES.get(&base)?;
        let oid = if array {
            let element = Type::from_oid(oid)?;
            (1..10_000u32).find(|candidate| {
                Type::from_oid(*candidate).is_some_and(
                    |t| matches!(t.kind(), postgres_types::Kind::Array(e) if *e == element),
                )
            })?
        } else {
            oid
        };
        i32::try_from(oid).ok()
    };
    Ok(match names {
        ColumnarValue::Scalar(ScalarValue::Utf8(name)) => {
            ColumnarValue::Scalar(ScalarValue::Int32(lookup(name.as_deref())))
        }
        ColumnarValue::Array(array) => {
            let strings = datafusion::common::cast::as_string_array(&array)?;
            let oids: Int32Array = strings.iter().map(lookup).collect();
            ColumnarValue::Array(Arc::new(oids))
        }
        other => other,
    })
}

/// `like_escape(pattern, escape)`: `pattern`, written with `escape` as its
/// escape character, rewritten with backslash, the escape character
/// DataFusion's `LIKE` knows. An empty `escape` means none.
fn like_escape(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    text_rows(args, |values| {
        let (Some(pattern), Some(escape)) = (text_of(&values[0]), text_of(&values[1])) else {
            return Ok(None);
        };
        let mut chars = escape.chars();
        let escape = match (chars.next(), chars.next()) {
            (None, _) => None,
            (Some(c), None) => Some(c),
            _ => return exec_err!("invalid escape string: it must be empty or one character"),
        };
        let mut out = String::with_capacity(pattern.len() + 4);
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                match chars.next() {
                    Some(next) => {
                        out.push('\\');
                        out.push(next);
                    }
                    None => return exec_err!("LIKE pattern must not end with escape character"),
                }
            } else if c == '\\' {
                // A backslash that is not the escape character is itself.
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        Ok(Some(out))
    })
}

/// `generate_subscripts(array, dim [, reverse])` as a list: the subscripts
/// of a one-dimensional array, from 1 (`client_queries` unnests it). A
/// dimension the array does not have gives none.
fn generate_subscripts(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let rows = args.number_rows;
    let lengths = element_counts(&args.args[0].to_array(rows)?)?;
    let dimension =
        datafusion::arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
    let dimension = dimension.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let reverse = match args.args.get(2) {
        Some(flag) => Some(datafusion::arrow::compute::cast(
            &flag.to_array(rows)?,
            &DataType::Boolean,
        )?),
        None => None,
    };
    let mut out = ListBuilder::new(Int32Builder::new());
    for (row, length) in lengths.into_iter().enumerate() {
        let Some(length) = length.filter(|_| !dimension.is_null(row)) else {
            out.append_null();
            continue;
        };
        if dimension.value(row) == 1 {
            let length = i32::try_from(length).map_err(|_| {
                DataFusionError::Execution("generate_subscripts: array too long".into())
            })?;
            let backwards = reverse
                .as_ref()
                .is_some_and(|r| r.as_boolean().is_valid(row) && r.as_boolean().value(row));
            if backwards {
                out.values().extend((1..=length).rev().map(Some));
            } else {
                out.values().extend((1..=length).map(Some));
            }
        }
        out.append(true);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// The number of elements of each array of `arrays` (lists, or the
/// catalog's vectors as text), `None` for NULL.
fn element_counts(arrays: &ArrayRef) -> Result<Vec<Option<usize>>> {
    Ok(match arrays.data_type() {
        DataType::Null => vec![None; arrays.len()],
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = datafusion::arrow::compute::cast(arrays, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..text.len())
                .map(|i| {
                    (!text.is_null(i))
                        .then(|| attribute_numbers(text.value(i)).map(|n| n.len()))
                        .transpose()
                })
                .collect::<Result<_>>()?
        }
        DataType::List(_) => {
            let list = arrays.as_list::<i32>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i) as usize))
                .collect()
        }
        DataType::LargeList(_) => {
            let list = arrays.as_list::<i64>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i) as usize))
                .collect()
        }
        DataType::FixedSizeList(_, n) => (0..arrays.len())
            .map(|i| (!arrays.is_null(i)).then_some(*n as usize))
            .collect(),
        other => return exec_err!("generate_subscripts expects an array, not {other}"),
    })
}

/// The elements of `_pg_expandarray`: `x`, an element, and `n`, its
/// position from 1.
fn expanded_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int16, true),
        Field::new("n", DataType::Int32, true),
    ])
}

fn expanded_array_type() -> DataType {
    DataType::new_list(DataType::Struct(expanded_fields()), true)
}

/// `information_schema._pg_expandarray(array)` as a list of `(x, n)`, for
/// the catalog's arrays of attribute numbers: `int2vector` (`1 2`), `int2[]`
/// as text (`{1,2}`), or a list of integers.
fn expand_array(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let input = args.args[0].to_array(args.number_rows)?;
    let elements: Vec<Option<Vec<i16>>> = match input.data_type() {
        DataType::Null => vec![None; input.len()],
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..text.len())
                .map(|i| {
                    (!text.is_null(i))
                        .then(|| attribute_numbers(text.value(i)))
                        .transpose()
                })
                .collect::<Result<_>>()?
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            list_rows(&input, DataType::Int16, |items| {
                let items = items.as_primitive::<datafusion::arrow::datatypes::Int16Type>();
                items.iter().flatten().collect()
            })?
        }
        other => return exec_err!("_pg_expandarray expects an array, not {other}"),
    };
    let mut out = ListBuilder::new(StructBuilder::new(
        expanded_fields(),
        vec![Box::new(Int16Builder::new()), Box::new(Int32Builder::new())],
    ));
    for row in elements {
        let Some(row) = row else {
            out.append_null();
            continue;
        };
        let entries = out.values();
        for (n, x) in (1..).zip(row) {
            entries
                .field_builder::<Int16Builder>(0)
                .ok_or_else(|| DataFusionError::Internal("no x builder".into()))?
                .append_value(x);
            entries
                .field_builder::<Int32Builder>(1)
                .ok_or_else(|| DataFusionError::Internal("no n builder".into()))?
                .append_value(n);
            entries.append(true);
        }
        out.append(true);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// The columns of a row of `aclexplode`.
fn acl_item_fields() -> Fields {
    Fields::from(vec![
        Field::new("grantor", DataType::Int32, true),
        Field::new("grantee", DataType::Int32, true),
        Field::new("privilege_type", DataType::Utf8, true),
        Field::new("is_grantable", DataType::Boolean, true),
    ])
}

/// PostgreSQL's privilege letters in an `aclitem`, and what each grants.
const PRIVILEGES: &[(char, &str)] = &[
    ('a', "INSERT"),
    ('r', "SELECT"),
    ('w', "UPDATE"),
    ('d', "DELETE"),
    ('D', "TRUNCATE"),
    ('x', "REFERENCES"),
    ('t', "TRIGGER"),
    ('X', "EXECUTE"),
    ('U', "USAGE"),
    ('C', "CREATE"),
    ('T', "TEMPORARY"),
    ('c', "CONNECT"),
    ('s', "SET"),
    ('A', "ALTER SYSTEM"),
    ('m', "MAINTAIN"),
];

/// `aclexplode(acl)`: a row per privilege that an `aclitem[]` grants, as
/// a list (`client_queries` unnests it). Every ACL of smackql's catalog is
/// NULL, the default privileges, which explode to no rows. An item names
/// its roles; the only role smackql knows is PUBLIC (the empty name, oid
/// 0), so another name is refused as PostgreSQL refuses an unknown role.
fn acl_explode(args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let input = args.args[0].to_array(args.number_rows)?;
    let acls: Vec<Option<Vec<String>>> = match input.data_type() {
        DataType::Null => vec![None; input.len()],
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            text.iter()
                .map(|acl| acl.map(acl_items).transpose())
                .collect::<Result<_>>()?
        }
        DataType::List(_) | DataType::LargeList(_) => list_rows(&input, DataType::Utf8, |items| {
            let items = items.as_string::<i32>();
            items.iter().flatten().map(str::to_string).collect()
        })?,
        other => return exec_err!("aclexplode expects an aclitem[], not {other}"),
    };
    let mut out = ListBuilder::new(StructBuilder::from_fields(acl_item_fields(), 0));
    for acl in acls {
        let Some(acl) = acl else {
            out.append_null();
            continue;
        };
        for item in &acl {
            for (grantor, grantee, privilege, grantable) in acl_item(item)? {
                let row = out.values();
                let builder = |i| DataFusionError::Internal(format!("no aclexplode builder {i}"));
                row.field_builder::<Int32Builder>(0)
                    .ok_or_else(|| builder(0))?
                    .append_value(grantor);
                row.field_builder::<Int32Builder>(1)
                    .ok_or_else(|| builder(1))?
                    .append_value(grantee);
                row.field_builder::<StringBuilder>(2)
                    .ok_or_else(|| builder(2))?
                    .append_value(privilege);
                row.field_builder::<BooleanBuilder>(3)
                    .ok_or_else(|| builder(3))?
                    .append_value(grantable);
                row.append(true);
            }
        }
        out.append(true);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// The items of an `aclitem[]` written as text: `{=r/owner,"a b"=rw/owner}`.
fn acl_items(text: &str) -> Result<Vec<String>> {
    let malformed = || {
        DataFusionError::from(ArrowError::ParseError(format!(
            "malformed array literal: \"{text}\""
        )))
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(malformed());
    }
    // pgwire reads PostgreSQL's array text (quotes, escapes, NULL).
    let items = <Vec<Option<String>>>::from_sql_text(
        &Type::TEXT_ARRAY,
        trimmed.as_bytes(),
        &FormatOptions::default(),
    )
    .map_err(|_| malformed())?;
    Ok(items.into_iter().flatten().collect())
}

/// The rows of one `aclitem`, `grantee=privileges/grantor`: grantor and
/// grantee oids, privilege and whether it may be granted on (`*`).
fn acl_item(item: &str) -> Result<Vec<(i32, i32, &'static str, bool)>> {
    let malformed = || {
        DataFusionError::from(ArrowError::ParseError(format!(
            "invalid input syntax for type aclitem: \"{item}\""
        )))
    };
    let (grantee, rest) = item.split_once('=').ok_or_else(malformed)?;
    let (privileges, grantor) = rest.rsplit_once('/').ok_or_else(malformed)?;
    let role = |name: &str| match name.trim_matches('"') {
        "" => Ok(0),
        name => Err(DataFusionError::Plan(format!(
            "role \"{name}\" does not exist"
        ))),
    };
    let (grantee, grantor) = (role(grantee)?, role(grantor)?);
    let mut rows: Vec<(i32, i32, &'static str, bool)> = Vec::new();
    for c in privileges.chars() {
        if c == '*' {
            let last = rows.last_mut().ok_or_else(malformed)?;
            last.3 = true;
            continue;
        }
        let (_, privilege) = PRIVILEGES
            .iter()
            .find(|(letter, _)| *letter == c)
            .ok_or_else(|| {
                DataFusionError::from(ArrowError::ParseError(format!(
                    "invalid mode character {c:?} in aclitem \"{item}\""
                )))
            })?;
        rows.push((grantor, grantee, privilege, false));
    }
    Ok(rows)
}

/// Each row of the list array `input`, its items cast to `item` and read
/// by `read`; `None` for a NULL row.
fn list_rows<T>(
    input: &ArrayRef,
    item: DataType,
    read: impl Fn(&ArrayRef) -> T,
) -> Result<Vec<Option<T>>> {
    let list = datafusion::arrow::compute::cast(input, &DataType::new_list(item, true))?;
    let list = list.as_list::<i32>();
    Ok((0..list.len())
        .map(|i| (!list.is_null(i)).then(|| read(&list.value(i))))
        .collect())
}

/// The numbers of `1 2` (int2vector) or `{1,2}` (an array's text).
fn attribute_numbers(text: &str) -> Result<Vec<i16>> {
    text.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse().map_err(|_| {
                DataFusionError::Execution(format!(
                    "_pg_expandarray expects attribute numbers, not {text:?}"
                ))
            })
        })
        .collect()
}

/// PostgreSQL's types `name` (identifiers in the catalog, as in
/// `rulename <> '_RETURN'::name`) and `"char"` (`relkind` and other
/// one-letter codes), planned as text, which is how `pg_catalog` holds
/// them; other types go to `inner`.
#[derive(Debug)]
pub(crate) struct NameTypePlanner {
    inner: Option<Arc<dyn TypePlanner>>,
}

impl NameTypePlanner {
    pub(crate) fn new(inner: Option<Arc<dyn TypePlanner>>) -> Self {
        Self { inner }
    }
}

impl TypePlanner for NameTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        if let SqlType::Custom(name, modifiers) = sql_type {
            let plain = name.0.last().and_then(|part| part.as_ident());
            let qualified_ok = match name.0.len() {
                1 => true,
                2 => name.0[0]
                    .as_ident()
                    .is_some_and(|schema| schema.value.eq_ignore_ascii_case("pg_catalog")),
                _ => false,
            };
            // `name`, and `"char"` (quoted: PostgreSQL's one-byte type of
            // `relkind` and the like), which the catalog also holds as text.
            let text = plain.is_some_and(|ident| {
                ident.value.eq_ignore_ascii_case("name")
                    || (ident.quote_style == Some('"') && ident.value == "char")
            });
            if modifiers.is_empty() && qualified_ok && text {
                return Ok(Some(Arc::new(Field::new("", DataType::Utf8, true))));
            }
        }
        match &self.inner {
            Some(inner) => inner.plan_type_field(sql_type),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_escape_turns_any_escape_into_backslash() {
        let escape = |pattern: &str, escape: &str| {
            let args = ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Scalar(ScalarValue::from(pattern)),
                    ColumnarValue::Scalar(ScalarValue::from(escape)),
                ],
                arg_fields: vec![],
                number_rows: 1,
                return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            };
            match like_escape(&args) {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))) => Ok(s),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(escape("pg/_%", "/").unwrap(), "pg\\_%");
        assert_eq!(escape("a//b", "/").unwrap(), "a\\/b");
        assert_eq!(escape("a\\b%", "/").unwrap(), "a\\\\b%");
        assert_eq!(escape("a\\b%", "").unwrap(), "a\\\\b%");
        assert!(escape("ab/", "/").unwrap_err().contains("escape character"));
        assert!(escape("ab", "//")
            .unwrap_err()
            .contains("invalid escape string"));
    }

    use super::*;

    #[test]
    fn format_follows_postgres() {
        let call = |values: Vec<ScalarValue>| {
            let args = ScalarFunctionArgs {
                args: values.into_iter().map(ColumnarValue::Scalar).collect(),
                arg_fields: vec![],
                number_rows: 1,
                return_field: Arc::new(Field::new("f", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            };
            match format(&args) {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text))) => Ok(text),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        let text = |s: &str| ScalarValue::Utf8(Some(s.to_string()));
        assert_eq!(
            call(vec![text("%I.%I"), text("ks"), text("My \"T\"")]),
            Ok(Some("ks.\"My \"\"T\"\"\"".to_string()))
        );
        assert_eq!(
            call(vec![
                text("%s|%L|%L|%%|%2$s"),
                text("a"),
                text("it's"),
                ScalarValue::Utf8(None)
            ]),
            Ok(Some("a|'it''s'|NULL|%|it's".to_string()))
        );
        assert_eq!(call(vec![ScalarValue::Utf8(None), text("a")]), Ok(None));
        assert!(call(vec![text("%s %s"), text("a")])
            .unwrap_err()
            .contains("too few"));
        assert!(call(vec![text("%x"), text("a")])
            .unwrap_err()
            .contains("unrecognized"));
    }

    #[test]
    fn sizes_are_pretty_the_way_postgres_prints_them() {
        assert_eq!(pretty_size(0.0), "0 bytes");
        assert_eq!(pretty_size(10_239.0), "10239 bytes");
        assert_eq!(pretty_size(10_240.0), "10 kB");
        assert_eq!(pretty_size(1_000_000.0), "977 kB");
        assert_eq!(pretty_size(10_485_760.0), "10 MB");
        assert_eq!(pretty_size(-10_240.0), "-10 kB");
        assert_eq!(pretty_size(100.0 * 1024f64.powi(5)), "100 PB");
    }

    #[test]
    fn json_values_keep_their_kinds() {
        assert_eq!(json_value(&ScalarValue::Int64(Some(7))), "7");
        assert_eq!(json_value(&ScalarValue::Boolean(Some(true))), "true");
        assert_eq!(json_value(&ScalarValue::Utf8(None)), "null");
        assert_eq!(
            json_value(&ScalarValue::Utf8(Some("a \"b\"\n".into()))),
            "\"a \\\"b\\\"\\n\""
        );
        assert_eq!(json_value(&ScalarValue::Float64(Some(f64::NAN))), "\"NaN\"");
    }

    #[test]
    fn settings_come_from_postgres_then_the_session() {
        let config = ConfigOptions::default();
        assert_eq!(
            setting("standard_conforming_strings", &config).as_deref(),
            Some("on")
        );
        assert_eq!(
            setting("server_version_num", &config),
            Some(server_version_num())
        );
        assert_eq!(
            setting("datafusion.execution.batch_size", &config).as_deref(),
            Some("8192")
        );
        assert_eq!(setting("jit", &config), None);
    }

    #[test]
    fn acl_items_explode_into_privileges() {
        assert_eq!(
            acl_items(r#"{=r/,"=a*w/"}"#).unwrap(),
            vec!["=r/".to_string(), "=a*w/".to_string()]
        );
        assert_eq!(acl_items("{}").unwrap(), Vec::<String>::new());
        assert_eq!(
            acl_item("=a*w/").unwrap(),
            vec![(0, 0, "INSERT", true), (0, 0, "UPDATE", false)]
        );
        let unknown = acl_item("alice=r/alice").unwrap_err().to_string();
        assert!(
            unknown.contains("role \"alice\" does not exist"),
            "{unknown}"
        );
        assert!(acl_item("=q/").is_err());
        assert!(acl_item("no-equals").is_err());
        assert!(acl_items("=r/").is_err());
    }
}
