//! The sans-IO core of quirkgate.
//!
//! Nothing in this crate performs I/O or reads a clock: inputs are messages
//! and the current time, outputs are messages to send and timers to arm.
//! `clippy.toml` beside this file forbids the clock calls, and the crate has
//! no async runtime among its dependencies.

pub mod auth;
pub mod dialplan;
pub mod fuzzing;
pub mod gateway;
pub mod ids;
pub mod msg;
pub mod quirks;
pub mod stateless;
pub mod time;
pub mod timer;
pub mod transport;
pub mod txn;
