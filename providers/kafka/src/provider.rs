//! A Kafka topic as a DataFusion [`TableProvider`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::SchemaExt;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::connection::SharedKafka;
use crate::error::Error;
use crate::exec::{KafkaScanExec, KafkaScanSpec};
use crate::options::KafkaTableOptions;
use crate::pushdown::{self, PartitionRange};
use crate::schema::table_schema;
use crate::sink::KafkaDataSink;

/// A topic read as a table: each query reads a snapshot, from the start of
/// each partition (or the pushed-down offsets) up to the end offsets taken
/// when the query is planned.
#[derive(Debug)]
pub struct KafkaTableProvider {
    kafka: SharedKafka,
    topic: String,
    declared: usize,
    schema: SchemaRef,
    options: KafkaTableOptions,
    parallelism: usize,
}

impl KafkaTableProvider {
    /// The table over `topic` with the `declared` value columns, read
    /// `parallelism` partitions at a time.
    pub fn try_new(
        kafka: SharedKafka,
        topic: &str,
        declared: &[FieldRef],
        options: KafkaTableOptions,
        parallelism: usize,
    ) -> Result<Self, Error> {
        let schema = table_schema(declared, &options)?;
        Ok(Self {
            kafka,
            topic: topic.to_string(),
            declared: declared.len(),
            schema,
            options,
            parallelism,
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The offsets a scan with `filters` reads, given the partitions'
    /// `watermarks`: see [`pushdown`] for what each filter does.
    async fn ranges(
        &self,
        watermarks: &[(i32, i64, i64)],
        filters: &[Expr],
    ) -> Result<Vec<PartitionRange>> {
        let mut ranges = pushdown::ranges(watermarks, filters);
        let Some(bounds) = pushdown::time_bounds(filters) else {
            return Ok(ranges);
        };
        let partitions: Vec<i32> = ranges
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.partition)
            .collect();
        if partitions.is_empty() {
            return Ok(ranges);
        }
        // Record times are never negative; an earlier bound narrows nothing.
        if bounds.from > 0 {
            let starts = self
                .kafka
                .offsets_for_times(&self.topic, &partitions, bounds.from)
                .await?;
            for (partition, start) in starts {
                if let Some(range) = ranges.iter_mut().find(|r| r.partition == partition) {
                    range.start = start.map_or(range.end, |s| range.start.max(s));
                }
            }
        }
        if bounds.to < i64::MAX && self.kafka.broker_stamped(&self.topic).await? {
            let ends = self
                .kafka
                .offsets_for_times(&self.topic, &partitions, bounds.to.max(0))
                .await?;
            for (partition, end) in ends {
                if let (Some(range), Some(end)) =
                    (ranges.iter_mut().find(|r| r.partition == partition), end)
                {
                    range.end = range.end.min(end);
                }
            }
        }
        for range in &mut ranges {
            range.end = range.end.max(range.start);
        }
        Ok(ranges)
    }
}

#[async_trait]
impl TableProvider for KafkaTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown::classify(filters))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(Error::Columns(format!(
                "{insert_op} is not supported for Kafka topic '{}': a topic is only appended to",
                self.topic
            ))
            .into());
        }
        self.schema
            .logically_equivalent_names_and_types(&input.schema())?;
        let sink = KafkaDataSink::new(
            self.kafka.clone(),
            &self.topic,
            self.schema.clone(),
            self.declared,
            self.options.clone(),
        );
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let watermarks = self.kafka.watermarks(&self.topic).await?;
        let spec = KafkaScanSpec {
            topic: self.topic.clone(),
            table_schema: self.schema.clone(),
            declared: self.declared,
            projection: projection
                .cloned()
                .unwrap_or_else(|| (0..self.schema.fields().len()).collect()),
            options: self.options.clone(),
            ranges: self.ranges(&watermarks, filters).await?,
            limit,
        };
        Ok(Arc::new(KafkaScanExec::try_new(
            self.kafka.clone(),
            spec,
            self.parallelism,
        )?))
    }
}
