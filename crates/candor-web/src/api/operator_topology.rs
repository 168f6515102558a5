//! The operator API for the catalog and topology: read it, and change it with the same
//! JSON or CSV files `candor topology import` reads, checked completely first and
//! applied all or nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_domain::health::{Component, Region, ScaleUnit, Service};
use candor_domain::identity::{authorize, Action};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::topology::{import_file, ImportFailure, TopologyCounts};

/// Larger files go through `candor topology import`, which streams progress.
pub const MAX_TOPOLOGY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyView {
    #[schema(value_type = Vec<Object>)]
    pub services: Vec<Service>,
    #[schema(value_type = Vec<Object>)]
    pub regions: Vec<Region>,
    #[schema(value_type = Vec<Object>)]
    pub scale_units: Vec<ScaleUnit>,
    #[schema(value_type = Vec<Object>)]
    pub components: Vec<Component>,
    pub tenants: i64,
    pub placements: i64,
}

/// The catalog and topology: services with features, regions, scale units, components,
/// and how many tenants and placements there are.
#[utoipa::path(get, path = "/api/v1/operator/topology", tag = "operator",
    security(("bearer" = [])),
    responses((status = 200, description = "The topology", body = TopologyView), (status = 403, description = "Needs the Provider Admin role")))]
pub async fn get_topology(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<TopologyView>> {
    authorize(&caller.actor, Action::ManageTopology)?;
    Ok(Json(TopologyView {
        services: state.store.list_services().await?,
        regions: state.store.list_regions().await?,
        scale_units: state.store.list_scale_units().await?,
        components: state.store.list_components().await?,
        tenants: state.store.count_tenants().await?,
        placements: state.store.count_placements().await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ImportParams {
    /// Check the file completely without changing anything.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    /// False for a dry run.
    pub applied: bool,
    pub counts: TopologyCounts,
}

/// Adds or changes services, regions, scale units, components, tenants and placements
/// from a topology file (JSON, or CSV with the header
/// `kind,id,name,parent,services[,language,time_zone]`). A file with any problem changes
/// nothing; the answer lists each problem with its line or item.
#[utoipa::path(post, path = "/api/v1/operator/topology", tag = "operator", params(ImportParams),
    request_body(content = String, description = "The topology file", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied (or, for a dry run, valid)", body = ImportView),
        (status = 400, description = "The problems, each with where it is"),
        (status = 403, description = "Needs the Provider Admin role"),
        (status = 413, description = "Larger than 64 MiB: use `candor topology import`"),
    ))]
pub async fn import_topology(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<ImportParams>,
    body: Bytes,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::ManageTopology)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the topology file must be UTF-8 text".into()))?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = if content_type.starts_with("text/csv") {
        "topology.csv"
    } else {
        "topology.json"
    };
    let dry_run = p.dry_run.unwrap_or(false);
    match import_file(
        &state.core,
        &caller.actor,
        caller.ip.clone(),
        name,
        text,
        dry_run,
        |_| {},
    )
    .await
    {
        Ok(counts) => Ok(Json(ImportView {
            applied: !dry_run,
            counts,
        })
        .into_response()),
        Err(ImportFailure::Problems(problems)) => Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {
                "code": "invalid_topology",
                "message": format!("{} problem(s) in the topology file; nothing was changed", problems.len()),
                "problems": problems.iter().map(|p| json!({"at": p.at, "message": p.message})).collect::<Vec<_>>(),
            }})),
        )
            .into_response()),
        Err(ImportFailure::Refused(e)) => Err(ApiError::from(e)),
    }
}
