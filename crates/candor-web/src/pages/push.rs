//! Push notifications, in the portal (a tenant user hears the news their roles let them
//! read) and in the console (an operator hears when an incident they are chased for is
//! overdue): turn them on for this browser (a few lines of JavaScript hand the browser's
//! subscription to Candor), see your browsers, send one a test, remove one. Plus what
//! makes Candor an installable web app: the manifest, the service worker, the icon.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::error::AppError;
use candor_app::push::{self as svc, BrowserInput};

/// Where the signed-in person's push page is: the console's for operators.
fn home(user: &PortalUser) -> &'static str {
    if user.is_operator() {
        "/console/push"
    } else {
        "/portal/push"
    }
}

/// The page of the other realm sends its visitor to their own.
fn elsewhere(user: &PortalUser, at: &str) -> Option<Response> {
    let home = home(user);
    (!at.starts_with(home)).then(|| Redirect::to(home).into_response())
}

pub struct BrowserRow {
    pub id: String,
    pub label: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "push.html")]
struct PushPage {
    title: String,
    page: PageCtx,
    rows: Vec<BrowserRow>,
    vapid_key: String,
    /// The page's own address, where the forms and the script post.
    action: &'static str,
    intro: String,
}

async fn push_page(state: &AppState, user: &PortalUser, raw: &Option<String>) -> Response {
    let path = home(user);
    let browsers = match svc::list(&state.core, &user.actor).await {
        Ok(b) => b,
        Err(e) => return error_page(state, user, path, ApiError::from(e)),
    };
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = match raw.as_deref() {
        Some("notice=subscribed") => Some(tr.t("push-subscribed")),
        Some("notice=removed") => Some(tr.t("push-removed")),
        Some("notice=test") => Some(tr.t("push-test-queued")),
        _ => None,
    };
    render(&PushPage {
        title: tr.t("push-title"),
        rows: browsers
            .iter()
            .map(|b| BrowserRow {
                id: b.id.to_string(),
                label: b.label.clone(),
                since: tr.time(&b.created_at),
            })
            .collect(),
        vapid_key: state.core.keys.vapid.public_b64(),
        action: path,
        intro: tr.t(if user.is_operator() {
            "push-intro-console"
        } else {
            "push-intro"
        }),
        page,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(away) = elsewhere(&user, uri.path()) {
        return away;
    }
    push_page(&state, &user, &raw).await
}

#[derive(Deserialize, Default)]
pub struct SubscribeForm {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    p256dh: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    label: String,
}

/// What the page's script posts: the browser's subscription.
pub async fn subscribe(
    State(state): State<AppState>,
    user: PortalUser,
    uri: Uri,
    Form(form): Form<SubscribeForm>,
) -> Response {
    if let Some(away) = elsewhere(&user, uri.path()) {
        return away;
    }
    let path = home(&user);
    let input = BrowserInput {
        endpoint: form.endpoint,
        p256dh: form.p256dh,
        auth: form.auth,
        label: form.label,
    };
    match svc::subscribe(&state.core, &user.actor, user.ip.clone(), input)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to(&format!("{path}?notice=subscribed")).into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, path, e),
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
}

pub async fn act(
    State(state): State<AppState>,
    user: PortalUser,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(away) = elsewhere(&user, uri.path()) {
        return away;
    }
    let path = home(&user);
    let (core, actor, ip) = (&state.core, &user.actor, user.ip.clone());
    let result = match form.action.as_str() {
        "remove" => ids::with_id(&id, |id| svc::remove(core, actor, ip, id))
            .await
            .map(|_| "removed"),
        "test" => ids::with_id(&id, |id| svc::send_test(core, actor, ip, id))
            .await
            .map(|_| "test"),
        _ => Err(AppError::Refused("choose test or remove".into())),
    };
    let result = result.map_err(ApiError::from);
    match result {
        Ok(notice) => Redirect::to(&format!("{path}?notice={notice}")).into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, path, e),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

pub async fn manifest() -> Response {
    asset(
        "application/manifest+json",
        include_str!("../../static/manifest.webmanifest"),
    )
}

pub async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // A new worker is picked up within minutes of an upgrade.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/sw.js"),
    )
        .into_response()
}

pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/push.js"),
    )
}

pub async fn icon() -> Response {
    asset("image/svg+xml", include_str!("../../static/icon.svg"))
}
