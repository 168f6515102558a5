//! People who ask for news by email themselves: anyone, from the public status page, and
//! those a tenant's Global Administrator invites to its news. Both confirm from an email
//! before anything is sent to them (double opt-in); a public subscriber then manages or
//! ends the subscription from a link in every email, and operators see how many hear
//! about each service, remove an address and export the list.
//!
//! The form answers the same whether an address is new, waiting or subscribed already,
//! and whether its email was sent or held back by a limit: it must not tell anyone who
//! is subscribed.

use std::collections::BTreeMap;

use candor_domain::audit::{ActorKind, AuditChain, NewAuditRecord};
use candor_domain::email::OutboundEmail;
use candor_domain::health::subscriber::{
    public_subscription, Subscriber, SubscriberId, SubscriptionRequest, Verdict,
    CONFIRMATION_VALID, LIMIT_WINDOW,
};
use candor_domain::health::{
    Channel, Contact, ContactId, NewDelivery, Realm, ServiceId, Topic, OPERATOR_REALM_TENANT,
};
use candor_domain::identity::{authorize, Action, Actor, EmailAddress, InvalidValue};
use candor_domain::language::Language;
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::secrets::{random_token, sha256_hex};

pub const SUBSCRIBER_ADDED: &str = "Add-StatusSubscriber";
pub const SUBSCRIBER_CHANGED: &str = "Set-StatusSubscriber";
pub const SUBSCRIBER_REMOVED: &str = "Remove-StatusSubscriber";
pub const INVITATION_SENT: &str = "New-NotificationInvitation";

/// Invitations one tenant may send an hour.
pub const INVITATIONS_PER_HOUR: u32 = 50;

/// What the subscribe form sent.
#[derive(Debug, Clone, Default)]
pub struct SubscribeInput {
    pub email: String,
    pub language: Language,
    /// None: every kind of news the public page gives.
    pub topics: Vec<Topic>,
    /// Service ids or display names; none means every service.
    pub services: Vec<String>,
}

/// The confirmation email's link.
fn confirm_url(base_url: &str, token: &str) -> String {
    format!(
        "{}/status/subscribe/confirm/{token}",
        base_url.trim_end_matches('/')
    )
}

fn no_base(base_url: &str) -> AppResult<()> {
    if base_url.trim().is_empty() {
        return Err(AppError::Refused(
            "Candor has no public URL configured, so it cannot send a link to confirm with".into(),
        ));
    }
    Ok(())
}

fn confirmation_email(
    tr: &Tr,
    to: &EmailAddress,
    link: &str,
    invited_by: Option<&str>,
) -> OutboundEmail {
    let (subject, intro) = match invited_by {
        None => (
            tr.t("subscribe-email-subject"),
            tr.t("subscribe-email-intro"),
        ),
        Some(tenant) => (
            tr.t1("invite-email-subject", "name", tenant),
            tr.t1("invite-email-intro", "name", tenant),
        ),
    };
    let body = [
        intro,
        String::new(),
        link.to_owned(),
        String::new(),
        tr.t("subscribe-email-expiry"),
        String::new(),
        tr.t("subscribe-email-ignore"),
    ]
    .join("\n");
    OutboundEmail {
        to: to.to_string(),
        subject,
        body,
        kind: "subscription.confirm".into(),
        tenant: None,
        delivery_id: None,
        unsubscribe: None,
        html: None,
    }
}

/// Someone asks, from the public page, for its news at an address. Unless a limit holds
/// it back, the address is emailed a link to confirm with; nothing else is sent to it
/// until it is confirmed.
pub async fn request(
    core: &Core,
    base_url: &str,
    input: SubscribeInput,
    ip: Option<String>,
) -> AppResult<()> {
    no_base(base_url)?;
    let email = EmailAddress::parse(&input.email)?;
    let subscription = public_subscription(
        &input.topics,
        super::webhooks::service_ids(core, &input.services).await?,
    )?;
    let now = core.clock.now();
    let requested_by = ip.unwrap_or_else(|| "unknown".to_owned());
    let recent = core
        .store
        .recent_subscription_requests(&requested_by, &email, now - LIMIT_WINDOW)
        .await?;
    match core.subscribe_limits.judge(recent) {
        Verdict::TooManyFromIp => {
            return Err(AppError::TooMany {
                message: "too many addresses were asked for from your network address in the last hour; try again later".into(),
                retry_after_secs: LIMIT_WINDOW.whole_seconds().unsigned_abs(),
            })
        }
        Verdict::Quiet => return Ok(()),
        Verdict::Send => {}
    }
    let token = random_token();
    let request = SubscriptionRequest {
        id: SubscriberId::generate(),
        token_hash: sha256_hex(&token),
        email,
        tenant: None,
        language: input.language,
        subscription,
        requested_by,
        requested_at: now,
    };
    let tr = Tr::new(input.language, "UTC");
    let mail = confirmation_email(&tr, &request.email, &confirm_url(base_url, &token), None);
    let delivery = confirmation_delivery(core, &request, Realm::Public, mail)?;
    core.store
        .request_subscription(&request, &delivery, vec![])
        .await?;
    Ok(())
}

fn confirmation_delivery(
    core: &Core,
    request: &SubscriptionRequest,
    realm: Realm,
    mail: OutboundEmail,
) -> AppResult<NewDelivery> {
    super::notify::email_delivery(
        core,
        request.tenant.unwrap_or(OPERATOR_REALM_TENANT),
        &format!("subscription:{}", request.id),
        request.email.as_ref(),
        realm,
        mail,
        request.requested_at,
    )
}

/// A Global Administrator invites someone to the tenant's news: they become one of its
/// contacts when they confirm from the email, not before.
pub async fn invite(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    base_url: &str,
    tenant: TenantId,
    input: super::contacts::ContactInput,
) -> AppResult<EmailAddress> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    no_base(base_url)?;
    let email = EmailAddress::parse(&input.email)?;
    let subscription = super::webhooks::subscription(core, input.topics, &input.services).await?;
    if core
        .store
        .list_contacts(tenant)
        .await?
        .iter()
        .any(|c| c.email == email)
    {
        return Err(AppError::Conflict(
            candor_domain::store::Conflict::ContactExists(email.to_string()),
        ));
    }
    let now = core.clock.now();
    let requested_by = format!("tenant:{tenant}");
    let recent = core
        .store
        .recent_subscription_requests(&requested_by, &email, now - LIMIT_WINDOW)
        .await?;
    if recent.unconfirmed_from_ip >= INVITATIONS_PER_HOUR {
        return Err(AppError::TooMany {
            message: format!(
                "your organization sent {INVITATIONS_PER_HOUR} invitations in the last hour; try again later"
            ),
            retry_after_secs: LIMIT_WINDOW.whole_seconds().unsigned_abs(),
        });
    }
    if recent.for_address >= core.subscribe_limits.emails_per_address {
        return Err(AppError::Refused(format!(
            "{email} was sent {} invitations in the last hour already; ask them to look for those",
            recent.for_address
        )));
    }
    let tenant_row = core.tenant(tenant).await?;
    let token = random_token();
    let request = SubscriptionRequest {
        id: SubscriberId::generate(),
        token_hash: sha256_hex(&token),
        email: email.clone(),
        tenant: Some(tenant),
        language: input.language,
        subscription,
        requested_by,
        requested_at: now,
    };
    let tr = Tr::new(input.language, tenant_row.time_zone.to_string());
    let mut mail = confirmation_email(
        &tr,
        &email,
        &confirm_url(base_url, &token),
        Some(&tenant_row.name),
    );
    mail.tenant = Some(tenant);
    let delivery = confirmation_delivery(core, &request, Realm::Tenant, mail)?;
    let record = core
        .tenant_record(actor, tenant, INVITATION_SENT, ip)
        .item(email.to_string());
    core.store
        .request_subscription(&request, &delivery, vec![record])
        .await?;
    Ok(email)
}

fn link_gone() -> AppError {
    AppError::NotFound(
        "this confirmation link is not valid: it was used already, or it is more than 24 hours old; ask again for a new one".into(),
    )
}

/// The request a confirmation link stands for, while it may still be confirmed.
pub async fn pending(core: &Core, token: &str) -> AppResult<SubscriptionRequest> {
    let request = core
        .store
        .subscription_request(&sha256_hex(token.trim()))
        .await?
        .ok_or_else(link_gone)?;
    if request.is_expired(core.clock.now()) {
        return Err(link_gone());
    }
    Ok(request)
}

/// What a confirmed link made.
#[derive(Debug, Clone)]
pub enum Confirmed {
    /// A public subscriber (new, or one whose choices the request changed).
    Public(Subscriber),
    /// A tenant's new contact, with the tenant's name.
    Contact(Contact, String),
}

impl Confirmed {
    pub fn language(&self) -> Language {
        match self {
            Confirmed::Public(s) => s.language,
            Confirmed::Contact(c, _) => c.language,
        }
    }
}

/// The owner of an address confirms from the link Candor emailed it.
pub async fn confirm(core: &Core, token: &str, ip: Option<String>) -> AppResult<Confirmed> {
    let request = pending(core, token).await?;
    let now = core.clock.now();
    match request.tenant {
        None => {
            let subscriber = Subscriber {
                id: SubscriberId::generate(),
                email: request.email.clone(),
                language: request.language,
                subscription: request.subscription.clone(),
                confirmed_at: now,
            };
            let record = NewAuditRecord::new(
                AuditChain::Operator,
                now,
                request.email.to_string(),
                ActorKind::Anonymous,
                SUBSCRIBER_ADDED,
            )
            .ip(ip)
            .item(request.email.to_string())
            .details(json!({"Via": "confirmation link", "Subscription": request.subscription}));
            let stored = core
                .store
                .confirm_subscriber(request.id, &subscriber, vec![record])
                .await?
                .ok_or_else(link_gone)?;
            Ok(Confirmed::Public(stored))
        }
        Some(tenant) => {
            let contact = Contact {
                id: ContactId::generate(),
                tenant,
                email: request.email.clone(),
                language: request.language,
                subscription: request.subscription.clone(),
                created_at: now,
            };
            let record = NewAuditRecord::new(
                AuditChain::Tenant(tenant),
                now,
                request.email.to_string(),
                ActorKind::Anonymous,
                super::contacts::CONTACT_ADDED,
            )
            .ip(ip)
            .item(request.email.to_string())
            .details(json!({"Via": "invitation accepted"}));
            if !core
                .store
                .confirm_invitation(request.id, &contact, vec![record])
                .await?
            {
                return Err(link_gone());
            }
            let name = core.tenant(tenant).await?.name;
            Ok(Confirmed::Contact(contact, name))
        }
    }
}

/// What a subscriber link's key is derived for.
const SUBSCRIBER_LINKS: &[u8] = b"candor subscriber links v1";

/// The token in a subscriber's links: who it is, and proof Candor made it.
pub fn link_token(core: &Core, id: SubscriberId) -> String {
    crate::secrets::signed_link(&core.keys, SUBSCRIBER_LINKS, &id.0.simple().to_string())
}

/// Where a subscriber changes what it receives.
pub fn manage_url(core: &Core, base_url: &str, id: SubscriberId) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}/status/subscription/{}", link_token(core, id)))
}

/// The one-click unsubscribe URL (RFC 8058) of a subscriber.
pub fn unsubscribe_url(core: &Core, base_url: &str, id: SubscriberId) -> Option<String> {
    manage_url(core, base_url, id).map(|u| format!("{u}/unsubscribe"))
}

/// The subscriber a link names, if the link is Candor's and the subscriber still there.
pub async fn of_token(core: &Core, token: &str) -> AppResult<Subscriber> {
    let missing = || AppError::NotFound("this subscription link is not valid (any more)".into());
    let subject =
        crate::secrets::link_subject(&core.keys, SUBSCRIBER_LINKS, token).ok_or_else(missing)?;
    let id = uuid::Uuid::parse_str(subject)
        .map(SubscriberId)
        .map_err(|_| missing())?;
    core.store.get_subscriber(id).await?.ok_or_else(missing)
}

/// A subscriber's new choices, from its manage page.
#[derive(Debug, Clone, Default)]
pub struct SubscriberChange {
    pub language: Language,
    pub topics: Vec<Topic>,
    pub services: Vec<String>,
}

/// A subscriber changes its language, topics or services from its link.
pub async fn change(
    core: &Core,
    token: &str,
    change: SubscriberChange,
    ip: Option<String>,
) -> AppResult<Subscriber> {
    let mut subscriber = of_token(core, token).await?;
    subscriber.subscription = public_subscription(
        &change.topics,
        super::webhooks::service_ids(core, &change.services).await?,
    )?;
    subscriber.language = change.language;
    let record = NewAuditRecord::new(
        AuditChain::Operator,
        core.clock.now(),
        subscriber.email.to_string(),
        ActorKind::Anonymous,
        SUBSCRIBER_CHANGED,
    )
    .ip(ip)
    .item(subscriber.email.to_string())
    .details(
        json!({"Subscription": subscriber.subscription, "Language": subscriber.language.tag()}),
    );
    if !core
        .store
        .save_subscriber(&subscriber, vec![record])
        .await?
    {
        return Err(AppError::NotFound(
            "this subscription no longer exists".into(),
        ));
    }
    Ok(subscriber)
}

/// A subscriber ends its subscription from its link (one click, RFC 8058).
pub async fn unsubscribe(core: &Core, token: &str, ip: Option<String>) -> AppResult<Subscriber> {
    let subscriber = of_token(core, token).await?;
    let record = NewAuditRecord::new(
        AuditChain::Operator,
        core.clock.now(),
        subscriber.email.to_string(),
        ActorKind::Anonymous,
        SUBSCRIBER_REMOVED,
    )
    .ip(ip)
    .item(subscriber.email.to_string())
    .details(json!({"Via": "unsubscribe link"}));
    core.store
        .remove_subscriber(subscriber.id, vec![record])
        .await?;
    Ok(subscriber)
}

/// Subscribers read at a time when counting or exporting.
const PAGE: u32 = 1_000;

/// How many public subscribers hear about each service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberCounts {
    pub total: u64,
    /// Those who chose no service: they hear about every one.
    pub every_service: u64,
    /// Per service of the catalog (display name, id): those who hear about it, having
    /// named it or chosen every service.
    pub per_service: Vec<(String, ServiceId, u64)>,
}

/// Every subscriber, a page at a time.
async fn each_subscriber(
    core: &Core,
    mut f: impl FnMut(&Subscriber) -> AppResult<()>,
) -> AppResult<()> {
    let mut after: Option<String> = None;
    loop {
        let page = core
            .store
            .list_subscribers(None, after.as_deref(), PAGE)
            .await?;
        for s in &page {
            f(s)?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.email.to_string()),
            _ => return Ok(()),
        }
    }
}

pub async fn counts(core: &Core, actor: &Actor) -> AppResult<SubscriberCounts> {
    authorize(actor, Action::PublishServiceHealth)?;
    let mut named: BTreeMap<ServiceId, u64> = BTreeMap::new();
    let mut counts = SubscriberCounts::default();
    each_subscriber(core, |s| {
        counts.total += 1;
        if s.subscription.services.is_empty() {
            counts.every_service += 1;
        }
        for service in &s.subscription.services {
            *named.entry(service.clone()).or_default() += 1;
        }
        Ok(())
    })
    .await?;
    counts.per_service = core
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|s| {
            let n = named.get(&s.id).copied().unwrap_or(0) + counts.every_service;
            (s.display_name, s.id, n)
        })
        .collect();
    Ok(counts)
}

/// Subscribers by address, for the console and the operator API.
pub async fn list(
    core: &Core,
    actor: &Actor,
    containing: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> AppResult<Vec<Subscriber>> {
    authorize(actor, Action::PublishServiceHealth)?;
    if !(1..=1000).contains(&limit) {
        return Err(InvalidValue::new("limit", "must be between 1 and 1000").into());
    }
    Ok(core
        .store
        .list_subscribers(containing.filter(|c| !c.trim().is_empty()), after, limit)
        .await?)
}

/// An operator takes an address off the list.
pub async fn remove(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: SubscriberId,
) -> AppResult<Subscriber> {
    authorize(actor, Action::PublishServiceHealth)?;
    let subscriber = core
        .store
        .get_subscriber(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no subscriber {id}")))?;
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        SUBSCRIBER_REMOVED,
    )
    .ip(ip)
    .item(subscriber.email.to_string());
    if !core.store.remove_subscriber(id, vec![record]).await? {
        return Err(AppError::NotFound(format!("no subscriber {id}")));
    }
    Ok(subscriber)
}

/// Every subscriber as CSV: address, language, topics, services, when confirmed.
pub async fn export_csv(core: &Core, actor: &Actor) -> AppResult<Vec<u8>> {
    authorize(actor, Action::PublishServiceHealth)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "email",
        "language",
        "topics",
        "services",
        "confirmedDateTime",
    ];
    w.write_record(header).map_err(AppError::internal)?;
    each_subscriber(core, |s| {
        let join = |items: Vec<&str>| items.join(" ");
        w.write_record([
            s.email.to_string(),
            s.language.tag().to_owned(),
            join(s.subscription.topics.iter().map(|t| t.as_str()).collect()),
            join(s.subscription.services.iter().map(|x| x.as_str()).collect()),
            candor_domain::time_util::rfc3339(s.confirmed_at),
        ])
        .map_err(AppError::internal)
    })
    .await?;
    w.into_inner().map_err(AppError::internal)
}

/// Removes confirmation requests whose links no longer work.
pub async fn purge_expired(core: &Core) -> AppResult<u64> {
    Ok(core
        .store
        .purge_subscription_requests(core.clock.now() - CONFIRMATION_VALID)
        .await?)
}

/// The queued email of one subscriber about `change`: the news, its own links.
pub(crate) fn news_delivery(
    core: &Core,
    subscriber: &Subscriber,
    change: &str,
    base_url: &str,
    news: &str,
    now: time::OffsetDateTime,
) -> NewDelivery {
    let mut d = NewDelivery::new(
        OPERATOR_REALM_TENANT,
        change,
        Channel::Email,
        &format!("subscriber:{}", subscriber.id),
        subscriber.email.to_string(),
        super::notify::RecipientParts {
            unsubscribe: unsubscribe_url(core, base_url, subscriber.id),
            manage: manage_url(core, base_url, subscriber.id),
            subscription: None,
        }
        .stored(),
        now,
    );
    d.realm = Realm::Public;
    d.news = Some(news.to_owned());
    d.max_attempts = core.delivery_attempts;
    d
}
