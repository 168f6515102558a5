//! A tenant's notification contacts: who is emailed, in which language, about what. Only
//! Global Administrators manage them; each change is audited in the tenant's log. A test
//! email goes through the same queue and mail transport as real news.

use std::collections::BTreeSet;

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::email::OutboundEmail;
use candor_domain::health::{Contact, ContactId, Realm, Topic};
use candor_domain::identity::{authorize, Action, Actor, EmailAddress};
use candor_domain::language::Language;
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{found, AppError, AppResult};
use crate::i18n::Tr;
use crate::ids::NO_SUCH_CONTACT;

pub const CONTACT_ADDED: &str = "Add-NotificationContact";
pub const CONTACT_REMOVED: &str = "Remove-NotificationContact";
pub const TEST_SENT: &str = "Send-TestNotification";
pub const CONTACT_CHANGED: &str = "Set-NotificationContact";

/// What may change about a contact (its address is who it is: a new address is a new
/// contact). Absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ContactChange {
    pub language: Option<Language>,
    pub topics: Option<BTreeSet<Topic>>,
    pub services: Option<Vec<String>>,
}

/// A contact as typed in a form or an API body.
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub email: String,
    pub language: Language,
    pub topics: BTreeSet<Topic>,
    /// Service ids or display names; none means every service.
    pub services: Vec<String>,
}

pub async fn add(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    input: ContactInput,
) -> AppResult<Contact> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    let email = EmailAddress::parse(&input.email)?;
    let language = input.language;
    let subscription = super::webhooks::subscription(core, input.topics, &input.services).await?;
    let now = core.clock.now();
    let contact = Contact {
        id: ContactId::generate(),
        tenant,
        email,
        language,
        subscription,
        created_at: now,
    };
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, CONTACT_ADDED)
        .ip(ip)
        .item(contact.email.to_string())
        .details(super::webhooks::audited(
            ("Language", contact.language.tag()),
            &contact.subscription,
        ));
    core.store.add_contact(&contact, vec![record]).await?;
    Ok(contact)
}

pub async fn list(core: &Core, actor: &Actor, tenant: TenantId) -> AppResult<Vec<Contact>> {
    authorize(actor, Action::ManageNotifications(tenant))?;
    Ok(core.store.list_contacts(tenant).await?)
}

/// The tenant's contact `id`, for someone who may manage the tenant's settings.
async fn managed(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    id: ContactId,
) -> AppResult<Contact> {
    let mut contacts = list(core, actor, tenant).await?.into_iter();
    contacts
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::NotFound(NO_SUCH_CONTACT.into()))
}

/// Changes a contact's language or subscription, checked as a new one is.
pub async fn change(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: ContactId,
    change: ContactChange,
) -> AppResult<Contact> {
    let before = managed(core, actor, tenant, id).await?;
    let subscription = super::webhooks::changed_subscription(
        core,
        &before.subscription,
        change.topics,
        change.services,
    )
    .await?;
    let contact = Contact {
        language: change.language.unwrap_or(before.language),
        subscription,
        ..before
    };
    let record = core
        .tenant_record(actor, tenant, CONTACT_CHANGED, ip)
        .item(contact.email.to_string())
        .details(super::webhooks::audited(
            ("Language", contact.language.tag()),
            &contact.subscription,
        ));
    found(
        core.store.save_contact(&contact, vec![record]).await?,
        NO_SUCH_CONTACT,
    )?;
    Ok(contact)
}

pub async fn remove(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: ContactId,
) -> AppResult<()> {
    let email = managed(core, actor, tenant, id).await?.email;
    let record = core.tenant_record(actor, tenant, CONTACT_REMOVED, ip);
    let removed = core
        .store
        .delete_contact(tenant, id, vec![record.item(email.to_string())]);
    found(removed.await?, NO_SUCH_CONTACT)
}

/// The test email for a contact, in its language, saying what it will receive.
pub fn test_email(
    tr: &Tr,
    contact: &Contact,
    tenant_name: &str,
    service_names: &[String],
) -> OutboundEmail {
    let topics: Vec<String> = contact
        .subscription
        .topics
        .iter()
        .map(|t| tr.t(&format!("contacts-topic-{}", t.as_str())))
        .collect();
    let services = if service_names.is_empty() {
        tr.t("contacts-all-services")
    } else {
        service_names.join(", ")
    };
    let body = [
        tr.ta("contacts-test-intro", &[("name", tenant_name.to_owned())]),
        String::new(),
        format!("{}: {}", tr.t("contacts-topics"), topics.join(", ")),
        format!("{}: {}", tr.t("contacts-services"), services),
        String::new(),
        tr.t("contacts-test-outro"),
    ]
    .join("\n");
    OutboundEmail {
        to: contact.email.to_string(),
        subject: tr.t("contacts-test-subject"),
        body,
        kind: "notify.test".into(),
        tenant: Some(contact.tenant),
        delivery_id: None,
        unsubscribe: None,
        html: None,
    }
}

/// Queues a test email to one contact.
pub async fn send_test(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    id: ContactId,
) -> AppResult<Contact> {
    let contact = managed(core, actor, tenant, id).await?;
    let tenant_row = core.tenant(tenant).await?;
    let catalog = core.store.list_services().await?;
    let names: Vec<String> = contact
        .subscription
        .services
        .iter()
        .map(|s| {
            catalog
                .iter()
                .find(|c| &c.id == s)
                .map(|c| c.display_name.clone())
                .unwrap_or_else(|| s.to_string())
        })
        .collect();
    let tr = Tr::new(contact.language, tenant_row.time_zone.to_string());
    let mut email = test_email(&tr, &contact, &tenant_row.name, &names);
    let now = core.clock.now();
    let change = format!("test:{}", uuid::Uuid::now_v7().simple());
    email.html = Some(super::notify::news_html(&email, &tr)?);
    let delivery = super::notify::email_delivery(
        core,
        tenant,
        &change,
        &contact.id.to_string(),
        Realm::Tenant,
        email,
        now,
    )?;
    core.store.queue_deliveries(&[delivery], now).await?;
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, TEST_SENT)
        .ip(ip)
        .item(contact.email.to_string());
    core.store.append_audit(vec![record]).await?;
    Ok(contact)
}

/// What an unsubscribe link's key is derived for: links already sent must keep working,
/// so this never changes.
const UNSUBSCRIBE_LINKS: &[u8] = b"candor unsubscribe links v1";

/// The token in a contact's unsubscribe link: who it is, and proof Candor made it.
pub fn unsubscribe_token(core: &Core, tenant: TenantId, contact: ContactId) -> String {
    let subject = format!("{}.{}", tenant.0.simple(), contact.0.simple());
    crate::secrets::signed_link(&core.keys, UNSUBSCRIBE_LINKS, &subject)
}

/// The one-click unsubscribe URL for a contact (none without a public URL).
pub fn unsubscribe_url(
    core: &Core,
    base_url: &str,
    tenant: TenantId,
    contact: ContactId,
) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    (!base.is_empty()).then(|| {
        format!(
            "{base}/unsubscribe/{}",
            unsubscribe_token(core, tenant, contact)
        )
    })
}

/// The contact an unsubscribe token names, if the token is Candor's and the contact is
/// still there.
pub async fn contact_of_token(core: &Core, token: &str) -> AppResult<Contact> {
    let missing = || AppError::NotFound("this unsubscribe link is not valid (any more)".into());
    let subject =
        crate::secrets::link_subject(&core.keys, UNSUBSCRIBE_LINKS, token).ok_or_else(missing)?;
    let (t, c) = subject.split_once('.').ok_or_else(missing)?;
    let tenant = uuid::Uuid::parse_str(t)
        .map(TenantId)
        .map_err(|_| missing())?;
    let contact = uuid::Uuid::parse_str(c)
        .map(ContactId)
        .map_err(|_| missing())?;
    core.store
        .list_contacts(tenant)
        .await?
        .into_iter()
        .find(|x| x.id == contact)
        .ok_or_else(missing)
}

/// The person behind an unsubscribe link takes themselves off the list.
pub async fn unsubscribe(core: &Core, token: &str, ip: Option<String>) -> AppResult<Contact> {
    let contact = contact_of_token(core, token).await?;
    let record = NewAuditRecord::new(
        AuditChain::Tenant(contact.tenant),
        core.clock.now(),
        contact.email.to_string(),
        candor_domain::audit::ActorKind::Anonymous,
        CONTACT_REMOVED,
    )
    .ip(ip)
    .item(contact.email.to_string())
    .details(json!({"Via": "unsubscribe link"}));
    core.store
        .delete_contact(contact.tenant, contact.id, vec![record])
        .await?;
    Ok(contact)
}
