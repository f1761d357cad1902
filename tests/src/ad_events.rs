//! Ad events in Kafka and a materialized view over them: what the view
//! tests produce, declare, and compare.

use tokio_postgres::Client;

use crate::gateway::text_rows;
use crate::kafka::Record;

/// One ad event: campaign, day of October 2024, hour, views and cost, by
/// one of 40 users (chosen by the hour and views).
pub fn event(partition: i32, campaign: i64, day: u32, hour: u32, views: i32) -> Record {
    let user = (hour * 7 + views as u32) % 40;
    Record::text(
        partition,
        &format!(
            r#"{{"campaign_id": {campaign}, "ts": "2024-10-{day:02}T{hour:02}:00:00",
                "views": {views}, "cost": 0.125, "user_id": "user-{user}"}}"#
        ),
    )
}

/// `count` events spread over 3 partitions, 4 campaigns and 3 days, so
/// that every group has events in every partition.
pub fn events(count: usize, seed: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let n = i + seed;
            event(
                (n % 3) as i32,
                (n % 4) as i64 + 1,
                (n / 3 % 3) as u32 + 1,
                (n % 24) as u32,
                (n % 7) as i32,
            )
        })
        .collect()
}

/// `CREATE EXTERNAL TABLE table` over `topic`, of JSON ad events.
pub fn declare(table: &str, topic: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE {table} (campaign_id bigint, ts timestamp, views int, \
         cost decimal(12,4), user_id text) STORED AS KAFKA LOCATION '{topic}' OPTIONS (format 'json')"
    )
}

/// The view's rows and the ground truth over the source, comparable as
/// text: times as epoch seconds, sums of cost as doubles. Checks on the way
/// that each group's `approx_distinct` is within the sketch's error of the
/// exact count.
pub async fn view_and_truth(
    client: &Client,
    view: &str,
    source: &str,
) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    let columns = "campaign_id, date_part('epoch', day), events, views, CAST(cost AS double), \
                   date_part('epoch', first_seen), date_part('epoch', last_seen), avg_views";
    let got = text_rows(
        client,
        &format!("SELECT {columns} FROM {view} ORDER BY 1, 2"),
    )
    .await;
    let want = text_rows(
        client,
        &format!(
            "SELECT {columns} FROM (SELECT campaign_id, date_trunc('day', ts) AS day, \
             count(*) AS events, sum(views) AS views, sum(cost) AS cost, min(ts) AS first_seen, \
             max(ts) AS last_seen, avg(views) AS avg_views FROM {source} \
             GROUP BY campaign_id, date_trunc('day', ts)) ORDER BY 1, 2"
        ),
    )
    .await;
    let users = text_rows(
        client,
        &format!(
            "SELECT v.campaign_id, v.users, t.users FROM {view} v JOIN (SELECT campaign_id, \
             date_trunc('day', ts) AS day, count(DISTINCT user_id) AS users FROM {source} \
             GROUP BY campaign_id, date_trunc('day', ts)) t \
             ON v.campaign_id = t.campaign_id \
             AND date_part('epoch', v.day) = date_part('epoch', t.day)"
        ),
    )
    .await;
    assert_eq!(users.len(), got.len(), "every group has a distinct count");
    for row in &users {
        let number = |i: usize| -> f64 {
            row[i]
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("a count: {row:?}"))
        };
        let (estimate, exact) = (number(1), number(2));
        // HyperLogLog with 4096 registers: a standard error of 1.6%.
        assert!(
            (estimate - exact).abs() <= 1.0 + 0.05 * exact,
            "approx_distinct is {estimate} where the exact count is {exact}: {row:?}"
        );
    }
    (got, want)
}

/// The view of daily totals per campaign over `source`, with `with`
/// (`WITH (...)` or nothing).
pub fn create_view(view: &str, source: &str, with: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW {view} {with} AS SELECT campaign_id, \
         date_trunc('day', ts) AS day, count(*) AS events, sum(views) AS views, \
         sum(cost) AS cost, min(ts) AS first_seen, max(ts) AS last_seen, avg(views) AS avg_views, \
         approx_distinct(user_id) AS users FROM {source} GROUP BY campaign_id, date_trunc('day', ts)"
    )
}

/// Asserts that the view of [`create_view`] over `source`, once it has
/// caught up (`REFRESH`), equals the aggregate over `source` in all its 12
/// groups.
pub async fn assert_view_exact(client: &Client, view: &str, source: &str) {
    crate::gateway::run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let (got, want) = view_and_truth(client, view, source).await;
    assert_eq!(got.len(), 12, "{got:?}");
    assert_eq!(
        got, want,
        "the view differs from the aggregate over its source"
    );
}
