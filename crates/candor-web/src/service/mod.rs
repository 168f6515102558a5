//! Application services: the steps of each use case (authorize, validate, change, audit),
//! shared by the HTTP handlers and the CLI so both follow the same rules.

pub mod audit;
pub mod contacts;
pub mod deliveries;
pub mod elevation;
pub mod feeds;
pub mod grants;
pub mod health;
pub mod identity;
pub mod lockbox;
pub mod lockbox_mail;
pub mod messages;
pub mod notify;
pub mod public;
pub mod push;
pub mod topology;
pub mod topology_file;
pub mod views;
pub mod webhooks;

use std::sync::Arc;

use candor_domain::clock::Clock;
use candor_domain::store::Store;

use crate::auth::keys::Keys;

/// What every use case needs: the store, the clock and Candor's keys.
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    /// What tenants read most, kept in memory (see `views`).
    pub views: views::HealthViews,
    /// Approved Lockbox grants and signed grant tokens (see `grants`).
    pub grants: grants::GrantCache,
    /// Whether Lockbox steps queue their emails. Off only while the demo replays
    /// history on a clock in the past: nobody should be mailed about that.
    pub send_notifications: bool,
    /// Whether webhook endpoints may be private or loopback addresses (tests and labs
    /// only: otherwise a tenant could make Candor call the provider's own network).
    pub allow_private_webhooks: std::sync::atomic::AtomicBool,
    /// Attempts at a delivery before it is given up (dead-lettered).
    pub delivery_attempts: i32,
}

impl Core {
    pub async fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Core> {
        let keys = Keys::load_or_create(store.as_ref(), clock.now()).await?;
        // Only the embedded store has a single writer, which the grant cache relies on.
        let grants = grants::GrantCache::new(store.backend() == "sqlite");
        Ok(Core {
            grants,
            send_notifications: true,
            allow_private_webhooks: std::sync::atomic::AtomicBool::new(false),
            delivery_attempts: candor_domain::health::DEFAULT_DELIVERY_ATTEMPTS,
            store,
            clock,
            keys: Arc::new(keys),
            views: views::HealthViews::default(),
        })
    }
}
