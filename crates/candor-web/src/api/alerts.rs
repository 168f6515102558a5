//! Alert intake over HTTP: Alertmanager's webhook and Candor's generic alert, for operator
//! clients with the AlertSource role; and the drafts they open, for incident managers to
//! see and publish.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_app::alerts::{self as svc, Intake};
use candor_app::ids;
use candor_domain::health::alert::{
    read_alertmanager, read_generic, Alert, AlertmanagerPayload, GenericAlert, IssueDraft,
};
use candor_domain::identity::InvalidValue;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use super::operator::{json_body, view};
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// What each alert did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntakeView {
    pub fingerprint: String,
    /// opened (a new draft; the incident managers are told), updated, or ignored (a
    /// resolved alert with no open draft).
    pub outcome: String,
    pub draft_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntakeAnswer {
    pub alerts: Vec<IntakeView>,
}

fn problems(all: Vec<InvalidValue>) -> ApiError {
    let text: Vec<String> = all.iter().map(|p| p.problem.clone()).collect();
    ApiError::BadRequest(format!("the alerts cannot be read: {}", text.join("; ")))
}

async fn take(state: &AppState, caller: &ApiCaller, alerts: Vec<Alert>) -> ApiResult<Response> {
    let done = svc::ingest(&state.core, &caller.actor, alerts).await?;
    let alerts = done
        .into_iter()
        .map(|(alert, intake)| {
            let (outcome, draft) = match intake {
                Intake::Opened(d) => ("opened", Some(d.to_string())),
                Intake::Updated(d) => ("updated", Some(d.to_string())),
                Intake::Ignored => ("ignored", None),
            };
            IntakeView {
                fingerprint: alert.fingerprint,
                outcome: outcome.into(),
                draft_id: draft,
            }
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(IntakeAnswer { alerts })).into_response())
}

/// Prometheus Alertmanager's webhook (payload version 4). Labels `candor_service`
/// (required), `candor_component`, `candor_scale_unit`, `candor_region` (comma-separated),
/// `candor_classification`; annotations `summary` and `description`.
#[utoipa::path(post, path = "/api/v1/alerts/alertmanager", tag = "operator",
    request_body(content = Object, description = "Alertmanager's webhook payload, version 4"),
    security(("bearer" = [])),
    responses((status = 202, description = "What each alert did", body = IntakeAnswer),
        (status = 400, description = "Every problem of the payload, each with its alert"),
        (status = 403, description = "Needs the AlertSource role")))]
pub async fn alertmanager(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    svc::may_ingest(&caller.actor)?;
    let payload: AlertmanagerPayload = json_body(&headers, &body)?;
    let alerts = read_alertmanager(&payload, state.core.clock.now()).map_err(problems)?;
    take(&state, &caller, alerts).await
}

/// One alert in Candor's own form: fingerprint, status, service, title, and optionally
/// description, classification, components, scaleUnits, regions, startsAt, link.
#[utoipa::path(post, path = "/api/v1/alerts/generic", tag = "operator",
    request_body(content = Object, description = "A generic alert"),
    security(("bearer" = [])),
    responses((status = 202, description = "What the alert did", body = IntakeAnswer),
        (status = 400, description = "Every problem of the alert"),
        (status = 403, description = "Needs the AlertSource role")))]
pub async fn generic(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    svc::may_ingest(&caller.actor)?;
    let alert: GenericAlert = json_body(&headers, &body)?;
    let alert = read_generic(&alert, state.core.clock.now()).map_err(problems)?;
    take(&state, &caller, vec![alert]).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DraftsParams {
    /// Also the published ones.
    pub all: Option<bool>,
    /// At most this many (1-500, default 50).
    pub limit: Option<u32>,
}

/// Drafts monitoring opened, newest first (open ones only unless `all=true`).
#[utoipa::path(get, path = "/api/v1/operator/drafts", tag = "operator", params(DraftsParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Drafts", body = [Object]),
        (status = 403, description = "Needs the Incident Manager role")))]
pub async fn list_drafts(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<DraftsParams>,
) -> ApiResult<Json<Vec<IssueDraft>>> {
    svc::may_publish(&caller.actor)?;
    let limit = candor_app::deliveries::page_size(p.limit)?;
    Ok(Json(
        svc::list(&state.core, &caller.actor, p.all.unwrap_or(false), limit).await?,
    ))
}

/// One draft, with its notes (fired, resolved) and the issue it became.
#[utoipa::path(get, path = "/api/v1/operator/drafts/{id}", tag = "operator",
    params(("id" = String, Path, description = "Draft id")), security(("bearer" = [])),
    responses((status = 200, description = "The draft", body = Object),
        (status = 404, description = "No such draft")))]
pub async fn get_draft(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<IssueDraft>> {
    svc::may_publish(&caller.actor)?;
    Ok(Json(
        svc::get(&state.core, &caller.actor, ids::id(&id)?).await?,
    ))
}

/// Publishes a draft as an issue the caller owns (a client names no person: the one on
/// duty owns it); every tenant its scope reaches is told.
#[utoipa::path(post, path = "/api/v1/operator/drafts/{id}/publish", tag = "operator",
    params(("id" = String, Path, description = "Draft id")), security(("bearer" = [])),
    responses((status = 201, description = "The issue", body = Object),
        (status = 404, description = "No such draft"),
        (status = 409, description = "Already published")))]
pub async fn publish_draft(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    svc::may_publish(&caller.actor)?;
    let (issue, affected) =
        svc::publish(&state.core, &caller.actor, caller.ip.clone(), ids::id(&id)?).await?;
    let posts = state.store.issue_posts(&issue.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(
            &issue,
            state.core.clock.now(),
            Some(affected),
            Some(&posts),
        )),
    )
        .into_response())
}
