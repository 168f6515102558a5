//! News to tenants' contacts (email) and webhook endpoints. Each published post (and each
//! scope change, for the tenants it newly reaches), message and review queues one
//! `notify.fanout` job in the same transaction as the change. The job queues one
//! delivery per subscribed contact and endpoint of every reached tenant, its id made from
//! change, recipient and channel. A fan-out that crashes halfway is simply run again:
//! what it already queued is not queued twice, and nothing is lost. Where several
//! instances share the database, a fan-out that reaches more than
//! `Core::fanout_part_tenants` tenants queues parts instead (`Fanout::Part`, contiguous
//! ranges of tenant ids), which the job runners of every instance claim side by side.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use candor_domain::email::{contains_link, OutboundEmail};
use candor_domain::health::maintenance::{MaintenanceId, MaintenanceNotice};
use candor_domain::health::{
    Channel, Delivery, DeliveryNews, Issue, IssueId, MessageId, NewDelivery, Post,
    PushSubscriptionId, Realm, Subscription, Topic,
};
use candor_domain::jobs::NewJob;
use candor_domain::language::Language;
use candor_domain::store::TenantRange;
use candor_domain::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::Core;
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::jobs::{Fanout, Job, NOTIFY_FANOUT};
use crate::push::PushNotification;
use candor_delivery::webhook::WebhookMessage;

/// Tenants read and queued for at a time: each page is one transaction, so pages are
/// large enough that commits do not dominate, small enough to keep memory modest.
const PAGE: u32 = 10_000;

/// Tenants per part of a fan-out, unless configured (`--fanout-part-tenants`).
pub const DEFAULT_PART_TENANTS: usize = 20_000;

/// Which tenants of a fan-out's reach one run covers, and the fan-out as a job, for the
/// parts it may be split into.
struct Share {
    whole: Fanout,
    within: Option<TenantRange>,
}

/// The fan-out job for a post (`seq`), or for the latest post when the scope changed.
pub fn fanout_job(issue: &IssueId, seq: Option<i64>, changed_at: OffsetDateTime) -> NewJob {
    Job::NotifyFanout(Fanout::Issue {
        issue: issue.clone(),
        seq,
    })
    .at(changed_at)
    .dedupe(format!(
        "{NOTIFY_FANOUT}:{}:{}:{}",
        issue,
        seq.map_or_else(|| "latest".to_owned(), |s| s.to_string()),
        changed_at.unix_timestamp_nanos()
    ))
}

/// The fan-out job for a published post-incident review.
pub fn review_fanout_job(issue: &IssueId, published_at: OffsetDateTime) -> NewJob {
    Job::NotifyFanout(Fanout::Review {
        issue: issue.clone(),
    })
    .at(published_at)
    .dedupe(format!("{NOTIFY_FANOUT}:review:{issue}"))
}

/// The fan-out job for a Message Center message, new or changed (a change tells only
/// the tenants it newly reaches: the others already have that message's mail).
pub fn message_fanout_job(message: &MessageId, changed_at: OffsetDateTime) -> NewJob {
    Job::NotifyFanout(Fanout::Message {
        message: message.clone(),
    })
    .at(changed_at)
    .dedupe(format!(
        "{NOTIFY_FANOUT}:message:{message}:{}",
        changed_at.unix_timestamp_nanos()
    ))
}

/// The fan-out job for one notice of a planned maintenance.
pub fn maintenance_fanout_job(
    maintenance: &MaintenanceId,
    notice: MaintenanceNotice,
    at: OffsetDateTime,
) -> NewJob {
    let stamp = candor_domain::time_util::to_unix_micros(at);
    Job::NotifyFanout(Fanout::Maintenance {
        maintenance: maintenance.clone(),
        notice,
        stamp,
    })
    .at(at)
    .dedupe(format!(
        "{NOTIFY_FANOUT}:maintenance:{maintenance}:{}:{stamp}",
        notice.as_str()
    ))
}

/// Runs the fan-out a job describes (or one part of it).
pub async fn run(core: &Core, fanout: &Fanout, base_url: &str) -> AppResult<u64> {
    let (whole, within) = match fanout {
        Fanout::Part { whole, from, until } => (whole.as_ref(), Some((*from, *until))),
        whole => (whole, None),
    };
    match whole {
        Fanout::Issue { issue, seq } => fan_out(core, issue, *seq, base_url, within).await,
        Fanout::Review { issue } => fan_out_review(core, issue, base_url, within).await,
        Fanout::Message { message } => fan_out_message(core, message, base_url, within).await,
        Fanout::Maintenance {
            maintenance,
            notice,
            stamp,
        } => fan_out_maintenance(core, maintenance, *notice, *stamp, base_url, within).await,
        Fanout::Part { .. } => Err(AppError::Refused(
            "a part of a fan-out names another part".into(),
        )),
    }
}

/// Queues the parts of a fan-out over `reached` (in id order): contiguous ranges of ids,
/// the first from the lowest id there is and the last to the end, so together they
/// cover every tenant the fan-out reaches when each part runs. Returns how many.
async fn queue_parts(
    core: &Core,
    whole: &Fanout,
    change: &str,
    reached: &[TenantId],
    now: OffsetDateTime,
) -> AppResult<usize> {
    let size = core.fanout_part_tenants.max(1);
    let starts: Vec<TenantId> = reached.chunks(size).map(|c| c[0]).collect();
    for (i, start) in starts.iter().enumerate() {
        let from = if i == 0 {
            TenantId(uuid::Uuid::nil())
        } else {
            *start
        };
        let part = Fanout::Part {
            whole: Box::new(whole.clone()),
            from,
            until: starts.get(i + 1).copied(),
        };
        core.store
            .enqueue_job(
                candor_domain::JobId::generate(),
                Job::NotifyFanout(part)
                    .at(now)
                    .dedupe(format!("{NOTIFY_FANOUT}:part:{change}:{i}")),
                now,
            )
            .await?;
    }
    Ok(starts.len())
}

/// A delivery's stable id, from its dedupe key.
pub fn delivery_id(key: &str) -> String {
    candor_domain::health::delivery_id(key)
}

/// What each reached tenant's deliveries need from the tenant (its time zone and
/// language), read a page of tenants at a time and kept for the fan-out.
struct Tenants(HashMap<TenantId, (Arc<str>, Language)>);

impl Tenants {
    async fn load(&mut self, core: &Core, ids: impl Iterator<Item = TenantId>) -> AppResult<()> {
        let mut missing: Vec<TenantId> = ids.filter(|t| !self.0.contains_key(t)).collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        // Tenants share a handful of time zones: each is kept once.
        let mut zones: HashMap<String, Arc<str>> = HashMap::new();
        for t in core.store.get_tenants(&missing).await? {
            let zone = t.time_zone.to_string();
            let zone = zones
                .entry(zone.clone())
                .or_insert_with(|| Arc::from(zone))
                .clone();
            self.0.insert(t.id, (zone, t.default_language));
        }
        let utc: Arc<str> = Arc::from("UTC");
        for t in missing {
            self.0
                .entry(t)
                .or_insert_with(|| (utc.clone(), Language::English));
        }
        Ok(())
    }

    fn of(&self, tenant: TenantId) -> (Arc<str>, Language) {
        self.0
            .get(&tenant)
            .cloned()
            .unwrap_or_else(|| (Arc::from("UTC"), Language::English))
    }
}

/// The news rendered once per language and time zone: a fan-out to 100,000 recipients
/// renders it, and stores it, a handful of times.
struct Rendered<'a> {
    change: &'a str,
    /// Tells apart two renderings of one change (the public one links to the public
    /// page, not the portal): part of the news id.
    variant: &'static str,
    render: &'a (dyn Fn(&Tr) -> News + Sync),
    cache: HashMap<(Language, Arc<str>), (String, News)>,
    /// Rendered since the last `take_fresh`: to be stored before deliveries name it.
    fresh: Vec<DeliveryNews>,
}

impl Rendered<'_> {
    /// The news in `lang` and `zone`, and its id.
    fn get(&mut self, lang: Language, zone: &Arc<str>) -> AppResult<&(String, News)> {
        use std::collections::hash_map::Entry;
        match self.cache.entry((lang, zone.clone())) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let news = (self.render)(&Tr::new(lang, zone.to_string()));
                let id = candor_domain::health::news_id(
                    &format!("{}{}", self.change, self.variant),
                    lang.tag(),
                    zone,
                );
                let body = serde_json::to_value(NewsBody {
                    email: news.email.clone(),
                    webhook: news.webhook.clone(),
                    language: lang,
                })
                .map_err(AppError::internal)?;
                self.fresh.push(DeliveryNews {
                    id: id.clone(),
                    change: self.change.to_owned(),
                    body,
                });
                Ok(e.insert((id, news)))
            }
        }
    }
}

/// What stored news holds: the email (with no recipient yet) and the webhook's facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewsBody {
    pub email: OutboundEmail,
    pub webhook: WebhookNews,
    /// The language it is written in (news stored before this was kept is English).
    #[serde(default)]
    pub language: Language,
}

/// One line of an email's HTML part: text, or a web address made a link.
struct HtmlLine {
    text: String,
    link: bool,
}

#[derive(askama::Template)]
#[template(path = "email_news.html")]
struct NewsEmailHtml<'a> {
    tr: &'a Tr,
    subject: &'a str,
    /// The first paragraph is the heading.
    paragraphs: Vec<Vec<HtmlLine>>,
    unsubscribe: Option<&'a str>,
}

/// The HTML part of a news email, in the reader's language: its text with paragraphs
/// kept, the first as a heading, web addresses as links, and the unsubscribe line.
pub fn news_html(email: &OutboundEmail, tr: &Tr) -> AppResult<String> {
    let paragraphs = email
        .body
        .split("\n\n")
        .map(|p| {
            p.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let t = l.trim();
                    let link = (t.starts_with("https://") || t.starts_with("http://"))
                        && !t.contains(char::is_whitespace);
                    HtmlLine {
                        text: if link { t.to_owned() } else { l.to_owned() },
                        link,
                    }
                })
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    let page = NewsEmailHtml {
        tr,
        subject: &email.subject,
        paragraphs,
        unsubscribe: email.unsubscribe.as_deref(),
    };
    askama::Template::render(&page)
        .map_err(|e| AppError::internal(anyhow::anyhow!("email template: {e}")))
}

/// A message ready for its channel. It is composed once, when its delivery is claimed,
/// from the delivery (what is the recipient's own) and its stored news, and handed to
/// the channel as it is: JSON only where it is stored and on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Email(OutboundEmail),
    Webhook(WebhookMessage),
    /// A notification for one browser (looked up by the worker: it may have gone).
    Push {
        browser: PushSubscriptionId,
        notification: PushNotification,
    },
}

/// What a delivery row holds of its recipient's own when its message is stored news.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientParts {
    /// The contact's one-click unsubscribe link (email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<String>,
    /// Where a public subscriber changes what it receives (email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage: Option<String>,
    /// The browser (push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<PushSubscriptionId>,
}

impl RecipientParts {
    /// As stored in a delivery row.
    pub fn stored(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A push delivery queued with its whole message (a test send), as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WholePush {
    pub subscription: PushSubscriptionId,
    pub notification: PushNotification,
}

/// The browser a push delivery is for, whichever way it was queued.
pub fn browser_of(d: &Delivery) -> Option<PushSubscriptionId> {
    if d.news.is_some() {
        RecipientParts::deserialize(&d.payload).ok()?.subscription
    } else {
        WholePush::deserialize(&d.payload)
            .ok()
            .map(|w| w.subscription)
    }
}

/// The message of delivery `d`: its stored news with the recipient's own parts filled in,
/// or, for a delivery queued with its whole message, that message.
pub fn compose(d: &Delivery, news: Option<&NewsBody>) -> Result<Outbound, String> {
    let Some(news_id) = &d.news else {
        return whole(d);
    };
    let news = news.ok_or_else(|| format!("its news ({news_id}) is no longer stored"))?;
    let own = if d.payload.is_null() {
        RecipientParts::default()
    } else {
        RecipientParts::deserialize(&d.payload)
            .map_err(|e| format!("its recipient's parts are malformed: {e}"))?
    };
    Ok(match d.channel {
        Channel::Email => {
            let mut email = news.email.clone();
            email.to = d.recipient.clone();
            email.tenant = Some(d.tenant);
            email.delivery_id = Some(d.id.clone());
            email.unsubscribe = own.unsubscribe;
            let tr = Tr::new(news.language, "UTC");
            if let Some(manage) = own.manage {
                email.body = format!("{}\n\n{}\n{manage}", email.body, tr.t("email-manage"));
            }
            email.html = Some(news_html(&email, &tr).map_err(|e| e.to_string())?);
            Outbound::Email(email)
        }
        Channel::Webhook => Outbound::Webhook(news.webhook.message(&d.id, d.tenant)),
        Channel::Push => Outbound::Push {
            browser: own
                .subscription
                .ok_or_else(|| "it names no browser".to_owned())?,
            notification: super::push::notification(&d.id, &d.change, &news.webhook),
        },
    })
}

/// One whole email (a Lockbox step's, a disabled endpoint's notice, a test send) as a
/// delivery: queued, retried and logged like the news. `change` says what it reports;
/// `recipient_key` tells apart two recipients of one change (a contact id, an address).
pub fn email_delivery(
    core: &Core,
    tenant: TenantId,
    change: &str,
    recipient_key: &str,
    realm: Realm,
    mut email: OutboundEmail,
    now: OffsetDateTime,
) -> AppResult<NewDelivery> {
    let mut d = NewDelivery::new(
        tenant,
        change,
        Channel::Email,
        recipient_key,
        email.to.clone(),
        serde_json::Value::Null,
        now,
    );
    d.realm = realm;
    d.max_attempts = core.delivery_attempts;
    email.delivery_id = Some(d.id.clone());
    d.payload = serde_json::to_value(&email).map_err(AppError::internal)?;
    Ok(d)
}

/// A delivery queued with its whole message, read back as its type.
fn whole(d: &Delivery) -> Result<Outbound, String> {
    let malformed = |e: serde_json::Error| format!("the queued message is malformed: {e}");
    Ok(match d.channel {
        Channel::Email => {
            let email = OutboundEmail::deserialize(&d.payload).map_err(malformed)?;
            // The last line of defence for the no-links rule: a Lockbox email that
            // carries anything a mail client could link is never sent.
            if email.kind.starts_with("lockbox")
                && (contains_link(&email.subject) || contains_link(&email.body))
            {
                return Err(format!(
                    "a {} email must not contain a link, and this one does",
                    email.kind
                ));
            }
            Outbound::Email(email)
        }
        Channel::Webhook => {
            Outbound::Webhook(WebhookMessage::deserialize(&d.payload).map_err(malformed)?)
        }
        Channel::Push => {
            let w = WholePush::deserialize(&d.payload).map_err(malformed)?;
            Outbound::Push {
                browser: w.subscription,
                notification: w.notification,
            }
        }
    })
}

/// A post's HTML as plain text, for the email body, a webhook's text and a push
/// notification: paragraphs and line breaks kept, list items bulleted, a link as its text
/// in brackets (html2text, which reads the HTML as a browser would).
pub fn plain_text(html: &str) -> String {
    let text = html2text::config::plain_no_decorate()
        .string_from_read(html.as_bytes(), PLAIN_TEXT_WIDTH)
        .unwrap_or_else(|_| ammonia::Builder::empty().clean(html).to_string());
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// Lines are not wrapped: mail clients wrap plain text to the reader's window.
const PLAIN_TEXT_WIDTH: usize = 10_000;

/// One contact's email about `post` of `issue`.
pub fn issue_email(
    tr: &Tr,
    to: &str,
    tenant: Option<TenantId>,
    issue: &Issue,
    service_name: &str,
    post: &Post,
    base_url: &str,
) -> OutboundEmail {
    let status = tr.t(&format!("status-{}", post.status.as_str()));
    let mut lines = vec![
        format!("{service_name}: {}", issue.title),
        format!("{} · {status}", issue.id),
        String::new(),
        plain_text(post.body_in(tr.lang)),
        String::new(),
        issue.impact_description.clone(),
    ];
    let base = base_url.trim_end_matches('/');
    if !base.is_empty() {
        lines.push(String::new());
        lines.push(format!("{base}/portal/health/issues/{}", issue.id));
    }
    OutboundEmail {
        to: to.to_owned(),
        subject: format!("[{service_name}] {} ({status})", issue.title),
        body: lines.join("\n"),
        kind: "notify.issue".into(),
        tenant,
        delivery_id: None,
        unsubscribe: None,
        html: None,
    }
}

/// Who a fan-out reaches: the tenants an issue or a message reached.
enum Reach<'a> {
    Issue(&'a IssueId),
    Message(&'a MessageId),
}

/// The news a fan-out carries, in the words of one recipient's language.
pub struct News {
    pub email: OutboundEmail,
    /// The webhook message's facts (`event`, `title`, `text`, `url`, `data`).
    pub webhook: WebhookNews,
}

/// What a webhook says, before the delivery's id and tenant are filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookNews {
    pub event: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_date_time: OffsetDateTime,
    pub title: String,
    pub text: String,
    pub url: Option<String>,
    pub data: serde_json::Value,
}

impl WebhookNews {
    /// The message a webhook delivery carries (the endpoint's shape and signature are
    /// applied when it is sent, so a rotated secret applies to retries too).
    pub fn message(&self, id: &str, tenant: TenantId) -> WebhookMessage {
        WebhookMessage {
            id: id.to_owned(),
            event: self.event.clone(),
            tenant_id: tenant.to_string(),
            occurred_date_time: candor_domain::time_util::rfc3339(self.occurred_date_time),
            title: self.title.clone(),
            text: self.text.clone(),
            url: self.url.clone(),
            data: self.data.clone(),
        }
    }
}

/// Queues, for every subscribed contact and webhook endpoint of the reached tenants, the
/// delivery of `change`: to those whose subscription `wants` it, the news `render` writes
/// in their language. Deliveries are queued a page at a time, each page in one
/// transaction; their ids come from (change, recipient, channel), so a fan-out run again
/// queues nothing twice. Returns how many were new.
async fn deliver(
    core: &Core,
    reach: Reach<'_>,
    share: &Share,
    change: &str,
    base_url: &str,
    wants: impl Fn(&Subscription) -> bool,
    render: impl Fn(&Tr) -> News + Sync,
) -> AppResult<u64> {
    let mut tenants = Tenants(HashMap::new());
    let mut rendered = Rendered {
        change,
        variant: "",
        render: &render,
        cache: HashMap::new(),
        fresh: Vec::new(),
    };
    let now = core.clock.now();
    let reached = match reach {
        Reach::Issue(id) => {
            core.store
                .tenants_reached_by_issue(id, share.within)
                .await?
        }
        Reach::Message(id) => {
            core.store
                .tenants_reached_by_message(id, share.within)
                .await?
        }
    };
    // Parts are for other instances to share; where this process is the only one (the
    // embedded store) they would only add jobs to run one after the other.
    if share.within.is_none()
        && !core.store.sees_every_write()
        && reached.len() > core.fanout_part_tenants
    {
        let parts = queue_parts(core, &share.whole, change, &reached, now).await?;
        tracing::info!(
            change,
            tenants = reached.len(),
            parts,
            "fan-out split into parts, for every instance to share"
        );
        return Ok(0);
    }
    let mut queued = 0;
    // Each page is written while the next is read and rendered: the store's writer and
    // its readers work side by side.
    let mut writing: Option<tokio::task::JoinHandle<AppResult<u64>>> = None;
    for chunk in reached.chunks(PAGE as usize) {
        // The page's tenants, contacts, endpoints and browsers, read side by side.
        let (loaded, contacts, hooks, pushes) = tokio::join!(
            tenants.load(core, chunk.iter().copied()),
            core.store.contacts_of_tenants(chunk),
            core.store.webhooks_of_tenants(chunk),
            core.store.push_of_tenants(chunk),
        );
        loaded?;
        let (contacts, hooks, pushes) = (contacts?, hooks?, pushes?);
        let mut batch = Vec::new();
        for contact in contacts {
            if !wants(&contact.subscription) {
                continue;
            }
            let (zone, _) = tenants.of(contact.tenant);
            let (news, _) = rendered.get(contact.language, &zone)?;
            let unsubscribe =
                super::contacts::unsubscribe_url(core, base_url, contact.tenant, contact.id);
            let mut d = NewDelivery::new(
                contact.tenant,
                change,
                Channel::Email,
                &contact.id.to_string(),
                contact.email.to_string(),
                RecipientParts {
                    unsubscribe,
                    manage: None,
                    subscription: None,
                }
                .stored(),
                now,
            );
            d.news = Some(news.clone());
            d.max_attempts = core.delivery_attempts;
            batch.push(d);
        }
        for endpoint in hooks {
            if !wants(&endpoint.subscription) {
                continue;
            }
            // An endpoint has no language of its own: it speaks its tenant's.
            let (zone, language) = tenants.of(endpoint.tenant);
            let (news, _) = rendered.get(language, &zone)?;
            let mut d = NewDelivery::new(
                endpoint.tenant,
                change,
                Channel::Webhook,
                &endpoint.id.to_string(),
                endpoint.url.clone(),
                json!({}),
                now,
            );
            d.endpoint = Some(endpoint.id);
            d.news = Some(news.clone());
            d.max_attempts = core.delivery_attempts;
            batch.push(d);
        }
        for browser in pushes {
            if !wants(&browser.subscription) {
                continue;
            }
            let (zone, language) = tenants.of(browser.owner.tenant());
            let (news, _) = rendered.get(language, &zone)?;
            let mut d = super::push::to_browser(core, &browser, change, now);
            d.news = Some(news.clone());
            batch.push(d);
        }
        if let Some(previous) = writing.take() {
            queued += previous.await.map_err(AppError::internal)??;
        }
        // The news first: a delivery never names news that is not stored.
        core.store
            .store_news(&std::mem::take(&mut rendered.fresh), now)
            .await?;
        let store = core.store.clone();
        writing = Some(tokio::spawn(async move {
            Ok(store.queue_deliveries(&batch, now).await?)
        }));
    }
    if let Some(last) = writing {
        queued += last.await.map_err(AppError::internal)??;
    }
    Ok(queued)
}

/// Queues the broad news of `change` for every confirmed public subscriber whose
/// subscription `wants` it, each in its own language, as `render` writes it for the
/// public (linking to the public page: subscribers have no portal). Deliveries' ids come
/// from (change, subscriber), so a fan-out run again queues nothing twice.
async fn deliver_public(
    core: &Core,
    change: &str,
    base_url: &str,
    wants: impl Fn(&Subscription) -> bool,
    render: impl Fn(&Tr) -> News + Sync,
) -> AppResult<u64> {
    let mut rendered = Rendered {
        change,
        variant: ":public",
        render: &render,
        cache: HashMap::new(),
        fresh: Vec::new(),
    };
    let utc: Arc<str> = Arc::from("UTC");
    let now = core.clock.now();
    let mut queued = 0;
    let mut after: Option<String> = None;
    loop {
        let page = core
            .store
            .list_subscribers(None, after.as_deref(), PAGE)
            .await?;
        let mut batch = Vec::new();
        for subscriber in &page {
            if !wants(&subscriber.subscription) {
                continue;
            }
            let (news, _) = rendered.get(subscriber.language, &utc)?;
            batch.push(super::subscribers::news_delivery(
                core, subscriber, change, base_url, news, now,
            ));
        }
        core.store
            .store_news(&std::mem::take(&mut rendered.fresh), now)
            .await?;
        queued += core.store.queue_deliveries(&batch, now).await?;
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.email.to_string()),
            _ => return Ok(queued),
        }
    }
}

/// The public page's address for one thing on it.
fn public_link(base_url: &str, lang: Language, anchor: &str) -> Option<String> {
    portal_link(base_url, &format!("/status?lang={}#{anchor}", lang.tag()))
}

/// Runs one fan-out: queues a delivery for every subscribed contact and webhook endpoint
/// of every tenant the issue reached. Returns how many were newly queued.
pub async fn fan_out(
    core: &Core,
    id: &IssueId,
    seq: Option<i64>,
    base_url: &str,
    within: Option<TenantRange>,
) -> AppResult<u64> {
    let Some(issue) = core.store.get_issue(id).await? else {
        return Ok(0);
    };
    let posts = core.store.issue_posts(id).await?;
    let post = match seq {
        Some(s) => posts.iter().find(|p| p.seq == s),
        None => posts.last(),
    }
    .ok_or_else(|| AppError::NotFound(format!("issue {id} has no post {seq:?}")))?;
    let service_name = service_name(core, &issue).await?;
    let topic = Topic::of_issue(issue.classification);
    let change = format!("issue:{}:post:{}", issue.id, post.seq);
    let link = portal_link(base_url, &format!("/portal/health/issues/{}", issue.id));
    let wants = |s: &Subscription| s.wants(topic, &[&issue.service]);
    let render = |tr: &Tr| {
        let email = issue_email(tr, "", None, &issue, &service_name, post, base_url);
        let status = tr.t(&format!("status-{}", post.status.as_str()));
        News {
            webhook: WebhookNews {
                event: "issue.posted".into(),
                occurred_date_time: post.created_at,
                title: format!("{service_name}: {} ({status})", issue.title),
                text: plain_text(post.body_in(tr.lang)),
                url: link.clone(),
                data: json!({
                    "issueId": issue.id.as_str(),
                    "classification": issue.classification.as_str(),
                    "status": post.status.as_str(),
                    "service": issue.service.as_str(),
                    "postNumber": post.seq,
                    "isResolved": issue.is_resolved(),
                    "impactDescription": issue.impact_description,
                }),
            },
            email,
        }
    };
    // Its parts tell this very post, whatever is posted meanwhile.
    let share = Share {
        whole: Fanout::Issue {
            issue: id.clone(),
            seq: Some(post.seq),
        },
        within,
    };
    let queued = deliver(
        core,
        Reach::Issue(id),
        &share,
        &change,
        base_url,
        wants,
        render,
    )
    .await?;
    // The public subscribers are told by the whole fan-out, not by each part.
    if !issue.scope.is_broad() || within.is_some() {
        return Ok(queued);
    }
    let public = |tr: &Tr| {
        let mut news = render(tr);
        news.email = issue_email(tr, "", None, &issue, &service_name, post, "");
        let link = public_link(base_url, tr.lang, issue.id.as_str());
        if let Some(link) = &link {
            news.email.body = format!("{}\n\n{link}", news.email.body);
        }
        news.webhook.url = link;
        news
    };
    Ok(queued + deliver_public(core, &change, base_url, wants, public).await?)
}

fn portal_link(base_url: &str, path: &str) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}{path}"))
}

async fn fan_out_review(
    core: &Core,
    id: &IssueId,
    base_url: &str,
    within: Option<TenantRange>,
) -> AppResult<u64> {
    let (Some(issue), Some(pir)) = (
        core.store.get_issue(id).await?,
        core.store.get_pir(id).await?,
    ) else {
        return Ok(0);
    };
    if !pir.is_published() {
        return Ok(0);
    }
    let service_name = service_name(core, &issue).await?;
    let link = portal_link(base_url, &format!("/portal/health/issues/{}", issue.id));
    let change = format!("issue:{}:review", issue.id);
    let published = core.clock.now();
    let wants = |s: &Subscription| s.wants(Topic::Reviews, &[&issue.service]);
    let render = |tr: &Tr| {
        let mut lines = vec![
            format!("{service_name}: {}", issue.title),
            String::new(),
            pir.user_impact.clone(),
            String::new(),
            pir.root_cause.clone(),
            String::new(),
            pir.next_steps.clone(),
        ];
        if let Some(link) = &link {
            lines.push(String::new());
            lines.push(link.clone());
        }
        let title = format!(
            "[{service_name}] {}: {}",
            tr.t("contacts-topic-postIncidentReviews"),
            issue.title
        );
        News {
            email: OutboundEmail {
                to: String::new(),
                subject: title.clone(),
                body: lines.join("\n"),
                kind: "notify.review".into(),
                tenant: None,
                delivery_id: None,
                unsubscribe: None,
                html: None,
            },
            webhook: WebhookNews {
                event: "issue.reviewPublished".into(),
                occurred_date_time: published,
                title,
                text: [
                    pir.user_impact.as_str(),
                    pir.root_cause.as_str(),
                    pir.next_steps.as_str(),
                ]
                .join("\n\n"),
                url: link.clone(),
                data: json!({
                    "issueId": issue.id.as_str(),
                    "service": issue.service.as_str(),
                }),
            },
        }
    };
    let share = Share {
        whole: Fanout::Review { issue: id.clone() },
        within,
    };
    deliver(
        core,
        Reach::Issue(id),
        &share,
        &change,
        base_url,
        wants,
        render,
    )
    .await
}

async fn fan_out_message(
    core: &Core,
    id: &MessageId,
    base_url: &str,
    within: Option<TenantRange>,
) -> AppResult<u64> {
    let Some(message) = core.store.get_message(id).await? else {
        return Ok(0);
    };
    let services: Vec<&candor_domain::health::ServiceId> = message.services.iter().collect();
    let link = portal_link(base_url, &format!("/portal/messages/{}", message.id));
    let change = format!("message:{}", message.id);
    let wants = |s: &Subscription| s.wants(Topic::MessageCenter, &services);
    let render = |tr: &Tr| {
        let (title, body) = message.text_in(tr.lang);
        let text = plain_text(body);
        let mut lines = vec![title.to_owned(), String::new(), text.clone()];
        if let Some(by) = message.action_required_by {
            lines.push(String::new());
            lines.push(format!("{}: {}", tr.t("message-act-by"), tr.time(&by)));
        }
        if let Some(link) = &link {
            lines.push(String::new());
            lines.push(link.clone());
        }
        News {
            email: OutboundEmail {
                to: String::new(),
                subject: format!("[{}] {title}", tr.t("contacts-topic-messageCenter")),
                body: lines.join("\n"),
                kind: "notify.message".into(),
                tenant: None,
                delivery_id: None,
                unsubscribe: None,
                html: None,
            },
            webhook: WebhookNews {
                event: "message.published".into(),
                occurred_date_time: message.last_modified,
                title: title.to_owned(),
                text,
                url: link.clone(),
                data: json!({
                    "messageId": message.id.as_str(),
                    "category": message.category.as_str(),
                    "severity": message.severity.as_str(),
                    "services": message.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    "actionRequiredByDateTime": message.action_required_by.map(candor_domain::time_util::rfc3339),
                    "isMajorChange": message.is_major_change,
                }),
            },
        }
    };
    let share = Share {
        whole: Fanout::Message {
            message: id.clone(),
        },
        within,
    };
    deliver(
        core,
        Reach::Message(id),
        &share,
        &change,
        base_url,
        wants,
        render,
    )
    .await
}

async fn fan_out_maintenance(
    core: &Core,
    id: &MaintenanceId,
    notice: MaintenanceNotice,
    stamp: i64,
    base_url: &str,
    within: Option<TenantRange>,
) -> AppResult<u64> {
    let Some(s) = core.store.get_maintenance(id).await? else {
        return Ok(0);
    };
    let m = &s.maintenance;
    let services: Vec<&candor_domain::health::ServiceId> = m.services.iter().collect();
    let names: BTreeMap<_, _> = core
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|svc| (svc.id, svc.display_name))
        .collect();
    let service_names = m
        .services
        .iter()
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let link = portal_link(base_url, &format!("/portal/messages/{}", s.message));
    let change = format!("maintenance:{}:{}:{stamp}", s.id, notice.as_str());
    let wants = |sub: &Subscription| sub.wants(Topic::PlannedMaintenance, &services);
    let render_with = |link: Option<String>, tr: &Tr| {
        let (title, description) = s.text_in(tr.lang);
        let heading = super::maintenance::notice_words(tr, notice);
        let window = tr.ta(
            "maintenance-window",
            &[
                ("start", tr.time(&m.window.start)),
                ("end", tr.time(&m.window.end)),
            ],
        );
        let impact = tr.t(&format!("maintenance-impact-{}", m.impact.as_str()));
        let mut lines = vec![
            format!("{heading}: {title}"),
            String::new(),
            description.to_owned(),
            String::new(),
            window.clone(),
            impact.clone(),
        ];
        if let Some(link) = &link {
            lines.push(String::new());
            lines.push(link.clone());
        }
        News {
            email: OutboundEmail {
                to: String::new(),
                subject: format!("[{service_names}] {heading}: {title}"),
                body: lines.join("\n"),
                kind: "notify.maintenance".into(),
                tenant: None,
                delivery_id: None,
                unsubscribe: None,
                html: None,
            },
            webhook: WebhookNews {
                event: format!("maintenance.{}", notice.as_str()),
                occurred_date_time: s.last_modified,
                title: format!("{heading}: {title}"),
                text: format!("{description}\n\n{window}\n{impact}"),
                url: link.clone(),
                data: json!({
                    "maintenanceId": s.id.as_str(),
                    "messageId": s.message.as_str(),
                    "notice": notice.as_str(),
                    "state": m.state.as_str(),
                    "expectedImpact": m.impact.as_str(),
                    "services": m.services.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                    "startDateTime": candor_domain::time_util::rfc3339(m.window.start),
                    "endDateTime": candor_domain::time_util::rfc3339(m.window.end),
                }),
            },
        }
    };
    let render = |tr: &Tr| render_with(link.clone(), tr);
    let share = Share {
        whole: Fanout::Maintenance {
            maintenance: id.clone(),
            notice,
            stamp,
        },
        within,
    };
    let queued = deliver(
        core,
        Reach::Message(&s.message),
        &share,
        &change,
        base_url,
        wants,
        render,
    )
    .await?;
    if !s.broad || within.is_some() {
        return Ok(queued);
    }
    let public = |tr: &Tr| render_with(public_link(base_url, tr.lang, s.id.as_str()), tr);
    Ok(queued + deliver_public(core, &change, base_url, wants, public).await?)
}

async fn service_name(core: &Core, issue: &Issue) -> AppResult<String> {
    Ok(core
        .store
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.id == issue.service)
        .map(|s| s.display_name)
        .unwrap_or_else(|| issue.service.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candor_domain::health::{Delivery, DeliveryStatus};
    use time::macros::datetime;

    fn body() -> NewsBody {
        NewsBody {
            email: OutboundEmail {
                to: String::new(),
                subject: "[Exchange Online] Mail delays".into(),
                body: "We're investigating.".into(),
                kind: "notify.issue".into(),
                tenant: None,
                delivery_id: None,
                unsubscribe: None,
                html: None,
            },
            webhook: WebhookNews {
                event: "issue.posted".into(),
                occurred_date_time: datetime!(2026-11-30 9:00 UTC),
                title: "Exchange Online: Mail delays".into(),
                text: "We're investigating.".into(),
                url: Some("https://status.example/portal/health/issues/EX1".into()),
                data: json!({"issueId": "EX1"}),
            },
            language: Language::Dutch,
        }
    }

    fn delivery(channel: Channel, payload: serde_json::Value) -> Delivery {
        let now = datetime!(2026-11-30 9:00 UTC);
        Delivery {
            id: "0123456789abcdef0123456789abcdef".into(),
            tenant: TenantId(uuid::Uuid::from_u128(7)),
            change: "issue:EX1:post:1".into(),
            channel,
            recipient: "noc@contoso.example".into(),
            endpoint: None,
            realm: Realm::Tenant,
            payload,
            news: Some("news1".into()),
            status: DeliveryStatus::Sending,
            attempts: 1,
            max_attempts: 10,
            run_at: now,
            last_error: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
        }
    }

    #[test]
    fn an_email_gets_its_recipient_id_tenant_and_unsubscribe_link() {
        let d = delivery(
            Channel::Email,
            json!({"unsubscribe": "https://status.example/unsubscribe/t"}),
        );
        let Outbound::Email(email) = compose(&d, Some(&body())).unwrap() else {
            panic!("an email")
        };
        assert_eq!(email.to, "noc@contoso.example");
        assert_eq!(email.tenant, Some(d.tenant));
        assert_eq!(email.delivery_id.as_deref(), Some(d.id.as_str()));
        assert_eq!(
            email.unsubscribe.as_deref(),
            Some("https://status.example/unsubscribe/t")
        );
        assert_eq!(email.subject, "[Exchange Online] Mail delays");
        let html = email.html.unwrap();
        assert!(html.contains("<html lang=\"nl\">"), "{html}");
        assert!(
            html.contains("<a href=\"https://status.example/unsubscribe/t\">Afmelden</a>"),
            "the unsubscribe line is in the reader's language: {html}"
        );
    }

    #[test]
    fn the_html_part_escapes_text_and_links_addresses() {
        let email = OutboundEmail {
            to: "noc@contoso.example".into(),
            subject: "Mail <delays>".into(),
            body: "Exchange: delays & retries\nEX1 · degraded\n\nWe're on it <b>now</b>.\n\nhttps://status.example/x?a=1&b=2".into(),
            kind: "notify.issue".into(),
            tenant: None,
            delivery_id: None,
            unsubscribe: Some("https://status.example/unsubscribe/t".into()),
            html: None,
        };
        let html = news_html(&email, &Tr::new(Language::English, "UTC")).unwrap();
        assert!(
            html.contains("<title>Mail &#60;delays&#62;</title>"),
            "{html}"
        );
        assert!(html.contains(
            "<h1 style=\"font-size: 1.2em\">Exchange: delays &#38; retries<br>EX1 · degraded</h1>"
        ), "{html}");
        assert!(
            html.contains("We&#39;re on it &#60;b&#62;now&#60;/b&#62;."),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://status.example/x?a=1&#38;b=2\">"),
            "{html}"
        );
        assert!(html.contains("unsubscribe/t\">Unsubscribe</a>"), "{html}");
    }

    #[test]
    fn a_post_becomes_plain_text_with_its_paragraphs_and_lists() {
        let text = plain_text(
            "<p>We&#39;re investigating &amp; <a href=\"https://x.example\">tracking</a>.</p><ul><li>EU</li><li>US</li></ul><p>Next<br>line</p>",
        );
        assert_eq!(
            text,
            "We're investigating & [tracking].\n* EU\n* US\n\nNext\nline"
        );
    }

    #[test]
    fn a_webhook_and_a_push_carry_the_delivery_id() {
        let Outbound::Webhook(hook) =
            compose(&delivery(Channel::Webhook, json!({})), Some(&body())).unwrap()
        else {
            panic!("a webhook")
        };
        assert_eq!(hook.id, "0123456789abcdef0123456789abcdef");
        assert_eq!(hook.tenant_id, uuid::Uuid::from_u128(7).to_string());
        assert_eq!(hook.event, "issue.posted");
        let browser = PushSubscriptionId(uuid::Uuid::from_u128(9));
        let d = delivery(Channel::Push, json!({"subscription": browser.to_string()}));
        assert_eq!(browser_of(&d), Some(browser));
        let Outbound::Push {
            browser: to,
            notification,
        } = compose(&d, Some(&body())).unwrap()
        else {
            panic!("a push")
        };
        assert_eq!(to, browser);
        assert_eq!(notification.id, "0123456789abcdef0123456789abcdef");
        assert_eq!(notification.tag, "issue:EX1:post:1");
    }

    #[test]
    fn a_lockbox_email_with_a_link_is_never_composed() {
        let email = |kind: &str, body: &str| OutboundEmail {
            to: "approver@contoso.example".into(),
            subject: "Customer Lockbox request".into(),
            body: body.into(),
            kind: kind.into(),
            tenant: Some(TenantId(uuid::Uuid::from_u128(7))),
            delivery_id: None,
            unsubscribe: None,
            html: None,
        };
        let queued = |e: OutboundEmail| Delivery {
            news: None,
            ..delivery(Channel::Email, serde_json::to_value(e).unwrap())
        };
        let clean = email("lockbox.pending", "Sign in to the portal to decide.");
        assert_eq!(
            compose(&queued(clean.clone()), None).unwrap(),
            Outbound::Email(clean)
        );
        let linked = email("lockbox.pending", "Decide at https://evil.example/approve");
        assert!(compose(&queued(linked), None)
            .unwrap_err()
            .contains("must not contain a link"));
        // Other mail may link (news links to the portal).
        let news = email("notify.webhookDisabled", "See https://status.example");
        assert!(compose(&queued(news), None).is_ok());
    }

    #[test]
    fn news_that_is_gone_is_an_error_and_a_whole_payload_is_kept() {
        let d = delivery(Channel::Email, json!({}));
        assert!(compose(&d, None).unwrap_err().contains("news1"));
        let queued = body()
            .webhook
            .message("x", TenantId(uuid::Uuid::from_u128(7)));
        let whole = Delivery {
            news: None,
            ..delivery(Channel::Webhook, serde_json::to_value(&queued).unwrap())
        };
        assert_eq!(compose(&whole, None).unwrap(), Outbound::Webhook(queued));
        let broken = Delivery {
            news: None,
            ..delivery(Channel::Webhook, json!({"id": "x", "title": "as queued"}))
        };
        assert!(compose(&broken, None).unwrap_err().contains("malformed"));
    }
}
