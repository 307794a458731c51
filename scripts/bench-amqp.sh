#!/bin/sh
# Publish-with-confirms and drain rates of the RabbitMQ broker alone, on a rabbitmq-server node the
# test harness boots on free loopback ports (or BENCH_AMQP_URL). Knobs: BENCH_MESSAGES (50000),
# BENCH_BATCH (500), BENCH_FETCHERS (2). Dev profile: dependencies (lapin, tokio) are optimized there.
set -eu
cd "$(dirname "$0")/.."
exec cargo test -p wasmboost-broker-amqp --test amqp -- \
    --ignored --exact bench::bench_publish_and_drain --nocapture
