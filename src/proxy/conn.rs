//! `ConnInfo`: what the listener established about one connection, shared by every request
//! on it.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::Slot;
use crate::identity::Caller;
use crate::listener::FramingVerdict;

/// What a connection established about its peer before any request was read.
#[derive(Debug)]
pub struct ConnInfo {
    /// The caller, or why the connection's identity was refused (answered with 403).
    pub caller: Result<Caller, String>,
    pub peer: String,
    pub listener: usize,
    /// Accepted past a connection limit (total: 503; the caller's own: 429): every request
    /// is answered so and the connection closed.
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
        caller: Result<Caller, String>,
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

/// Which connection limit a connection was accepted past.
#[derive(Debug, Clone)]
pub enum ConnLimit {
    Total,
    Caller { service: String, limit: usize },
}
