//! Customer Lockbox over REST: listing and reading requests (tenant and provider side),
//! filing, the internal and the customer decision, revocation, and the enforcement point
//! for the provider's data-plane services (`authorize`, `actions`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use candor_app::ids;
use candor_domain::lockbox::{Decision as Decided, DecisionStep, LockboxRequest, LockboxRequestId};
use candor_domain::time_util::{parse_time, rfc3339};
use candor_domain::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use super::operator::json_body;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::lockbox::{
    self as svc, AccessAnswer, AccessQuestion, ActionReport, Decision, ListQuery, ReportOutcome,
};

/// Who decided, when, what they said, and whether Candor signed it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    pub by: String,
    pub date_time: String,
    pub comment: Option<String>,
    /// The id of the Ed25519 key that signed the decision (see `candor lockbox verify`):
    /// the audit key, whose verifier key `/api/v1/audit/keys` lists.
    pub signing_key_id: Option<String>,
    /// The Ed25519 signature, base64, over `signedForm`'s UTF-8 bytes.
    pub signature: Option<String>,
    /// Exactly what was signed: every field that decides the access granted, and the
    /// decision (`candor verify --lockbox` checks it).
    pub signed_form: Option<String>,
    /// The audit record the decision was written as, in the tenant's log, carrying the
    /// same signature (one request's view only).
    pub audit_record_id: Option<String>,
    /// That record's leaf in the log's Merkle tree.
    pub leaf_index: Option<u64>,
}

fn decision_view(
    r: &LockboxRequest,
    step: DecisionStep,
    d: &Option<Decided>,
) -> Option<DecisionView> {
    d.as_ref().map(|d| DecisionView {
        by: d.by.clone(),
        date_time: rfc3339(d.at),
        comment: d.comment.clone(),
        signing_key_id: d.signature.as_ref().map(|s| s.key_id.clone()),
        signature: d.signature.as_ref().map(|s| s.value.clone()),
        signed_form: d
            .signature
            .as_ref()
            .and_then(|_| r.signed_form(step))
            .map(|f| String::from_utf8_lossy(&f).into_owned()),
        audit_record_id: None,
        leaf_index: None,
    })
}

/// A person who may approve the tenant's requests.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApproverView {
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// A Lockbox request. `status` is the status at the moment of the answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockboxRequestView {
    pub id: String,
    pub tenant_id: String,
    pub workload: String,
    pub operations: Vec<String>,
    pub service_request: String,
    pub justification: String,
    pub duration_minutes: i64,
    pub requester: String,
    /// awaitingInternalApproval, pending, approved, completed, internallyDenied, denied,
    /// expired, canceled or revoked.
    pub status: String,
    pub created_date_time: String,
    /// Whether the tenant had Customer Lockbox on when the request was filed.
    pub customer_approval_required: bool,
    pub pending_since: Option<String>,
    /// When a waiting request expires if nobody decides.
    pub decision_deadline: Option<String>,
    pub access_start: Option<String>,
    pub access_end: Option<String>,
    pub internal_decision: Option<DecisionView>,
    pub customer_decision: Option<DecisionView>,
    /// The cancellation or revocation.
    pub ended: Option<DecisionView>,
    /// Who may approve (one request's view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<ApproverView>>,
}

pub fn view(r: &LockboxRequest) -> LockboxRequestView {
    LockboxRequestView {
        id: r.id.to_string(),
        tenant_id: r.tenant.to_string(),
        workload: r.workload.clone(),
        operations: r.operations.iter().cloned().collect(),
        service_request: r.service_request.clone(),
        justification: r.justification.clone(),
        duration_minutes: r.duration.whole_minutes(),
        requester: r.requester_name.clone(),
        status: r.status.as_str().to_owned(),
        created_date_time: rfc3339(r.created_at),
        customer_approval_required: r.needs_customer,
        pending_since: r.pending_since.map(rfc3339),
        decision_deadline: r.decision_deadline().map(rfc3339),
        access_start: r.access_start.map(rfc3339),
        access_end: r.access_end.map(rfc3339),
        internal_decision: decision_view(r, DecisionStep::Internal, &r.internal_decision),
        customer_decision: decision_view(r, DecisionStep::Customer, &r.customer_decision),
        ended: decision_view(r, DecisionStep::End, &r.ended),
        approvers: None,
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    /// Only requests in this status now: Pending, Approved, Denied, Expired, Canceled,
    /// Revoked, Completed, AwaitingInternalApproval, InternallyDenied.
    pub status: Option<String>,
    /// Only requests filed after this date or RFC 3339 time.
    pub created_after: Option<String>,
    /// Provider side: one tenant's requests.
    pub tenant_id: Option<String>,
    /// Provider side: only the caller's own requests.
    pub mine: Option<bool>,
    /// Page size, 1–500 (default 100).
    pub top: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockboxPage {
    pub value: Vec<LockboxRequestView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn cursor_of((at, id): (time::OffsetDateTime, LockboxRequestId)) -> String {
    B64.encode(format!("{}|{}", at.unix_timestamp_nanos(), id))
}

fn parse_cursor(c: &str) -> ApiResult<(time::OffsetDateTime, LockboxRequestId)> {
    let bad = || ApiError::BadRequest("the cursor is not one Candor gave out".into());
    let text = B64
        .decode(c.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (nanos, id) = text.split_once('|').ok_or_else(bad)?;
    let at = nanos
        .parse::<i128>()
        .ok()
        .and_then(|n| time::OffsetDateTime::from_unix_timestamp_nanos(n).ok())
        .ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

fn time_field(field: &'static str, v: Option<&str>) -> ApiResult<Option<time::OffsetDateTime>> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
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

fn tenant_field(v: &str) -> ApiResult<TenantId> {
    v.trim().parse().map_err(|_| {
        ApiError::Invalid(candor_domain::identity::InvalidValue::new(
            "tenantId",
            format!(
                "`{}` is not a tenant id",
                v.chars().take(40).collect::<String>()
            ),
        ))
    })
}

/// Lists Lockbox requests, newest first: a tenant's own (Global Administrator, Customer
/// Lockbox Access Approver, or `Lockbox.ReadWrite.All`); on the provider side a Support
/// Manager's queue (all requests) or an engineer's own.
#[utoipa::path(get, path = "/api/v1/lockbox/requests", tag = "lockbox", params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of requests", body = LockboxPage),
        (status = 400, description = "Bad filter or cursor"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Lacks the role or permission"),
    ))]
pub async fn list_requests(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<LockboxPage>> {
    let limit = p.top.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("top must be between 1 and 500".into()));
    }
    let q = ListQuery {
        status: p.status.as_deref().map(str::parse).transpose()?,
        created_after: time_field("createdAfter", p.created_after.as_deref())?,
        tenant: p.tenant_id.as_deref().map(tenant_field).transpose()?,
        mine: p.mine.unwrap_or(false),
        before: p.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    // The status filter thins the store's page: a short page may not be the last.
    let page = svc::list_page(&state.core, &caller.actor, q).await?;
    Ok(Json(LockboxPage {
        value: page.items.iter().map(view).collect(),
        next_cursor: page.next.map(cursor_of),
    }))
}

/// One request, with who may approve it.
#[utoipa::path(get, path = "/api/v1/lockbox/requests/{id}", tag = "lockbox",
    params(("id" = String, Path, description = "Request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request", body = LockboxRequestView),
        (status = 404, description = "No such request, or not the caller's to see"),
    ))]
pub async fn get_request(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<LockboxRequestView>> {
    let r = svc::get(&state.core, &caller.actor, ids::id(&id)?).await?;
    let mut v = view(&r);
    for (step, record) in svc::decision_records(&state.core, &r).await? {
        let d = match step {
            DecisionStep::Internal => v.internal_decision.as_mut(),
            DecisionStep::Customer => v.customer_decision.as_mut(),
            DecisionStep::End => v.ended.as_mut(),
        };
        if let Some(d) = d {
            d.audit_record_id = Some(record.id.to_string());
            d.leaf_index = Some(candor_app::audit::leaf_index(&record));
        }
    }
    // Who may approve is the tenant's own business: not shown to the provider side.
    if caller.actor.tenant_id() == Some(r.tenant) {
        v.approvers = Some(
            svc::approvers(&state.core, r.tenant)
                .await?
                .into_iter()
                .map(|a| ApproverView {
                    email: a.email,
                    display_name: a.display_name,
                    roles: a.roles,
                })
                .collect(),
        );
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionRequest {
    /// Approve or Deny (tenant approvers); Cancel (the engineer who filed it).
    pub decision: String,
    pub comment: Option<String>,
}

/// `Set-AccessToCustomerDataRequest`: the tenant approves or denies a pending request
/// (an app with `Lockbox.ReadWrite.All`, or a person in the portal). Audited with
/// ApprovalDecision and signed. Filing, the internal approval and cancelling are done by
/// people in the console.
#[utoipa::path(post, path = "/api/v1/lockbox/requests/{id}/decision", tag = "lockbox",
    request_body = DecisionRequest,
    params(("id" = String, Path, description = "Request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request after the decision", body = LockboxRequestView),
        (status = 400, description = "Not Approve, Deny or Cancel; comment too long"),
        (status = 403, description = "Not an approver of this tenant, or not the requester"),
        (status = 404, description = "No such request"),
        (status = 409, description = "The request is no longer waiting for this decision (expired, decided)"),
    ))]
pub async fn decide(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<LockboxRequestView>> {
    // Nobody learns about another tenant's request by trying to decide it, nor about the
    // body's shape before they may see the request.
    svc::get(&state.core, &caller.actor, ids::id(&id)?).await?;
    let req: DecisionRequest = json_body(&headers, &body)?;
    let decision: Decision = req.decision.parse()?;
    let r = svc::decide(
        &state.core,
        &caller.actor,
        caller.ip,
        ids::id(&id)?,
        decision,
        req.comment,
    )
    .await?;
    Ok(Json(view(&r)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeRequest {
    pub comment: Option<String>,
}

/// The tenant ends active access early; every check is refused from this moment.
#[utoipa::path(post, path = "/api/v1/lockbox/requests/{id}/revoke", tag = "lockbox",
    request_body = RevokeRequest,
    params(("id" = String, Path, description = "Request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request, revoked", body = LockboxRequestView),
        (status = 403, description = "Not an approver of this tenant"),
        (status = 409, description = "No active access to revoke"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<LockboxRequestView>> {
    let req: RevokeRequest = if body.is_empty() {
        RevokeRequest::default()
    } else {
        json_body(&headers, &body)?
    };
    svc::get(&state.core, &caller.actor, ids::id(&id)?).await?;
    let r = svc::revoke(
        &state.core,
        &caller.actor,
        caller.ip,
        ids::id(&id)?,
        req.comment,
    )
    .await?;
    Ok(Json(view(&r)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The engineer: operator id or email address.
    pub operator: String,
    pub tenant_id: String,
    pub workload: String,
    pub operation: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResponse {
    /// `allow` or `deny`.
    pub decision: String,
    /// Why not (deny only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The covering request (allow only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_end: Option<String>,
    /// A signed grant token (EdDSA JWT, audience `candor-lockbox`) the service may verify
    /// offline against `/.well-known/jwks.json` and reuse until it expires: at most five
    /// minutes, never past the end of access. A revocation reaches holders of a token
    /// only when it expires; ask `authorize` again to learn of it at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_token_expires: Option<String>,
}

/// The enforcement point: may this engineer perform this operation on this tenant's
/// data now? Answers `allow` with the covering request and a short-lived grant token, or
/// `deny` with the reason. For the provider's data-plane services (operator clients with
/// the DataPlaneService role).
#[utoipa::path(post, path = "/api/v1/lockbox/authorize", tag = "lockbox",
    request_body = AuthorizeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "allow or deny", body = AuthorizeResponse),
        (status = 400, description = "Missing or malformed fields"),
        (status = 403, description = "Needs the DataPlaneService role"),
    ))]
pub async fn authorize_operation(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<AuthorizeResponse>> {
    candor_domain::identity::authorize(
        &caller.actor,
        candor_domain::identity::Action::EnforceLockbox,
    )?;
    let req: AuthorizeRequest = json_body(&headers, &body)?;
    let q = AccessQuestion {
        operator: req.operator,
        tenant: tenant_field(&req.tenant_id)?,
        workload: req.workload,
        operation: req.operation,
    };
    Ok(Json(
        match svc::check_access(&state.core, &caller.actor, &q).await? {
            AccessAnswer::Allow(r) => {
                let now = state.clock.now();
                let (token, expires) = match state.core.grants.token(r.id, now) {
                    Some(cached) => cached,
                    None => {
                        state.tokens.refresh_if_due(&state.store, now).await;
                        let fresh = state.tokens.issue_grant(&r, now)?;
                        state
                            .core
                            .grants
                            .remember_token(r.id, fresh.0.clone(), fresh.1);
                        fresh
                    }
                };
                AuthorizeResponse {
                    decision: "allow".into(),
                    reason: None,
                    request_id: Some(r.id.to_string()),
                    access_end: r.access_end.map(rfc3339),
                    grant_token: Some(token),
                    grant_token_expires: Some(rfc3339(expires)),
                }
            }
            AccessAnswer::Deny(reason) => AuthorizeResponse {
                decision: "deny".into(),
                reason: Some(reason),
                request_id: None,
                access_end: None,
                grant_token: None,
                grant_token_expires: None,
            },
        },
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    /// The engineer: operator id or email address.
    pub operator: String,
    pub tenant_id: String,
    pub workload: String,
    /// The operation performed, e.g. `Get-Mailbox`; the Activity of the audit record.
    pub operation: String,
    /// The grant it was performed under, if the service kept it from `authorize`.
    pub request_id: Option<String>,
    /// What it touched, e.g. a mailbox (at most 500 characters are kept).
    pub target: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecorded {
    pub recorded: bool,
    pub request_id: String,
}

/// Reports an operation an engineer performed: written to the tenant's audit log as User
/// `Operator`, Activity = the operation, Item = the request. A report no grant covers
/// is refused with 403, and the refusal is written to the log too.
#[utoipa::path(post, path = "/api/v1/lockbox/actions", tag = "lockbox",
    request_body = ActionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded under its grant", body = ActionRecorded),
        (status = 400, description = "Missing or malformed fields, unknown tenant"),
        (status = 403, description = "No grant covers it (recorded), or the caller lacks DataPlaneService"),
    ))]
pub async fn report_action(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    candor_domain::identity::authorize(
        &caller.actor,
        candor_domain::identity::Action::EnforceLockbox,
    )?;
    let req: ActionRequest = json_body(&headers, &body)?;
    let report = ActionReport {
        question: AccessQuestion {
            operator: req.operator,
            tenant: tenant_field(&req.tenant_id)?,
            workload: req.workload,
            operation: req.operation,
        },
        request_id: req.request_id,
        target: req.target,
    };
    match svc::report_action(&state.core, &caller.actor, caller.ip, report).await? {
        ReportOutcome::Recorded(r) => Ok((
            StatusCode::CREATED,
            Json(ActionRecorded {
                recorded: true,
                request_id: r.id.to_string(),
            }),
        )
            .into_response()),
        ReportOutcome::Refused(reason) => Ok((
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": {
                    "code": "not_covered",
                    "message": format!("no Lockbox grant covers this operation: {reason}. The refusal is recorded in the tenant's audit log."),
                }
            })),
        )
            .into_response()),
    }
}
