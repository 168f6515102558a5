//! Push notifications to the installable portal and console: a tenant user's browser
//! subscribes (with the keys its push service gave it) and receives each piece of news
//! its user may read; an operator's browser receives what Candor chases operators for
//! (an overdue update). A browser can be sent a test or removed. Only the person who
//! subscribed a browser sees and removes it; each change is audited.

use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{
    BrowserOwner, Channel, NewDelivery, PushSubscription, PushSubscriptionId, Subscription, Topic,
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

/// Whose browsers `actor` sees and registers: a tenant user's own, or an operator's
/// own (a person at the provider, not a machine client).
async fn owner_of(core: &Core, actor: &Actor) -> AppResult<BrowserOwner> {
    match actor {
        Actor::TenantUser {
            tenant_id, user_id, ..
        } => Ok(BrowserOwner::TenantUser {
            tenant: *tenant_id,
            user: *user_id,
        }),
        Actor::Operator { operator_id, .. }
            if core
                .store
                .get_operator(*operator_id)
                .await?
                .is_some_and(|o| !o.disabled) =>
        {
            Ok(BrowserOwner::Operator(*operator_id))
        }
        _ => Err(AppError::Forbidden(candor_domain::identity::Denied {
            reason: candor_domain::identity::DenyReason::WrongRealm,
            message: "push notifications are for people signed in to the portal or the console"
                .into(),
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
    let owner = owner_of(core, actor).await?;
    let subscription = match owner {
        BrowserOwner::TenantUser { tenant, .. } => {
            let topics = readable_topics(actor, tenant);
            if topics.topics.is_empty() {
                authorize(actor, Action::ReadServiceHealth(tenant))?;
            }
            topics
        }
        // What operators are chased for is not a tenant's topic.
        BrowserOwner::Operator(_) => Subscription::nothing(),
    };
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
    if core.store.list_push_subscriptions(owner).await?.len() >= MAX_BROWSERS {
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
        owner,
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
    let record = NewAuditRecord::by(actor, owner.chain(), now, PUSH_SUBSCRIBED)
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
    let owner = owner_of(core, actor).await?;
    Ok(core.store.list_push_subscriptions(owner).await?)
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
    let record = NewAuditRecord::by(actor, browser.owner.chain(), core.clock.now(), PUSH_REMOVED)
        .ip(ip)
        .item(browser.id.to_string());
    if core
        .store
        .delete_push_subscription(browser.owner, browser.id, vec![record])
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
        browser.owner.tenant(),
        change,
        Channel::Push,
        &browser.id.to_string(),
        format!("{} ({host})", browser.label),
        json!(null),
        now,
    );
    d.realm = browser.owner.realm();
    d.max_attempts = core.delivery_attempts;
    d.payload = super::notify::RecipientParts {
        subscription: Some(browser.id),
        ..Default::default()
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
    let (tr, name) = match browser.owner {
        BrowserOwner::TenantUser { tenant, .. } => {
            let tenant = core.tenant(tenant).await?;
            (
                Tr::new(tenant.default_language, tenant.time_zone.to_string()),
                tenant.name,
            )
        }
        BrowserOwner::Operator(operator) => {
            let language = core
                .store
                .get_operator(operator)
                .await?
                .and_then(|o| o.language)
                .unwrap_or(candor_domain::language::Language::English);
            (Tr::new(language, "UTC"), "Candor".to_owned())
        }
    };
    let now = core.clock.now();
    let news = WebhookNews {
        event: "test".into(),
        occurred_date_time: now,
        title: tr.t("contacts-test-subject"),
        text: tr.ta("contacts-test-intro", &[("name", name)]),
        url: None,
        data: json!({}),
    };
    let change = format!("test:{}", uuid::Uuid::now_v7().simple());
    let d = delivery(core, &browser, &change, &news, now);
    let id = d.id.clone();
    core.store.queue_deliveries(&[d], now).await?;
    let record = NewAuditRecord::by(
        actor,
        browser.owner.chain(),
        now,
        super::contacts::TEST_SENT,
    )
    .ip(ip)
    .item(browser.id.to_string());
    core.store.append_audit(vec![record]).await?;
    Ok(id)
}
