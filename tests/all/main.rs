//! One integration test binary (link once); a module per area. Every test uses real guests built
//! from source, the real binary, and real servers started by the harness (`tests/harness`).

mod amqp;
mod beanstalkd;
mod cli;
mod deploy;
mod fresh;
mod postgres;
mod python;
mod queue;
mod redis;
mod runtime;
mod sdk;
mod security;
