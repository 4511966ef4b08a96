//! The renewer's schedule on tokio's paused clock, against a scripted `TokenApi`: backoff,
//! the fresh-token rule, re-login when renewals are capped, and revocation at shutdown.
//! Vault's own behaviour is tested against OpenBao in the integration tests; what these
//! cover is the timing, which a real server cannot run on a paused clock.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use super::*;
use crate::principal::auth::{AuthError, TokenCall};
use crate::upstream::{Upstream, UpstreamError};

/// One call the renewer made, and when (on the paused clock).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Login,
    Renew(String),
    Lookup(String),
    Revoke(String),
}

#[derive(Debug, Default)]
struct Script {
    /// TTLs of successive logins; `None` entries fail; when empty, logins fail.
    logins: VecDeque<Option<Duration>>,
    /// TTLs successive renewals report; when empty, renewals repeat the last login TTL.
    renewals: VecDeque<Duration>,
    /// Whether a lookup says the token is invalid.
    lookup_rejects: bool,
    made: Vec<(Instant, Call)>,
    issued: usize,
    last_ttl: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn with(f: impl FnOnce(&mut Script)) -> Fake {
        let fake = Fake::default();
        f(&mut fake.0.lock().unwrap());
        fake
    }

    fn calls(&self) -> Vec<(Instant, Call)> {
        self.0.lock().unwrap().made.clone()
    }

    fn record(&self, call: Call) {
        self.0.lock().unwrap().made.push((Instant::now(), call));
    }
}

fn refused() -> UpstreamError {
    UpstreamError::Down {
        node: "http://127.0.0.1:8200".into(),
        cause: "connection refused".into(),
    }
}

impl TokenApi for Fake {
    async fn login(
        &self,
        _: &AuthConfig,
        _: &str,
        _: Option<&Token>,
        _: Option<&Caller>,
    ) -> Result<Login, AuthError> {
        self.record(Call::Login);
        let mut s = self.0.lock().unwrap();
        match s.logins.pop_front().flatten() {
            Some(ttl) => {
                s.issued += 1;
                s.last_ttl = Some(ttl);
                Ok(Login {
                    token: Token::new(format!("t{}", s.issued)),
                    ttl: Some(ttl),
                    renewable: true,
                    from_file: None,
                    renew_via: None,
                })
            }
            None => Err(AuthError::Upstream(refused())),
        }
    }

    async fn call(
        &self,
        _: &str,
        token: &Token,
        call: TokenCall,
    ) -> Result<TokenCheck, UpstreamError> {
        let name = token.expose().to_owned();
        let mut s = self.0.lock().unwrap();
        let (record, answer) = match call {
            TokenCall::Renew => {
                let ttl = s.renewals.pop_front().or(s.last_ttl);
                (
                    Call::Renew(name),
                    TokenCheck::Valid {
                        ttl,
                        accessor: None,
                    },
                )
            }
            TokenCall::Lookup if s.lookup_rejects => (
                Call::Lookup(name),
                TokenCheck::Rejected {
                    status: 403,
                    errors: "permission denied".into(),
                },
            ),
            TokenCall::Lookup => (
                Call::Lookup(name),
                TokenCheck::Valid {
                    ttl: s.last_ttl,
                    accessor: None,
                },
            ),
            TokenCall::Revoke => (
                Call::Revoke(name),
                TokenCheck::Valid {
                    ttl: None,
                    accessor: None,
                },
            ),
        };
        s.made.push((Instant::now(), record));
        Ok(answer)
    }

    async fn renew(
        &self,
        _: Option<&Upstream>,
        namespace: &str,
        token: &Token,
    ) -> Result<TokenCheck, UpstreamError> {
        self.call(namespace, token, TokenCall::Renew).await
    }

    async fn revoke_child(
        &self,
        _: &str,
        _: &Token,
        child: &Token,
    ) -> Result<TokenCheck, UpstreamError> {
        self.record(Call::Revoke(child.expose().to_owned()));
        Ok(TokenCheck::Valid {
            ttl: None,
            accessor: None,
        })
    }
}

fn principal(revoke_on_shutdown: bool) -> PrincipalConfig {
    PrincipalConfig {
        auth: AuthConfig::AppRole {
            mount: "approle".into(),
            role_id_file: PathBuf::from("/nonexistent/role_id"),
            secret_id_file: PathBuf::from("/nonexistent/secret_id"),
            remove_secret_id_file: false,
        },
        namespace: String::new(),
        revoke_on_shutdown,
        renew_leases: false,
    }
}

struct Running {
    cell: TokenCell,
    stop: CancellationToken,
    lockdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(fake: &Fake, timing: Timing, revoke_on_shutdown: bool) -> Running {
    start_with(fake, timing, revoke_on_shutdown, Arc::new(Leases::new(16)))
}

fn start_with(fake: &Fake, timing: Timing, revoke: bool, leases: Arc<Leases>) -> Running {
    let role = Role::Service {
        caller: Caller::parse("acme/web").unwrap(),
        issuer: None,
    };
    let (renewer, cell) = Renewer::new(
        principal(revoke),
        role,
        fake.clone(),
        Auditor::disabled(),
        timing,
        leases,
    );
    let stop = CancellationToken::new();
    let (lockdown, rx) = watch::channel(false);
    let ctl = Lifecycle {
        stop: stop.clone(),
        lockdown: rx,
    };
    let task = tokio::spawn(renewer.run(ctl));
    Running {
        cell,
        stop,
        lockdown,
        task,
    }
}

fn timing() -> Timing {
    Timing {
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(8),
        fresh: Duration::from_secs(2),
        token_file_poll: Duration::from_secs(1),
        retired_check: Duration::from_secs(1),
    }
}

#[tokio::test(start_paused = true)]
async fn failed_logins_back_off_doubling_up_to_the_cap() {
    let fake = Fake::default();
    let run = start(&fake, timing(), true);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let times: Vec<Instant> = fake.calls().iter().map(|(t, _)| *t).collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // 1, 2, 4, 8, 8, ... seconds, each up to 10% shorter (jitter).
    let expected = [1, 2, 4, 8, 8, 8];
    assert!(gaps.len() >= expected.len(), "{gaps:?}");
    for (gap, secs) in gaps.iter().zip(expected) {
        let full = Duration::from_secs(secs);
        assert!(*gap <= full && *gap >= full - full / 10, "{gaps:?}");
    }
    assert!(run.cell.current().is_none());
    assert_eq!(run.cell.status().consecutive_failures as usize, times.len());
    run.stop.cancel();
    run.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_capped_renewal_leads_to_a_fresh_login_and_the_old_token_is_revoked() {
    let ttl = Duration::from_secs(30);
    let fake = Fake::with(|s| {
        s.logins = VecDeque::from([Some(ttl), Some(ttl)]);
        // The first renewal is capped by the token's max TTL: less than the login's TTL.
        s.renewals = VecDeque::from([Duration::from_secs(12)]);
    });
    let mut run = start(&fake, timing(), true);
    assert!(run.cell.ready().await);
    // Renewal at about 20 s (2/3 of 30), then the capped 12 s: re-login at about 8 s later.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let calls: Vec<Call> = fake.calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        calls[..4],
        [
            Call::Login,
            Call::Renew("t1".into()),
            Call::Login,
            Call::Revoke("t1".into())
        ],
        "{calls:?}"
    );
    assert_eq!(
        run.cell.current().map(|t| t.expose().to_owned()).as_deref(),
        Some("t2")
    );
    run.stop.cancel();
    run.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_young_token_is_not_rechecked_but_an_older_one_is() {
    let fake = Fake::with(|s| {
        s.logins = VecDeque::from([
            Some(Duration::from_secs(3600)),
            Some(Duration::from_secs(3600)),
        ]);
        s.lookup_rejects = true;
    });
    let mut run = start(&fake, timing(), true);
    assert!(run.cell.ready().await);
    let first = run.cell.current().unwrap();
    // Within `fresh` a 403 is a policy denial: no lookup, no login.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(run.cell.rejected(&first).await.is_none());
    assert_eq!(fake.calls().len(), 1, "{:?}", fake.calls());
    // Past it, the token is looked up; Vault rejects it, so a fresh login replaces it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = run.cell.rejected(&first).await.expect("a replacement");
    assert_eq!(fresh.expose(), "t2");
    let calls: Vec<Call> = fake.calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(calls, [Call::Login, Call::Lookup("t1".into()), Call::Login]);
    run.stop.cancel();
    run.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_revokes_only_when_configured_and_lockdown_always() {
    for revoke in [true, false] {
        let fake = Fake::with(|s| s.logins = VecDeque::from([Some(Duration::from_secs(600))]));
        let mut run = start(&fake, timing(), revoke);
        assert!(run.cell.ready().await);
        run.stop.cancel();
        run.task.await.unwrap();
        let revoked = fake
            .calls()
            .iter()
            .any(|(_, c)| *c == Call::Revoke("t1".into()));
        assert_eq!(revoked, revoke);
        assert!(run.cell.current().is_none());
    }
    let fake = Fake::with(|s| {
        s.logins = VecDeque::from([
            Some(Duration::from_secs(600)),
            Some(Duration::from_secs(600)),
        ])
    });
    let mut run = start(&fake, timing(), false);
    assert!(run.cell.ready().await);
    run.lockdown.send_replace(true);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(run.cell.current().is_none());
    assert!(fake
        .calls()
        .iter()
        .any(|(_, c)| *c == Call::Revoke("t1".into())));
    run.lockdown.send_replace(false);
    assert!(run.cell.ready().await);
    assert_eq!(run.cell.current().unwrap().expose(), "t2");
    run.stop.cancel();
    run.task.await.unwrap();
}

#[test]
fn refresh_comes_at_about_two_thirds_of_the_ttl() {
    for secs in [3, 60, 3600] {
        let ttl = Duration::from_secs(secs);
        let after = refresh_after(ttl);
        assert!(
            after <= ttl * 2 / 3 && after >= ttl * 2 / 3 - ttl / 15,
            "{secs}: {after:?}"
        );
    }
    assert_eq!(
        refresh_after(Duration::from_millis(10)),
        Duration::from_millis(200)
    );
}

mod leases;
