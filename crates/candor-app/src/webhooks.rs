//! A tenant's webhook endpoints: where news is posted (Candor's JSON, Slack or Teams),
//! signed with a per-endpoint secret that is shown once and can be rotated (the old one
//! keeps signing for a grace period). Only Global Administrators manage them; each change
//! is audited. An endpoint that keeps failing is disabled and the tenant's Global
//! Administrators are told by email.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use candor_delivery::webhook::{resolve, WebhookError};
use candor_domain::audit::{ActorKind, AuditChain, NewAuditRecord};
use candor_domain::email::OutboundEmail;
use candor_domain::health::{
    Channel, NewDelivery, Realm, ServiceId, Subscription, Topic, WebhookEndpoint,
    WebhookEndpointId, WebhookFormat,
};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue, TenantRole};
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{found, AppError, AppResult};
use crate::i18n::Tr;
use crate::ids::NO_SUCH_WEBHOOK;
use crate::secrets::random_token;

pub const WEBHOOK_ADDED: &str = "Add-WebhookEndpoint";
pub const WEBHOOK_REMOVED: &str = "Remove-WebhookEndpoint";
pub const WEBHOOK_ROTATED: &str = "Set-WebhookSecret";
pub const WEBHOOK_ENABLED: &str = "Enable-WebhookEndpoint";
pub const WEBHOOK_DISABLED: &str = "Disable-WebhookEndpoint";
pub const WEBHOOK_CHANGED: &str = "Set-WebhookEndpoint";

/// What may change about an endpoint (its URL is where it is: a new URL is a new
/// endpoint, with a new secret). Absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub format: Option<WebhookFormat>,
    pub topics: Option<BTreeSet<Topic>>,
    pub services: Option<Vec<String>>,
}
/// Endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 20;

/// An endpoint as typed in a form or an API body.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub url: String,
    /// Default Candor's own.
    pub format: Option<WebhookFormat>,
    pub topics: BTreeSet<Topic>,
    /// Service ids or display names; none means every service.
    pub services: Vec<String>,
}

/// An endpoint and its secret, which is shown only now.
pub struct WithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

fn new_secret() -> String {
    format!("whsec_{}", random_token())
}

/// Checks a webhook URL the way delivery will: https, a host, no credentials, and (unless
/// allowed) only public addresses.
pub async fn check_url(core: &Core, url: &str) -> AppResult<String> {
    let url = url.trim();
    if url.is_empty() || url.len() > 2000 {
        return Err(AppError::Invalid(InvalidValue::new(
            "url",
            "give the endpoint's URL (https://…, at most 2,000 characters)",
        )));
    }
    let allow_private = core.allow_private_webhooks.load(Ordering::Relaxed);
    match resolve(url, allow_private).await {
        Ok((parsed, _, _)) => Ok(parsed.to_string()),
        Err(WebhookError::Permanent(m)) | Err(WebhookError::Retry(m)) => {
            Err(AppError::Invalid(InvalidValue::new("url", m)))
        }
    }
}

/// The subscription a form or body asks for: topics, and services from the catalog.
/// A channel's subscription as its audit record shows it, after the channel's own
/// setting (`first`: a contact's language, an endpoint's format).
pub(crate) fn audited(first: (&str, &str), s: &Subscription) -> serde_json::Value {
    let topics: Vec<&str> = s.topics.iter().map(|t| t.as_str()).collect();
    let services: Vec<&str> = s.services.iter().map(ServiceId::as_str).collect();
    let mut details = serde_json::Map::new();
    details.insert(first.0.to_owned(), first.1.into());
    details.insert("Topics".into(), topics.into());
    details.insert("Services".into(), services.into());
    details.into()
}

pub async fn subscription(
    core: &Core,
    topics: BTreeSet<Topic>,
    services: &[String],
) -> AppResult<Subscription> {
    let subscription = Subscription {
        topics,
        services: service_ids(core, services).await?,
    };
    subscription.check()?;
    Ok(subscription)
}

/// The services named (by id or display name, case aside), checked against the catalog.
pub(crate) async fn service_ids(
    core: &Core,
    services: &[String],
) -> AppResult<BTreeSet<ServiceId>> {
    let catalog = core.store.list_services().await?;
    let mut chosen = BTreeSet::new();
    for s in services.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let found = catalog
            .iter()
            .find(|c| {
                c.id.as_str().eq_ignore_ascii_case(s) || c.display_name.eq_ignore_ascii_case(s)
            })
            .ok_or_else(|| {
                AppError::Invalid(InvalidValue::new(
                    "services",
                    format!(
                        "`{}` is not a service in the catalog",
                        s.chars().take(60).collect::<String>()
                    ),
                ))
            })?;
        chosen.insert(found.id.clone());
    }
    Ok(chosen)
}

/// A subscription changed where asked (`None`: as it was), checked as a new one is.
pub(crate) async fn changed_subscription(
    core: &Core,
    before: &Subscription,
    topics: Option<BTreeSet<Topic>>,
    services: Option<Vec<String>>,
) -> AppResult<Subscription> {
    let services =
        services.unwrap_or_else(|| before.services.iter().map(|s| s.to_string()).collect());
    let topics = topics.unwrap_or_else(|| before.topics.clone());
    subscription(core, topics, &services).await
}

pub async fn add(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    input: WebhookInput,
) -> AppResult<WithSecret> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    let format = input.format.unwrap_or(WebhookFormat::Candor);
    let subscription = subscription(core, input.topics, &input.services).await?;
    let url = check_url(core, &input.url).await?;
    if core.store.list_webhooks(tenant).await?.len() >= MAX_ENDPOINTS {
        return Err(AppError::Invalid(InvalidValue::new(
            "url",
            format!("an organization may have at most {MAX_ENDPOINTS} webhook endpoints; remove one first"),
        )));
    }
    let now = core.clock.now();
    let secret = new_secret();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant,
        url,
        format,
        secret: secret.clone(),
        previous_secret: None,
        previous_until: None,
        subscription,
        enabled: true,
        failures: 0,
        disabled_reason: None,
        created_at: now,
    };
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, WEBHOOK_ADDED)
        .ip(ip)
        .item(endpoint.url.clone())
        .details(audited(
            ("Format", endpoint.format.as_str()),
            &endpoint.subscription,
        ));
    core.store.add_webhook(&endpoint, vec![record]).await?;
    Ok(WithSecret { endpoint, secret })
}

pub async fn list(core: &Core, actor: &Actor, tenant: TenantId) -> AppResult<Vec<WebhookEndpoint>> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    Ok(core.store.list_webhooks(tenant).await?)
}

/// The tenant's endpoint `id`, for someone who may manage the tenant's settings.
async fn managed(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> AppResult<WebhookEndpoint> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    match core.store.get_webhook(id).await? {
        Some(e) if e.tenant == tenant => Ok(e),
        _ => Err(AppError::NotFound(NO_SUCH_WEBHOOK.into())),
    }
}

/// Saves a changed endpoint, or says it is gone (removed meanwhile).
async fn save(core: &Core, endpoint: &WebhookEndpoint, record: NewAuditRecord) -> AppResult<()> {
    found(
        core.store.save_webhook(endpoint, vec![record]).await?,
        NO_SUCH_WEBHOOK,
    )
}

pub async fn remove(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> AppResult<()> {
    let url = managed(core, actor, tenant, id).await?.url;
    let record = core.tenant_record(actor, tenant, WEBHOOK_REMOVED, ip);
    found(
        core.store
            .delete_webhook(tenant, id, vec![record.item(url)])
            .await?,
        NO_SUCH_WEBHOOK,
    )
}

/// Gives the endpoint a new secret (returned, shown once); the old one keeps signing
/// for its grace period so receivers can switch without losing a delivery.
pub async fn rotate_secret(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> AppResult<WithSecret> {
    let endpoint = managed(core, actor, tenant, id).await?;
    let now = core.clock.now();
    let secret = new_secret();
    let rotated = endpoint.rotated(secret.clone(), now);
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, WEBHOOK_ROTATED)
        .ip(ip)
        .item(endpoint.url.clone())
        .details(json!({
            "PreviousSecretValidUntil": rotated.previous_until.map(candor_domain::time_util::rfc3339),
        }));
    save(core, &rotated, record).await?;
    Ok(WithSecret {
        endpoint: rotated,
        secret,
    })
}

/// Changes an endpoint's shape or subscription, checked as a new one is.
pub async fn change(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: WebhookEndpointId,
    change: WebhookChange,
) -> AppResult<WebhookEndpoint> {
    let before = managed(core, actor, tenant, id).await?;
    let subscription =
        changed_subscription(core, &before.subscription, change.topics, change.services).await?;
    let changed = WebhookEndpoint {
        format: change.format.unwrap_or(before.format),
        subscription,
        ..before
    };
    let record = core
        .tenant_record(actor, tenant, WEBHOOK_CHANGED, ip)
        .item(changed.url.clone())
        .details(audited(
            ("Format", changed.format.as_str()),
            &changed.subscription,
        ));
    save(core, &changed, record).await?;
    Ok(changed)
}

/// Turns a disabled endpoint back on, with a clean record of failures.
pub async fn enable(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> AppResult<WebhookEndpoint> {
    let endpoint = managed(core, actor, tenant, id).await?;
    let enabled = WebhookEndpoint {
        enabled: true,
        failures: 0,
        disabled_reason: None,
        ..endpoint
    };
    let record = core
        .tenant_record(actor, tenant, WEBHOOK_ENABLED, ip)
        .item(enabled.url.clone());
    save(core, &enabled, record).await?;
    Ok(enabled)
}

/// Queues a test delivery to one endpoint, through the same queue as real news.
pub async fn send_test(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> AppResult<String> {
    let endpoint = managed(core, actor, tenant, id).await?;
    let tenant_row = core.tenant(tenant).await?;
    let tr = Tr::new(
        tenant_row.default_language,
        tenant_row.time_zone.to_string(),
    );
    let now = core.clock.now();
    let change = format!("test:{}", uuid::Uuid::now_v7().simple());
    let news = super::notify::WebhookNews {
        event: "test".into(),
        occurred_date_time: now,
        title: tr.t("contacts-test-subject"),
        text: tr.ta("contacts-test-intro", &[("name", tenant_row.name.clone())]),
        url: None,
        data: json!({}),
    };
    let mut d = NewDelivery::new(
        tenant,
        &change,
        Channel::Webhook,
        &endpoint.id.to_string(),
        endpoint.url.clone(),
        json!(null),
        now,
    );
    d.endpoint = Some(endpoint.id);
    d.max_attempts = core.delivery_attempts;
    d.payload = serde_json::to_value(news.message(&d.id, tenant)).map_err(AppError::internal)?;
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant),
        now,
        super::contacts::TEST_SENT,
    )
    .ip(ip)
    .item(endpoint.url.clone());
    core.store.queue_deliveries(&[d.clone()], now).await?;
    core.store.append_audit(vec![record]).await?;
    Ok(d.id)
}

/// What disabling an endpoint writes with it: an email to each of the tenant's Global
/// Administrators in their language (deliveries, like any news), and the audit record.
pub async fn disabled_notice(
    core: &Core,
    endpoint: &WebhookEndpoint,
    reason: &str,
) -> AppResult<(Vec<NewDelivery>, Vec<NewAuditRecord>)> {
    let now = core.clock.now();
    let tenant = core.store.get_tenant(endpoint.tenant).await?;
    let (zone, default_language) = tenant
        .as_ref()
        .map(|t| (t.time_zone.to_string(), t.default_language))
        .unwrap_or(("UTC".into(), candor_domain::language::Language::English));
    // One notice per time it was disabled: enabled again and disabled again, it is told
    // again.
    let change = format!("webhook:{}:disabled:{}", endpoint.id, now.unix_timestamp());
    let mut notices = Vec::new();
    for user in core.store.list_users(endpoint.tenant).await? {
        if !user.roles.contains(TenantRole::GlobalAdministrator) {
            continue;
        }
        let tr = Tr::new(user.language.unwrap_or(default_language), zone.clone());
        let email = OutboundEmail {
            to: user.email.to_string(),
            subject: tr.t("webhooks-disabled-subject"),
            body: [
                tr.ta("webhooks-disabled-intro", &[("url", endpoint.url.clone())]),
                String::new(),
                format!("{}: {reason}", tr.t("webhooks-last-error")),
                String::new(),
                tr.t("webhooks-disabled-outro"),
            ]
            .join("\n"),
            kind: "notify.webhookDisabled".into(),
            tenant: Some(endpoint.tenant),
            delivery_id: None,
            unsubscribe: None,
            html: None,
        };
        notices.push(super::notify::email_delivery(
            core,
            endpoint.tenant,
            &change,
            &user.id.to_string(),
            Realm::Tenant,
            email,
            now,
        )?);
    }
    let record = NewAuditRecord::new(
        AuditChain::Tenant(endpoint.tenant),
        now,
        "system",
        ActorKind::System,
        WEBHOOK_DISABLED,
    )
    .item(endpoint.url.clone())
    .details(json!({"Reason": reason}));
    Ok((notices, vec![record]))
}
