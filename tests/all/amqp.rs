//! Integration tests: amqp. The broker's own behaviour is tested in `host/broker-amqp/tests`;
//! here, the harness node the host-level tests run against.

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
