//! Every CQL type, read through smackql and written back through it.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use smackql_tests::all_types;
use smackql_tests::gateway::KeyspaceFixture;
use smackql_tests::pg_types::{ExactNumeric, RawValue, Uuid16};
use smackql_tests::services::cql_row;
use tokio_postgres::types::Type;

#[tokio::test]
async fn every_type_reads_exactly_and_writes_back_unchanged() {
    let f = KeyspaceFixture::new("it_types").await;
    let (session, ks) = (&f.session, &f.keyspace);
    all_types::create_tables(session, ks, &["source", "copy"]).await;
    all_types::insert_rows(session, ks, "source").await;
    let names = all_types::names();

    // Read in-process: the Arrow values are exact.
    let ctx = f.gateway.sessions.new_session();
    let batches = ctx
        .sql(&format!("SELECT * FROM \"{ks}\".source WHERE id = 1"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let batch = &batches[0];
    let row = batch;
    assert_eq!(row.num_rows(), 1);
    let decimal = column(row, "c_decimal").as_primitive::<Decimal128Type>();
    assert_eq!(
        decimal.value_as_string(0),
        "12345678901234567890.1234567891",
        "every digit of the decimal"
    );
    let varint = column(row, "c_varint").as_primitive::<Decimal128Type>();
    assert_eq!(
        varint.value_as_string(0),
        "-123456789012345678901234567890123456"
    );
    assert_eq!(
        column(row, "c_bigint").as_primitive::<Int64Type>().value(0),
        i64::MIN
    );
    assert_eq!(
        column(row, "c_uuid").as_fixed_size_binary().value(0),
        [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00
        ]
    );
    assert!(matches!(
        column(row, "c_vector").data_type(),
        DataType::FixedSizeList(_, 3)
    ));
    assert!(matches!(
        column(row, "c_map").data_type(),
        DataType::Map(..)
    ));

    // Over the wire, in Postgres text form (simple protocol) ...
    let wire_columns = "c_ascii, c_decimal, c_varint, c_smallint, c_inet, c_text, c_date, \
                        c_time, c_bigint, c_uuid, c_uuids, c_map, c_costs";
    let text = f
        .client
        .simple_query(&format!(
            "SELECT {wire_columns} FROM \"{ks}\".source WHERE id = 1"
        ))
        .await
        .unwrap();
    let tokio_postgres::SimpleQueryMessage::Row(wire) = &text[1] else {
        panic!("no row: {text:?}")
    };
    let got: Vec<&str> = (0..wire.len())
        .map(|i| wire.get(i).unwrap_or("NULL"))
        .collect();
    assert_eq!(
        got,
        vec![
            "plain ascii",
            "12345678901234567890.1234567891",
            "-123456789012345678901234567890123456",
            "-32768",
            "2001:db8::1",
            "it's; -- ünïcödé",
            "2024-02-29",
            // PostgreSQL's time has microseconds.
            "13:14:15.123456",
            "-9223372036854775808",
            "123e4567-e89b-12d3-a456-426614174000",
            // In Cassandra's set order.
            "{50554d6e-29bb-11e5-b345-feff819cdc9f,123e4567-e89b-12d3-a456-426614174000}",
            r#"{"x":1,"y":2}"#,
            r#"{"123e4567-e89b-12d3-a456-426614174000":0.5000000000}"#,
        ]
    );

    // ... and in binary form (extended protocol), typed as Postgres types.
    let statement = f
        .client
        .prepare(&format!(
            "SELECT {wire_columns} FROM \"{ks}\".source WHERE id = $1"
        ))
        .await
        .unwrap();
    let types: Vec<&Type> = statement.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(
        types,
        vec![
            &Type::TEXT,
            &Type::NUMERIC,
            &Type::NUMERIC,
            &Type::INT2,
            &Type::INET,
            &Type::TEXT,
            &Type::DATE,
            &Type::TIME,
            &Type::INT8,
            &Type::UUID,
            &Type::UUID_ARRAY,
            &Type::JSON,
            &Type::JSON,
        ]
    );
    let rows = f.client.query(&statement, &[&1i32]).await.unwrap();
    let row = &rows[0];
    assert_eq!(
        row.get::<_, ExactNumeric>(1).0,
        "12345678901234567890.1234567891"
    );
    assert_eq!(
        row.get::<_, ExactNumeric>(2).0,
        "-123456789012345678901234567890123456"
    );
    assert_eq!(
        row.get::<_, std::net::IpAddr>(4),
        "2001:db8::1".parse::<std::net::IpAddr>().unwrap()
    );
    let uuid: [u8; 16] = row.get::<_, Uuid16>(9).0;
    assert_eq!(
        &uuid,
        column(batch, "c_uuid").as_fixed_size_binary().value(0)
    );
    assert_eq!(row.get::<_, Vec<Uuid16>>(10).len(), 2);
    assert_eq!(
        row.get::<_, serde_json::Value>(11),
        serde_json::json!({"x": 1, "y": 2})
    );
    // Nulls stay nulls in every encoding.
    let rows = f.client.query(&statement, &[&2i32]).await.unwrap();
    for i in [1, 2, 4, 9, 10, 11, 12] {
        assert!(
            rows[0].get::<_, Option<RawValue>>(i).is_none(),
            "column {i}"
        );
    }

    // Written back through smackql, Cassandra holds the same values: its
    // own JSON rendering of both rows is identical.
    let written = f
        .client
        .execute(
            &format!("INSERT INTO \"{ks}\".copy SELECT * FROM \"{ks}\".source"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(written, 2);
    for id in [1, 2] {
        let (original,): (String,) = cql_row(
            session,
            &format!("SELECT JSON {names} FROM \"{ks}\".source WHERE id = ?"),
            (id,),
        )
        .await;
        let (copied,): (String,) = cql_row(
            session,
            &format!("SELECT JSON {names} FROM \"{ks}\".copy WHERE id = ?"),
            (id,),
        )
        .await;
        assert_eq!(copied, original, "row {id}");
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

#[tokio::test]
async fn fields_of_a_udt_are_selected_as_in_postgresql() {
    let f = KeyspaceFixture::new("it_udt_fields").await;
    let (session, ks) = (&f.session, &f.keyspace);
    all_types::create_tables(session, ks, &["source"]).await;
    all_types::insert_rows(session, ks, "source").await;
    let sql = format!(
        "SELECT (c_udt).x, (s.c_udt).\"y\" AS why FROM \"{ks}\".source s \
         WHERE id = 1 AND (c_udt).x > 0"
    );
    // Extended protocol.
    let rows = f.client.query(&sql, &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let names: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["x", "why"]);
    assert_eq!(rows[0].get::<_, f64>(0), 1.5);
    assert_eq!(rows[0].get::<_, f64>(1), -2.5);
    // Simple protocol.
    let text = f.client.simple_query(&sql).await.unwrap();
    let tokio_postgres::SimpleQueryMessage::Row(row) = &text[1] else {
        panic!("no row: {text:?}")
    };
    assert_eq!((row.get(0), row.get(1)), (Some("1.5"), Some("-2.5")));
    // A field the type does not have is an error, not a NULL.
    let err = f
        .client
        .simple_query(&format!("SELECT (c_udt).z FROM \"{ks}\".source"))
        .await
        .unwrap_err();
    assert!(err.as_db_error().is_some(), "{err}");
}
