//! RabbitMQ broker over AMQP 0.9.1: confirms, manual acks, dead-letter exchange, TTL delay queues, priorities.
