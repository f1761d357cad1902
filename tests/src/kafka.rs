//! Kafka topics for tests: created fresh, filled with exactly the messages a
//! test gives.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::services;

/// One message to produce.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The partition it goes to; a negative one lets the producer choose
    /// from the key, with murmur2 as the Java client does.
    pub partition: i32,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Its record time, in milliseconds since the epoch; the producer's
    /// clock when unset.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A message with a text value, in `partition`.
    pub fn text(partition: i32, value: &str) -> Self {
        Self {
            partition,
            value: Some(value.as_bytes().to_vec()),
            ..Self::default()
        }
    }

    /// A message with `value` as it is, in `partition`.
    pub fn bytes(partition: i32, value: &[u8]) -> Self {
        Self {
            partition,
            value: Some(value.to_vec()),
            ..Self::default()
        }
    }

    /// The same message with a text key.
    pub fn keyed(mut self, key: &str) -> Self {
        self.key = Some(key.as_bytes().to_vec());
        self
    }

    /// The same message with record time `millis`.
    pub fn at(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// The same message with one more header.
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }
}

/// Creates `topic` with `partitions` partitions on the test Kafka.
pub async fn create_topic(topic: &str, partitions: i32) {
    create_topic_with(topic, partitions, &[]).await
}

/// Creates `topic` with `partitions` partitions and topic `config`.
pub async fn create_topic_with(topic: &str, partitions: i32, config: &[(&str, &str)]) {
    let brokers = &services::ensure().await.kafka;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("a Kafka admin client");
    let created = admin
        .create_topics(
            &[config.iter().fold(
                NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("creating a topic");
    for result in created {
        result.unwrap_or_else(|(name, err)| panic!("creating topic {name}: {err}"));
    }
}

/// Produces `records` to `topic`, in order, and waits until every one is
/// acknowledged. The producer is idempotent, so records sent to one
/// partition keep their order there although they are sent without
/// waiting for each other.
pub async fn produce(topic: &str, records: &[Record]) {
    let brokers = &services::ensure().await.kafka;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .expect("a Kafka producer");
    let mut deliveries = Vec::with_capacity(records.len());
    for record in records {
        let mut headers = OwnedHeaders::new();
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut message: FutureRecord<'_, Vec<u8>, Vec<u8>> =
            FutureRecord::to(topic).headers(headers);
        if record.partition >= 0 {
            message = message.partition(record.partition);
        }
        if let Some(key) = &record.key {
            message = message.key(key);
        }
        if let Some(millis) = record.timestamp {
            message = message.timestamp(millis);
        }
        if let Some(value) = &record.value {
            message = message.payload(value);
        }
        loop {
            match producer.send_result(message) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    message = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((err, _)) => panic!("producing to {topic}: {err}"),
            }
        }
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((err, _))) => panic!("producing to {topic}: {err}"),
            Err(_) => panic!("producing to {topic}: the producer went away"),
        }
    }
}

/// The messages of `topic`, all partitions, read to the end: key, value and
/// headers of each.
pub async fn consume_all(topic: &str) -> Vec<Record> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let brokers = services::ensure().await.kafka.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "smackql-tests")
            .set("enable.auto.commit", "false")
            .create()
            .expect("a Kafka consumer");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("topic metadata");
        let mut assignment = TopicPartitionList::new();
        let mut left = 0;
        for partition in metadata.topics()[0].partitions() {
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition.id(), Duration::from_secs(10))
                .expect("watermarks");
            left += high - low;
            assignment
                .add_partition_offset(&topic, partition.id(), Offset::Beginning)
                .expect("assignment");
        }
        consumer.assign(&assignment).expect("assign");
        let mut records = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while left > 0 && std::time::Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.expect("a message");
            left -= 1;
            records.push(Record {
                partition: message.partition(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers: message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
                timestamp: message.timestamp().to_millis(),
            });
        }
        records
    })
    .await
    .expect("the consumer task")
}
