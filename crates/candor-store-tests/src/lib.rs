//! The contract every Candor store must honour, written once and run against SQLite and
//! PostgreSQL (see `tests/contract.rs`). The harness is shared with the application's
//! integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod contract;
pub mod harness;
