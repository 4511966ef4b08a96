//! Rotation and leases: a replaced token is kept while leases minted under it live.

use super::*;

/// A lease of `ttl` minted under the token the cell holds now.
fn lease_under(leases: &Leases, cell: &TokenCell, id: &str, ttl: u64) {
    let minted = crate::lease::Minted {
        owner: Caller::parse("acme/web").unwrap(),
        token: cell.current().unwrap(),
        namespace: String::new(),
        renew: false,
    };
    let grant = crate::lease::Grant {
        id: crate::lease::LeaseId::new(id),
        ttl: Duration::from_secs(ttl),
        renewable: true,
    };
    assert!(leases.issued(&grant, minted, Instant::now()));
}

fn revoked(fake: &Fake, token: &str) -> bool {
    fake.calls()
        .iter()
        .any(|(_, c)| *c == Call::Revoke(token.into()))
}

#[tokio::test(start_paused = true)]
async fn a_replaced_token_is_kept_while_its_leases_live() {
    // Renewed at 36-40 s and capped to 30 s: re-login at 54-60 s; t1 expires at 66-70 s.
    let script = |s: &mut Script| {
        s.logins = VecDeque::from([Some(Duration::from_secs(60)); 2]);
        s.renewals = VecDeque::from([Duration::from_secs(30)]);
    };
    let (fake, leases) = (Fake::with(script), Arc::new(Leases::new(16)));
    let mut run = start_with(&fake, timing(), true, leases.clone());
    assert!(run.cell.ready().await);
    lease_under(&leases, &run.cell, "db/creds/a/1", 600);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(run.cell.current().unwrap().expose(), "t2");
    assert!(
        !revoked(&fake, "t1"),
        "kept: a lease minted under it is live"
    );
    leases.ended("db/creds/a/1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(revoked(&fake, "t1"), "revoked once its last lease ended");
    run.stop.cancel();
    run.task.await.unwrap();

    // Never ended: kept until it expires, then forgotten with its leases, never revoked.
    let (fake, leases) = (Fake::with(script), Arc::new(Leases::new(16)));
    let run = start_with(&fake, timing(), true, leases.clone());
    tokio::time::sleep(Duration::from_millis(1)).await;
    lease_under(&leases, &run.cell, "db/creds/a/2", 600);
    tokio::time::sleep(Duration::from_secs(72)).await;
    assert!(!revoked(&fake, "t1"));
    assert_eq!(leases.len(), 0, "its leases went with it");
    run.stop.cancel();
    run.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_revokes_kept_tokens_too() {
    let fake = Fake::with(|s| {
        s.logins = VecDeque::from([Some(Duration::from_secs(60)); 2]);
        s.renewals = VecDeque::from([Duration::from_secs(30)]);
    });
    let leases = Arc::new(Leases::new(16));
    let mut run = start_with(&fake, timing(), true, leases.clone());
    assert!(run.cell.ready().await);
    lease_under(&leases, &run.cell, "db/creds/a/1", 600);
    tokio::time::sleep(Duration::from_secs(61)).await;
    run.stop.cancel();
    run.task.await.unwrap();
    assert!(revoked(&fake, "t1") && revoked(&fake, "t2"));
    assert_eq!(leases.len(), 0);
}
