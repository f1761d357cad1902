//! A Flight SQL client that stops reading does not grow the gateway's
//! memory: results are produced only as fast as the client takes them.
//!
//! Memory is measured for the whole process, so this is its own test
//! binary: cargo runs test binaries one after another, so no other test
//! allocates while it measures.

use std::time::Duration;

use futures::StreamExt;
use smackql_tests::gateway::TestGateway;

/// Resident memory of this process, which runs the gateway, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_flight_client_does_not_grow_memory() {
    let gateway = TestGateway::start().await;
    let mut flight = gateway.flight().await;
    // Endless for this test's purposes: about 100 bytes a row, 10^12 rows.
    let info = flight
        .execute(
            "SELECT value, value * 2 AS doubled, concat(repeat('x', 80), CAST(value AS VARCHAR)) AS padding \
             FROM range(1000000000000)"
                .into(),
            None,
        )
        .await
        .expect("planned");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = flight.do_get(ticket).await.expect("streaming");

    // Read a little, so the query runs at full speed, then stop reading.
    let mut rows = 0;
    for _ in 0..20 {
        rows += next_batch(&mut stream).await.num_rows();
    }
    assert!(rows > 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled_at = rss_bytes();
    // Unbounded buffering would produce gigabytes in this time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = rss_bytes();
    let growth = later.saturating_sub(stalled_at);
    assert!(
        growth < 64 << 20,
        "memory grew by {} MiB while the client did not read ({} MiB -> {} MiB)",
        growth >> 20,
        stalled_at >> 20,
        later >> 20
    );

    // The query was waiting, not dead: reading resumes it.
    assert!(next_batch(&mut stream).await.num_rows() > 0);
}

/// The next batch; results that do not stream (collected first) would
/// never come, so this waits a bounded time.
async fn next_batch(
    stream: &mut arrow_flight::decode::FlightRecordBatchStream,
) -> datafusion::arrow::array::RecordBatch {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("a batch within 30 s: results must stream")
        .expect("a batch")
        .expect("no error")
}
