//! What Lockbox pages show alike to tenants and operators: a request, its decisions, the
//! list's rows and filters, and what follows a decision form.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::lockbox::{Decision as Decided, LockboxRequest, LockboxStatus};
use candor_domain::time_util::parse_time;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::i18n::Tr;
use candor_app::lockbox::{self as svc};

pub(crate) const PAGE_SIZE: u32 = 50;

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

pub(crate) fn query_param(raw: &Option<String>, key: &str) -> Option<String> {
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
pub(crate) fn notice(tr: &Tr, raw: &Option<String>) -> Option<String> {
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

pub(crate) fn row(tr: &Tr, r: &LockboxRequest, base: &str, tenant: String) -> Row {
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
pub(crate) fn status_choices(
    tr: &Tr,
    selected: Option<LockboxStatus>,
) -> Vec<(String, String, bool)> {
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

pub(crate) struct Filters {
    pub(crate) status: Option<LockboxStatus>,
    pub(crate) after_text: String,
    pub(crate) after: Option<time::OffsetDateTime>,
    pub(crate) cursor: Option<(
        time::OffsetDateTime,
        candor_domain::lockbox::LockboxRequestId,
    )>,
}

pub(crate) fn filters(raw: &Option<String>) -> Result<Filters, ApiError> {
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

pub(crate) fn next_link(
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
pub(crate) async fn request_page(
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
    let r = match ids::with_id(id, |id| svc::get(&state.core, &user.actor, id)).await {
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

#[derive(Deserialize)]
pub struct DecisionForm {
    pub(crate) decision: String,
    #[serde(default)]
    pub(crate) comment: String,
}

pub(crate) fn comment_of(form: &DecisionForm) -> Option<String> {
    Some(form.comment.clone()).filter(|c| !c.trim().is_empty())
}

/// After a form: back to the request with a notice, or the page again with the error.
pub(crate) async fn after_form(
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
