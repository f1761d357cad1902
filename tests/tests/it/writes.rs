//! CREATE TABLE, INSERT and DROP TABLE on Cassandra keyspaces.

use smackql_tests::gateway::{db_message, query_rows, sqlstate, KeyspaceFixture, TestGateway};
use smackql_tests::pg_types::Uuid16;
use smackql_tests::services::cql_row;
use tokio_postgres::types::Type;

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("select count(*) from {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn create_table_then_insert_values_and_select() {
    let f = KeyspaceFixture::new("it_write").await;
    let (session, ks, client) = (&f.session, &f.keyspace, &f.client);
    let table = format!("\"{ks}\".events");

    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (campaign_id bigint, day date, ts timestamptz, \
             views int, note text, PRIMARY KEY ((campaign_id, day), ts DESC)) \
             WITH (default_time_to_live = 86400)"
        ))
        .await
        .unwrap();
    // Cassandra has the table as defined: key, clustering order, TTL.
    let (kind, order): (String, String) = cql_row(
        session,
        "SELECT kind, clustering_order FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = 'events' AND column_name = 'ts'",
        (&ks,),
    )
    .await;
    assert_eq!((kind.as_str(), order.as_str()), ("clustering", "desc"));
    let (ttl,): (i32,) = cql_row(
        session,
        "SELECT default_time_to_live FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = 'events'",
        (&ks,),
    )
    .await;
    assert_eq!(ttl, 86400);

    // Creating it again is a duplicate; IF NOT EXISTS is not.
    let again = client
        .batch_execute(&format!(
            "CREATE TABLE {table} (campaign_id bigint PRIMARY KEY)"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&again), "42P07", "{again}");
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (campaign_id bigint PRIMARY KEY)"
        ))
        .await
        .unwrap();

    // INSERT reports the rows written; the awkward text survives unchanged.
    let tricky = "it's; -- \"quoted\" -- fine";
    let written = client
        .execute(
            &format!(
                "INSERT INTO {table} (campaign_id, day, ts, views, note) VALUES \
                 (1, DATE '2024-10-01', TIMESTAMPTZ '2024-10-01 10:00:00+00', 5, 'it''s; -- fine'), \
                 (1, DATE '2024-10-01', TIMESTAMPTZ '2024-10-01 11:00:00+00', 7, NULL), \
                 (2, DATE '2024-10-02', TIMESTAMPTZ '2024-10-02 09:30:00+00', 1, 'x')"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(written, 3);
    let written = client
        .execute(
            &format!(
                "INSERT INTO {table} (campaign_id, day, ts, views, note) \
                 VALUES ($1, DATE '2024-10-03', TIMESTAMPTZ '2024-10-03 00:00:00+00', $2, $3)"
            ),
            &[&3i64, &9i32, &tricky],
        )
        .await
        .unwrap();
    assert_eq!(written, 1);

    let rows = client
        .query(
            &format!("select campaign_id, views, note from {table} order by campaign_id, views"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, i32, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 5, Some("it's; -- fine".to_string())),
            (1, 7, None),
            (2, 1, Some("x".to_string())),
            (3, 9, Some(tricky.to_string())),
        ]
    );
    // Cassandra itself holds the same text.
    let (note,): (String,) = cql_row(
        session,
        &format!("SELECT note FROM \"{ks}\".events WHERE campaign_id = 3 AND day = '2024-10-03'"),
        (),
    )
    .await;
    assert_eq!(note, tricky);

    // An INSERT of an existing key replaces the row (Cassandra upserts).
    client
        .execute(
            &format!(
                "INSERT INTO {table} (campaign_id, day, ts, views, note) VALUES \
                 (2, DATE '2024-10-02', TIMESTAMPTZ '2024-10-02 09:30:00+00', 100, 'y')"
            ),
            &[],
        )
        .await
        .unwrap();
    let views: i32 = client
        .query_one(
            &format!("select views from {table} where campaign_id = 2 and day = DATE '2024-10-02'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(views, 100);
    assert_eq!(count(client, &table).await, 4);
}

#[tokio::test]
async fn bad_rows_are_rejected_before_anything_is_written() {
    let f = KeyspaceFixture::new("it_reject").await;
    let (ks, client) = (&f.keyspace, &f.client);
    let table = format!("\"{ks}\".t");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (a int, b text, n int, PRIMARY KEY (a, b))"
        ))
        .await
        .unwrap();

    // The second row has no clustering key: nothing is written at all.
    let missing = client
        .execute(
            &format!("INSERT INTO {table} VALUES (1, 'x', 1), (2, NULL, 2), (3, 'z', 3)"),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&missing), "23502", "{missing}");
    assert!(
        db_message(&missing).contains("row 2") && db_message(&missing).contains("column b"),
        "{missing}"
    );
    let omitted = client
        .execute(&format!("INSERT INTO {table} (a, n) VALUES (4, 4)"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&omitted), "23502", "{omitted}");

    // A value of the wrong type fails before the sink sees the batch.
    let wrong = client
        .execute(
            &format!("INSERT INTO {table} VALUES (5, 'y', 5), (6, 'w', 'six')"),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        ["22P02", "42804"].contains(&sqlstate(&wrong).as_str()),
        "{wrong}"
    );
    assert_eq!(count(client, &table).await, 0);

    // INSERT ... SELECT streams many batches (8,192 rows each); a bad row
    // in the last one still writes nothing.
    let streamed = client
        .execute(
            &format!(
                "INSERT INTO {table} SELECT CAST(value AS INT), \
                 CASE WHEN value = 19999 THEN NULL ELSE 'v' END, 0 \
                 FROM generate_series(0, 19999)"
            ),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&streamed), "23502", "{streamed}");
    assert!(db_message(&streamed).contains("row 20000"), "{streamed}");
    assert_eq!(count(client, &table).await, 0);

    // Bad definitions and unknown keyspaces get their own codes.
    let no_key = client
        .batch_execute(&format!("CREATE TABLE \"{ks}\".nokey (a int)"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&no_key), "42P16", "{no_key}");
    let nowhere = client
        .batch_execute("CREATE TABLE no_such_keyspace_x.t (a int PRIMARY KEY)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&nowhere), "42P01", "{nowhere}");
}

#[tokio::test]
async fn insert_select_writes_every_row() {
    let f = KeyspaceFixture::new("it_insel").await;
    let (ks, client) = (&f.keyspace, &f.client);
    let table = format!("\"{ks}\".events");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (campaign_id bigint, day date, seq bigint, views bigint, \
             PRIMARY KEY ((campaign_id, day), seq))"
        ))
        .await
        .unwrap();
    // 20,000 rows over 20 x 10 partitions, in several input batches.
    let written = client
        .execute(
            &format!(
                "INSERT INTO {table} SELECT value % 20, DATE '2024-10-01' + CAST(value % 10 AS INT), \
                 value, value * 2 FROM generate_series(0, 19999)"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(written, 20_000);
    let row = client
        .query_one(&format!("select count(*), sum(views) from {table}"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 20_000);
    assert_eq!(
        row.get::<_, i64>(1),
        (0..20_000i64).map(|v| v * 2).sum::<i64>()
    );
}

#[tokio::test]
async fn drop_table_needs_to_be_enabled() {
    let f = KeyspaceFixture::new("it_drop").await;
    let (ks, client) = (&f.keyspace, &f.client);
    let table = format!("\"{ks}\".gone");

    client
        .batch_execute(&format!("CREATE TABLE {table} (a int PRIMARY KEY)"))
        .await
        .unwrap();
    let refused = client
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused), "42501", "{refused}");
    assert!(
        db_message(&refused).contains("allow_drop_table"),
        "{refused}"
    );
    assert_eq!(count(client, &table).await, 0, "the table is still there");

    let open = TestGateway::start_with(|c| c.cassandra.allow_drop_table = true).await;
    let client = open.client().await;
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
    let gone = client
        .query(&format!("select * from {table}"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&gone), "42P01", "{gone}");
    let again = client
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&again), "42P01", "{again}");
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
}

/// uuids written as text mean what they mean in PostgreSQL: in `INSERT …
/// VALUES` (both protocols), compared with a uuid column (pushed down as the
/// partition key), in `IN`, and in casts either way. Text that is no uuid is
/// a 22P02 error, never a null or a wrong row.
#[tokio::test]
async fn uuids_are_read_from_text() {
    let f = KeyspaceFixture::new("it_uuid_text").await;
    let (session, client) = (&f.session, &f.client);
    let table = f.table("users");
    let (a, b, c) = (
        "123e4567-e89b-12d3-a456-426614174000",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "50554d6e-29bb-11e5-b345-feff819cdc9f",
    );
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id uuid, seen timeuuid, n int, PRIMARY KEY (id, seen))"
        ))
        .await
        .unwrap();
    // Simple protocol, without a column list, in PostgreSQL's other forms.
    client
        .batch_execute(&format!(
            "INSERT INTO {table} VALUES ('{{{}}}', '{c}', 1)",
            a.to_uppercase()
        ))
        .await
        .unwrap();
    // Extended protocol, with a column list.
    let written = client
        .execute(
            &format!(
                "INSERT INTO {table} (n, \"id\", seen) VALUES (2, '{}', '{c}'), (3, $1::text::uuid, '{c}')",
                b.replace('-', "")
            ),
            &[&c],
        )
        .await
        .unwrap();
    assert_eq!(written, 2);
    // Cassandra holds the uuids themselves.
    let (stored,): (String,) = cql_row(
        session,
        &format!(
            "SELECT JSON id FROM \"{}\".users WHERE n = 1 ALLOW FILTERING",
            f.keyspace
        ),
        (),
    )
    .await;
    assert_eq!(stored, format!("{{\"id\": \"{a}\"}}"));

    // A uuid key compared with text goes to Cassandra as the key.
    let by_key = format!("select n from {table} where id = '{b}'");
    let plan = smackql_tests::gateway::explain(client, &by_key).await;
    assert!(plan.contains("WHERE \"id\" = ?"), "{plan}");
    let n: Vec<i32> = query_rows(client, &by_key, |r| r.get(0)).await;
    assert_eq!(n, vec![2]);
    let n: Vec<i32> = query_rows(
        client,
        &format!("select n from {table} where id in ('{a}', '{c}') and seen = '{c}' order by n"),
        |r| r.get(0),
    )
    .await;
    assert_eq!(n, vec![1, 3]);
    // Casts both ways; a uuid made in SQL is sent as a uuid.
    let rows = smackql_tests::gateway::text_rows(
        client,
        &format!(
            "select id::text, upper(seen::varchar), '{a}'::uuid = id, '{b}'::uuid \
             from {table} where n = 1"
        ),
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![
            Some(a.to_string()),
            Some(c.to_uppercase()),
            Some("t".to_string()),
            Some(b.to_string()),
        ]]
    );

    // Bound as a uuid, in binary, in an INSERT and in a query; and bound as
    // text where the query expects a uuid.
    let bound = |u: &str| {
        Uuid16(
            u128::from_str_radix(&u.replace('-', ""), 16)
                .unwrap()
                .to_be_bytes(),
        )
    };
    let d = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    let written = client
        .execute(
            &format!("INSERT INTO {table} (id, seen, n) VALUES ($1, $2, 4)"),
            &[&bound(d), &bound(c)],
        )
        .await
        .unwrap();
    assert_eq!(written, 1);
    let by_uuid = format!("select n from {table} where id = $1 and seen = $2");
    let rows = client
        .query(&by_uuid, &[&bound(d), &bound(c)])
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.get(0)).collect::<Vec<i32>>(), vec![4]);
    let by_text = client
        .prepare_typed(
            &format!("select n from {table} where id = $1"),
            &[Type::TEXT],
        )
        .await
        .unwrap();
    let rows = client.query(&by_text, &[&b.to_uppercase()]).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.get(0)).collect::<Vec<i32>>(), vec![2]);
    let err = client.query(&by_text, &[&"nope"]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "22P02", "{err}");

    // Rewritten expressions keep their names, so the plan above them still
    // finds them, and a uuid cast to text is named as any cast column is.
    let grouped = smackql_tests::gateway::text_rows(
        client,
        &format!("select id::text, count(*) from {table} group by id::text order by 1"),
    )
    .await;
    let one = |u: &str| vec![Some(u.to_string()), Some("1".to_string())];
    assert_eq!(grouped, vec![one(a), one(c), one(d), one(b)]);
    let counted = smackql_tests::gateway::text_rows(
        client,
        &format!(
            "select count(*) filter (where id = '{a}'), \
             sum(case when id in ('{b}', '{c}') then 1 end) from {table}"
        ),
    )
    .await;
    assert_eq!(
        counted,
        vec![vec![Some("1".to_string()), Some("2".to_string())]]
    );
    let mut names = Vec::new();
    for cast in ["id::text", "n::text"] {
        let statement = client
            .prepare(&format!("select {cast} from {table}"))
            .await
            .unwrap();
        names.push(statement.columns()[0].name().to_string());
    }
    // Named as PostgreSQL names a cast column: by the column.
    assert_eq!(names, ["id", "n"]);

    // Text that is no uuid is refused, whichever way it comes.
    for bad in [
        format!("select n from {table} where id = 'not-a-uuid'"),
        format!("INSERT INTO {table} (id, seen, n) VALUES ('{a}x', '{c}', 4)"),
        format!("select '{}'::uuid", &a[1..]),
    ] {
        let err = client.batch_execute(&bad).await.unwrap_err();
        assert_eq!(sqlstate(&err), "22P02", "{bad}: {err}");
        assert!(
            db_message(&err).contains("invalid input syntax for type uuid"),
            "{bad}: {err}"
        );
    }
    assert_eq!(count(client, &table).await, 4);
}
