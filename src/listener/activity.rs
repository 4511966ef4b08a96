//! When a connection last had a request in flight, for its idle timeout: a count of
//! requests in flight and the time the last one ended, both atomics, so that each request
//! costs two atomic operations and no lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a connection last had a request in flight, for the idle timeout.
pub(super) struct Activity {
    start: Instant,
    busy: AtomicUsize,
    /// Milliseconds from `start` to the end of the last request.
    last: AtomicU64,
}

/// One request in flight; the request counts until this drops (also when the client goes
/// away mid-request and the handler is cancelled).
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        let now = u64::try_from(a.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.last.store(now, Ordering::Relaxed);
        a.busy.fetch_sub(1, Ordering::Release);
    }
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            start: Instant::now(),
            busy: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }
    }

    pub(super) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Acquire);
        Busy(self.clone())
    }

    /// Completes once no request has been in flight for `timeout`. A response body still
    /// streaming is safe: graceful shutdown lets in-flight responses finish.
    pub(super) async fn idle(&self, timeout: Duration) {
        loop {
            let wait = if self.busy.load(Ordering::Acquire) > 0 {
                timeout
            } else {
                let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
                let idle = self.start.elapsed().saturating_sub(last);
                match timeout.checked_sub(idle) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}
