//! Customer Lockbox for operators: file a request, one's own requests, the Support
//! Manager's queue, a request with the internal decision or cancellation.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use candor_domain::identity::{authorize, Action};
use candor_domain::lockbox::LockboxStatus;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::lockbox::{
    after_form, comment_of, filters, next_link, notice, query_param, request_page, row,
    status_choices, DecisionForm, Row, PAGE_SIZE,
};
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::lockbox::{self as svc, Decision, ListQuery, NewRequestInput};

/// A workload in the filing form: (name, its operations with whether each is ticked,
/// whether it is the chosen one).
type WorkloadChoice = (String, Vec<(String, bool)>, bool);

/// The filing form lists tenants by name up to this many.
const MAX_TENANT_CHOICES: u32 = 1000;

pub async fn console_request(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    request_page(&state, &user, true, &id, &raw, None).await
}

pub async fn console_decide(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let (result, notice) = match form.decision.parse::<Decision>() {
        Ok(Decision::Cancel) => (
            ids::with_id(&id, |id| {
                svc::decide(
                    &state.core,
                    &user.actor,
                    user.ip.clone(),
                    id,
                    Decision::Cancel,
                    None,
                )
            })
            .await,
            "canceled",
        ),
        Ok(d) => (
            ids::with_id(&id, |id| {
                svc::decide_internally(
                    &state.core,
                    &user.actor,
                    user.ip.clone(),
                    id,
                    d == Decision::Approve,
                    comment_of(&form),
                )
            })
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
