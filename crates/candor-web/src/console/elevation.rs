//! The console's elevation page: ask for a privileged role for a while, see one's own
//! elevations, decide on others' requests for roles one holds, end an active one.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use candor_domain::elevation::{Elevation, ElevationStatus, PRIVILEGED_ROLES};
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::elevation as svc;
use candor_app::error::AppError;
use candor_app::i18n::Tr;

const PATH: &str = "/console/elevation";

pub struct Row {
    pub id: String,
    pub role: String,
    pub operator: String,
    pub reason: String,
    pub status: String,
    pub status_class: &'static str,
    pub requested: String,
    pub until: String,
    pub active: bool,
}

fn row(tr: &Tr, e: &Elevation, operator: String) -> Row {
    Row {
        id: e.id.to_string(),
        role: tr.t(&format!("role-{}", e.role.as_str())),
        operator,
        reason: e.reason.clone(),
        status: tr.t(&format!("elevation-status-{}", e.status.as_str())),
        status_class: match e.status {
            ElevationStatus::Requested => "warn",
            ElevationStatus::Active => "ok",
            ElevationStatus::Denied => "bad",
            _ => "info",
        },
        requested: tr.time(&e.requested_at),
        until: e.active_until.map(|t| tr.time(&t)).unwrap_or_default(),
        active: e.status == ElevationStatus::Active,
    }
}

#[derive(Template)]
#[template(path = "console_elevation.html")]
struct ElevationPage {
    title: String,
    page: PageCtx,
    roles: Vec<(String, String)>,
    reason: String,
    minutes: String,
    mine: Vec<Row>,
    waiting: Vec<Row>,
}

async fn elevation_page(
    state: &AppState,
    user: &PortalUser,
    raw: &Option<String>,
    failed: Option<(ApiError, String, String)>,
) -> Response {
    let (mine, waiting) = match svc::overview(&state.core, &user.actor).await {
        Ok(v) => v,
        Err(e) => return error_page(state, user, PATH, ApiError::from(e)),
    };
    let mut page = PageCtx::for_user(state, user, PATH);
    let tr = page.tr.clone();
    page.notice = raw
        .as_deref()
        .and_then(|q| q.strip_prefix("notice="))
        .and_then(|n| match n {
            "requested" => Some("elevation-requested"),
            "decided" => Some("elevation-decided"),
            "revoked" => Some("elevation-revoked"),
            _ => None,
        })
        .map(|k| tr.t(k));
    let (mut reason, mut minutes) = (String::new(), "60".to_owned());
    if let Some((e, r, m)) = failed {
        page.error = Some(e.public_message());
        reason = r;
        minutes = m;
    }
    let mut waiting_rows = Vec::new();
    for e in &waiting {
        let name = match state.store.get_operator(e.operator).await {
            Ok(o) => o.map(|o| o.display_name).unwrap_or_default(),
            Err(err) => return ApiError::from(err).into_response(),
        };
        waiting_rows.push(row(&tr, e, name));
    }
    render(&ElevationPage {
        title: tr.t("elevation-title"),
        roles: PRIVILEGED_ROLES
            .iter()
            .map(|r| (r.as_str().to_owned(), tr.t(&format!("role-{}", r.as_str()))))
            .collect(),
        reason,
        minutes,
        mine: mine
            .iter()
            .map(|e| row(&tr, e, user.display_name.clone()))
            .collect(),
        waiting: waiting_rows,
        page,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    elevation_page(&state, &user, &raw, None).await
}

#[derive(Deserialize)]
pub struct RequestForm {
    role: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    minutes: String,
}

pub async fn request(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<RequestForm>,
) -> Response {
    let result = match form.minutes.trim().parse::<i64>() {
        Ok(m) => {
            svc::request(
                &state.core,
                &user.actor,
                user.ip.clone(),
                &form.role,
                &form.reason,
                m,
            )
            .await
        }
        Err(_) => Err(AppError::Refused(
            "give the minutes as a number, 15 to 480".into(),
        )),
    };
    let result = result.map_err(ApiError::from);
    match result {
        Ok(_) => Redirect::to("/console/elevation?notice=requested").into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => elevation_page(&state, &user, &None, Some((e, form.reason, form.minutes))).await,
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

pub async fn decide(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let approve = match form.decision.as_str() {
        "Approve" => true,
        "Deny" => false,
        _ => {
            let e = ApiError::BadRequest("choose Approve or Deny".into());
            return elevation_page(&state, &user, &None, Some((e, String::new(), "60".into())))
                .await;
        }
    };
    let comment = Some(form.comment).filter(|c| !c.trim().is_empty());
    match ids::with_id(&id, |id| {
        svc::decide(
            &state.core,
            &user.actor,
            user.ip.clone(),
            id,
            approve,
            comment,
        )
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/console/elevation?notice=decided").into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            error_page(&state, &user, PATH, e)
        }
        Err(e) => elevation_page(&state, &user, &None, Some((e, String::new(), "60".into()))).await,
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    match ids::with_id(&id, |id| {
        svc::revoke(&state.core, &user.actor, user.ip.clone(), id)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/console/elevation?notice=revoked").into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            error_page(&state, &user, PATH, e)
        }
        Err(e) => elevation_page(&state, &user, &None, Some((e, String::new(), "60".into()))).await,
    }
}
