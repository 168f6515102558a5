//! A log's witnesses and cosignatures (C2SP `tlog-cosignature`), and its retention.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_app::audit::{self as audit_service};
use candor_app::audit_retention;
use candor_app::audit_witnesses::{self, CosignedView, WitnessView};
use candor_domain::audit::AuditChain;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::operator::json_body;
use crate::auth::extract::{ApiCaller, ClientIp};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// A cosigned checkpoint is a few lines: room for the log's and a hundred witnesses'.
pub const MAX_COSIGNED_BYTES: usize = 16 * 1024;
/// Cosigned checkpoints one address may hand in a minute: a witness polling every log
/// of a hundred tenants once a minute, with room to spare.
pub const COSIGNATURES_PER_MINUTE: u32 = 300;

fn note_response(note: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        note,
    )
        .into_response()
}

/// The caller's log's newest checkpoint that a witness co-signed, with every
/// cosignature it has (what `candor verify --require-witness` falls back to while the
/// latest checkpoint is not yet co-signed).
#[utoipa::path(get, path = "/api/v1/audit/log/checkpoint.cosigned", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The co-signed checkpoint", content_type = "text/plain"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
        (status = 404, description = "No witness has co-signed a checkpoint of this log yet"),
    ))]
pub async fn cosigned_checkpoint(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Response> {
    let chain = audit_service::chain_for(&caller.actor)?;
    Ok(note_response(
        audit_witnesses::cosigned_checkpoint(&state.core, &caller.actor, chain).await?,
    ))
}

/// A witness hands back a checkpoint it co-signed: the C2SP signed note, as text, with
/// its cosignature line(s) added. The checkpoint must be one this log signed; each line
/// by one of the log's witnesses must verify, and is kept. Needs no credentials (the
/// witness's signature is its credential); anything else on the note is passed over.
#[utoipa::path(post, path = "/api/v1/audit/log/cosignatures", tag = "audit",
    request_body(content = String, content_type = "text/plain", description = "The co-signed checkpoint"),
    responses(
        (status = 200, description = "The cosignatures kept", body = CosignedView),
        (status = 400, description = "Not a checkpoint; a witness's cosignature that does not verify; no cosignature by a witness of this log"),
        (status = 404, description = "Not a checkpoint this log signed"),
        (status = 413, description = "Larger than 16 KiB"),
        (status = 429, description = "More than 300 a minute from this address"),
    ))]
pub async fn submit_cosignatures(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> ApiResult<Json<CosignedView>> {
    if let Some(ip) = ip {
        use governor::clock::{Clock as _, DefaultClock};
        state.cosignature_limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                + 1;
            ApiError::TooManyRequests {
                message: format!(
                    "more than {COSIGNATURES_PER_MINUTE} cosigned checkpoints a minute from this address; try again in {wait} seconds"
                ),
                retry_after_secs: wait,
            }
        })?;
    }
    if body.len() > MAX_COSIGNED_BYTES {
        return Err(ApiError::TooLarge(format!(
            "a co-signed checkpoint is at most {MAX_COSIGNED_BYTES} bytes"
        )));
    }
    let note = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("send the co-signed checkpoint as UTF-8 text".into()))?;
    Ok(Json(audit_witnesses::submit(&state.core, note).await?))
}

/// The witnesses whose cosignatures the caller's log accepts, with the newest
/// checkpoint each co-signed.
#[utoipa::path(get, path = "/api/v1/audit/witnesses", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The log's witnesses", body = [WitnessView]),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn list_witnesses(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<Vec<WitnessView>>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    Ok(Json(
        audit_witnesses::list(&state.core, &caller.actor, chain).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWitness {
    /// The witness's C2SP verifier key: `<name>+<8 hex digits>+<base64 of 0x04 ‖ its
    /// Ed25519 key>` (what `candor witness init` prints).
    pub verifier_key: String,
}

/// Names a witness of the caller's log (a tenant's app with AuditLog.Witnesses.ReadWrite;
/// for the operator realm's log, a Provider Administrator's client).
#[utoipa::path(post, path = "/api/v1/audit/witnesses", tag = "audit",
    request_body = NewWitness, security(("bearer" = [])),
    responses(
        (status = 201, description = "The witness", body = WitnessView),
        (status = 400, description = "Not a witness key"),
        (status = 403, description = "Lacks the permission"),
        (status = 409, description = "Already a witness of this log"),
    ))]
pub async fn add_witness(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let chain = write_chain(&caller)?;
    audit_witnesses::may_manage(&caller.actor, chain)?;
    let req: NewWitness = json_body(&headers, &body)?;
    let w = audit_witnesses::add(
        &state.core,
        &caller.actor,
        chain,
        &req.verifier_key,
        caller.ip.clone(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(w)).into_response())
}

/// Stops accepting a witness's cosignatures.
#[utoipa::path(delete, path = "/api/v1/audit/witnesses/{id}", tag = "audit",
    params(("id" = String, Path, description = "Witness id")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such witness of this log")))]
pub async fn remove_witness(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let chain = write_chain(&caller)?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::NotFound("this log has no such witness".into()))?;
    audit_witnesses::remove(&state.core, &caller.actor, chain, id, caller.ip.clone()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The log a change is made to: the caller's tenant's, or the operator realm's for
/// operators (whose rights the use case checks).
fn write_chain(caller: &ApiCaller) -> ApiResult<AuditChain> {
    Ok(match caller.actor.tenant_id() {
        Some(t) => AuditChain::Tenant(t),
        None => AuditChain::Operator,
    })
}

/// How long a log keeps its records' bodies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// Days a record's body is kept (30–36500); null: for good.
    pub days: Option<u32>,
}

/// How long the caller's log keeps its records' bodies. Past it, a record keeps its
/// place, time, hashes and tree hashes: proofs still verify, searches do not find it.
#[utoipa::path(get, path = "/api/v1/audit/retention", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The log's retention", body = Retention),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn get_retention(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<Retention>> {
    let chain = audit_service::chain_for(&caller.actor)?;
    Ok(Json(Retention {
        days: audit_retention::days_of(&state.core, chain).await?,
    }))
}

/// Sets how long a log keeps its records' bodies: a tenant's (by tenant id) or the
/// operator realm's (`operator`). Provider Administrators only; written to the
/// operator realm's log and the tenant's.
#[utoipa::path(put, path = "/api/v1/operator/audit-retention/{log}", tag = "operator",
    request_body = Retention,
    params(("log" = String, Path, description = "A tenant id, or `operator`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The log's retention", body = Retention),
        (status = 400, description = "Days outside 30–36500"),
        (status = 403, description = "Not a Provider Administrator"),
        (status = 404, description = "No such tenant"),
    ))]
pub async fn put_retention(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(log): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Retention>> {
    let chain = if log.trim() == "operator" {
        AuditChain::Operator
    } else {
        let t = uuid::Uuid::parse_str(log.trim()).map_err(|_| {
            ApiError::NotFound("no such tenant (give a tenant id, or `operator`)".into())
        })?;
        AuditChain::Tenant(candor_domain::TenantId(t))
    };
    audit_retention::may_set(&caller.actor, chain)?;
    let req: Retention = json_body(&headers, &body)?;
    audit_retention::set(
        &state.core,
        &caller.actor,
        chain,
        req.days,
        caller.ip.clone(),
    )
    .await?;
    Ok(Json(Retention { days: req.days }))
}
