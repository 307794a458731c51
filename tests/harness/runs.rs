//! Counting every run of every task from outside, for tests that bound duplicates after a crash
//! (the hosts' counters may lose what was counted just before a kill; this does not).
//!
//! A host writes a task's record when a run starts (`running`, with its `started_ms`) and keeps
//! that `started_ms` until the next run of the task starts. [`RunWatch`] re-reads every task's
//! record in sweeps and collects the distinct `started_ms` it saw: each is one run. A run lasting
//! longer than a sweep is seen whatever happens after it, so a test whose tasks run for longer
//! than [`Runs::slowest_sweep`] (it asserts so with [`Runs::assert_complete`]) counts every run
//! that lasted its full length, and every run that completed.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Reads the `started_ms` of some tasks (`None` where there is no record or it cannot be read).
pub type ReadStarts = dyn Fn(&[String]) -> Vec<Option<u64>> + Send + Sync;

/// What the watch saw.
#[derive(Debug, Default)]
pub struct Runs {
    /// Task id → the distinct `started_ms` seen, one per run.
    pub starts: HashMap<String, BTreeSet<u64>>,
    /// The longest sweep over all tasks.
    pub slowest_sweep: Duration,
    pub sweeps: usize,
}

impl Runs {
    /// Runs seen of `id`.
    pub fn of(&self, id: &str) -> usize {
        self.starts.get(id).map_or(0, BTreeSet::len)
    }

    /// Runs seen beyond the first, over all tasks.
    pub fn extra(&self) -> usize {
        self.starts
            .values()
            .map(|s| s.len().saturating_sub(1))
            .sum()
    }

    /// Fails unless every sweep was shorter than `run`: only then is every run of at least that
    /// length certain to have been seen.
    pub fn assert_complete(&self, run: Duration) {
        assert!(
            self.sweeps > 0 && self.slowest_sweep < run,
            "the record sweeps ({} of them, slowest {:?}) were not quicker than a run ({run:?}): \
             runs may have gone unseen",
            self.sweeps,
            self.slowest_sweep
        );
    }
}

/// A thread sweeping the records of a set of tasks until [`finish`](Self::finish).
#[derive(Debug)]
pub struct RunWatch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Runs>,
}

impl RunWatch {
    /// Start sweeping `ids` with `read`, `chunk` ids per call, `threads` calls at once.
    pub fn start(ids: Vec<String>, chunk: usize, threads: usize, read: Arc<ReadStarts>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut runs = Runs::default();
            let chunks: Vec<&[String]> = ids.chunks(chunk.max(1)).collect();
            loop {
                // Read the flag first: the sweep that sees it set still runs, in full.
                let last = stopping.load(Ordering::Acquire);
                let started = Instant::now();
                let seen = sweep(&chunks, threads.max(1), &*read);
                for (id, at) in seen {
                    runs.starts.entry(id).or_default().insert(at);
                }
                runs.slowest_sweep = runs.slowest_sweep.max(started.elapsed());
                runs.sweeps += 1;
                if last {
                    return runs;
                }
            }
        });
        RunWatch { stop, handle }
    }

    /// Stop after one more full sweep (so the final records are in) and return what was seen.
    pub fn finish(self) -> Runs {
        self.stop.store(true, Ordering::Release);
        self.handle.join().expect("the watch thread does not panic")
    }
}

/// One pass over every chunk, `threads` at a time; the (id, started_ms) pairs read.
fn sweep(chunks: &[&[String]], threads: usize, read: &ReadStarts) -> Vec<(String, u64)> {
    let next = Mutex::new(0usize);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let Some(ids) = chunks.get(i) else { break };
                    let starts = read(ids);
                    let found = ids
                        .iter()
                        .zip(starts)
                        .filter_map(|(id, s)| s.map(|s| (id.clone(), s)));
                    out.lock().unwrap_or_else(|e| e.into_inner()).extend(found);
                }
            });
        }
    });
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// A [`ReadStarts`] over a host's HTTP API (`GET /v1/tasks/<id>`), at whatever address `addr`
/// holds now (a restarted host may listen elsewhere); a host that is down reads as `None`.
pub fn http_starts(addr: Arc<Mutex<String>>) -> Arc<ReadStarts> {
    Arc::new(move |ids: &[String]| {
        let addr = addr.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ids.iter()
            .map(|id| {
                let (status, body) =
                    crate::host::try_http(&addr, "GET", &format!("/v1/tasks/{id}"), b"").ok()?;
                (status == 200).then_some(())?;
                started_ms(&serde_json::from_str(&body).ok()?)
            })
            .collect()
    })
}

/// The `started_ms` of a record.
pub fn started_ms(record: &Value) -> Option<u64> {
    record["started_ms"].as_u64()
}
