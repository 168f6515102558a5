//! The operator API, for monitoring systems and tooling: declare and update issues,
//! change their scope, preview impact. Writes honour an `Idempotency-Key` header so a
//! retried request does not publish twice.

use candor_app::error::{AppError, AppResult};
use candor_app::{ids, words};
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_domain::health::{Issue, Post, Scope};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::store::{Idempotency, ImpactPreview, IssueFilter};
use candor_domain::time_util::{parse_time, rfc3339};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::health::{self as svc, NewIssueInput, PostInput, UpdateInput};
use candor_app::secrets::sha256_hex;

pub(crate) fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::BadRequest(
            "send the request body as JSON (Content-Type: application/json)".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid: {e}")))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostRequest {
    /// regular, quick or strategic (default regular).
    pub post_type: Option<String>,
    /// The language of `content` (default en).
    pub language: Option<String>,
    /// HTML; anything beyond basic formatting, lists, links and tables is removed.
    pub content: String,
    /// Translations by language tag (nl, fr, zh-TW, ko, en).
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
}

impl TryFrom<PostRequest> for PostInput {
    type Error = AppError;
    fn try_from(p: PostRequest) -> AppResult<PostInput> {
        Ok(PostInput {
            post_type: words::word(p.post_type.as_deref())?,
            language: words::language("language", p.language.as_deref())?,
            body_html: p.content,
            translations: words::translations(p.translations)?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIssueRequest {
    /// Service id or display name (Exchange, "Exchange Online").
    pub service: String,
    /// incident or advisory.
    pub classification: String,
    /// microsoft (the provider), thirdParty or customer.
    pub origin: Option<String>,
    pub feature: Option<String>,
    pub feature_group: Option<String>,
    pub title: String,
    pub impact_description: String,
    /// Initial status (default investigating).
    pub status: Option<String>,
    /// When the problem started (RFC 3339; default now).
    pub start_date_time: Option<String>,
    /// components, scaleUnits, regions, services, tenants, unclear.
    #[schema(value_type = Object)]
    pub scope: Scope,
    /// Minutes between updates (15 to 1440; default 60).
    pub cadence_minutes: Option<i64>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// The first update.
    pub post: PostRequest,
    /// Who owns it: an Incident Manager's email or operator id. Default: the first
    /// Incident Manager on duty (`--duty-incident-managers`); with neither, refused.
    pub owner: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIssueRequest {
    pub status: Option<String>,
    pub post: Option<PostRequest>,
    /// A new cadence, announced by the post.
    pub cadence_minutes: Option<i64>,
    pub title: Option<String>,
    pub impact_description: Option<String>,
}

impl TryFrom<UpdateIssueRequest> for UpdateInput {
    type Error = AppError;
    fn try_from(u: UpdateIssueRequest) -> AppResult<UpdateInput> {
        Ok(UpdateInput {
            status: words::status(u.status.as_deref())?,
            post: u.post.map(PostInput::try_from).transpose()?,
            cadence_minutes: u.cadence_minutes,
            title: u.title,
            impact_description: u.impact_description,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewRequest {
    pub service: String,
    #[schema(value_type = Object)]
    pub scope: Scope,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    pub seq: i64,
    pub created_date_time: String,
    pub post_type: String,
    pub status: String,
    pub language: String,
    pub content: String,
    pub translations: BTreeMap<String, String>,
    pub new_cadence_minutes: Option<i64>,
    pub author: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueView {
    pub id: String,
    pub service: String,
    pub classification: String,
    pub origin: String,
    pub feature: Option<String>,
    pub feature_group: Option<String>,
    pub title: String,
    pub impact_description: String,
    pub status: String,
    pub is_resolved: bool,
    pub start_date_time: String,
    pub end_date_time: Option<String>,
    pub last_modified_date_time: String,
    pub cadence_minutes: i64,
    pub next_update_due: Option<String>,
    /// The next update is past due (the console shows it, the watchdog chases it).
    pub overdue: bool,
    /// Since when: the deadline that passed.
    pub overdue_since: Option<String>,
    /// The operator id of the person who owns it (the one chased when it is overdue).
    pub owner: Option<String>,
    pub updates_total: i64,
    pub updates_on_time: i64,
    #[schema(value_type = Object)]
    pub scope: Scope,
    /// Tenants told so far (tenants once told stay told).
    pub affected_tenants: Option<i64>,
    /// Set when the request changed the scope.
    pub newly_affected_tenants: Option<i64>,
    pub posts: Option<Vec<PostView>>,
}

pub(crate) fn view(
    i: &Issue,
    now: OffsetDateTime,
    affected: Option<i64>,
    posts: Option<&[Post]>,
) -> IssueView {
    let overdue = i.is_overdue(now);
    IssueView {
        id: i.id.to_string(),
        service: i.service.to_string(),
        classification: i.classification.as_str().into(),
        origin: i.origin.as_str().into(),
        feature: i.feature.clone(),
        feature_group: i.feature_group.clone(),
        title: i.title.clone(),
        impact_description: i.impact_description.clone(),
        status: i.status.as_str().into(),
        is_resolved: i.is_resolved(),
        start_date_time: rfc3339(i.start),
        end_date_time: i.end.map(rfc3339),
        last_modified_date_time: rfc3339(i.last_modified),
        cadence_minutes: i.cadence.whole_minutes(),
        next_update_due: i.next_update_due.map(rfc3339),
        overdue,
        overdue_since: i.next_update_due.filter(|_| overdue).map(rfc3339),
        owner: i.owner.map(|o| o.to_string()),
        updates_total: i.updates_total,
        updates_on_time: i.updates_on_time,
        scope: i.scope.clone(),
        affected_tenants: affected,
        newly_affected_tenants: None,
        posts: posts.map(|ps| {
            ps.iter()
                .map(|p| PostView {
                    seq: p.seq,
                    created_date_time: rfc3339(p.created_at),
                    post_type: p.post_type.as_str().into(),
                    status: p.status.as_str().into(),
                    language: p.language.tag().into(),
                    content: p.body_html.clone(),
                    translations: p
                        .translations
                        .iter()
                        .map(|(l, b)| (l.tag().to_owned(), b.clone()))
                        .collect(),
                    new_cadence_minutes: p.new_cadence.map(|c| c.whole_minutes()),
                    author: p.author.clone(),
                })
                .collect()
        }),
    }
}

/// Runs `work` at most once per `Idempotency-Key` (per caller); a retry with the same key
/// and body gets the first answer back.
pub(crate) async fn idempotent<F, Fut>(
    state: &AppState,
    actor: &Actor,
    headers: &HeaderMap,
    fingerprint: &str,
    work: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let Some(key) = headers.get("idempotency-key") else {
        return work().await.map(|(s, v)| (s, Json(v)).into_response());
    };
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the Idempotency-Key header must be 1 to 255 visible characters".into(),
            )
        })?;
    let scope = actor.audit_name();
    let hash = sha256_hex(fingerprint);
    match state
        .store
        .begin_idempotent(&scope, key, &hash, state.clock.now())
        .await?
    {
        Idempotency::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            Ok(r)
        }
        Idempotency::InProgress => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        )),
        Idempotency::Mismatch => Err(ApiError::Conflict(
            "this Idempotency-Key was already used for a different request".into(),
        )),
        Idempotency::New => match work().await {
            Ok((status, value)) => {
                let body = value.to_string();
                state
                    .store
                    .finish_idempotent(&scope, key, status.as_u16(), &body)
                    .await?;
                Ok((status, Json(value)).into_response())
            }
            Err(e) => {
                // A refused request may be corrected and retried with the same key.
                state.store.abandon_idempotent(&scope, key).await?;
                Err(e)
            }
        },
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> ApiResult<serde_json::Value> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// Declares an issue and publishes its first post to the tenants in scope.
#[utoipa::path(post, path = "/api/v1/operator/issues", tag = "operator",
    request_body = CreateIssueRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The issue, with how many tenants were told", body = IssueView),
        (status = 400, description = "Invalid input"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Needs the Incident Manager role"),
        (status = 409, description = "Idempotency-Key reused for another request, or still in progress"),
    ))]
pub async fn create_issue(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: CreateIssueRequest = json_body(&headers, &body)?;
    let fingerprint = format!(
        "POST /api/v1/operator/issues\n{}",
        String::from_utf8_lossy(&body)
    );
    let start = match req.start_date_time.as_deref() {
        None => None,
        Some(s) => Some(parse_time(s).ok_or_else(|| {
            ApiError::BadRequest(format!("startDateTime `{s}` is not an RFC 3339 time"))
        })?),
    };
    let input = NewIssueInput {
        service: req.service,
        classification: req.classification.parse()?,
        origin: words::word(req.origin.as_deref())?,
        feature: req.feature,
        feature_group: req.feature_group,
        title: req.title,
        impact_description: req.impact_description,
        status: words::status(req.status.as_deref())?,
        start,
        scope: req.scope,
        cadence_minutes: req.cadence_minutes,
        details: req.details,
        post: req.post.try_into()?,
        owner: req.owner,
    };
    let actor = caller.actor.clone();
    idempotent(&state, &caller.actor, &headers, &fingerprint, || async {
        let (issue, affected) =
            svc::create_issue(&state.core, &actor, caller.ip.clone(), input).await?;
        let posts = state.store.issue_posts(&issue.id).await?;
        Ok((
            StatusCode::CREATED,
            to_json(&view(
                &issue,
                state.core.clock.now(),
                Some(affected),
                Some(&posts),
            ))?,
        ))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only issues that are not resolved.
    pub active: Option<bool>,
    /// Only issues modified since (RFC 3339).
    pub since: Option<String>,
    /// At most this many (1-500, default 100).
    pub limit: Option<u32>,
}

/// Lists issues, most recently modified first.
#[utoipa::path(get, path = "/api/v1/operator/issues", tag = "operator", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Issues", body = [IssueView]), (status = 403, description = "Needs the Incident Manager role")))]
pub async fn list_issues(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<IssueView>>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let since =
        match p.since.as_deref() {
            None => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                ApiError::BadRequest(format!("since `{s}` is not an RFC 3339 time"))
            })?),
        };
    let issues = state
        .store
        .list_issues(&IssueFilter {
            active_only: p.active.unwrap_or(false),
            modified_since: since,
            limit: p.limit.unwrap_or(100).clamp(1, 500),
        })
        .await?;
    let now = state.core.clock.now();
    Ok(Json(
        issues.iter().map(|i| view(i, now, None, None)).collect(),
    ))
}

/// One issue with its posts.
#[utoipa::path(get, path = "/api/v1/operator/issues/{id}", tag = "operator",
    params(("id" = String, Path, description = "Issue id, e.g. EX100000")),
    security(("bearer" = [])),
    responses((status = 200, description = "The issue", body = IssueView), (status = 404, description = "No such issue")))]
pub async fn get_issue(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<IssueView>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let id = candor_domain::health::IssueId::parse(&id)?;
    let issue = state
        .store
        .get_issue(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no issue {id}")))?;
    let posts = state.store.issue_posts(&id).await?;
    let affected = state.store.affected_count(&id).await?;
    Ok(Json(view(
        &issue,
        state.core.clock.now(),
        Some(affected),
        Some(&posts),
    )))
}

async fn update(
    state: AppState,
    caller: ApiCaller,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    reopen: bool,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: UpdateIssueRequest = json_body(&headers, &body)?;
    let verb = if reopen { "reopen" } else { "posts" };
    let fingerprint = format!(
        "POST /api/v1/operator/issues/{id}/{verb}\n{}",
        String::from_utf8_lossy(&body)
    );
    let actor = caller.actor.clone();
    idempotent(&state, &caller.actor, &headers, &fingerprint, || async {
        let (id, input, ip) = (ids::id(&id)?, req.try_into()?, caller.ip.clone());
        let issue = if reopen {
            svc::reopen_issue(&state.core, &actor, ip, id, input).await?
        } else {
            svc::update_issue(&state.core, &actor, ip, id, input).await?
        };
        let posts = state.store.issue_posts(&issue.id).await?;
        Ok((
            StatusCode::OK,
            to_json(&view(&issue, state.core.clock.now(), None, Some(&posts)))?,
        ))
    })
    .await
}

/// Posts an update: a new status, a post, perhaps a new cadence.
#[utoipa::path(post, path = "/api/v1/operator/issues/{id}/posts", tag = "operator",
    params(("id" = String, Path, description = "Issue id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    request_body = UpdateIssueRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated issue", body = IssueView),
        (status = 400, description = "Invalid input"),
        (status = 404, description = "No such issue"),
        (status = 409, description = "Not allowed from the current status (e.g. a resolved issue needs reopening)"),
    ))]
pub async fn post_update(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    update(state, caller, headers, id, body, false).await
}

/// Reopens a resolved issue (explicit and audited); the post says why.
#[utoipa::path(post, path = "/api/v1/operator/issues/{id}/reopen", tag = "operator",
    params(("id" = String, Path, description = "Issue id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried reopen safe")),
    request_body = UpdateIssueRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "The reopened issue", body = IssueView), (status = 409, description = "The issue is not resolved")))]
pub async fn reopen_issue(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    update(state, caller, headers, id, body, true).await
}

/// Replaces an issue's scope. Newly covered tenants are told; tenants told before keep
/// seeing the issue.
#[utoipa::path(put, path = "/api/v1/operator/issues/{id}/scope", tag = "operator",
    params(("id" = String, Path, description = "Issue id")),
    request_body(content = Object, description = "The new scope"),
    security(("bearer" = [])),
    responses((status = 200, description = "The issue, with how many tenants were newly told", body = IssueView)))]
pub async fn put_scope(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<IssueView>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let scope: Scope = json_body(&headers, &body)?;
    let (issue, added) = svc::change_scope(
        &state.core,
        &caller.actor,
        caller.ip.clone(),
        ids::id(&id)?,
        scope,
    )
    .await?;
    let mut v = view(
        &issue,
        state.core.clock.now(),
        Some(state.store.affected_count(&issue.id).await?),
        None,
    );
    v.newly_affected_tenants = Some(added);
    Ok(Json(v))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewView {
    pub total: i64,
    /// Tenants per home region.
    pub by_region: BTreeMap<String, i64>,
    /// The first tenants, by name.
    pub tenants: Vec<PreviewTenant>,
}

impl From<ImpactPreview> for PreviewView {
    fn from(p: ImpactPreview) -> PreviewView {
        PreviewView {
            total: p.total,
            by_region: p.by_region.into_iter().collect(),
            tenants: p
                .tenants
                .into_iter()
                .map(|t| PreviewTenant {
                    id: t.id.to_string(),
                    name: t.name,
                    home_region: t.home_region.to_string(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewTenant {
    pub id: String,
    pub name: String,
    pub home_region: String,
}

/// Who a scope would reach, without publishing anything.
#[utoipa::path(post, path = "/api/v1/operator/impact-preview", tag = "operator",
    request_body = PreviewRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Counts per region and the tenants", body = PreviewView)))]
pub async fn impact_preview(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PreviewView>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: PreviewRequest = json_body(&headers, &body)?;
    let p = svc::preview(&state.core, &caller.actor, &req.service, &req.scope).await?;
    Ok(Json(p.into()))
}
