//! Integration tests: amqp.
