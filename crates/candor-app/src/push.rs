//! Push notifications to the installable portal: a tenant user's browser subscribes
//! (with the keys its push service gave it), receives each piece of news its user may
//! read, and can be sent a test or removed. Only the user who subscribed a browser sees
//! and removes it; each change is audited.

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::{
    Channel, NewDelivery, PushSubscription, PushSubscriptionId, Subscription, Topic,
};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::TenantId;
use serde_json::json;
use time::OffsetDateTime;

use super::notify::WebhookNews;
use super::Core;
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::ids::NO_SUCH_BROWSER;

pub const PUSH_SUBSCRIBED: &str = "Add-PushSubscription";
pub const PUSH_REMOVED: &str = "Remove-PushSubscription";
/// Browsers one person may register.
pub const MAX_BROWSERS: usize = 10;

/// What a browser sent when it subscribed.
#[derive(Debug, Clone, Default)]
pub struct BrowserInput {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub label: String,
}

fn user_of(actor: &Actor) -> AppResult<(TenantId, candor_domain::UserId)> {
    match actor {
        Actor::TenantUser {
            tenant_id, user_id, ..
        } => Ok((*tenant_id, *user_id)),
        _ => Err(AppError::Forbidden(candor_domain::identity::Denied {
            reason: candor_domain::identity::DenyReason::WrongRealm,
            message: "push notifications are for people signed in to the portal".into(),
        })),
    }
}

/// The topics a person may hear about: what their roles let them read.
fn readable_topics(actor: &Actor, tenant: TenantId) -> Subscription {
    let mut topics = std::collections::BTreeSet::new();
    if authorize(actor, Action::ReadServiceHealth(tenant)).is_ok() {
        topics.extend([Topic::Incidents, Topic::Advisories, Topic::Reviews]);
    }
    if authorize(actor, Action::ReadMessageCenter(tenant)).is_ok() {
        topics.insert(Topic::MessageCenter);
    }
    Subscription {
        topics,
        services: Default::default(),
    }
}

pub async fn subscribe(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: BrowserInput,
) -> AppResult<PushSubscription> {
    let (tenant, user) = user_of(actor)?;
    let subscription = readable_topics(actor, tenant);
    if subscription.topics.is_empty() {
        authorize(actor, Action::ReadServiceHealth(tenant))?;
    }
    PushSubscription::check(&input.endpoint, &input.p256dh, &input.auth)?;
    // The same rules as webhooks: a browser's push service is on the public internet.
    super::webhooks::check_url(core, &input.endpoint)
        .await
        .map_err(|_| {
            AppError::Invalid(InvalidValue::new(
                "endpoint",
                "the push endpoint must be a public https URL of a push service",
            ))
        })?;
    if core
        .store
        .list_push_subscriptions(tenant, user)
        .await?
        .len()
        >= MAX_BROWSERS
    {
        return Err(AppError::Invalid(InvalidValue::new(
            "endpoint",
            format!("at most {MAX_BROWSERS} browsers per person; remove one first"),
        )));
    }
    let label: String = input
        .label
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let now = core.clock.now();
    let browser = PushSubscription {
        id: PushSubscriptionId::generate(),
        tenant,
        user,
        endpoint: input.endpoint.trim().to_owned(),
        p256dh: input.p256dh.trim().trim_end_matches('=').to_owned(),
        auth: input.auth.trim().trim_end_matches('=').to_owned(),
        subscription,
        label: if label.trim().is_empty() {
            "browser".into()
        } else {
            label.trim().to_owned()
        },
        created_at: now,
    };
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, PUSH_SUBSCRIBED)
        .ip(ip)
        .item(browser.id.to_string())
        .details(json!({"Browser": browser.label}));
    core.store
        .save_push_subscription(&browser, vec![record])
        .await?;
    Ok(browser)
}

/// The signed-in person's browsers.
pub async fn list(core: &Core, actor: &Actor) -> AppResult<Vec<PushSubscription>> {
    let (tenant, user) = user_of(actor)?;
    Ok(core.store.list_push_subscriptions(tenant, user).await?)
}

async fn find(core: &Core, actor: &Actor, id: PushSubscriptionId) -> AppResult<PushSubscription> {
    list(core, actor)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| AppError::NotFound(NO_SUCH_BROWSER.into()))
}

pub async fn remove(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: PushSubscriptionId,
) -> AppResult<()> {
    let browser = find(core, actor, id).await?;
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(browser.tenant),
        core.clock.now(),
        PUSH_REMOVED,
    )
    .ip(ip)
    .item(browser.id.to_string());
    if core
        .store
        .delete_push_subscription(browser.tenant, Some(browser.user), browser.id, vec![record])
        .await?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("there is no such browser".into()))
    }
}

/// The delivery of `news` to one browser: a short notification (title, text, link).
pub fn delivery(
    core: &Core,
    browser: &PushSubscription,
    change: &str,
    news: &WebhookNews,
    now: OffsetDateTime,
) -> NewDelivery {
    let mut d = to_browser(core, browser, change, now);
    let whole = super::notify::WholePush {
        subscription: browser.id,
        notification: notification(&d.id, change, news),
    };
    d.payload = serde_json::to_value(whole).unwrap_or(serde_json::Value::Null);
    d
}

/// The delivery of `change` to one browser, naming it, with no notification yet (the
/// fan-out's deliveries take theirs from the stored news).
pub fn to_browser(
    core: &Core,
    browser: &PushSubscription,
    change: &str,
    now: OffsetDateTime,
) -> NewDelivery {
    let host = browser
        .endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("push service");
    let mut d = NewDelivery::new(
        browser.tenant,
        change,
        Channel::Push,
        &browser.id.to_string(),
        format!("{} ({host})", browser.label),
        json!(null),
        now,
    );
    d.max_attempts = core.delivery_attempts;
    d.payload = super::notify::RecipientParts {
        unsubscribe: None,
        subscription: Some(browser.id),
    }
    .stored();
    d
}

/// What a browser shows: a short notification, as the service worker reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PushNotification {
    /// The delivery's id.
    pub id: String,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    /// The change: a browser shows one notification per change, the latest.
    pub tag: String,
}

/// What a browser shows of `news`: its title, its text cut to 300 characters, a link.
pub fn notification(id: &str, change: &str, news: &WebhookNews) -> PushNotification {
    PushNotification {
        id: id.to_owned(),
        title: news.title.clone(),
        body: news.text.chars().take(300).collect(),
        url: news.url.clone(),
        tag: change.to_owned(),
    }
}

/// Queues a test notification to one of the person's browsers.
pub async fn send_test(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: PushSubscriptionId,
) -> AppResult<String> {
    let browser = find(core, actor, id).await?;
    let tenant = core.tenant(browser.tenant).await?;
    let tr = Tr::new(tenant.default_language, tenant.time_zone.to_string());
    let now = core.clock.now();
    let news = WebhookNews {
        event: "test".into(),
        occurred_date_time: now,
        title: tr.t("contacts-test-subject"),
        text: tr.ta("contacts-test-intro", &[("name", tenant.name.clone())]),
        url: None,
        data: json!({}),
    };
    let change = format!("test:{}", uuid::Uuid::now_v7().simple());
    let d = delivery(core, &browser, &change, &news, now);
    let id = d.id.clone();
    core.store.queue_deliveries(&[d], now).await?;
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(browser.tenant),
        now,
        super::contacts::TEST_SENT,
    )
    .ip(ip)
    .item(browser.id.to_string());
    core.store.append_audit(vec![record]).await?;
    Ok(id)
}
