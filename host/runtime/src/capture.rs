//! Bounded capture of guest output: stdout, stderr and `log` lines.
//!
//! A guest can write without end; the host keeps the first `cap` bytes, drops the rest and
//! marks the capture truncated. The guest never sees an error, so output cannot change its
//! behaviour.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::outcome::Captured;

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

    /// True once output has been dropped; later writes are dropped too.
    pub(crate) fn is_truncated(&self) -> bool {
        self.lock().truncated
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

#[cfg(test)]
mod tests {
    use super::*;

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
