//! The all-types table: a column of every CQL type but counter, with one
//! row of values (`id = 1`) and one row of nulls (`id = 2`). Client suites
//! read it back and compare every value with what CQL stored.

use scylla::client::session::Session;

use crate::services::cql;

/// Columns of every CQL type but counter: name, CQL type, and the value of
/// row 1 as a CQL literal.
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("c_ascii", "ascii", "'plain ascii'"),
    ("c_bigint", "bigint", "-9223372036854775808"),
    ("c_blob", "blob", "0x00ff10"),
    ("c_boolean", "boolean", "true"),
    ("c_date", "date", "'2024-02-29'"),
    ("c_decimal", "decimal", "12345678901234567890.1234567891"),
    ("c_double", "double", "2.718281828459045"),
    ("c_duration", "duration", "1mo2d3h4m5s6ms7us8ns"),
    ("c_float", "float", "1.5"),
    ("c_inet", "inet", "'2001:db8::1'"),
    ("c_int", "int", "-2147483648"),
    ("c_smallint", "smallint", "-32768"),
    ("c_text", "text", "'it''s; -- ünïcödé'"),
    ("c_time", "time", "'13:14:15.123456789'"),
    ("c_timestamp", "timestamp", "'2024-10-01 12:34:56.789+0000'"),
    (
        "c_timeuuid",
        "timeuuid",
        "50554d6e-29bb-11e5-b345-feff819cdc9f",
    ),
    ("c_tinyint", "tinyint", "-128"),
    ("c_uuid", "uuid", "123e4567-e89b-12d3-a456-426614174000"),
    (
        "c_varint",
        "varint",
        "-123456789012345678901234567890123456",
    ),
    ("c_list", "list<int>", "[3, 1, 2]"),
    ("c_set", "set<text>", "{'a', 'b'}"),
    ("c_map", "map<text, int>", "{'x': 1, 'y': 2}"),
    ("c_tuple", "tuple<int, text>", "(7, 'seven')"),
    ("c_udt", "frozen<point>", "{x: 1.5, y: -2.5}"),
    ("c_vector", "vector<float, 3>", "[0.5, 1.5, 2.5]"),
    ("c_nested", "frozen<list<list<int>>>", "[[1], [2, 3]]"),
    (
        "c_uuids",
        "set<uuid>",
        "{123e4567-e89b-12d3-a456-426614174000, 50554d6e-29bb-11e5-b345-feff819cdc9f}",
    ),
    (
        "c_costs",
        "map<uuid, decimal>",
        "{123e4567-e89b-12d3-a456-426614174000: 0.5}",
    ),
];

/// The columns' names, comma-separated.
pub fn names() -> String {
    COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
}

/// Creates the UDT `point` in `keyspace`, then, for every name in
/// `tables`, an empty table `id int PRIMARY KEY` plus every column.
pub async fn create_tables(session: &Session, keyspace: &str, tables: &[&str]) {
    cql(
        session,
        &format!("CREATE TYPE \"{keyspace}\".point (x double, y double)"),
    )
    .await;
    let definition = COLUMNS
        .iter()
        .map(|(name, typ, _)| format!("{name} {typ}"))
        .collect::<Vec<_>>()
        .join(", ");
    for table in tables {
        cql(
            session,
            &format!("CREATE TABLE \"{keyspace}\".{table} (id int PRIMARY KEY, {definition})"),
        )
        .await;
    }
}

/// Inserts row 1 (every value) and row 2 (nulls) into `table`.
pub async fn insert_rows(session: &Session, keyspace: &str, table: &str) {
    let values = COLUMNS.iter().map(|c| c.2).collect::<Vec<_>>().join(", ");
    let names = names();
    cql(
        session,
        &format!("INSERT INTO \"{keyspace}\".{table} (id, {names}) VALUES (1, {values})"),
    )
    .await;
    cql(
        session,
        &format!("INSERT INTO \"{keyspace}\".{table} (id) VALUES (2)"),
    )
    .await;
}
