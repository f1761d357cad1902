//! psql's describe commands, which run psql's own catalog queries, against
//! Cassandra tables and a materialized view.

use smackql_tests::gateway::{run, text_rows, KeyspaceFixture};

/// Runs psql meta-command `meta` and returns what it printed; fails the test
/// when psql reports an error.
async fn describe(fixture: &KeyspaceFixture, meta: &str) -> String {
    let out = fixture.gateway.psql(&["-c", meta]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "psql {meta} failed: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn describe_commands_show_tables_keys_and_views() {
    let fixture = KeyspaceFixture::new("psql_describe").await;
    let ks = &fixture.keyspace;
    let client = &fixture.client;
    let table = fixture.table("clicks");
    run(
        client,
        &format!(
            "CREATE TABLE {table} (campaign_id bigint, day date, clicks int, label text, \
             PRIMARY KEY ((campaign_id), day))"
        ),
    )
    .await;
    let view = fixture.table("clicks_by_campaign");
    run(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} WITH (refresh = 'manual') AS \
             SELECT campaign_id, sum(clicks) AS clicks FROM {table} GROUP BY campaign_id"
        ),
    )
    .await;

    let listed = describe(&fixture, "\\l").await;
    assert!(listed.contains("smackql"), "{listed}");
    let schemas = describe(&fixture, "\\dn").await;
    assert!(schemas.contains(ks.as_str()), "{schemas}");
    let tables = describe(&fixture, &format!("\\dt \"{ks}\".*")).await;
    assert!(
        tables.contains("clicks") && tables.contains("table"),
        "{tables}"
    );

    for meta in ["\\d", "\\d+"] {
        let columns = describe(&fixture, &format!("{meta} \"{ks}\".clicks")).await;
        for (column, ty) in [
            ("campaign_id", "bigint"),
            ("day", "date"),
            ("clicks", "integer"),
            ("label", "text"),
        ] {
            let line = columns
                .lines()
                .find(|l| l.trim_start().starts_with(column))
                .unwrap_or_else(|| panic!("{meta}: no column {column}: {columns}"));
            assert!(line.contains(ty), "{meta}: {column} is not {ty}: {line}");
        }
    }

    // The Cassandra primary key is the table's primary-key index.
    let details = describe(&fixture, &format!("\\d \"{ks}\".clicks")).await;
    assert!(
        details.contains("\"clicks_pkey\" PRIMARY KEY, btree (campaign_id, day)"),
        "{details}"
    );

    // A materialized view is one, with its query.
    let views = describe(&fixture, &format!("\\dm \"{ks}\".*")).await;
    assert!(views.contains("clicks_by_campaign"), "{views}");
    let details = describe(&fixture, &format!("\\d+ \"{ks}\".clicks_by_campaign")).await;
    assert!(
        details.contains("Materialized view") && details.contains("sum(clicks)"),
        "{details}"
    );
    let definition = text_rows(
        client,
        &format!(
            "SELECT definition FROM pg_catalog.pg_matviews WHERE schemaname = '{ks}' \
             AND matviewname = 'clicks_by_campaign'"
        ),
    )
    .await;
    assert!(
        definition[0][0]
            .as_deref()
            .is_some_and(|d| d.contains("sum(clicks)")),
        "{definition:?}"
    );
    describe(&fixture, "\\dv").await;
    describe(&fixture, "\\df").await;

    // The verbose listings, with sizes where Cassandra estimates them.
    let tables = describe(&fixture, &format!("\\dt+ \"{ks}\".*")).await;
    assert!(
        tables.contains("clicks") && tables.contains("Size"),
        "{tables}"
    );
    let listed = describe(&fixture, "\\l+").await;
    assert!(
        listed.contains("smackql") && listed.contains("Size"),
        "{listed}"
    );
    let schemas = describe(&fixture, "\\dn+").await;
    assert!(
        schemas.contains(ks.as_str()) && schemas.contains("Access privileges"),
        "{schemas}"
    );
}
