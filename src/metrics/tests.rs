//! Metrics: label values stay bounded and the text parses.

use super::*;

/// The value of `name{labels}` in a scrape parsed by an independent text-format parser.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let found = scrape
        .samples
        .into_iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))?;
    match found.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(v),
        _ => None,
    }
}

#[test]
fn requests_are_counted_with_bounded_labels() {
    let billing = Caller::parse("acme/billing").unwrap();
    let stranger = Caller::parse("evil/made-up").unwrap();
    let m = Metrics::new(std::slice::from_ref(&billing));
    let ms = Duration::from_millis(1);
    m.request(Some(&billing), Some(true), 200, 3 * ms, Some(2 * ms));
    m.request(Some(&billing), Some(true), 200, 3 * ms, Some(2 * ms));
    m.request(Some(&billing), Some(false), 403, ms, None);
    m.request(Some(&stranger), None, 403, ms, None);
    m.request(None, None, 400, ms, None);
    let text = m.encode().unwrap();
    assert!(!text.contains("evil"), "{text}");
    let count = |tenant: &str, decision: &str, status: &str| {
        let labels = [
            ("tenant", tenant),
            ("decision", decision),
            ("status", status),
        ];
        value(&text, "vaultgate_requests_total", &labels)
    };
    assert_eq!(count("acme", "allow", "200"), Some(2.0));
    assert_eq!(count("acme", "deny", "403"), Some(1.0));
    assert_eq!(count("-", "none", "403"), Some(1.0));
    assert_eq!(count("-", "none", "400"), Some(1.0));
    let upstream = value(&text, "vaultgate_upstream_duration_seconds_count", &[]);
    assert_eq!(upstream, Some(2.0));
    let decision = value(&text, "vaultgate_decision_duration_seconds_count", &[]);
    assert_eq!(decision, Some(5.0));
}

#[test]
fn the_cache_hook_reports_what_the_cache_says() {
    let mut m = Metrics::new(&[]);
    m.register_cache(|| CacheStats {
        hits: 7,
        misses: 3,
        stale: 1,
        evictions: 2,
        bytes: 4096,
        entries: 5,
        coalesced: 0,
        invalidations: 0,
        max_bytes: 1 << 20,
    });
    let text = m.encode().unwrap();
    for (name, v) in [
        ("vaultgate_cache_hits_total", 7.0),
        ("vaultgate_cache_misses_total", 3.0),
        ("vaultgate_cache_stale_total", 1.0),
        ("vaultgate_cache_evictions_total", 2.0),
        ("vaultgate_cache_bytes", 4096.0),
        ("vaultgate_cache_entries", 5.0),
    ] {
        assert_eq!(value(&text, name, &[]), Some(v), "{name}");
    }
}
