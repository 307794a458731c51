//! Harness: one real `rabbitmq-server` node per test run ([`shared_node`]), or private ones
//! ([`RabbitNode::start`]) for tests that restart theirs. The starter lives in the broker-amqp
//! crate's tests so that crate can use it without depending on this (wasmtime-heavy) harness.

#[path = "../../host/broker-amqp/tests/support/rabbit_node.rs"]
mod node;

pub use node::{RabbitNode, shared_node};
