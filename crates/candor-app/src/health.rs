//! Service health use cases: declaring issues, posting updates, changing scope,
//! reopening, previewing impact, and what a tenant sees.

use std::collections::{BTreeMap, BTreeSet};

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::availability;
use candor_domain::health::maintenance::ScheduledMaintenance;
use candor_domain::health::{
    check_cadence, next_due, scope_components, transition, Applied, ChangeRefused, Classification,
    ComponentId, Issue, IssueChange, IssueId, Move, Origin, Post, PostDraft, PostType, Scope,
    Service, ServiceId, Status, TopologyIndex, DEFAULT_CADENCE,
};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::language::Language;
use candor_domain::store::ImpactPreview;
use candor_domain::TenantId;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::Core;
use crate::error::{AppError, AppResult};

pub const ISSUE_CREATED: &str = "New-ServiceHealthIssue";
pub const ISSUE_UPDATED: &str = "Set-ServiceHealthIssue";
pub const ISSUE_SCOPE_CHANGED: &str = "Set-ServiceHealthIssueScope";
pub const ISSUE_REOPENED: &str = "Reopen-ServiceHealthIssue";
/// Issue numbers start here, so ids look like `EX100000`.
pub const FIRST_ISSUE_NUMBER: i64 = 100_000;
pub const PREVIEW_TENANTS: u32 = 200;

/// Allowed markup in posts: formatting, lists, links and tables; nothing that runs.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

fn invalid(field: &'static str, problem: impl Into<String>) -> AppError {
    AppError::Invalid(InvalidValue::new(field, problem))
}

fn refused(e: ChangeRefused) -> AppError {
    match e {
        ChangeRefused::Invalid(v) => AppError::Invalid(v),
        ChangeRefused::Transition(t) => AppError::not_now(t.to_string()),
    }
}

/// An update's text: the original and any translations.
#[derive(Debug, Clone, Default)]
pub struct PostInput {
    /// Default regular.
    pub post_type: Option<PostType>,
    /// The language of `body_html` (default English).
    pub language: Option<Language>,
    pub body_html: String,
    pub translations: BTreeMap<Language, String>,
}

/// The post as written: sanitized, checked, its languages parsed.
fn post_draft(input: &PostInput, author: &Actor) -> AppResult<PostDraft> {
    let body = sanitize(&input.body_html);
    if body.trim().is_empty() {
        return Err(invalid("post", "the update needs some text"));
    }
    if body.len() > 64 * 1024 {
        return Err(invalid("post", "the update is longer than 64 KiB"));
    }
    let language = input.language.unwrap_or(Language::English);
    let mut translations = BTreeMap::new();
    for (&lang, html) in &input.translations {
        let clean = sanitize(html);
        if lang != language && !clean.trim().is_empty() {
            translations.insert(lang, clean);
        }
    }
    let post_type = input.post_type.unwrap_or(PostType::Regular);
    Ok(PostDraft {
        post_type,
        language,
        body_html: body,
        translations,
        author: author.audit_name(),
    })
}

/// The first post of a new issue.
fn first_post(
    input: &PostInput,
    now: OffsetDateTime,
    status: Status,
    author: &Actor,
) -> AppResult<Post> {
    let draft = post_draft(input, author)?;
    Ok(Post {
        seq: 1,
        created_at: now,
        post_type: draft.post_type,
        language: draft.language,
        body_html: draft.body_html,
        translations: draft.translations,
        status,
        new_cadence: None,
        author: draft.author,
    })
}

/// The topology as the targeting functions want it, and the catalog.
pub struct Catalog {
    pub index: TopologyIndex,
    pub services: Vec<Service>,
}

impl Catalog {
    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    pub fn service_ids(&self) -> BTreeSet<ServiceId> {
        self.services.iter().map(|s| s.id.clone()).collect()
    }

    /// Finds a service by id or display name (Graph clients use both).
    pub fn find_service(&self, key: &str) -> Option<&Service> {
        self.services.iter().find(|s| {
            s.id.as_str().eq_ignore_ascii_case(key) || s.display_name.eq_ignore_ascii_case(key)
        })
    }
}

pub async fn catalog(core: &Core) -> AppResult<Catalog> {
    let regions: Vec<_> = core
        .store
        .list_regions()
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    let scale_units = core.store.list_scale_units().await?;
    let components = core.store.list_components().await?;
    Ok(Catalog {
        index: TopologyIndex::new(&regions, &scale_units, &components),
        services: core.store.list_services().await?,
    })
}

async fn check_scope(
    core: &Core,
    cat: &Catalog,
    scope: &Scope,
    service: &ServiceId,
) -> AppResult<Vec<ComponentId>> {
    scope.check_against(&cat.index, &cat.service_ids())?;
    for t in &scope.tenants {
        if core.store.get_tenant(*t).await?.is_none() {
            return Err(invalid("scope", format!("tenant {t} does not exist")));
        }
    }
    Ok(scope_components(scope, service, &cat.index)
        .into_iter()
        .collect())
}

/// Who a scope would reach, for the operator to see before publishing.
pub async fn preview(
    core: &Core,
    actor: &Actor,
    service: &str,
    scope: &Scope,
) -> AppResult<ImpactPreview> {
    authorize(actor, Action::PublishServiceHealth)?;
    let cat = catalog(core).await?;
    let service = service_in(&cat, service)?;
    reach(core, &cat, &service, scope).await
}

/// The catalog's service `key` names (id or display name).
pub(crate) fn service_in(cat: &Catalog, key: &str) -> AppResult<ServiceId> {
    Ok(cat
        .find_service(key)
        .ok_or_else(|| invalid("service", format!("`{key}` is not in the catalog")))?
        .id
        .clone())
}

/// Who `scope` would reach on `service` (the caller has authorized).
pub(crate) async fn reach(
    core: &Core,
    cat: &Catalog,
    service: &ServiceId,
    scope: &Scope,
) -> AppResult<ImpactPreview> {
    let covered = check_scope(core, cat, scope, service).await?;
    let explicit: Vec<TenantId> = scope.tenants.iter().copied().collect();
    crate::placements::preview(core, &covered, &explicit, PREVIEW_TENANTS).await
}

#[derive(Debug, Clone)]
pub struct NewIssueInput {
    /// Service id or display name.
    pub service: String,
    pub classification: Classification,
    /// Default the provider.
    pub origin: Option<Origin>,
    pub feature: Option<String>,
    pub feature_group: Option<String>,
    pub title: String,
    pub impact_description: String,
    /// Default investigating.
    pub status: Option<Status>,
    pub start: Option<OffsetDateTime>,
    pub scope: Scope,
    pub cadence_minutes: Option<i64>,
    pub details: BTreeMap<String, String>,
    pub post: PostInput,
    /// Who owns it (an Incident Manager's email or operator id); default the operator
    /// declaring it, or the first Incident Manager on duty (see `chase::owner_for`).
    pub owner: Option<String>,
}

/// A draft to fill in: an incident, every other field empty or defaulted.
impl Default for NewIssueInput {
    fn default() -> Self {
        NewIssueInput {
            service: String::new(),
            classification: Classification::Incident,
            origin: None,
            feature: None,
            feature_group: None,
            title: String::new(),
            impact_description: String::new(),
            status: None,
            start: None,
            scope: Scope::default(),
            cadence_minutes: None,
            details: BTreeMap::new(),
            post: PostInput::default(),
            owner: None,
        }
    }
}

fn required_text(field: &'static str, s: &str, max: usize) -> AppResult<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(s.to_owned())
}

/// Declares an issue and publishes its first post to exactly the affected tenants.
pub async fn create_issue(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: NewIssueInput,
) -> AppResult<(Issue, i64)> {
    authorize(actor, Action::PublishServiceHealth)?;
    let cat = catalog(core).await?;
    let service = cat
        .find_service(&input.service)
        .ok_or_else(|| {
            invalid(
                "service",
                format!("`{}` is not in the catalog", input.service),
            )
        })?
        .clone();
    let classification = input.classification;
    let origin = input.origin.unwrap_or(Origin::Provider);
    let title = required_text("title", &input.title, 200)?;
    let impact = required_text("impact description", &input.impact_description, 2000)?;
    let status = input.status.unwrap_or(Status::Investigating);
    transition(Status::Investigating, status, Move::Update)
        .map_err(|e| invalid("status", e.to_string()))?;
    let feature = input
        .feature
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    let feature_group = input
        .feature_group
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    if let Some(f) = &feature {
        if !service.features.iter().any(|x| &x.name == f) {
            return Err(invalid(
                "feature",
                format!("{} has no feature `{f}`", service.display_name),
            ));
        }
    }
    let cadence = match input.cadence_minutes {
        None => DEFAULT_CADENCE,
        Some(m) => check_cadence(m)?,
    };
    let covered = check_scope(core, &cat, &input.scope, &service.id).await?;
    let owner = super::chase::owner_for(core, actor, input.owner.as_deref()).await?;
    let now = core.clock.now();
    let number = core.store.next_number("issue", FIRST_ISSUE_NUMBER).await?;
    let id = IssueId::new(service.issue_prefix.as_str(), number);
    let post = first_post(&input.post, now, status, actor)?;
    let issue = Issue {
        id: id.clone(),
        service: service.id.clone(),
        classification,
        origin,
        feature,
        feature_group,
        title,
        impact_description: impact,
        status,
        start: input.start.unwrap_or(now),
        end: status.is_resolved().then_some(now),
        last_modified: now,
        details: input.details,
        scope: input.scope,
        cadence,
        next_update_due: next_due(classification, status, cadence, now),
        owner,
        updates_total: 0,
        updates_on_time: 0,
    };
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, ISSUE_CREATED)
        .ip(ip)
        .item(id.to_string())
        .details(json!({"title": issue.title, "status": status.as_str(), "scope": issue.scope, "components": covered.len()}));
    let affected = core
        .store
        .create_issue(
            &issue,
            &post,
            &covered,
            vec![record],
            vec![super::notify::fanout_job(&issue.id, Some(post.seq), now)],
        )
        .await?;
    core.health_published().await;
    Ok((issue, affected))
}

/// A change to an issue, usually with a post.
#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub status: Option<Status>,
    pub post: Option<PostInput>,
    pub cadence_minutes: Option<i64>,
    pub title: Option<String>,
    pub impact_description: Option<String>,
}

async fn load(core: &Core, id: IssueId) -> AppResult<Issue> {
    core.store
        .get_issue(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no issue {id}")))
}

async fn apply_update(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
    input: UpdateInput,
    how: Move,
) -> AppResult<Issue> {
    authorize(actor, Action::PublishServiceHealth)?;
    let before = load(core, id).await?;
    let change = IssueChange {
        how,
        status: input.status,
        title: input
            .title
            .map(|t| required_text("title", &t, 200))
            .transpose()?,
        impact_description: input
            .impact_description
            .map(|t| required_text("impact description", &t, 2000))
            .transpose()?,
        cadence: input.cadence_minutes.map(check_cadence).transpose()?,
        post: input
            .post
            .as_ref()
            .map(|p| post_draft(p, actor))
            .transpose()?,
    };
    let posts = if change.post.is_some() {
        core.store.issue_posts(&before.id).await?.len() as i64
    } else {
        0
    };
    let now = core.clock.now();
    let Applied {
        issue,
        post,
        new_cadence,
    } = before.apply(change, posts, now).map_err(refused)?;
    let status = issue.status;
    let activity = if how == Move::Reopen {
        ISSUE_REOPENED
    } else {
        ISSUE_UPDATED
    };
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, activity)
        .ip(ip)
        .item(before.id.to_string())
        .details(json!({
            "status": {"old": before.status.as_str(), "new": status.as_str()},
            "post": post.as_ref().map(|p| p.seq),
            "cadenceMinutes": new_cadence.map(|c| c.whole_minutes()),
        }));
    core.store
        .update_issue(
            &issue,
            before.last_modified,
            post.as_ref(),
            None,
            vec![record],
            post.iter()
                .map(|p| super::notify::fanout_job(&issue.id, Some(p.seq), now))
                .chain(
                    post.iter()
                        .filter(|_| new_cadence.is_some())
                        .map(|p| super::chase::cadence_job(&issue.id, p.seq, now)),
                )
                .collect(),
        )
        .await?;
    core.health_published().await;
    Ok(issue)
}

/// Posts an update (and perhaps a new status or cadence).
pub async fn update_issue(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
    input: UpdateInput,
) -> AppResult<Issue> {
    apply_update(core, actor, ip, id, input, Move::Update).await
}

/// Reopens a resolved issue: explicit, with a post saying why, audited as such.
pub async fn reopen_issue(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
    input: UpdateInput,
) -> AppResult<Issue> {
    let mut input = input;
    if input.status.is_none() {
        input.status = Some(Status::Investigating);
    }
    apply_update(core, actor, ip, id, input, Move::Reopen).await
}

/// Widens or narrows an issue's scope. Newly covered tenants are told (and see the whole
/// history); tenants already told keep seeing the issue.
pub async fn change_scope(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
    scope: Scope,
) -> AppResult<(Issue, i64)> {
    authorize(actor, Action::PublishServiceHealth)?;
    let before = load(core, id).await?;
    let cat = catalog(core).await?;
    let covered = check_scope(core, &cat, &scope, &before.service).await?;
    let now = core.clock.now();
    let mut issue = before.clone();
    issue.scope = scope;
    issue.last_modified = now;
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, ISSUE_SCOPE_CHANGED)
        .ip(ip)
        .item(before.id.to_string())
        .details(json!({"old": before.scope, "new": issue.scope, "components": covered.len()}));
    let added = core
        .store
        .update_issue(
            &issue,
            before.last_modified,
            None,
            Some(&covered),
            vec![record],
            // Newly reached tenants hear the latest news; contacts already told are not
            // told again (the deliveries' dedupe keys).
            vec![super::notify::fanout_job(&issue.id, None, now)],
        )
        .await?;
    core.health_published().await;
    Ok((issue, added))
}

/// An issue as a tenant may see it: only if it affects them.
pub async fn issue_for_tenant(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    id: IssueId,
) -> AppResult<(Issue, Vec<Post>)> {
    authorize(actor, Action::ReadServiceHealth(tenant))?;
    let not_found = || crate::ids::no_issue_for_tenant(id.as_str());
    if !core.store.tenant_is_affected(tenant, &id).await? {
        return Err(not_found());
    }
    let issue = core.store.get_issue(&id).await?.ok_or_else(not_found)?;
    let posts = core.store.issue_posts(&id).await?;
    Ok((issue, posts))
}

/// One service's health as a tenant sees it.
#[derive(Debug, Clone)]
pub struct ServiceHealthView {
    pub service: Service,
    pub status: Status,
    pub active: Vec<Issue>,
    /// A planned maintenance that reaches the tenant is in progress on it.
    pub under_maintenance: bool,
}

/// The dashboard: each service the tenant uses with its status (the worst active issue
/// affecting the tenant, else operational), and the issues of the last 30 days.
pub async fn tenant_dashboard(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
) -> AppResult<(Vec<ServiceHealthView>, Vec<Issue>)> {
    authorize(actor, Action::ReadServiceHealth(tenant))?;
    let now = core.clock.now();
    let issues = core
        .store
        .tenant_issues(tenant, now - DASHBOARD_DAYS)
        .await?;
    let maintenances = core
        .store
        .tenant_maintenances(tenant, super::maintenance::MAX_LISTED)
        .await?;
    let views = service_views(core, tenant, &issues, &maintenances, now).await?;
    Ok((views, issues))
}

/// How far back the dashboard lists issues.
const DASHBOARD_DAYS: Duration = Duration::days(30);

/// Whether `tenant_issues(_, now - DASHBOARD_DAYS)` would have returned `i`: changed since,
/// or still open.
fn on_dashboard(i: &Issue, now: OffsetDateTime) -> bool {
    i.last_modified >= now - DASHBOARD_DAYS || i.next_update_due.is_some() || !i.is_resolved()
}

/// Each service the tenant uses, or that one of `issues` names, with its status.
async fn service_views(
    core: &Core,
    tenant: TenantId,
    issues: &[Issue],
    maintenances: &[ScheduledMaintenance],
    now: OffsetDateTime,
) -> AppResult<Vec<ServiceHealthView>> {
    // The services the tenant uses, and any an issue names that it is not placed on
    // (tenants named explicitly in a scope): one catalog read for both.
    let mut wanted = super::topology::service_ids_of_tenant(core, tenant).await?;
    wanted.extend(issues.iter().map(|i| i.service.clone()));
    let maintained: BTreeSet<&ServiceId> = maintenances
        .iter()
        .filter(|m| m.maintenance.is_active(now))
        .flat_map(|m| &m.maintenance.services)
        .collect();
    Ok(core
        .store
        .list_services()
        .await?
        .into_iter()
        .filter(|s| wanted.contains(&s.id))
        .map(|service| {
            let active: Vec<Issue> = issues
                .iter()
                .filter(|i| i.service == service.id && !i.is_resolved())
                .cloned()
                .collect();
            let status = active
                .iter()
                .map(|i| i.status)
                .max_by_key(|s| s.severity())
                .unwrap_or(Status::ServiceOperational);
            ServiceHealthView {
                under_maintenance: maintained.contains(&service.id),
                service,
                status,
                active,
            }
        })
        .collect())
}

/// The last 90 days of each of `services` for `tenant`, in its time zone, from the
/// issues that affected it (the dashboard's bars).
pub async fn tenant_history(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    services: &[ServiceId],
) -> AppResult<BTreeMap<ServiceId, Vec<availability::Day>>> {
    authorize(actor, Action::ReadServiceHealth(tenant))?;
    let now = core.clock.now();
    let touched = core
        .store
        .tenant_issues(tenant, now - history_days())
        .await?;
    let maintenances = core
        .store
        .tenant_maintenances(tenant, super::maintenance::MAX_LISTED)
        .await?;
    history_of(core, tenant, services, &touched, &maintenances, now).await
}

fn history_days() -> Duration {
    Duration::days(i64::from(crate::public::HISTORY_DAYS))
}

async fn history_of(
    core: &Core,
    tenant: TenantId,
    services: &[ServiceId],
    touched: &[Issue],
    maintenances: &[ScheduledMaintenance],
    now: OffsetDateTime,
) -> AppResult<BTreeMap<ServiceId, Vec<availability::Day>>> {
    let zone = jiff::tz::TimeZone::get(core.tenant(tenant).await?.time_zone.as_str())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    Ok(services
        .iter()
        .map(|service| {
            let spans: Vec<availability::Span> = touched
                .iter()
                .filter(|i| i.service == *service)
                .filter_map(availability::Span::of)
                .chain(
                    maintenances
                        .iter()
                        .filter(|m| m.maintenance.services.contains(service))
                        .filter_map(|m| m.maintenance.span()),
                )
                .collect();
            (
                service.clone(),
                availability::history(&spans, now, crate::public::HISTORY_DAYS, &zone),
            )
        })
        .collect())
}

/// Everything the portal's health page shows, from one read of the tenant's issues of
/// 90 days and one of its maintenance.
pub struct TenantHealth {
    pub services: Vec<ServiceHealthView>,
    /// The dashboard's issues (as `tenant_dashboard` lists them), newest change first.
    pub issues: Vec<Issue>,
    pub history: BTreeMap<ServiceId, Vec<availability::Day>>,
    /// Every maintenance that reaches the tenant, latest window first.
    pub maintenances: Vec<ScheduledMaintenance>,
}

pub async fn tenant_health(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
) -> AppResult<TenantHealth> {
    authorize(actor, Action::ReadServiceHealth(tenant))?;
    let now = core.clock.now();
    let touched = core
        .store
        .tenant_issues(tenant, now - history_days())
        .await?;
    let maintenances = core
        .store
        .tenant_maintenances(tenant, super::maintenance::MAX_LISTED)
        .await?;
    let issues: Vec<Issue> = touched
        .iter()
        .filter(|i| on_dashboard(i, now))
        .cloned()
        .collect();
    let services = service_views(core, tenant, &issues, &maintenances, now).await?;
    let ids: Vec<ServiceId> = services.iter().map(|v| v.service.id.clone()).collect();
    let history = history_of(core, tenant, &ids, &touched, &maintenances, now).await?;
    Ok(TenantHealth {
        services,
        issues,
        history,
        maintenances,
    })
}

pub const PIR_SAVED: &str = "Set-PostIncidentReview";
pub const PIR_PUBLISHED: &str = "Publish-PostIncidentReview";

/// The six sections of a post-incident review, as typed.
#[derive(Debug, Clone, Default)]
pub struct PirInput {
    pub user_impact: String,
    pub scope_of_impact: String,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub root_cause: String,
    pub actions_taken: String,
    pub next_steps: String,
}

/// Saves the draft review of an issue; start and end default to the issue's.
pub async fn save_pir_draft(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
    input: PirInput,
) -> AppResult<candor_domain::health::Pir> {
    authorize(actor, Action::PublishServiceHealth)?;
    let issue = load(core, id).await?;
    let now = core.clock.now();
    let pir = candor_domain::health::Pir {
        issue_id: issue.id.clone(),
        user_impact: sanitize(&input.user_impact),
        scope_of_impact: sanitize(&input.scope_of_impact),
        start: input.start.unwrap_or(issue.start),
        end: input.end.or(issue.end).unwrap_or(now),
        root_cause: sanitize(&input.root_cause),
        actions_taken: sanitize(&input.actions_taken),
        next_steps: sanitize(&input.next_steps),
        author: actor.audit_name(),
        updated_at: now,
        published_at: None,
    };
    if pir.end < pir.start {
        return Err(invalid(
            "post-incident review",
            "the incident cannot end before it starts",
        ));
    }
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, PIR_SAVED)
        .ip(ip)
        .item(issue.id.to_string());
    core.store.save_pir(&pir, vec![record]).await?;
    Ok(pir)
}

/// Publishes the review: the issue becomes postIncidentReviewPublished and its tenants
/// can read and download the review.
pub async fn publish_pir(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: IssueId,
) -> AppResult<(Issue, candor_domain::health::Pir)> {
    authorize(actor, Action::PublishServiceHealth)?;
    let before = load(core, id).await?;
    let mut pir = core
        .store
        .get_pir(&before.id)
        .await?
        .ok_or_else(|| AppError::not_now("write the review before publishing it"))?;
    if pir.is_published() {
        return Err(AppError::not_now("the review is already published"));
    }
    pir.check_complete()?;
    transition(
        before.status,
        Status::PostIncidentReviewPublished,
        Move::PublishReview,
    )
    .map_err(|e| AppError::not_now(e.to_string()))?;
    let now = core.clock.now();
    let mut issue = before.clone();
    issue.status = Status::PostIncidentReviewPublished;
    issue.last_modified = now;
    issue.next_update_due = None;
    pir.published_at = Some(now);
    pir.updated_at = now;
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, PIR_PUBLISHED)
        .ip(ip)
        .item(issue.id.to_string())
        .details(json!({"status": {"old": before.status.as_str(), "new": issue.status.as_str()}}));
    core.store
        .publish_pir(
            &pir,
            &issue,
            before.last_modified,
            vec![record],
            vec![super::notify::review_fanout_job(&issue.id, now)],
        )
        .await?;
    core.health_published().await;
    Ok((issue, pir))
}

/// A published review, for a tenant the issue affects.
pub async fn pir_for_tenant(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    id: IssueId,
) -> AppResult<(Issue, candor_domain::health::Pir)> {
    let (issue, _) = issue_for_tenant(core, actor, tenant, id).await?;
    let pir = core
        .store
        .get_pir(&issue.id)
        .await?
        .filter(|p| p.is_published())
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "issue {} has no published post-incident review",
                issue.id
            ))
        })?;
    Ok((issue, pir))
}
