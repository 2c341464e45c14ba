//! quirkgate: a SIP B2BUA/SBC whose provider leg bends to each provider's
//! quirks. This crate is the shell (runtime, sockets, admin, command line)
//! around the sans-IO core in `quirkgate-core`.

pub mod capture;
pub mod catalogue;
pub mod config;
pub mod diagnose;
pub mod dns;
pub mod lint;
pub mod replay;
pub mod shell;
pub mod store;

pub use quirkgate_core as core;
