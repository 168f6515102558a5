//! Planned maintenance, each with the Message Center message that carries it. The
//! statements are written once for both databases and compiled here against this
//! crate's `dialect`.

include!("../../candor-store-common/shared/maintenances.rs");
