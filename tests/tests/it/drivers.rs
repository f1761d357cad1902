//! PostgreSQL drivers and the tools built on them, each run as its own
//! program against a gateway over real Cassandra data: it lists schemas,
//! tables, columns and keys the way its tool does, runs a query with a
//! parameter, and compares every value of the all-types table with what
//! CQL stored.

use std::path::Path;

use smackql_tests::all_types;
use smackql_tests::clients;
use smackql_tests::gateway::KeyspaceFixture;

/// A keyspace with the all-types table `all_types`, rows 1 (values) and 2
/// (nulls).
async fn all_types_fixture(prefix: &str) -> KeyspaceFixture {
    let fixture = KeyspaceFixture::new(prefix).await;
    all_types::create_tables(&fixture.session, &fixture.keyspace, &["all_types"]).await;
    all_types::insert_rows(&fixture.session, &fixture.keyspace, "all_types").await;
    fixture
}

/// The gateway's host and port and the keyspace, as every client program
/// takes them.
fn target(fixture: &KeyspaceFixture) -> Vec<String> {
    let addr = fixture.gateway.pg_addr;
    vec![
        addr.ip().to_string(),
        addr.port().to_string(),
        fixture.keyspace.clone(),
    ]
}

#[tokio::test]
async fn pgjdbc_reads_the_catalog_and_every_type() {
    let fixture = all_types_fixture("drivers_pgjdbc").await;
    let jar = clients::pg_jdbc_driver().await;
    let program = clients::programs().join("PgJdbc.java");
    let mut args = vec![
        "-cp".into(),
        jar.display().to_string(),
        program.display().to_string(),
    ];
    args.extend(target(&fixture));
    let out = clients::run_program(Path::new("java"), &args).await;
    assert_eq!(out.trim(), "ok", "{out}");
}

#[tokio::test]
async fn python_drivers_reflect_the_table_and_read_every_type() {
    // SQLAlchemy over psycopg 3 and psycopg2, asyncpg, and pyodbc over
    // psqlODBC.
    let fixture = all_types_fixture("drivers_python").await;
    let python = clients::pg_python().await;
    let program = clients::programs().join("pg_python.py");
    let mut args = vec![program.display().to_string()];
    args.extend(target(&fixture));
    let out = clients::run_program(python, &args).await;
    assert_eq!(out.trim(), "ok", "{out}");
}
