//! Operator clients and the operator API's idempotency keys. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/operator_api.rs");
