//! Channels that carry news to tenants. Email is here now (Lockbox notifications use
//! it); webhooks, Atom feeds, push and the backup status site arrive with the channels
//! issue.

pub mod email;
pub mod site;
pub mod webhook;
