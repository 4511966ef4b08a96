//! `Pending`: the budget of connections that have not shown who they are — still in the TLS
//! handshake, or handshaken without the certificate of a configured caller. It is bounded
//! overall and per peer address, apart from the identified callers' budgets; when it is full
//! the oldest such connection is closed to make room, so a flood of anonymous sockets delays
//! a real caller by its own handshake at most and never starves it.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// What a pending connection has shown so far; a full budget closes the least promising,
/// oldest first: an identified caller's handshake is under way (`Speaking`) within a round
/// trip of connecting, while a flood is silent sockets and anonymous ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Handshaken, and without a configured caller's certificate.
    Anonymous,
    /// Connected, not a byte sent yet.
    Silent,
    /// Its TLS handshake is under way.
    Speaking,
}

/// Order of eviction: stage first, then age.
type Key = (Stage, u64);

#[derive(Debug)]
pub struct Pending {
    max_total: usize,
    max_per_peer: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    entries: HashMap<u64, Entry>,
    order: BTreeSet<Key>,
    by_peer: HashMap<Option<IpAddr>, BTreeSet<Key>>,
    evicted: u64,
}

#[derive(Debug)]
struct Entry {
    peer: Option<IpAddr>,
    stage: Stage,
    evict: CancellationToken,
}

/// One pending connection's place; leaving it (drop) frees the place.
#[derive(Debug)]
pub struct Ticket {
    pending: Arc<Pending>,
    id: u64,
    evict: CancellationToken,
}

impl Ticket {
    /// Completes when the budget closed this connection to make room for a newer one.
    pub async fn evicted(&self) {
        self.evict.cancelled().await;
    }

    /// The connection moved on to `stage`.
    pub fn reached(&self, stage: Stage) {
        let mut inner = self.pending.lock();
        let Some(entry) = inner.entries.get_mut(&self.id) else {
            return;
        };
        let (old, peer) = (entry.stage, entry.peer);
        entry.stage = stage;
        inner.order.remove(&(old, self.id));
        inner.order.insert((stage, self.id));
        if let Some(keys) = inner.by_peer.get_mut(&peer) {
            keys.remove(&(old, self.id));
            keys.insert((stage, self.id));
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.lock().remove(self.id);
    }
}

impl Pending {
    pub fn new(max_total: usize, max_per_peer: usize) -> Arc<Pending> {
        Arc::new(Pending {
            max_total: max_total.max(1),
            max_per_peer: max_per_peer.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent at every await-free step, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a connection from `peer`, closing the least promising pending
    /// connection of the same peer, or else of all, when the budget is full.
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Ticket {
        let mut inner = self.lock();
        let peer_victim = inner
            .by_peer
            .get(&peer)
            .filter(|keys| keys.len() >= self.max_per_peer)
            .and_then(|keys| keys.first().copied());
        if let Some((_, id)) = peer_victim {
            inner.evict(id);
        }
        if inner.entries.len() >= self.max_total {
            if let Some(&(_, id)) = inner.order.first() {
                inner.evict(id);
            }
        }
        let id = inner.next;
        inner.next += 1;
        let evict = CancellationToken::new();
        let stage = Stage::Silent;
        inner.entries.insert(
            id,
            Entry {
                peer,
                stage,
                evict: evict.clone(),
            },
        );
        inner.order.insert((stage, id));
        inner.by_peer.entry(peer).or_default().insert((stage, id));
        Ticket {
            pending: self.clone(),
            id,
            evict,
        }
    }

    /// Connections holding a place now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Connections closed to make room so far.
    #[cfg(test)]
    fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

impl Inner {
    fn evict(&mut self, id: u64) {
        if let Some(entry) = self.remove(id) {
            entry.evict.cancel();
            self.evicted += 1;
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.order.remove(&(entry.stage, id));
        if let Some(keys) = self.by_peer.get_mut(&entry.peer) {
            keys.remove(&(entry.stage, id));
            if keys.is_empty() {
                self.by_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn a_full_peer_loses_its_oldest_connection() {
        let pending = Pending::new(10, 2);
        let a1 = pending.admit(ip(1));
        let a2 = pending.admit(ip(1));
        let b1 = pending.admit(ip(2));
        let a3 = pending.admit(ip(1));
        assert!(a1.evict.is_cancelled());
        assert!(!a2.evict.is_cancelled() && !a3.evict.is_cancelled());
        assert!(!b1.evict.is_cancelled());
        assert_eq!(pending.len(), 3);
        assert_eq!(pending.evicted(), 1);
    }

    #[test]
    fn a_full_budget_loses_its_oldest_connection_whoever_holds_it() {
        let pending = Pending::new(2, 10);
        let a = pending.admit(ip(1));
        let b = pending.admit(ip(2));
        let c = pending.admit(ip(3));
        assert!(a.evict.is_cancelled());
        assert!(!b.evict.is_cancelled() && !c.evict.is_cancelled());
        drop(b);
        let d = pending.admit(ip(4));
        assert!(!c.evict.is_cancelled() && !d.evict.is_cancelled());
        assert_eq!(pending.len(), 2);
    }

    #[test]
    fn leaving_frees_the_place_and_the_peer_queue() {
        let pending = Pending::new(4, 4);
        let tickets: Vec<Ticket> = (0..4).map(|_| pending.admit(None)).collect();
        tickets[1].reached(Stage::Speaking);
        drop(tickets);
        assert_eq!(pending.len(), 0);
        let inner = pending.lock();
        assert!(inner.by_peer.is_empty() && inner.order.is_empty());
    }

    #[test]
    fn a_handshake_under_way_outlives_silent_and_anonymous_connections() {
        let pending = Pending::new(3, 10);
        let talker = pending.admit(ip(1));
        talker.reached(Stage::Speaking);
        let silent = pending.admit(ip(2));
        let anonymous = pending.admit(ip(3));
        anonymous.reached(Stage::Anonymous);
        // Full: the anonymous one goes first, then the silent one, though both are newer.
        let a = pending.admit(ip(4));
        assert!(anonymous.evict.is_cancelled() && !silent.evict.is_cancelled());
        let b = pending.admit(ip(5));
        assert!(silent.evict.is_cancelled());
        let c = pending.admit(ip(6));
        assert!(a.evict.is_cancelled() && !b.evict.is_cancelled() && !c.evict.is_cancelled());
        assert!(!talker.evict.is_cancelled());
    }
}
