//! The audit log: appends with their chain heads, search, checkpoints. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/audit.rs");
