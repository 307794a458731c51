//! One module per subcommand: an `XCommand` with `execute(self)`.

pub mod audit;
pub mod bench;
pub mod build;
pub mod cancel;
pub mod compile;
pub mod completions;
pub mod deploy;
pub mod dlq;
pub mod healthcheck;
pub mod new;
pub mod pause;
pub mod publish;
pub mod python;
pub mod queues;
pub mod result;
pub mod rollback;
pub mod run;
pub mod schedule;
pub mod serve;
pub mod status;
pub mod token;
pub mod versions;
pub mod workflow;

/// Exit code when the task returned a task error (`fail`, `retry`, `dead-letter`).
pub const EXIT_TASK_ERROR: u8 = 1;
/// Exit code when the host stopped the guest (a trap: fuel, timeout, memory, stack, panic).
pub const EXIT_TRAP: u8 = 2;
/// Exit code for usage errors and host-side failures (bad file, rejected component, no server).
pub const EXIT_HOST_ERROR: u8 = 3;
