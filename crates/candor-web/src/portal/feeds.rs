//! The tenant's private feed links: create (the link shown once), list, revoke.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::feeds as svc;

const PATH: &str = "/portal/feeds";

pub struct LinkRow {
    pub id: String,
    pub label: String,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "feeds.html")]
struct FeedsPage {
    title: String,
    page: PageCtx,
    links: Vec<LinkRow>,
    created: Option<String>,
    label: String,
}

async fn feeds_page(
    state: &AppState,
    user: &PortalUser,
    raw: &Option<String>,
    created: Option<String>,
    failed: Option<(ApiError, String)>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(state, user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let links = match svc::links(&state.core, &user.actor, tenant).await {
        Ok(l) => l,
        Err(e) => return error_page(state, user, PATH, ApiError::from(e)),
    };
    let mut page = PageCtx::for_user(state, user, PATH);
    let tr = page.tr.clone();
    if raw.as_deref() == Some("notice=revoked") {
        page.notice = Some(tr.t("feeds-revoked"));
    }
    let mut label = String::new();
    if let Some((e, typed)) = failed {
        page.error = Some(e.public_message());
        label = typed;
    }
    render(&FeedsPage {
        title: tr.t("feeds-title"),
        links: links
            .iter()
            .map(|l| LinkRow {
                id: l.id.to_string(),
                label: l.label.clone(),
                created: tr.time(&l.created_at),
                revoked: l.revoked_at.map(|t| tr.time(&t)),
            })
            .collect(),
        created,
        label,
        page,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    feeds_page(&state, &user, &raw, None, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    label: String,
}

pub async fn create(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<CreateForm>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    match svc::create_link(
        &state.core,
        &user.actor,
        user.ip.clone(),
        tenant,
        &form.label,
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(made) => {
            let url = format!(
                "{}/feeds/tenants/{}",
                state.config.public_url.trim_end_matches('/'),
                made.token
            );
            feeds_page(&state, &user, &None, Some(url), None).await
        }
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, PATH, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => feeds_page(&state, &user, &None, None, Some((e, form.label))).await,
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    match ids::with_id(&id, |id| {
        svc::revoke_link(&state.core, &user.actor, user.ip.clone(), tenant, id)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(()) => Redirect::to("/portal/feeds?notice=revoked").into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, PATH, e),
    }
}
