//! Candor's application layer: the steps of each use case (authorize, validate, change,
//! audit), shared by the HTTP handlers, the CLI, the job runner and the delivery worker,
//! so all follow the same rules. It knows the domain and the store traits, not HTTP.

pub mod alerts;
pub mod audit;
pub mod audit_retention;
pub mod audit_witnesses;
pub mod chase;
pub mod contacts;
pub mod deliveries;
pub mod destinations;
pub mod elevation;
pub mod error;
pub mod feeds;
pub mod grants;
pub mod health;
pub mod i18n;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod lockbox;
pub mod lockbox_mail;
pub mod maintenance;
pub mod messages;
pub mod notify;
pub mod password;
pub mod placements;
pub mod public;
pub mod push;
pub mod review_document;
pub mod secrets;
pub mod status_page;
pub mod statuspage;
pub mod subscribers;
pub mod topology;
pub mod topology_file;
pub mod views;
pub mod webhooks;
pub mod words;

use std::sync::Arc;

use candor_domain::clock::Clock;
use candor_domain::store::Store;

use crate::keys::Keys;

/// What every use case needs: the store, the clock and Candor's keys.
/// The log origin when none is configured.
pub const DEFAULT_LOG_ORIGIN: &str = "candor.local";

pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    /// What tenants read most, kept in memory (see `views`).
    pub views: views::HealthViews,
    /// Approved Lockbox grants and signed grant tokens (see `grants`).
    pub grants: grants::GrantCache,
    /// The placement index for impact previews (`placements`).
    pub placements: placements::PlacementCache,
    /// Whether Lockbox steps queue their emails. Off only while the demo replays
    /// history on a clock in the past: nobody should be mailed about that.
    pub send_notifications: bool,
    /// Whether webhook endpoints may be private or loopback addresses (tests and labs
    /// only: otherwise a tenant could make Candor call the provider's own network).
    pub allow_private_webhooks: std::sync::atomic::AtomicBool,
    /// Attempts at a delivery before it is given up (dead-lettered).
    pub delivery_attempts: i32,
    /// Where deliveries go and each destination's circuit breaker, on this instance.
    pub destinations: Arc<destinations::Destinations>,
    /// Who owns and is chased about incidents (duty, reminders, the operator webhook).
    pub chase: chase::Chase,
    /// The name of this installation in the origin line of every audit log's checkpoints
    /// (`<log_origin>/audit/<tenant>`): set once, the same on every instance.
    pub log_origin: String,
    /// How often the public subscribe form may be used from one network address, and
    /// how many confirmation emails one address may receive (per hour).
    pub subscribe_limits: candor_domain::health::subscriber::RequestLimits,
    /// A fan-out reaching more tenants than this is split into parts of this many,
    /// claimed by every instance side by side.
    pub fanout_part_tenants: usize,
}

impl Core {
    /// The audit record of a change `actor` makes now to the settings of `tenant`.
    pub(crate) fn tenant_record(
        &self,
        actor: &candor_domain::identity::Actor,
        tenant: candor_domain::TenantId,
        activity: &'static str,
        ip: Option<String>,
    ) -> candor_domain::audit::NewAuditRecord {
        candor_domain::audit::NewAuditRecord::by(
            actor,
            candor_domain::audit::AuditChain::Tenant(tenant),
            self.clock.now(),
            activity,
        )
        .ip(ip)
    }

    /// A health change was published: views dropped here and elsewhere, and the backup
    /// status site rebuilt.
    pub async fn health_published(&self) {
        self.health_changed().await;
        public::changed(self).await;
    }

    /// The tenant `id`, which must exist.
    pub(crate) async fn tenant(
        &self,
        id: candor_domain::TenantId,
    ) -> error::AppResult<candor_domain::identity::Tenant> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or_else(|| error::AppError::NotFound("no such tenant".into()))
    }

    /// Health news changed: drop this instance's views, and tell the others.
    pub async fn health_changed(&self) {
        self.views.invalidate();
        if let Err(e) = self
            .store
            .announce(candor_domain::store::Announcement::Health)
            .await
        {
            // The change itself is stored; other instances see it when their views
            // expire (`views::ANNOUNCED_VIEW_TTL`).
            tracing::warn!(error = %e, "could not announce a health change to other instances");
        }
    }

    /// A Lockbox change has committed: drop this instance's grants, and tell the others.
    pub async fn lockbox_changed(&self) {
        self.grants.changed();
        if let Err(e) = self
            .store
            .announce(candor_domain::store::Announcement::Lockbox)
            .await
        {
            // The change is stored and raised the Lockbox generation: other instances
            // drop their grants when they next read it (`grants::CHECK_EVERY`).
            tracing::warn!(error = %e, "could not announce a Lockbox change to other instances");
        }
    }

    /// Where other instances write too: reads the database's Lockbox generation every
    /// `grants::CHECK_EVERY` until `stop`, so that grants kept in memory are dropped
    /// within that time of any change, even one whose announcement was lost. Returns at
    /// once where this process is the only writer.
    pub async fn watch_grants(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        if self.grants.complete() {
            return;
        }
        let mut every = tokio::time::interval(grants::CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let sent = std::time::Instant::now();
            match self.store.lockbox_generation().await {
                Ok(g) => {
                    if failing {
                        tracing::info!(
                            "reading the Lockbox generation again; grants may be kept in memory"
                        );
                        failing = false;
                    }
                    self.grants.checked(g, sent);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the Lockbox generation; every Lockbox decision reads the database until it can");
                        failing = true;
                    }
                }
            }
        }
    }

    /// Hears what other instances announce and drops the views it makes stale, until
    /// `stop`. Returns at once where nothing is announced (the embedded store). A listener
    /// that fails is dropped and a new one made; meanwhile views expire on their own
    /// again (one second).
    pub async fn hear_announcements(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        use candor_domain::store::Heard;
        let pause = |secs: u64| {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    _ = stop.cancelled() => false,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(secs)) => true,
                }
            }
        };
        loop {
            let mut announcements = match self.store.listen().await {
                Ok(Some(a)) => a,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' changes; trying again in 5 s");
                    if pause(5).await {
                        continue;
                    }
                    return;
                }
            };
            // Anything built before listening began may have missed a change.
            self.views.invalidate();
            self.views.set_hearing(true);
            self.grants.set_hearing(true);
            self.placements.set_hearing(true);
            loop {
                let heard = tokio::select! {
                    _ = stop.cancelled() => {
                        self.views.set_hearing(false);
                        self.grants.set_hearing(false);
                        self.placements.set_hearing(false);
                        return;
                    }
                    heard = announcements.next() => heard,
                };
                match heard {
                    Ok(Heard::Changed(candor_domain::store::Announcement::Health)) => {
                        self.views.invalidate()
                    }
                    Ok(Heard::Changed(candor_domain::store::Announcement::Lockbox)) => {
                        self.grants.changed()
                    }
                    Ok(Heard::Changed(candor_domain::store::Announcement::Topology)) => {
                        self.placements.changed()
                    }
                    Ok(Heard::Gap) => {
                        tracing::info!(
                            "reconnected to hear other instances' changes; dropping every view"
                        );
                        self.views.invalidate();
                        self.grants.changed();
                        self.placements.changed();
                    }
                    Err(e) => {
                        self.views.set_hearing(false);
                        self.grants.set_hearing(false);
                        self.placements.set_hearing(false);
                        self.views.invalidate();
                        tracing::warn!(error = %e, "lost the connection that hears other instances' changes; listening again in 1 s");
                        break;
                    }
                }
            }
            drop(announcements);
            if !pause(1).await {
                return;
            }
        }
    }

    /// A core whose audit key is kept in the store, as older versions kept it: for tests
    /// and benchmarks. Candor itself uses `with_audit_key`.
    pub async fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Core> {
        Core::build(store, clock, None).await
    }

    /// A core that signs audit checkpoints and Lockbox decisions with the key `source`
    /// holds (never one in the store).
    pub async fn with_audit_key(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        source: &keys::AuditKeySource,
    ) -> anyhow::Result<Core> {
        Core::build(store, clock, Some(source)).await
    }

    /// Another core on the same store and keys, on its own clock (the demo's history).
    pub fn on_clock(&self, clock: Arc<dyn Clock>) -> Core {
        Core {
            grants: grants::GrantCache::new(self.store.sees_every_write()),
            placements: placements::PlacementCache::new(self.store.sees_every_write()),
            send_notifications: self.send_notifications,
            allow_private_webhooks: std::sync::atomic::AtomicBool::new(
                self.allow_private_webhooks
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            delivery_attempts: self.delivery_attempts,
            store: self.store.clone(),
            clock,
            keys: self.keys.clone(),
            views: views::HealthViews::default(),
            destinations: Arc::default(),
            chase: chase::Chase::default(),
            log_origin: self.log_origin.clone(),
            subscribe_limits: self.subscribe_limits,
            fanout_part_tenants: self.fanout_part_tenants,
        }
    }

    async fn build(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        source: Option<&keys::AuditKeySource>,
    ) -> anyhow::Result<Core> {
        let keys = Keys::load(store.as_ref(), clock.now(), source).await?;
        // The grant cache is complete only where this process sees every write.
        let grants = grants::GrantCache::new(store.sees_every_write());
        let placements = placements::PlacementCache::new(store.sees_every_write());
        Ok(Core {
            grants,
            placements,
            send_notifications: true,
            allow_private_webhooks: std::sync::atomic::AtomicBool::new(false),
            delivery_attempts: candor_domain::health::DEFAULT_DELIVERY_ATTEMPTS,
            store,
            clock,
            keys: Arc::new(keys),
            views: views::HealthViews::default(),
            destinations: Arc::default(),
            chase: chase::Chase::default(),
            log_origin: DEFAULT_LOG_ORIGIN.to_owned(),
            subscribe_limits: Default::default(),
            fanout_part_tenants: notify::DEFAULT_PART_TENANTS,
        })
    }
}
