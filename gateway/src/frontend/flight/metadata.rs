//! What Flight SQL clients ask about the server and its catalog:
//! `GetSqlInfo`, `GetXdbcTypeInfo`, and the listings of catalogs, schemas,
//! tables and primary keys, all read from the session's catalog, so they
//! agree with what queries see.

use std::sync::Arc;

use arrow_flight::sql::metadata::{
    GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo,
    XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, Nullable, Searchable, SqlInfo,
    SqlNullOrdering, SqlOuterJoinsSupportLevel, SqlSupportedCaseSensitivity, SqlSupportedGroupBy,
    SqlSupportedResultSetType, SqlSupportedSubqueries, SqlSupportedTransaction, SqlSupportedUnions,
    SqlSupportsConvert, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::arrow::array::{Int32Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::information_schema::{InformationSchemaProvider, INFORMATION_SCHEMA};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use smackql_cassandra::CassandraTableProvider;
use smackql_catalog::CATALOG_NAME;

/// The table types listings report.
pub(crate) const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "SYSTEM TABLE"];

/// Schemas of the gateway's own tables.
fn is_system_schema(schema: &str) -> bool {
    matches!(
        schema,
        INFORMATION_SCHEMA | "pg_catalog" | crate::app::SYSTEM_SCHEMA
    )
}

/// What `GetSqlInfo` answers. Each value has the type the Flight SQL
/// specification gives it: the JDBC driver reads them as those types.
pub(crate) fn sql_info() -> Result<SqlInfoData, DataFusionError> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "smackql");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.5.0");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);

    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    // Unquoted names are folded to lower case; quoted ones are kept.
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    let keywords: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    b.append(SqlInfo::SqlKeywords, keywords);
    b.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    b.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    b.append(SqlInfo::SqlSystemFunctions, SYSTEM_FUNCTIONS);
    b.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsConvert, supports_convert());
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(
        SqlInfo::SqlSupportedGroupBy,
        bits(&[
            SqlSupportedGroupBy::SqlGroupByUnrelated as i32,
            SqlSupportedGroupBy::SqlGroupByBeyondSelect as i32,
        ]),
    );
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    // Minimum and core grammar (bits 0 and 1), ANSI-92 entry level (bit 0).
    b.append(SqlInfo::SqlSupportedGrammar, bits(&[0, 1]));
    b.append(SqlInfo::SqlAnsi92SupportedLevel, bits(&[0]));
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    // Schemas (keyspaces) may be named in data manipulation (bit 0).
    b.append(SqlInfo::SqlSchemasSupportedActions, bits(&[0]));
    b.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    b.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(
        SqlInfo::SqlSupportedSubqueries,
        bits(&[
            SqlSupportedSubqueries::SqlSubqueriesInComparisons as i32,
            SqlSupportedSubqueries::SqlSubqueriesInExists as i32,
            SqlSupportedSubqueries::SqlSubqueriesInIns as i32,
        ]),
    );
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(
        SqlInfo::SqlSupportedUnions,
        bits(&[
            SqlSupportedUnions::SqlUnion as i32,
            SqlSupportedUnions::SqlUnionAll as i32,
        ]),
    );
    // No fixed limits: 0 means none, or not known.
    for limit in [
        SqlInfo::SqlMaxBinaryLiteralLength,
        SqlInfo::SqlMaxCharLiteralLength,
        SqlInfo::SqlMaxColumnNameLength,
        SqlInfo::SqlMaxColumnsInGroupBy,
        SqlInfo::SqlMaxColumnsInIndex,
        SqlInfo::SqlMaxColumnsInOrderBy,
        SqlInfo::SqlMaxColumnsInSelect,
        SqlInfo::SqlMaxColumnsInTable,
        SqlInfo::SqlMaxConnections,
        SqlInfo::SqlMaxCursorNameLength,
        SqlInfo::SqlMaxIndexLength,
        SqlInfo::SqlDbSchemaNameLength,
        SqlInfo::SqlMaxProcedureNameLength,
        SqlInfo::SqlMaxCatalogNameLength,
        SqlInfo::SqlMaxRowSize,
        SqlInfo::SqlMaxStatementLength,
        SqlInfo::SqlMaxStatements,
        SqlInfo::SqlMaxTableNameLength,
        SqlInfo::SqlMaxTablesInSelect,
        SqlInfo::SqlMaxUsernameLength,
    ] {
        b.append(limit, 0i64);
    }
    b.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, false);
    b.append(SqlInfo::SqlDefaultTransactionIsolation, 0i32);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    b.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    b.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    b.append(
        SqlInfo::SqlSupportedResultSetTypes,
        bits(&[SqlSupportedResultSetType::SqlResultSetTypeForwardOnly as i32]),
    );
    // Read-only result sets (bit 1) for every result set type.
    for concurrency in [
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
    ] {
        b.append(concurrency, bits(&[1]));
    }
    b.append(SqlInfo::SqlBatchUpdatesSupported, true);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    b.build().map_err(external)
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn bits(positions: &[i32]) -> i32 {
    positions.iter().fold(0, |acc, p| acc | (1 << p))
}

/// Which types `CAST` converts between: every listed type to every other.
fn supports_convert() -> std::collections::BTreeMap<i32, Vec<i32>> {
    use SqlSupportsConvert as C;
    let types = [
        C::SqlConvertBigint,
        C::SqlConvertBinary,
        C::SqlConvertBit,
        C::SqlConvertChar,
        C::SqlConvertDate,
        C::SqlConvertDecimal,
        C::SqlConvertFloat,
        C::SqlConvertInteger,
        C::SqlConvertNumeric,
        C::SqlConvertReal,
        C::SqlConvertSmallint,
        C::SqlConvertTimestamp,
        C::SqlConvertTinyint,
        C::SqlConvertVarchar,
    ]
    .map(|t| t as i32);
    types
        .iter()
        .map(|from| {
            (
                *from,
                types.iter().filter(|to| *to != from).copied().collect(),
            )
        })
        .collect()
}

const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "cot", "degrees", "exp",
    "floor", "ln", "log", "log10", "log2", "mod", "pi", "power", "radians", "random", "round",
    "signum", "sin", "sqrt", "tan", "trunc",
];
const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "btrim",
    "char_length",
    "chr",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "md5",
    "octet_length",
    "position",
    "regexp_like",
    "regexp_match",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "to_hex",
    "translate",
    "trim",
    "upper",
];
const SYSTEM_FUNCTIONS: &[&str] = &[
    "arrow_typeof",
    "coalesce",
    "current_database",
    "current_schema",
    "nullif",
    "version",
];
const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "extract",
    "from_unixtime",
    "make_date",
    "now",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_unixtime",
];

/// What `GetXdbcTypeInfo` answers: the SQL types columns come in.
pub(crate) fn xdbc_type_info() -> Result<XdbcTypeInfoData, DataFusionError> {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let simple = |name: &str, t: XdbcDataType, size: Option<i32>| XdbcTypeInfo {
        type_name: name.to_string(),
        data_type: t,
        column_size: size,
        literal_prefix: None,
        literal_suffix: None,
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: false,
        searchable: Searchable::Full,
        unsigned_attribute: Some(false),
        fixed_prec_scale: false,
        auto_increment: Some(false),
        local_type_name: Some(name.to_string()),
        minimum_scale: None,
        maximum_scale: None,
        sql_data_type: t,
        datetime_subcode: None,
        num_prec_radix: None,
        interval_precision: None,
    };
    let numeric = |name: &str, t: XdbcDataType, size: i32| XdbcTypeInfo {
        num_prec_radix: Some(10),
        fixed_prec_scale: true,
        minimum_scale: Some(0),
        maximum_scale: Some(0),
        ..simple(name, t, Some(size))
    };
    let quoted = |name: &str, t: XdbcDataType| XdbcTypeInfo {
        literal_prefix: Some("'".into()),
        literal_suffix: Some("'".into()),
        ..simple(name, t, None)
    };
    let datetime = |name: &str, t: XdbcDataType, code: XdbcDatetimeSubcode| XdbcTypeInfo {
        datetime_subcode: Some(code),
        sql_data_type: XdbcDataType::XdbcDatetime,
        ..quoted(name, t)
    };
    b.append(simple("boolean", XdbcDataType::XdbcBit, Some(1)));
    b.append(numeric("tinyint", XdbcDataType::XdbcTinyint, 3));
    b.append(numeric("smallint", XdbcDataType::XdbcSmallint, 5));
    b.append(numeric("integer", XdbcDataType::XdbcInteger, 10));
    b.append(numeric("bigint", XdbcDataType::XdbcBigint, 19));
    b.append(XdbcTypeInfo {
        num_prec_radix: Some(2),
        ..simple("real", XdbcDataType::XdbcReal, Some(24))
    });
    b.append(XdbcTypeInfo {
        num_prec_radix: Some(2),
        ..simple("double precision", XdbcDataType::XdbcDouble, Some(53))
    });
    b.append(XdbcTypeInfo {
        create_params: Some(vec!["precision".into(), "scale".into()]),
        fixed_prec_scale: false,
        minimum_scale: Some(0),
        maximum_scale: Some(38),
        num_prec_radix: Some(10),
        ..simple("decimal", XdbcDataType::XdbcDecimal, Some(38))
    });
    b.append(XdbcTypeInfo {
        case_sensitive: true,
        ..quoted("varchar", XdbcDataType::XdbcVarchar)
    });
    b.append(XdbcTypeInfo {
        searchable: Searchable::Basic,
        ..quoted("bytea", XdbcDataType::XdbcVarbinary)
    });
    b.append(datetime(
        "date",
        XdbcDataType::XdbcDate,
        // ODBC's SQL_CODE_DATE, 1.
        XdbcDatetimeSubcode::XdbcSubcodeYear,
    ));
    b.append(datetime(
        "time",
        XdbcDataType::XdbcTime,
        XdbcDatetimeSubcode::XdbcSubcodeTime,
    ));
    b.append(datetime(
        "timestamp",
        XdbcDataType::XdbcTimestamp,
        XdbcDatetimeSubcode::XdbcSubcodeTimestamp,
    ));
    b.append(datetime(
        "timestamptz",
        XdbcDataType::XdbcTimestamp,
        XdbcDatetimeSubcode::XdbcSubcodeTimestampWithTimezone,
    ));
    b.build().map_err(external)
}

/// SQL `LIKE` with `%` and `_`, and `\` escaping either.
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                t.first() == Some(&rest[0]) && go(&rest[1..], &t[1..])
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// The session's catalog as listings see it: its schemas (with
/// `information_schema`), each with a provider.
fn schemas(session: &SessionContext) -> Vec<(String, Arc<dyn SchemaProvider>)> {
    let Some(catalog) = session.catalog(CATALOG_NAME) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Arc<dyn SchemaProvider>)> = catalog
        .schema_names()
        .into_iter()
        .filter_map(|name| catalog.schema(&name).map(|s| (name, s)))
        .collect();
    if session.copied_config().information_schema() {
        let info = InformationSchemaProvider::new(session.state().catalog_list().clone());
        out.push((INFORMATION_SCHEMA.to_string(), Arc::new(info)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn catalog_matches(catalog: Option<&str>) -> bool {
    catalog.is_none_or(|c| c == CATALOG_NAME)
}

/// `GetDbSchemas`
pub(crate) fn db_schemas(
    session: &SessionContext,
    query: CommandGetDbSchemas,
) -> Result<RecordBatch, DataFusionError> {
    let matches_catalog = catalog_matches(query.catalog.as_deref());
    let mut builder: GetDbSchemasBuilder = query.into_builder();
    if matches_catalog {
        for (name, _) in schemas(session) {
            builder.append(CATALOG_NAME, name);
        }
    }
    builder.build().map_err(external)
}

/// `GetTables`, with each table's Arrow schema when asked.
pub(crate) async fn tables(
    session: &SessionContext,
    query: CommandGetTables,
) -> Result<RecordBatch, DataFusionError> {
    let include_schema = query.include_schema;
    let schema_pattern = query.db_schema_filter_pattern.clone();
    let table_pattern = query.table_name_filter_pattern.clone();
    let types = query.table_types.clone();
    let matches_catalog = catalog_matches(query.catalog.as_deref());
    let mut builder: GetTablesBuilder = query.into_builder();
    if !matches_catalog {
        return builder.build().map_err(external);
    }
    for (schema_name, schema) in schemas(session) {
        if schema_pattern
            .as_deref()
            .is_some_and(|p| !like(p, &schema_name))
        {
            continue;
        }
        let mut names = schema.table_names();
        names.sort();
        for table_name in names {
            if table_pattern
                .as_deref()
                .is_some_and(|p| !like(p, &table_name))
            {
                continue;
            }
            // Tables can vanish between listing and loading; skip those.
            let Some(table) = schema.table(&table_name).await? else {
                continue;
            };
            let kind = table_type(&schema_name, table.as_ref());
            if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case(kind)) {
                continue;
            }
            let table_schema = if include_schema {
                super::statement::wire_schema(&table.schema())
            } else {
                Arc::new(Schema::empty())
            };
            builder
                .append(CATALOG_NAME, &schema_name, &table_name, kind, &table_schema)
                .map_err(external)?;
        }
    }
    builder.build().map_err(external)
}

fn table_type(schema: &str, table: &dyn TableProvider) -> &'static str {
    if is_system_schema(schema) {
        return "SYSTEM TABLE";
    }
    match table.table_type() {
        TableType::View => "VIEW",
        TableType::Base | TableType::Temporary => "TABLE",
    }
}

/// The schema of `GetPrimaryKeys` results.
pub(crate) fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// `GetPrimaryKeys`: a Cassandra table's partition key, then its clustering
/// key. Tables over Kafka topics have none.
pub(crate) async fn primary_keys(
    session: &SessionContext,
    query: CommandGetPrimaryKeys,
) -> Result<RecordBatch, DataFusionError> {
    let mut catalog = StringBuilder::new();
    let mut schema_names = StringBuilder::new();
    let mut tables = StringBuilder::new();
    let mut columns = StringBuilder::new();
    let mut key_names = StringBuilder::new();
    let mut sequence = Int32Builder::new();
    if catalog_matches(query.catalog.as_deref()) {
        for (schema_name, schema) in schemas(session) {
            if query.db_schema.as_deref().is_some_and(|s| s != schema_name) {
                continue;
            }
            let Some(table) = schema.table(&query.table).await? else {
                continue;
            };
            let Some(cassandra) = table.as_ref().downcast_ref::<CassandraTableProvider>() else {
                continue;
            };
            for (i, column) in cassandra.primary_key().enumerate() {
                catalog.append_value(CATALOG_NAME);
                schema_names.append_value(&schema_name);
                tables.append_value(&query.table);
                columns.append_value(column);
                key_names.append_value(format!("{}_pkey", query.table));
                sequence.append_value(i32::try_from(i + 1).unwrap_or(i32::MAX));
            }
        }
    }
    Ok(RecordBatch::try_new(
        primary_keys_schema(),
        vec![
            Arc::new(catalog.finish()),
            Arc::new(schema_names.finish()),
            Arc::new(tables.finish()),
            Arc::new(columns.finish()),
            Arc::new(key_names.finish()),
            Arc::new(sequence.finish()),
        ],
    )?)
}

/// The schema of `GetImportedKeys`, `GetExportedKeys` and
/// `GetCrossReference` results.
pub(crate) fn foreign_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

/// Cassandra and Kafka tables have no foreign keys.
pub(crate) fn no_foreign_keys() -> RecordBatch {
    RecordBatch::new_empty(foreign_keys_schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("%", "anything"));
        assert!(like("ev%", "events"));
        assert!(!like("ev%", "campaigns"));
        assert!(like("c_mpaigns", "campaigns"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
        assert!(like("", ""));
        assert!(!like("", "x"));
    }

    #[test]
    fn server_info_builds() {
        let info = sql_info().unwrap();
        let batch = info
            .record_batch([
                SqlInfo::FlightSqlServerName as u32,
                SqlInfo::SqlIdentifierQuoteChar as u32,
            ])
            .unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert!(
            xdbc_type_info()
                .unwrap()
                .record_batch(None)
                .unwrap()
                .num_rows()
                >= 10
        );
    }
}
