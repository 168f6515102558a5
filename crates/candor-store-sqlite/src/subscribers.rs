//! People who asked for news by email themselves. The statements are written once for
//! both databases and compiled here against this crate's `dialect`.

include!("../../candor-store-common/shared/subscribers.rs");
