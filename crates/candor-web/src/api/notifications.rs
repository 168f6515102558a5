//! A tenant's notification settings as code: contacts and webhook endpoints listed,
//! created, changed, tested and removed through the API by an app with
//! `ServiceHealth.Notifications.ReadWrite` (or a Global Administrator's session, whose
//! writes carry the session's `X-CSRF-Token`), with the same checks as the portal.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_app::contacts::{self, ContactChange, ContactInput};
use candor_app::ids;
use candor_app::webhooks::{self, WebhookChange, WebhookInput, WithSecret};
use candor_app::words;
use candor_domain::health::{Contact, Subscription, WebhookEndpoint};
use candor_domain::identity::{Denied, DenyReason};
use candor_domain::time_util::rfc3339;
use candor_domain::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::operator::json_body;
use crate::auth::extract::ApiCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The caller's tenant: notification settings belong to one.
fn tenant_of(caller: &ApiCaller) -> ApiResult<TenantId> {
    caller.actor.tenant_id().ok_or_else(|| {
        ApiError::Forbidden(Denied {
            reason: DenyReason::WrongRealm,
            message: "notification settings belong to a tenant: use one of its apps or a Global Administrator's session".into(),
        })
    })
}

fn topics_of(s: &Subscription) -> Vec<String> {
    s.topics.iter().map(|t| t.as_str().to_owned()).collect()
}

fn services_of(s: &Subscription) -> Vec<String> {
    s.services.iter().map(|t| t.as_str().to_owned()).collect()
}

/// A contact: who is emailed, in which language, about what.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub id: String,
    pub email: String,
    /// en, nl, fr, zh-TW or ko.
    pub language: String,
    /// incidents, advisories, messageCenter, postIncidentReviews.
    pub topics: Vec<String>,
    /// Service ids; empty means every service.
    pub services: Vec<String>,
    pub created_date_time: String,
}

fn contact_view(c: &Contact) -> ContactView {
    ContactView {
        id: c.id.to_string(),
        email: c.email.to_string(),
        language: c.language.tag().to_owned(),
        topics: topics_of(&c.subscription),
        services: services_of(&c.subscription),
        created_date_time: rfc3339(c.created_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewContact {
    pub email: String,
    /// en (default), nl, fr, zh-TW or ko.
    pub language: Option<String>,
    pub topics: Vec<String>,
    /// Service ids or display names; none means every service.
    #[serde(default)]
    pub services: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPatch {
    pub language: Option<String>,
    pub topics: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
}

/// A new contact as the body gives it.
fn contact_input(req: NewContact) -> ApiResult<ContactInput> {
    Ok(ContactInput {
        email: req.email,
        language: words::language("language", req.language.as_deref())?.unwrap_or_default(),
        topics: words::topics(&req.topics)?,
        services: req.services,
    })
}

/// The tenant's contacts, by address.
#[utoipa::path(get, path = "/api/v1/notifications/contacts", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, description = "Contacts", body = [ContactView]),
        (status = 403, description = "Needs ServiceHealth.Notifications.ReadWrite or a Global Administrator")))]
pub async fn list_contacts(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<Vec<ContactView>>> {
    let tenant = tenant_of(&caller)?;
    let list = contacts::list(&state.core, &caller.actor, tenant).await?;
    Ok(Json(list.iter().map(contact_view).collect()))
}

/// Adds a contact (an address once per tenant).
#[utoipa::path(post, path = "/api/v1/notifications/contacts", tag = "notifications",
    request_body = NewContact, security(("bearer" = [])),
    responses((status = 201, description = "The contact", body = ContactView),
        (status = 400, description = "Not an address, a language, a topic or a service"),
        (status = 409, description = "The address is already a contact")))]
pub async fn create_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&caller)?;
    let input = contact_input(json_body(&headers, &body)?)?;
    let c = contacts::add(&state.core, &caller.actor, caller.ip, tenant, input).await?;
    Ok((StatusCode::CREATED, Json(contact_view(&c))).into_response())
}

/// An invitation on its way: the address becomes a contact when its owner accepts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    pub email: String,
    /// When the link in the invitation stops working.
    pub expires_date_time: String,
}

/// Invites someone to the tenant's news: they are emailed a link, valid 24 hours, and
/// become a contact only when they accept (double opt-in).
#[utoipa::path(post, path = "/api/v1/notifications/contacts/invitations", tag = "notifications",
    request_body = NewContact, security(("bearer" = [])),
    responses((status = 202, description = "The invitation is on its way", body = InvitationView),
        (status = 400, description = "Not an address, a language, a topic or a service; or this address was invited too often"),
        (status = 409, description = "The address is already a contact"),
        (status = 429, description = "The organization sent too many invitations in the last hour")))]
pub async fn invite_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&caller)?;
    let input = contact_input(json_body(&headers, &body)?)?;
    let email = candor_app::subscribers::invite(
        &state.core,
        &caller.actor,
        caller.ip,
        &state.config.public_url,
        tenant,
        input,
    )
    .await?;
    let expires = state.clock.now() + candor_domain::health::subscriber::CONFIRMATION_VALID;
    Ok((
        StatusCode::ACCEPTED,
        Json(InvitationView {
            email: email.to_string(),
            expires_date_time: rfc3339(expires),
        }),
    )
        .into_response())
}

/// Changes a contact's language, topics or services (absent fields stay).
#[utoipa::path(patch, path = "/api/v1/notifications/contacts/{id}", tag = "notifications",
    request_body = ContactPatch, params(("id" = String, Path, description = "Contact id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The contact", body = ContactView),
        (status = 404, description = "No such contact in this tenant")))]
pub async fn change_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ContactView>> {
    let tenant = tenant_of(&caller)?;
    let req: ContactPatch = json_body(&headers, &body)?;
    let change = ContactChange {
        language: words::language("language", req.language.as_deref())?,
        topics: req.topics.as_deref().map(words::topics).transpose()?,
        services: req.services,
    };
    let c = contacts::change(
        &state.core,
        &caller.actor,
        caller.ip,
        tenant,
        ids::id(&id)?,
        change,
    )
    .await?;
    Ok(Json(contact_view(&c)))
}

/// Removes a contact.
#[utoipa::path(delete, path = "/api/v1/notifications/contacts/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Contact id")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such contact in this tenant")))]
pub async fn remove_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_of(&caller)?;
    contacts::remove(&state.core, &caller.actor, caller.ip, tenant, ids::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test email to the contact, through the same queue as real news.
#[utoipa::path(post, path = "/api/v1/notifications/contacts/{id}/test", tag = "notifications",
    params(("id" = String, Path, description = "Contact id")), security(("bearer" = [])),
    responses((status = 202, description = "Queued"),
        (status = 404, description = "No such contact in this tenant")))]
pub async fn test_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = tenant_of(&caller)?;
    let c =
        contacts::send_test(&state.core, &caller.actor, caller.ip, tenant, ids::id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(contact_view(&c))).into_response())
}

/// A webhook endpoint. `secret` is present only when it was just made (creation, a
/// rotation): it is shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// candor, slack or teams.
    pub format: String,
    pub topics: Vec<String>,
    pub services: Vec<String>,
    pub enabled: bool,
    /// Failed attempts in a row.
    pub failures: i32,
    pub disabled_reason: Option<String>,
    pub created_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn webhook_view(e: &WebhookEndpoint, secret: Option<String>) -> WebhookView {
    WebhookView {
        id: e.id.to_string(),
        url: e.url.clone(),
        format: e.format.as_str().to_owned(),
        topics: topics_of(&e.subscription),
        services: services_of(&e.subscription),
        enabled: e.enabled,
        failures: e.failures,
        disabled_reason: e.disabled_reason.clone(),
        created_date_time: rfc3339(e.created_at),
        secret,
    }
}

fn with_secret(w: WithSecret) -> WebhookView {
    webhook_view(&w.endpoint, Some(w.secret))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWebhook {
    /// https, a public host, no credentials.
    pub url: String,
    /// candor (default), slack or teams.
    pub format: Option<String>,
    pub topics: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookPatch {
    pub format: Option<String>,
    pub topics: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    /// `true` turns a disabled endpoint back on (with a clean record of failures).
    pub enabled: Option<bool>,
}

/// The tenant's webhook endpoints (without their secrets).
#[utoipa::path(get, path = "/api/v1/notifications/webhooks", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, description = "Endpoints", body = [WebhookView]),
        (status = 403, description = "Needs ServiceHealth.Notifications.ReadWrite or a Global Administrator")))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let tenant = tenant_of(&caller)?;
    let list = webhooks::list(&state.core, &caller.actor, tenant).await?;
    Ok(Json(list.iter().map(|e| webhook_view(e, None)).collect()))
}

/// Adds an endpoint; its signing secret is in the answer, and only there.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks", tag = "notifications",
    request_body = NewWebhook, security(("bearer" = [])),
    responses((status = 201, description = "The endpoint with its secret", body = WebhookView),
        (status = 400, description = "Not a usable URL, format, topic or service"),
        (status = 409, description = "The URL is already an endpoint")))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&caller)?;
    let req: NewWebhook = json_body(&headers, &body)?;
    let input = WebhookInput {
        url: req.url,
        format: words::word(req.format.as_deref())?,
        topics: words::topics(&req.topics)?,
        services: req.services,
    };
    let made = webhooks::add(&state.core, &caller.actor, caller.ip, tenant, input).await?;
    Ok((StatusCode::CREATED, Json(with_secret(made))).into_response())
}

/// Changes an endpoint's format, topics or services, or turns it back on.
#[utoipa::path(patch, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications",
    request_body = WebhookPatch, params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The endpoint", body = WebhookView),
        (status = 400, description = "`enabled: false` (an endpoint is turned off by removing it)"),
        (status = 404, description = "No such endpoint in this tenant")))]
pub async fn change_webhook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookView>> {
    let tenant = tenant_of(&caller)?;
    let req: WebhookPatch = json_body(&headers, &body)?;
    if req.enabled == Some(false) {
        return Err(ApiError::BadRequest(
            "`enabled` can only be true (turn a disabled endpoint back on); remove an endpoint to stop it".into(),
        ));
    }
    let change = WebhookChange {
        format: words::word(req.format.as_deref())?,
        topics: req.topics.as_deref().map(words::topics).transpose()?,
        services: req.services,
    };
    let id = ids::id(&id)?;
    let mut endpoint = webhooks::change(
        &state.core,
        &caller.actor,
        caller.ip.clone(),
        tenant,
        id,
        change,
    )
    .await?;
    if req.enabled == Some(true) && !endpoint.enabled {
        endpoint = webhooks::enable(&state.core, &caller.actor, caller.ip, tenant, id).await?;
    }
    Ok(Json(webhook_view(&endpoint, None)))
}

/// Removes an endpoint.
#[utoipa::path(delete, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint in this tenant")))]
pub async fn remove_webhook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_of(&caller)?;
    webhooks::remove(&state.core, &caller.actor, caller.ip, tenant, ids::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a signed test delivery to the endpoint.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks/{id}/test", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses((status = 202, description = "Queued, with the delivery id"),
        (status = 404, description = "No such endpoint in this tenant")))]
pub async fn test_webhook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = tenant_of(&caller)?;
    let delivery =
        webhooks::send_test(&state.core, &caller.actor, caller.ip, tenant, ids::id(&id)?).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"deliveryId": delivery})),
    )
        .into_response())
}

/// A new signing secret, shown once; the old one keeps signing for the grace period.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks/{id}/rotate-secret", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses((status = 200, description = "The endpoint with its new secret", body = WebhookView),
        (status = 404, description = "No such endpoint in this tenant")))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    let tenant = tenant_of(&caller)?;
    let rotated =
        webhooks::rotate_secret(&state.core, &caller.actor, caller.ip, tenant, ids::id(&id)?)
            .await?;
    Ok(Json(with_secret(rotated)))
}
