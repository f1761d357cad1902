//! Message values → Arrow columns, in the table's format.
//!
//! A batch of messages is decoded in one pass. When that fails, each message
//! is decoded alone to find the ones at fault, and the table's `on_error`
//! option decides: fail the query naming the message, leave it out, or copy
//! it to a dead-letter topic and leave it out. Every message left out is
//! counted in [`DecodeErrors`]. A message without a value is a row of nulls.

use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BinaryBuilder, FixedSizeBinaryBuilder, RecordBatch,
    StringArray, StringBuilder,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::csv::reader::Decoder as CsvDecoder;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::json::reader::{Decoder as JsonDecoder, ReaderBuilder};
use datafusion::error::Result;
use rdkafka::message::{BorrowedMessage, Message};

use crate::avro::AvroReader;
use crate::dead_letter::DeadLetters;
use crate::decode_errors::BadMessage;
use crate::error::Error;
use crate::exec::KafkaScanSpec;
use crate::json::JsonLayout;
use crate::options::{Format, OnError};

/// How one format reads values.
enum Codec {
    /// arrow-json, through the table's JSON layout.
    Json(JsonLayout),
    /// arrow-csv, with the declared columns in order.
    Csv {
        schema: SchemaRef,
        delimiter: u8,
    },
    Avro(Box<AvroReader>),
    Raw,
}

/// Decodes the values of a table's messages.
pub(crate) struct ValueDecoder {
    table: String,
    topic: String,
    on_error: OnError,
    /// The declared columns.
    schema: SchemaRef,
    /// The positions of the UUID columns, which JSON and CSV hold as text.
    uuids: Vec<usize>,
    codec: Codec,
    dead_letters: Option<DeadLetters>,
    errors: Arc<crate::decode_errors::DecodeErrors>,
}

impl ValueDecoder {
    pub(crate) fn try_new(spec: &KafkaScanSpec, kafka: &crate::SharedKafka) -> Result<Self> {
        let schema = Arc::new(
            spec.table_schema
                .project(&(0..spec.declared).collect::<Vec<_>>())?,
        );
        let uuids: Vec<usize> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| is_uuid(f))
            .map(|(i, _)| i)
            .collect();
        // JSON and CSV read UUIDs as text, then parse them.
        let text_fields: Vec<FieldRef> = schema.fields().iter().map(as_text_field).collect();
        let options = &spec.options;
        let codec = match options.format {
            Format::Json => Codec::Json(JsonLayout::try_new(&text_fields, &options.json_paths)?),
            Format::Csv => Codec::Csv {
                schema: Arc::new(Schema::new(text_fields)),
                delimiter: options.csv_delimiter,
            },
            Format::Avro => Codec::Avro(Box::new(AvroReader::try_new(
                schema.clone(),
                &options.avro,
                spec.avro_schema.as_deref(),
                kafka.schema_registry(),
            )?)),
            Format::Raw => Codec::Raw,
        };
        let dead_letters = match (&options.on_error, &options.dead_letter_topic) {
            (OnError::DeadLetter, Some(topic)) => Some(DeadLetters::new(kafka.clone(), topic)),
            _ => None,
        };
        let decoder = Self {
            table: spec.table.clone(),
            topic: spec.topic.clone(),
            on_error: options.on_error,
            schema,
            uuids,
            codec,
            dead_letters,
            errors: kafka.decode_errors(),
        };
        // Declared types a reader cannot read fail here, once.
        match &decoder.codec {
            Codec::Json(layout) => drop(json_decoder(layout.schema(), 1)?),
            Codec::Csv { schema, delimiter } => drop(csv_decoder(schema, *delimiter, 1)?),
            Codec::Avro(_) | Codec::Raw => {}
        }
        Ok(decoder)
    }

    /// The declared columns of `messages` that decode, and the positions of
    /// those messages. Dead letters are acknowledged before this returns.
    pub(crate) fn decode(
        &mut self,
        messages: &[BorrowedMessage<'_>],
    ) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        let decoded = match self.codec {
            Codec::Raw => self.decode_raw(messages),
            _ => self.decode_structured(messages),
        };
        if let Some(dead_letters) = &mut self.dead_letters {
            dead_letters.flush()?;
        }
        decoded
    }

    fn decode_structured(
        &mut self,
        messages: &[BorrowedMessage<'_>],
    ) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        // All at once; most batches have no bad message and no tombstone.
        if messages.iter().all(|m| m.payload().is_some()) {
            let payloads: Vec<&[u8]> = messages.iter().filter_map(|m| m.payload()).collect();
            if let Ok(columns) = self.decode_values(&payloads) {
                return Ok((columns, (0..messages.len()).collect()));
            }
        }
        // One by one, to find the messages at fault.
        let mut batches = Vec::with_capacity(messages.len());
        let mut kept = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            let columns = match message.payload() {
                None => Ok(self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| new_null_array(f.data_type(), 1))
                    .collect()),
                Some(payload) => self.decode_values(&[payload]),
            };
            match columns {
                Ok(columns) => {
                    batches.push(RecordBatch::try_new(self.schema.clone(), columns)?);
                    kept.push(i);
                }
                Err(reason) => {
                    if let Codec::Avro(reader) = &mut self.codec {
                        if let Some(why) = reader.take_unreachable() {
                            return Err(Error::Stopped(format!(
                                "cannot read topic '{}': {why}",
                                self.topic
                            ))
                            .into());
                        }
                    }
                    self.refuse(message, reason)?
                }
            }
        }
        let batch = concat_batches(&self.schema, &batches)?;
        Ok((batch.columns().to_vec(), kept))
    }

    /// The declared columns of `payloads`, or why some did not decode.
    fn decode_values(&mut self, payloads: &[&[u8]]) -> std::result::Result<Vec<ArrayRef>, String> {
        let columns = match &mut self.codec {
            Codec::Json(layout) => {
                let mut decoder =
                    json_decoder(layout.schema(), payloads.len()).map_err(|e| e.to_string())?;
                for payload in payloads {
                    let used = decoder.decode(payload).map_err(|e| e.to_string())?;
                    if used < payload.len() {
                        return Err("the value holds more than one JSON document".into());
                    }
                    decoder.decode(b"\n").map_err(|e| e.to_string())?;
                }
                let batch = decoder.flush().map_err(|e| e.to_string())?;
                layout.extract(&one_row_each(batch, payloads.len(), "JSON document")?)
            }
            Codec::Csv { schema, delimiter } => {
                let mut decoder =
                    csv_decoder(schema, *delimiter, payloads.len()).map_err(|e| e.to_string())?;
                for payload in payloads {
                    let mut rest: &[u8] = payload;
                    while !rest.is_empty() {
                        let used = decoder.decode(rest).map_err(|e| e.to_string())?;
                        if used == 0 {
                            return Err("the value holds more than one CSV record".into());
                        }
                        rest = &rest[used..];
                    }
                    decoder.decode(b"\n").map_err(|e| e.to_string())?;
                }
                let batch = decoder.flush().map_err(|e| e.to_string())?;
                one_row_each(batch, payloads.len(), "CSV record")?
                    .columns()
                    .to_vec()
            }
            Codec::Avro(reader) => return reader.decode(payloads),
            Codec::Raw => return Err("raw values are not decoded".into()),
        };
        self.typed(columns)
    }

    /// Columns read from text formats, with UUID text turned into UUIDs.
    fn typed(&self, mut columns: Vec<ArrayRef>) -> std::result::Result<Vec<ArrayRef>, String> {
        for &i in &self.uuids {
            columns[i] =
                uuids_from_text(columns[i].as_string::<i32>(), self.schema.field(i).name())?;
        }
        Ok(columns)
    }

    fn decode_raw(
        &mut self,
        messages: &[BorrowedMessage<'_>],
    ) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        let mut kept = Vec::with_capacity(messages.len());
        let column: ArrayRef = if self.schema.field(0).data_type() == &DataType::Binary {
            let mut values = BinaryBuilder::new();
            for (i, message) in messages.iter().enumerate() {
                values.append_option(message.payload());
                kept.push(i);
            }
            Arc::new(values.finish())
        } else {
            let mut values = StringBuilder::new();
            for (i, message) in messages.iter().enumerate() {
                match message.payload().map(std::str::from_utf8) {
                    None => values.append_null(),
                    Some(Ok(text)) => values.append_value(text),
                    Some(Err(_)) => {
                        self.refuse(message, "the value is not UTF-8 text".into())?;
                        continue;
                    }
                }
                kept.push(i);
            }
            Arc::new(values.finish())
        };
        Ok((vec![column], kept))
    }

    /// Applies `on_error` to a message that does not decode.
    fn refuse(&mut self, message: &BorrowedMessage<'_>, reason: String) -> Result<()> {
        self.errors.record(&BadMessage {
            table: &self.table,
            topic: &self.topic,
            partition: message.partition(),
            offset: message.offset(),
            policy: self.on_error,
            reason: &reason,
        });
        match self.on_error {
            OnError::Skip => Ok(()),
            OnError::DeadLetter => match &mut self.dead_letters {
                Some(dead_letters) => dead_letters.send(message, &reason),
                None => Ok(()),
            },
            OnError::Fail => Err(Error::Decode {
                topic: self.topic.clone(),
                partition: message.partition(),
                offset: message.offset(),
                reason,
            }
            .into()),
        }
    }
}

/// `batch`, if it holds one row (`what`: "JSON document") per value.
fn one_row_each(
    batch: Option<RecordBatch>,
    values: usize,
    what: &str,
) -> std::result::Result<RecordBatch, String> {
    let rows = batch.as_ref().map_or(0, RecordBatch::num_rows);
    match batch {
        Some(batch) if rows == values => Ok(batch),
        _ if values == 1 && rows == 0 => Err(format!("the value holds no {what}")),
        _ if values == 1 => Err(format!("the value holds more than one {what}")),
        _ => Err(format!("{values} values held {rows} of type {what}")),
    }
}

fn json_decoder(schema: &SchemaRef, rows: usize) -> Result<JsonDecoder> {
    Ok(ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.max(1) + 1)
        .build_decoder()?)
}

fn csv_decoder(schema: &SchemaRef, delimiter: u8, rows: usize) -> Result<CsvDecoder> {
    Ok(datafusion::arrow::csv::ReaderBuilder::new(schema.clone())
        .with_header(false)
        .with_delimiter(delimiter)
        .with_batch_size(rows.max(1) + 1)
        .build_decoder())
}

/// UUIDs from their text form; `column` names the field in errors.
pub(crate) fn uuids_from_text(
    text: &StringArray,
    column: &str,
) -> std::result::Result<ArrayRef, String> {
    let mut uuids = FixedSizeBinaryBuilder::with_capacity(text.len(), 16);
    for value in text.iter() {
        match value {
            None => uuids.append_null(),
            Some(value) => {
                let bytes = parse_uuid(value)
                    .ok_or_else(|| format!("field '{column}' is not a UUID: {value:?}"))?;
                uuids.append_value(bytes).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(Arc::new(uuids.finish()))
}

/// `field` as JSON and CSV hold it: a UUID as its text.
pub(crate) fn as_text_field(field: &FieldRef) -> FieldRef {
    match is_uuid(field) {
        true => Arc::new(Field::new(field.name(), DataType::Utf8, true)),
        false => field.clone(),
    }
}

pub(crate) fn is_uuid(field: &FieldRef) -> bool {
    field.data_type() == &DataType::FixedSizeBinary(16)
        && field.extension_type_name() == Some("arrow.uuid")
}

/// The 16 bytes of a UUID written in hex, with or without its dashes.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    let dashed = match bytes.len() {
        36 if [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-') => true,
        32 => false,
        _ => return None,
    };
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut digits = bytes
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| !dashed || ![8, 13, 18, 23].contains(i));
    let mut out = [0u8; 16];
    for byte in &mut out {
        let (_, high) = digits.next()?;
        let (_, low) = digits.next()?;
        *byte = hex(high)? << 4 | hex(low)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::parse_uuid;

    #[test]
    fn uuids_parse_with_or_without_dashes() {
        let with = parse_uuid("550e8400-e29b-41d4-a716-446655440000").unwrap();
        let without = parse_uuid("550E8400E29B41D4A716446655440000").unwrap();
        assert_eq!(with, without);
        assert_eq!(with[0], 0x55);
        assert_eq!(with[15], 0x00);
        for bad in [
            "",
            "550e8400-e29b-41d4-a716-44665544000",
            "550e8400xe29b-41d4-a716-446655440000",
            "g50e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(parse_uuid(bad).is_none(), "{bad}");
        }
    }
}
