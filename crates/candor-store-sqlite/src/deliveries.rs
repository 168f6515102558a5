//! The delivery queue: deliveries, their news, webhook endpoints and push subscriptions. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/deliveries.rs");
