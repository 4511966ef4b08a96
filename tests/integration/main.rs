//! The one integration test binary: vaultgate in front of a real OpenBao dev server.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test setup that cannot proceed should fail the test loudly"
)]

mod support;

mod admin;
mod audit;
mod audit_load;
mod audit_sinks;
mod cache;
mod clients;
mod conformance;
mod conformance_gen;
mod core_flow;
mod docs;
mod failover;
mod faults;
mod fuzz_regressions;
mod h2_limits;
mod ha;
mod ha_redirects;
mod jwt;
mod leaks;
mod limits;
mod malformed;
mod ops;
mod policy_cli;
mod reload;
mod tokens;
mod upstream_tls;
mod verify;
