//! The demo data set and the question it exists to answer.

use smackql::demo::{self, DemoLoad};
use smackql_tests::gateway::TestGateway;
use smackql_tests::unique_name;

#[tokio::test]
async fn total_views_per_campaign_for_a_month_is_one_join() {
    let gateway = TestGateway::start().await;
    let ks = unique_name("it_demo");
    // Three rounds of every (campaign, day) partition.
    let events = (demo::CAMPAIGNS * demo::DAYS * 3) as u64;
    let session = gateway.sessions.new_session();
    let first = demo::load(&gateway.sql, &session, &ks, events)
        .await
        .unwrap();
    assert_eq!(first, DemoLoad::Loaded(events));
    let again = demo::load(&gateway.sql, &session, &ks, events)
        .await
        .unwrap();
    assert_eq!(again, DemoLoad::AlreadyLoaded, "a second load is skipped");

    let client = gateway.client().await;
    let counts = client
        .query_one(
            &format!(
                "select (select count(*) from \"{ks}\".campaigns) as c, (select count(*) from \"{ks}\".events) as e"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(counts.get::<_, i64>(0), demo::CAMPAIGNS);
    assert_eq!(counts.get::<_, i64>(1), events as i64);

    // The README's query, for October.
    let rows = client
        .query(
            &format!(
                "SELECT c.campaign_id, c.name, sum(e.views) AS views
                 FROM \"{ks}\".campaigns c JOIN \"{ks}\".events e ON e.campaign_id = c.campaign_id
                 WHERE e.day BETWEEN DATE '2024-10-01' AND DATE '2024-10-31'
                 GROUP BY c.campaign_id, c.name ORDER BY c.campaign_id"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), demo::CAMPAIGNS as usize);
    for row in &rows {
        let campaign: i64 = row.get(0);
        let name: String = row.get(1);
        assert_eq!(name, format!("campaign-{campaign}"));
        // October is days 30..=60 after 2024-09-01.
        let expected: i64 = (30..61).map(|d| demo::views_of(events, campaign, d)).sum();
        assert_eq!(row.get::<_, i64>(2), expected, "campaign {campaign}");
    }

    // Fresh events wait in Kafka; the same question joins them with Cassandra.
    let (table, _) = demo::kafka_names(&ks);
    let fresh = demo::kafka_events(events) as i64;
    let rows = client
        .query(
            &format!(
                "SELECT c.name, sum(e.views) AS views, count(*) AS n
                 FROM kafka.\"{table}\" e JOIN \"{ks}\".campaigns c ON c.campaign_id = e.campaign_id
                 GROUP BY c.name ORDER BY views DESC"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), demo::CAMPAIGNS as usize);
    let views: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    let messages: i64 = rows.iter().map(|r| r.get::<_, i64>(2)).sum();
    assert_eq!(messages, fresh);
    assert_eq!(views, (0..fresh).map(|v| 1 + (v * 7) % 10).sum::<i64>());

    // The demo's materialized view holds the same totals, by day.
    let view = format!("\"{ks}\".{}", demo::VIEW);
    client
        .batch_execute(&format!("REFRESH MATERIALIZED VIEW {view}"))
        .await
        .unwrap();
    let totals = client
        .query_one(
            &format!("SELECT sum(events), sum(views), count(*) FROM {view}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(totals.get::<_, i64>(0), fresh);
    assert_eq!(totals.get::<_, i64>(1), views);
    let days = client
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT DISTINCT campaign_id, date_trunc('day', ts) \
                 FROM kafka.\"{table}\")"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(totals.get::<_, i64>(2), days.get::<_, i64>(0));
    client
        .batch_execute(&format!("DROP MATERIALIZED VIEW {view} PURGE"))
        .await
        .unwrap();
}
