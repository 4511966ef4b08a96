//! The `[limits]` section: connection, request and size bounds with their safe defaults,
//! validated into `Limits`.

use std::num::NonZeroU32;
use std::time::Duration;

use super::raw::RawLimits;
use super::{Validator, Written};
use crate::vault::operation::ClassifyLimits;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections one caller may hold open; past it, its requests get 429 and the
    /// connection is closed, so one service cannot take every connection slot.
    pub max_connections_per_caller: usize,
    /// Connections still handshaking or without a configured caller's certificate, in all
    /// and from one peer address; past either, the least promising of them is closed.
    pub max_unidentified_connections: usize,
    pub max_unidentified_per_peer: usize,
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub max_concurrent_streams: u32,
    /// Requests one caller may have in flight at once; past it, 429 (one noisy service
    /// cannot take every upstream connection and task from the others).
    pub max_requests_per_caller: usize,
    /// A token bucket per caller; none (the default) is no rate limit.
    pub rate_per_caller: Option<RateLimit>,
    pub classify: ClassifyLimits,
}

/// Requests per second one caller may sustain, and how many it may send at once after a
/// quiet spell.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_caller: 256,
            max_unidentified_connections: 1024,
            max_unidentified_per_peer: 1024,
            // A TLS handshake on a sidecar's loopback takes milliseconds; a socket that has
            // not finished one in 5 s holds a place in the unidentified budget for nothing.
            handshake_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            // Longer than Go's client-side idle timeout (90 s), so a Vault client closes an
            // idle connection before the proxy does and never reuses one being closed.
            idle_timeout: Duration::from_secs(120),
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            max_concurrent_streams: 128,
            max_requests_per_caller: 256,
            rate_per_caller: None,
            classify: ClassifyLimits::default(),
        }
    }
}

/// Below this a rate would refill less than once a day: certainly a unit mistake.
const MIN_RATE: f64 = 1.0 / 86_400.0;

impl Validator<'_> {
    pub(super) fn limits(&self, l: RawLimits) -> Option<Limits> {
        let positive = |key: &str, v: Option<Written<usize>>, default: usize| {
            let key = format!("limits.{key}");
            match self.value(&key, v) {
                Some(0) => {
                    self.problem(key, "must be greater than 0");
                    default
                }
                Some(n) => n,
                None => default,
            }
        };
        let d = Limits::default();
        let rate = self.value("limits.rate_per_caller", l.rate_per_caller);
        let burst = self.value("limits.rate_burst_per_caller", l.rate_burst_per_caller);
        let rate_per_caller = match (rate, burst) {
            (None, None) => None,
            (None, Some(_)) => {
                self.problem(
                    "limits.rate_burst_per_caller",
                    "needs limits.rate_per_caller (requests per second)",
                );
                None
            }
            (Some(r), burst) => {
                if !r.is_finite() || r < MIN_RATE {
                    self.problem(
                        "limits.rate_per_caller",
                        format!("{r} is not a request rate per second greater than 0"),
                    );
                }
                // A whole second's worth by default, so a steady client at the rate never
                // sees a 429 from jitter alone.
                let burst = match burst {
                    Some(b) => NonZeroU32::new(b).unwrap_or_else(|| {
                        self.problem("limits.rate_burst_per_caller", "must be greater than 0");
                        NonZeroU32::MIN
                    }),
                    None => NonZeroU32::new(r.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)
                        .unwrap_or(NonZeroU32::MIN),
                };
                Some(RateLimit {
                    per_second: r,
                    burst,
                })
            }
        };
        Some(Limits {
            max_connections: positive("max_connections", l.max_connections, d.max_connections),
            max_connections_per_caller: positive(
                "max_connections_per_caller",
                l.max_connections_per_caller,
                d.max_connections_per_caller,
            ),
            max_unidentified_connections: positive(
                "max_unidentified_connections",
                l.max_unidentified_connections,
                d.max_unidentified_connections,
            ),
            max_unidentified_per_peer: positive(
                "max_unidentified_per_peer",
                l.max_unidentified_per_peer,
                d.max_unidentified_per_peer,
            ),
            handshake_timeout: self.duration(
                "limits.handshake_timeout",
                l.handshake_timeout,
                d.handshake_timeout,
            ),
            header_read_timeout: self.duration(
                "limits.header_read_timeout",
                l.header_read_timeout,
                d.header_read_timeout,
            ),
            idle_timeout: self.duration("limits.idle_timeout", l.idle_timeout, d.idle_timeout),
            max_header_bytes: positive("max_header_bytes", l.max_header_bytes, d.max_header_bytes)
                .max(8192),
            max_body_bytes: positive("max_body_bytes", l.max_body_bytes, d.max_body_bytes),
            max_concurrent_streams: self
                .value("limits.max_concurrent_streams", l.max_concurrent_streams)
                .unwrap_or(d.max_concurrent_streams)
                .max(1),
            max_requests_per_caller: positive(
                "max_requests_per_caller",
                l.max_requests_per_caller,
                d.max_requests_per_caller,
            ),
            rate_per_caller,
            classify: ClassifyLimits {
                max_path_bytes: positive(
                    "max_path_bytes",
                    l.max_path_bytes,
                    d.classify.max_path_bytes,
                ),
                max_segments: positive("max_segments", l.max_segments, d.classify.max_segments),
                max_json_depth: positive(
                    "max_json_depth",
                    l.max_json_depth,
                    d.classify.max_json_depth,
                ),
            },
        })
    }
}
