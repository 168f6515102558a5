//! The `candor` binary's library half: configuration, opening the store, the job runner,
//! the demo world and the command line. Integration tests drive the same functions.

pub mod cli;
pub mod config;
pub mod deliveries;
pub mod demo;
pub mod demo_workload;
pub mod jobs;

pub mod server;

pub use config::{open_store, StoreChoice};
