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
    /// One JSON object per message, with the table's columns as fields.
    Json,
    /// The value itself, in one column of type `bytea` or `text`.
    Raw,
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
    ("format", "'json' or 'raw'"),
    ("key.format", "'text' (default) or 'bytes'"),
    ("on_error", "'fail' (default) or 'skip'"),
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
        };
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
                        _ => return Err(bad()),
                    }
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
        Ok(parsed)
    }
}

/// `value` as a count from 1.
fn at_least_one(value: &str) -> Option<i32> {
    value.parse::<i32>().ok().filter(|n| *n >= 1)
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Raw => "raw",
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
