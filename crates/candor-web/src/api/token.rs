//! `POST /oauth2/v2.0/token`: the client credentials grant, form-encoded as with Entra ID.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use candor_domain::audit::{activity, ActorKind, AuditChain, NewAuditRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::extract::ClientIp;
use crate::auth::token::TOKEN_LIFETIME;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use candor_app::identity::{authenticate_client, AuthenticatedClient};

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Optional; when given it must end in `/.default`, as with Entra ID.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
}

fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        status,
        error,
        description: description.into(),
    }
}

/// Refuses a client id (or an address) that asks for tokens far more often than any
/// client needs, before its secret is checked.
fn throttle(state: &AppState, client_id: &str, ip: Option<&str>) -> ApiResult<()> {
    use governor::clock::{Clock as _, DefaultClock};
    let refuse = |not_until: governor::NotUntil<_>| {
        let wait = not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            + 1;
        ApiError::TooManyRequests {
            message: format!(
                "too many token requests; a token lasts an hour, ask again in {wait} seconds"
            ),
            retry_after_secs: wait,
        }
    };
    if let Some(ip) = ip {
        state
            .token_address_limiter
            .check_key(&ip.to_owned())
            .map_err(refuse)?;
    }
    state
        .token_limiter
        .check_key(&client_id.trim().to_lowercase())
        .map_err(refuse)
}

/// `client_secret_basic`: credentials in the Authorization header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Issues an access token for an API client (client credentials grant).
#[utoipa::path(post, path = "/oauth2/v2.0/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A signed access token, valid one hour", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant (RFC 6749 error body)"),
        (status = 401, description = "Unknown client, wrong secret or revoked client (RFC 6749 error body)"),
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TokenResponse>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the request form-encoded (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    let form: TokenRequest = serde_urlencoded::from_bytes(&body).map_err(|e| {
        oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the form is not valid: {e}"),
        )
    })?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required (client_credentials)",
            ))
        }
        Some(other) => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type `{}` is not supported; use client_credentials",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
    }
    if let Some(scope) = form.scope.as_deref() {
        if !scope.split_whitespace().all(|s| s.ends_with("/.default")) {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "scope must be `<resource>/.default`; permissions come from the client's registration",
            ));
        }
    }
    let (client_id, secret) = match (
        form.client_id,
        form.client_secret,
        basic_credentials(&headers),
    ) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some(pair)) => pair,
        _ => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id and client_secret are required",
            ))
        }
    };
    throttle(&state, &client_id, ip.as_deref())?;
    let now = state.clock.now();
    match authenticate_client(&state.core, &client_id, &secret).await {
        Ok(client) => {
            // Sign with the key in use, should a rotation have happened meanwhile.
            state.tokens.refresh_if_due(&state.store, now).await;
            let (token, chain, id, roles, kind) = match &client {
                AuthenticatedClient::Tenant(c) => (
                    state.tokens.issue(c, now)?,
                    AuditChain::Tenant(c.tenant_id),
                    c.id,
                    c.permissions.names(),
                    ActorKind::ApiClient,
                ),
                AuthenticatedClient::Operator(c) => (
                    state.tokens.issue_for_operator(c, now)?,
                    AuditChain::Operator,
                    c.id,
                    c.roles.names(),
                    ActorKind::Operator,
                ),
            };
            let actor = match &client {
                AuthenticatedClient::Tenant(_) => format!("app:{id}"),
                AuthenticatedClient::Operator(_) => format!("svc:{id}"),
            };
            let record = NewAuditRecord::new(chain, now, actor, kind, activity::TOKEN_ISSUED)
                .ip(ip)
                .item(id.to_string())
                .details(json!({"roles": roles}));
            state.store.append_audit(vec![record]).await?;
            Ok(Json(TokenResponse {
                token_type: "Bearer".into(),
                expires_in: TOKEN_LIFETIME.whole_seconds(),
                ext_expires_in: TOKEN_LIFETIME.whole_seconds(),
                access_token: token,
            }))
        }
        Err(refused) => {
            if let Some((chain, id)) = refused.chain {
                let record = NewAuditRecord::new(
                    chain,
                    now,
                    format!("app:{id}"),
                    ActorKind::Anonymous,
                    activity::TOKEN_REFUSED,
                )
                .ip(ip)
                .item(id.to_string())
                .details(json!({"reason": refused.reason}));
                state.store.append_audit(vec![record]).await?;
            }
            Err(oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!("client authentication failed: {}", refused.reason),
            ))
        }
    }
}

/// The public keys that verify Candor's access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set (Ed25519)")))]
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(
        state
            .tokens
            .current_jwks(&state.store, state.clock.now())
            .await,
    )
}

/// Discovery document naming the issuer, token endpoint and keys.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "auth",
    responses((status = 200, description = "OpenID Connect discovery metadata")))]
pub async fn openid_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = state.config.public_url.trim_end_matches('/');
    Json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }))
}
