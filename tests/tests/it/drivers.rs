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

#[tokio::test]
async fn pgjdbc_reads_the_catalog_and_every_type() {
    let fixture = all_types_fixture("drivers_pgjdbc").await;
    let jar = clients::pg_jdbc_driver().await;
    let program = clients::programs().join("PgJdbc.java");
    let addr = fixture.gateway.pg_addr;
    let out = clients::run_program(
        Path::new("java"),
        &[
            "-cp".into(),
            jar.display().to_string(),
            program.display().to_string(),
            addr.ip().to_string(),
            addr.port().to_string(),
            fixture.keyspace.clone(),
        ],
    )
    .await;
    assert_eq!(out.trim(), "ok", "{out}");
}
