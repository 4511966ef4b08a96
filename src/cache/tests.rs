//! Unit tests of keys, invalidation and the byte budget on a paused clock.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use tokio::time::Instant;

use super::*;
use crate::config::CacheConfig;
use crate::vault::operation::ClassifyLimits;
use crate::vault::placement::Placement;
use crate::vault::semantics::ServerSemantics;

fn op(method: &str, uri: &str) -> Operation {
    let (parts, ()) = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts();
    let body = if method == "POST" || method == "PATCH" {
        Bytes::from_static(b"{\"data\":{\"a\":\"b\"}}")
    } else {
        Bytes::new()
    };
    let mut parts = parts;
    if !body.is_empty() {
        parts.headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
    }
    Operation::classify(&parts, body, &ClassifyLimits::default()).unwrap()
}

/// Where the server lands `op`, on a server whose root has the `secret` and `kv` mounts.
fn at(op: &Operation) -> Placement {
    let mut known = ServerSemantics::default();
    known
        .space_mut("")
        .add_document(&serde_json::json!({"paths": {
            "/secret/data/{path}": {}, "/kv/^.*$": {}
        }}));
    Placement::resolve(&op.full_path, &known, "")
}

fn caller(name: &str) -> Caller {
    Caller::parse(name).unwrap()
}

fn fill(cache: &ReadCache, who: &Caller, uri: &str, bytes: usize) -> Plan {
    let read = op("GET", uri);
    let plan = cache.plan(who, &read, &at(&read)).unwrap();
    let stamps = cache.stamps(&read, &at(&read));
    let entry = cache.entry(
        &plan,
        stamps,
        Instant::now(),
        None,
        (
            StatusCode::OK,
            HeaderMap::new(),
            Bytes::from(vec![b'x'; bytes]),
        ),
    );
    cache.insert(&plan, entry);
    plan
}

fn fresh(cache: &ReadCache, plan: &Plan) -> bool {
    matches!(cache.lookup(&plan.key), Lookup::Fresh(_))
}

#[tokio::test]
async fn writes_invalidate_every_kv2_view_of_the_key_and_parent_lists() {
    let cache = ReadCache::new(CacheConfig::default());
    let who = caller("acme/billing");
    let other = caller("acme/web");
    let data = fill(&cache, &who, "/v1/secret/data/acme/db?version=2", 10);
    let theirs = fill(&cache, &other, "/v1/secret/data/acme/db", 10);
    let meta = fill(&cache, &who, "/v1/secret/metadata/acme/db", 10);
    let list = fill(&cache, &who, "/v1/secret/metadata/acme?list=true", 10);
    let root_list = fill(&cache, &who, "/v1/secret/metadata/?list=true", 10);
    let unrelated = fill(&cache, &who, "/v1/secret/data/acme/api", 10);
    assert!([&data, &theirs, &meta, &list, &root_list, &unrelated]
        .iter()
        .all(|p| fresh(&cache, p)));

    let w = op("POST", "/v1/secret/data/acme/db");
    cache.invalidate(&w, &at(&w));
    for p in [&data, &theirs, &meta, &list, &root_list] {
        assert!(!fresh(&cache, p), "{:?} survived the write", p.key);
    }
    assert!(fresh(&cache, &unrelated));

    for write in [
        ("DELETE", "/v1/secret/metadata/acme/api"),
        ("POST", "/v1/secret/destroy/acme/api"),
        ("DELETE", "/v1/secret/data/acme/api"),
        ("POST", "/v1/secret/undelete/acme/api"),
    ] {
        let p = fill(&cache, &who, "/v1/secret/data/acme/api", 10);
        let w = op(write.0, write.1);
        cache.invalidate(&w, &at(&w));
        assert!(!fresh(&cache, &p), "{write:?} did not invalidate");
    }
}

#[tokio::test]
async fn what_is_never_planned() {
    let cache = ReadCache::new(CacheConfig::default());
    let who = caller("acme/billing");
    for uri in [
        "/v1/sys/health",
        "/v1/auth/token/lookup-self",
        "/v1/cubbyhole/x",
    ] {
        assert!(
            cache
                .plan(&who, &op("GET", uri), &at(&op("GET", uri)))
                .is_none(),
            "{uri}"
        );
    }
    assert!(cache
        .plan(
            &who,
            &op("POST", "/v1/secret/data/x"),
            &at(&op("POST", "/v1/secret/data/x"))
        )
        .is_none());
    let off = ReadCache::new(CacheConfig {
        enabled: false,
        ..CacheConfig::default()
    });
    assert!(off
        .plan(
            &who,
            &op("GET", "/v1/secret/data/x"),
            &at(&op("GET", "/v1/secret/data/x"))
        )
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn entries_expire_then_go_stale_then_away() {
    let cache = ReadCache::new(CacheConfig {
        ttl: Duration::from_secs(5),
        stale_if_error: Duration::from_secs(10),
        ..CacheConfig::default()
    });
    let plan = fill(&cache, &caller("acme/billing"), "/v1/secret/data/a", 10);
    assert!(fresh(&cache, &plan));
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(matches!(cache.lookup(&plan.key), Lookup::Stale(_)));
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(matches!(cache.lookup(&plan.key), Lookup::Miss));
}

#[tokio::test]
async fn the_byte_budget_evicts() {
    let cache = ReadCache::new(CacheConfig {
        max_bytes: 1024 * 1024,
        ..CacheConfig::default()
    });
    let who = caller("acme/billing");
    for i in 0..1000 {
        fill(&cache, &who, &format!("/v1/secret/data/k{i}"), 10 * 1024);
    }
    let stats = cache.stats();
    assert!(stats.bytes <= 1024 * 1024, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}

#[tokio::test]
async fn clear_by_scope() {
    let cache = ReadCache::new(CacheConfig::default());
    let (a, b) = (caller("acme/billing"), caller("globex/api"));
    fill(&cache, &a, "/v1/secret/data/acme/x", 10);
    fill(&cache, &b, "/v1/secret/data/globex/x", 10);
    fill(&cache, &b, "/v1/kv/globex/y", 10);
    assert_eq!(cache.clear(&ClearScope::Prefix("kv/".into())), 1);
    assert_eq!(cache.clear(&ClearScope::Service(a)), 1);
    assert_eq!(cache.clear(&ClearScope::All), 1);
}

#[tokio::test]
async fn concurrent_misses_share_one_leader() {
    let cache = ReadCache::new(CacheConfig::default());
    let read = op("GET", "/v1/secret/data/a");
    let plan = cache
        .plan(&caller("acme/billing"), &read, &at(&read))
        .unwrap();
    let Flight::Leader(guard) = cache.join(&plan.key) else {
        panic!("first join must lead")
    };
    let Flight::Follower(slot) = cache.join(&plan.key) else {
        panic!("second join must follow")
    };
    let waiter = tokio::spawn(follow(slot, Duration::from_secs(5)));
    guard.publish(Shared::Failed {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "no token yet".into(),
        side: crate::fault::Side::Internal,
    });
    assert!(matches!(
        waiter.await.unwrap(),
        Some(Shared::Failed {
            side: crate::fault::Side::Internal,
            ..
        })
    ));
    // Released: the next miss leads again; a leader that goes away releases too.
    let Flight::Leader(again) = cache.join(&plan.key) else {
        panic!("released key must lead")
    };
    let Flight::Follower(slot) = cache.join(&plan.key) else {
        panic!("must follow")
    };
    drop(again);
    assert!(follow(slot, Duration::from_secs(5)).await.is_none());
}
