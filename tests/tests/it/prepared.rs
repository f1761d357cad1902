//! Prepared statements executed many times: each execution sees its own
//! parameter values and the session's current settings, whether its plan is
//! reused or made afresh.

use std::time::{Duration, SystemTime};

use smackql_tests::gateway::{sqlstate, KeyspaceFixture};
use smackql_tests::services::cql;
use tokio_postgres::types::Type;

/// Executions enough for a statement's plan to be made for reuse and then
/// reused.
const ROUNDS: usize = 3;

async fn fixture() -> KeyspaceFixture {
    let f = KeyspaceFixture::new("it_prep").await;
    let ks = &f.keyspace;
    cql(
        &f.session,
        &format!(
            "CREATE TABLE \"{ks}\".events (campaign_id bigint, day date, ts timestamp, \
             views bigint, PRIMARY KEY ((campaign_id, day), ts))"
        ),
    )
    .await;
    cql(
        &f.session,
        &format!("CREATE TABLE \"{ks}\".tags (tag ascii PRIMARY KEY, n int)"),
    )
    .await;
    cql(
        &f.session,
        &format!("INSERT INTO \"{ks}\".tags (tag, n) VALUES ('abc', 1)"),
    )
    .await;
    let insert = f
        .session
        .prepare(format!(
            "INSERT INTO \"{ks}\".events (campaign_id, day, ts, views) VALUES (?, '2024-10-04', ?, ?)"
        ))
        .await
        .unwrap();
    for campaign in 0..4i64 {
        for n in 0..5i64 {
            f.session
                .execute_unpaged(
                    &insert,
                    (campaign, scylla::value::CqlTimestamp(n), campaign * 100 + n),
                )
                .await
                .unwrap();
        }
    }
    f
}

fn views(rows: &[tokio_postgres::Row]) -> Vec<i64> {
    let mut views: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    views.sort_unstable();
    views
}

fn expected(campaigns: &[i64]) -> Vec<i64> {
    let mut views: Vec<i64> = campaigns
        .iter()
        .flat_map(|c| (0..5).map(move |n| c * 100 + n))
        .collect();
    views.sort_unstable();
    views
}

#[tokio::test]
async fn every_execution_binds_its_own_values() {
    let f = fixture().await;
    let client = &f.client;
    let events = f.table("events");
    let one = client
        .prepare(&format!(
            "select views from {events} where campaign_id = $1 and day = DATE '2024-10-04'"
        ))
        .await
        .unwrap();
    let two = client
        .prepare(&format!(
            "select views from {events} where campaign_id in ($1, $2) and day = DATE '2024-10-04'"
        ))
        .await
        .unwrap();
    let slice = client
        .prepare(&format!(
            "select views from {events} where campaign_id = $1 and day = DATE '2024-10-04' \
             and ts >= $2 and ts < $3"
        ))
        .await
        .unwrap();
    let ms = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(n);
    for _ in 0..ROUNDS {
        for campaign in 0..5i64 {
            let rows = client.query(&one, &[&campaign]).await.unwrap();
            let want = if campaign < 4 {
                expected(&[campaign])
            } else {
                vec![]
            };
            assert_eq!(views(&rows), want, "campaign {campaign}");
        }
        let rows = client.query(&two, &[&1i64, &3i64]).await.unwrap();
        assert_eq!(views(&rows), expected(&[1, 3]));
        // The same key twice is read once.
        let rows = client.query(&two, &[&2i64, &2i64]).await.unwrap();
        assert_eq!(views(&rows), expected(&[2]));
        let rows = client
            .query(&slice, &[&2i64, &ms(1), &ms(4)])
            .await
            .unwrap();
        assert_eq!(views(&rows), vec![201, 202, 203]);
    }
    // A null matches nothing, in every position.
    let null: Option<i64> = None;
    assert!(client.query(&one, &[&null]).await.unwrap().is_empty());
    let rows = client.query(&two, &[&null, &1i64]).await.unwrap();
    assert_eq!(views(&rows), expected(&[1]));
    let no_time: Option<SystemTime> = None;
    let rows = client
        .query(&slice, &[&2i64, &no_time, &ms(4)])
        .await
        .unwrap();
    assert!(rows.is_empty());
    // And the statement still works afterwards.
    let rows = client.query(&one, &[&3i64]).await.unwrap();
    assert_eq!(views(&rows), expected(&[3]));
}

#[tokio::test]
async fn values_that_cannot_go_down_are_filtered_by_datafusion() {
    let f = fixture().await;
    let client = &f.client;
    let tags = client
        .prepare(&format!("select n from {} where tag = $1", f.table("tags")))
        .await
        .unwrap();
    for _ in 0..ROUNDS {
        let rows = client.query(&tags, &[&"abc"]).await.unwrap();
        assert_eq!(rows.len(), 1);
        // Not ASCII: no `ascii` key can equal it, and nothing fails.
        assert!(client.query(&tags, &[&"é"]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn parameters_outside_the_scan_and_clock_functions_are_evaluated_each_time() {
    let f = fixture().await;
    let client = &f.client;
    let events = f.table("events");
    let shifted = client
        .prepare(&format!(
            "select views + $1 from {events} where campaign_id = 1 and day = DATE '2024-10-04'"
        ))
        .await
        .unwrap();
    let limited = client
        .prepare_typed(
            &format!(
                "select views from {events} where campaign_id = $1 and day = DATE '2024-10-04' limit $2"
            ),
            &[Type::INT8, Type::INT8],
        )
        .await
        .unwrap();
    for round in 0..ROUNDS as i64 {
        let rows = client.query(&shifted, &[&round]).await.unwrap();
        let want: Vec<i64> = expected(&[1]).iter().map(|v| v + round).collect();
        assert_eq!(views(&rows), want);
        let rows = client
            .query(&limited, &[&2i64, &(round + 1)])
            .await
            .unwrap();
        assert_eq!(rows.len(), round as usize + 1);
    }

    let now = client.prepare("select now()").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..ROUNDS {
        let row = client.query_one(&now, &[]).await.unwrap();
        let at: SystemTime = row.get(0);
        assert!(!seen.contains(&at), "now() repeated {at:?}");
        seen.push(at);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn set_applies_to_statements_prepared_before_it() {
    let f = fixture().await;
    let client = &f.client;
    let one = client
        .prepare(&format!(
            "select views from {} where campaign_id = $1 and day = DATE '2024-10-04'",
            f.table("events")
        ))
        .await
        .unwrap();
    for _ in 0..ROUNDS {
        assert_eq!(client.query(&one, &[&1i64]).await.unwrap().len(), 5);
    }
    // The keyspace has one replica, so Cassandra refuses TWO: the error
    // proves the new level reached it.
    client
        .batch_execute("SET cassandra.consistency = 'TWO'")
        .await
        .unwrap();
    for _ in 0..ROUNDS {
        let err = client.query(&one, &[&1i64]).await.unwrap_err();
        assert_eq!(sqlstate(&err), "08006", "{err}");
    }
    // The same through a prepared SET.
    client
        .execute("SET cassandra.consistency = 'ONE'", &[])
        .await
        .unwrap();
    for _ in 0..ROUNDS {
        assert_eq!(client.query(&one, &[&1i64]).await.unwrap().len(), 5);
    }
}
