//! The delivery worker inside `candor serve`: claims due deliveries in batches, sends
//! them concurrently (email through the mailer, webhooks through the signed sender),
//! and records each outcome: sent, retried later with backoff and jitter, or dead with
//! its error. A delivery whose worker vanished is taken over when its lease lapses, and
//! it carries the same id, so the receiver can drop the second copy.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use candor_app::destinations::{Destination, Verdict};
use candor_app::notify::{NewsBody, Outbound};
use candor_app::push::PushNotification;
use candor_app::Core;
use candor_delivery::email::{MailError, Mailer};
use candor_delivery::push::{Browser, PushError};
use candor_delivery::webhook::{WebhookError, WebhookMessage, WebhookSender};
use candor_domain::email::OutboundEmail;
use candor_domain::health::breaker::Answer;
use candor_domain::health::{
    after_attempt, Attempt, Channel, Delivery, DeliveryOutcome, PushSubscription,
    PushSubscriptionId, Realm, WebhookEndpoint, WebhookEndpointId, WebhookFormat,
    DISABLE_WEBHOOK_AFTER,
};
use futures::StreamExt;
use rand::Rng;
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

/// How the worker behaves; the defaults suit one instance on a small machine.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How long claimed deliveries are this worker's before another may take them over.
    pub lease: Duration,
    /// Deliveries claimed at once, per lane.
    pub batch: u32,
    /// Each channel's lane: its slots, and each destination's share of them.
    pub lanes: Lanes,
    /// Failed attempts in a row after which a webhook endpoint is disabled.
    pub disable_webhook_after: i32,
    /// Who push services may contact about Candor's messages (VAPID `sub`).
    pub push_subject: String,
    /// How long one send may take, the whole exchange, per channel.
    pub deadlines: Deadlines,
}

/// One channel's lane: claimed, sent and recorded on its own, so a channel that is
/// stuck cannot hold up another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Sends to one destination (a relay, a webhook host, a push service) in flight at
    /// once: no destination takes more than this of the lane.
    pub per_destination: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lanes {
    pub email: Lane,
    pub webhook: Lane,
    pub push: Lane,
}

impl Default for Lanes {
    fn default() -> Self {
        let email = candor_delivery::email::SMTP_CONNECTIONS as usize;
        Lanes {
            // One relay takes all mail: its share is the lane (the pool's connections).
            email: Lane {
                concurrency: email,
                per_destination: email,
            },
            webhook: Lane {
                concurrency: 64,
                per_destination: 32,
            },
            push: Lane {
                concurrency: 32,
                per_destination: 16,
            },
        }
    }
}

impl Lanes {
    pub fn of(&self, channel: Channel) -> Lane {
        match channel {
            Channel::Email => self.email,
            Channel::Webhook => self.webhook,
            Channel::Push => self.push,
        }
    }
}

/// The longest one send may take, from connecting to the last byte of the answer: a
/// send past it is a failed attempt (retried with backoff), so a relay or endpoint that
/// accepts and never answers cannot hold a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// SMTP: connecting, every command and the data.
    pub email: StdDuration,
    pub webhook: StdDuration,
    pub push: StdDuration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            email: StdDuration::from_secs(30),
            webhook: StdDuration::from_secs(10),
            push: StdDuration::from_secs(10),
        }
    }
}

/// `send`, or a failed attempt saying which deadline it passed.
async fn within(
    deadline: StdDuration,
    channel: &str,
    send: impl std::future::Future<Output = Attempt>,
) -> Attempt {
    match tokio::time::timeout(deadline, send).await {
        Ok(attempt) => attempt,
        Err(_) => Attempt::Failed(format!(
            "no complete answer within {} s (the {channel} deadline)",
            deadline.as_secs_f64()
        )),
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            lease: Duration::minutes(2),
            batch: 200,
            lanes: Lanes::default(),
            disable_webhook_after: DISABLE_WEBHOOK_AFTER,
            push_subject: "mailto:candor@localhost".into(),
            deadlines: Deadlines::default(),
        }
    }
}

const IDLE_POLL: StdDuration = StdDuration::from_millis(250);
/// How long a push service keeps a notification for a browser that is offline.
const PUSH_TTL_SECONDS: u32 = 24 * 3600;

/// Cheap to clone: each send runs on a task of its own with a clone.
#[derive(Clone)]
pub struct DeliveryRunner {
    core: Arc<Core>,
    worker: Arc<str>,
    mailer: Option<Arc<Mailer>>,
    webhooks: Arc<WebhookSender>,
    settings: Arc<DeliverySettings>,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// Put back untried: the destination's breaker was open, or it had its share.
    pub deferred: usize,
}

impl BatchReport {
    pub fn total(&self) -> usize {
        self.sent + self.retried + self.dead + self.deferred
    }

    /// Counts `other` in too.
    pub fn add(&mut self, other: &BatchReport) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.dead += other.dead;
        self.deferred += other.deferred;
    }
}

/// What the deliveries of one claimed batch need: their endpoints, browsers and news,
/// read once for the batch.
struct BatchContext {
    endpoints: HashMap<WebhookEndpointId, WebhookEndpoint>,
    browsers: HashMap<PushSubscriptionId, PushSubscription>,
    news: HashMap<String, NewsBody>,
}

type Claimed = (Delivery, Arc<BatchContext>);
type Done = (Delivery, Sending, Arc<BatchContext>);

/// What the sender did with a claimed delivery.
enum Sending {
    Attempted(Attempt),
    /// Put back untried, due again then.
    Deferred(OffsetDateTime, String),
}

/// How long a delivery put back because its destination had its share waits.
const BUSY_DELAY: StdDuration = StdDuration::from_secs(1);
/// A send slower than this marks its destination slow: only a few of its deliveries
/// then wait in the window, and the rest go back to the queue for later.
const SLOW: StdDuration = StdDuration::from_millis(500);

/// Each destination's share of a lane's slots, and the deliveries waiting for it.
struct Shares {
    share: usize,
    /// Deliveries a fast destination may keep waiting in the window (what is claimed
    /// ahead).
    patient: usize,
    map: std::sync::Mutex<HashMap<Destination, Arc<Share>>>,
}

struct Share {
    slots: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    /// Recent answer time in milliseconds (moving average).
    latency_ms: std::sync::atomic::AtomicU64,
}

impl Share {
    fn slow(&self) -> bool {
        self.latency_ms.load(Ordering::Relaxed) > SLOW.as_millis() as u64
    }

    fn observe(&self, took: StdDuration) {
        let ms = took.as_millis().min(u128::from(u32::MAX)) as u64;
        let old = self.latency_ms.load(Ordering::Relaxed);
        self.latency_ms.store((old * 3 + ms) / 4, Ordering::Relaxed);
    }
}

/// Leaves the waiting count of a share when dropped.
struct Waiting<'a>(&'a Share);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shares {
    fn new(share: usize, patient: usize) -> Shares {
        Shares {
            share: share.max(1),
            patient: patient.max(1),
            map: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The share of `to`, if one more delivery may wait for it: any number while its
    /// slots are free, what is claimed ahead while it answers fast, a few (its share)
    /// while it is slow, so a slow destination cannot fill the window.
    fn enter(&self, to: &Destination) -> Option<Arc<Share>> {
        let share = {
            let mut map = self.map.lock().ok()?;
            map.entry(to.clone())
                .or_insert_with(|| {
                    Arc::new(Share {
                        slots: tokio::sync::Semaphore::new(self.share),
                        waiting: Default::default(),
                        latency_ms: Default::default(),
                    })
                })
                .clone()
        };
        let waiting = share.waiting.load(Ordering::Relaxed);
        let room = if share.slow() {
            self.share
        } else {
            self.patient
        };
        if share.slots.available_permits() == 0 && waiting >= room {
            return None;
        }
        share.waiting.fetch_add(1, Ordering::Relaxed);
        Some(share)
    }
}

/// Outcomes written at once at most: one transaction each.
const FLUSH_MAX: usize = 500;
/// How long the writer gathers outcomes before it writes them.
const FLUSH_LINGER: StdDuration = StdDuration::from_millis(3);
/// How often a busy worker logs what it did.
const REPORT_EVERY: StdDuration = StdDuration::from_secs(10);

impl DeliveryRunner {
    pub fn new(core: Arc<Core>, mailer: Option<Arc<Mailer>>, settings: DeliverySettings) -> Self {
        let allow_private = core
            .allow_private_webhooks
            .load(std::sync::atomic::Ordering::Relaxed);
        DeliveryRunner {
            worker: format!("deliveries-{}", uuid::Uuid::new_v4().simple()).into(),
            core,
            mailer,
            webhooks: Arc::new(WebhookSender::new(allow_private)),
            settings: Arc::new(settings),
        }
    }

    /// Every channel's lane at once; returns when all have (see `lane`).
    async fn pump(
        &self,
        until_idle: bool,
        stop: &CancellationToken,
    ) -> anyhow::Result<BatchReport> {
        let (email, webhook, push) = tokio::join!(
            self.lane(Channel::Email, until_idle, stop),
            self.lane(Channel::Webhook, until_idle, stop),
            self.lane(Channel::Push, until_idle, stop),
        );
        let mut report = BatchReport::default();
        for lane in [email?, webhook?, push?] {
            report.add(&lane);
        }
        Ok(report)
    }

    /// One channel's pipeline: a claimer keeps the senders supplied with the channel's
    /// due deliveries, senders attempt up to the lane's `concurrency` at once (and up to
    /// `per_destination` to any one destination), and a writer records outcomes as
    /// they come, many per transaction, while sending goes on. Claimed but unrecorded
    /// deliveries are bounded (two batches beyond what is in flight), so each is sent
    /// well inside its lease and a crash repeats only those; a destination that is slow
    /// to answer keeps only a few of them waiting and the rest go back to the queue. With
    /// `until_idle` it returns once nothing is due and nothing is in flight; otherwise
    /// it runs until `stop`.
    async fn lane(
        &self,
        channel: Channel,
        until_idle: bool,
        stop: &CancellationToken,
    ) -> anyhow::Result<BatchReport> {
        let lane = self.settings.lanes.of(channel);
        let batch = self.settings.batch.max(1) as usize;
        let concurrency = lane.concurrency.max(1);
        // Two batches beyond what is in flight: the next claim runs while the last one
        // is being sent. With one, the senders ran dry during every claim (the email
        // bench measured the queue at half the mailer's rate, the cores a third idle).
        let ahead = 2 * batch;
        let window = ahead + concurrency;
        let shares = Shares::new(lane.per_destination, ahead);
        let slots = tokio::sync::Semaphore::new(concurrency);
        let room = Arc::new(tokio::sync::Semaphore::new(window));
        let (work_tx, mut work_rx) = tokio::sync::mpsc::channel::<Claimed>(window);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Done>(window);
        let failure: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
        let fail = |e: anyhow::Error| {
            if let Ok(mut slot) = failure.lock() {
                slot.get_or_insert(e);
            }
        };

        let claimer = async {
            loop {
                if stop.is_cancelled() {
                    break;
                }
                let permits = tokio::select! {
                    _ = stop.cancelled() => break,
                    p = room.acquire_many(batch as u32) => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                permits.forget();
                let claimed = match self.claim(batch as u32, channel).await {
                    Ok(c) => c,
                    Err(e) => {
                        room.add_permits(batch);
                        tracing::warn!(%channel, error = %e, "delivery worker could not reach the store");
                        if until_idle {
                            fail(e);
                            break;
                        }
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(IDLE_POLL) => continue,
                        }
                    }
                };
                room.add_permits(batch - claimed.len());
                if claimed.is_empty() {
                    if until_idle {
                        if room.available_permits() == window {
                            break;
                        }
                        // Something is in flight: once it is recorded, look again (a
                        // failure with no backoff left may be due at once).
                        match room.acquire_many(window as u32).await {
                            Ok(all) => drop(all),
                            Err(_) => break,
                        }
                        continue;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(IDLE_POLL) => continue,
                    }
                }
                for item in claimed {
                    if work_tx.send(item).await.is_err() {
                        break;
                    }
                }
            }
            drop(work_tx);
        };

        let senders = async {
            futures::stream::poll_fn(|cx| work_rx.poll_recv(cx))
                .map(|(d, ctx)| {
                    let (shares, slots) = (&shares, &slots);
                    async move {
                        let sending = self.send(&d, &ctx, shares, slots).await;
                        (d, sending, ctx)
                    }
                })
                // The window bounds what is claimed; the lane's slots bound the sends.
                .buffer_unordered(window)
                .for_each(|done| {
                    let done_tx = done_tx.clone();
                    async move {
                        let _ = done_tx.send(done).await;
                    }
                })
                .await;
            drop(done_tx);
        };

        let writer = async {
            let mut report = BatchReport::default();
            let mut since_log = BatchReport::default();
            let mut logged = std::time::Instant::now();
            while let Some(first) = done_rx.recv().await {
                let mut outcomes = vec![first];
                // Each flush is a transaction, and its commit an fsync: outcomes are
                // gathered for a moment, so the writer connection (which the claims
                // share) spends its time on fewer, larger flushes.
                let deadline = tokio::time::Instant::now() + FLUSH_LINGER;
                while outcomes.len() < FLUSH_MAX {
                    let more = FLUSH_MAX - outcomes.len();
                    match tokio::time::timeout_at(deadline, done_rx.recv_many(&mut outcomes, more))
                        .await
                    {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                let n = outcomes.len();
                let mut flushed = BatchReport::default();
                if let Err(e) = self.record(outcomes, &mut flushed).await {
                    // Their leases lapse and they are sent again: at least once.
                    tracing::warn!(%channel, error = %e, "delivery worker could not record outcomes");
                    if until_idle {
                        fail(e);
                    }
                }
                room.add_permits(n);
                report.add(&flushed);
                since_log.add(&flushed);
                if !until_idle && logged.elapsed() >= REPORT_EVERY {
                    tracing::info!(
                        %channel,
                        held_back = since_log.deferred,
                        sent = since_log.sent,
                        retried = since_log.retried,
                        dead = since_log.dead,
                        "deliveries"
                    );
                    since_log = BatchReport::default();
                    logged = std::time::Instant::now();
                }
            }
            if !until_idle && since_log.total() > 0 {
                tracing::info!(
                    %channel,
                    held_back = since_log.deferred,
                    sent = since_log.sent,
                    retried = since_log.retried,
                    dead = since_log.dead,
                    "deliveries"
                );
            }
            report
        };

        let ((), (), report) = tokio::join!(claimer, senders, writer);
        match failure.into_inner().ok().flatten() {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Claims up to `limit` due deliveries of `channel`, with what sending them needs.
    async fn claim(&self, limit: u32, channel: Channel) -> anyhow::Result<Vec<Claimed>> {
        let now = self.core.clock.now();
        let batch = self
            .core
            .store
            .claim_deliveries(now, self.settings.lease, &self.worker, limit, channel)
            .await?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = Arc::new(BatchContext {
            endpoints: self.endpoints_of(&batch).await?,
            browsers: self.browsers_of(&batch).await?,
            news: self.news_of(&batch).await?,
        });
        Ok(batch.into_iter().map(|d| (d, ctx.clone())).collect())
    }

    async fn news_of(&self, batch: &[Delivery]) -> anyhow::Result<HashMap<String, NewsBody>> {
        let mut ids: Vec<String> = batch.iter().filter_map(|d| d.news.clone()).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut found = HashMap::new();
        for news in self.core.store.get_news(&ids).await? {
            match serde_json::from_value::<NewsBody>(news.body) {
                Ok(body) => {
                    found.insert(news.id, body);
                }
                // Left out: its deliveries fail with a clear error instead.
                Err(e) => tracing::warn!(news = %news.id, error = %e, "stored news is malformed"),
            }
        }
        Ok(found)
    }

    /// Writes down how attempts went: each delivery's fate, and its endpoint's record of
    /// failures (which may disable it).
    async fn record(&self, attempts: Vec<Done>, report: &mut BatchReport) -> anyhow::Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let finished = self.core.clock.now();
        let mut results = Vec::with_capacity(attempts.len());
        let mut answered: Vec<WebhookEndpointId> = Vec::new();
        let mut failing: HashMap<WebhookEndpointId, (WebhookEndpoint, String)> = HashMap::new();
        let mut recovering: HashMap<WebhookEndpointId, bool> = HashMap::new();
        for (d, sending, ctx) in attempts {
            let attempt = match sending {
                Sending::Attempted(attempt) => attempt,
                Sending::Deferred(at, why) => {
                    report.deferred += 1;
                    results.push((d.id, DeliveryOutcome::Deferred(at, why)));
                    continue;
                }
            };
            if let Some(e) = d.endpoint {
                let known = ctx.endpoints.get(&e);
                match &attempt {
                    Attempt::Sent => {
                        answered.push(e);
                        if known.is_some_and(|x| x.failures > 0) {
                            recovering.insert(e, true);
                        }
                    }
                    Attempt::Failed(m) | Attempt::Refused(m) => {
                        if let Some(x) = known.filter(|x| x.enabled) {
                            failing.insert(e, (x.clone(), m.clone()));
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
                DeliveryOutcome::Deferred(..) => report.deferred += 1,
            }
            results.push((d.id, outcome));
        }
        answered.sort();
        answered.dedup();
        answered.retain(|e| recovering.contains_key(e));
        self.core.store.webhooks_succeeded(&answered).await?;
        for (endpoint, error) in failing.values() {
            self.webhook_failed(endpoint, error).await?;
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
                candor_app::webhooks::disabled_notice(&core, &e, &reason)
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
                let (notices, audit) = notice(&current).await?;
                let now = self.core.clock.now();
                self.core.store.queue_deliveries(&notices, now).await?;
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
            .filter_map(candor_app::notify::browser_of)
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

    async fn push(&self, notification: &PushNotification, browser: &PushSubscription) -> Attempt {
        let payload = match serde_json::to_vec(notification) {
            Ok(p) => p,
            Err(e) => return Attempt::Refused(format!("the notification cannot be encoded: {e}")),
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
                    browser.owner.chain(),
                    self.core.clock.now(),
                    "system",
                    candor_domain::audit::ActorKind::System,
                    candor_app::push::PUSH_REMOVED,
                )
                .item(browser.id.to_string())
                .details(serde_json::json!({"Reason": m}));
                if let Err(e) = self
                    .core
                    .store
                    .delete_push_subscription(browser.owner, browser.id, vec![record])
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

    /// Where `d` goes, if it will be sent at all (a delivery refused before any send,
    /// such as one to a removed or disabled endpoint, has no destination).
    fn destination_of(&self, d: &Delivery, ctx: &BatchContext) -> Option<Destination> {
        match d.channel {
            Channel::Email => self.mailer.as_ref().map(|m| Destination {
                channel: Channel::Email,
                name: m.describe().to_owned(),
            }),
            Channel::Webhook if d.endpoint.is_none() && d.realm == Realm::Operator => self
                .core
                .chase
                .operator_webhook()
                .map(|hook| Destination::of_url(Channel::Webhook, &hook.url)),
            Channel::Webhook => d
                .endpoint
                .and_then(|id| ctx.endpoints.get(&id))
                .filter(|e| e.enabled)
                .map(|e| Destination::of_url(Channel::Webhook, &e.url)),
            Channel::Push => candor_app::notify::browser_of(d)
                .and_then(|id| ctx.browsers.get(&id))
                .map(|b| Destination::of_url(Channel::Push, &b.endpoint)),
        }
    }

    /// Sends `d` when its destination's share, a slot of the lane and the
    /// destination's breaker allow, or puts it back untried for later.
    async fn send(
        &self,
        d: &Delivery,
        ctx: &Arc<BatchContext>,
        shares: &Shares,
        slots: &tokio::sync::Semaphore,
    ) -> Sending {
        let Some(to) = self.destination_of(d, ctx) else {
            let _slot = slots.acquire().await;
            return Sending::Attempted(self.attempt_apart(d, ctx).await);
        };
        let Some(share) = shares.enter(&to) else {
            self.core.destinations.held_back(&to);
            let jitter = rand::thread_rng().gen_range(0..1000);
            return Sending::Deferred(
                self.core.clock.now() + BUSY_DELAY + StdDuration::from_millis(jitter),
                format!(
                    "held back untried: {} is slow to answer and has its share of the {} lane",
                    to.name, d.channel
                ),
            );
        };
        let _waiting = Waiting(&share);
        let (Ok(_own), Ok(_slot)) = (share.slots.acquire().await, slots.acquire().await) else {
            return Sending::Attempted(Attempt::Failed("the worker is stopping".into()));
        };
        match self.core.destinations.admit(&to, self.core.clock.now()) {
            Verdict::BreakerOpen(until) => {
                // Spread over a few seconds, so the queue does not come due at once.
                let jitter = rand::thread_rng().gen_range(0..5000);
                Sending::Deferred(
                    until + StdDuration::from_millis(jitter),
                    format!(
                        "held back untried: {} failed repeatedly and is backed off until {} (its circuit breaker is open)",
                        to.name,
                        until
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    ),
                )
            }
            Verdict::Go => {
                let started = std::time::Instant::now();
                let attempt = self.attempt_apart(d, ctx).await;
                share.observe(started.elapsed());
                let answer = match &attempt {
                    Attempt::Sent | Attempt::Refused(_) => (Answer::Answered, None),
                    Attempt::Failed(e) => (Answer::Failed, Some(e.as_str())),
                };
                self.core
                    .destinations
                    .done(&to, Some(answer), self.core.clock.now());
                Sending::Attempted(attempt)
            }
        }
    }

    /// `attempt` on a task of its own. Composing and sending are a lane's CPU work: in
    /// the lane's one task they all ran on one core (the bench saw that core at 100 %
    /// and the machine a third idle). The task gets a copy of the delivery, so the lane
    /// still has it to record a failed attempt if the task panics.
    async fn attempt_apart(&self, d: &Delivery, ctx: &Arc<BatchContext>) -> Attempt {
        let (runner, d, ctx) = (self.clone(), d.clone(), ctx.clone());
        tokio::spawn(async move { runner.attempt(&d, &ctx).await })
            .await
            .unwrap_or_else(|e| Attempt::Failed(format!("the send did not finish: {e}")))
    }

    async fn attempt(&self, d: &Delivery, ctx: &BatchContext) -> Attempt {
        let news = d.news.as_ref().and_then(|id| ctx.news.get(id));
        let outbound = match candor_app::notify::compose(d, news) {
            Ok(o) => o,
            Err(e) => return Attempt::Refused(format!("the delivery cannot be composed: {e}")),
        };
        match outbound {
            Outbound::Push {
                browser,
                notification,
            } => match ctx.browsers.get(&browser) {
                Some(b) => {
                    within(
                        self.settings.deadlines.push,
                        "push",
                        self.push(&notification, b),
                    )
                    .await
                }
                None => Attempt::Refused("the browser unsubscribed".into()),
            },
            Outbound::Email(email) => {
                within(self.settings.deadlines.email, "email", self.email(&email)).await
            }
            Outbound::Webhook(message) if d.endpoint.is_none() && d.realm == Realm::Operator => {
                let Some(hook) = self.core.chase.operator_webhook() else {
                    return Attempt::Refused("no operator webhook is configured".into());
                };
                let secrets = [hook.secret.as_str()];
                let post = self.signed_post(&hook.url, WebhookFormat::Candor, &secrets, &message);
                within(self.settings.deadlines.webhook, "webhook", post).await
            }
            Outbound::Webhook(message) => {
                let Some(endpoint) = d.endpoint.and_then(|id| ctx.endpoints.get(&id)) else {
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
                within(
                    self.settings.deadlines.webhook,
                    "webhook",
                    self.webhook(&message, endpoint),
                )
                .await
            }
        }
    }

    async fn email(&self, email: &OutboundEmail) -> Attempt {
        let Some(mailer) = &self.mailer else {
            return Attempt::Failed("no mail transport is configured on this instance".into());
        };
        match mailer.send(email).await {
            Ok(()) => Attempt::Sent,
            Err(MailError::Rejected(m)) | Err(MailError::Config(m)) => Attempt::Refused(m),
            Err(MailError::Transport(m)) => Attempt::Failed(m),
        }
    }

    async fn webhook(&self, message: &WebhookMessage, endpoint: &WebhookEndpoint) -> Attempt {
        let secrets = endpoint.signing_secrets(self.core.clock.now());
        self.signed_post(&endpoint.url, endpoint.format, &secrets, message)
            .await
    }

    /// Posts `message` to `url` in `format`, signed with `secrets` (a tenant's endpoint,
    /// or the provider's operator webhook).
    async fn signed_post(
        &self,
        url: &str,
        format: WebhookFormat,
        secrets: &[&str],
        message: &WebhookMessage,
    ) -> Attempt {
        let now = self.core.clock.now().unix_timestamp();
        match self.webhooks.send(url, format, secrets, message, now).await {
            Ok(_) => Attempt::Sent,
            Err(WebhookError::Permanent(m)) => Attempt::Refused(m),
            Err(WebhookError::Retry(m)) => Attempt::Failed(m),
        }
    }

    /// Sends everything due until nothing is (tests and `candor` commands).
    pub async fn drain(&self) -> anyhow::Result<BatchReport> {
        self.pump(true, &CancellationToken::new()).await
    }

    /// Runs until `stop` is cancelled; what is in flight then is finished and recorded.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(worker = %self.worker, "delivery worker started");
        if let Err(e) = self.pump(false, &stop).await {
            tracing::warn!(error = %e, "delivery worker stopped on an error");
        }
        tracing::info!(worker = %self.worker, "delivery worker stopped");
    }
}
