//! Predicates on columns with an SAI index go to Cassandra when the index
//! answers them exactly, and give the same rows as DataFusion's filtering.

use std::time::{Duration, Instant};

use smackql_tests::gateway::{explain, query_rows, KeyspaceFixture};
use smackql_tests::services::cql;

async fn ids(client: &tokio_postgres::Client, sql: &str) -> Vec<(i64, i32)> {
    query_rows(client, sql, |r| (r.get(0), r.get(1))).await
}

#[tokio::test]
async fn indexed_predicates_go_to_cassandra() {
    let f = KeyspaceFixture::new("it_sai").await;
    let (ks, client, session) = (&f.keyspace, &f.client, &f.session);
    let table = format!("\"{ks}\".people");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id bigint, seq int, city text, age int, note text,
                 PRIMARY KEY (id, seq));
             INSERT INTO {table} (id, seq, city, age, note)
                 SELECT value % 60, CAST(value / 60 AS INT),
                 CASE value % 3 WHEN 0 THEN 'Paris' WHEN 1 THEN 'paris' ELSE 'Oslo' END,
                 CAST(value % 50 AS INT),
                 CASE WHEN value % 2 = 0 THEN 'Hello' ELSE 'hello' END
                 FROM generate_series(0, 599);"
        ))
        .await
        .unwrap();
    for index in [
        format!("CREATE INDEX city_idx ON {table} (city) USING 'sai'"),
        format!("CREATE INDEX age_idx ON {table} (age) USING 'sai'"),
        // Case-insensitive: 'hello' would match 'Hello', which SQL's `=`
        // does not. Never used.
        format!(
            "CREATE INDEX note_idx ON {table} (note) USING 'sai' \
             WITH OPTIONS = {{'case_sensitive': 'false'}}"
        ),
    ] {
        cql(session, &index).await;
    }

    // Indexes created in Cassandra are used once built, without a restart.
    let indexed = format!(
        "SELECT id, seq FROM {table} WHERE city = 'Paris' AND age >= 10 AND age < 20 \
         ORDER BY id, seq"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let plan = loop {
        let plan = explain(client, &indexed).await;
        if plan.contains("WHERE \"city\" = ? AND \"age\" >= ? AND \"age\" < ?]") {
            break plan;
        }
        assert!(Instant::now() < deadline, "indexes never used: {plan}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(plan.contains("partitions=all"), "{plan}");
    assert!(!plan.contains("FilterExec"), "{plan}");
    let defeated = format!(
        "SELECT id, seq FROM {table} WHERE city || '' = 'Paris' AND age + 0 >= 10 \
         AND age + 0 < 20 ORDER BY id, seq"
    );
    assert!(explain(client, &defeated).await.contains("FilterExec"));
    let rows = ids(client, &indexed).await;
    assert_eq!(rows.len(), 40);
    assert_eq!(rows, ids(client, &defeated).await);

    // A case-insensitive index is not used: SQL's answer is exact.
    let note = format!("SELECT id, seq FROM {table} WHERE note = 'Hello' ORDER BY id, seq");
    let plan = explain(client, &note).await;
    assert!(!plan.contains("\"note\" = ?"), "{plan}");
    assert_eq!(ids(client, &note).await.len(), 300);

    // With the partition key, the index restricts each partition read.
    let keyed = format!(
        "SELECT id, seq FROM {table} WHERE id IN (3, 4) AND city = 'Paris' ORDER BY id, seq"
    );
    let plan = explain(client, &keyed).await;
    assert!(
        plan.contains("WHERE \"id\" = ? AND \"city\" = ?], partitions=2"),
        "{plan}"
    );
    let rows = ids(client, &keyed).await;
    assert_eq!(rows.len(), 10);
    assert_eq!(
        rows,
        ids(
            client,
            &format!(
                "SELECT id, seq FROM {table} WHERE id + 0 IN (3, 4) AND city || '' = 'Paris' \
                 ORDER BY id, seq"
            )
        )
        .await
    );

    // With token() bounds, the index restricts each token-range read.
    let ranged = format!(
        "SELECT id, seq FROM {table} WHERE token(id) > 0 AND city = 'Oslo' ORDER BY id, seq"
    );
    let plan = explain(client, &ranged).await;
    assert!(
        plan.contains("token(\"id\") <= ? AND \"city\" = ?]"),
        "{plan}"
    );
    let rows = ids(client, &ranged).await;
    assert!(!rows.is_empty());
    assert_eq!(
        rows,
        ids(
            client,
            &format!(
                "SELECT id, seq FROM {table} WHERE token(id) + 0 > 0 AND city || '' = 'Oslo' \
                 ORDER BY id, seq"
            )
        )
        .await
    );
}
