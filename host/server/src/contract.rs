//! The types the API speaks: those of the host contract, re-exported from `wasmboost_worker` so
//! the server, the CLI and the host share one definition of each.

pub use wasmboost_worker::{
    Bucket, CancelReply, DeadLetter, History, HostInfo, PublishOptions, QueueStats, ScheduleConfig,
    ScheduleInfo, TaskRecord, TaskState, Version, WorkflowInfo,
};
