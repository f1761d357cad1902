//! The Kafka cluster a gateway reads: client settings, and one shared
//! client for metadata and offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::avro::SchemaRegistry;
use crate::dead_letter::DeadLettered;
use crate::decode_errors::DecodeErrors;
use crate::error::Error;
use crate::options::TopicSettings;

/// The consumers of [`KafkaConnection::consumer_config`], which report
/// reaching the end of a partition (`enable.partition.eof`).
pub(crate) type Reader = BaseConsumer<ReaderContext>;

/// A consumer context that logs librdkafka's errors as the default one
/// does, except reaching the end of a partition. librdkafka reports that
/// as an error event, which rdkafka both logs and hands to `poll`. It is
/// no error: readers use it to tell a caught-up stream from one behind.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if end_of_partition {
            tracing::trace!("librdkafka: {reason}");
        } else {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// How long a metadata or offsets request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the Kafka cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `host:port` of one or more brokers.
    pub bootstrap_servers: Vec<String>,
    /// Further librdkafka client properties (`security.protocol`, ...).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            properties: BTreeMap::new(),
        }
    }
}

/// A shared handle on the cluster.
pub type SharedKafka = Arc<KafkaConnection>;

/// The cluster, with a client for metadata made on first use.
pub struct KafkaConnection {
    options: KafkaOptions,
    /// Made on first use, and made again after a request through it
    /// fails, so that a client left broken by a broker outage is not kept.
    metadata: Mutex<Option<Arc<Reader>>>,
    admin: OnceLock<Arc<AdminClient<DefaultClientContext>>>,
    registry: Option<Arc<dyn SchemaRegistry>>,
    decode_errors: Arc<DecodeErrors>,
    dead_lettered: Arc<DeadLettered>,
}

impl std::fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KafkaConnection {
    /// A connection to the cluster `options` describe; nothing is contacted
    /// until it is used.
    pub fn new(options: KafkaOptions) -> Self {
        Self {
            options,
            metadata: Mutex::new(None),
            admin: OnceLock::new(),
            registry: None,
            decode_errors: Arc::default(),
            dead_lettered: Arc::default(),
        }
    }

    /// Reads and writes the Confluent wire format through `registry`.
    pub fn with_schema_registry(mut self, registry: Arc<dyn SchemaRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The schema registry, if one is configured.
    pub(crate) fn schema_registry(&self) -> Option<Arc<dyn SchemaRegistry>> {
        self.registry.clone()
    }

    /// The counts of messages that did not decode, for
    /// `system.kafka_decode_errors`.
    pub fn decode_errors(&self) -> Arc<DecodeErrors> {
        self.decode_errors.clone()
    }

    /// The messages this gateway copied to dead-letter topics.
    pub(crate) fn dead_lettered(&self) -> Arc<DeadLettered> {
        self.dead_lettered.clone()
    }

    /// The settings of an idempotent producer that waits for every replica
    /// (`acks=all`) and partitions by key as the Java client does, so that
    /// key filters find the messages it wrote.
    pub(crate) fn producer_config(&self, delivery_timeout: Duration) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        config
    }

    /// The settings of a consumer that reads committed messages only, at
    /// offsets it is given, and commits nothing.
    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", "smackql-scan")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        config
    }

    /// The settings every client of this cluster shares: the brokers and
    /// the configured properties.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.options.properties {
            config.set(key, value);
        }
        config.set(
            "bootstrap.servers",
            self.options.bootstrap_servers.join(","),
        );
        config
    }

    fn metadata_client(&self) -> Result<Arc<Reader>, Error> {
        let mut slot = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client: Arc<Reader> = Arc::new(
            self.consumer_config()
                .create_with_context(ReaderContext)
                .map_err(|e| Error::kafka("creating a client", e))?,
        );
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs `request` with the metadata client on a blocking thread. When
    /// it fails in Kafka, the client is dropped (if no other request has
    /// replaced it meanwhile), and the next request makes a new one.
    async fn with_metadata_client<T: Send + 'static>(
        &self,
        what: &str,
        request: impl FnOnce(&Reader) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let client = self.metadata_client()?;
        let used = client.clone();
        let outcome = tokio::task::spawn_blocking(move || request(&used))
            .await
            .map_err(|e| Error::Stopped(format!("{what} stopped: {e}")))?;
        if let Err(Error::Kafka { .. }) = &outcome {
            let mut slot = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &client)) {
                *slot = None;
            }
        }
        outcome
    }

    /// The admin client, made on first use and kept: each one runs its own
    /// threads and connections.
    fn admin_client(&self) -> Result<Arc<AdminClient<DefaultClientContext>>, Error> {
        if let Some(client) = self.admin.get() {
            return Ok(client.clone());
        }
        let client: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .map_err(|e| Error::kafka("creating an admin client", e))?;
        Ok(self.admin.get_or_init(|| Arc::new(client)).clone())
    }

    /// The partitions of `topic` with their low and high watermarks (the
    /// first offset kept, and the offset after the last committed message).
    pub async fn watermarks(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>, Error> {
        let topic = topic.to_string();
        self.with_metadata_client("reading Kafka offsets", move |client| {
            partitions_of(client, &topic)?
                .into_iter()
                .map(|p| {
                    let (low, high) = client
                        .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                        .map_err(|e| {
                            Error::kafka(format!("reading the offsets of {topic}/{p}"), e)
                        })?;
                    Ok((p, low, high))
                })
                .collect()
        })
        .await
    }

    /// For each of `partitions` of `topic`, the first offset whose record
    /// time is at or after `time` (milliseconds since the epoch), or `None`
    /// when no message is that recent.
    pub async fn offsets_for_times(
        &self,
        topic: &str,
        partitions: &[i32],
        time: i64,
    ) -> Result<Vec<(i32, Option<i64>)>, Error> {
        let mut wanted = TopicPartitionList::new();
        for &p in partitions {
            wanted
                .add_partition_offset(topic, p, Offset::Offset(time))
                .map_err(|e| Error::kafka(format!("looking up times in {topic}/{p}"), e))?;
        }
        let topic = topic.to_string();
        self.with_metadata_client("looking up Kafka offsets", move |client| {
            let found = client
                .offsets_for_times(wanted, REQUEST_TIMEOUT)
                .map_err(|e| Error::kafka(format!("looking up times in topic '{topic}'"), e))?;
            Ok(found
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => (e.partition(), Some(o)),
                    _ => (e.partition(), None),
                })
                .collect())
        })
        .await
    }

    /// Whether the brokers stamp the record times of `topic`
    /// (`message.timestamp.type=LogAppendTime`), so that they never go back
    /// within a partition.
    pub async fn broker_stamped(&self, topic: &str) -> Result<bool, Error> {
        let admin = self.admin_client()?;
        let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
        let results = admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
            .await
            .map_err(|e| {
                Error::kafka(format!("reading the configuration of topic '{topic}'"), e)
            })?;
        Ok(results
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|resource| {
                resource
                    .get("message.timestamp.type")
                    .and_then(|entry| entry.value.clone())
            })
            .any(|kind| kind == "LogAppendTime"))
    }

    /// The offsets consumer group `group` committed in the partitions of
    /// `topic`; partitions without one are left out.
    pub async fn committed(&self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, Error> {
        let mut config = self.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        let client: BaseConsumer = config
            .create()
            .map_err(|e| Error::kafka("creating a consumer", e))?;
        let topic = topic.to_string();
        let group = group.to_string();
        tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            for partition in partitions_of(&client, &topic)? {
                wanted.add_partition(&topic, partition);
            }
            let found = client
                .committed_offsets(wanted, REQUEST_TIMEOUT)
                .map_err(|e| {
                    Error::kafka(format!("reading the offsets group '{group}' committed"), e)
                })?;
            Ok(found
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect())
        })
        .await
        .map_err(|e| Error::Stopped(format!("reading committed offsets stopped: {e}")))?
    }

    /// Whether `topic` exists.
    pub async fn has_topic(&self, topic: &str) -> Result<bool, Error> {
        let topic = topic.to_string();
        let found = self
            .with_metadata_client("reading Kafka metadata", move |client| {
                partitions_of(client, &topic)
            })
            .await;
        match found {
            Ok(_) => Ok(true),
            Err(Error::NoTopic(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates `topic` laid out as `settings` unless it exists; returns
    /// whether it was created.
    pub async fn create_topic(&self, topic: &str, settings: TopicSettings) -> Result<bool, Error> {
        let admin = self.admin_client()?;
        // -1 asks the brokers for their default replication factor.
        let replication = TopicReplication::Fixed(settings.replication.unwrap_or(-1));
        let new = NewTopic::new(topic, settings.partitions, replication);
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let results = admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| Error::kafka(format!("creating topic '{topic}'"), e))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(true),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
            Some(Err((_, code))) => Err(Error::kafka(
                format!("creating topic '{topic}'"),
                rdkafka::error::KafkaError::AdminOp(code),
            )),
            None => Err(Error::Stopped(format!(
                "Kafka gave no answer for creating topic '{topic}'"
            ))),
        }
    }
}

/// The partitions of `topic`, in order; blocks on a metadata request.
fn partitions_of<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    topic: &str,
) -> Result<Vec<i32>, Error> {
    let metadata = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| Error::kafka(format!("reading the metadata of topic '{topic}'"), e))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(Error::NoTopic(topic.to_string()));
    };
    if found.error().is_some() || found.partitions().is_empty() {
        return Err(Error::NoTopic(topic.to_string()));
    }
    let mut partitions: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    Ok(partitions)
}
