//! Alert intake: incidents drafted from monitoring. A firing alert opens (or updates)
//! the draft issue of its fingerprint, with its impact preview, and the incident
//! managers are told; a resolved alert is noted on the draft. Nothing reaches a tenant
//! until an incident manager publishes the draft, with one action, as an issue they own.

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::alert::{Alert, IssueDraft};
use candor_domain::health::Issue;
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::store::{Conflict, StoreError};
use candor_domain::time_util::rfc3339;
use candor_domain::DraftId;
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::health::{NewIssueInput, PostInput};
use crate::Core;

pub const DRAFT_OPENED: &str = "New-IssueDraft";
pub const DRAFT_UPDATED: &str = "Set-IssueDraft";
pub const DRAFT_PUBLISHED: &str = "Publish-IssueDraft";
pub const NO_SUCH_DRAFT: &str = "no such draft";

/// What one alert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// A new draft, and the incident managers were told.
    Opened(DraftId),
    /// The open draft of its fingerprint, updated (fired again, or resolved).
    Updated(DraftId),
    /// A resolved alert with no open draft: nothing to note it on.
    Ignored,
}

/// Whether `actor` may send alerts: asked before a payload is read, so a caller without
/// the right is refused whatever it sent.
pub fn may_ingest(actor: &Actor) -> AppResult<()> {
    Ok(authorize(actor, Action::IngestAlerts)?)
}

/// Whether `actor` may see and publish drafts (asked before an id is read).
pub fn may_publish(actor: &Actor) -> AppResult<()> {
    Ok(authorize(actor, Action::PublishServiceHealth)?)
}

/// Takes in alerts (already read from their payload).
pub async fn ingest(
    core: &Core,
    actor: &Actor,
    alerts: Vec<Alert>,
) -> AppResult<Vec<(Alert, Intake)>> {
    authorize(actor, Action::IngestAlerts)?;
    // Read once for the whole payload: Alertmanager groups many alerts in one.
    let cat = crate::health::catalog(core).await?;
    let mut out = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let intake = one(core, actor, &cat, &alert).await?;
        out.push((alert, intake));
    }
    Ok(out)
}

async fn one(
    core: &Core,
    actor: &Actor,
    cat: &crate::health::Catalog,
    alert: &Alert,
) -> AppResult<Intake> {
    let now = core.clock.now();
    let existing = core.store.open_draft(&alert.fingerprint).await?;
    if existing.is_none() && !alert.firing {
        return Ok(Intake::Ignored);
    }
    // The scope as the alert names it; none named means the whole service.
    let service = crate::health::service_in(cat, &alert.service)?;
    let mut scope = alert.scope.clone();
    if scope == candor_domain::health::Scope::default() {
        scope.services.insert(service.clone());
    }
    let affected = crate::health::reach(core, cat, &service, &scope)
        .await?
        .total;
    let opened = existing.is_none();
    let mut draft = match existing {
        Some(d) => d,
        None => IssueDraft {
            id: DraftId::generate(),
            fingerprint: alert.fingerprint.clone(),
            origin: alert.origin.as_str().to_owned(),
            service: service.clone(),
            classification: alert.classification,
            title: alert.title.clone(),
            impact_description: alert.description.clone(),
            scope: scope.clone(),
            firing: true,
            affected_tenants: affected,
            notes: Vec::new(),
            link: alert.link.clone(),
            starts_at: alert.starts_at,
            created_at: now,
            updated_at: now,
            issue: None,
        },
    };
    if alert.firing {
        draft.service = service;
        draft.classification = alert.classification;
        draft.title = alert.title.clone();
        draft.impact_description = alert.description.clone();
        draft.scope = scope;
        draft.affected_tenants = affected;
        draft.link = alert.link.clone().or(draft.link);
        if !draft.firing || opened {
            draft.note(now, format!("firing since {}", rfc3339(alert.starts_at)));
        }
        draft.firing = true;
    } else if draft.firing {
        draft.firing = false;
        draft.note(now, "resolved");
    }
    draft.updated_at = now;
    let activity = if opened { DRAFT_OPENED } else { DRAFT_UPDATED };
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, activity)
        .item(draft.id.to_string())
        .details(
            json!({"fingerprint": draft.fingerprint, "firing": draft.firing,
            "title": draft.title, "affectedTenants": draft.affected_tenants}),
        );
    match core.store.save_draft(&draft, vec![record]).await {
        Ok(()) => {}
        // Another instance opened the same fingerprint's draft a moment ago: update that.
        Err(StoreError::Conflict(Conflict::Unique(_))) if opened => {
            return Box::pin(one(core, actor, cat, alert)).await;
        }
        Err(e) => return Err(e.into()),
    }
    if opened {
        if let Err(e) = crate::chase::draft_opened(core, &draft).await {
            tracing::warn!(draft = %draft.id, error = %e, "could not tell the incident managers of a new draft");
        }
        return Ok(Intake::Opened(draft.id));
    }
    Ok(Intake::Updated(draft.id))
}

/// The latest drafts, open ones only unless `all`.
pub async fn list(core: &Core, actor: &Actor, all: bool, limit: u32) -> AppResult<Vec<IssueDraft>> {
    authorize(actor, Action::PublishServiceHealth)?;
    Ok(core.store.list_drafts(!all, limit).await?)
}

pub async fn get(core: &Core, actor: &Actor, id: DraftId) -> AppResult<IssueDraft> {
    authorize(actor, Action::PublishServiceHealth)?;
    core.store
        .get_draft(id)
        .await?
        .ok_or_else(|| AppError::NotFound(NO_SUCH_DRAFT.into()))
}

/// Publishes a draft as an issue `actor` owns (told to every tenant its scope reaches),
/// with the draft's words as the first post.
pub async fn publish(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: DraftId,
) -> AppResult<(Issue, i64)> {
    let draft = get(core, actor, id).await?;
    if let Some(issue) = &draft.issue {
        return Err(AppError::not_now(format!(
            "the draft is already published as {issue}"
        )));
    }
    let input = NewIssueInput {
        service: draft.service.to_string(),
        classification: draft.classification,
        title: draft.title.clone(),
        impact_description: draft.impact_description.clone(),
        start: Some(draft.starts_at),
        scope: draft.scope.clone(),
        post: PostInput {
            body_html: format!("<p>{}</p>", ammonia::clean_text(&draft.impact_description)),
            ..Default::default()
        },
        ..Default::default()
    };
    let (issue, affected) = crate::health::create_issue(core, actor, ip.clone(), input).await?;
    if !core
        .store
        .draft_published(id, &issue.id, core.clock.now())
        .await?
    {
        tracing::warn!(draft = %id, issue = %issue.id, "a draft was published twice at once");
    }
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        DRAFT_PUBLISHED,
    )
    .ip(ip)
    .item(id.to_string())
    .details(json!({"issue": issue.id.to_string()}));
    core.store.append_audit(vec![record]).await?;
    Ok((issue, affected))
}
