//! `Leases`: every lease vaultgate relayed, by id: the service it was issued to, the token it
//! was minted under (Vault revokes a token's leases with it, so rotation asks how many are
//! still live), where it lives and when it ends. In memory only; entries leave at expiry,
//! revocation, or when their token goes. Times are tokio's, for the paused clock in tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::renewal::RenewalStats;
use super::{Grant, LeaseId};
use crate::duration::refresh_after;
use crate::identity::Caller;
use crate::vault::token::Token;

/// Whom a lease was issued to and how it was minted.
#[derive(Debug, Clone)]
pub struct Minted {
    pub owner: Caller,
    /// The service token the minting request was sent with.
    pub token: Arc<Token>,
    /// The namespace the minting request landed in (where the lease is renewed).
    pub namespace: String,
    /// The service asked vaultgate to renew its leases (`renew_leases`).
    pub renew: bool,
}

#[derive(Debug)]
struct Entry {
    minted: Minted,
    /// The TTL first granted: what each renewal asks for again.
    requested: Duration,
    renewable: bool,
    expires: Instant,
    /// When vaultgate renews it next; `None` once it no longer does (off, capped, refused).
    renew_at: Option<Instant>,
}

/// A lease vaultgate renews now, with what it takes to renew it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: LeaseId,
    pub owner: Caller,
    pub token: Arc<Token>,
    pub namespace: String,
    pub increment: Duration,
}

/// What follows a renewal vaultgate made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewed {
    /// Renewed in full; renewed again at about two thirds of `ttl`.
    Again,
    /// Vault granted less than asked: the lease's max TTL is near and it ends at its expiry.
    Capped,
}

#[derive(Debug)]
pub struct Leases {
    book: Mutex<HashMap<LeaseId, Entry>>,
    capacity: usize,
    /// How vaultgate's own renewals went (`renewal`), for `/metrics`.
    pub renewals: RenewalStats,
}

impl Leases {
    pub fn new(capacity: usize) -> Leases {
        Leases {
            book: Mutex::new(HashMap::new()),
            capacity,
            renewals: RenewalStats::default(),
        }
    }

    fn book(&self) -> MutexGuard<'_, HashMap<LeaseId, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written.
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a lease an answer granted; `false` when the registry is full of live leases
    /// and this one is not tracked.
    pub fn issued(&self, grant: &Grant, minted: Minted, now: Instant) -> bool {
        let mut book = self.book();
        if book.len() >= self.capacity && !book.contains_key(grant.id.expose()) {
            book.retain(|_, e| e.expires > now);
            if book.len() >= self.capacity {
                return false;
            }
        }
        let renew_at = (minted.renew && grant.renewable && !grant.ttl.is_zero())
            .then(|| now + refresh_after(grant.ttl));
        let entry = Entry {
            minted,
            requested: grant.ttl,
            renewable: grant.renewable,
            expires: now + grant.ttl,
            renew_at,
        };
        book.insert(grant.id.clone(), entry);
        true
    }

    /// The service a live lease was issued to.
    pub fn owner(&self, id: &str, now: Instant) -> Option<Caller> {
        let book = self.book();
        book.get(id)
            .filter(|e| e.expires > now)
            .map(|e| e.minted.owner.clone())
    }

    /// A renewal granted `ttl` from `now`. `asked` is what vaultgate's own renewal asked
    /// for: Vault granting less means the lease's max TTL is near, and vaultgate stops
    /// renewing it. (A caller's renewal may ask for less on purpose; it caps nothing.)
    pub fn renewed(
        &self,
        id: &str,
        ttl: Duration,
        asked: Option<Duration>,
        now: Instant,
    ) -> Option<Renewed> {
        let mut book = self.book();
        let entry = book.get_mut(id)?;
        entry.expires = now + ttl;
        let capped = asked.is_some_and(|asked| ttl < asked);
        entry.renew_at = match entry.renew_at {
            Some(_) if !capped && !ttl.is_zero() => Some(now + refresh_after(ttl)),
            _ => None,
        };
        Some(if capped {
            Renewed::Capped
        } else {
            Renewed::Again
        })
    }

    /// vaultgate no longer renews the lease (Vault refused to).
    pub fn stop_renewing(&self, id: &str) {
        if let Some(entry) = self.book().get_mut(id) {
            entry.renew_at = None;
        }
    }

    /// The lease was revoked: it is forgotten.
    pub fn ended(&self, id: &str) {
        self.book().remove(id);
    }

    /// How many live leases were minted under `token`.
    pub fn live_under(&self, token: &Token, now: Instant) -> usize {
        self.book()
            .values()
            .filter(|e| e.expires > now && *e.minted.token == *token)
            .count()
    }

    /// The token was revoked, and Vault revoked its leases with it: they are forgotten.
    /// Returns how many live ones went.
    pub fn token_revoked(&self, token: &Token, now: Instant) -> usize {
        let mut gone = 0;
        self.book().retain(|_, e| {
            let under = *e.minted.token == *token;
            if under && e.expires > now {
                gone += 1;
            }
            !under
        });
        gone
    }

    /// Leases due for vaultgate's renewal at `now`, soonest first; expired ones leave.
    pub fn due(&self, now: Instant) -> Vec<Due> {
        let mut book = self.book();
        book.retain(|_, e| e.expires > now);
        let mut due: Vec<(Instant, Due)> = book
            .iter()
            .filter_map(|(id, e)| {
                let at = e.renew_at.filter(|at| *at <= now && e.renewable)?;
                Some((
                    at,
                    Due {
                        id: id.clone(),
                        owner: e.minted.owner.clone(),
                        token: e.minted.token.clone(),
                        namespace: e.minted.namespace.clone(),
                        increment: e.requested,
                    },
                ))
            })
            .collect();
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, d)| d).collect()
    }

    /// How many leases are tracked (expired ones may be counted until the next sweep).
    pub fn len(&self) -> usize {
        self.book().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, ttl: u64, renewable: bool) -> Grant {
        Grant {
            id: LeaseId::new(id),
            ttl: Duration::from_secs(ttl),
            renewable,
        }
    }

    fn minted(owner: &str, token: &Arc<Token>, renew: bool) -> Minted {
        Minted {
            owner: Caller::parse(owner).unwrap(),
            token: token.clone(),
            namespace: String::new(),
            renew,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_belongs_to_its_service_until_it_ends() {
        let leases = Leases::new(10);
        let t = Arc::new(Token::new("s.one"));
        let now = Instant::now();
        assert!(leases.issued(
            &grant("db/creds/a/1", 60, true),
            minted("acme/billing", &t, false),
            now
        ));
        let owner = leases.owner("db/creds/a/1", now).unwrap();
        assert_eq!(owner.to_string(), "acme/billing");
        assert_eq!(leases.owner("db/creds/a/2", now), None);
        assert_eq!(leases.live_under(&t, now), 1);
        let later = now + Duration::from_secs(61);
        assert_eq!(leases.owner("db/creds/a/1", later), None, "expired");
        assert_eq!(leases.live_under(&t, later), 0);
        leases.issued(
            &grant("db/creds/a/3", 60, true),
            minted("acme/billing", &t, false),
            now,
        );
        leases.ended("db/creds/a/3");
        assert_eq!(leases.owner("db/creds/a/3", now), None, "revoked");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_registry_tracks_nothing_more_until_entries_expire() {
        let leases = Leases::new(2);
        let t = Arc::new(Token::new("s.one"));
        let now = Instant::now();
        for (i, ttl) in [(1, 10), (2, 100)] {
            assert!(leases.issued(
                &grant(&format!("l/{i}"), ttl, false),
                minted("a/b", &t, false),
                now
            ));
        }
        assert!(!leases.issued(&grant("l/3", 10, false), minted("a/b", &t, false), now));
        assert_eq!(leases.owner("l/3", now), None);
        let later = now + Duration::from_secs(11);
        assert!(leases.issued(&grant("l/3", 10, false), minted("a/b", &t, false), later));
        assert_eq!(leases.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn renewal_is_due_at_two_thirds_and_stops_when_capped() {
        let leases = Leases::new(10);
        let t = Arc::new(Token::new("s.one"));
        let now = Instant::now();
        leases.issued(&grant("l/auto", 30, true), minted("a/b", &t, true), now);
        leases.issued(&grant("l/off", 30, true), minted("a/b", &t, false), now);
        leases.issued(&grant("l/fixed", 30, false), minted("a/b", &t, true), now);
        assert!(leases.due(now + Duration::from_secs(10)).is_empty());
        let at = now + Duration::from_secs(20);
        let due = leases.due(at);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id.expose(), "l/auto");
        assert_eq!(due[0].increment, Duration::from_secs(30));
        assert_eq!(
            leases.renewed(
                "l/auto",
                Duration::from_secs(30),
                Some(Duration::from_secs(30)),
                at
            ),
            Some(Renewed::Again)
        );
        assert!(leases.due(at).is_empty());
        let at = at + Duration::from_secs(20);
        assert_eq!(leases.due(at).len(), 1);
        assert_eq!(
            leases.renewed(
                "l/auto",
                Duration::from_secs(7),
                Some(Duration::from_secs(30)),
                at
            ),
            Some(Renewed::Capped)
        );
        assert!(leases.due(at + Duration::from_secs(6)).is_empty());
        assert_eq!(leases.owner("l/auto", at + Duration::from_secs(8)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_revoked_token_takes_its_leases() {
        let leases = Leases::new(10);
        let old = Arc::new(Token::new("s.old"));
        let new = Arc::new(Token::new("s.new"));
        let now = Instant::now();
        leases.issued(&grant("l/1", 60, true), minted("a/b", &old, false), now);
        leases.issued(&grant("l/2", 60, true), minted("a/b", &old, false), now);
        leases.issued(&grant("l/3", 60, true), minted("a/b", &new, false), now);
        assert_eq!(leases.live_under(&old, now), 2);
        assert_eq!(leases.token_revoked(&old, now), 2);
        assert_eq!(leases.live_under(&old, now), 0);
        assert_eq!(leases.len(), 1);
    }
}
