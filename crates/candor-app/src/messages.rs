//! Message Center use cases: publishing and updating messages, who they reach, what a
//! tenant's people see, attachments, and each person's viewpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::{
    audience_components, check_attachment, check_dates, check_tags, Attachment, Audience, Category,
    ChangedMessage, ComponentId, Message, MessageChange, MessageChangeRefused, MessageId,
    MessageText, ServiceId, Severity, Viewpoint, ViewpointChange, MAX_ATTACHMENTS,
};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::language::Language;
use candor_domain::store::{ImpactPreview, NewAttachment};
use candor_domain::{TenantId, UserId};
use serde_json::json;
use time::OffsetDateTime;

use super::health::{catalog, sanitize, Catalog, PREVIEW_TENANTS};
use super::Core;
use crate::error::{AppError, AppResult};

pub const MESSAGE_CREATED: &str = "New-ServiceMessage";
pub const MESSAGE_UPDATED: &str = "Set-ServiceMessage";
/// Message numbers start here, so ids look like `MC100000`.
pub const FIRST_MESSAGE_NUMBER: i64 = 100_000;
/// All attachments of one message together.
pub const MAX_TOTAL_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;

fn invalid(field: &'static str, problem: impl Into<String>) -> AppError {
    AppError::Invalid(InvalidValue::new(field, problem))
}

fn text(field: &'static str, s: &str, max: usize) -> AppResult<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(s.to_owned())
}

fn body(field: &'static str, html: &str) -> AppResult<String> {
    let clean = sanitize(html);
    if clean.trim().is_empty() {
        return Err(invalid(field, "the message needs some text"));
    }
    if clean.len() > 128 * 1024 {
        return Err(invalid(field, "the message is longer than 128 KiB"));
    }
    Ok(clean)
}

/// A file to attach, as uploaded.
#[derive(Debug, Clone)]
pub struct AttachmentUpload {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A translation of the title and body.
#[derive(Debug, Clone, Default)]
pub struct TextInput {
    pub title: String,
    pub body_html: String,
}

#[derive(Debug, Clone)]
pub struct NewMessageInput {
    pub title: String,
    pub body_html: String,
    /// Default English.
    pub language: Option<Language>,
    pub translations: BTreeMap<Language, TextInput>,
    pub category: Category,
    /// Default normal.
    pub severity: Option<Severity>,
    /// Service ids or display names.
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub is_major_change: bool,
    pub action_required_by: Option<OffsetDateTime>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub details: BTreeMap<String, String>,
    pub audience: Audience,
    pub attachments: Vec<AttachmentUpload>,
}

/// A draft to fill in: a "stay informed" message, every other field empty or defaulted.
impl Default for NewMessageInput {
    fn default() -> Self {
        NewMessageInput {
            title: String::new(),
            body_html: String::new(),
            language: None,
            translations: BTreeMap::new(),
            category: Category::StayInformed,
            severity: None,
            services: Vec::new(),
            tags: Vec::new(),
            is_major_change: false,
            action_required_by: None,
            start: None,
            end: None,
            details: BTreeMap::new(),
            audience: Audience::default(),
            attachments: Vec::new(),
        }
    }
}

pub(crate) fn services(cat: &Catalog, names: &[String]) -> AppResult<BTreeSet<ServiceId>> {
    let mut out = BTreeSet::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let s = cat
            .find_service(n)
            .ok_or_else(|| invalid("services", format!("`{n}` is not in the catalog")))?;
        out.insert(s.id.clone());
    }
    if out.is_empty() {
        return Err(invalid("services", "name at least one service"));
    }
    Ok(out)
}

fn translations(
    original: Language,
    input: &BTreeMap<Language, TextInput>,
) -> AppResult<BTreeMap<Language, MessageText>> {
    let mut out = BTreeMap::new();
    for (&lang, t) in input {
        if lang == original || (t.title.trim().is_empty() && t.body_html.trim().is_empty()) {
            continue;
        }
        out.insert(
            lang,
            MessageText {
                title: text("translated title", &t.title, 300)?,
                body_html: body("translated body", &t.body_html)?,
            },
        );
    }
    Ok(out)
}

async fn check_audience(core: &Core, cat: &Catalog, audience: &Audience) -> AppResult<()> {
    audience.check()?;
    if let Some(r) = audience.regions.iter().find(|r| !cat.index.has_region(r)) {
        return Err(invalid("audience", format!("region {r} does not exist")));
    }
    for t in &audience.tenants {
        if core.store.get_tenant(*t).await?.is_none() {
            return Err(invalid("audience", format!("tenant {t} does not exist")));
        }
    }
    Ok(())
}

fn details(input: BTreeMap<String, String>) -> AppResult<BTreeMap<String, String>> {
    if input.len() > 20 {
        return Err(invalid("details", "at most 20 details"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let k = text("details", &k, 100)?;
        if v.chars().count() > 2000 {
            return Err(invalid(
                "details",
                format!("{k} is longer than 2000 characters"),
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn attachments(
    uploads: Vec<AttachmentUpload>,
    now: OffsetDateTime,
) -> AppResult<Vec<NewAttachment>> {
    if uploads.len() > MAX_ATTACHMENTS {
        return Err(invalid(
            "attachment",
            format!("a message has at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let total: usize = uploads.iter().map(|u| u.bytes.len()).sum();
    if total > MAX_TOTAL_ATTACHMENT_BYTES {
        return Err(invalid(
            "attachment",
            format!(
                "the attachments come to {total} bytes; together they may be at most {} MiB",
                MAX_TOTAL_ATTACHMENT_BYTES / (1024 * 1024)
            ),
        ));
    }
    let mut names = BTreeSet::new();
    uploads
        .into_iter()
        .map(|u| {
            let content_type = check_attachment(&u.name, &u.content_type, &u.bytes)?;
            let name = u.name.trim().to_owned();
            if !names.insert(name.to_lowercase()) {
                return Err(invalid(
                    "attachment",
                    format!("two attachments are named {name}"),
                ));
            }
            Ok(NewAttachment {
                meta: Attachment {
                    id: uuid::Uuid::now_v7(),
                    name,
                    content_type,
                    size: u.bytes.len() as i64,
                    last_modified: now,
                },
                content: u.bytes,
            })
        })
        .collect()
}

fn covered(cat: &Catalog, m: &Message) -> Vec<ComponentId> {
    audience_components(&m.audience, &m.services, &cat.index)
        .into_iter()
        .collect()
}

/// Who a message would reach, for the operator to see before publishing.
pub async fn preview(
    core: &Core,
    actor: &Actor,
    service_names: &[String],
    audience: &Audience,
) -> AppResult<ImpactPreview> {
    authorize(actor, Action::PublishMessages)?;
    let cat = catalog(core).await?;
    let services = services(&cat, service_names)?;
    check_audience(core, &cat, audience).await?;
    let components: Vec<ComponentId> = audience_components(audience, &services, &cat.index)
        .into_iter()
        .collect();
    let explicit: Vec<TenantId> = audience.tenants.iter().copied().collect();
    crate::placements::preview(core, &components, &explicit, PREVIEW_TENANTS).await
}

/// Publishes a message to its audience. Returns it with how many tenants it reached.
pub async fn create_message(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: NewMessageInput,
) -> AppResult<(Message, i64)> {
    authorize(actor, Action::PublishMessages)?;
    let cat = catalog(core).await?;
    let now = core.clock.now();
    let language = input.language.unwrap_or(Language::English);
    let title = text("title", &input.title, 300)?;
    let body_html = body("body", &input.body_html)?;
    let translations = translations(language, &input.translations)?;
    let category = input.category;
    let severity = input.severity.unwrap_or(Severity::Normal);
    let services = services(&cat, &input.services)?;
    let tags = check_tags(&input.tags)?;
    let start = input.start.unwrap_or(now);
    check_dates(start, input.end, input.action_required_by)?;
    let details = details(input.details)?;
    check_audience(core, &cat, &input.audience).await?;
    let new_attachments = attachments(input.attachments, now)?;
    let number = core
        .store
        .next_number("message", FIRST_MESSAGE_NUMBER)
        .await?;
    let message = Message {
        id: MessageId::new(number),
        title,
        body_html,
        language,
        translations,
        category,
        severity,
        services,
        tags,
        is_major_change: input.is_major_change,
        action_required_by: input.action_required_by,
        start,
        end: input.end,
        last_modified: now,
        details,
        audience: input.audience,
        attachments: new_attachments.iter().map(|a| a.meta.clone()).collect(),
        author: actor.audit_name(),
    };
    let components = covered(&cat, &message);
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, MESSAGE_CREATED)
        .ip(ip)
        .item(message.id.to_string())
        .details(json!({
            "title": message.title,
            "category": category.as_str(),
            "severity": severity.as_str(),
            "services": message.services,
            "audience": message.audience,
            "attachments": message.attachments.iter().map(|a| json!({"name": a.name, "size": a.size})).collect::<Vec<_>>(),
        }));
    let reached = core
        .store
        .create_message(
            &message,
            &new_attachments,
            &components,
            vec![record],
            vec![super::notify::message_fanout_job(
                &message.id,
                message.last_modified,
            )],
        )
        .await?;
    Ok((message, reached))
}

/// A change to a published message. Each change tags it "Updated message", as readers
/// expect, and a wider audience reaches more tenants (nobody is un-told).
#[derive(Debug, Clone, Default)]
pub struct UpdateMessageInput {
    pub title: Option<String>,
    pub body_html: Option<String>,
    pub translations: Option<BTreeMap<Language, TextInput>>,
    pub severity: Option<Severity>,
    pub tags: Option<Vec<String>>,
    pub action_required_by: Option<Option<OffsetDateTime>>,
    pub end: Option<Option<OffsetDateTime>>,
    pub audience: Option<Audience>,
}

pub async fn update_message(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: MessageId,
    input: UpdateMessageInput,
) -> AppResult<(Message, i64)> {
    authorize(actor, Action::PublishMessages)?;
    let old = core
        .store
        .get_message(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no message {id}")))?;
    let cat = catalog(core).await?;
    if let Some(a) = &input.audience {
        check_audience(core, &cat, a).await?;
    }
    let change = MessageChange {
        title: input
            .title
            .as_deref()
            .map(|t| text("title", t, 300))
            .transpose()?,
        body_html: input
            .body_html
            .as_deref()
            .map(|b| body("body", b))
            .transpose()?,
        translations: input
            .translations
            .as_ref()
            .map(|t| translations(old.language, t))
            .transpose()?,
        severity: input.severity,
        tags: input.tags.as_deref().map(check_tags).transpose()?,
        action_required_by: input.action_required_by,
        end: input.end,
        audience: input.audience,
    };
    let now = core.clock.now();
    let ChangedMessage {
        message: m,
        changed,
        audience_changed: widened,
    } = old.apply(change, now).map_err(|e| match e {
        MessageChangeRefused::Nothing => AppError::Refused(e.to_string()),
        MessageChangeRefused::Invalid(v) => AppError::Invalid(v),
    })?;
    let components = widened.then(|| covered(&cat, &m));
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, MESSAGE_UPDATED)
        .ip(ip)
        .item(m.id.to_string())
        .details(json!({"changed": changed}));
    let added = core
        .store
        .update_message(
            &m,
            old.last_modified,
            components.as_deref(),
            vec![record],
            // Only tenants the change newly reaches get mail: the others already have
            // this message's (deduplicated by message and contact).
            vec![super::notify::message_fanout_job(&m.id, m.last_modified)],
        )
        .await?;
    Ok((m, added))
}

/// Every message, for the operator console and API.
pub async fn list_for_operator(core: &Core, actor: &Actor, limit: u32) -> AppResult<Vec<Message>> {
    authorize(actor, Action::PublishMessages)?;
    Ok(core.store.list_messages(limit.clamp(1, 1000)).await?)
}

pub async fn get_for_operator(
    core: &Core,
    actor: &Actor,
    id: MessageId,
) -> AppResult<(Message, i64)> {
    authorize(actor, Action::PublishMessages)?;
    let m = core
        .store
        .get_message(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no message {id}")))?;
    let reach = core.store.message_reach(&id).await?;
    Ok((m, reach))
}

/// A message with the reader's own viewpoint (none for apps: a viewpoint is a person's).
#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: Message,
    pub viewpoint: Option<Viewpoint>,
}

fn person(actor: &Actor) -> Option<UserId> {
    match actor {
        Actor::TenantUser { user_id, .. } => Some(*user_id),
        _ => None,
    }
}

/// Every message that reached the tenant, each with the reader's viewpoint.
pub async fn tenant_messages(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
) -> AppResult<Vec<MessageView>> {
    authorize(actor, Action::ReadMessageCenter(tenant))?;
    let messages = core.store.tenant_messages(tenant).await?;
    let viewpoints = match person(actor) {
        Some(user) => {
            let ids: Vec<MessageId> = messages.iter().map(|m| m.id.clone()).collect();
            Some(core.store.viewpoints(user, &ids).await?)
        }
        None => None,
    };
    Ok(messages
        .into_iter()
        .map(|m| {
            let viewpoint = viewpoints
                .as_ref()
                .map(|v| v.get(&m.id).copied().unwrap_or_default());
            MessageView {
                message: m,
                viewpoint,
            }
        })
        .collect())
}

/// One message, only if it reached the tenant.
pub async fn message_for_tenant(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    id: MessageId,
) -> AppResult<MessageView> {
    authorize(actor, Action::ReadMessageCenter(tenant))?;
    let not_found = || crate::ids::no_message_for_tenant(id.as_str());
    let mid = id.clone();
    if !core.store.tenant_has_message(tenant, &mid).await? {
        return Err(not_found());
    }
    let message = core.store.get_message(&mid).await?.ok_or_else(not_found)?;
    let viewpoint = match person(actor) {
        Some(user) => Some(
            core.store
                .viewpoints(user, std::slice::from_ref(&mid))
                .await?
                .get(&mid)
                .copied()
                .unwrap_or_default(),
        ),
        None => None,
    };
    Ok(MessageView { message, viewpoint })
}

/// An attachment's bytes, only if its message reached the tenant.
pub async fn attachment_for_tenant(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    message: MessageId,
    attachment: uuid::Uuid,
) -> AppResult<(Attachment, Vec<u8>)> {
    let view = message_for_tenant(core, actor, tenant, message).await?;
    core.store
        .attachment_content(&view.message.id, attachment)
        .await?
        .ok_or_else(|| crate::ids::no_attachment(&view.message.id, &attachment.to_string()))
}

/// Every attachment of a message in one zip file.
pub async fn attachments_archive(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    message: MessageId,
) -> AppResult<(MessageId, Vec<u8>)> {
    let view = message_for_tenant(core, actor, tenant, message).await?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for a in &view.message.attachments {
        let Some((_, bytes)) = core
            .store
            .attachment_content(&view.message.id, a.id)
            .await?
        else {
            continue;
        };
        zip.start_file(a.name.as_str(), options)
            .map_err(AppError::internal)?;
        zip.write_all(&bytes).map_err(AppError::internal)?;
    }
    let bytes = zip.finish().map_err(AppError::internal)?.into_inner();
    Ok((view.message.id, bytes))
}

/// Changes the signed-in person's viewpoint on messages of their tenant. Returns false
/// (and changes nothing) when any id is not a message of the tenant, as Graph does.
pub async fn change_viewpoints(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    ids: &[String],
    change: ViewpointChange,
) -> AppResult<bool> {
    authorize(actor, Action::SetMessageViewpoint(tenant))?;
    let user = person(actor)
        .ok_or_else(|| AppError::Refused("only a signed-in person has a viewpoint".into()))?;
    if ids.is_empty() {
        return Err(invalid("messageIds", "name at least one message"));
    }
    if ids.len() > 1000 {
        return Err(invalid("messageIds", "at most 1000 messages at a time"));
    }
    let mut parsed: Vec<MessageId> = Vec::new();
    for id in ids {
        let Ok(mid) = MessageId::parse(id) else {
            return Ok(false);
        };
        if !core.store.tenant_has_message(tenant, &mid).await? {
            return Ok(false);
        }
        if !parsed.contains(&mid) {
            parsed.push(mid);
        }
    }
    core.store
        .change_viewpoints(user, &parsed, change, core.clock.now())
        .await?;
    Ok(true)
}
