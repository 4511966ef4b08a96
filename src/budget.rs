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

/// A caller past one of its budgets: answered 429 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("service {service} has {limit} connections open; reuse one of them")]
    Connections { service: String, limit: usize },
    #[error("service {service} has {limit} requests in flight; retry shortly")]
    InFlight { service: String, limit: usize },
    #[error("service {service} is over its request rate; retry in {retry_after} s")]
    Rate { service: String, retry_after: u64 },
}

impl BudgetError {
    /// Whole seconds for `Retry-After`.
    pub fn retry_after(&self) -> u64 {
        match self {
            BudgetError::Connections { .. } | BudgetError::InFlight { .. } => 1,
            BudgetError::Rate { retry_after, .. } => (*retry_after).max(1),
        }
    }
}

/// How long a request over its caller's rate may wait for the next token before it is
/// refused. Short bursts are smoothed (as nginx's `limit_req` with a burst queue does), and
/// a caller sending at full speed is slowed to its rate instead of costing CPU on a stream of
/// refusals that would slow every other caller.
const RATE_QUEUE: Duration = Duration::from_secs(1);

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
    rate: Option<Rate>,
}

/// A caller's token bucket and the queue of its requests waiting for a token.
#[derive(Debug)]
struct Rate {
    bucket: Bucket,
    /// Only the head of the queue watches the bucket; tokio's mutex is fair, so the others
    /// wait in arrival order and each new token wakes one request, not every waiting one
    /// (64 waiters polling one bucket cost more CPU than the requests they wait to send).
    queue: tokio::sync::Mutex<()>,
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
                    rate: quota.map(|q| Rate {
                        bucket: RateLimiter::direct(q),
                        queue: tokio::sync::Mutex::new(()),
                    }),
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

    /// Whether `caller` is a configured service (only those have budgets).
    pub fn knows(&self, caller: &Caller) -> bool {
        self.by_caller.contains_key(caller)
    }

    /// A connection slot for `caller`, or the limit its connection is past (its requests
    /// then get 429).
    pub fn connection(&self, caller: &Caller) -> Result<Option<Slot>, BudgetError> {
        let Some(budget) = self.by_caller.get(caller) else {
            return Ok(None);
        };
        match budget.connections.clone().try_acquire_owned() {
            Ok(p) => Ok(Some(Slot(p))),
            Err(_) => Err(BudgetError::Connections {
                service: caller.to_string(),
                limit: self.max_connections,
            }),
        }
    }

    /// Admits one request: a slot in the in-flight budget (which also bounds how many of a
    /// caller's requests can wait here), then a token from the rate bucket, waiting for it
    /// when the next one is at most `RATE_QUEUE` away. The slot is held until the answer's
    /// head is ready.
    pub async fn request(&self, caller: &Caller) -> Result<Option<Slot>, BudgetError> {
        let Some(budget) = self.by_caller.get(caller) else {
            return Ok(None);
        };
        let slot =
            budget
                .in_flight
                .clone()
                .try_acquire_owned()
                .map_err(|_| BudgetError::InFlight {
                    service: caller.to_string(),
                    limit: self.max_requests,
                })?;
        if let Some(rate) = &budget.rate {
            // Through the queue even when a token is free: a request that skipped it could
            // take the token the head of the queue is about to wake for.
            self.wait_for_token(caller, rate).await?;
        }
        Ok(Some(Slot(slot)))
    }

    /// Waits in the caller's queue for a token, at most `RATE_QUEUE` in all; refused with
    /// the time to the next token when it is further off than that.
    async fn wait_for_token(&self, caller: &Caller, rate: &Rate) -> Result<(), BudgetError> {
        let deadline = tokio::time::Instant::now() + RATE_QUEUE;
        let refused = |wait: Duration| BudgetError::Rate {
            service: caller.to_string(),
            retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        };
        let Ok(_turn) = tokio::time::timeout_at(deadline, rate.queue.lock()).await else {
            return Err(refused(RATE_QUEUE));
        };
        // Bounded: every pass returns, or sleeps, before the deadline.
        while let Err(not_until) = rate.bucket.check() {
            let wait = not_until.wait_time_from(self.clock.now());
            if tokio::time::Instant::now() + wait > deadline {
                return Err(refused(wait));
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
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
            Err(BudgetError::Connections { limit: 2, .. })
        ));
        assert!(budgets.connection(&b).unwrap().is_some());
        drop(first);
        assert!(budgets.connection(&a).unwrap().is_some());
        assert!(budgets.connection(&caller("other/svc")).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_rate_refuses_past_the_burst_with_a_whole_second_retry_after() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 0.01,
            burst: NonZeroU32::new(2).unwrap(),
        };
        let budgets = Budgets::new([&a].into_iter(), &limits(Some(rate)));
        drop(budgets.request(&a).await.unwrap());
        drop(budgets.request(&a).await.unwrap());
        match budgets.request(&a).await {
            Err(BudgetError::Rate { retry_after, .. }) => {
                assert!((90..=100).contains(&retry_after), "{retry_after}")
            }
            other => panic!("expected a rate refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_rate_refusal_gives_its_in_flight_slot_back() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 0.01,
            burst: NonZeroU32::MIN,
        };
        let budgets = Budgets::new([&a].into_iter(), &limits(Some(rate)));
        drop(budgets.request(&a).await.unwrap());
        for _ in 0..2 {
            // Never CallerBusy: the refused request did not keep the one slot.
            let refused = budgets.request(&a).await;
            assert!(
                matches!(refused, Err(BudgetError::Rate { .. })),
                "{refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_request_just_over_the_rate_waits_for_its_token() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 20.0,
            burst: NonZeroU32::MIN,
        };
        let budgets = Budgets::new([&a].into_iter(), &limits(Some(rate)));
        drop(budgets.request(&a).await.unwrap());
        let started = std::time::Instant::now();
        drop(budgets.request(&a).await.unwrap());
        // The next token was 50 ms away; only the lower bound is certain on a busy machine.
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn waiting_requests_get_their_tokens_in_arrival_order() {
        let a = caller("acme/web");
        let rate = RateLimit {
            per_second: 100.0,
            burst: NonZeroU32::MIN,
        };
        let roomy = Limits {
            max_requests_per_caller: 16,
            rate_per_caller: Some(rate),
            ..Limits::default()
        };
        let budgets = Arc::new(Budgets::new([&a].into_iter(), &roomy));
        drop(budgets.request(&a).await.unwrap());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..8 {
            let (budgets, a, order) = (budgets.clone(), a.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let slot = budgets.request(&a).await;
                order.lock().unwrap().push(i);
                slot.map(drop)
            }));
            // Each task reaches the queue before the next one is spawned.
            tokio::task::yield_now().await;
        }
        for w in waiting {
            assert!(w.await.unwrap().is_ok());
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }
}
