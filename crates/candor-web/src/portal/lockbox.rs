//! Customer Lockbox pages. Tenant portal: the setting, the request list (status and date
//! filters, paging), a request with approve/deny and revoke. Operator console: file a
//! request, one's own requests, the Support Manager's queue, a request with the internal
//! decision or cancellation.

use crate::portal::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::lockbox::{Decision as Decided, LockboxRequest, LockboxStatus};
use candor_domain::time_util::parse_time;
use serde::Deserialize;

use super::{error_page, render, PageCtx};
use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::AppState;
use candor_app::error::AppError;
use candor_app::i18n::Tr;
use candor_app::lockbox::{self as svc, Decision, ListQuery, NewRequestInput};

const PAGE_SIZE: u32 = 50;
/// The filing form lists tenants by name up to this many.
const MAX_TENANT_CHOICES: u32 = 1000;

fn status_label(tr: &Tr, s: LockboxStatus) -> String {
    tr.t(&format!("lockbox-status-{}", s.as_str()))
}

fn status_class(s: LockboxStatus) -> &'static str {
    match s {
        LockboxStatus::AwaitingInternalApproval | LockboxStatus::Pending => "warn",
        LockboxStatus::Approved => "ok",
        LockboxStatus::Denied | LockboxStatus::InternallyDenied | LockboxStatus::Revoked => "bad",
        LockboxStatus::Completed | LockboxStatus::Expired | LockboxStatus::Canceled => "info",
    }
}

fn query_param(raw: &Option<String>, key: &str) -> Option<String> {
    raw.as_deref().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.trim().is_empty())
    })
}

/// Notices the Lockbox pages redirect with.
fn notice(tr: &Tr, raw: &Option<String>) -> Option<String> {
    let key = match query_param(raw, "notice")?.as_str() {
        "setting-saved" => "lockbox-setting-saved",
        "decided" => "lockbox-decided",
        "revoked" => "lockbox-revoked",
        "filed" => "console-lockbox-filed",
        "internal" => "console-lockbox-decided",
        "canceled" => "console-lockbox-decided",
        _ => return None,
    };
    Some(tr.t(key))
}

/// For tenant approvers: a line at the top of the page while requests wait for them.
pub async fn add_pending_alert(state: &AppState, user: &PortalUser, page: &mut PageCtx) {
    let Some(tenant) = user.actor.tenant_id() else {
        return;
    };
    if authorize(&user.actor, Action::DecideLockboxRequest(tenant)).is_err() {
        return;
    }
    let Ok(pending) = svc::list(
        &state.core,
        &user.actor,
        ListQuery {
            status: Some(LockboxStatus::Pending),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    if !pending.is_empty() {
        page.alerts.push((
            "/portal/lockbox?status=pending".to_owned(),
            page.tr.ta(
                "lockbox-pending-alert",
                &[("count", pending.len().to_string())],
            ),
        ));
    }
}

pub struct Row {
    pub href: String,
    pub id: String,
    pub filed: String,
    pub workload: String,
    pub status: String,
    pub status_class: &'static str,
    pub service_request: String,
    pub duration: String,
    pub requester: String,
    pub tenant: String,
}

fn row(tr: &Tr, r: &LockboxRequest, base: &str, tenant: String) -> Row {
    Row {
        href: format!("{base}/requests/{}", r.id),
        id: r.id.to_string(),
        filed: tr.time(&r.created_at),
        workload: r.workload.clone(),
        status: status_label(tr, r.status),
        status_class: status_class(r.status),
        service_request: r.service_request.clone(),
        duration: tr.ta(
            "lockbox-minutes",
            &[("minutes", r.duration.whole_minutes().to_string())],
        ),
        requester: r.requester_name.clone(),
        tenant,
    }
}

/// The status filter's choices: (value, label, selected).
fn status_choices(tr: &Tr, selected: Option<LockboxStatus>) -> Vec<(String, String, bool)> {
    LockboxStatus::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_owned(),
                status_label(tr, *s),
                Some(*s) == selected,
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "lockbox.html")]
struct TenantListPage {
    title: String,
    page: PageCtx,
    enabled: bool,
    may_change_setting: bool,
    statuses: Vec<(String, String, bool)>,
    after: String,
    rows: Vec<Row>,
    next: Option<String>,
}

struct Filters {
    status: Option<LockboxStatus>,
    after_text: String,
    after: Option<time::OffsetDateTime>,
    cursor: Option<(
        time::OffsetDateTime,
        candor_domain::lockbox::LockboxRequestId,
    )>,
}

fn filters(raw: &Option<String>) -> Result<Filters, ApiError> {
    let status = query_param(raw, "status")
        .map(|s| s.parse::<LockboxStatus>())
        .transpose()?;
    let after_text = query_param(raw, "after").unwrap_or_default();
    let after = if after_text.is_empty() {
        None
    } else {
        Some(parse_time(&after_text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{}` is not a date such as 2026-11-01",
                after_text.chars().take(40).collect::<String>()
            ))
        })?)
    };
    let cursor = query_param(raw, "before")
        .map(|c| {
            let (at, id) = c
                .split_once('_')
                .ok_or_else(|| ApiError::BadRequest("the page link is not valid".into()))?;
            let at = at
                .parse::<i128>()
                .ok()
                .and_then(|n| time::OffsetDateTime::from_unix_timestamp_nanos(n).ok())
                .ok_or_else(|| ApiError::BadRequest("the page link is not valid".into()))?;
            Ok::<_, ApiError>((at, id.parse()?))
        })
        .transpose()?;
    Ok(Filters {
        status,
        after_text,
        after,
        cursor,
    })
}

fn next_link(
    base: &str,
    f: &Filters,
    next: Option<(
        time::OffsetDateTime,
        candor_domain::lockbox::LockboxRequestId,
    )>,
    extra: &str,
) -> Option<String> {
    let (at, id) = next?;
    let mut q: Vec<(&str, String)> =
        vec![("before", format!("{}_{}", at.unix_timestamp_nanos(), id))];
    if let Some(s) = f.status {
        q.push(("status", s.as_str().to_owned()));
    }
    if !f.after_text.is_empty() {
        q.push(("after", f.after_text.clone()));
    }
    if !extra.is_empty() {
        q.push(("view", extra.to_owned()));
    }
    Some(format!(
        "{base}?{}",
        serde_urlencoded::to_string(&q).unwrap_or_default()
    ))
}

pub async fn tenant_list(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let path = "/portal/lockbox";
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, path, ApiError::NotFound("no tenant".into()));
    };
    if let Err(e) = authorize(&user.actor, Action::ReadLockboxRequests(tenant)) {
        return error_page(&state, &user, path, e.into());
    }
    let f = match filters(&raw) {
        Ok(f) => f,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let found = svc::list_page(
        &state.core,
        &user.actor,
        ListQuery {
            status: f.status,
            created_after: f.after,
            before: f.cursor,
            limit: PAGE_SIZE,
            ..Default::default()
        },
    )
    .await;
    let (list, next) = match found {
        Ok(p) => (p.items, p.next),
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    let enabled = match state.store.lockbox_enabled(tenant).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    page.notice = notice(&tr, &raw);
    add_pending_alert(&state, &user, &mut page).await;
    render(&TenantListPage {
        title: tr.t("lockbox-title"),
        enabled,
        may_change_setting: authorize(&user.actor, Action::ManageTenantSettings(tenant)).is_ok(),
        statuses: status_choices(&tr, f.status),
        after: f.after_text.clone(),
        rows: list
            .iter()
            .map(|r| row(&tr, r, "/portal/lockbox", String::new()))
            .collect(),
        next: next_link("/portal/lockbox", &f, next, ""),
        page,
    })
}

#[derive(Deserialize)]
pub struct SettingForm {
    enabled: Option<String>,
}

pub async fn save_setting(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<SettingForm>,
) -> Response {
    let path = "/portal/lockbox";
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, path, ApiError::NotFound("no tenant".into()));
    };
    let enabled = matches!(form.enabled.as_deref(), Some("on" | "true" | "1"));
    match svc::set_enabled(&state.core, &user.actor, user.ip.clone(), tenant, enabled).await {
        Ok(()) => Redirect::to("/portal/lockbox?notice=setting-saved").into_response(),
        Err(e) => error_page(&state, &user, path, ApiError::from(e)),
    }
}

pub struct DecisionRow {
    pub label: String,
    pub by: String,
    pub at: String,
    pub comment: Option<String>,
    pub key_id: Option<String>,
}

#[derive(Template)]
#[template(path = "lockbox_request.html")]
struct RequestPage {
    title: String,
    page: PageCtx,
    console: bool,
    action_base: String,
    back: String,
    r: Row,
    tenant_name: String,
    operations: String,
    justification: String,
    needs_customer: bool,
    deadline: Option<String>,
    access: Option<String>,
    decisions: Vec<DecisionRow>,
    approvers: Vec<(String, String)>,
    may_decide: bool,
    may_revoke: bool,
    may_decide_internally: bool,
    may_cancel: bool,
    comment: String,
}

fn decision_row(tr: &Tr, label: &str, d: &Option<Decided>) -> Option<DecisionRow> {
    d.as_ref().map(|d| DecisionRow {
        label: tr.t(label),
        by: d.by.clone(),
        at: tr.time(&d.at),
        comment: d.comment.clone(),
        key_id: d.signature.as_ref().map(|s| s.key_id.clone()),
    })
}

/// The request page, for the tenant or the console, with an error from a failed form.
async fn request_page(
    state: &AppState,
    user: &PortalUser,
    console: bool,
    id: &str,
    raw: &Option<String>,
    failed: Option<(ApiError, String)>,
) -> Response {
    let base = if console {
        "/console/lockbox"
    } else {
        "/portal/lockbox"
    };
    let path = format!("{base}/requests/{id}");
    let r = match svc::get(&state.core, &user.actor, id).await {
        Ok(r) => r,
        Err(e) => return error_page(state, user, &path, ApiError::from(e)),
    };
    let approvers = match svc::approvers(&state.core, r.tenant).await {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tenant_name = match state.store.get_tenant(r.tenant).await {
        Ok(t) => t.map(|t| t.name).unwrap_or_default(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, &path);
    let tr = page.tr.clone();
    page.notice = notice(&tr, raw);
    let mut comment = String::new();
    if let Some((e, typed)) = failed {
        page.error = Some(e.public_message());
        comment = typed;
    }
    let may = |a| authorize(&user.actor, a).is_ok();
    let own =
        matches!(&user.actor, Actor::Operator { operator_id, .. } if *operator_id == r.requester);
    let tenant_side = !console;
    let decisions = [
        decision_row(&tr, "lockbox-decision-internal", &r.internal_decision),
        decision_row(&tr, "lockbox-decision-customer", &r.customer_decision),
        decision_row(&tr, "lockbox-decision-ended", &r.ended),
    ]
    .into_iter()
    .flatten()
    .collect();
    let access = match (r.access_start, r.access_end) {
        (Some(s), Some(e)) => Some(tr.ta(
            "lockbox-access-window",
            &[("start", tr.time(&s)), ("end", tr.time(&e))],
        )),
        _ => None,
    };
    render(&RequestPage {
        title: tr.t("lockbox-request-title"),
        console,
        action_base: path.clone(),
        back: base.to_owned(),
        tenant_name,
        operations: r.operations.iter().cloned().collect::<Vec<_>>().join(", "),
        justification: r.justification.clone(),
        needs_customer: r.needs_customer,
        deadline: r.decision_deadline().map(|t| tr.time(&t)),
        access,
        decisions,
        // Who may approve is the tenant's own business: not shown in the console.
        approvers: if console {
            Vec::new()
        } else {
            approvers
                .into_iter()
                .map(|a| (a.display_name, a.email))
                .collect()
        },
        may_decide: tenant_side
            && r.status == LockboxStatus::Pending
            && may(Action::DecideLockboxRequest(r.tenant)),
        may_revoke: tenant_side
            && r.status == LockboxStatus::Approved
            && may(Action::DecideLockboxRequest(r.tenant)),
        may_decide_internally: console
            && r.status == LockboxStatus::AwaitingInternalApproval
            && !own
            && may(Action::ApproveLockboxInternally),
        may_cancel: console && own && !r.status.is_final(),
        r: row(&tr, &r, base, String::new()),
        comment,
        page,
    })
}

pub async fn tenant_request(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    request_page(&state, &user, false, &id, &raw, None).await
}

pub async fn console_request(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    request_page(&state, &user, true, &id, &raw, None).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

fn comment_of(form: &DecisionForm) -> Option<String> {
    Some(form.comment.clone()).filter(|c| !c.trim().is_empty())
}

/// After a form: back to the request with a notice, or the page again with the error.
async fn after_form(
    state: &AppState,
    user: &PortalUser,
    console: bool,
    id: &str,
    result: Result<LockboxRequest, ApiError>,
    notice: &str,
    typed: String,
) -> Response {
    let base = if console {
        "/console/lockbox"
    } else {
        "/portal/lockbox"
    };
    match result {
        Ok(r) => Redirect::to(&format!("{base}/requests/{}?notice={notice}", r.id)).into_response(),
        Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            error_page(state, user, &format!("{base}/requests/{id}"), e)
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => request_page(state, user, console, id, &None, Some((e, typed))).await,
    }
}

pub async fn tenant_decide(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let result = match form.decision.parse::<Decision>() {
        Ok(d @ (Decision::Approve | Decision::Deny)) => {
            match svc::get(&state.core, &user.actor, &id).await {
                Ok(_) => {
                    svc::decide(
                        &state.core,
                        &user.actor,
                        user.ip.clone(),
                        &id,
                        d,
                        comment_of(&form),
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        Ok(Decision::Cancel) => Err(AppError::Refused("choose Approve or Deny".into())),
        Err(e) => Err(e.into()),
    };
    after_form(
        &state,
        &user,
        false,
        &id,
        result.map_err(ApiError::from),
        "decided",
        form.comment,
    )
    .await
}

pub async fn tenant_revoke(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let result = match svc::get(&state.core, &user.actor, &id).await {
        Ok(_) => {
            svc::revoke(
                &state.core,
                &user.actor,
                user.ip.clone(),
                &id,
                comment_of(&form),
            )
            .await
        }
        Err(e) => Err(e),
    };
    after_form(
        &state,
        &user,
        false,
        &id,
        result.map_err(ApiError::from),
        "revoked",
        form.comment,
    )
    .await
}

pub async fn console_decide(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let (result, notice) = match form.decision.parse::<Decision>() {
        Ok(Decision::Cancel) => (
            svc::decide(
                &state.core,
                &user.actor,
                user.ip.clone(),
                &id,
                Decision::Cancel,
                None,
            )
            .await,
            "canceled",
        ),
        Ok(d) => (
            svc::decide_internally(
                &state.core,
                &user.actor,
                user.ip.clone(),
                &id,
                d == Decision::Approve,
                comment_of(&form),
            )
            .await,
            "internal",
        ),
        Err(e) => (Err(e.into()), "internal"),
    };
    after_form(
        &state,
        &user,
        true,
        &id,
        result.map_err(ApiError::from),
        notice,
        form.comment,
    )
    .await
}

#[derive(Template)]
#[template(path = "console_lockbox.html")]
struct ConsoleListPage {
    title: String,
    page: PageCtx,
    views: Vec<(&'static str, String, bool)>,
    view: String,
    may_file: bool,
    statuses: Vec<(String, String, bool)>,
    after: String,
    rows: Vec<Row>,
    next: Option<String>,
}

pub async fn console_list(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let path = "/console/lockbox";
    let manager = authorize(&user.actor, Action::ApproveLockboxInternally).is_ok();
    let engineer = authorize(&user.actor, Action::FileLockboxRequest).is_ok();
    if !manager && !engineer {
        return error_page(
            &state,
            &user,
            path,
            authorize(&user.actor, Action::FileLockboxRequest)
                .map_err(ApiError::from)
                .err()
                .unwrap_or_else(|| ApiError::NotFound("not found".into())),
        );
    }
    let f = match filters(&raw) {
        Ok(f) => f,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let default_view = if manager { "queue" } else { "mine" };
    let view = query_param(&raw, "view").unwrap_or_else(|| default_view.to_owned());
    let (mine, status) = match view.as_str() {
        "queue" if manager => (false, Some(LockboxStatus::AwaitingInternalApproval)),
        "all" if manager => (false, f.status),
        _ => (true, f.status),
    };
    let (list, next) = match svc::list_page(
        &state.core,
        &user.actor,
        ListQuery {
            status,
            created_after: f.after,
            mine,
            before: f.cursor,
            limit: PAGE_SIZE,
            ..Default::default()
        },
    )
    .await
    {
        Ok(p) => (p.items, p.next),
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    // Names of the tenants on this page only (the provider may have very many).
    let mut names = std::collections::HashMap::new();
    for r in &list {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(r.tenant) {
            let name = match state.store.get_tenant(r.tenant).await {
                Ok(t) => t.map(|t| t.name).unwrap_or_else(|| r.tenant.to_string()),
                Err(e) => return ApiError::from(e).into_response(),
            };
            slot.insert(name);
        }
    }
    let name_of = |t: candor_domain::TenantId| names.get(&t).cloned().unwrap_or_default();
    let mut page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    page.notice = notice(&tr, &raw);
    let mut views = Vec::new();
    if engineer {
        views.push(("mine", tr.t("console-lockbox-mine"), view == "mine"));
    }
    if manager {
        views.push(("queue", tr.t("console-lockbox-queue"), view == "queue"));
        views.push(("all", tr.t("console-lockbox-all"), view == "all"));
    }
    render(&ConsoleListPage {
        title: tr.t("console-lockbox-title"),
        may_file: engineer,
        statuses: status_choices(&tr, f.status),
        after: f.after_text.clone(),
        rows: list
            .iter()
            .map(|r| row(&tr, r, "/console/lockbox", name_of(r.tenant)))
            .collect(),
        next: next_link("/console/lockbox", &f, next, &view),
        views,
        view,
        page,
    })
}

/// A workload in the filing form: (name, its operations with whether each is ticked,
/// whether it is the chosen one).
type WorkloadChoice = (String, Vec<(String, bool)>, bool);

#[derive(Template)]
#[template(path = "console_lockbox_new.html")]
struct NewRequestPage {
    title: String,
    page: PageCtx,
    tenants: Vec<(String, String, bool)>,
    workloads: Vec<WorkloadChoice>,
    service_request: String,
    justification: String,
    minutes: String,
}

#[derive(Deserialize, Default)]
pub struct NewRequestForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    workload: String,
    #[serde(default)]
    operations: Vec<String>,
    #[serde(default)]
    service_request: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    minutes: String,
}

async fn new_request_page(
    state: &AppState,
    user: &PortalUser,
    form: NewRequestForm,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/lockbox/new";
    if let Err(e) = authorize(&user.actor, Action::FileLockboxRequest) {
        return error_page(state, user, path, e.into());
    }
    let tenants = match state.store.list_tenants(None, MAX_TENANT_CHOICES).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let workloads = match state.store.list_workloads().await {
        Ok(w) => w,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, path);
    page.error = error.map(|e| e.public_message());
    let tr = page.tr.clone();
    let chosen_workload = if form.workload.is_empty() {
        workloads
            .first()
            .map(|w| w.name.clone())
            .unwrap_or_default()
    } else {
        form.workload.clone()
    };
    render(&NewRequestPage {
        title: tr.t("console-lockbox-new"),
        tenants: tenants
            .iter()
            .map(|t| {
                (
                    t.id.to_string(),
                    t.name.clone(),
                    t.id.to_string() == form.tenant,
                )
            })
            .collect(),
        workloads: workloads
            .iter()
            .map(|w| {
                (
                    w.name.clone(),
                    w.operations
                        .iter()
                        .map(|o| {
                            (
                                o.clone(),
                                w.name == chosen_workload && form.operations.contains(o),
                            )
                        })
                        .collect(),
                    w.name == chosen_workload,
                )
            })
            .collect(),
        service_request: form.service_request,
        justification: form.justification,
        minutes: if form.minutes.is_empty() {
            "60".into()
        } else {
            form.minutes
        },
        page,
    })
}

pub async fn console_new(State(state): State<AppState>, user: PortalUser) -> Response {
    new_request_page(&state, &user, NewRequestForm::default(), None).await
}

pub async fn console_file(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewRequestForm>,
) -> Response {
    let tenant = match form.tenant.trim().parse() {
        Ok(t) => t,
        Err(_) => {
            let e = ApiError::BadRequest("choose the tenant".into());
            return new_request_page(&state, &user, form, Some(e)).await;
        }
    };
    let minutes = match form.minutes.trim().parse::<i64>() {
        Ok(m) => m,
        Err(_) => {
            let e =
                ApiError::BadRequest("give the minutes of access as a number, 15 to 240".into());
            return new_request_page(&state, &user, form, Some(e)).await;
        }
    };
    // Operations are checkboxes named `<workload>|<operation>`: only the chosen
    // workload's count.
    let operations: Vec<String> = form
        .operations
        .iter()
        .filter_map(|o| o.split_once('|'))
        .filter(|(w, _)| *w == form.workload)
        .map(|(_, o)| o.to_owned())
        .collect();
    let input = NewRequestInput {
        tenant,
        workload: form.workload.clone(),
        operations,
        service_request: form.service_request.clone(),
        justification: form.justification.clone(),
        duration_minutes: minutes,
    };
    match svc::file_request(&state.core, &user.actor, user.ip.clone(), input)
        .await
        .map_err(ApiError::from)
    {
        Ok(r) => Redirect::to(&format!("/console/lockbox/requests/{}?notice=filed", r.id))
            .into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, "/console/lockbox/new", e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => {
            let mut form = form;
            form.operations = form
                .operations
                .iter()
                .filter_map(|o| o.split_once('|').map(|(_, op)| op.to_owned()))
                .collect();
            new_request_page(&state, &user, form, Some(e)).await
        }
    }
}
