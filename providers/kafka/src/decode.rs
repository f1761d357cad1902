//! Message values → Arrow columns, in the table's format.
//!
//! A batch of messages is decoded in one pass. When that fails, each message
//! is decoded alone to find the ones at fault, and the table's `on_error`
//! option decides: fail the query naming the message, or leave it out.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, FixedSizeBinaryBuilder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::json::reader::{Decoder, ReaderBuilder};
use datafusion::error::Result;
use rdkafka::message::{BorrowedMessage, Message};

use crate::error::Error;
use crate::exec::KafkaScanSpec;
use crate::options::{Format, OnError};

/// What a message with no value decodes as in JSON: a row of nulls.
const NO_VALUE: &[u8] = b"{}";

/// Decodes the values of a table's messages.
pub(crate) struct ValueDecoder {
    topic: String,
    format: Format,
    on_error: OnError,
    /// The declared columns.
    schema: SchemaRef,
    /// The declared columns as arrow-json reads them: UUIDs as text.
    json_schema: SchemaRef,
    /// The positions of the UUID columns.
    uuids: Vec<usize>,
}

impl ValueDecoder {
    pub(crate) fn try_new(spec: &KafkaScanSpec) -> Result<Self> {
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
        let json_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| match is_uuid(f) {
                    true => Arc::new(Field::new(f.name(), DataType::Utf8, true)),
                    false => f.clone(),
                })
                .collect::<Vec<FieldRef>>(),
        ));
        let decoder = Self {
            topic: spec.topic.clone(),
            format: spec.options.format,
            on_error: spec.options.on_error,
            schema,
            json_schema,
            uuids,
        };
        if decoder.format == Format::Json {
            // Declared types arrow-json cannot read fail here, once.
            decoder.json_decoder(1)?;
        }
        Ok(decoder)
    }

    fn json_decoder(&self, rows: usize) -> Result<Decoder> {
        Ok(ReaderBuilder::new(self.json_schema.clone())
            .with_batch_size(rows.max(1))
            .build_decoder()?)
    }

    /// The declared columns of `messages` that decode, and the positions of
    /// those messages.
    pub(crate) fn decode(
        &mut self,
        messages: &[BorrowedMessage<'_>],
    ) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        match self.format {
            Format::Json => self.decode_json(messages),
            Format::Raw => self.decode_raw(messages),
        }
    }

    fn decode_json(&self, messages: &[BorrowedMessage<'_>]) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        // All at once; most batches have no bad message.
        let mut decoder = self.json_decoder(messages.len() + 1)?;
        let together = messages.iter().try_for_each(|m| {
            decoder.decode(m.payload().unwrap_or(NO_VALUE))?;
            decoder.decode(b"\n").map(|_| ())
        });
        if together.is_ok() {
            if let Ok(Some(batch)) = decoder.flush() {
                if batch.num_rows() == messages.len() {
                    if let Ok(columns) = self.typed(batch) {
                        return Ok((columns, (0..messages.len()).collect()));
                    }
                }
            }
        }
        // One by one, to find the messages at fault.
        let mut batches = Vec::with_capacity(messages.len());
        let mut kept = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            match self.decode_one(message.payload().unwrap_or(NO_VALUE)) {
                Ok(columns) => {
                    batches.push(RecordBatch::try_new(self.schema.clone(), columns)?);
                    kept.push(i);
                }
                Err(reason) => self.refuse(message, reason)?,
            }
        }
        let batch = concat_batches(&self.schema, &batches)?;
        Ok((batch.columns().to_vec(), kept))
    }

    fn decode_one(&self, payload: &[u8]) -> std::result::Result<Vec<ArrayRef>, String> {
        let mut decoder = self.json_decoder(2).map_err(|e| e.to_string())?;
        decoder.decode(payload).map_err(|e| e.to_string())?;
        match decoder.flush().map_err(|e| e.to_string())? {
            Some(batch) if batch.num_rows() == 1 => self.typed(batch),
            Some(batch) if batch.num_rows() > 1 => {
                Err("the value holds more than one JSON document".into())
            }
            _ => Err("the value holds no JSON document".into()),
        }
    }

    /// The columns of a batch arrow-json read, with UUID text turned into
    /// UUIDs.
    fn typed(&self, batch: RecordBatch) -> std::result::Result<Vec<ArrayRef>, String> {
        let mut columns = batch.columns().to_vec();
        for &i in &self.uuids {
            let text = columns[i].as_string::<i32>();
            let mut uuids = FixedSizeBinaryBuilder::with_capacity(text.len(), 16);
            for value in text.iter() {
                match value {
                    None => uuids.append_null(),
                    Some(value) => {
                        let bytes = parse_uuid(value).ok_or_else(|| {
                            format!(
                                "field '{}' is not a UUID: {value:?}",
                                self.schema.field(i).name()
                            )
                        })?;
                        uuids.append_value(bytes).map_err(|e| e.to_string())?;
                    }
                }
            }
            columns[i] = Arc::new(uuids.finish());
        }
        Ok(columns)
    }

    fn decode_raw(&self, messages: &[BorrowedMessage<'_>]) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
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
    fn refuse(&self, message: &BorrowedMessage<'_>, reason: String) -> Result<()> {
        match self.on_error {
            OnError::Skip => Ok(()),
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

fn is_uuid(field: &FieldRef) -> bool {
    field.data_type() == &DataType::FixedSizeBinary(16)
        && field.extension_type_name() == Some("arrow.uuid")
}

/// The 16 bytes of a UUID written in hex, with or without its dashes.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = match text.len() {
        36 => {
            let bytes = text.as_bytes();
            if [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
                return None;
            }
            bytes.iter().copied().filter(|b| *b != b'-').collect()
        }
        32 => text.as_bytes().to_vec(),
        _ => return None,
    };
    if digits.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = |b: u8| (b as char).to_digit(16);
        out[i] = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
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
