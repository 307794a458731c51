//! [`Interrupt`]: a handle that stops one running invocation from outside (a cancel by id). The
//! epoch callback checks it on every tick, so a spinning guest traps within one tick; a guest
//! blocked in a host call is stopped by the same select that enforces its deadline. Either way
//! the store is dropped normally, so the instance goes back to the pool reset.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Stops an invocation once [`interrupt`](Interrupt::interrupt) is called. Cheap to clone; every
/// clone is the same handle.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    raised: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the invocation to stop. Idempotent.
    pub fn interrupt(&self) {
        self.inner.raised.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// True once [`interrupt`](Interrupt::interrupt) was called.
    pub fn is_raised(&self) -> bool {
        self.inner.raised.load(Ordering::Acquire)
    }

    /// Resolves once the handle is raised (at once if it already is).
    pub async fn raised(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a raise in between still wakes this waiter.
            notified.as_mut().enable();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raise_wakes_a_waiter_and_later_waits_return_at_once() {
        let handle = Interrupt::new();
        assert!(!handle.is_raised());
        let waiter = tokio::spawn({
            let handle = handle.clone();
            async move { handle.raised().await }
        });
        handle.interrupt();
        waiter.await.ok();
        assert!(handle.is_raised());
        handle.raised().await;
    }
}
