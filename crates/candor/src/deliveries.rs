//! The delivery worker inside `candor serve`: claims due deliveries in batches, sends
//! them concurrently (email through the mailer, webhooks through the signed sender),
//! and records each outcome: sent, retried later with backoff and jitter, or dead with
//! its error. A delivery whose worker vanished is taken over when its lease lapses, and
//! it carries the same id, so the receiver can drop the second copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use candor_delivery::email::{MailError, Mailer};
use candor_delivery::push::{Browser, PushError};
use candor_delivery::webhook::{WebhookError, WebhookMessage, WebhookSender};
use candor_domain::email::OutboundEmail;
use candor_domain::health::{
    after_attempt, Attempt, Channel, Delivery, DeliveryOutcome, PushSubscription,
    PushSubscriptionId, WebhookEndpoint, WebhookEndpointId, DISABLE_WEBHOOK_AFTER,
};
use candor_web::service::Core;
use futures::StreamExt;
use rand::Rng;
use time::Duration;
use tokio_util::sync::CancellationToken;

/// How the worker behaves; the defaults suit one instance on a small machine.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How long claimed deliveries are this worker's before another may take them over.
    pub lease: Duration,
    /// Deliveries claimed at once.
    pub batch: u32,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Failed attempts in a row after which a webhook endpoint is disabled.
    pub disable_webhook_after: i32,
    /// Who push services may contact about Candor's messages (VAPID `sub`).
    pub push_subject: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            lease: Duration::minutes(2),
            batch: 200,
            concurrency: 64,
            disable_webhook_after: DISABLE_WEBHOOK_AFTER,
            push_subject: "mailto:candor@localhost".into(),
        }
    }
}

const IDLE_POLL: StdDuration = StdDuration::from_millis(250);
/// How long a push service keeps a notification for a browser that is offline.
const PUSH_TTL_SECONDS: u32 = 24 * 3600;

pub struct DeliveryRunner {
    core: Arc<Core>,
    worker: String,
    mailer: Option<Arc<Mailer>>,
    webhooks: Arc<WebhookSender>,
    settings: DeliverySettings,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
}

impl BatchReport {
    pub fn total(&self) -> usize {
        self.sent + self.retried + self.dead
    }
}

impl DeliveryRunner {
    pub fn new(core: Arc<Core>, mailer: Option<Arc<Mailer>>, settings: DeliverySettings) -> Self {
        let allow_private = core
            .allow_private_webhooks
            .load(std::sync::atomic::Ordering::Relaxed);
        DeliveryRunner {
            worker: format!("deliveries-{}", uuid::Uuid::new_v4().simple()),
            core,
            mailer,
            webhooks: Arc::new(WebhookSender::new(allow_private)),
            settings,
        }
    }

    /// Claims one batch of due deliveries, sends them and records the outcomes.
    pub async fn run_batch(&self) -> anyhow::Result<BatchReport> {
        let now = self.core.clock.now();
        let batch = self
            .core
            .store
            .claim_deliveries(now, self.settings.lease, &self.worker, self.settings.batch)
            .await?;
        if batch.is_empty() {
            return Ok(BatchReport::default());
        }
        let endpoints = self.endpoints_of(&batch).await?;
        let browsers = self.browsers_of(&batch).await?;
        let mut report = BatchReport::default();
        // Outcomes are written as they come, a few at a time, so a crash repeats only
        // what was in flight, not the whole batch.
        let flush_every = self.settings.concurrency.clamp(1, 64);
        let mut done = Vec::with_capacity(flush_every);
        let mut attempts = futures::stream::iter(batch)
            .map(|d| {
                let endpoints = &endpoints;
                let browsers = &browsers;
                async move {
                    let attempt = self.attempt(&d, endpoints, browsers).await;
                    (d, attempt)
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1));
        while let Some(one) = attempts.next().await {
            done.push(one);
            if done.len() >= flush_every {
                self.record(&endpoints, std::mem::take(&mut done), &mut report)
                    .await?;
            }
        }
        self.record(&endpoints, done, &mut report).await?;
        Ok(report)
    }

    /// Writes down how attempts went: each delivery's fate, and its endpoint's record of
    /// failures (which may disable it).
    async fn record(
        &self,
        endpoints: &HashMap<WebhookEndpointId, WebhookEndpoint>,
        attempts: Vec<(Delivery, Attempt)>,
        report: &mut BatchReport,
    ) -> anyhow::Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let finished = self.core.clock.now();
        let mut results = Vec::with_capacity(attempts.len());
        let mut answered: Vec<WebhookEndpointId> = Vec::new();
        let mut failing: HashMap<WebhookEndpointId, String> = HashMap::new();
        for (d, attempt) in attempts {
            if let Some(e) = d.endpoint {
                match &attempt {
                    Attempt::Sent => answered.push(e),
                    Attempt::Failed(m) | Attempt::Refused(m) => {
                        if endpoints.get(&e).is_some_and(|x| x.enabled) {
                            failing.insert(e, m.clone());
                        }
                    }
                }
            }
            let jitter = rand::thread_rng().gen::<f64>();
            let outcome = after_attempt(&d, attempt, finished, jitter);
            match &outcome {
                DeliveryOutcome::Sent => report.sent += 1,
                DeliveryOutcome::RetryAt(_, e) => {
                    report.retried += 1;
                    tracing::debug!(delivery = %d.id, channel = %d.channel, error = %e, "delivery will be retried");
                }
                DeliveryOutcome::Dead(e) => {
                    report.dead += 1;
                    tracing::warn!(delivery = %d.id, channel = %d.channel, error = %e, "delivery failed for good");
                }
            }
            results.push((d.id, outcome));
        }
        answered.sort();
        answered.dedup();
        answered.retain(|e| endpoints.get(e).is_some_and(|x| x.failures > 0));
        self.core.store.webhooks_succeeded(&answered).await?;
        for (id, error) in failing {
            if let Some(endpoint) = endpoints.get(&id) {
                self.webhook_failed(endpoint, &error).await?;
            }
        }
        self.core
            .store
            .finish_deliveries(&self.worker, &results, finished)
            .await?;
        Ok(())
    }

    async fn endpoints_of(
        &self,
        batch: &[Delivery],
    ) -> anyhow::Result<HashMap<WebhookEndpointId, WebhookEndpoint>> {
        let mut ids: Vec<WebhookEndpointId> = batch.iter().filter_map(|d| d.endpoint).collect();
        ids.sort();
        ids.dedup();
        let found = self
            .core
            .store
            .get_webhooks(&ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        Ok(found)
    }

    async fn webhook_failed(&self, endpoint: &WebhookEndpoint, error: &str) -> anyhow::Result<()> {
        let reason = format!(
            "{} failed attempts in a row; the last: {error}",
            self.settings.disable_webhook_after
        );
        // Its record as it stands now (other attempts may have counted since the batch
        // was claimed): the notice is written with the failure that disables it.
        let Some(current) = self.core.store.get_webhook(endpoint.id).await? else {
            return Ok(());
        };
        let notice = |e: &WebhookEndpoint| {
            let core = self.core.clone();
            let e = e.clone();
            let reason = reason.clone();
            async move {
                candor_web::service::webhooks::disabled_notice(&core, &e, &reason)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
            }
        };
        let will_disable = current.failures + 1 >= self.settings.disable_webhook_after;
        let effects = if will_disable {
            notice(&current).await?
        } else {
            (Vec::new(), Vec::new())
        };
        let disabled = self
            .core
            .store
            .webhook_failed(
                endpoint.id,
                self.settings.disable_webhook_after,
                &reason,
                effects,
                self.core.clock.now(),
            )
            .await?;
        if disabled {
            if !will_disable {
                // Another worker counted a failure in between: tell the tenant anyway.
                let (jobs, audit) = notice(&current).await?;
                let now = self.core.clock.now();
                for job in jobs {
                    self.core
                        .store
                        .enqueue_job(candor_domain::JobId::generate(), job, now)
                        .await?;
                }
                self.core.store.append_audit(audit).await?;
            }
            tracing::warn!(endpoint = %endpoint.id, tenant = %endpoint.tenant, "webhook endpoint disabled after repeated failures; its administrators are told");
        }
        Ok(())
    }

    async fn browsers_of(
        &self,
        batch: &[Delivery],
    ) -> anyhow::Result<HashMap<PushSubscriptionId, PushSubscription>> {
        let mut ids: Vec<PushSubscriptionId> = batch
            .iter()
            .filter(|d| d.channel == Channel::Push)
            .filter_map(|d| d.payload["subscription"].as_str()?.parse().ok())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .core
            .store
            .get_push_subscriptions(&ids)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect())
    }

    async fn push(&self, d: &Delivery, browser: &PushSubscription) -> Attempt {
        let payload = match serde_json::to_vec(&d.payload["notification"]) {
            Ok(p) => p,
            Err(e) => {
                return Attempt::Refused(format!("the queued notification is malformed: {e}"))
            }
        };
        let target = Browser {
            endpoint: &browser.endpoint,
            p256dh: &browser.p256dh,
            auth: &browser.auth,
        };
        match self
            .webhooks
            .push(
                &self.core.keys.vapid,
                &self.settings.push_subject,
                &target,
                &payload,
                PUSH_TTL_SECONDS,
            )
            .await
        {
            Ok(_) => Attempt::Sent,
            Err(PushError::Gone(m)) => {
                // The browser unsubscribed or its subscription expired: forget it.
                let record = candor_domain::audit::NewAuditRecord::new(
                    candor_domain::audit::AuditChain::Tenant(browser.tenant),
                    self.core.clock.now(),
                    "system",
                    candor_domain::audit::ActorKind::System,
                    candor_web::service::push::PUSH_REMOVED,
                )
                .item(browser.id.to_string())
                .details(serde_json::json!({"Reason": m}));
                if let Err(e) = self
                    .core
                    .store
                    .delete_push_subscription(browser.tenant, None, browser.id, vec![record])
                    .await
                {
                    tracing::warn!(error = %e, "could not forget a browser that unsubscribed");
                }
                Attempt::Refused(m)
            }
            Err(PushError::Permanent(m)) => Attempt::Refused(m),
            Err(PushError::Retry(m)) => Attempt::Failed(m),
        }
    }

    async fn attempt(
        &self,
        d: &Delivery,
        endpoints: &HashMap<WebhookEndpointId, WebhookEndpoint>,
        browsers: &HashMap<PushSubscriptionId, PushSubscription>,
    ) -> Attempt {
        match d.channel {
            Channel::Push => {
                let browser = d.payload["subscription"]
                    .as_str()
                    .and_then(|s| s.parse::<PushSubscriptionId>().ok())
                    .and_then(|id| browsers.get(&id));
                match browser {
                    Some(b) => self.push(d, b).await,
                    None => Attempt::Refused("the browser unsubscribed".into()),
                }
            }
            Channel::Email => self.email(d).await,
            Channel::Webhook => {
                let Some(endpoint) = d.endpoint.and_then(|id| endpoints.get(&id)) else {
                    return Attempt::Refused("the webhook endpoint was removed".into());
                };
                if !endpoint.enabled {
                    return Attempt::Refused(format!(
                        "the webhook endpoint is disabled ({})",
                        endpoint
                            .disabled_reason
                            .as_deref()
                            .unwrap_or("by its owner")
                    ));
                }
                self.webhook(d, endpoint).await
            }
        }
    }

    async fn email(&self, d: &Delivery) -> Attempt {
        let email: OutboundEmail = match serde_json::from_value(d.payload.clone()) {
            Ok(e) => e,
            Err(e) => return Attempt::Refused(format!("the queued email is malformed: {e}")),
        };
        let Some(mailer) = &self.mailer else {
            return Attempt::Failed("no mail transport is configured on this instance".into());
        };
        match mailer.send(&email).await {
            Ok(()) => Attempt::Sent,
            Err(MailError::Rejected(m)) | Err(MailError::Config(m)) => Attempt::Refused(m),
            Err(MailError::Transport(m)) => Attempt::Failed(m),
        }
    }

    async fn webhook(&self, d: &Delivery, endpoint: &WebhookEndpoint) -> Attempt {
        let message: WebhookMessage = match serde_json::from_value(d.payload.clone()) {
            Ok(m) => m,
            Err(e) => return Attempt::Refused(format!("the queued webhook is malformed: {e}")),
        };
        let now = self.core.clock.now();
        let secrets = endpoint.signing_secrets(now);
        match self
            .webhooks
            .send(
                &endpoint.url,
                endpoint.format,
                &secrets,
                &message,
                now.unix_timestamp(),
            )
            .await
        {
            Ok(_) => Attempt::Sent,
            Err(WebhookError::Permanent(m)) => Attempt::Refused(m),
            Err(WebhookError::Retry(m)) => Attempt::Failed(m),
        }
    }

    /// Sends everything due until nothing is (tests and `candor` commands).
    pub async fn drain(&self) -> anyhow::Result<BatchReport> {
        let mut total = BatchReport::default();
        loop {
            let r = self.run_batch().await?;
            if r.total() == 0 {
                return Ok(total);
            }
            total.sent += r.sent;
            total.retried += r.retried;
            total.dead += r.dead;
        }
    }

    /// Runs until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(worker = %self.worker, "delivery worker started");
        loop {
            if stop.is_cancelled() {
                break;
            }
            let idle = match self.run_batch().await {
                Ok(r) => {
                    if r.total() > 0 {
                        tracing::info!(
                            sent = r.sent,
                            retried = r.retried,
                            dead = r.dead,
                            "deliveries"
                        );
                    }
                    r.total() == 0
                }
                Err(e) => {
                    tracing::warn!(error = %e, "delivery worker could not reach the store");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
        tracing::info!(worker = %self.worker, "delivery worker stopped");
    }
}
