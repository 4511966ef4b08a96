//! The one integration test binary: vaultgate in front of a real OpenBao dev server.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test setup that cannot proceed should fail the test loudly"
)]

mod support;

mod admin;
mod anonymous;
mod audit;
mod audit_load;
mod audit_sinks;
mod aws_auth;
mod bypasses;
mod cache;
mod cert_auth;
mod cli_shape;
mod clients;
mod compat;
mod config_cli;
mod conformance;
mod conformance_engines;
mod conformance_gen;
mod conformance_ns;
mod core_flow;
mod disconnects;
mod docs;
mod failover;
mod faults;
mod fuzz_regressions;
mod h2_limits;
mod ha;
mod ha_redirects;
mod jwt;
mod leaks;
mod leases;
mod limits;
mod malformed;
mod ops;
mod policy_cli;
mod projected;
mod protocols;
mod readme;
mod reload;
mod syslog;
mod token_file_logs;
mod tokens;
mod upstream_tls;
mod verify;
