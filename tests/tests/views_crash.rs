//! Materialized views stay exact when the gateways maintaining them are
//! killed with SIGKILL at random moments.
//!
//! The gateways are `smackql` processes; an in-process gateway that does
//! not maintain views sets up, waits with `REFRESH` and compares. This is
//! its own test binary so that the processes it kills share the machine
//! with nothing else of the suite's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use scylla::client::session::Session;
use smackql_tests::ad_events::{assert_view_exact, create_view, declare, events};
use smackql_tests::gateway::{run, text_rows, TestGateway};
use smackql_tests::kafka::{create_topic, produce};
use smackql_tests::process::GatewayProcess;
use smackql_tests::services::{cassandra, create_keyspace};
use smackql_tests::unique_name;
use tokio_postgres::Client;

/// Small batches and a short lease, so that kills land mid-batch and a
/// restarted gateway takes over soon.
const CONFIG: &str = r#"
[views]
lease_ttl = "2s"
poll_interval = "50ms"
max_batch_messages = 150

[catalog]
refresh_interval = "1s"
"#;

/// A number in `0..n` that differs from run to run.
fn random_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos.wrapping_mul(2_654_435_761)) % n.max(1)
}

/// How far the view has got, summed over its source partitions.
async fn committed(client: &Client, keyspace: &str) -> i64 {
    let rows = text_rows(
        client,
        &format!(
            "SELECT coalesce(sum(committed_offset), 0) FROM system.materialized_views \
             WHERE schema_name = '{keyspace}' AND view_name = 'daily'"
        ),
    )
    .await;
    rows[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether a batch was cut off after it wrote some of its rows and before
/// it was committed: a row of the view's table is ahead of its partition's
/// committed offset. Only meaningful while no gateway maintains the view.
async fn cut_mid_write(session: &Session, client: &Client, keyspace: &str) -> bool {
    for table in ["daily", "by_advertiser"] {
        if table_cut_mid_write(session, client, keyspace, table).await {
            return true;
        }
    }
    false
}

/// Whether a batch of the view `table` was cut off mid-write; see
/// [`cut_mid_write`].
async fn table_cut_mid_write(
    session: &Session,
    client: &Client,
    keyspace: &str,
    table: &str,
) -> bool {
    let committed: HashMap<i64, i64> = text_rows(
        client,
        &format!(
            "SELECT source_partition, committed_offset FROM system.materialized_views \
             WHERE schema_name = '{keyspace}' AND view_name = '{table}'"
        ),
    )
    .await
    .into_iter()
    .filter_map(|r| {
        Some((
            r[0].as_deref()?.parse().ok()?,
            r[1].as_deref()?.parse().ok()?,
        ))
    })
    .collect();
    let rows = session
        .query_unpaged(
            format!("SELECT \"_source_partition\", \"_applied_to\" FROM \"{keyspace}\".{table}"),
            (),
        )
        .await
        .expect("the view's table reads")
        .into_rows_result()
        .expect("rows");
    let rows: Vec<(i32, i64)> = rows
        .rows::<(i32, i64)>()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("rows decode");
    rows.iter().any(|(partition, applied)| {
        *applied > committed.get(&i64::from(*partition)).copied().unwrap_or(0)
    })
}

/// The gateway holding each source partition of the view now (`None`
/// where none does), by partition.
async fn owners(client: &Client, keyspace: &str) -> Vec<Option<String>> {
    text_rows(
        client,
        &format!(
            "SELECT owner FROM system.materialized_views WHERE schema_name = '{keyspace}' \
             AND view_name = 'daily' ORDER BY source_partition"
        ),
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// Whether `owner` names the gateway `gateway`.
fn is(owner: &Option<String>, gateway: &GatewayProcess) -> bool {
    owner
        .as_deref()
        .is_some_and(|o| o.contains(&format!(":{}:", gateway.pg_addr.port())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_stay_exact_through_sigkills_and_failover() {
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_TMPDIR").unwrap_or_else(|_| "/tmp".into()))
        .join(unique_name("views_crash"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let config = dir.join("smackql.toml");
    std::fs::write(&config, CONFIG).expect("the config file");
    let log = dir.join("gateways.log");

    let session = cassandra().await;
    let keyspace = unique_name("crash");
    create_keyspace(&session, &keyspace).await;
    let topic = unique_name("crash_events");
    create_topic(&topic, 3).await;
    produce(&topic, &events(900, 0)).await;

    // The observer never maintains views itself.
    let observer = TestGateway::start_with(|c| c.views.maintain = false).await;
    let client = observer.client().await;
    let source = format!("kafka.{}", unique_name("crash_events"));
    run(&client, &declare(&source, &topic)).await;
    let view = format!("\"{keyspace}\".daily");
    run(&client, &create_view(&view, &source, "")).await;

    // A second view joins the events with a dimension table whose rows
    // keep changing: however a kill falls, every event is counted once,
    // under the advertiser its batch joined.
    let campaigns = format!("\"{keyspace}\".campaigns");
    run(
        &client,
        &format!("CREATE TABLE {campaigns} (campaign_id bigint PRIMARY KEY, advertiser text)"),
    )
    .await;
    run(
        &client,
        &format!("INSERT INTO {campaigns} VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')"),
    )
    .await;
    let joined = format!("\"{keyspace}\".by_advertiser");
    run(
        &client,
        &format!(
            "CREATE MATERIALIZED VIEW {joined} AS SELECT c.advertiser, count(*) AS events, \
             sum(e.views) AS views FROM {source} e \
             JOIN {campaigns} c ON c.campaign_id = e.campaign_id GROUP BY c.advertiser"
        ),
    )
    .await;
    let flipper = tokio::spawn({
        let session = cassandra().await;
        let keyspace = keyspace.clone();
        async move {
            for round in 0u64.. {
                let advertiser = format!("adv{}", round % 5);
                let campaign = (round % 4 + 1) as i64;
                session
                    .query_unpaged(
                        format!(
                            "UPDATE \"{keyspace}\".campaigns SET advertiser = ? \
                             WHERE campaign_id = ?"
                        ),
                        (advertiser, campaign),
                    )
                    .await
                    .ok();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });

    // Events keep arriving while gateways are killed, ten times.
    let producer = tokio::spawn({
        let topic = topic.clone();
        async move {
            for round in 0..40 {
                produce(&topic, &events(150, 900 + round * 150)).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    let started = Instant::now();
    let mut kills = 0;
    let mut mid_write = 0;
    let mut burst = 100_000;
    while kills < 10 {
        let gateway = GatewayProcess::start(&config, &log).await;
        // The lease of the one killed before lasts 2 s; then this one works.
        tokio::time::sleep(Duration::from_millis(1500 + random_below(2500))).await;
        if kills % 2 == 1 {
            // Every other kill is aimed: freeze the gateway at random
            // moments until it is caught between a batch's first write and
            // its commit, where a replay could double count, and kill it
            // there. Bursts of events keep it busy while it is aimed at, so
            // that it is not caught up and idle at every freeze.
            for attempt in 0..100 {
                if attempt % 4 == 0 {
                    produce(&topic, &events(600, burst)).await;
                    burst += 600;
                }
                gateway.pause().await;
                if cut_mid_write(&session, &client, &keyspace).await {
                    mid_write += 1;
                    break;
                }
                gateway.resume().await;
                tokio::time::sleep(Duration::from_millis(10 + random_below(60))).await;
            }
        }
        gateway.kill().await;
        kills += 1;
        eprintln!(
            "kill {kills} at {:.1} s: {} offsets committed, {mid_write} cut mid-write",
            started.elapsed().as_secs_f64(),
            committed(&client, &keyspace).await
        );
    }
    producer.await.expect("the producer");
    assert!(
        mid_write >= 3,
        "only {mid_write} of the aimed kills cut a batch mid-write"
    );

    // A gateway that is not killed finishes the work, exactly.
    flipper.abort();
    let survivor = GatewayProcess::start(&config, &log).await;
    assert_view_exact(&client, &view, &source).await;
    run(&client, &format!("REFRESH MATERIALIZED VIEW {joined}")).await;
    let totals = text_rows(
        &client,
        &format!("SELECT sum(events), sum(views) FROM {joined}"),
    )
    .await;
    let truth = text_rows(
        &client,
        &format!("SELECT count(*), sum(views) FROM {source}"),
    )
    .await;
    assert_eq!(totals, truth, "the joined view counts every event once");
    run(&client, &format!("DROP MATERIALIZED VIEW {joined} PURGE")).await;

    // Two gateways share the view: its partitions are split between them.
    // One dies, and the other takes its partitions over without double
    // counting.
    let second = GatewayProcess::start(&config, &log).await;
    produce(&topic, &events(1500, 20_000)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owned = owners(&client, &keyspace).await;
        let first = owned.iter().filter(|o| is(o, &survivor)).count();
        let other = owned.iter().filter(|o| is(o, &second)).count();
        if first > 0 && other > 0 && first + other == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateways did not split the view's partitions: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (dead, alive) = if random_below(2) == 0 {
        (second, survivor)
    } else {
        (survivor, second)
    };
    dead.kill().await;
    produce(&topic, &events(1500, 40_000)).await;
    assert_view_exact(&client, &view, &source).await;
    let owned = owners(&client, &keyspace).await;
    assert!(
        owned.iter().all(|o| is(o, &alive)),
        "the surviving gateway took every partition over: {owned:?}"
    );
    alive.kill().await;
    run(&client, &format!("DROP MATERIALIZED VIEW {view} PURGE")).await;
    observer.shutdown().await;
}
