//! Password authentication.

use smackql_tests::gateway::{assert_answers, psql_conninfo, sqlstate, TestGateway};

#[tokio::test]
async fn scram_users_get_in_and_wrong_passwords_do_not() {
    let gateway =
        TestGateway::start_with(|c| TestGateway::with_user(c, "alice", "s3cret;'--")).await;

    let client = gateway
        .try_client("alice", Some("s3cret;'--"))
        .await
        .expect("right password");
    assert_answers(&client, 1).await;

    let err = gateway
        .try_client("alice", Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "{err}");

    let err = gateway
        .try_client("mallory", Some("s3cret;'--"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "{err}");

    assert!(
        gateway.try_client("alice", None).await.is_err(),
        "no password"
    );
}

#[tokio::test]
async fn psql_is_refused_with_a_wrong_password() {
    let gateway = TestGateway::start_with(|c| TestGateway::with_user(c, "bob", "pw")).await;
    let out = psql_conninfo(
        &gateway.conninfo("bob", Some("nope")),
        &["-At", "-c", "select 1"],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    let out = psql_conninfo(
        &gateway.conninfo("bob", Some("pw")),
        &["-At", "-c", "select 1"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
