//! `GET /api/v1/audit/records` and its streamed export.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_domain::audit::AuditQueryInput;
use candor_domain::time_util::parse_time;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::audit::{self as audit_service, ExportFormat};

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditSearchParams {
    /// Start of the range (inclusive): a date (2026-11-01) or an RFC 3339 time. Required.
    pub start: Option<String>,
    /// End of the range (exclusive). Required.
    pub end: Option<String>,
    /// Comma-separated activities, e.g. `UserLoggedIn,Set-UserRoles`.
    pub activities: Option<String>,
    /// Comma-separated users (email addresses, `app:<client id>`, `system`).
    pub users: Option<String>,
    /// Exact item, e.g. a request id.
    pub item: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// Export only: `csv` (default) or `json`.
    pub format: Option<String>,
}

fn time_param(field: &'static str, value: Option<&str>) -> ApiResult<Option<time::OffsetDateTime>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_time(v).map(Some).ok_or_else(|| {
            ApiError::Invalid(candor_domain::identity::InvalidValue::new(
                field,
                format!(
                    "`{}` is not a date (2026-11-01) or an RFC 3339 time",
                    v.chars().take(40).collect::<String>()
                ),
            ))
        }),
    }
}

impl AuditSearchParams {
    pub fn to_input(&self) -> ApiResult<AuditQueryInput> {
        let split = |v: &Option<String>| v.iter().map(|s| s.to_owned()).collect::<Vec<_>>();
        Ok(AuditQueryInput {
            from: time_param("start", self.start.as_deref())?,
            to: time_param("end", self.end.as_deref())?,
            activities: split(&self.activities),
            users: split(&self.users),
            item: self.item.clone(),
            cursor: self.cursor.clone(),
            limit: self.limit,
        })
    }
}

pub use candor_app::audit::AuditRecordView;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditRecordView>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Present when the search reaches back past the log's retention: records before
    /// `before` keep only their place and hashes, so the search cannot find them.
    pub past_retention: Option<candor_app::audit_retention::PastRetention>,
}

/// Searches the caller's audit log (newest first). Tenant callers search their tenant's
/// log and need Audit Reader / Global Administrator or `AuditLog.Read.All`; provider
/// admins search the operator realm's log.
#[utoipa::path(get, path = "/api/v1/audit/records", tag = "audit",
    params(AuditSearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of records", body = AuditPage),
        (status = 400, description = "Missing or reversed date range, bad cursor"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn list_records(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<AuditSearchParams>,
) -> ApiResult<Json<AuditPage>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    let input = params.to_input()?;
    let from = input.from;
    let page = audit_service::search(&state.core, &caller.actor, chain, input).await?;
    Ok(Json(AuditPage {
        items: page.items.iter().map(AuditRecordView::from).collect(),
        next_cursor: page.next_cursor,
        past_retention: match from {
            Some(from) => candor_app::audit_retention::notice(&state.core, chain, from).await?,
            None => None,
        },
    }))
}

/// Exports every record a search matches, streamed, as CSV or JSON.
#[utoipa::path(get, path = "/api/v1/audit/records/export", tag = "audit",
    params(AuditSearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The matching records", content_type = "text/csv"),
        (status = 400, description = "Missing or reversed date range, unknown format"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn export_records(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<AuditSearchParams>,
) -> ApiResult<Response> {
    export_response(&state, &caller.actor, caller.ip, &params).await
}

pub async fn export_response(
    state: &AppState,
    actor: &candor_domain::identity::Actor,
    ip: Option<String>,
    params: &AuditSearchParams,
) -> ApiResult<Response> {
    let format = ExportFormat::parse(params.format.as_deref())?;
    let chain = audit_service::chain_for(actor)?;
    let stream =
        audit_service::export(&state.core, actor, ip, chain, params.to_input()?, format).await?;
    let body = Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
    let filename = format!(
        "candor-audit-{}.{}",
        state.clock.now().date(),
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The tree size to prove inclusion in (a checkpoint's size); default: the log now.
    pub size: Option<u64>,
}

/// Proves that one record is in the caller's audit log: the record's leaf hash and the
/// RFC 9162 audit path to the root of the tree of `size` records.
#[utoipa::path(get, path = "/api/v1/audit/records/{id}/proof", tag = "audit",
    params(("id" = String, Path, description = "The audit record's id"), InclusionParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The inclusion proof", body = candor_app::audit::InclusionProofView),
        (status = 400, description = "A size larger than the log, or not past the record"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
        (status = 404, description = "No such record in the caller's log"),
    ))]
pub async fn record_proof(
    State(state): State<AppState>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiQuery(params): ApiQuery<InclusionParams>,
) -> ApiResult<Json<candor_app::audit::InclusionProofView>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    let id = candor_app::ids::id(&id)?;
    let proof =
        audit_service::inclusion_proof(&state.core, &caller.actor, chain, id, params.size).await?;
    Ok(Json(proof))
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The size of the older tree (the checkpoint the caller saw last). Required.
    pub from: Option<u64>,
    /// The size of the newer tree; default: the log now.
    pub to: Option<u64>,
}

/// Proves that the caller's audit log only grew: the log of `from` records is a prefix
/// of the log of `to` records (RFC 9162 consistency proof).
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit",
    params(ConsistencyParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The consistency proof", body = candor_app::audit::ConsistencyProofView),
        (status = 400, description = "`from` missing, larger than `to`, or `to` larger than the log"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ConsistencyParams>,
) -> ApiResult<Json<candor_app::audit::ConsistencyProofView>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    let from = params.from.ok_or_else(|| {
        ApiError::Invalid(candor_domain::identity::InvalidValue::new(
            "from",
            "name the size of the tree you saw last (`from`)",
        ))
    })?;
    let proof =
        audit_service::consistency_proof(&state.core, &caller.actor, chain, from, params.to)
            .await?;
    Ok(Json(proof))
}

/// The caller's audit log's latest checkpoint: its Merkle tree head as a C2SP
/// `tlog-checkpoint`, signed as a C2SP signed note with the key `/api/v1/audit/keys` lists.
#[utoipa::path(get, path = "/api/v1/audit/log/checkpoint", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed checkpoint", content_type = "text/plain"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
        (status = 404, description = "No checkpoint has been signed for this log yet"),
    ))]
pub async fn log_checkpoint(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Response> {
    let chain = audit_service::chain_for(&caller.actor)?;
    let note = audit_service::latest_checkpoint(&state.core, &caller.actor, chain).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        note,
    )
        .into_response())
}

/// The caller's audit log's origin and every key its checkpoints (and Lockbox decisions)
/// were ever signed with, in C2SP verifier-key form.
#[utoipa::path(get, path = "/api/v1/audit/keys", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The log's origin and keys", body = candor_app::audit::LogKeysView),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn log_keys(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<candor_app::audit::LogKeysView>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    Ok(Json(
        audit_service::log_keys(&state.core, &caller.actor, chain).await?,
    ))
}

/// The routes of the caller's log in the C2SP `tlog-tiles` layout that are outside the
/// OpenAPI document (a tile path has a variable number of segments):
/// `GET /api/v1/audit/log/tile/<L>/<N>[.p/<W>]` and `…/tile/entries/<N>[.p/<W>]`.
pub fn tile_routes(t: &mut crate::routes::RouteTable) -> axum::Router<AppState> {
    use crate::routes::RouterExt as _;
    axum::Router::new().at(
        t,
        "/api/v1/audit/log/tile/{*tile}",
        axum::routing::get(log_tile),
    )
}

/// One tile of the caller's log: 32-byte hashes of one tree level, or an entry bundle
/// (each record's canonical bytes, whose hash is its leaf). A full tile never changes.
pub async fn log_tile(
    State(state): State<AppState>,
    caller: ApiCaller,
    axum::extract::Path(tile): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let chain = audit_service::chain_for(&caller.actor)?;
    let tile =
        audit_service::log_tile(&state.core, &caller.actor, chain, &format!("tile/{tile}")).await?;
    let cache = if tile.full {
        "private, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        tile.bytes,
    )
        .into_response())
}
