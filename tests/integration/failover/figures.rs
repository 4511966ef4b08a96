//! The failover test's figures: when each step happened and what callers got, printed as
//! one `failover:` line (and a line per error answer) for docs/benchmarks.md.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::load::{Kind, Outcome};

/// When each step of the test happened.
pub struct Timeline {
    pub killed: Instant,
    /// Raft elected the new leader (its log).
    pub leader: Instant,
    /// The new leader began serving as the active node (its log).
    pub serving: Instant,
    /// The test's polling first saw a survivor answer `sys/health` 200.
    pub elected: Instant,
    /// Every worker had 30 successes after the election.
    pub recovered: Instant,
    pub rejoin_started: Instant,
    /// The old node answered as a standby again.
    pub rejoined: Instant,
    pub sealed: Instant,
}

/// The figures docs/benchmarks.md records, printed for `--nocapture`.
pub fn report(
    outcomes: &[Outcome],
    errors: &HashMap<(&str, Kind, u16), usize>,
    (lost, applied): (usize, usize),
    t: &Timeline,
) {
    let ms = |d: Duration| d.as_millis();
    // Service resumed: the first success, per kind, of a request sent after the kill.
    let resumed = |kind: Kind| {
        outcomes
            .iter()
            .filter(|o| o.kind == kind && o.started >= t.killed && (200..300).contains(&o.status))
            .map(|o| o.started + o.took)
            .min()
            .map(|end| ms(end.saturating_duration_since(t.serving)))
    };
    let between = |from: Instant, to: Option<Instant>| {
        outcomes
            .iter()
            .filter(move |o| o.started >= from && to.is_none_or(|to| o.started < to))
    };
    let slowest = |from: Instant, to: Option<Instant>| {
        between(from, to)
            .map(|o| ms(o.took))
            .max()
            .unwrap_or_default()
    };
    // Around the rejoin: the requests answered before the seal began.
    let rejoin: Vec<&Outcome> = between(t.rejoin_started, None)
        .filter(|o| o.started + o.took < t.sealed)
        .collect();
    for o in outcomes.iter().filter(|o| o.status >= 500) {
        println!(
            "failover error: {:?} {} {}",
            o.kind, o.status, o.body["errors"][0]
        );
    }
    let total_errors: usize = errors.values().sum();
    println!(
        "failover: {} requests, {total_errors} errors {errors:?} ({lost} writes answered 5xx, \
         {applied} of them applied); kill: {} requests until the rejoin, new leader elected after {} ms \
         and active after {} ms (its log; seen by polling after {} ms), first success through \
         vaultgate after it was active: uncached read {:?} ms, write {:?} ms, slowest answer {} ms, \
         30 successes per worker after {} ms; rejoin (restart + unseal + standby) {} ms, \
         then {} requests, slowest {} ms; seal of the active node: {} requests, slowest {} ms",
        outcomes.len(),
        between(t.killed, Some(t.rejoin_started)).count(),
        ms(t.leader - t.killed),
        ms(t.serving - t.killed),
        ms(t.elected - t.killed),
        resumed(Kind::Uncached),
        resumed(Kind::Write),
        slowest(t.killed, Some(t.rejoin_started)),
        ms(t.recovered - t.killed),
        ms(t.rejoined - t.rejoin_started),
        rejoin.len(),
        rejoin.iter().map(|o| ms(o.took)).max().unwrap_or_default(),
        between(t.sealed, None).count(),
        slowest(t.sealed, None),
    );
}
