//! The one integration test binary: vaultgate in front of a real OpenBao dev server.

mod support;

mod core_flow;
mod leaks;
mod malformed;
mod reload;
