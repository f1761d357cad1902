//! Every `.slt` file, over the wire and in-process.

use smackql_tests::gateway::{slt_path, TestGateway};
use smackql_tests::slt::{run_file, InProcessDb, WireDb};

const FILES: &[&str] = &["basics.slt"];

#[tokio::test]
async fn slt_over_the_wire() {
    let gateway = TestGateway::start().await;
    for file in FILES {
        run_file(WireDb::new(gateway.client().await), &slt_path(file)).await;
    }
}

#[tokio::test]
async fn slt_in_process() {
    let gateway = TestGateway::start().await;
    for file in FILES {
        run_file(
            InProcessDb::new(gateway.sessions.new_session()),
            &slt_path(file),
        )
        .await;
    }
}
