//! `pg_get_functiondef(oid)`: the `CREATE FUNCTION` statement of a function
//! listed in `pg_proc`, laid out as PostgreSQL prints it, for the tools
//! that show a function's source (DBeaver's function editor).
//!
//! `pg_proc` holds PostgreSQL's built-in functions, from
//! datafusion-pg-catalog's static tables; the statements are built once,
//! when the session factory is made.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{exec_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use datafusion_postgres::pgwire::api::Type;

use crate::pg_catalog::quote;
use crate::pg_functions::{sql_type_name, text_rows};

/// The oid of `pg_catalog` in `pg_namespace`.
const PG_CATALOG_NAMESPACE: i64 = 11;

/// `pg_get_functiondef`, over the functions of `pg_proc`.
#[derive(Debug)]
pub(crate) struct FunctionDefinitions {
    signature: Signature,
    /// By function oid: its statement, or the name of an aggregate (which
    /// has none).
    by_oid: HashMap<i64, Definition>,
}

#[derive(Debug)]
enum Definition {
    Statement(String),
    Aggregate(String),
}

impl PartialEq for FunctionDefinitions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FunctionDefinitions {}

impl Hash for FunctionDefinitions {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "pg_get_functiondef".hash(state);
    }
}

impl FunctionDefinitions {
    /// The statements of the functions in `tables`' `pg_proc`.
    pub(crate) fn new(tables: &PgCatalogStaticTables) -> Result<Self> {
        let procs = all_rows(tables.pg_proc.try_into_memtable()?.as_ref())?;
        let languages = all_rows(tables.pg_language.try_into_memtable()?.as_ref())?;
        let language = names(&languages, "lanname")?;
        let column = |name: &str| column(&procs, name);
        let (oid, proname, pronamespace, prolang) = (
            column("oid")?,
            column("proname")?,
            column("pronamespace")?,
            column("prolang")?,
        );
        let (prokind, provolatile, proparallel) = (
            column("prokind")?,
            column("provolatile")?,
            column("proparallel")?,
        );
        let (proisstrict, proretset, prosecdef, proleakproof) = (
            column("proisstrict")?,
            column("proretset")?,
            column("prosecdef")?,
            column("proleakproof")?,
        );
        let (procost, prorows, prorettype) = (
            column("procost")?,
            column("prorows")?,
            column("prorettype")?,
        );
        let (proargtypes, proallargtypes, proargmodes, proargnames, prosrc) = (
            column("proargtypes")?,
            column("proallargtypes")?,
            column("proargmodes")?,
            column("proargnames")?,
            column("prosrc")?,
        );
        let mut by_oid = HashMap::new();
        for row in 0..procs.num_rows() {
            let Some(oid) = integer(&oid, row) else {
                continue;
            };
            let name = text(&proname, row).unwrap_or_default();
            // PostgreSQL's built-ins are in pg_catalog (oid 11), but for
            // information_schema's `_pg_*` helpers.
            let schema = match integer(&pronamespace, row) {
                Some(PG_CATALOG_NAMESPACE) | None => "pg_catalog",
                Some(_) => "information_schema",
            };
            let kind = text(&prokind, row).unwrap_or_default();
            if kind == "a" {
                by_oid.insert(oid, Definition::Aggregate(name));
                continue;
            }
            let language = integer(&prolang, row)
                .and_then(|l| language.get(&l).cloned())
                .unwrap_or_else(|| "internal".to_string());
            let arguments = arguments(
                &text(&proargtypes, row).unwrap_or_default(),
                text(&proallargtypes, row).as_deref(),
                text(&proargmodes, row).as_deref(),
                text(&proargnames, row).as_deref(),
            );
            let mut statement = format!(
                "CREATE OR REPLACE {} {}.{}({arguments})\n",
                if kind == "p" { "PROCEDURE" } else { "FUNCTION" },
                quote(schema),
                quote(&name),
            );
            if kind != "p" {
                let returns = integer(&prorettype, row).map(type_name).unwrap_or_default();
                let setof = if flag(&proretset, row) { "SETOF " } else { "" };
                statement.push_str(&format!(" RETURNS {setof}{returns}\n"));
            }
            statement.push_str(&format!(" LANGUAGE {language}\n"));
            let mut traits = String::new();
            if kind == "w" {
                traits.push_str(" WINDOW");
            }
            match text(&provolatile, row).as_deref() {
                Some("i") => traits.push_str(" IMMUTABLE"),
                Some("s") => traits.push_str(" STABLE"),
                _ => {}
            }
            match text(&proparallel, row).as_deref() {
                Some("s") => traits.push_str(" PARALLEL SAFE"),
                Some("r") => traits.push_str(" PARALLEL RESTRICTED"),
                _ => {}
            }
            if flag(&proisstrict, row) {
                traits.push_str(" STRICT");
            }
            if flag(&prosecdef, row) {
                traits.push_str(" SECURITY DEFINER");
            }
            if flag(&proleakproof, row) {
                traits.push_str(" LEAKPROOF");
            }
            let default_cost = if matches!(language.as_str(), "internal" | "c") {
                1.0
            } else {
                100.0
            };
            if let Some(cost) = real(&procost, row).filter(|c| *c != default_cost) {
                traits.push_str(&format!(" COST {cost}"));
            }
            if let Some(rows) = real(&prorows, row).filter(|r| *r > 0.0 && *r != 1000.0) {
                traits.push_str(&format!(" ROWS {rows}"));
            }
            if !traits.is_empty() {
                statement.push_str(&traits);
                statement.push('\n');
            }
            let source = text(&prosrc, row).unwrap_or_default();
            statement.push_str(&format!("AS $function${source}$function$\n"));
            by_oid.insert(oid, Definition::Statement(statement));
        }
        Ok(Self {
            signature: Signature::new(TypeSignature::Any(1), Volatility::Stable),
            by_oid,
        })
    }

    fn definition(&self, oid: &ScalarValue) -> Result<Option<String>> {
        if oid.is_null() {
            return Ok(None);
        }
        let oid = match oid.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(oid)) => oid,
            _ => return Ok(None),
        };
        match self.by_oid.get(&oid) {
            Some(Definition::Statement(s)) => Ok(Some(s.clone())),
            Some(Definition::Aggregate(name)) => {
                exec_err!("\"{name}\" is an aggregate function")
            }
            None => Ok(None),
        }
    }
}

impl ScalarUDFImpl for FunctionDefinitions {
    fn name(&self) -> &str {
        "pg_get_functiondef"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        text_rows(&args, |values| self.definition(&values[0]))
    }
}

/// A function's argument list: `proargtypes` (input types) alone, or
/// `proallargtypes` with `proargmodes` where it has other modes; named
/// from `proargnames` where it names them.
fn arguments(input: &str, all: Option<&str>, modes: Option<&str>, names: Option<&str>) -> String {
    let names = names.map(list).unwrap_or_default();
    let (types, modes) = match (all.map(list), modes.map(list)) {
        (Some(types), Some(modes)) if types.len() == modes.len() => (types, modes),
        _ => {
            let types = list(input);
            let modes = vec!["i".to_string(); types.len()];
            (types, modes)
        }
    };
    types
        .iter()
        .zip(&modes)
        .enumerate()
        .map(|(i, (oid, mode))| {
            let mut argument = match mode.as_str() {
                "o" => "OUT ".to_string(),
                "b" => "INOUT ".to_string(),
                "v" => "VARIADIC ".to_string(),
                "t" => "OUT ".to_string(),
                _ => String::new(),
            };
            if let Some(name) = names.get(i).filter(|n| !n.is_empty()) {
                argument.push_str(&quote(name));
                argument.push(' ');
            }
            argument.push_str(&oid.parse::<i64>().map(type_name).unwrap_or_default());
            argument
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The items of a list as `pg_proc` stores it: `25 2276`,
/// `[1034, 26]` or `['i', 'o']`.
fn list(text: &str) -> Vec<String> {
    text.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}'))
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|item| item.trim().trim_matches('\'').to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// A type's name as `format_type` prints it in a signature.
fn type_name(oid: i64) -> String {
    match u32::try_from(oid).ok().and_then(Type::from_oid) {
        // A reserved word, which PostgreSQL quotes.
        Some(t) if t.name() == "any" => "\"any\"".to_string(),
        Some(t) => sql_type_name(&t),
        None => oid.to_string(),
    }
}

fn all_rows(table: &datafusion::datasource::MemTable) -> Result<RecordBatch> {
    let schema = datafusion::catalog::TableProvider::schema(table);
    let mut batches = Vec::new();
    for partition in &table.batches {
        let partition = partition
            .try_read()
            .map_err(|e| DataFusionError::Internal(format!("pg_catalog table: {e}")))?;
        batches.extend(partition.iter().cloned());
    }
    concat_batches(&schema, &batches).map_err(Into::into)
}

/// `batch`'s `oid` column mapped to its text column `name`.
fn names(batch: &RecordBatch, name: &str) -> Result<HashMap<i64, String>> {
    let (oid, name) = (column(batch, "oid")?, column(batch, name)?);
    Ok((0..batch.num_rows())
        .filter_map(|row| Some((integer(&oid, row)?, text(&name, row)?)))
        .collect())
}

/// Column `name` of `batch`, cast to the type its readers below expect:
/// integers to Int64, reals to Float64, text to Utf8.
fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog has no column {name}")))?;
    let to = match array.data_type() {
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() => DataType::Float64,
        DataType::Boolean => DataType::Boolean,
        _ => DataType::Utf8,
    };
    cast(array, &to).map_err(Into::into)
}

fn integer(array: &ArrayRef, row: usize) -> Option<i64> {
    let array = array.as_primitive_opt::<Int64Type>()?;
    array.is_valid(row).then(|| array.value(row))
}

fn real(array: &ArrayRef, row: usize) -> Option<f64> {
    let array = array.as_primitive_opt::<Float64Type>()?;
    array.is_valid(row).then(|| array.value(row))
}

fn text(array: &ArrayRef, row: usize) -> Option<String> {
    let array = array.as_string_opt::<i32>()?;
    array.is_valid(row).then(|| array.value(row).to_string())
}

fn flag(array: &ArrayRef, row: usize) -> bool {
    array
        .as_boolean_opt()
        .is_some_and(|a| a.is_valid(row) && a.value(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions() -> FunctionDefinitions {
        FunctionDefinitions::new(&PgCatalogStaticTables::try_new().unwrap()).unwrap()
    }

    #[test]
    fn built_in_functions_print_as_postgresql_prints_them() {
        let definitions = definitions();
        let version = definitions
            .definition(&ScalarValue::Int32(Some(89)))
            .unwrap();
        assert_eq!(
            version.as_deref(),
            Some(
                "CREATE OR REPLACE FUNCTION pg_catalog.version()\n RETURNS text\n \
                 LANGUAGE internal\n STABLE PARALLEL SAFE STRICT\n\
                 AS $function$pgsql_version$function$\n"
            )
        );
        let oid = |name: &str| {
            definitions
                .by_oid
                .iter()
                .find(|(_, d)| {
                    matches!(d, Definition::Statement(s) if s.contains(&format!(".{name}(")))
                })
                .map(|(oid, _)| ScalarValue::Int64(Some(*oid)))
                .unwrap()
        };
        let concat_ws = definitions.definition(&oid("concat_ws")).unwrap().unwrap();
        assert!(
            concat_ws.starts_with(
                "CREATE OR REPLACE FUNCTION pg_catalog.concat_ws(text, VARIADIC \"any\")\n"
            ),
            "{concat_ws}"
        );
        let acl = definitions.definition(&oid("aclexplode")).unwrap().unwrap();
        assert!(
            acl.starts_with(
                "CREATE OR REPLACE FUNCTION pg_catalog.aclexplode(acl aclitem[], \
                 OUT grantor oid, OUT grantee oid, OUT privilege_type text, \
                 OUT is_grantable boolean)\n RETURNS SETOF record\n"
            ),
            "{acl}"
        );
    }

    #[test]
    fn aggregates_and_unknown_oids() {
        let definitions = definitions();
        let avg = definitions
            .by_oid
            .iter()
            .find(|(_, d)| matches!(d, Definition::Aggregate(n) if n == "avg"))
            .map(|(oid, _)| *oid)
            .unwrap();
        let error = definitions
            .definition(&ScalarValue::Int64(Some(avg)))
            .unwrap_err();
        assert!(error
            .to_string()
            .contains("\"avg\" is an aggregate function"));
        assert_eq!(
            definitions
                .definition(&ScalarValue::Int64(Some(1)))
                .unwrap(),
            None
        );
        assert_eq!(
            definitions.definition(&ScalarValue::Int64(None)).unwrap(),
            None
        );
    }
}
