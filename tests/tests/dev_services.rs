//! `docker/dev-services` itself: up is idempotent, down stops every service
//! and deletes their state, and the next up starts clean.
//!
//! It runs a second, private set of services (own state directory, own
//! ports), so it never disturbs the shared ones other tests use.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use scylla::client::session_builder::SessionBuilder;
use smackql_tests::{repo_root, unique_name};

struct Private {
    home: PathBuf,
    env: Vec<(&'static str, String)>,
    cql_port: u16,
}

impl Private {
    fn new() -> Self {
        let home = std::env::temp_dir().join(unique_name("dev_services"));
        let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
        let env = vec![
            ("SMACKQL_DEV_HOME", home.display().to_string()),
            ("SMACKQL_DEV_CQL_PORT", ports[0].to_string()),
            ("SMACKQL_DEV_CASSANDRA_STORAGE_PORT", ports[1].to_string()),
            ("SMACKQL_DEV_KAFKA_PORT", ports[2].to_string()),
            ("SMACKQL_DEV_KAFKA_CONTROLLER_PORT", ports[3].to_string()),
            ("SMACKQL_DEV_REGISTRY_PORT", ports[4].to_string()),
            ("SMACKQL_DEV_ENGINE", "jvm".to_string()),
        ];
        Self {
            home,
            env,
            cql_port: ports[0],
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(repo_root().join("docker/dev-services"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("docker/dev-services runs")
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dev-services {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn keyspaces(port: u16) -> Vec<String> {
    let session = SessionBuilder::new()
        .known_node(format!("127.0.0.1:{port}"))
        .build()
        .await
        .expect("connects to the private Cassandra");
    session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .expect("query")
        .into_rows_result()
        .expect("rows")
        .rows::<(String,)>()
        .expect("typed rows")
        .map(|r| r.expect("row").0)
        .collect()
}

#[tokio::test]
async fn down_stops_every_service_and_the_next_up_starts_clean() {
    let services = Private::new();

    let printed = services.run_ok(&["up"]);
    assert!(
        printed.contains(&format!("127.0.0.1:{}", services.cql_port)),
        "{printed}"
    );
    // A second up finds both running and returns at once.
    services.run_ok(&["up"]);
    let status = services.run_ok(&["status"]);
    assert!(status.contains("cassandra: running"), "{status}");
    assert!(status.contains("kafka: running"), "{status}");
    assert!(status.contains("registry: running"), "{status}");

    let session = SessionBuilder::new()
        .known_node(format!("127.0.0.1:{}", services.cql_port))
        .build()
        .await
        .expect("connects");
    session
        .query_unpaged(
            "CREATE KEYSPACE marker WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            (),
        )
        .await
        .expect("creates a keyspace");
    drop(session);
    assert!(keyspaces(services.cql_port)
        .await
        .contains(&"marker".to_string()));

    services.run_ok(&["down"]);
    let status = services.run(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.status.success(),
        "status reports stopped services: {shown}"
    );
    assert!(
        shown.contains("cassandra: stopped")
            && shown.contains("kafka: stopped")
            && shown.contains("registry: stopped"),
        "{shown}"
    );
    assert!(
        !services.home.join("cassandra").exists(),
        "Cassandra's state is deleted"
    );
    assert!(
        !services.home.join("kafka").exists(),
        "Kafka's state is deleted"
    );

    services.run_ok(&["up"]);
    assert!(
        !keyspaces(services.cql_port)
            .await
            .contains(&"marker".to_string()),
        "the next up starts clean"
    );
}

#[test]
fn unknown_commands_and_services_are_refused() {
    let services = Private::new();
    let out = services.run(&["up", "postgres"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service 'postgres'"));
    let out = services.run(&["launch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("up"));
}
