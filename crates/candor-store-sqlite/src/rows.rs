//! Reading rows back into domain types. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/rows.rs");
