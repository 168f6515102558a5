//! Channels that carry news to tenants: email, signed webhooks, Web Push, and the
//! backup status site.

pub mod email;
pub mod push;
pub mod site;
pub mod smtp;
pub mod webhook;
