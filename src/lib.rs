//! vaultgate: a local, policy-enforcing TLS proxy in front of HashiCorp Vault and OpenBao.
//!
//! Request flow (one linear pipeline, see `proxy`):
//! `listener` accepts and terminates TLS and finds the `identity::Caller`; `proxy` classifies
//! the request into a `vault::operation::Operation`, asks the current `policy::PolicySet` for
//! a `Decision`, takes the service's token from its `principal::renewer` cell and forwards the
//! rebuilt request through `upstream`. `config` validates the file, `app` wires and stops it;
//! `duration` reads durations the way Vault does, for the config, policies and headers.

pub mod admin;
pub mod app;
pub mod audit;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod config;
pub mod connection;
pub mod digest;
pub mod discovery;
pub mod duration;
pub mod fault;
pub mod identity;
pub mod lease;
pub mod listener;
pub mod metrics;
pub mod pem;
pub mod policy;
pub mod principal;
pub mod proxy;
pub mod reload;
pub mod shared;
pub mod socket;
pub mod startup;
pub mod upstream;
pub mod vault;
