//! Coalescing: concurrent misses for one key make one upstream request. The first becomes
//! the leader; the others wait for what it publishes, failure included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use tokio::sync::watch;

use super::entry::CachedResponse;
use super::key::CacheKey;
use crate::fault::Side;

/// What a leader hands to the requests that waited for it.
#[derive(Debug, Clone)]
pub enum Shared {
    Response(Arc<CachedResponse>),
    /// Vault could not be asked; every waiter gets the same error instead of retrying,
    /// with the same side (an internal failure of the leader stays internal).
    Failed {
        status: StatusCode,
        message: String,
        side: Side,
    },
    /// The answer was for the leader only (a lease, a token): waiters ask Vault themselves.
    Private,
}

type Slot = watch::Receiver<Option<Shared>>;

#[derive(Debug, Default)]
pub(super) struct Flights {
    inflight: Arc<Mutex<HashMap<CacheKey, Slot>>>,
}

#[derive(Debug)]
pub enum Flight {
    Leader(FlightGuard),
    Follower(Slot),
}

/// Held by the leader; publishing or dropping it (the caller hung up) releases the key.
#[derive(Debug)]
pub struct FlightGuard {
    key: CacheKey,
    tx: watch::Sender<Option<Shared>>,
    inflight: Arc<Mutex<HashMap<CacheKey, Slot>>>,
}

impl Flights {
    pub(super) fn join(&self, key: &CacheKey) -> Flight {
        // Held for a map operation only, never across an await.
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Flight::Leader(FlightGuard {
            key: key.clone(),
            tx,
            inflight: self.inflight.clone(),
        })
    }
}

impl FlightGuard {
    pub fn publish(self, shared: Shared) {
        self.tx.send_replace(Some(shared));
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if map
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            map.remove(&self.key);
        }
    }
}

/// Waits for the leader's answer; `None` when it went away without one or took too long,
/// and the waiter should ask Vault itself.
pub async fn follow(mut slot: Slot, patience: std::time::Duration) -> Option<Shared> {
    let waited = tokio::time::timeout(patience, slot.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(shared)) => shared.clone(),
        _ => None,
    }
}
