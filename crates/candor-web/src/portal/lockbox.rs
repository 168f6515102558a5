//! Customer Lockbox for tenants: the setting, the request list (status and date
//! filters, paging), a request with approve/deny and revoke.

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
    after_form, comment_of, filters, next_link, notice, request_page, row, status_choices,
    DecisionForm, Row, PAGE_SIZE,
};
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::error::AppError;
use candor_app::lockbox::{self as svc, Decision, ListQuery};

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

pub async fn tenant_request(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    request_page(&state, &user, false, &id, &raw, None).await
}

pub async fn tenant_decide(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let result = match form.decision.parse::<Decision>() {
        Ok(d @ (Decision::Approve | Decision::Deny)) => {
            let (state, user, form) = (&state, &user, &form);
            ids::with_id(&id, |id| async move {
                svc::get(&state.core, &user.actor, id).await?;
                svc::decide(
                    &state.core,
                    &user.actor,
                    user.ip.clone(),
                    id,
                    d,
                    comment_of(form),
                )
                .await
            })
            .await
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
    let result = {
        let (state, user, form) = (&state, &user, &form);
        ids::with_id(&id, |id| async move {
            svc::get(&state.core, &user.actor, id).await?;
            svc::revoke(
                &state.core,
                &user.actor,
                user.ip.clone(),
                id,
                comment_of(form),
            )
            .await
        })
        .await
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
