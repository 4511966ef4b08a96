//! What a connection established about its peer before any request was read, shared by every
//! request on it: the caller (or why there is none), the limits it was accepted past, and the
//! HTTP/1 framing verdict. Plain data written by the listener and read by the proxy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::budget::{BudgetError, Slot};
use crate::identity::{Caller, IdentityError};

/// Why a connection has no caller; its requests are answered 403 saying so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unidentified {
    #[error("a client certificate signed by this listener's client_ca is required")]
    NoCertificate,
    #[error("this listener requires TLS client certificates")]
    NeedsTls,
    #[error(transparent)]
    Certificate(#[from] IdentityError),
    #[error("caller {0} from the client certificate is not a configured service")]
    NotConfigured(Caller),
}

/// Which connection limit a connection was accepted past.
#[derive(Debug, Clone)]
pub enum ConnLimit {
    /// `max_connections`: answered 503.
    Total,
    /// The caller's own connection budget: answered 429.
    Caller(BudgetError),
}

#[derive(Debug)]
pub struct ConnInfo {
    pub caller: Result<Caller, Unidentified>,
    pub peer: String,
    pub listener: usize,
    /// Accepted past a connection limit: every request is answered so and the connection
    /// closed.
    pub over_limit: Option<ConnLimit>,
    /// The caller's connection slot, given back when the connection ends.
    pub slot: Option<Slot>,
    /// Asks the listener to close this connection gracefully once the current responses are
    /// out (HTTP/2 ignores `Connection: close`, so the listener must send GOAWAY).
    pub closing: tokio::sync::Notify,
    /// Set by the HTTP/1 framing guard when a request head on this connection was ambiguous
    /// on the wire (never set on HTTP/2).
    pub framing: Arc<FramingVerdict>,
    /// Requests seen so far: hyper dispatches HTTP/1 requests strictly in order, so this is
    /// the index the framing guard counted heads with.
    pub requests: AtomicU64,
}

impl ConnInfo {
    pub fn new(
        caller: Result<Caller, Unidentified>,
        peer: String,
        listener: usize,
        over_limit: Option<ConnLimit>,
        slot: Option<Slot>,
    ) -> ConnInfo {
        ConnInfo {
            caller,
            peer,
            listener,
            over_limit,
            slot,
            closing: tokio::sync::Notify::new(),
            framing: Arc::default(),
            requests: AtomicU64::new(0),
        }
    }
}

/// The first ambiguous request head on one connection, shared between the framing guard
/// (which reads the bytes) and the proxy (which answers the requests).
#[derive(Debug)]
pub struct FramingVerdict {
    /// 0-based index of the flagged head; `u64::MAX` while none is.
    index: AtomicU64,
    reason: OnceLock<&'static str>,
}

impl Default for FramingVerdict {
    fn default() -> FramingVerdict {
        FramingVerdict {
            index: AtomicU64::new(u64::MAX),
            reason: OnceLock::new(),
        }
    }
}

impl FramingVerdict {
    /// Why request `index` (0-based, in arrival order on this connection) must be refused,
    /// if it must.
    pub fn violation(&self, index: u64) -> Option<&'static str> {
        if self.index.load(Ordering::Acquire) == index {
            self.reason.get().copied()
        } else {
            None
        }
    }

    /// Flags head `index`; only the first violation counts, as the connection is closed
    /// after answering it.
    pub fn flag(&self, index: u64, reason: &'static str) {
        if self.reason.set(reason).is_ok() {
            self.index.store(index, Ordering::Release);
        }
    }
}
