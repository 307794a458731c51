//! Bounded capture of guest output: stdout, stderr and `log` lines.
//!
//! A guest can write without end; the host keeps the first `cap` bytes, drops the rest and
//! marks the capture truncated. The guest never sees an error, so output cannot change its
//! behaviour. [`GuestLog`] applies the same bound to the `log` import *before* a line reaches
//! the host's logger, and escapes it (see [`crate::text`]).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::bindings::wasmboost::task::log::Level;
use crate::outcome::Captured;
use crate::text::escape_capped;

/// How much a guest may write per `write` call; any positive value works since writes never block.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    truncated: bool,
}

/// A bounded in-memory sink shared between the WASI context and the host.
#[derive(Debug, Clone)]
pub(crate) struct BoundedPipe {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl BoundedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        BoundedPipe {
            cap,
            buffer: Arc::default(),
        }
    }

    /// Appends what fits under the bound; marks the capture truncated if anything was dropped.
    pub(crate) fn append(&self, data: &[u8]) {
        let mut buffer = self.lock();
        let room = self.cap.saturating_sub(buffer.bytes.len());
        let take = room.min(data.len());
        buffer.bytes.extend_from_slice(&data[..take]);
        if take < data.len() {
            buffer.truncated = true;
        }
    }

    /// Bytes that can still be appended before the bound.
    pub(crate) fn remaining(&self) -> usize {
        self.cap.saturating_sub(self.lock().bytes.len())
    }

    /// Marks the capture truncated without appending (the caller dropped the bytes itself).
    pub(crate) fn mark_truncated(&self) {
        self.lock().truncated = true;
    }

    /// The captured text (lossy UTF-8) and whether output was dropped.
    pub(crate) fn take(&self) -> Captured {
        let mut buffer = self.lock();
        let bytes = std::mem::take(&mut buffer.bytes);
        Captured {
            text: String::from_utf8(bytes)
                .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
            truncated: buffer.truncated,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A poisoned lock only means another writer panicked mid-append; the bytes are still valid.
        self.buffer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl IsTerminal for BoundedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for BoundedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for BoundedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for BoundedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The `log` import's side of one invocation: every message capped at `line_cap` bytes, all of
/// them together at the capture's bound, escaped, and only then logged (as structured fields,
/// under the `wasmboost::guest` target) and captured (`LEVEL text` lines).
#[derive(Debug)]
pub(crate) struct GuestLog {
    pipe: BoundedPipe,
    line_cap: usize,
    queue: String,
    task_id: String,
    /// The budget ran out and the one "dropping further lines" notice was logged.
    exhausted: bool,
}

impl GuestLog {
    pub(crate) fn new(pipe: BoundedPipe, line_cap: usize, queue: String, task_id: String) -> Self {
        GuestLog {
            pipe,
            line_cap,
            queue,
            task_id,
            exhausted: false,
        }
    }

    /// Record one `log` call. `head` is at most the first `line_cap` bytes of the guest's
    /// message (read from its memory without copying the rest), `len` the message's full length.
    pub(crate) fn write(&mut self, level: Level, head: &str, len: usize) {
        if self.exhausted {
            return;
        }
        let name = level_name(level);
        // The captured line is `NAME ` + text + `\n`; the marker needs room too.
        let overhead = name.len() + 2 + MARKER_ROOM;
        let room = self.pipe.remaining().saturating_sub(overhead);
        if room == 0 {
            self.exhaust();
            return;
        }
        let budget = room.min(self.line_cap);
        let text = escape_capped(head, len, budget);
        self.emit(level, name, &text);
        self.pipe.append(format!("{name} {text}\n").as_bytes());
        if room < self.line_cap && room < len {
            // The total budget, not the line cap, cut this line: nothing more fits.
            self.exhaust();
        }
    }

    fn emit(&self, level: Level, name: &str, text: &str) {
        let (queue, task_id) = (self.queue.as_str(), self.task_id.as_str());
        macro_rules! guest {
            ($macro:ident) => {
                tracing::$macro!(target: GUEST_TARGET, queue, task_id, level = name, text, "guest log")
            };
        }
        match level {
            Level::Trace => guest!(trace),
            Level::Debug => guest!(debug),
            Level::Info => guest!(info),
            Level::Warn => guest!(warn),
            Level::Error => guest!(error),
        }
    }

    fn exhaust(&mut self) {
        self.exhausted = true;
        self.pipe.mark_truncated();
        tracing::warn!(
            target: GUEST_TARGET,
            queue = self.queue.as_str(),
            task_id = self.task_id.as_str(),
            "guest log budget of this task is used up; further lines are dropped"
        );
    }
}

/// The tracing target of every line a guest logs, so an operator can filter them
/// (`RUST_LOG=wasmboost::guest=warn`).
pub const GUEST_TARGET: &str = "wasmboost::guest";
/// Room kept for the `…[truncated N bytes]` marker (`…[truncated ` and ` bytes]` plus at most 20 digits).
const MARKER_ROOM: usize = 48;

/// Upper-case name of a guest log level, as captured.
pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(pipe_cap: usize, line_cap: usize) -> (GuestLog, BoundedPipe) {
        let pipe = BoundedPipe::new(pipe_cap);
        let log = GuestLog::new(pipe.clone(), line_cap, "q".into(), "t".into());
        (log, pipe)
    }

    #[test]
    fn a_long_message_is_cut_at_the_line_cap_and_marked() {
        let (mut log, pipe) = log(1 << 20, 8);
        let message = "0123456789abcdef";
        log.write(Level::Info, &message[..8], message.len());
        assert_eq!(pipe.take().text, "INFO 01234567…[truncated 8 bytes]\n");
    }

    #[test]
    fn a_forged_line_is_escaped_in_the_capture() {
        let (mut log, pipe) = log(1 << 20, 1024);
        let message = "a\nERROR forged\x1b[2J";
        log.write(Level::Warn, message, message.len());
        assert_eq!(pipe.take().text, "WARN a\\nERROR forged\\u{1b}[2J\n");
    }

    #[test]
    fn the_total_budget_stops_further_lines() {
        let (mut log, pipe) = log(200, 100);
        for _ in 0..10 {
            log.write(Level::Info, &"x".repeat(100), 1000);
        }
        let captured = pipe.take();
        assert!(captured.truncated);
        assert!(captured.text.len() <= 200, "{}", captured.text.len());
        assert!(log.exhausted);
    }

    #[test]
    fn keeps_the_first_bytes_and_marks_truncation() {
        let pipe = BoundedPipe::new(4);
        pipe.append(b"ab");
        pipe.append(b"cdef");
        let captured = pipe.take();
        assert_eq!(captured.text, "abcd");
        assert!(captured.truncated);
    }

    #[test]
    fn under_the_bound_is_not_truncated() {
        let pipe = BoundedPipe::new(8);
        pipe.append(b"hello");
        assert_eq!(
            pipe.take(),
            Captured {
                text: "hello".into(),
                truncated: false
            }
        );
    }
}
