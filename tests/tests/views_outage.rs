//! Materialized views stay exact when Cassandra or Kafka stops and comes
//! back during maintenance.
//!
//! This binary stops and restarts the shared test services, so it is its
//! own test binary, and has one test: cargo runs test binaries one after
//! another, so no other test sees the outages.

use std::time::{Duration, Instant};

use smackql_tests::ad_events::{assert_view_exact, create_view, declare, events};
use smackql_tests::gateway::{db_message, run, TestGateway};
use smackql_tests::kafka::{create_topic, produce};
use smackql_tests::services::{self, cassandra, create_keyspace};
use smackql_tests::unique_name;
use tokio_postgres::Client;

async fn services(command: fn(&[&str]) -> anyhow::Result<()>, which: &'static str) {
    tokio::task::spawn_blocking(move || command(&[which]))
        .await
        .expect("the services task")
        .unwrap_or_else(|e| panic!("{which}: {e:#}"));
}

/// `REFRESH`es the view until it succeeds (the gateway reconnects on its
/// own after an outage), then compares it with its source.
async fn assert_exact_after_recovery(client: &Client, view: &str, source: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match client
            .batch_execute(&format!("REFRESH MATERIALIZED VIEW {view}"))
            .await
        {
            Ok(()) => break,
            Err(err) if Instant::now() < deadline => {
                eprintln!("refresh while recovering: {}", db_message(&err));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => panic!("the view did not recover: {}", db_message(&err)),
        }
    }
    assert_view_exact(client, view, source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_stay_exact_through_cassandra_and_kafka_restarts() {
    let session = cassandra().await;
    let keyspace = unique_name("outage_views");
    create_keyspace(&session, &keyspace).await;
    drop(session);
    let topic = unique_name("outage_events");
    create_topic(&topic, 3).await;
    produce(&topic, &events(3000, 0)).await;

    // Small batches, so that the outages land while batches are applied.
    let gateway = TestGateway::start_with(|c| {
        c.views.max_batch_messages = 100;
        c.views.poll_interval = Duration::from_millis(50);
    })
    .await;
    let client = gateway.client().await;
    let source = format!("kafka.{}", unique_name("outage_events"));
    run(&client, &declare(&source, &topic)).await;
    let view = format!("\"{keyspace}\".daily");
    run(&client, &create_view(&view, &source, "")).await;

    // Cassandra stops mid-backfill, while events keep arriving.
    tokio::time::sleep(Duration::from_secs(2)).await;
    services(services::stop, "cassandra").await;
    produce(&topic, &events(600, 3000)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    services(services::up, "cassandra").await;
    assert_exact_after_recovery(&client, &view, &source).await;

    // Kafka stops while the view follows new events.
    produce(&topic, &events(1500, 10_000)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    services(services::stop, "kafka").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    services(services::up, "kafka").await;
    produce(&topic, &events(600, 20_000)).await;
    assert_exact_after_recovery(&client, &view, &source).await;

    run(&client, &format!("DROP MATERIALIZED VIEW {view} PURGE")).await;
    gateway.shutdown().await;
}
