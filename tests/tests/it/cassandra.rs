//! Cassandra keyspaces and tables as SQL schemas and tables.

use smackql_tests::gateway::{explain, query_rows, sqlstate, KeyspaceFixture, TestGateway};
use smackql_tests::services::{cassandra, cql, create_keyspace};
use smackql_tests::unique_name;

#[tokio::test]
async fn tables_are_queryable_and_listed() {
    let session = cassandra().await;
    let ks = unique_name("it_scan");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!(
            "CREATE TABLE \"{ks}\".events (campaign_id bigint, day date, ts timestamp, \
             views int, note text, PRIMARY KEY ((campaign_id, day), ts))"
        ),
    )
    .await;
    let insert = session
        .prepare(format!(
            "INSERT INTO \"{ks}\".events (campaign_id, day, ts, views, note) VALUES (?, ?, ?, ?, ?)"
        ))
        .await
        .unwrap();
    let day = scylla::value::CqlDate((1u32 << 31) + 20_000);
    for i in 0..25i64 {
        let note = (i == 3).then_some("it's; -- fine");
        session
            .execute_unpaged(
                &insert,
                (
                    i % 3,
                    day,
                    scylla::value::CqlTimestamp(1_700_000_000_000 + i),
                    i as i32,
                    note,
                ),
            )
            .await
            .unwrap();
    }

    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let row = client
        .query_one(
            &format!("select count(*), sum(views) from \"{ks}\".events"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 25);
    assert_eq!(row.get::<_, i64>(1), (0..25).sum::<i64>());

    let note: String = client
        .query_one(
            &format!("select note from \"{ks}\".events where views = 3"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(note, "it's; -- fine");

    let per_campaign = client
        .query(
            &format!(
                "select campaign_id, count(*) from \"{ks}\".events group by campaign_id order by campaign_id"
            ),
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<(i64, i64)> = per_campaign.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(counts, vec![(0, 9), (1, 8), (2, 8)]);

    // The keyspace is a schema, its table a table, in information_schema.
    let listed = client
        .query(
            "select table_name from information_schema.tables where table_schema = $1",
            &[&ks],
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].get::<_, String>(0), "events");
    // Its primary-key columns are not nullable there, as in pg_attribute.
    let nullable = client
        .query(
            "select column_name, is_nullable from information_schema.columns \
             where table_schema = $1 and table_name = 'events' order by ordinal_position",
            &[&ks],
        )
        .await
        .unwrap();
    let nullable: Vec<(String, String)> = nullable.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected = [
        ("campaign_id", "NO"),
        ("day", "NO"),
        ("ts", "NO"),
        ("note", "YES"),
        ("views", "YES"),
    ];
    assert_eq!(
        nullable,
        expected.map(|(c, n)| (c.to_string(), n.to_string()))
    );

    // Unknown tables in a known keyspace are 42P01.
    let err = client
        .simple_query(&format!("select * from \"{ks}\".nope"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");

    // EXPLAIN shows the CQL sent.
    let plan = client
        .simple_query(&format!("explain select views from \"{ks}\".events"))
        .await
        .unwrap();
    let text: String = plan
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(
        text.contains(&format!(
            "SELECT \"views\" FROM \"{ks}\".\"events\" \
             WHERE token(\"campaign_id\", \"day\") > ? AND token(\"campaign_id\", \"day\") <= ?"
        )) && text.contains("partitions=all, token_ranges=")
            && text.contains("streams=4"),
        "a full scan reads token ranges in parallel: {text}"
    );
}

#[tokio::test]
async fn new_tables_appear_without_a_restart_and_names_keep_their_case() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    // Touch Cassandra once so the gateway has connected.
    let _ = client
        .simple_query("select * from information_schema.tables")
        .await;

    let session = cassandra().await;
    let ks = unique_name("it_live");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".\"MixedCase\" (\"Id\" int PRIMARY KEY, \"select\" text)"),
    )
    .await;
    cql(
        &session,
        &format!("INSERT INTO \"{ks}\".\"MixedCase\" (\"Id\", \"select\") VALUES (7, 'seven')"),
    )
    .await;

    let row = client
        .query_one(
            &format!("select \"Id\", \"select\" from \"{ks}\".\"MixedCase\""),
            &[],
        )
        .await
        .expect("the new table is found at once");
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(row.get::<_, String>(1), "seven");

    cql(&session, &format!("DROP TABLE \"{ks}\".\"MixedCase\"")).await;
    // The dropped table disappears once the driver's metadata catches up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match client
            .simple_query(&format!("select * from \"{ks}\".\"MixedCase\""))
            .await
        {
            Err(err) if sqlstate(&err) == "42P01" => break,
            Err(err) if sqlstate(&err) == "22000" || sqlstate(&err) == "58000" => break,
            _ if std::time::Instant::now() > deadline => panic!("dropped table still there"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
}

async fn rows_of(client: &tokio_postgres::Client, sql: &str) -> Vec<(i64, i64)> {
    query_rows(client, sql, |r| (r.get(0), r.get(1))).await
}

#[tokio::test]
async fn partition_key_filters_become_partition_reads() {
    let session = cassandra().await;
    let ks = unique_name("it_pk");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!(
            "CREATE TABLE \"{ks}\".events (campaign_id bigint, day date, ts timestamp, \
             views bigint, PRIMARY KEY ((campaign_id, day), ts))"
        ),
    )
    .await;
    let insert = session
        .prepare(format!(
            "INSERT INTO \"{ks}\".events (campaign_id, day, ts, views) VALUES (?, ?, ?, ?)"
        ))
        .await
        .unwrap();
    for campaign in 0..4i64 {
        for day in 0..3u32 {
            for n in 0..5i64 {
                session
                    .execute_unpaged(
                        &insert,
                        (
                            campaign,
                            scylla::value::CqlDate((1u32 << 31) + 20_000 + day),
                            scylla::value::CqlTimestamp(n),
                            campaign * 100 + n,
                        ),
                    )
                    .await
                    .unwrap();
            }
        }
    }

    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let table = format!("\"{ks}\".events");

    // IN on one key column, = on the other: two partition reads.
    let pushed = format!(
        "select campaign_id, views from {table} \
         where campaign_id in (0, 2) and day = DATE '2024-10-04' order by campaign_id, views"
    );
    let plan = explain(&client, &pushed).await;
    assert!(
        plan.contains(&format!(
            "SELECT \"campaign_id\", \"views\" FROM \"{ks}\".\"events\" WHERE \"campaign_id\" = ? AND \"day\" = ?"
        )) && plan.contains("partitions=2"),
        "{plan}"
    );
    // The same rows as DataFusion filtering a full scan (the arithmetic keeps
    // the predicate from being pushed down).
    let scanned = format!(
        "select campaign_id, views from {table} \
         where campaign_id + 0 in (0, 2) and day = DATE '2024-10-04' order by campaign_id, views"
    );
    assert!(explain(&client, &scanned).await.contains("partitions=all"));
    let expected: Vec<(i64, i64)> = [0, 2]
        .iter()
        .flat_map(|c| (0..5).map(move |n| (*c, c * 100 + n)))
        .collect();
    assert_eq!(rows_of(&client, &pushed).await, expected);
    assert_eq!(rows_of(&client, &scanned).await, expected);

    // A bounded day range is the list of its days: 2 x 2 partition reads.
    let ranged = format!(
        "select campaign_id, views from {table} where campaign_id in (0, 2) \
         and day between DATE '2024-10-04' and DATE '2024-10-05' order by campaign_id, views"
    );
    let plan = explain(&client, &ranged).await;
    assert!(plan.contains("partitions=4"), "{plan}");
    let ranged_scan = ranged.replace("campaign_id in", "campaign_id + 0 in");
    assert!(explain(&client, &ranged_scan)
        .await
        .contains("partitions=all"));
    let rows = rows_of(&client, &ranged).await;
    assert_eq!(rows.len(), 20);
    assert_eq!(rows, rows_of(&client, &ranged_scan).await);

    // A partial key is not pushed: the table is scanned and filtered.
    let partial =
        format!("select campaign_id, views from {table} where campaign_id = 3 order by views");
    assert!(explain(&client, &partial).await.contains("partitions=all"));
    assert_eq!(rows_of(&client, &partial).await.len(), 15);

    // A key that does not exist reads nothing; the extended protocol binds
    // parameters before planning the scan.
    let none = client
        .query(
            &format!(
                "select views from {table} where campaign_id = $1 and day = DATE '2024-10-04'"
            ),
            &[&99i64],
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let one = client
        .query(
            &format!("select views from {table} where campaign_id = $1 and day = DATE '2024-10-05' order by views"),
            &[&1i64],
        )
        .await
        .unwrap();
    let views: Vec<i64> = one.iter().map(|r| r.get(0)).collect();
    assert_eq!(views, vec![100, 101, 102, 103, 104]);

    // LIMIT goes down with the key.
    let limited = format!(
        "select campaign_id, views from {table} where campaign_id = 1 and day = DATE '2024-10-04' limit 2"
    );
    let plan = explain(&client, &limited).await;
    assert!(
        plan.contains("LIMIT ?") && plan.contains("partitions=1"),
        "{plan}"
    );
    assert_eq!(rows_of(&client, &limited).await.len(), 2);

    // `=` on the key plus a range on the clustering column: one partition
    // read of a slice of it, with the same rows as DataFusion filtering.
    let slice = |ts: &str| {
        format!(
            "select campaign_id, views from {table} where campaign_id = 2 \
             and day = DATE '2024-10-05' and {ts} order by views"
        )
    };
    let range = "ts >= TIMESTAMP '1970-01-01 00:00:00.001+00' and ts < TIMESTAMP '1970-01-01 00:00:00.004+00'";
    let plan = explain(&client, &slice(range)).await;
    assert!(
        plan.contains(&format!(
            "FROM \"{ks}\".\"events\" WHERE \"campaign_id\" = ? AND \"day\" = ? AND \"ts\" >= ? AND \"ts\" < ?"
        )) && plan.contains("partitions=1"),
        "{plan}"
    );
    let expected = vec![(2, 201), (2, 202), (2, 203)];
    assert_eq!(rows_of(&client, &slice(range)).await, expected);
    let unpushed = "ts + INTERVAL '0 seconds' >= TIMESTAMP '1970-01-01 00:00:00.001+00' \
                    and ts + INTERVAL '0 seconds' < TIMESTAMP '1970-01-01 00:00:00.004+00'";
    assert!(!explain(&client, &slice(unpushed))
        .await
        .contains("\"ts\" >= ?"));
    assert_eq!(rows_of(&client, &slice(unpushed)).await, expected);
    let between = "ts between TIMESTAMP '1970-01-01 00:00:00.003+00' and TIMESTAMP '1970-01-01 00:00:00.009+00'";
    assert!(explain(&client, &slice(between))
        .await
        .contains("\"ts\" <= ?"));
    assert_eq!(
        rows_of(&client, &slice(between)).await,
        vec![(2, 203), (2, 204)]
    );
}

#[tokio::test]
async fn full_scans_page_through_every_token_range() {
    let session = cassandra().await;
    let ks = unique_name("it_ranges");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".t (id bigint PRIMARY KEY, v bigint)"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO \"{ks}\".t (id, v) VALUES (?, ?)"))
        .await
        .unwrap();
    let n = 400i64;
    futures::future::try_join_all((0..n).map(|i| session.execute_unpaged(&insert, (i, i * 3))))
        .await
        .unwrap();

    // Tiny pages and an odd number of ranges and streams: every page
    // boundary and range edge is crossed many times.
    let gateway = TestGateway::start_with(|c| {
        c.cassandra.page_size = 7;
        c.cassandra.scan_splits = Some(13);
        c.cassandra.scan_parallelism = 3;
    })
    .await;
    let client = gateway.client().await;
    let row = client
        .query_one(
            &format!("select count(*), sum(v), count(distinct id) from \"{ks}\".t"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), n);
    assert_eq!(row.get::<_, i64>(1), 3 * n * (n - 1) / 2);
    assert_eq!(row.get::<_, i64>(2), n, "no row read twice");
    // At least the 13 ranges asked for, more where the ring's own tokens
    // (16 per node here) cut them, so no range crosses a token.
    let plan = explain(&client, &format!("select v from \"{ks}\".t")).await;
    let ranges: usize = plan
        .split("token_ranges=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(ranges >= 17, "{plan}");
    assert!(plan.contains("streams=3"), "{plan}");

    // A LIMIT without filters is one plain query that stops early.
    let limited = client
        .query(&format!("select id from \"{ks}\".t limit 10"), &[])
        .await
        .unwrap();
    assert_eq!(limited.len(), 10);
}

#[tokio::test]
async fn token_function_agrees_with_cassandra() {
    let session = cassandra().await;
    let ks = unique_name("it_token");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".by_int (k int PRIMARY KEY)"),
    )
    .await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".by_text (k text PRIMARY KEY)"),
    )
    .await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".by_pair (a bigint, d date, PRIMARY KEY ((a, d)))"),
    )
    .await;
    for i in [-5i32, 0, 1, 42, 1_000_000, i32::MAX] {
        cql(
            &session,
            &format!("INSERT INTO \"{ks}\".by_int (k) VALUES ({i})"),
        )
        .await;
    }
    // Lengths around the 16-byte block, and bytes >= 0x80 in the tail, where
    // Cassandra's hash differs from the reference MurmurHash3.
    for text in [
        "a",
        "é",
        "ünïcödé",
        "exactly sixteen!",
        "seventeen bytes!!",
        "日本語のキー",
    ] {
        cql(
            &session,
            &format!("INSERT INTO \"{ks}\".by_text (k) VALUES ('{text}')"),
        )
        .await;
    }
    for a in [1i64, -7, 1 << 40] {
        for d in ["2024-10-04", "1970-01-01"] {
            cql(
                &session,
                &format!("INSERT INTO \"{ks}\".by_pair (a, d) VALUES ({a}, '{d}')"),
            )
            .await;
        }
    }

    let expected = |table: &'static str, key: &'static str| {
        let session = &session;
        let ks = ks.clone();
        async move {
            let mut rows: Vec<i64> = session
                .query_unpaged(format!("SELECT token({key}) FROM \"{ks}\".{table}"), ())
                .await
                .unwrap()
                .into_rows_result()
                .unwrap()
                .rows::<(i64,)>()
                .unwrap()
                .map(|r| r.unwrap().0)
                .collect();
            rows.sort();
            rows
        }
    };

    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let actual = |table: &'static str, key: &'static str| {
        let client = &client;
        let ks = ks.clone();
        async move {
            let mut rows: Vec<i64> = client
                .query(&format!("select token({key}) from \"{ks}\".{table}"), &[])
                .await
                .unwrap_or_else(|err| panic!("token() over {table}: {err}"))
                .iter()
                .map(|r| r.get(0))
                .collect();
            rows.sort();
            rows
        }
    };
    for (table, key) in [("by_int", "k"), ("by_text", "k"), ("by_pair", "a, d")] {
        let want = expected(table, key).await;
        assert!(!want.is_empty());
        assert_eq!(actual(table, key).await, want, "token({key}) of {table}");
    }
}

#[tokio::test]
async fn token_ranges_go_down_and_match_cql() {
    let session = cassandra().await;
    let ks = unique_name("it_tokrange");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".t (id int PRIMARY KEY, v int)"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO \"{ks}\".t (id, v) VALUES (?, ?)"))
        .await
        .unwrap();
    futures::future::try_join_all((0..200i32).map(|i| session.execute_unpaged(&insert, (i, i))))
        .await
        .unwrap();
    let (lo, hi) = (-3_000_000_000_000_000_000i64, 4_000_000_000_000_000_000i64);
    let mut want: Vec<i32> = session
        .query_unpaged(
            format!("SELECT id FROM \"{ks}\".t WHERE token(id) > {lo} AND token(id) <= {hi}"),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(i32,)>()
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    want.sort();
    assert!(!want.is_empty() && want.len() < 200);

    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let sql = format!(
        "select id from \"{ks}\".t where token(id) > {lo} and token(id) <= {hi} order by id"
    );
    let plan = explain(&client, &sql).await;
    assert!(
        plan.contains("WHERE token(\"id\") > ? AND token(\"id\") <= ?"),
        "{plan}"
    );
    assert!(
        !plan.contains("FilterExec"),
        "the token filter is exact: {plan}"
    );
    let got: Vec<i32> = client
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, want);

    // Bounds that admit no token read nothing.
    let none = format!("select id from \"{ks}\".t where token(id) > 5 and token(id) < 3");
    assert!(explain(&client, &none).await.contains("partitions=0"));
    assert!(client.query(&none, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn consistency_and_timeouts_are_set_per_table_and_session() {
    let session = cassandra().await;
    let ks = unique_name("it_cl");
    create_keyspace(&session, &ks).await;
    for table in ["t", "strict"] {
        cql(
            &session,
            &format!("CREATE TABLE \"{ks}\".{table} (id int PRIMARY KEY)"),
        )
        .await;
        cql(
            &session,
            &format!("INSERT INTO \"{ks}\".{table} (id) VALUES (1)"),
        )
        .await;
    }

    // The test keyspace has one replica: TWO cannot be met, and Cassandra
    // says so, which proves the level reached it.
    let strict_table = format!("{ks}.strict");
    let gateway = TestGateway::start_with(|c| {
        c.cassandra.tables.insert(
            strict_table,
            smackql::config::CassandraTableConfig {
                consistency: Some("TWO".into()),
                request_timeout: Some(std::time::Duration::from_secs(7)),
            },
        );
    })
    .await;
    let client = gateway.client().await;
    let other = gateway.client().await;
    let query = format!("select id from \"{ks}\".t");
    let strict = format!("select id from \"{ks}\".strict");

    // The table's own level applies, and shows in EXPLAIN.
    let err = client.query(&strict, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let plan = explain(&client, &strict).await;
    assert!(
        plan.contains("consistency=Two, request_timeout=7s"),
        "{plan}"
    );
    assert_eq!(client.query(&query, &[]).await.unwrap().len(), 1);

    // A session's level wins, for this session only.
    client
        .batch_execute("SET cassandra.consistency = 'TWO'")
        .await
        .unwrap();
    let err = client.query(&query, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    assert_eq!(other.query(&query, &[]).await.unwrap().len(), 1);

    client
        .batch_execute("SET cassandra.consistency = 'local_one'")
        .await
        .unwrap();
    assert_eq!(client.query(&query, &[]).await.unwrap().len(), 1);
    assert_eq!(client.query(&strict, &[]).await.unwrap().len(), 1);
    client
        .batch_execute("SET cassandra.request_timeout_ms = 1500")
        .await
        .unwrap();
    let plan = explain(&client, &strict).await;
    assert!(
        plan.contains("consistency=LocalOne, request_timeout=1.5s"),
        "{plan}"
    );

    client
        .batch_execute("SET cassandra.consistency = 'MOST'")
        .await
        .unwrap();
    let err = client.query(&query, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{err}");
}

#[tokio::test]
async fn joins_read_only_the_partitions_of_the_other_side() {
    let f = KeyspaceFixture::new("it_lookup").await;
    let (ks, client) = (&f.keyspace, &f.client);
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{ks}\".campaigns (campaign_id bigint PRIMARY KEY, advertiser text);
             CREATE TABLE \"{ks}\".events (campaign_id bigint, day date, seq int, views bigint,
                 PRIMARY KEY ((campaign_id, day), seq));
             INSERT INTO \"{ks}\".campaigns SELECT value,
                 CASE WHEN value % 10 = 3 THEN 'acme' ELSE 'other' END
                 FROM generate_series(0, 49);
             INSERT INTO \"{ks}\".events SELECT value % 50,
                 DATE '2024-09-25' + CAST((value / 50) % 20 AS INT), CAST(value / 1000 AS INT), value
                 FROM generate_series(0, 2999);"
        ))
        .await
        .unwrap();
    let query = format!(
        "SELECT c.campaign_id, count(*), sum(e.views) \
         FROM \"{ks}\".campaigns c JOIN \"{ks}\".events e ON e.campaign_id = c.campaign_id \
         WHERE c.advertiser = 'acme' AND e.day BETWEEN DATE '2024-10-01' AND DATE '2024-10-10' \
         GROUP BY c.campaign_id ORDER BY c.campaign_id"
    );
    let plan = explain(client, &query).await;
    assert!(
        plan.contains("lookup=[campaign_id: from join, day: 10 values], join_filters=1"),
        "{plan}"
    );
    // 5 campaigns of acme x 10 days, not the 1,000 partitions of the table.
    let analyzed = explain(client, &format!("ANALYZE {query}")).await;
    assert!(analyzed.contains("partition_reads=50"), "{analyzed}");
    let looked_up = rows3(client, &query).await;
    assert_eq!(looked_up.len(), 5);

    // The same answer without the join's filter: a full scan.
    client
        .batch_execute("SET datafusion.optimizer.enable_join_dynamic_filter_pushdown = false")
        .await
        .unwrap();
    let analyzed = explain(client, &format!("ANALYZE {query}")).await;
    assert!(!analyzed.contains("partition_reads=50"), "{analyzed}");
    assert_eq!(rows3(client, &query).await, looked_up);
}

async fn rows3(client: &tokio_postgres::Client, sql: &str) -> Vec<(i64, i64, i64)> {
    query_rows(client, sql, |r| (r.get(0), r.get(1), r.get(2))).await
}
