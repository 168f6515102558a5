//! Message Center messages, their reach, attachments and viewpoints. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/messages.rs");
