//! Harness: one real `rabbitmq-server` node per test run ([`shared_node`]), private ones
//! ([`RabbitNode::start`]) for tests that restart theirs, or a 3-node cluster
//! ([`RabbitCluster::start`]). The starter lives in the broker-amqp
//! crate's tests so that crate can use it without depending on this (wasmtime-heavy) harness.

#[path = "../../host/broker-amqp/tests/support/rabbit_node.rs"]
mod node;

/// Three clustered nodes ([`RabbitCluster::start`]) for quorum-queue failover tests.
#[path = "rabbit_cluster.rs"]
mod cluster;

pub use cluster::{NODES, RabbitCluster};
pub use node::{RabbitNode, shared_node};
