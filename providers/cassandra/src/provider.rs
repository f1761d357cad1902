//! One Cassandra table as a DataFusion [`TableProvider`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{ParamValues, SchemaExt};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use scylla::cluster::metadata::{ColumnKind, ColumnType, NativeType, Table};

use crate::connection::SharedConnection;
use crate::error::Error;
use crate::exec::{CassandraScanExec, ScanSpec, ScanTarget};
use crate::indexes::IndexedColumn;
use crate::lookup::LookupSpec;
use crate::params;
use crate::pushdown::{self, IndexFilter, KeyLayout};
use crate::session_options::{CassandraSessionOptions, RequestOptions};
use crate::sink::{CassandraDataSink, WriteTime};
use crate::token::TokenRange;
use crate::types::arrow_field;

/// A column of a Cassandra table, in SQL order.
#[derive(Debug, Clone)]
pub struct ColumnMeta {
    /// The column's name, exactly as in Cassandra.
    pub name: String,
    /// Its CQL type.
    pub cql_type: ColumnType<'static>,
    /// Its role in the primary key, if any.
    pub kind: ColumnKind,
}

/// A Cassandra table, read with paged CQL.
#[derive(Debug)]
pub struct CassandraTableProvider {
    table: Arc<TableDef>,
    /// Where the rows `INSERT` writes take their write timestamps from,
    /// when not from the clock.
    write_time: Option<WriteTime>,
}

/// What a scan of a table needs to know about it.
#[derive(Debug)]
pub(crate) struct TableDef {
    connection: SharedConnection,
    keyspace: String,
    table: String,
    columns: Vec<ColumnMeta>,
    partition_key: Vec<String>,
    /// Columns with an exact SAI index.
    indexed: Arc<[IndexedColumn]>,
    schema: SchemaRef,
}

impl CassandraTableProvider {
    /// The provider of `keyspace.table`, described by the driver's metadata
    /// and the table's usable SAI indexes.
    ///
    /// Columns come in Cassandra's own order: partition key, clustering key,
    /// then the other columns by name.
    pub fn try_new(
        connection: SharedConnection,
        keyspace: &str,
        table: &str,
        meta: &Table,
        indexed: Arc<[IndexedColumn]>,
    ) -> Result<Self, Error> {
        let mut columns: Vec<ColumnMeta> = Vec::with_capacity(meta.columns.len());
        for name in meta.partition_key.iter().chain(&meta.clustering_key) {
            if let Some(column) = meta.columns.get(name) {
                columns.push(ColumnMeta {
                    name: name.clone(),
                    cql_type: column.typ.clone(),
                    kind: column.kind.clone(),
                });
            }
        }
        let mut rest: Vec<_> = meta
            .columns
            .iter()
            .filter(|(_, c)| matches!(c.kind, ColumnKind::Regular | ColumnKind::Static))
            .collect();
        rest.sort_by(|a, b| a.0.cmp(b.0));
        columns.extend(rest.into_iter().map(|(name, c)| ColumnMeta {
            name: name.clone(),
            cql_type: c.typ.clone(),
            kind: c.kind.clone(),
        }));

        let types = connection.options().types;
        let fields = columns
            .iter()
            .map(|c| arrow_field(&c.name, &c.cql_type, types))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Self {
            table: Arc::new(TableDef {
                connection,
                keyspace: keyspace.to_string(),
                table: table.to_string(),
                columns,
                partition_key: meta.partition_key.clone(),
                indexed,
                schema: Arc::new(Schema::new(fields)),
            }),
            write_time: None,
        })
    }

    /// The same table, into which `INSERT` writes each row with the
    /// timestamp `base + scale × value` of its bigint column `column`
    /// (microseconds): of two writes of one row, Cassandra keeps the one
    /// with the greater value, whichever arrives last.
    pub fn with_write_time(&self, column: &str, base: i64, scale: i64) -> Result<Self, Error> {
        let position = self
            .table
            .columns
            .iter()
            .position(|c| c.name == column)
            .filter(|i| self.table.columns[*i].cql_type == ColumnType::Native(NativeType::BigInt))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "{} has no bigint column {column} to take write times from",
                    self.qualified_name()
                ))
            })?;
        Ok(Self {
            table: self.table.clone(),
            write_time: Some(WriteTime {
                column: position,
                base,
                scale,
            }),
        })
    }

    /// The table's columns in SQL order.
    pub fn columns(&self) -> &[ColumnMeta] {
        &self.table.columns
    }

    /// The key columns, with the configured partition-read limit.
    pub fn key_layout(&self) -> KeyLayout<'_> {
        self.table.key_layout()
    }

    /// The partition key's columns, in key order.
    pub fn partition_key(&self) -> &[String] {
        &self.table.partition_key
    }

    /// The primary key's columns: the partition key, then the clustering
    /// key, each in key order.
    pub fn primary_key(&self) -> impl Iterator<Item = &str> {
        self.table
            .columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering))
            .map(|c| c.name.as_str())
    }

    /// The table's estimated size in bytes, if Cassandra has an estimate
    /// (see [`crate::CassandraConnection::estimated_bytes`]).
    pub async fn estimated_bytes(&self) -> Result<Option<u64>> {
        Ok(self
            .table
            .connection
            .estimated_bytes(&self.table.keyspace, &self.table.table)
            .await?)
    }

    /// `keyspace.table`
    pub fn qualified_name(&self) -> String {
        self.table.qualified_name()
    }

    /// A plan that deletes the row of each primary key `input` yields,
    /// from every partition of `input`. `input` has exactly the primary-key
    /// columns, in table order and with the table's types. It yields the
    /// count of keys deleted, as an insert does.
    pub fn delete_by_key(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = &self.table;
        let key: Vec<ColumnMeta> = table
            .columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering))
            .cloned()
            .collect();
        let fields: Vec<_> = key
            .iter()
            .map(|c| table.schema.field_with_name(&c.name).cloned())
            .collect::<std::result::Result<_, _>>()?;
        let schema = Arc::new(Schema::new(fields));
        schema.logically_equivalent_names_and_types(&input.schema())?;
        // The sink reads one input partition; a scan has one per token
        // range.
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        let sink = CassandraDataSink::deleting(
            table.connection.clone(),
            &table.keyspace,
            &table.table,
            key,
            schema,
            table.request_options(state)?,
        );
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

impl TableDef {
    fn key_layout(&self) -> KeyLayout<'_> {
        KeyLayout {
            columns: &self.columns,
            partition_key: &self.partition_key,
            max_reads: self.connection.options().max_partition_reads,
            indexed: &self.indexed,
        }
    }

    fn qualified_name(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// How requests to this table are sent: the session's settings, then
    /// the table's.
    fn request_options(&self, state: &dyn Session) -> Result<RequestOptions> {
        let session = match state
            .config_options()
            .extensions
            .get::<CassandraSessionOptions>()
        {
            Some(session) => {
                RequestOptions::from_session(session).map_err(DataFusionError::Configuration)?
            }
            None => RequestOptions::default(),
        };
        let table = self
            .connection
            .options()
            .tables
            .get(&self.qualified_name())
            .copied()
            .unwrap_or_default();
        Ok(session.or(table))
    }

    /// The scan of `projection` restricted by `filters`, which hold values
    /// (no placeholders).
    async fn plan_scan(
        &self,
        request: RequestOptions,
        projection: &[usize],
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<CassandraScanExec> {
        let layout = self.key_layout();
        let index = pushdown::index_filter(filters, &layout);
        let target = match (
            pushdown::key_plan(filters, &layout),
            pushdown::token_bounds(filters, &self.partition_key),
        ) {
            (Some(plan), _) => ScanTarget::Partitions(Box::new(plan)),
            // token() bounds that admit no token read nothing at all.
            (None, Some(bounds)) if bounds.is_empty() => ScanTarget::Partitions(Box::default()),
            (None, Some(bounds)) => ScanTarget::TokenRanges(
                self.connection
                    .token_splits(&self.keyspace, &self.table, bounds)
                    .await?,
            ),
            // An index query finds its rows in one request; so does a
            // small LIMIT, which stops early.
            (None, None) if !index.is_empty() || limit.is_some() => ScanTarget::Table,
            (None, None) => ScanTarget::TokenRanges(
                self.connection
                    .token_splits(&self.keyspace, &self.table, TokenRange::FULL)
                    .await?,
            ),
        };
        let spec = self.spec(request, projection, target, index, limit)?;
        // A scan of token ranges, or an index query, may become partition
        // reads when a join supplies the key columns its filters leave open.
        let lookup = match &spec.target {
            ScanTarget::TokenRanges(_) => LookupSpec::plan(filters, &layout, &spec.schema),
            ScanTarget::Table if !spec.index.is_empty() => {
                LookupSpec::plan(filters, &layout, &spec.schema)
            }
            ScanTarget::Partitions(_) | ScanTarget::Table => None,
        };
        Ok(CassandraScanExec::new(
            self.connection.clone(),
            spec,
            self.connection.options().scan_parallelism,
        )
        .with_lookup(lookup))
    }

    fn spec(
        &self,
        request: RequestOptions,
        projection: &[usize],
        target: ScanTarget,
        index: IndexFilter,
        limit: Option<usize>,
    ) -> Result<ScanSpec> {
        Ok(ScanSpec {
            keyspace: self.keyspace.clone(),
            table: self.table.clone(),
            columns: projection
                .iter()
                .map(|i| self.columns[*i].clone())
                .collect(),
            // CQL cannot select nothing; `count(*)` reads the first key column.
            fallback_column: self.columns[0].name.clone(),
            partition_key: self.partition_key.clone(),
            schema: Arc::new(self.schema.project(projection)?),
            target,
            index,
            request,
            limit,
        })
    }
}

/// A scan planned before its statement's parameters were known: its
/// filters hold placeholders, and it reads once they are bound (see
/// [`crate::params`]).
#[derive(Debug)]
pub(crate) struct ScanTemplate {
    table: Arc<TableDef>,
    request: RequestOptions,
    projection: Vec<usize>,
    filters: Vec<Expr>,
    limit: Option<usize>,
    /// How the filters were classified, with a value in each placeholder.
    pushdown: Vec<TableProviderFilterPushDown>,
}

impl ScanTemplate {
    /// The scan with `params` in place of the placeholders, or `None` when
    /// those values change which filters go down to Cassandra.
    pub(crate) async fn bind(&self, params: &ParamValues) -> Result<Option<CassandraScanExec>> {
        let filters = params::bind(&self.filters, params)?;
        let refs: Vec<&Expr> = filters.iter().collect();
        if pushdown::classify_filters(&refs, &self.table.key_layout()) != self.pushdown {
            return Ok(None);
        }
        self.table
            .plan_scan(self.request, &self.projection, &filters, self.limit)
            .await
            .map(Some)
    }
}

#[async_trait]
impl TableProvider for CassandraTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let representatives = params::with_representatives(filters);
        let filters: Vec<&Expr> = representatives.iter().collect();
        Ok(pushdown::classify_filters(&filters, &self.key_layout()))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.table.columns.len()).collect(),
        };
        let request = self.table.request_options(state)?;
        if !params::has_placeholders(filters) {
            let scan = self
                .table
                .plan_scan(request, &projection, filters, limit)
                .await?;
            return Ok(Arc::new(scan));
        }
        let refs: Vec<&Expr> = filters.iter().collect();
        let template = ScanTemplate {
            table: self.table.clone(),
            request,
            pushdown: self.supports_filters_pushdown(&refs)?,
            projection,
            filters: filters.to_vec(),
            limit,
        };
        let spec = self.table.spec(
            request,
            &template.projection,
            ScanTarget::Partitions(Box::default()),
            IndexFilter::default(),
            limit,
        )?;
        Ok(Arc::new(
            CassandraScanExec::new(self.table.connection.clone(), spec, 1)
                .with_template(Arc::new(template)),
        ))
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(Error::Unsupported(format!(
                "{insert_op} is not supported for Cassandra table {}: INSERT INTO already \
                 replaces rows with the same primary key",
                self.qualified_name()
            ))
            .into());
        }
        let table = &self.table;
        table
            .schema
            .logically_equivalent_names_and_types(&input.schema())?;
        let mut sink = CassandraDataSink::new(
            table.connection.clone(),
            &table.keyspace,
            &table.table,
            table.columns.clone(),
            table.schema.clone(),
            table.request_options(state)?,
        );
        if let Some(write_time) = self.write_time {
            sink = sink.with_write_time(write_time);
        }
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}
