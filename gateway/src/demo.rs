//! The demo data set: the SMACK example that smackql replaces.
//!
//! Campaigns live in Cassandra (`campaigns`), and ad events land in a
//! Cassandra table partitioned by campaign and day (`events`): two months of
//! them, September and October 2024. "Total views per campaign for a given
//! month" is then one SQL join:
//!
//! ```sql
//! SELECT c.name, sum(e.views) AS views
//! FROM ks.campaigns c JOIN ks.events e ON e.campaign_id = c.campaign_id
//! WHERE e.day BETWEEN DATE '2024-10-01' AND DATE '2024-10-31'
//! GROUP BY c.name ORDER BY views DESC LIMIT 10;
//! ```
//!
//! Fresh events, of November 2024, wait in Kafka: topic `ad-events`,
//! declared as table `kafka.ad_events` (for a demo in another keyspace `k`,
//! topic `k-ad-events` and table `kafka.k_ad_events`, see [`kafka_names`]).
//! The same question over them joins Kafka with Cassandra:
//!
//! ```sql
//! SELECT c.name, sum(e.views) AS views
//! FROM kafka.ad_events e JOIN ks.campaigns c ON c.campaign_id = e.campaign_id
//! GROUP BY c.name ORDER BY views DESC LIMIT 10;
//! ```
//!
//! A materialized view keeps that question answered continuously: the
//! demo defines `ks.views_by_campaign_day` ([`VIEW`]), daily totals per
//! campaign over `kafka.ad_events`, which the gateway backfills and then
//! keeps current as events arrive:
//!
//! ```sql
//! SELECT c.name, sum(v.views) AS views, max(v.users) AS busiest_day_users
//! FROM ks.views_by_campaign_day v JOIN ks.campaigns c ON c.campaign_id = v.campaign_id
//! WHERE v.day >= TIMESTAMP '2024-11-01' AND v.day < TIMESTAMP '2024-12-01'
//! GROUP BY c.name ORDER BY views DESC LIMIT 10;
//! ```
//!
//! The rows are a pure function of their number, so loading twice writes the
//! same rows, and a load that was interrupted is simply run again. A row in
//! `demo_loads` records a finished load; with it present, loading is skipped.
//! (Messages are appended, not upserted: a Kafka load interrupted before it
//! was recorded leaves its messages in the topic, and running it again adds
//! them once more.)

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use smackql_cassandra::cql::quote_identifier;
use tracing::info;

use crate::sql::SqlRunner;

/// The materialized view the demo defines, in the demo's keyspace.
pub const VIEW: &str = "views_by_campaign_day";

/// Campaigns in the demo.
pub const CAMPAIGNS: i64 = 200;
/// Days of events: September and October 2024.
pub const DAYS: i64 = 61;
/// Rows of `events` loaded by default: enough that a full scan takes a few
/// seconds.
pub const DEFAULT_EVENT_ROWS: u64 = 2_000_000;

/// 2024-09-01T00:00:00Z in seconds since the epoch.
const FIRST_DAY_EPOCH: i64 = 1_725_148_800;
/// 2024-11-01T00:00:00Z in seconds since the epoch: where Kafka's events start.
const KAFKA_FIRST_EPOCH: i64 = 1_730_419_200;
/// Partitions of the demo topic.
const KAFKA_PARTITIONS: u32 = 6;

/// The Kafka table (in schema `kafka`) and topic of the demo in `keyspace`.
pub fn kafka_names(keyspace: &str) -> (String, String) {
    match keyspace {
        "ks" => ("ad_events".into(), "ad-events".into()),
        other => (format!("{other}_ad_events"), format!("{other}-ad-events")),
    }
}

/// Events produced to Kafka for `events` rows in Cassandra: one for every
/// twenty, at least one per campaign.
pub fn kafka_events(events: u64) -> u64 {
    (events / 20).max(CAMPAIGNS as u64)
}

/// What [`load`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoLoad {
    /// The data was there already.
    AlreadyLoaded,
    /// This many events were written (and all campaigns).
    Loaded(u64),
}

/// Loads the demo into `keyspace` (created if missing) with `events` rows.
pub async fn load(
    runner: &SqlRunner,
    session: &SessionContext,
    keyspace: &str,
    events: u64,
) -> Result<DemoLoad, DataFusionError> {
    let ks = quote_identifier(keyspace);
    runner
        .run(
            session,
            &format!(
                "CREATE SCHEMA IF NOT EXISTS {ks};
                 CREATE TABLE IF NOT EXISTS {ks}.campaigns (
                     campaign_id bigint PRIMARY KEY, advertiser text, name text,
                     daily_budget numeric, started date);
                 CREATE TABLE IF NOT EXISTS {ks}.events (
                     campaign_id bigint, day date, ts timestamptz, user_id bigint,
                     views int, cost numeric,
                     PRIMARY KEY ((campaign_id, day), ts, user_id));
                 CREATE TABLE IF NOT EXISTS {ks}.demo_loads (
                     name text PRIMARY KEY, row_count bigint, loaded_at timestamptz);"
            ),
        )
        .await?;
    let done = runner
        .run(
            session,
            &format!("SELECT row_count FROM {ks}.demo_loads WHERE name = 'events'"),
        )
        .await?;
    let (kafka_table, topic) = kafka_names(keyspace);
    let kafka_table = format!("kafka.{}", quote_identifier(&kafka_table));
    runner
        .run(
            session,
            &format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS {kafka_table} (
                     campaign_id bigint, user_id bigint, ts timestamp, views int,
                     cost decimal(12, 4))
                 STORED AS KAFKA LOCATION '{topic}'
                 OPTIONS (format 'json', 'timestamp.column' 'ts', key 'campaign_id',
                          'topic.partitions' '{KAFKA_PARTITIONS}')"
            ),
        )
        .await?;
    runner
        .run(
            session,
            &format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {ks}.{view} AS
                 SELECT campaign_id, date_trunc('day', ts) AS day, count(*) AS events,
                        sum(views) AS views, sum(cost) AS cost, min(ts) AS first_seen,
                        max(ts) AS last_seen, approx_distinct(user_id) AS users
                 FROM {kafka_table} GROUP BY campaign_id, date_trunc('day', ts)",
                view = quote_identifier(VIEW)
            ),
        )
        .await?;
    if first_i64(&done) == Some(i64::try_from(events).unwrap_or(i64::MAX)) {
        info!(keyspace, events, "demo data is loaded already");
        return Ok(DemoLoad::AlreadyLoaded);
    }

    info!(keyspace, events, "loading demo data");
    runner
        .run(
            session,
            &format!(
                "INSERT INTO {ks}.campaigns (campaign_id, advertiser, name, daily_budget, started)
                 SELECT value, 'advertiser-' || CAST(value % 20 AS VARCHAR),
                        'campaign-' || CAST(value AS VARCHAR),
                        CAST(100 + (value * 37) % 900 AS DECIMAL(12, 2)),
                        DATE '2024-08-01' + CAST(value % 30 AS INT)
                 FROM generate_series(0, {last_campaign})",
                last_campaign = CAMPAIGNS - 1
            ),
        )
        .await?;
    if events > 0 {
        runner
            .run(
                session,
                &format!(
                    "INSERT INTO {ks}.events (campaign_id, day, ts, user_id, views, cost)
                     SELECT value % {CAMPAIGNS},
                            DATE '2024-09-01' + CAST((value / {CAMPAIGNS}) % {DAYS} AS INT),
                            to_timestamp_seconds({FIRST_DAY_EPOCH}
                                + ((value / {CAMPAIGNS}) % {DAYS}) * 86400
                                + value / {per_round}),
                            (value * 2654435761) % 100000,
                            CAST(1 + (value * 7) % 10 AS INT),
                            CAST((value * 13) % 1000 AS DECIMAL(10, 2)) / 100
                     FROM generate_series(0, {last})",
                    per_round = CAMPAIGNS * DAYS,
                    last = events - 1
                ),
            )
            .await?;
    }
    let fresh = kafka_events(events);
    runner
        .run(
            session,
            &format!(
                "INSERT INTO {kafka_table} (campaign_id, user_id, ts, views, cost)
                 SELECT value % {CAMPAIGNS},
                        (value * 2654435761) % 100000,
                        to_timestamp_seconds({KAFKA_FIRST_EPOCH} + value * 7),
                        CAST(1 + (value * 7) % 10 AS INT),
                        CAST((value * 13) % 1000 AS DECIMAL(12, 4)) / 100
                 FROM generate_series(0, {last})",
                last = fresh - 1
            ),
        )
        .await?;
    runner
        .run(
            session,
            &format!(
                "INSERT INTO {ks}.demo_loads (name, row_count, loaded_at)
                 VALUES ('events', {events}, now())"
            ),
        )
        .await?;
    info!(keyspace, events, "demo data loaded");
    Ok(DemoLoad::Loaded(events))
}

/// The views each campaign has on `day_index` (0 = 2024-09-01), computed
/// from the same formulas; for checking answers.
pub fn views_of(events: u64, campaign: i64, day_index: i64) -> i64 {
    // Row v is campaign v % CAMPAIGNS on day (v / CAMPAIGNS) % DAYS, so the
    // rows of one (campaign, day) are CAMPAIGNS * (day_index + DAYS * j) +
    // campaign for j = 0, 1, ...
    let events = i64::try_from(events).unwrap_or(i64::MAX);
    (0..)
        .map(|j| CAMPAIGNS * (day_index + DAYS * j) + campaign)
        .take_while(|v| *v < events)
        .map(|v| 1 + (v * 7) % 10)
        .sum()
}

fn first_i64(batches: &[RecordBatch]) -> Option<i64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = batch.column(0).as_primitive_opt::<Int64Type>()?;
    column.is_valid(0).then(|| column.value(0))
}
