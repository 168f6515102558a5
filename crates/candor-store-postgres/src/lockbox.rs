//! Customer Lockbox settings, requests and their decisions. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/lockbox.rs");
