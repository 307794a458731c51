//! One integration test binary (link once); a module per area. Every test uses real guests built
//! from source, the real binary, and real servers started by the harness (`tests/harness`).

mod amqp;
mod amqp_cluster;
mod beanstalkd;
mod cancel;
mod cli;
mod delivery_checks;
mod deploy;
mod fresh;
mod global_rate;
mod grants;
mod nats;
mod postgres;
mod production;
mod python;
mod queue;
mod redis;
mod redis_ha;
mod results;
mod runtime;
mod schedule;
mod sdk;
mod security;
mod ui;
mod workflow;
