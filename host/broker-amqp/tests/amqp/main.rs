//! Tests of the AMQP broker against a real rabbitmq-server, one node per test process (booting
//! takes seconds), plus private nodes for the tests that restart theirs.

// Not every test binary uses every helper of the starter.
#[allow(dead_code)]
#[path = "../support/rabbit_node.rs"]
mod rabbit_node;

mod behaviour;
mod bench;
mod conformance;
mod quorum;
mod support;
