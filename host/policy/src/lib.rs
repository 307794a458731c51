//! Pure per-queue policy logic: no I/O, no clocks of its own (every function takes `now`), so
//! the worker can test it with fixed times.
//!
//! - [`rate`]: [`RateLimiter`], a smooth GCRA limiter for any positive rate (0.5/s .. 5000/s+).
//! - [`retry`]: [`RetryPolicy::decide`] turns a failed attempt into a [`Decision`]; requeue bound.
//! - [`histogram`]: [`Histogram`], lock-free fixed buckets for task durations, fuel and memory,
//!   and their percentiles; the bucket bounds of each quantity.
//! - [`expiry`]: [`is_expired`] from a queue's `msg_ttl` and a message's `expire_at`.
//! - [`dedup`]: [`dedup_key`], sha256 of the canonical JSON of the arguments.
//! - [`window`]: [`Window`], allowed run windows like `"mon-fri 09:00-17:00 Europe/Berlin"`.
//! - [`message`]: [`parse`] a message body and [`stamp`] its `extra` on publish.
//! - [`schedule`]: periodic schedules: cron with seconds in a time zone (DST-correct), `every`,
//!   `at`, misfire policies and one task id per tick.
//! - [`workflow`]: workflow documents (chain, group, chord, map) checked into a `Plan` of
//!   stages, and the task ids of their steps.
//! - [`units`]: the one duration grammar and the one size grammar (config, flags, query, `extra`).
//! - [`names`]: the one rule for queue names, task ids and dedup keys ([`validate_queue_name`],
//!   [`validate_task_id`]), [`NameError`].
//! - [`error`]: [`PolicyError`] for invalid settings.

pub mod dedup;
pub mod error;
pub mod expiry;
pub mod histogram;
pub mod message;
pub mod names;
pub mod rate;
pub mod retry;
pub mod schedule;
pub mod units;
pub mod window;
pub mod workflow;

pub use dedup::{dedup_key, dedup_key_of_args};
pub use error::PolicyError;
pub use expiry::is_expired;
pub use histogram::Histogram;
pub use message::{DEFAULT_MAX_MESSAGE_BYTES, Extra, MessageError, ParsedMessage, parse, stamp};
pub use names::{NameError, validate_queue_name, validate_task_id};
pub use rate::RateLimiter;
pub use retry::{Decision, FailureKind, RetryPolicy, requeue_allowed};
pub use window::Window;
