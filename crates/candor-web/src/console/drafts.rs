//! Drafts monitoring opened, for incident managers: what fired, where, whom it would
//! reach, and one button that publishes it as an issue they own.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::alerts as svc;
use candor_app::ids;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;

const PATH: &str = "/console/drafts";

pub struct DraftRow {
    pub id: String,
    pub title: String,
    pub service: String,
    pub firing: bool,
    pub affected: i64,
    pub since: String,
    pub notes: Vec<(String, String)>,
    pub link: Option<String>,
    pub issue: Option<String>,
}

#[derive(Template)]
#[template(path = "console_drafts.html")]
struct DraftsPage {
    title: String,
    page: PageCtx,
    drafts: Vec<DraftRow>,
}

pub async fn list(State(state): State<AppState>, user: PortalUser) -> Response {
    let drafts = match svc::list(&state.core, &user.actor, true, 100).await {
        Ok(d) => d,
        Err(e) => return error_page(&state, &user, PATH, ApiError::from(e)),
    };
    let page = PageCtx::for_user(&state, &user, PATH);
    let tr = page.tr.clone();
    render(&DraftsPage {
        title: tr.t("drafts-title"),
        drafts: drafts
            .iter()
            .map(|d| DraftRow {
                id: d.id.to_string(),
                title: d.title.clone(),
                service: d.service.to_string(),
                firing: d.firing,
                affected: d.affected_tenants,
                since: tr.time(&d.starts_at),
                notes: d
                    .notes
                    .iter()
                    .rev()
                    .take(5)
                    .map(|n| (tr.time(&n.at), n.text.clone()))
                    .collect(),
                link: d.link.clone(),
                issue: d.issue.as_ref().map(|i| i.to_string()),
            })
            .collect(),
        page,
    })
}

/// The one action: publish, and go to the new issue.
pub async fn publish(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let published = match ids::id(&id) {
        Ok(id) => svc::publish(&state.core, &user.actor, user.ip.clone(), id).await,
        Err(e) => Err(e),
    };
    match published {
        Ok((issue, affected)) => Redirect::to(&format!(
            "/console/issues/{}?notice=issue-created&count={affected}",
            issue.id
        ))
        .into_response(),
        Err(e) => error_page(&state, &user, PATH, ApiError::from(e)),
    }
}
