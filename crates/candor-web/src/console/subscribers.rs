//! The public status page's email subscribers, for incident managers: how many hear
//! about each service, the addresses (searchable), removing one, and the list as CSV.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use candor_app::ids;
use candor_app::subscribers as svc;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;

const PATH: &str = "/console/subscribers";
/// Addresses shown a page at a time.
const PAGE: u32 = 100;

pub struct SubscriberRow {
    pub id: String,
    pub email: String,
    pub language: &'static str,
    pub topics: String,
    pub services: String,
    pub confirmed: String,
}

#[derive(Template)]
#[template(path = "console_subscribers.html")]
struct SubscribersPage {
    title: String,
    page: PageCtx,
    total: u64,
    every_service: u64,
    per_service: Vec<(String, u64)>,
    rows: Vec<SubscriberRow>,
    search: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    Query(query): Query<ListQuery>,
) -> Response {
    let counts = match svc::counts(&state.core, &user.actor).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &user, PATH, ApiError::from(e)),
    };
    let listed = svc::list(
        &state.core,
        &user.actor,
        Some(query.q.as_str()),
        query.after.as_deref(),
        PAGE,
    )
    .await;
    let subscribers = match listed {
        Ok(l) => l,
        Err(e) => return error_page(&state, &user, PATH, ApiError::from(e)),
    };
    let catalog = match state.store.list_services().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(&state, &user, PATH);
    let tr = page.tr.clone();
    if query.notice.as_deref() == Some("removed") {
        page.notice = Some(tr.t("subscribers-removed"));
    }
    let next = (subscribers.len() == PAGE as usize)
        .then(|| subscribers.last().map(|s| s.email.to_string()))
        .flatten();
    render(&SubscribersPage {
        title: tr.t("subscribers-title"),
        total: counts.total,
        every_service: counts.every_service,
        per_service: counts
            .per_service
            .into_iter()
            .map(|(name, _, n)| (name, n))
            .collect(),
        rows: subscribers
            .iter()
            .map(|s| {
                let (topics, services) =
                    crate::portal::contacts::describe(&tr, &catalog, &s.subscription);
                SubscriberRow {
                    id: s.id.to_string(),
                    email: s.email.to_string(),
                    language: s.language.native_name(),
                    topics,
                    services,
                    confirmed: tr.time(&s.confirmed_at),
                }
            })
            .collect(),
        search: query.q,
        next,
        page,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveForm {}

pub async fn remove(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(_): Form<RemoveForm>,
) -> Response {
    match ids::with_id(&id, |id| {
        svc::remove(&state.core, &user.actor, user.ip.clone(), id)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/console/subscribers?notice=removed").into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, PATH, e),
    }
}

pub async fn export(State(state): State<AppState>, user: PortalUser) -> Response {
    match svc::export_csv(&state.core, &user.actor).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"subscribers.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(e) => error_page(&state, &user, PATH, ApiError::from(e)),
    }
}
