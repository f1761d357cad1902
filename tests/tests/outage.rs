//! The gateway outlives a Cassandra outage.
//!
//! This binary stops and restarts the shared test Cassandra, so it is its own
//! test binary: cargo runs test binaries one after another, so no other test
//! sees the outage.

use std::time::{Duration, Instant};

use arrow_flight::error::FlightError;
use futures::TryStreamExt;

use smackql_tests::gateway::{assert_answers, sqlstate, TestGateway};
use smackql_tests::services::{self, cassandra, cql, create_keyspace};
use smackql_tests::unique_name;

#[tokio::test]
async fn cassandra_outage_is_a_clear_error_and_recovery_is_automatic() {
    let session = cassandra().await;
    let ks = unique_name("outage");
    create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".t (id int PRIMARY KEY, v text)"),
    )
    .await;
    cql(
        &session,
        &format!("INSERT INTO \"{ks}\".t (id, v) VALUES (1, 'one')"),
    )
    .await;
    drop(session);

    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let query = format!("select v from \"{ks}\".t where id = 1");
    let v: String = client.query_one(&query, &[]).await.unwrap().get(0);
    assert_eq!(v, "one");

    tokio::task::spawn_blocking(|| services::stop(&["cassandra"]))
        .await
        .unwrap()
        .expect("Cassandra stops");

    let err = client.simple_query(&query).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let message = err.as_db_error().unwrap().message().to_string();
    assert!(message.to_lowercase().contains("cassandra"), "{message}");

    // Flight SQL clients get gRPC's Unavailable, with the same message.
    // Planning may still succeed from cached metadata; the read fails.
    let mut flight = gateway.flight().await;
    let grpc = |err: FlightError| match err {
        FlightError::Tonic(status) => *status,
        other => panic!("expected a gRPC status, got {other:?}"),
    };
    let err = match flight.execute(query.clone(), None).await {
        Err(err) => grpc(err),
        Ok(info) => {
            let ticket = info.endpoint[0].ticket.clone().expect("a ticket");
            match flight.do_get(ticket).await {
                Err(err) => grpc(err),
                Ok(stream) => match stream.try_collect::<Vec<_>>().await {
                    Err(err) => grpc(err),
                    Ok(batches) => panic!("read {batches:?} while Cassandra was down"),
                },
            }
        }
    };
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    assert!(err.message().to_lowercase().contains("cassandra"), "{err}");

    // Everything that does not need Cassandra still answers.
    assert_answers(&client, 1).await;
    // So do new connections.
    let other = gateway.client().await;
    assert_answers(&other, 2).await;

    tokio::task::spawn_blocking(|| services::up(&["cassandra"]))
        .await
        .unwrap()
        .expect("Cassandra restarts");

    // The driver reconnects on its own; poll rather than sleep a fixed time.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match client.query_one(&query, &[]).await {
            Ok(row) => {
                assert_eq!(row.get::<_, String>(0), "one");
                break;
            }
            Err(err) if Instant::now() < deadline => {
                assert_eq!(
                    sqlstate(&err),
                    "08006",
                    "only unavailability while recovering: {err}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("queries did not recover: {err}"),
        }
    }
}

#[tokio::test]
async fn gateway_starts_while_cassandra_is_unreachable() {
    // Nothing listens on this port: the gateway must start anyway.
    let gateway = TestGateway::start_with(|c| {
        c.cassandra.contact_points = vec!["127.0.0.1:1".to_string()];
        c.cassandra.connect_timeout = Duration::from_secs(1);
    })
    .await;
    let client = gateway.client().await;
    assert_answers(&client, 1).await;
    let err = client
        .simple_query("select * from shop.orders")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let out = gateway.psql(&["-c", "\\dt"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
