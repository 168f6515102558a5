//! Service health issues, their posts, reach and post-incident reviews. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/issues.rs");
