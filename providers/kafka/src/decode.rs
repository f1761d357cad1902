//! Message values → Arrow columns, in the table's format.
//!
//! A batch of messages is decoded in one pass. When that fails, each message
//! is decoded alone to find the ones at fault, and the table's `on_error`
//! option decides: fail the query naming the message, or leave it out.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, StringBuilder};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
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
}

impl ValueDecoder {
    pub(crate) fn try_new(spec: &KafkaScanSpec) -> Result<Self> {
        let schema = Arc::new(
            spec.table_schema
                .project(&(0..spec.declared).collect::<Vec<_>>())?,
        );
        let decoder = Self {
            topic: spec.topic.clone(),
            format: spec.options.format,
            on_error: spec.options.on_error,
            schema,
        };
        if decoder.format == Format::Json {
            // Declared types arrow-json cannot read fail here, once.
            decoder.json_decoder(1)?;
        }
        Ok(decoder)
    }

    fn json_decoder(&self, rows: usize) -> Result<Decoder> {
        Ok(ReaderBuilder::new(self.schema.clone())
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
                    return Ok((batch.columns().to_vec(), (0..messages.len()).collect()));
                }
            }
        }
        // One by one, to find the messages at fault.
        let mut batches = Vec::with_capacity(messages.len());
        let mut kept = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            match self.decode_one(message.payload().unwrap_or(NO_VALUE)) {
                Ok(batch) => {
                    batches.push(batch);
                    kept.push(i);
                }
                Err(reason) => self.refuse(message, reason)?,
            }
        }
        let batch = concat_batches(&self.schema, &batches)?;
        Ok((batch.columns().to_vec(), kept))
    }

    fn decode_one(&self, payload: &[u8]) -> std::result::Result<RecordBatch, String> {
        let mut decoder = self.json_decoder(2).map_err(|e| e.to_string())?;
        decoder.decode(payload).map_err(|e| e.to_string())?;
        match decoder.flush().map_err(|e| e.to_string())? {
            Some(batch) if batch.num_rows() == 1 => Ok(batch),
            Some(batch) if batch.num_rows() > 1 => {
                Err("the value holds more than one JSON document".into())
            }
            _ => Err("the value holds no JSON document".into()),
        }
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
