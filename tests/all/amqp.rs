//! Integration tests: RabbitMQ (issue 6) through the real `wasmboost serve` with
//! `[broker] type = "amqp"`. The broker's own behaviour and the conformance suite are tested in
//! `host/broker-amqp/tests`; here, the host on top of it. The tests share one harness node, each
//! on its own queue names; the broker-restart test boots a private node.
//!
//! - `support`: host config, deploy / publish / records over HTTP, polling with deadlines.
//! - `crash`: kill -9 of a host with tasks in flight; a rabbitmq-server restart during a run.
//! - `delivery`: poison message to the DLQ and replay; a delayed task across a host restart.
//! - `foreign`: messages published by a raw AMQP client (JSON runs, non-JSON is dead-lettered).

mod crash;
mod delivery;
mod foreign;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wasmboost_tests::rabbit::shared_node;

#[test]
fn harness_rabbit_node_speaks_amqp() {
    let node = shared_node();
    assert!(node.amqp_url().starts_with("amqp://guest:guest@127.0.0.1:"));
    let mut stream = TcpStream::connect(("127.0.0.1", node.port())).expect("connect to the node");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    stream
        .write_all(b"AMQP\x00\x00\x09\x01")
        .expect("protocol header");
    let mut frame_type = [0u8; 1];
    stream
        .read_exact(&mut frame_type)
        .expect("connection.start");
    assert_eq!(frame_type[0], 1, "a method frame opens the handshake");
}
