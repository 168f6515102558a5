//! Candor's product rules. Everything here is pure: functions take the current time and
//! return decisions; nothing reads a clock, a database or the network. The storage traits
//! the rest of the system depends on are defined here too, so that both store crates are
//! written against the domain's words rather than the other way round.

pub mod audit;
pub mod clock;
pub mod elevation;
pub mod email;
pub mod health;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod language;
pub mod lockbox;
pub mod page;
pub mod store;
pub mod time_util;

pub use ids::*;
