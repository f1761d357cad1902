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
    // The table was made through CQL after the gateway connected, so its
    // listings show it from the driver's next schema refresh on (every 10 s
    // by default); smackql's own DDL refreshes at once.
    let listed = format!(
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
         ON n.oid = c.relnamespace WHERE c.relname = 'all_types' AND n.nspname = '{}'",
        fixture.keyspace
    );
    let started = std::time::Instant::now();
    loop {
        let rows = smackql_tests::gateway::text_rows(&fixture.client, &listed).await;
        if rows[0][0].as_deref() == Some("1") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the gateway does not list {}.all_types 30 s after CQL made it",
            fixture.keyspace
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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

/// The statements of trace `name` (`tests/clients/traces/<name>.sql`), each
/// with the texts its result must contain.
fn trace(name: &str, keyspace: &str, table_oid: &str) -> Vec<(String, Vec<String>)> {
    let path = clients::programs().join(format!("traces/{name}.sql"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    text.split("\n-- ----\n")
        .skip(1)
        .map(|chunk| {
            let chunk = chunk
                .replace("{keyspace}", keyspace)
                .replace("{table_oid}", table_oid);
            let (expected, sql): (Vec<&str>, Vec<&str>) = chunk
                .lines()
                .partition(|line| line.starts_with("-- expect: "));
            let expected = expected
                .iter()
                .map(|line| line.trim_start_matches("-- expect: ").to_string())
                .collect();
            (sql.join("\n"), expected)
        })
        .collect()
}

#[tokio::test]
async fn dbeaver_metabase_and_grafana_catalog_queries_run() {
    let fixture = all_types_fixture("drivers_traces").await;
    let (client, ks) = (&fixture.client, &fixture.keyspace);
    let oid = smackql_tests::gateway::text_rows(
        client,
        &format!(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid = c.relnamespace WHERE c.relname = 'all_types' AND n.nspname = '{ks}'"
        ),
    )
    .await;
    let oid = oid[0][0].clone().expect("all_types has an oid");
    for tool in ["dbeaver", "metabase", "grafana"] {
        for (sql, expected) in trace(tool, ks, &oid) {
            // As the tool's driver sends it: the extended protocol.
            if let Err(err) = client.query(sql.as_str(), &[]).await {
                panic!("{tool}: {err:?}\n{sql}");
            }
            if expected.is_empty() {
                continue;
            }
            let text = client.simple_query(&sql).await.unwrap();
            let cells: Vec<String> = text
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some((0..row.len()).filter_map(|i| row.get(i).map(str::to_string)))
                    }
                    _ => None,
                })
                .flatten()
                .collect();
            for want in expected {
                assert!(
                    cells.iter().any(|cell| cell.contains(&want)),
                    "{tool}: no {want} in {cells:?}\n{sql}"
                );
            }
        }
    }
}
