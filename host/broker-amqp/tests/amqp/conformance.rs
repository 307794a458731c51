//! The shared broker conformance suite on the shared node.

wasmboost_broker::broker_conformance!(async {
    let url = crate::rabbit_node::shared_node().amqp_url();
    match wasmboost_broker_amqp::connect(&url).await {
        Ok(broker) => broker,
        Err(e) => panic!("open the amqp broker at {url}: {e}"),
    }
});
