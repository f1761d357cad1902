//! Sends each token-range read to a replica that owns the range.
//!
//! A query `WHERE token(pk) > ? AND token(pk) <= ?` binds no partition key,
//! so the driver cannot route it by token and would pick any coordinator,
//! which then fetches the rows from the replicas. This policy tries the
//! replicas of the range's end token first (live ones, in the driver's
//! replica order), and then the driver's usual plan, so a range whose
//! replicas are all down still finds a coordinator.

use std::sync::Arc;

use scylla::cluster::{ClusterState, NodeRef};
use scylla::policies::load_balancing::{
    DefaultPolicy, FallbackPlan, LoadBalancingPolicy, RoutingInfo,
};
use scylla::routing::{Shard, Token};

/// Routes reads of one token range of one table to its replicas.
#[derive(Debug)]
pub(crate) struct TokenRangeRouting {
    keyspace: String,
    table: String,
    token: Token,
    fallback: Arc<DefaultPolicy>,
}

impl TokenRangeRouting {
    /// Routing for the range of `keyspace.table` that ends at `end`.
    pub(crate) fn new(keyspace: &str, table: &str, end: i64, fallback: Arc<DefaultPolicy>) -> Self {
        Self {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            token: Token::new(end),
            fallback,
        }
    }

    /// The live replicas of the range, as references into `cluster`.
    fn replicas<'a>(
        &'a self,
        cluster: &'a ClusterState,
    ) -> impl Iterator<Item = (NodeRef<'a>, Option<Shard>)> + Send + Sync + 'a {
        let owners = cluster.get_token_endpoints(&self.keyspace, &self.table, self.token);
        owners.into_iter().filter_map(move |(owner, shard)| {
            cluster
                .get_nodes_info()
                .iter()
                .find(|node| node.host_id == owner.host_id && node.is_enabled())
                .map(|node| (node, Some(shard)))
        })
    }
}

impl LoadBalancingPolicy for TokenRangeRouting {
    fn pick<'a>(
        &'a self,
        request: &'a RoutingInfo<'_>,
        cluster: &'a ClusterState,
    ) -> Option<(NodeRef<'a>, Option<Shard>)> {
        self.replicas(cluster)
            .next()
            .or_else(|| self.fallback.pick(request, cluster))
    }

    fn fallback<'a>(
        &'a self,
        request: &'a RoutingInfo<'_>,
        cluster: &'a ClusterState,
    ) -> FallbackPlan<'a> {
        let rest = self
            .fallback
            .fallback(request, cluster)
            .filter(move |(node, _)| !replicas_contain(cluster, self, node));
        Box::new(self.replicas(cluster).chain(rest))
    }

    fn name(&self) -> String {
        "TokenRangeRouting".to_string()
    }
}

fn replicas_contain(
    cluster: &ClusterState,
    routing: &TokenRangeRouting,
    node: NodeRef<'_>,
) -> bool {
    routing
        .replicas(cluster)
        .any(|(replica, _)| replica.host_id == node.host_id)
}
