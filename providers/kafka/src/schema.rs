//! The columns of a Kafka table: the declared ones, decoded from each
//! message's value, then the message's metadata.

use std::sync::Arc;

use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit,
};

use crate::error::Error;
use crate::options::{Format, KafkaTableOptions, KeyFormat};

/// The partition a message is in.
pub const PARTITION: &str = "_partition";
/// Its offset in the partition.
pub const OFFSET: &str = "_offset";
/// Its Kafka timestamp (create or log-append time), in milliseconds.
pub const TIMESTAMP: &str = "_timestamp";
/// Its key.
pub const KEY: &str = "_key";
/// Its headers, by name (a name may repeat).
pub const HEADERS: &str = "_headers";

/// The metadata columns, in order.
pub const METADATA: [&str; 5] = [PARTITION, OFFSET, TIMESTAMP, KEY, HEADERS];

/// The table's schema: `declared`, then the metadata columns.
pub fn table_schema(
    declared: &[FieldRef],
    options: &KafkaTableOptions,
) -> Result<SchemaRef, Error> {
    if declared.is_empty() {
        return Err(Error::Columns(
            "a Kafka table needs at least one column".into(),
        ));
    }
    for field in declared {
        if METADATA.contains(&field.name().as_str()) {
            return Err(Error::Columns(format!(
                "column '{}' is reserved for message metadata; every Kafka table has {}",
                field.name(),
                METADATA.join(", ")
            )));
        }
    }
    if let Some(column) = &options.timestamp_column {
        match declared.iter().find(|f| f.name() == column) {
            Some(f) if matches!(f.data_type(), DataType::Timestamp(..)) => {}
            Some(f) => {
                return Err(Error::Columns(format!(
                    "option 'timestamp.column' names column '{column}' of type {}, not a timestamp",
                    f.data_type()
                )))
            }
            None => {
                return Err(Error::Columns(format!(
                    "option 'timestamp.column' names column '{column}', which is not declared"
                )))
            }
        }
    }
    if let Some(column) = &options.key_column {
        if !declared.iter().any(|f| f.name() == column) {
            return Err(Error::Columns(format!(
                "option 'key' names column '{column}', which is not declared"
            )));
        }
    }
    if options.format == Format::Raw {
        match declared {
            [one] if matches!(one.data_type(), DataType::Utf8 | DataType::Binary) => {}
            _ => {
                return Err(Error::Columns(
                    "format 'raw' takes one column, of type text or bytea, that holds each \
                     message's value"
                        .into(),
                ))
            }
        }
    }
    let key = match options.key_format {
        KeyFormat::Text => DataType::Utf8,
        KeyFormat::Bytes => DataType::Binary,
    };
    let headers = DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Binary, true),
            ])),
            false,
        )),
        false,
    );
    let mut fields: Vec<FieldRef> = declared
        .iter()
        .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
        .collect();
    fields.extend([
        // Never null when read; nullable so that INSERT may leave them out.
        Arc::new(Field::new(PARTITION, DataType::Int32, true)),
        Arc::new(Field::new(OFFSET, DataType::Int64, true)),
        Arc::new(Field::new(
            TIMESTAMP,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        )),
        Arc::new(Field::new(KEY, key, true)),
        Arc::new(Field::new(HEADERS, headers, true)),
    ]);
    Ok(Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn options(format: &str) -> KafkaTableOptions {
        KafkaTableOptions::parse(&BTreeMap::from([(
            "format".to_string(),
            format.to_string(),
        )]))
        .unwrap()
    }

    #[test]
    fn metadata_columns_follow_the_declared_ones() {
        let declared = vec![Arc::new(Field::new("views", DataType::Int32, false))];
        let schema = table_schema(&declared, &options("json")).unwrap();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["views", PARTITION, OFFSET, TIMESTAMP, KEY, HEADERS]);
        // A message may lack any field.
        assert!(schema.field(0).is_nullable());
    }

    #[test]
    fn reserved_names_and_raw_shapes_are_checked() {
        let reserved = vec![Arc::new(Field::new(OFFSET, DataType::Int64, true))];
        assert!(table_schema(&reserved, &options("json")).is_err());
        let two = vec![
            Arc::new(Field::new("a", DataType::Utf8, true)),
            Arc::new(Field::new("b", DataType::Utf8, true)),
        ];
        assert!(table_schema(&two, &options("raw")).is_err());
        assert!(table_schema(&two[..1], &options("raw")).is_ok());
    }
}
