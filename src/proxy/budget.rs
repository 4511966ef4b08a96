//! Per-caller budgets (connections, requests in flight, request rate), made once per
//! configured service at startup so one noisy service cannot starve the others; no map keyed
//! by request data and no global lock on the request path.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::identity::Caller;

use super::{ConnLimit, ProxyError};

type Bucket = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

#[derive(Debug)]
struct CallerBudget {
    connections: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    rate: Option<Bucket>,
}

/// Every configured caller's budgets. Unconfigured callers have none: they are refused by
/// identity or policy before they could use anything.
#[derive(Debug)]
pub struct Budgets {
    by_caller: HashMap<Caller, CallerBudget>,
    max_connections: usize,
    max_requests: usize,
    clock: DefaultClock,
}

/// Held for as long as a connection or request counts against its caller's budget.
#[derive(Debug)]
pub struct Slot(#[expect(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit);

impl Budgets {
    pub fn new<'a>(callers: impl Iterator<Item = &'a Caller>, limits: &Limits) -> Budgets {
        let quota = limits.rate_per_caller.map(|rate| {
            // A token every 1/rate seconds, `burst` of them banked at most.
            let period = Duration::from_secs_f64(1.0 / rate.per_second);
            let quota =
                Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
            quota.allow_burst(rate.burst)
        });
        let by_caller = callers
            .map(|c| {
                let budget = CallerBudget {
                    connections: Arc::new(Semaphore::new(limits.max_connections_per_caller)),
                    in_flight: Arc::new(Semaphore::new(limits.max_requests_per_caller)),
                    rate: quota.map(RateLimiter::direct),
                };
                (c.clone(), budget)
            })
            .collect();
        Budgets {
            by_caller,
            max_connections: limits.max_connections_per_caller,
            max_requests: limits.max_requests_per_caller,
            clock: DefaultClock::default(),
        }
    }

    /// A connection slot for `caller`, or the limit its connection is past (its requests
    /// then get 429).
    pub fn connection(&self, caller: &Caller) -> Result<Option<Slot>, ConnLimit> {
        let Some(budget) = self.by_caller.get(caller) else {
            return Ok(None);
        };
        match budget.connections.clone().try_acquire_owned() {
            Ok(p) => Ok(Some(Slot(p))),
            Err(_) => Err(ConnLimit::Caller {
                service: caller.to_string(),
                limit: self.max_connections,
            }),
        }
    }

    /// Admits one request: the rate first (a refused request must not hold an in-flight
    /// slot), then a slot in the in-flight budget, held until the answer's head is ready.
    pub fn request(&self, caller: &Caller) -> Result<Option<Slot>, ProxyError> {
        let Some(budget) = self.by_caller.get(caller) else {
            return Ok(None);
        };
        if let Some(bucket) = &budget.rate {
            if let Err(not_until) = bucket.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                return Err(ProxyError::CallerRate {
                    service: caller.to_string(),
                    retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                });
            }
        }
        match budget.in_flight.clone().try_acquire_owned() {
            Ok(p) => Ok(Some(Slot(p))),
            Err(_) => Err(ProxyError::CallerBusy {
                service: caller.to_string(),
                limit: self.max_requests,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimit;

    fn limits(rate: Option<RateLimit>) -> Limits {
        Limits {
            max_connections_per_caller: 2,
            max_requests_per_caller: 1,
            rate_per_caller: rate,
            ..Limits::default()
        }
    }

    fn caller(s: &str) -> Caller {
        let (tenant, service) = s.split_once('/').unwrap();
        Caller::new(tenant, service).unwrap()
    }

    #[test]
    fn connections_are_counted_per_caller_and_given_back() {
        let (a, b) = (caller("acme/web"), caller("acme/batch"));
        let budgets = Budgets::new([&a, &b].into_iter(), &limits(None));
        let first = budgets.connection(&a).unwrap();
        let _second = budgets.connection(&a).unwrap();
        assert!(matches!(
            budgets.connection(&a),
            Err(ConnLimit::Caller { limit: 2, .. })
        ));
        assert!(budgets.connection(&b).unwrap().is_some());
        drop(first);
        assert!(budgets.connection(&a).unwrap().is_some());
        assert!(budgets.connection(&caller("other/svc")).unwrap().is_none());
    }

    #[test]
    fn the_rate_refuses_past_the_burst_with_a_whole_second_retry_after() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 0.01,
            burst: NonZeroU32::new(2).unwrap(),
        };
        let budgets = Budgets::new([&a].into_iter(), &limits(Some(rate)));
        drop(budgets.request(&a).unwrap());
        drop(budgets.request(&a).unwrap());
        match budgets.request(&a) {
            Err(ProxyError::CallerRate { retry_after, .. }) => {
                assert!((90..=100).contains(&retry_after), "{retry_after}")
            }
            other => panic!("expected a rate refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_rate_refusal_does_not_hold_an_in_flight_slot() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 0.01,
            burst: NonZeroU32::MIN,
        };
        let budgets = Budgets::new([&a].into_iter(), &limits(Some(rate)));
        let held = budgets.request(&a).unwrap();
        assert!(matches!(
            budgets.request(&a),
            Err(ProxyError::CallerRate { .. })
        ));
        drop(held);
        assert!(matches!(
            budgets.request(&a),
            Err(ProxyError::CallerRate { .. })
        ));
    }
}
