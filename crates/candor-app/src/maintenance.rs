//! Planned maintenance use cases: scheduling (with the same scope, targeting and impact
//! preview as issues), changes by hand, the clock moving each maintenance on, what a
//! tenant sees, and its iCalendar feed. Each maintenance travels as a Message Center
//! message (category `planForChange`, tag `Planned maintenance`), which records the
//! tenants it reached and shows it in the portal's Message Center and Graph; each notice
//! (scheduled, reminder, started, extended, completed, cancelled) is a fan-out to the
//! tenants' subscribers of the topic *planned maintenance*.

use std::collections::{BTreeMap, BTreeSet};

use candor_domain::audit::{ActorKind, AuditChain, NewAuditRecord};
use candor_domain::health::maintenance::{
    ExpectedImpact, Maintenance, MaintenanceChange, MaintenanceError, MaintenanceId,
    MaintenanceNotice, MaintenanceState, NewMaintenance, ScheduledMaintenance, Window,
    DEFAULT_REMINDER,
};
use candor_domain::health::{
    scope_components, Audience, Category, ComponentId, Message, MessageId, MessageText, Scope,
    ServiceId, Severity,
};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::language::Language;
use candor_domain::store::{Conflict, ImpactPreview, Stale};
use candor_domain::time_util::rfc3339;
use candor_domain::TenantId;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::health::{catalog, Catalog, PREVIEW_TENANTS};
use super::i18n::{format_in_zone, Tr};
use super::messages::services;
use super::Core;
use crate::error::{AppError, AppResult};

pub const MAINTENANCE_CREATED: &str = "New-PlannedMaintenance";
pub const MAINTENANCE_CHANGED: &str = "Set-PlannedMaintenance";
/// Maintenance numbers start here, so ids look like `MN1000`.
pub const FIRST_MAINTENANCE_NUMBER: i64 = 1000;
/// The tag its message carries, as Microsoft 365's Message Center names it.
pub const MAINTENANCE_TAG: &str = "Planned maintenance";
/// Maintenances moved on per run of the clock job.
const DUE_PER_RUN: u32 = 200;
/// The most maintenances a list or a calendar holds.
pub const MAX_LISTED: u32 = 500;

fn invalid(field: &'static str, problem: impl Into<String>) -> AppError {
    AppError::Invalid(InvalidValue::new(field, problem))
}

fn refused(e: MaintenanceError) -> AppError {
    let field = match e {
        MaintenanceError::EmptyWindow
        | MaintenanceError::WindowTooLong
        | MaintenanceError::BadStart
        | MaintenanceError::NotLater => "window",
        MaintenanceError::NoService => "services",
        MaintenanceError::NoText => "text",
        MaintenanceError::BadReminder => "reminderMinutes",
        MaintenanceError::Over(_)
        | MaintenanceError::NotScheduled
        | MaintenanceError::NotInProgress => return AppError::not_now(e.to_string()),
    };
    invalid(field, e.to_string())
}

/// A maintenance as an operator schedules it.
#[derive(Debug, Clone)]
pub struct NewMaintenanceInput {
    /// Service ids or display names.
    pub services: Vec<String>,
    /// Who it affects; with no services named, the scope's services are the above.
    pub scope: Scope,
    /// Title and description by language; at least one.
    pub text: BTreeMap<Language, (String, String)>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub impact: ExpectedImpact,
    /// Default 60.
    pub reminder_minutes: Option<i64>,
}

fn text(
    input: BTreeMap<Language, (String, String)>,
) -> AppResult<BTreeMap<Language, (String, String)>> {
    let mut out = BTreeMap::new();
    for (lang, (title, description)) in input {
        let (title, description) = (title.trim(), description.trim());
        if title.is_empty() && description.is_empty() {
            continue;
        }
        if title.is_empty() || description.is_empty() {
            return Err(invalid(
                "text",
                format!("give both a title and a description in {}", lang.tag()),
            ));
        }
        if title.chars().count() > 200 {
            return Err(invalid("title", "must be at most 200 characters"));
        }
        if description.chars().count() > 4000 {
            return Err(invalid("description", "must be at most 4000 characters"));
        }
        out.insert(lang, (title.to_owned(), description.to_owned()));
    }
    Ok(out)
}

/// The scope as targeting reads it: a maintenance's services stand in for the scope's
/// when it names none.
fn targeting_scope(scope: &Scope, services: &BTreeSet<ServiceId>) -> Scope {
    let mut s = scope.clone();
    if s.services.is_empty() {
        s.services = services.clone();
    }
    s
}

async fn covered(
    core: &Core,
    cat: &Catalog,
    scope: &Scope,
    services: &BTreeSet<ServiceId>,
) -> AppResult<Vec<ComponentId>> {
    let scope = targeting_scope(scope, services);
    scope.check_against(&cat.index, &cat.service_ids())?;
    for t in &scope.tenants {
        if core.store.get_tenant(*t).await?.is_none() {
            return Err(invalid("scope", format!("tenant {t} does not exist")));
        }
    }
    let mut out = BTreeSet::new();
    for service in services {
        out.extend(scope_components(&scope, service, &cat.index));
    }
    Ok(out.into_iter().collect())
}

/// Who a maintenance would reach, for the operator to see before scheduling.
pub async fn preview(
    core: &Core,
    actor: &Actor,
    service_names: &[String],
    scope: &Scope,
) -> AppResult<ImpactPreview> {
    authorize(actor, Action::PublishServiceHealth)?;
    let cat = catalog(core).await?;
    let services = services(&cat, service_names)?;
    let components = covered(core, &cat, scope, &services).await?;
    let explicit: Vec<TenantId> = scope.tenants.iter().copied().collect();
    crate::placements::preview(core, &components, &explicit, PREVIEW_TENANTS).await
}

/// The words of a maintenance in `lang`, as its message and its email say them.
fn body_html(m: &Maintenance, lang: Language) -> (String, String) {
    let tr = Tr::new(lang, "UTC");
    let (title, description) = m
        .text
        .get(&lang)
        .or_else(|| m.text.values().next())
        .cloned()
        .unwrap_or_default();
    let window = tr.ta(
        "maintenance-window",
        &[
            ("start", format_in_zone(m.window.start, "UTC")),
            ("end", format_in_zone(m.window.end, "UTC")),
        ],
    );
    let lines = [
        description,
        window,
        tr.t(&format!("maintenance-impact-{}", m.impact.as_str())),
        tr.t(&format!("maintenance-state-{}", m.state.as_str())),
    ];
    let html = lines
        .iter()
        .map(|l| format!("<p>{}</p>", ammonia::clean_text(l)))
        .collect::<String>();
    (title, html)
}

/// The Message Center message that carries `m` (new, or as of its latest change).
fn message_of(id: MessageId, m: &Maintenance, author: String, now: OffsetDateTime) -> Message {
    let language = if m.text.contains_key(&Language::English) {
        Language::English
    } else {
        m.text.keys().next().copied().unwrap_or(Language::English)
    };
    let (title, body) = body_html(m, language);
    let translations = m
        .text
        .keys()
        .filter(|l| **l != language)
        .map(|&l| {
            let (title, body_html) = body_html(m, l);
            (l, MessageText { title, body_html })
        })
        .collect();
    Message {
        id,
        title,
        body_html: body,
        language,
        translations,
        category: Category::PlanForChange,
        severity: match m.impact {
            ExpectedImpact::Unavailable => Severity::High,
            _ => Severity::Normal,
        },
        services: m.services.clone(),
        tags: vec![MAINTENANCE_TAG.to_owned()],
        is_major_change: false,
        action_required_by: None,
        start: m.window.start,
        end: Some(m.window.end),
        last_modified: now,
        details: BTreeMap::from([
            ("maintenanceState".to_owned(), m.state.as_str().to_owned()),
            ("expectedImpact".to_owned(), m.impact.as_str().to_owned()),
        ]),
        audience: Audience {
            regions: BTreeSet::new(),
            tenants: m.scope.tenants.clone(),
            named_tenants_only: false,
        },
        attachments: Vec::new(),
        author,
    }
}

fn fanout_jobs(
    id: &MaintenanceId,
    notices: &[MaintenanceNotice],
    now: OffsetDateTime,
) -> Vec<candor_domain::jobs::NewJob> {
    notices
        .iter()
        .map(|n| super::notify::maintenance_fanout_job(id, *n, now))
        .collect()
}

fn record(
    actor: Option<&Actor>,
    ip: Option<String>,
    now: OffsetDateTime,
    activity: &str,
    s: &ScheduledMaintenance,
    detail: serde_json::Value,
) -> NewAuditRecord {
    let base = match actor {
        Some(a) => NewAuditRecord::by(a, AuditChain::Operator, now, activity),
        None => NewAuditRecord::new(
            AuditChain::Operator,
            now,
            "system",
            ActorKind::System,
            activity,
        ),
    };
    let m = &s.maintenance;
    base.ip(ip).item(s.id.to_string()).details(json!({
        "state": m.state.as_str(),
        "windowStart": rfc3339(m.window.start),
        "windowEnd": rfc3339(m.window.end),
        "change": detail,
    }))
}

/// Schedules a maintenance and tells its tenants. Returns it with how many it reached.
pub async fn schedule(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: NewMaintenanceInput,
) -> AppResult<(ScheduledMaintenance, i64)> {
    authorize(actor, Action::PublishServiceHealth)?;
    let cat = catalog(core).await?;
    let services = services(&cat, &input.services)?;
    let components = covered(core, &cat, &input.scope, &services).await?;
    let reminder = match input.reminder_minutes {
        None => DEFAULT_REMINDER,
        Some(m) => Duration::minutes(m),
    };
    let window = Window::new(input.start, input.end).map_err(refused)?;
    let now = core.clock.now();
    let broad = targeting_scope(&input.scope, &services).is_broad();
    let (maintenance, notices) = Maintenance::schedule(
        NewMaintenance {
            services,
            scope: input.scope,
            text: text(input.text)?,
            window,
            impact: input.impact,
            reminder,
        },
        now,
    )
    .map_err(refused)?;
    let number = core
        .store
        .next_number("maintenance", FIRST_MAINTENANCE_NUMBER)
        .await?;
    let message_number = core
        .store
        .next_number("message", super::messages::FIRST_MESSAGE_NUMBER)
        .await?;
    let scheduled = ScheduledMaintenance {
        id: MaintenanceId::new(number),
        message: MessageId::new(message_number),
        maintenance,
        broad,
        created_by: actor.audit_name(),
        created_at: now,
        last_modified: now,
    };
    let message = message_of(
        scheduled.message.clone(),
        &scheduled.maintenance,
        actor.audit_name(),
        now,
    );
    let audit = record(
        Some(actor),
        ip,
        now,
        MAINTENANCE_CREATED,
        &scheduled,
        json!({
            "services": scheduled.maintenance.services,
            "scope": scheduled.maintenance.scope,
            "impact": scheduled.maintenance.impact.as_str(),
            "components": components.len(),
        }),
    );
    let reached = core
        .store
        .create_maintenance(
            &scheduled,
            &message,
            &components,
            vec![audit],
            fanout_jobs(&scheduled.id, &notices, now),
        )
        .await?;
    core.health_published().await;
    Ok((scheduled, reached))
}

async fn load(core: &Core, id: &MaintenanceId) -> AppResult<ScheduledMaintenance> {
    core.store
        .get_maintenance(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no maintenance {id}")))
}

/// Saves what a change (by hand or by the clock) did, with its notices.
async fn save(
    core: &Core,
    before: &ScheduledMaintenance,
    mut after: ScheduledMaintenance,
    notices: &[MaintenanceNotice],
    audit: NewAuditRecord,
    now: OffsetDateTime,
) -> AppResult<ScheduledMaintenance> {
    after.last_modified = now.max(before.last_modified + Duration::microseconds(1));
    let message = message_of(
        after.message.clone(),
        &after.maintenance,
        after.created_by.clone(),
        after.last_modified,
    );
    core.store
        .update_maintenance(
            &after,
            before.last_modified,
            &message,
            vec![audit],
            fanout_jobs(&after.id, notices, now),
        )
        .await?;
    core.health_published().await;
    Ok(after)
}

/// A change by hand: start early, extend, complete early, cancel, reschedule.
pub async fn change(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: &MaintenanceId,
    change: MaintenanceChange,
) -> AppResult<ScheduledMaintenance> {
    authorize(actor, Action::PublishServiceHealth)?;
    let before = load(core, id).await?;
    let now = core.clock.now();
    let mut after = before.clone();
    let notices = after.maintenance.apply(change, now).map_err(refused)?;
    let detail = match change {
        MaintenanceChange::StartEarly => json!({"kind": "startEarly"}),
        MaintenanceChange::Extend { end } => json!({"kind": "extend", "end": rfc3339(end)}),
        MaintenanceChange::CompleteEarly => json!({"kind": "completeEarly"}),
        MaintenanceChange::Cancel => json!({"kind": "cancel"}),
        MaintenanceChange::Reschedule { window } => json!({
            "kind": "reschedule", "start": rfc3339(window.start), "end": rfc3339(window.end)
        }),
    };
    let audit = record(Some(actor), ip, now, MAINTENANCE_CHANGED, &after, detail);
    save(core, &before, after, &notices, audit, now).await
}

/// Moves every due maintenance on along the clock (reminders, starts, ends). Another
/// instance moving the same one first is not an error: it is skipped. Returns how many
/// moved.
pub async fn move_due(core: &Core) -> AppResult<usize> {
    let now = core.clock.now();
    let mut moved = 0;
    for before in core.store.due_maintenances(now, DUE_PER_RUN).await? {
        let mut after = before.clone();
        let notices = after.maintenance.tick(now);
        let changed = after.maintenance != before.maintenance;
        if !changed {
            continue;
        }
        let audit = record(
            None,
            None,
            now,
            MAINTENANCE_CHANGED,
            &after,
            json!({"kind": "clock", "notices": notices}),
        );
        match save(core, &before, after, &notices, audit, now).await {
            Ok(_) => moved += 1,
            Err(AppError::Conflict(Conflict::Stale(Stale::Maintenance))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

/// Every maintenance, latest window first (operators).
pub async fn list_for_operator(
    core: &Core,
    actor: &Actor,
    limit: u32,
) -> AppResult<Vec<ScheduledMaintenance>> {
    authorize(actor, Action::PublishServiceHealth)?;
    Ok(core.store.list_maintenances(limit.min(MAX_LISTED)).await?)
}

pub async fn get_for_operator(
    core: &Core,
    actor: &Actor,
    id: &MaintenanceId,
) -> AppResult<ScheduledMaintenance> {
    authorize(actor, Action::PublishServiceHealth)?;
    load(core, id).await
}

/// The maintenances that reach `tenant`, latest window first.
pub async fn for_tenant(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
) -> AppResult<Vec<ScheduledMaintenance>> {
    authorize(actor, Action::ReadServiceHealth(tenant))?;
    Ok(core.store.tenant_maintenances(tenant, MAX_LISTED).await?)
}

/// The broad maintenances (those the public page shows), latest window first.
pub async fn public(core: &Core) -> AppResult<Vec<ScheduledMaintenance>> {
    Ok(core
        .store
        .list_maintenances(MAX_LISTED)
        .await?
        .into_iter()
        .filter(|m| m.broad)
        .collect())
}

/// Whether `m` puts its services under maintenance at `now`.
pub fn under_maintenance(m: &ScheduledMaintenance, now: OffsetDateTime) -> bool {
    m.maintenance.is_active(now)
}

/// An iCalendar (RFC 5545) feed of `maintenances`, in `lang`: one event per maintenance,
/// cancelled ones marked so, each with a stable UID and a sequence that grows with its
/// changes, so calendar clients update the event they already have.
pub fn calendar(name: &str, maintenances: &[ScheduledMaintenance], lang: Language) -> String {
    use icalendar::{Component, EventLike, EventStatus};
    let mut cal = icalendar::Calendar::new();
    cal.name(name);
    for s in maintenances {
        let m = &s.maintenance;
        let (title, description) = s.text_in(lang);
        let tr = Tr::new(lang, "UTC");
        let mut event = icalendar::Event::new();
        event
            .uid(&format!("{}@candor", s.id))
            .summary(title)
            .description(&format!(
                "{description}\n\n{}\n{}",
                tr.t(&format!("maintenance-impact-{}", m.impact.as_str())),
                tr.t(&format!("maintenance-state-{}", m.state.as_str()))
            ))
            .starts(utc(m.window.start))
            .ends(utc(m.window.end))
            .timestamp(utc(s.last_modified))
            .add_property(
                "SEQUENCE",
                ((s.last_modified - s.created_at).whole_seconds().max(0)).to_string(),
            )
            .status(if m.state == MaintenanceState::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        cal.push(event.done());
    }
    cal.done().to_string()
}

fn utc(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

/// What each notice says in an email's subject, in `lang`.
pub fn notice_words(tr: &Tr, notice: MaintenanceNotice) -> String {
    tr.t(&format!("maintenance-notice-{}", notice.as_str()))
}

/// Reads a change as the operator API spells it.
pub fn parse_change(
    kind: &str,
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
) -> AppResult<MaintenanceChange> {
    let need_end = || end.ok_or_else(|| invalid("end", "give the new end"));
    Ok(match kind.trim() {
        "startEarly" => MaintenanceChange::StartEarly,
        "extend" => MaintenanceChange::Extend { end: need_end()? },
        "completeEarly" => MaintenanceChange::CompleteEarly,
        "cancel" => MaintenanceChange::Cancel,
        "reschedule" => {
            let start = start.ok_or_else(|| invalid("start", "give the new start"))?;
            MaintenanceChange::Reschedule {
                window: Window::new(start, need_end()?).map_err(refused)?,
            }
        }
        other => {
            return Err(invalid(
                "change",
                format!(
                    "`{}` is not one of startEarly, extend, completeEarly, cancel, reschedule",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
    })
}
