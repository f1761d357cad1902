//! A Kafka table's options: how its topic is read and decoded.
//!
//! Options are checked by name when a table is declared: a misspelled or
//! unknown option is an error, never silently ignored.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;

/// How message values are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per message, with the table's columns as fields
    /// (or at the paths the `json.path.<column>` options give).
    Json,
    /// One CSV record per message, with the table's columns in order.
    Csv,
    /// One Avro datum per message, plain or in the Confluent wire format.
    Avro,
    /// The value itself, in one column of type `bytea` or `text`.
    Raw,
}

/// Where the Avro schema that messages were written with comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AvroSchemaSource {
    /// The table's own columns, as the Avro record smackql writes.
    #[default]
    Columns,
    /// The schema given inline, as JSON.
    Inline(String),
    /// A schema file (`.avsc`), read when the table is loaded.
    File(String),
}

/// How an Avro table's messages are framed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AvroSettings {
    /// The writer schema of plain messages.
    pub schema: AvroSchemaSource,
    /// Messages carry the Confluent wire format: a zero byte and the
    /// writer schema's id in the schema registry, then the datum.
    pub confluent: bool,
}

/// How the producers of a topic chose partitions from keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// The Java client's default, murmur2 of the key bytes (smackql's
    /// `INSERT` uses it too): an equality on `_key` reads one partition.
    Murmur2,
    /// Something else: key filters read every partition.
    Unknown,
}

/// How message keys are shown in `_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// UTF-8 text; a key that is not is a decoding error.
    Text,
    /// The bytes as they are.
    Bytes,
}

/// What a message that cannot be decoded does to a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The query fails, naming the topic, partition and offset.
    Fail,
    /// The message is counted and left out.
    Skip,
    /// The message is counted, copied to the dead-letter topic with the
    /// reason in its headers, and left out.
    DeadLetter,
}

/// The options of one Kafka table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTableOptions {
    /// How values are decoded.
    pub format: Format,
    /// How keys are shown.
    pub key_format: KeyFormat,
    /// What an undecodable message does.
    pub on_error: OnError,
    /// The declared column that holds each event's own time; `INSERT`
    /// writes it as the record time.
    pub timestamp_column: Option<String>,
    /// The declared column whose value, as text, keys the messages `INSERT`
    /// writes.
    pub key_column: Option<String>,
    /// The topic to create when the table is declared and the topic does
    /// not exist yet.
    pub create_topic: Option<TopicSettings>,
    /// Where undecodable messages are copied under `on_error 'dead_letter'`.
    pub dead_letter_topic: Option<String>,
    /// JSON paths of declared columns, by column name.
    pub json_paths: BTreeMap<String, String>,
    /// The CSV field delimiter.
    pub csv_delimiter: u8,
    /// How Avro messages are written.
    pub avro: AvroSettings,
    /// How keys map to partitions.
    pub partitioner: Partitioner,
    /// Whether SELECTs stream instead of reading a snapshot.
    pub streaming: bool,
}

/// How a topic that smackql creates is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    /// Partitions.
    pub partitions: i32,
    /// Replicas of each partition; `None` takes the brokers' default.
    pub replication: Option<i32>,
}

/// The options a table may set, with what each one means.
pub const OPTIONS: &[(&str, &str)] = &[
    ("format", "'json', 'csv', 'avro' or 'raw'"),
    ("key.format", "'text' (default) or 'bytes'"),
    ("key.partitioner", "'murmur2' (default) or 'unknown'"),
    ("scan.mode", "'bounded' (default) or 'streaming'"),
    ("on_error", "'fail' (default), 'skip' or 'dead_letter'"),
    (
        "dead_letter.topic",
        "the topic that 'on_error' 'dead_letter' copies messages to",
    ),
    (
        "json.path.<column>",
        "the column's field names joined by '.', such as 'payload.after.id'",
    ),
    ("csv.delimiter", "one ASCII character, ',' by default"),
    ("avro.schema", "the writer schema, as JSON"),
    (
        "avro.schema.file",
        "the path of the writer schema's .avsc file",
    ),
    (
        "avro.confluent",
        "'true' when messages carry the Confluent schema registry wire format",
    ),
    (
        "timestamp.column",
        "the name of a declared timestamp column",
    ),
    ("key", "the name of a declared column"),
    (
        "topic.partitions",
        "a number of partitions from 1, to create the topic if it does not exist",
    ),
    (
        "topic.replication",
        "a replication factor from 1, with topic.partitions",
    ),
];

impl KafkaTableOptions {
    /// Options from `CREATE ... OPTIONS (...)`. Names are case-insensitive;
    /// unknown names and values are errors that say what is allowed.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, Error> {
        let mut parsed = Self {
            format: Format::Json,
            key_format: KeyFormat::Text,
            on_error: OnError::Fail,
            timestamp_column: None,
            key_column: None,
            create_topic: None,
            dead_letter_topic: None,
            json_paths: BTreeMap::new(),
            csv_delimiter: b',',
            avro: AvroSettings::default(),
            partitioner: Partitioner::Murmur2,
            streaming: false,
        };
        let mut avro_schema = None;
        let mut avro_file = None;
        let mut partitions = None;
        let mut replication = None;
        for (name, given) in options {
            let name = name.to_ascii_lowercase();
            let value = given.to_ascii_lowercase();
            let bad = || Error::Option {
                name: name.clone(),
                value: value.clone(),
                allowed: OPTIONS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, a)| (*a).to_string())
                    .unwrap_or_default(),
            };
            match name.as_str() {
                "format" => {
                    parsed.format = match value.as_str() {
                        "json" => Format::Json,
                        "csv" => Format::Csv,
                        "avro" => Format::Avro,
                        "raw" => Format::Raw,
                        _ => return Err(bad()),
                    }
                }
                "key.format" => {
                    parsed.key_format = match value.as_str() {
                        "text" => KeyFormat::Text,
                        "bytes" => KeyFormat::Bytes,
                        _ => return Err(bad()),
                    }
                }
                "on_error" => {
                    parsed.on_error = match value.as_str() {
                        "fail" => OnError::Fail,
                        "skip" => OnError::Skip,
                        "dead_letter" => OnError::DeadLetter,
                        _ => return Err(bad()),
                    }
                }
                "scan.mode" => {
                    parsed.streaming = match value.as_str() {
                        "bounded" => false,
                        "streaming" => true,
                        _ => return Err(bad()),
                    }
                }
                "key.partitioner" => {
                    parsed.partitioner = match value.as_str() {
                        "murmur2" => Partitioner::Murmur2,
                        "unknown" => Partitioner::Unknown,
                        _ => return Err(bad()),
                    }
                }
                "dead_letter.topic" if !given.is_empty() => {
                    parsed.dead_letter_topic = Some(given.clone())
                }
                "csv.delimiter" => {
                    parsed.csv_delimiter = match given.as_bytes() {
                        [one] if one.is_ascii() && *one != b'"' && *one != b'\n' => *one,
                        _ => return Err(bad()),
                    }
                }
                "avro.schema" => avro_schema = Some(given.clone()),
                "avro.schema.file" => avro_file = Some(given.clone()),
                "avro.confluent" => {
                    parsed.avro.confluent = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad()),
                    }
                }
                _ if name.starts_with("json.path.") && name.len() > "json.path.".len() => {
                    let column = original_suffix(options, &name, "json.path.");
                    parsed.json_paths.insert(column, given.clone());
                }
                "timestamp.column" => parsed.timestamp_column = Some(given.clone()),
                "key" => parsed.key_column = Some(given.clone()),
                "topic.partitions" => partitions = Some(at_least_one(&value).ok_or_else(bad)?),
                "topic.replication" => replication = Some(at_least_one(&value).ok_or_else(bad)?),
                _ => {
                    return Err(Error::UnknownOption {
                        name,
                        known: OPTIONS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
        parsed.create_topic = match (partitions, replication) {
            (Some(partitions), replication) => Some(TopicSettings {
                partitions,
                replication,
            }),
            (None, Some(_)) => {
                return Err(Error::Option {
                    name: "topic.replication".into(),
                    value: replication.unwrap_or_default().to_string(),
                    allowed: "to be given with topic.partitions".into(),
                })
            }
            (None, None) => None,
        };
        parsed.avro.schema = match (avro_schema, avro_file) {
            (Some(_), Some(_)) => {
                return Err(Error::Option {
                    name: "avro.schema.file".into(),
                    value: "given".into(),
                    allowed: "either 'avro.schema' or 'avro.schema.file', not both".into(),
                })
            }
            (Some(schema), None) => AvroSchemaSource::Inline(schema),
            (None, Some(file)) => AvroSchemaSource::File(file),
            (None, None) => AvroSchemaSource::Columns,
        };
        let mismatch = |option: &str, format: &str| Error::Option {
            name: option.into(),
            value: "given".into(),
            allowed: format!("only with format '{format}'"),
        };
        if parsed.format != Format::Json && !parsed.json_paths.is_empty() {
            return Err(mismatch("json.path.<column>", "json"));
        }
        if parsed.format != Format::Csv && parsed.csv_delimiter != b',' {
            return Err(mismatch("csv.delimiter", "csv"));
        }
        if parsed.format != Format::Avro && parsed.avro != AvroSettings::default() {
            return Err(mismatch("avro.*", "avro"));
        }
        match (parsed.on_error, &parsed.dead_letter_topic) {
            (OnError::DeadLetter, None) => {
                return Err(Error::Option {
                    name: "on_error".into(),
                    value: "dead_letter".into(),
                    allowed: "a 'dead_letter.topic' option naming where messages go".into(),
                })
            }
            (OnError::Fail | OnError::Skip, Some(_)) => {
                return Err(Error::Option {
                    name: "dead_letter.topic".into(),
                    value: "given".into(),
                    allowed: "only with 'on_error' 'dead_letter'".into(),
                })
            }
            _ => {}
        }
        Ok(parsed)
    }
}

/// The part after `prefix` of the option named `lowered`, as written.
fn original_suffix(options: &BTreeMap<String, String>, lowered: &str, prefix: &str) -> String {
    options
        .keys()
        .find(|k| k.to_ascii_lowercase() == lowered)
        .map(|k| k[prefix.len()..].to_string())
        .unwrap_or_else(|| lowered[prefix.len()..].to_string())
}

/// `value` as a count from 1.
fn at_least_one(value: &str) -> Option<i32> {
    value.parse::<i32>().ok().filter(|n| *n >= 1)
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Avro => "avro",
            Self::Raw => "raw",
        })
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::DeadLetter => "dead_letter",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<KafkaTableOptions, Error> {
        KafkaTableOptions::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_and_values_parse() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.format, Format::Json);
        assert_eq!(options.key_format, KeyFormat::Text);
        assert_eq!(options.on_error, OnError::Fail);
        let options = parse(&[
            ("FORMAT", "Raw"),
            ("key.format", "bytes"),
            ("on_error", "skip"),
        ])
        .unwrap();
        assert_eq!(
            (options.format, options.key_format, options.on_error),
            (Format::Raw, KeyFormat::Bytes, OnError::Skip)
        );
        let options = parse(&[
            ("timestamp.column", "Ts"),
            ("topic.partitions", "6"),
            ("topic.replication", "1"),
        ])
        .unwrap();
        assert_eq!(options.timestamp_column.as_deref(), Some("Ts"));
        assert_eq!(
            options.create_topic,
            Some(TopicSettings {
                partitions: 6,
                replication: Some(1)
            })
        );
    }

    #[test]
    fn unknown_names_and_values_are_refused_by_name() {
        let err = parse(&[("fromat", "json")]).unwrap_err().to_string();
        assert!(
            err.contains("unknown option 'fromat'") && err.contains("format"),
            "{err}"
        );
        let err = parse(&[("topic.partitions", "0")]).unwrap_err().to_string();
        assert!(err.contains("'topic.partitions' cannot be '0'"), "{err}");
        let err = parse(&[("topic.replication", "3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("topic.partitions"), "{err}");
        let err = parse(&[("on_error", "ignore")]).unwrap_err().to_string();
        assert!(
            err.contains("'on_error' cannot be 'ignore'") && err.contains("'skip'"),
            "{err}"
        );
    }
}
