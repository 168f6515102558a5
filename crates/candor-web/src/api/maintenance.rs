//! Planned maintenance over the API: operators schedule, change, list and preview it
//! (creates and changes honour `Idempotency-Key`); a tenant's apps and administrators
//! list what reaches their tenant.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use candor_app::ids;
use candor_app::maintenance::{self as svc, NewMaintenanceInput};
use candor_domain::health::maintenance::{MaintenanceId, ScheduledMaintenance};
use candor_domain::health::Scope;
use candor_domain::identity::{authorize, Action, Denied, DenyReason};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use candor_domain::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use super::operator::{idempotent, json_body, to_json, PreviewView};
use super::operator_messages::time_field;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

fn required_time(name: &str, value: &str) -> ApiResult<OffsetDateTime> {
    time_field(name, Some(value))?
        .ok_or_else(|| ApiError::BadRequest(format!("{name} is required (RFC 3339)")))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceText {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMaintenanceRequest {
    /// Service ids or display names.
    pub services: Vec<String>,
    /// components, scaleUnits, regions, services, tenants, unclear (default: every
    /// tenant of the services).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub scope: Scope,
    /// Title and description by language tag (en, nl, fr, ko, zh-TW); at least one.
    pub text: BTreeMap<String, MaintenanceText>,
    /// RFC 3339.
    pub start_date_time: String,
    /// RFC 3339; at most 7 days after the start.
    pub end_date_time: String,
    /// none, degraded or unavailable.
    pub expected_impact: String,
    /// Minutes before the start to remind tenants (0 to 10080; default 60).
    pub reminder_minutes: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceChangeRequest {
    /// startEarly, extend, completeEarly, cancel or reschedule.
    pub change: String,
    /// The new start (reschedule).
    pub start_date_time: Option<String>,
    /// The new end (extend, reschedule).
    pub end_date_time: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenancePreviewRequest {
    pub services: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub scope: Scope,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceView {
    pub id: String,
    /// The Message Center message that carries it (category planForChange).
    pub message_id: String,
    pub services: Vec<String>,
    /// Public news (the public status page shows it).
    pub is_broad: bool,
    pub text: BTreeMap<String, MaintenanceText>,
    pub start_date_time: String,
    pub end_date_time: String,
    pub expected_impact: String,
    pub reminder_minutes: i64,
    /// scheduled, inProgress, completed or cancelled.
    pub state: String,
    pub started_date_time: Option<String>,
    pub ended_date_time: Option<String>,
    /// Notices given so far.
    pub notices: Vec<String>,
    pub created_by: String,
    pub created_date_time: String,
    pub last_modified_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenants_reached: Option<i64>,
    /// Operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub scope: Option<Scope>,
}

fn view(s: &ScheduledMaintenance, reached: Option<i64>, operator: bool) -> MaintenanceView {
    let m = &s.maintenance;
    MaintenanceView {
        id: s.id.to_string(),
        message_id: s.message.to_string(),
        services: m.services.iter().map(|x| x.to_string()).collect(),
        is_broad: s.broad,
        text: m
            .text
            .iter()
            .map(|(l, (t, d))| {
                (
                    l.tag().to_owned(),
                    MaintenanceText {
                        title: t.clone(),
                        description: d.clone(),
                    },
                )
            })
            .collect(),
        start_date_time: rfc3339(m.window.start),
        end_date_time: rfc3339(m.window.end),
        expected_impact: m.impact.as_str().to_owned(),
        reminder_minutes: m.reminder.whole_minutes(),
        state: m.state.as_str().to_owned(),
        started_date_time: m.started_at.map(rfc3339),
        ended_date_time: m.ended_at.map(rfc3339),
        notices: m.told.iter().map(|n| n.as_str().to_owned()).collect(),
        created_by: s.created_by.clone(),
        created_date_time: rfc3339(s.created_at),
        last_modified_date_time: rfc3339(s.last_modified),
        tenants_reached: reached,
        scope: operator.then(|| m.scope.clone()),
    }
}

fn text_input(
    text: BTreeMap<String, MaintenanceText>,
) -> ApiResult<BTreeMap<Language, (String, String)>> {
    text.into_iter()
        .map(|(tag, t)| {
            let lang: Language = tag.parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "text: `{}` is not a language Candor speaks (en, nl, fr, ko, zh-TW)",
                    tag.chars().take(20).collect::<String>()
                ))
            })?;
            Ok((lang, (t.title, t.description)))
        })
        .collect()
}

/// Schedules a planned maintenance and tells the tenants it reaches.
#[utoipa::path(post, path = "/api/v1/operator/maintenances", tag = "operator",
    request_body = CreateMaintenanceRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The maintenance, with how many tenants it reached", body = MaintenanceView),
        (status = 400, description = "Invalid input (window, services, scope, text)"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Needs the Incident Manager role"),
        (status = 409, description = "Idempotency-Key reused for another request, or still in progress"),
    ))]
pub async fn create_maintenance(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: CreateMaintenanceRequest = json_body(&headers, &body)?;
    let fingerprint = format!(
        "POST /api/v1/operator/maintenances\n{}",
        String::from_utf8_lossy(&body)
    );
    let input = NewMaintenanceInput {
        services: req.services,
        scope: req.scope,
        text: text_input(req.text)?,
        start: required_time("startDateTime", &req.start_date_time)?,
        end: required_time("endDateTime", &req.end_date_time)?,
        impact: req.expected_impact.parse()?,
        reminder_minutes: req.reminder_minutes,
    };
    let actor = caller.actor.clone();
    idempotent(&state, &caller.actor, &headers, &fingerprint, || async {
        let (m, reached) = svc::schedule(&state.core, &actor, caller.ip.clone(), input).await?;
        Ok((
            StatusCode::CREATED,
            to_json(&view(&m, Some(reached), true))?,
        ))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MaintenanceListParams {
    /// At most this many (1-500, default 100).
    pub limit: Option<u32>,
}

/// Every planned maintenance, latest window first.
#[utoipa::path(get, path = "/api/v1/operator/maintenances", tag = "operator",
    params(MaintenanceListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Maintenances", body = Vec<MaintenanceView>)))]
pub async fn list_maintenances(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<MaintenanceListParams>,
) -> ApiResult<Json<Vec<MaintenanceView>>> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > svc::MAX_LISTED {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {}",
            svc::MAX_LISTED
        )));
    }
    let list = svc::list_for_operator(&state.core, &caller.actor, limit).await?;
    Ok(Json(list.iter().map(|m| view(m, None, true)).collect()))
}

/// One planned maintenance.
#[utoipa::path(get, path = "/api/v1/operator/maintenances/{id}", tag = "operator",
    params(("id" = String, Path, description = "Maintenance id, e.g. MN1000")),
    security(("bearer" = [])),
    responses((status = 200, description = "The maintenance", body = MaintenanceView), (status = 404, description = "No such maintenance")))]
pub async fn get_maintenance(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<MaintenanceView>> {
    let id: MaintenanceId = ids::id(&id)?;
    let m = svc::get_for_operator(&state.core, &caller.actor, &id).await?;
    Ok(Json(view(&m, None, true)))
}

/// Starts a maintenance early, extends it, completes it early, cancels or reschedules it.
#[utoipa::path(post, path = "/api/v1/operator/maintenances/{id}/changes", tag = "operator",
    params(("id" = String, Path, description = "Maintenance id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried change safe")),
    request_body = MaintenanceChangeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The maintenance after the change", body = MaintenanceView),
        (status = 400, description = "Invalid change"),
        (status = 404, description = "No such maintenance"),
        (status = 409, description = "Not possible in its present state, or changed meanwhile"),
    ))]
pub async fn change_maintenance(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let id: MaintenanceId = ids::id(&id)?;
    let req: MaintenanceChangeRequest = json_body(&headers, &body)?;
    let change = svc::parse_change(
        &req.change,
        time_field("startDateTime", req.start_date_time.as_deref())?,
        time_field("endDateTime", req.end_date_time.as_deref())?,
    )?;
    let fingerprint = format!(
        "POST /api/v1/operator/maintenances/{id}/changes\n{}",
        String::from_utf8_lossy(&body)
    );
    let actor = caller.actor.clone();
    idempotent(&state, &caller.actor, &headers, &fingerprint, || async {
        let m = svc::change(&state.core, &actor, caller.ip.clone(), &id, change).await?;
        Ok((StatusCode::OK, to_json(&view(&m, None, true))?))
    })
    .await
}

/// Who a maintenance would reach, without scheduling anything.
#[utoipa::path(post, path = "/api/v1/operator/maintenances/impact-preview", tag = "operator",
    request_body = MaintenancePreviewRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Counts per region and the tenants", body = PreviewView)))]
pub async fn maintenance_preview(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PreviewView>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: MaintenancePreviewRequest = json_body(&headers, &body)?;
    let p = svc::preview(&state.core, &caller.actor, &req.services, &req.scope).await?;
    Ok(Json(p.into()))
}

fn tenant_of(caller: &ApiCaller) -> ApiResult<TenantId> {
    caller.actor.tenant_id().ok_or_else(|| {
        ApiError::Forbidden(Denied {
            reason: DenyReason::WrongRealm,
            message:
                "a tenant's maintenance is read with one of its apps or a session of its people"
                    .into(),
        })
    })
}

/// The planned maintenance that reaches the caller's tenant, latest window first.
#[utoipa::path(get, path = "/api/v1/maintenances", tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Maintenances", body = Vec<MaintenanceView>),
        (status = 403, description = "Not a tenant's caller, or without ServiceHealth.Read.All"),
    ))]
pub async fn tenant_maintenances(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<Vec<MaintenanceView>>> {
    let tenant = tenant_of(&caller)?;
    let list = svc::for_tenant(&state.core, &caller.actor, tenant).await?;
    Ok(Json(list.iter().map(|m| view(m, None, false)).collect()))
}

/// The same as an iCalendar feed (RFC 5545), in the tenant's language: for a calendar
/// client that can send a bearer token; others use the portal's private feed link.
#[utoipa::path(get, path = "/api/v1/maintenances.ics", tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An iCalendar feed (text/calendar)", content_type = "text/calendar", body = String),
        (status = 403, description = "Not a tenant's caller, or without ServiceHealth.Read.All"),
    ))]
pub async fn tenant_calendar(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Response> {
    use axum::response::IntoResponse;
    let tenant = tenant_of(&caller)?;
    let list = svc::for_tenant(&state.core, &caller.actor, tenant).await?;
    let row = state
        .store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
    let tr = candor_app::i18n::Tr::new(row.default_language, "UTC");
    let name = format!("{}: {}", row.name, tr.t("maintenance-calendar"));
    let body = svc::calendar(&name, &list, row.default_language);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/calendar; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response())
}
