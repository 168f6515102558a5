//! Channels that carry news to tenants: email, webhooks, Atom feeds, push and the backup
//! status site. The notification pipeline arrives with the channels issue; this crate
//! exists now so the workspace already has its final shape.
