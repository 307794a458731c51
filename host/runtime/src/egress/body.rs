//! A response body that counts its bytes against the invocation's response-byte cap and ends
//! with an error once the request's time is up, so a slow or endless body cannot outlast its
//! budget.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// Bytes already read over every response of one invocation, and the cap.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicU64,
    cap: u64,
}

impl ByteBudget {
    pub(crate) fn new(cap: u64) -> Self {
        ByteBudget {
            used: AtomicU64::new(0),
            cap,
        }
    }

    /// Bytes still allowed.
    pub(crate) fn remaining(&self) -> u64 {
        self.cap.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    pub(crate) fn cap(&self) -> u64 {
        self.cap
    }

    /// Takes `n` bytes from the budget; `false` once the total passes the cap.
    fn take(&self, n: u64) -> bool {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        before.saturating_add(n) <= self.cap
    }
}

/// See the module docs.
pub(crate) struct CappedBody {
    inner: Incoming,
    budget: Arc<ByteBudget>,
    deadline: Pin<Box<Sleep>>,
    /// Called once when the cap is passed (counts the denial).
    on_cap: Option<Box<dyn FnOnce() + Send>>,
}

impl CappedBody {
    pub(crate) fn new(
        inner: Incoming,
        budget: Arc<ByteBudget>,
        deadline: Instant,
        on_cap: Box<dyn FnOnce() + Send>,
    ) -> Self {
        CappedBody {
            inner,
            budget,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            on_cap: Some(on_cap),
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |data| data.len() as u64);
                if this.budget.take(n) {
                    Poll::Ready(Some(Ok(frame)))
                } else {
                    if let Some(count) = this.on_cap.take() {
                        count();
                    }
                    Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                        this.budget.cap,
                    )))))
                }
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(Error::from(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::HttpResponseTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
