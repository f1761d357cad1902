//! Avro message values, plain or in the Confluent wire format.
//!
//! A plain message is one Avro datum written with the table's writer schema:
//! the `avro.schema` or `avro.schema.file` option, or else the record that
//! arrow-avro derives from the declared columns (which is what `INSERT`
//! writes). A Confluent message starts with a zero byte and the writer
//! schema's id in a schema registry, then the datum.
//!
//! Decoded fields become the declared columns by name: a field the writer
//! schema lacks is null, and a field of another type is cast, failing the
//! message (never rounding) when a value does not fit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, concat_batches, CastOptions};
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;

use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};

use crate::decode::{is_uuid, uuids_from_text};
use crate::error::Error;
use crate::options::{AvroSchemaSource, AvroSettings};

/// A Confluent-compatible schema registry. Calls may block; scans make them
/// from their reading threads, and only for schema ids not seen before.
pub trait SchemaRegistry: Debug + Send + Sync {
    /// The schema registered under `id`, as JSON; `None` when the registry
    /// has no schema of that id. An error means the registry could not
    /// answer, and fails the query rather than the message.
    fn schema(&self, id: u32) -> std::result::Result<Option<String>, String>;

    /// Registers `schema` under `subject` (or finds it there) and returns
    /// its id.
    fn register(&self, subject: &str, schema: &str) -> std::result::Result<u32, String>;
}

/// The magic byte of the Confluent wire format.
const CONFLUENT_MAGIC: u8 = 0;

/// The writer schema of a table's plain messages, as JSON.
pub(crate) fn writer_schema(
    settings: &AvroSettings,
    declared: &[FieldRef],
) -> std::result::Result<String, Error> {
    match &settings.schema {
        AvroSchemaSource::Inline(json) => Ok(json.clone()),
        AvroSchemaSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::Columns(format!("cannot read Avro schema file '{path}': {e}"))),
        AvroSchemaSource::Columns => {
            let schema = Schema::new(declared.to_vec());
            Ok(AvroSchema::try_from(&schema)
                .map_err(|e| {
                    Error::Columns(format!(
                        "the declared columns have no Avro form ({e}); give 'avro.schema'"
                    ))
                })?
                .json_string)
        }
    }
}

/// Decodes a table's Avro messages into its declared columns.
#[derive(Debug)]
pub(crate) struct AvroReader {
    /// The declared columns.
    target: SchemaRef,
    confluent: bool,
    registry: Option<Arc<dyn SchemaRegistry>>,
    /// The writer schemas known, by fingerprint.
    schemas: HashMap<Fingerprint, AvroSchema>,
    /// Confluent ids the registry does not have, with why.
    missing: BTreeMap<u32, String>,
    /// Why the registry could not be asked, once it could not.
    unreachable: Option<String>,
    /// For plain messages: the single-object prefix of the writer schema,
    /// put before each datum so one decoder reads them all.
    prefix: Vec<u8>,
    /// The decoder of the known schemas; dropped after a failure.
    decoder: Option<Decoder>,
    /// Framed input of the current message.
    scratch: Vec<u8>,
}

impl AvroReader {
    pub(crate) fn try_new(
        target: SchemaRef,
        settings: &AvroSettings,
        writer_schema: Option<&str>,
        registry: Option<Arc<dyn SchemaRegistry>>,
    ) -> std::result::Result<Self, Error> {
        let mut reader = Self {
            target,
            confluent: settings.confluent,
            registry,
            schemas: HashMap::new(),
            missing: BTreeMap::new(),
            unreachable: None,
            prefix: Vec::new(),
            decoder: None,
            scratch: Vec::new(),
        };
        if settings.confluent {
            if reader.registry.is_none() {
                return Err(Error::Columns(
                    "'avro.confluent' needs a schema registry: set kafka.schema_registry_url \
                     in the gateway's configuration"
                        .into(),
                ));
            }
        } else {
            let json = writer_schema
                .ok_or_else(|| Error::Columns("an Avro table needs its writer schema".into()))?;
            let schema = AvroSchema::new(json.to_string());
            let fingerprint = schema
                .fingerprint(FingerprintAlgorithm::Rabin)
                .map_err(|e| Error::Columns(format!("the Avro schema is not valid: {e}")))?;
            let Fingerprint::Rabin(rabin) = fingerprint else {
                return Err(Error::Columns("unexpected Avro fingerprint".into()));
            };
            reader.prefix = [0xC3, 0x01].to_vec();
            reader.prefix.extend_from_slice(&rabin.to_le_bytes());
            reader.schemas.insert(fingerprint, schema);
            // A schema arrow-avro cannot read fails the declaration, once.
            reader.decoder(1).map_err(Error::Columns)?;
        }
        Ok(reader)
    }

    /// A decoder of every known writer schema, made again when new ones
    /// arrived or the last one failed.
    fn decoder(&mut self, rows: usize) -> std::result::Result<&mut Decoder, String> {
        let stale = self
            .decoder
            .as_ref()
            .is_none_or(|d| d.batch_size() < rows || !d.batch_is_empty());
        if stale {
            let mut store = SchemaStore::new_with_type(match self.confluent {
                true => FingerprintAlgorithm::Id,
                false => FingerprintAlgorithm::Rabin,
            });
            for (fingerprint, schema) in &self.schemas {
                store
                    .set(*fingerprint, schema.clone())
                    .map_err(|e| format!("Avro schema: {e}"))?;
            }
            let decoder = ReaderBuilder::new()
                .with_batch_size(rows.max(1024))
                .with_writer_schema_store(store)
                .build_decoder()
                .map_err(|e| format!("Avro schema: {e}"))?;
            self.decoder = Some(decoder);
        }
        self.decoder
            .as_mut()
            .ok_or_else(|| "no Avro decoder".to_string())
    }

    /// Makes sure the writer schema of each Confluent message is known, by
    /// asking the registry for ids not seen before.
    fn learn_schemas<'p>(
        &mut self,
        payloads: impl Iterator<Item = &'p [u8]>,
    ) -> std::result::Result<(), String> {
        if !self.confluent {
            return Ok(());
        }
        let mut wanted = BTreeSet::new();
        for payload in payloads {
            let id = confluent_id(payload)?;
            if !self.schemas.contains_key(&Fingerprint::Id(id)) {
                wanted.insert(id);
            }
        }
        for id in wanted {
            if let Some(why) = self.missing.get(&id) {
                return Err(why.clone());
            }
            let Some(registry) = &self.registry else {
                return Err("no schema registry is configured".into());
            };
            match registry.schema(id) {
                Ok(Some(json)) => {
                    self.schemas
                        .insert(Fingerprint::Id(id), AvroSchema::new(json));
                    self.decoder = None;
                }
                Ok(None) => {
                    let why = format!("schema id {id} is not in the schema registry");
                    self.missing.insert(id, why.clone());
                    return Err(why);
                }
                Err(why) => {
                    let why =
                        format!("the schema registry cannot be asked for schema id {id}: {why}");
                    self.unreachable = Some(why.clone());
                    return Err(why);
                }
            }
        }
        Ok(())
    }

    /// Why the schema registry could not be asked, if it could not: then no
    /// message is at fault, and the scan must fail.
    pub(crate) fn take_unreachable(&mut self) -> Option<String> {
        self.unreachable.take()
    }

    /// The declared columns of `payloads`, all decoded together; an error
    /// means some message (which, is not known) did not decode.
    pub(crate) fn decode(
        &mut self,
        payloads: &[&[u8]],
    ) -> std::result::Result<Vec<ArrayRef>, String> {
        let result = self.decode_all(payloads);
        if result.is_err() {
            self.decoder = None;
        }
        result
    }

    fn decode_all(&mut self, payloads: &[&[u8]]) -> std::result::Result<Vec<ArrayRef>, String> {
        self.learn_schemas(payloads.iter().copied())?;
        let mut parts = Vec::new();
        let target = self.target.clone();
        let mut scratch = std::mem::take(&mut self.scratch);
        let prefix = self.prefix.clone();
        let confluent = self.confluent;
        let decoder = self.decoder(payloads.len())?;
        for payload in payloads {
            let frame: &[u8] = if confluent {
                payload
            } else {
                scratch.clear();
                scratch.extend_from_slice(&prefix);
                scratch.extend_from_slice(payload);
                &scratch
            };
            let mut used = 0;
            while used < frame.len() {
                let n = decoder
                    .decode(&frame[used..])
                    .map_err(|e| format!("not Avro of the writer schema: {e}"))?;
                used += n;
                if decoder.batch_is_full() {
                    // The writer schema changed: what came before goes first.
                    if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
                        parts.push(conform(&batch, &target)?);
                    }
                } else if n == 0 {
                    return Err("the value ends in the middle of an Avro datum".into());
                }
            }
        }
        if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
            parts.push(conform(&batch, &target)?);
        }
        self.scratch = scratch;
        let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
        if rows != payloads.len() {
            return Err(format!("{} values held {rows} Avro datums", payloads.len()));
        }
        let batch = concat_batches(&target, &parts).map_err(|e| e.to_string())?;
        Ok(batch.columns().to_vec())
    }
}

/// The schema id of a Confluent-framed value.
fn confluent_id(payload: &[u8]) -> std::result::Result<u32, String> {
    match payload {
        [CONFLUENT_MAGIC, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(
            "the value does not start with the Confluent wire format's magic byte and \
                  schema id"
                .into(),
        ),
    }
}

/// The declared columns of a decoded batch, matched by name (exactly, else
/// ignoring case) and cast where the types differ.
fn conform(batch: &RecordBatch, target: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let schema = batch.schema();
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let mut columns = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let found = schema.index_of(field.name()).ok().or_else(|| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(field.name()))
        });
        let column = match found {
            None => new_null_array(field.data_type(), batch.num_rows()),
            Some(i) => {
                let column = batch.column(i);
                if column.data_type() == field.data_type() {
                    column.clone()
                } else if is_uuid(field) && column.data_type() == &DataType::Utf8 {
                    uuids_from_text(column.as_string::<i32>(), field.name())?
                } else {
                    cast_with_options(column, field.data_type(), &options).map_err(|e| {
                        format!(
                            "field '{}' does not fit column type {}: {e}",
                            field.name(),
                            field.data_type()
                        )
                    })?
                }
            }
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(format!("field '{}' is null", field.name()));
        }
        columns.push(column);
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}
