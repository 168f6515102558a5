//! Private feed links of tenants. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/feeds.rs");
