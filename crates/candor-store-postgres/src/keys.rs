//! Signing keys (public parts, and secrets until they leave the database). The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/keys.rs");
