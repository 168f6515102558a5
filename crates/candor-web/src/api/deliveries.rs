//! The operators' view of deliveries over the API: how each change's news is reaching
//! tenants, and one change's deliveries with their errors.

use axum::extract::State;
use axum::Json;
use candor_domain::health::DeliveryStatus;
use candor_domain::time_util::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::deliveries::{self as svc, ChangeView, DeliveryView};

/// How one change's deliveries stand.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSummary {
    /// e.g. `issue:EX100000:post:2`, `issue:EX100000:review`, `message:MC100000`.
    pub change: String,
    /// Tenants the issue or message reached, whether or not they have subscribers.
    pub tenants_reached: Option<i64>,
    /// Tenants with at least one delivery of this change.
    pub tenants_with_deliveries: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    pub first_queued_date_time: String,
    pub last_activity_date_time: String,
}

impl From<&ChangeView> for ChangeSummary {
    fn from(c: &ChangeView) -> Self {
        ChangeSummary {
            change: c.deliveries.change.clone(),
            tenants_reached: c.tenants_reached,
            tenants_with_deliveries: c.deliveries.tenants,
            sent: c.deliveries.sent,
            pending: c.deliveries.pending,
            failed: c.deliveries.failed,
            first_queued_date_time: rfc3339(c.deliveries.first_queued),
            last_activity_date_time: rfc3339(c.deliveries.last_activity),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ChangesParams {
    /// Only changes whose key starts with this, e.g. `issue:EX100000:`.
    pub prefix: Option<String>,
    /// At most this many (1-500, default 50).
    pub limit: Option<u32>,
}

/// The latest changes and how their deliveries stand.
#[utoipa::path(get, path = "/api/v1/operator/deliveries/changes", tag = "operator", params(ChangesParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Changes, newest first", body = [ChangeSummary]),
        (status = 403, description = "Needs the Incident Manager role")))]
pub async fn list_changes(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<ChangesParams>,
) -> ApiResult<Json<Vec<ChangeSummary>>> {
    let limit = svc::page_size(p.limit)?;
    let changes = svc::changes(&state.core, &caller.actor, p.prefix.as_deref(), limit).await?;
    Ok(Json(changes.iter().map(ChangeSummary::from).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveriesParams {
    /// The change, e.g. `issue:EX100000:post:2`.
    pub change: String,
    /// Only deliveries in this status: pending, sending, sent or dead.
    pub status: Option<String>,
    /// At most this many (1-500, default 50).
    pub limit: Option<u32>,
}

/// One change: its summary and its deliveries (newest activity first).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDeliveriesView {
    pub summary: Option<ChangeSummary>,
    pub deliveries: Vec<DeliveryView>,
}

/// One change's deliveries, e.g. the failed ones with their errors.
#[utoipa::path(get, path = "/api/v1/operator/deliveries", tag = "operator", params(DeliveriesParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The change's deliveries", body = ChangeDeliveriesView),
        (status = 400, description = "A bad status or limit"),
        (status = 403, description = "Needs the Incident Manager role")))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<DeliveriesParams>,
) -> ApiResult<Json<ChangeDeliveriesView>> {
    let limit = svc::page_size(p.limit)?;
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<DeliveryStatus>())
        .transpose()
        .map_err(ApiError::from)?;
    if p.change.trim().is_empty() || p.change.len() > 200 {
        return Err(ApiError::BadRequest(
            "name the change, e.g. issue:EX100000:post:1".into(),
        ));
    }
    let (summary, list) =
        svc::of_change(&state.core, &caller.actor, &p.change, status, limit).await?;
    Ok(Json(ChangeDeliveriesView {
        summary: summary.as_ref().map(ChangeSummary::from),
        deliveries: list.iter().map(DeliveryView::from).collect(),
    }))
}
