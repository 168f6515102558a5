//! The operator API for Message Center and post-incident reviews: publish and update
//! messages (attachments travel base64-encoded in the JSON), preview their audience,
//! draft and publish reviews. Creates honour `Idempotency-Key`.

use candor_app::{ids, words};
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use candor_domain::health::{Audience, Message, Pir};
use candor_domain::identity::{authorize, Action};
use candor_domain::time_util::{parse_time, rfc3339};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use super::operator::{idempotent, json_body, to_json, PreviewView};
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::health::{self as health, PirInput};
use candor_app::messages::{
    self as svc, AttachmentUpload, NewMessageInput, TextInput, UpdateMessageInput,
};

/// A create request with the largest attachments allowed, base64-encoded, and its text.
pub const MAX_REQUEST_BYTES: usize = svc::MAX_TOTAL_ATTACHMENT_BYTES / 3 * 4 + 1024 * 1024;

pub(crate) fn time_field(name: &str, value: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name} `{}` is not an RFC 3339 time",
                s.chars().take(40).collect::<String>()
            ))
        }),
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextRequest {
    pub title: String,
    /// HTML; anything beyond basic formatting, lists, links and tables is removed.
    pub content: String,
}

impl From<TextRequest> for TextInput {
    fn from(t: TextRequest) -> TextInput {
        TextInput {
            title: t.title,
            body_html: t.content,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentRequest {
    /// File name, e.g. `affected-users.csv`.
    pub name: String,
    /// PDF, PNG, JPEG, GIF, text, CSV or Office; checked against the bytes.
    pub content_type: Option<String>,
    /// The file, base64-encoded (at most 5 MiB decoded).
    pub content_base64: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMessageRequest {
    pub title: String,
    /// HTML body.
    pub content: String,
    /// The language of title and content (default en).
    pub language: Option<String>,
    /// Translations by language tag (nl, fr, zh-TW, ko, en).
    #[serde(default)]
    pub translations: BTreeMap<String, TextRequest>,
    /// preventOrFixIssue, planForChange or stayInformed.
    pub category: String,
    /// normal (default), high or critical.
    pub severity: Option<String>,
    /// Service ids or display names; tenants using them are reached.
    pub services: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub is_major_change: bool,
    /// RFC 3339.
    pub action_required_by_date_time: Option<String>,
    /// RFC 3339 (default now).
    pub start_date_time: Option<String>,
    /// RFC 3339.
    pub end_date_time: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// regions (narrow the service audience), tenants (always reached),
    /// namedTenantsOnly (reach only the named tenants).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub audience: Audience,
    #[serde(default)]
    pub attachments: Vec<AttachmentRequest>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMessageRequest {
    pub title: Option<String>,
    pub content: Option<String>,
    pub translations: Option<BTreeMap<String, TextRequest>>,
    pub severity: Option<String>,
    pub tags: Option<Vec<String>>,
    /// RFC 3339, or an empty string to clear.
    pub action_required_by_date_time: Option<String>,
    /// RFC 3339, or an empty string to clear.
    pub end_date_time: Option<String>,
    /// A new audience; tenants reached before stay reached.
    #[schema(value_type = Option<Object>)]
    pub audience: Option<Audience>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub title: String,
    pub content: String,
    pub language: String,
    pub translations: BTreeMap<String, BTreeMap<String, String>>,
    pub category: String,
    pub severity: String,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub is_major_change: bool,
    pub action_required_by_date_time: Option<String>,
    pub start_date_time: String,
    pub end_date_time: Option<String>,
    pub last_modified_date_time: String,
    pub details: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub audience: Audience,
    pub attachments: Vec<AttachmentView>,
    pub author: String,
    /// How many tenants the message reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_tenants: Option<i64>,
    /// Tenants newly reached by this change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newly_reached_tenants: Option<i64>,
}

fn view(m: &Message, reached: Option<i64>) -> MessageView {
    MessageView {
        id: m.id.to_string(),
        title: m.title.clone(),
        content: m.body_html.clone(),
        language: m.language.tag().to_owned(),
        translations: m
            .translations
            .iter()
            .map(|(l, t)| {
                (
                    l.tag().to_owned(),
                    [
                        ("title".to_owned(), t.title.clone()),
                        ("content".to_owned(), t.body_html.clone()),
                    ]
                    .into_iter()
                    .collect(),
                )
            })
            .collect(),
        category: m.category.as_str().to_owned(),
        severity: m.severity.as_str().to_owned(),
        services: m.services.iter().map(|s| s.to_string()).collect(),
        tags: m.tags.clone(),
        is_major_change: m.is_major_change,
        action_required_by_date_time: m.action_required_by.map(rfc3339),
        start_date_time: rfc3339(m.start),
        end_date_time: m.end.map(rfc3339),
        last_modified_date_time: rfc3339(m.last_modified),
        details: m.details.clone(),
        audience: m.audience.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| AttachmentView {
                id: a.id.to_string(),
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect(),
        author: m.author.clone(),
        reached_tenants: reached,
        newly_reached_tenants: None,
    }
}

fn decode_attachments(list: Vec<AttachmentRequest>) -> ApiResult<Vec<AttachmentUpload>> {
    list.into_iter()
        .map(|a| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.content_base64.trim())
                .map_err(|e| {
                    ApiError::BadRequest(format!(
                        "attachment {}: contentBase64 is not base64 ({e})",
                        a.name
                    ))
                })?;
            Ok(AttachmentUpload {
                name: a.name,
                content_type: a.content_type.unwrap_or_default(),
                bytes,
            })
        })
        .collect()
}

/// Publishes a Message Center message to its audience.
#[utoipa::path(post, path = "/api/v1/operator/messages", tag = "operator",
    request_body = CreateMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The message, with how many tenants it reached", body = MessageView),
        (status = 400, description = "Invalid input (including an attachment of a refused type or size)"),
        (status = 401, description = "No valid credentials"),
        (status = 403, description = "Needs the Incident Manager role"),
        (status = 409, description = "Idempotency-Key reused for another request, or still in progress"),
    ))]
pub async fn create_message(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    authorize(&caller.actor, Action::PublishMessages)?;
    let req: CreateMessageRequest = json_body(&headers, &body)?;
    let fingerprint = format!(
        "POST /api/v1/operator/messages\n{}",
        String::from_utf8_lossy(&body)
    );
    let input = NewMessageInput {
        title: req.title,
        body_html: req.content,
        language: words::language("language", req.language.as_deref())?,
        translations: words::translations(
            req.translations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
        )?,
        category: req.category.parse()?,
        severity: words::word(req.severity.as_deref())?,
        services: req.services,
        tags: req.tags,
        is_major_change: req.is_major_change,
        action_required_by: time_field(
            "actionRequiredByDateTime",
            req.action_required_by_date_time.as_deref(),
        )?,
        start: time_field("startDateTime", req.start_date_time.as_deref())?,
        end: time_field("endDateTime", req.end_date_time.as_deref())?,
        details: req.details,
        audience: req.audience,
        attachments: decode_attachments(req.attachments)?,
    };
    let actor = caller.actor.clone();
    idempotent(&state, &caller.actor, &headers, &fingerprint, || async {
        let (message, reached) =
            svc::create_message(&state.core, &actor, caller.ip.clone(), input).await?;
        Ok((
            StatusCode::CREATED,
            to_json(&view(&message, Some(reached)))?,
        ))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListParams {
    /// At most this many (1-1000, default 100).
    pub limit: Option<u32>,
}

/// Lists messages, most recently modified first.
#[utoipa::path(get, path = "/api/v1/operator/messages", tag = "operator", params(MessageListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Messages", body = [MessageView]), (status = 403, description = "Needs the Incident Manager role")))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(p): ApiQuery<MessageListParams>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let list = svc::list_for_operator(&state.core, &caller.actor, p.limit.unwrap_or(100)).await?;
    Ok(Json(list.iter().map(|m| view(m, None)).collect()))
}

/// One message, with how many tenants it reached.
#[utoipa::path(get, path = "/api/v1/operator/messages/{id}", tag = "operator",
    params(("id" = String, Path, description = "Message id, e.g. MC100000")),
    security(("bearer" = [])),
    responses((status = 200, description = "The message", body = MessageView), (status = 404, description = "No such message")))]
pub async fn get_message(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let (m, reach) = svc::get_for_operator(&state.core, &caller.actor, ids::id(&id)?).await?;
    Ok(Json(view(&m, Some(reach))))
}

/// Changes a published message; it is tagged "Updated message".
#[utoipa::path(patch, path = "/api/v1/operator/messages/{id}", tag = "operator",
    params(("id" = String, Path, description = "Message id")),
    request_body = UpdateMessageRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated message", body = MessageView),
        (status = 400, description = "Invalid input, or nothing to change"),
        (status = 404, description = "No such message"),
        (status = 409, description = "The message changed meanwhile"),
    ))]
pub async fn update_message(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<MessageView>> {
    authorize(&caller.actor, Action::PublishMessages)?;
    let req: UpdateMessageRequest = json_body(&headers, &body)?;
    let clearable = |name: &str, v: Option<String>| -> ApiResult<Option<Option<OffsetDateTime>>> {
        match v {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(Some(None)),
            Some(s) => Ok(Some(time_field(name, Some(&s))?)),
        }
    };
    let input = UpdateMessageInput {
        title: req.title,
        body_html: req.content,
        translations: req
            .translations
            .map(|t| words::translations(t.into_iter().map(|(k, v)| (k, v.into())).collect()))
            .transpose()?,
        severity: words::word(req.severity.as_deref())?,
        tags: req.tags,
        action_required_by: clearable(
            "actionRequiredByDateTime",
            req.action_required_by_date_time,
        )?,
        end: clearable("endDateTime", req.end_date_time)?,
        audience: req.audience,
    };
    let (m, added) = svc::update_message(
        &state.core,
        &caller.actor,
        caller.ip.clone(),
        ids::id(&id)?,
        input,
    )
    .await?;
    let mut v = view(&m, Some(state.store.message_reach(&m.id).await?));
    v.newly_reached_tenants = Some(added);
    Ok(Json(v))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessagePreviewRequest {
    pub services: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub audience: Audience,
}

/// Who a message would reach, without publishing anything.
#[utoipa::path(post, path = "/api/v1/operator/messages/audience-preview", tag = "operator",
    request_body = MessagePreviewRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Counts per region and the tenants", body = PreviewView)))]
pub async fn audience_preview(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PreviewView>> {
    authorize(&caller.actor, Action::PublishMessages)?;
    let req: MessagePreviewRequest = json_body(&headers, &body)?;
    let p = svc::preview(&state.core, &caller.actor, &req.services, &req.audience).await?;
    Ok(Json(p.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewRequest {
    pub user_impact: String,
    pub scope_of_impact: String,
    /// RFC 3339 (default: the issue's start).
    pub start_date_time: Option<String>,
    /// RFC 3339 (default: the issue's end).
    pub end_date_time: Option<String>,
    pub root_cause: String,
    pub actions_taken: String,
    pub next_steps: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub issue_id: String,
    pub user_impact: String,
    pub scope_of_impact: String,
    pub start_date_time: String,
    pub end_date_time: String,
    pub root_cause: String,
    pub actions_taken: String,
    pub next_steps: String,
    pub author: String,
    pub updated_date_time: String,
    pub published_date_time: Option<String>,
}

fn review_view(p: &Pir) -> ReviewView {
    ReviewView {
        issue_id: p.issue_id.to_string(),
        user_impact: p.user_impact.clone(),
        scope_of_impact: p.scope_of_impact.clone(),
        start_date_time: rfc3339(p.start),
        end_date_time: rfc3339(p.end),
        root_cause: p.root_cause.clone(),
        actions_taken: p.actions_taken.clone(),
        next_steps: p.next_steps.clone(),
        author: p.author.clone(),
        updated_date_time: rfc3339(p.updated_at),
        published_date_time: p.published_at.map(rfc3339),
    }
}

/// Writes (or rewrites) the draft post-incident review of an issue.
#[utoipa::path(put, path = "/api/v1/operator/issues/{id}/review", tag = "operator",
    params(("id" = String, Path, description = "Issue id")),
    request_body = ReviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The draft", body = ReviewView),
        (status = 400, description = "Invalid input"),
        (status = 404, description = "No such issue"),
        (status = 409, description = "The review is already published"),
    ))]
pub async fn put_review(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ReviewView>> {
    authorize(&caller.actor, Action::PublishServiceHealth)?;
    let req: ReviewRequest = json_body(&headers, &body)?;
    let input = PirInput {
        user_impact: req.user_impact,
        scope_of_impact: req.scope_of_impact,
        start: time_field("startDateTime", req.start_date_time.as_deref())?,
        end: time_field("endDateTime", req.end_date_time.as_deref())?,
        root_cause: req.root_cause,
        actions_taken: req.actions_taken,
        next_steps: req.next_steps,
    };
    let pir = health::save_pir_draft(
        &state.core,
        &caller.actor,
        caller.ip.clone(),
        ids::id(&id)?,
        input,
    )
    .await?;
    Ok(Json(review_view(&pir)))
}

/// Publishes the review: the issue becomes postIncidentReviewPublished.
#[utoipa::path(post, path = "/api/v1/operator/issues/{id}/review/publish", tag = "operator",
    params(("id" = String, Path, description = "Issue id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The published review", body = ReviewView),
        (status = 400, description = "A section is empty"),
        (status = 409, description = "No draft, already published, or the issue is not resolved"),
    ))]
pub async fn publish_review(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let (_, pir) =
        health::publish_pir(&state.core, &caller.actor, caller.ip.clone(), ids::id(&id)?).await?;
    Ok(Json(review_view(&pir)))
}
