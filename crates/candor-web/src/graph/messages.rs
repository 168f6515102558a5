//! `/admin/serviceAnnouncement/messages`: Message Center in Graph's shape, with
//! attachments, the zip archive and the six viewpoint actions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_app::ids;
use candor_domain::health::{Attachment, Message, Service, Viewpoint, ViewpointChange};
use candor_domain::identity::{Action, Actor};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{collection, entity, odata, parse_query, reader_language, select_one, wants};
use super::{GraphResult, Req};
use crate::error::ApiError;
use crate::AppState;
use candor_app::messages as svc;

pub(super) const MESSAGE_FIELDS: &[&str] = &[
    "id",
    "title",
    "startDateTime",
    "endDateTime",
    "lastModifiedDateTime",
    "actionRequiredByDateTime",
    "expiryDateTime",
    "category",
    "severity",
    "tags",
    "isMajorChange",
    "services",
    "hasAttachments",
    "viewPoint",
    "details",
    "body",
    "attachments",
];
const ATTACHMENT_FIELDS: &[&str] = &[
    "id",
    "name",
    "contentType",
    "size",
    "lastModifiedDateTime",
    "isInline",
];

fn attachment_json(a: &Attachment) -> Value {
    json!({
        "id": a.id.to_string(),
        "name": a.name,
        "contentType": a.content_type,
        "size": a.size,
        "lastModifiedDateTime": rfc3339(a.last_modified),
        "isInline": false,
    })
}

pub(super) fn message_json(
    m: &Message,
    viewpoint: Option<Viewpoint>,
    services: &[Service],
    lang: Language,
    expand_attachments: bool,
) -> Value {
    let (title, body) = m.text_in(lang);
    let service_names: Vec<String> = m
        .services
        .iter()
        .map(|id| {
            services
                .iter()
                .find(|s| &s.id == id)
                .map_or(id.to_string(), |s| s.display_name.clone())
        })
        .collect();
    let details: Vec<Value> = m
        .details
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let mut v = json!({
        "startDateTime": rfc3339(m.start),
        "endDateTime": m.end.map(rfc3339),
        "lastModifiedDateTime": rfc3339(m.last_modified),
        "title": title,
        "id": m.id.as_str(),
        "category": m.category.as_str(),
        "severity": m.severity.as_str(),
        "tags": m.tags,
        "isMajorChange": m.is_major_change,
        "actionRequiredByDateTime": m.action_required_by.map(rfc3339),
        "services": service_names,
        "expiryDateTime": Value::Null,
        "hasAttachments": !m.attachments.is_empty(),
        "viewPoint": viewpoint.map(|p| json!({"isRead": p.is_read, "isArchived": p.is_archived, "isFavorited": p.is_favorited})),
        "details": details,
        "body": {"contentType": "html", "content": body},
    });
    if expand_attachments {
        v["attachments"] = Value::Array(m.attachments.iter().map(attachment_json).collect());
    }
    v
}

pub(super) async fn list(State(state): State<AppState>, mut req: Req) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let expand = wants(&q, "attachments")?;
        let lang = reader_language(&state, &req.headers, tenant).await;
        let services = state.store.list_services().await?;
        let views = svc::tenant_messages(&state.core, &actor, tenant).await?;
        let mut items: Vec<Value> = views
            .iter()
            .map(|v| message_json(&v.message, v.viewpoint, &services, lang, expand))
            .collect();
        if q.orderby.is_none() {
            odata::sort(&mut items, &[("lastModifiedDateTime".into(), true)]);
        }
        let ctx = if expand {
            "messages(attachments())"
        } else {
            "messages"
        };
        collection(&state, &req, ctx, items, &q, MESSAGE_FIELDS)
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let expand = wants(&q, "attachments")?;
        let view =
            svc::message_for_tenant(&state.core, &actor, tenant, ids::tenant_message(&id)?).await?;
        let lang = reader_language(&state, &req.headers, tenant).await;
        let services = state.store.list_services().await?;
        let mut v = message_json(&view.message, view.viewpoint, &services, lang, expand);
        select_one(&mut v, &q, MESSAGE_FIELDS)?;
        let ctx = if expand {
            "messages(attachments())/$entity"
        } else {
            "messages/$entity"
        };
        Ok::<_, ApiError>(entity(&state, &req, v, ctx))
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

pub(super) async fn list_attachments(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let view =
            svc::message_for_tenant(&state.core, &actor, tenant, ids::tenant_message(&id)?).await?;
        let items = view
            .message
            .attachments
            .iter()
            .map(attachment_json)
            .collect();
        let ctx = format!("messages('{}')/attachments", view.message.id);
        collection(&state, &req, &ctx, items, &q, ATTACHMENT_FIELDS)
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

pub(super) async fn get_attachment(
    State(state): State<AppState>,
    Path((id, attachment)): Path<(String, String)>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let view =
            svc::message_for_tenant(&state.core, &actor, tenant, ids::tenant_message(&id)?).await?;
        let a = view
            .message
            .attachments
            .iter()
            .find(|a| a.id.to_string().eq_ignore_ascii_case(attachment.trim()))
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "message {} has no attachment {}",
                    view.message.id,
                    attachment.chars().take(40).collect::<String>()
                ))
            })?;
        let mut v = attachment_json(a);
        select_one(&mut v, &q, ATTACHMENT_FIELDS)?;
        let ctx = format!("messages('{}')/attachments/$entity", view.message.id);
        Ok::<_, ApiError>(entity(&state, &req, v, &ctx))
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

/// `Content-Disposition` naming a download: an ASCII fallback plus the exact UTF-8 name.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A file download that browsers will not sniff or render in place.
pub fn download(content_type: &str, name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, content_disposition(name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub(super) async fn attachment_content(
    State(state): State<AppState>,
    Path((id, attachment)): Path<(String, String)>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let message = ids::tenant_message(&id)?;
        let attachment = ids::attachment(&message, &attachment)?;
        let (meta, bytes) =
            svc::attachment_for_tenant(&state.core, &actor, tenant, message, attachment).await?;
        Ok::<_, ApiError>(download(&meta.content_type, &meta.name, bytes))
    };
    run.await.map_err(|e| req.fail(e))
}

pub(super) async fn attachments_archive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadMessageCenter)?;
        let (mid, bytes) =
            svc::attachments_archive(&state.core, &actor, tenant, ids::tenant_message(&id)?)
                .await?;
        Ok::<_, ApiError>(download(
            "application/zip",
            &format!("{mid}-attachments.zip"),
            bytes,
        ))
    };
    run.await.map_err(|e| req.fail(e))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionBody {
    message_ids: Vec<String>,
}

/// `POST /messages/markRead` and its five siblings (also as `microsoft.graph.markRead`).
pub(super) async fn action(
    State(state): State<AppState>,
    Path(name): Path<String>,
    mut req: Req,
    body: Bytes,
) -> GraphResult {
    let run = async {
        if let Ok(caller) = &req.caller {
            if matches!(caller.actor, Actor::ApiClient { .. }) {
                return Err(ApiError::Forbidden(candor_domain::identity::Denied {
                    reason: candor_domain::identity::DenyReason::MissingRole,
                    message: "marking messages read, archived or favorite changes a person's own view (ServiceMessageViewpoint.Write, delegated only); application permissions are not supported".into(),
                }));
            }
        }
        // Who asks comes first: an anonymous caller learns nothing about the actions.
        let (actor, tenant) = req.tenant(&state, Action::SetMessageViewpoint)?;
        let change = ViewpointChange::from_action(name.trim()).ok_or_else(|| {
            ApiError::NotFound(format!(
                "messages have no action `{}`; use markRead, markUnread, archive, unarchive, favorite or unfavorite",
                name.chars().take(40).collect::<String>()
            ))
        })?;
        if !super::is_json(&req.headers) {
            return Err(ApiError::BadRequest(
                "send {\"messageIds\": [...]} with Content-Type: application/json".into(),
            ));
        }
        let body: ActionBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid: {e}")))?;
        let done =
            svc::change_viewpoints(&state.core, &actor, tenant, &body.message_ids, change).await?;
        Ok::<_, ApiError>(json!({"value": done}))
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}
