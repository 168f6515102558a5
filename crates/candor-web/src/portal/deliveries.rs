//! The tenant's delivery log: every email, webhook and push sent, waiting or failed.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::deliveries::{row, DeliveryRow};
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::deliveries as svc;

const PATH: &str = "/portal/deliveries";

#[derive(Template)]
#[template(path = "deliveries.html")]
struct LogPage {
    title: String,
    page: PageCtx,
    rows: Vec<DeliveryRow>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    before: Option<String>,
}

pub async fn tenant_log(
    State(state): State<AppState>,
    user: PortalUser,
    Query(q): Query<LogQuery>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let log = match svc::tenant_log(
        &state.core,
        &user.actor,
        tenant,
        q.before.as_deref(),
        svc::PAGE,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&state, &user, PATH, ApiError::from(e)),
    };
    let page = PageCtx::for_user(&state, &user, PATH);
    let tr = page.tr.clone();
    render(&LogPage {
        title: tr.t("deliveries-title"),
        rows: log.deliveries.iter().map(|d| row(&tr, d)).collect(),
        next: log.next.map(|c| format!("{PATH}?before={c}")),
        page,
    })
}
