//! Extractors that establish who is calling. The tenant is resolved here, from the
//! session or the token, never from a request field.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use candor_domain::identity::{Actor, SessionPrincipal, Tenant};
use candor_domain::language::Language;

use super::session::{self, LANGUAGE_COOKIE};
use crate::error::ApiError;
use crate::AppState;

/// The caller's IP address: the socket peer, or the first `X-Forwarded-For` hop when
/// Candor is configured to trust its proxy.
pub fn client_ip(parts: &Parts, state: &AppState) -> Option<String> {
    if state.config.trust_forwarded_for {
        if let Some(xff) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return Some(xff.to_owned());
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The caller's IP, as its own extractor.
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state)))
    }
}

/// The header a session's write to the API carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A caller of the REST API: a bearer token, or a portal session (any method, with the
/// session's CSRF token in `X-CSRF-Token` for a write).
pub struct ApiCaller {
    pub actor: Actor,
    pub ip: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthenticated(
            "the Authorization header must be `Bearer <access token>`".into(),
        )),
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, state);
        let now = state.clock.now();
        if let Some(token) = bearer(&parts.headers)? {
            let actor = state.tokens.authenticate(&state.store, token, now).await?;
            return Ok(ApiCaller { actor, ip });
        }
        // A session cookie authenticates only safe methods: a cross-site form cannot
        // make the API change anything on a signed-in person's behalf.
        // A write with a session must carry the session's CSRF token in `X-CSRF-Token`
        // (a page's script can read it; another site cannot).
        let safe = matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        let session = session::current(state, &parts.headers).await?;
        let session = session.filter(|s| {
            safe || parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| candor_app::secrets::same_secret(t, &s.csrf_token))
        });
        if let Some(session) = session {
            if let Some(resolved) = resolve_principal(state, session.principal).await? {
                return Ok(ApiCaller {
                    actor: resolved.actor,
                    ip,
                });
            }
        }
        Err(ApiError::Unauthenticated(
            "sign in, or send an access token: Authorization: Bearer <token> (get one from POST /oauth2/v2.0/token)".into(),
        ))
    }
}

pub struct ResolvedPrincipal {
    pub actor: Actor,
    pub display_name: String,
    pub language: Option<Language>,
    pub tenant: Option<Tenant>,
}

/// Loads the person behind a session; `None` if they are gone or disabled.
pub async fn resolve_principal(
    state: &AppState,
    principal: SessionPrincipal,
) -> Result<Option<ResolvedPrincipal>, ApiError> {
    match principal {
        SessionPrincipal::TenantUser { tenant_id, user_id } => {
            let Some(user) = state.store.get_user(tenant_id, user_id).await? else {
                return Ok(None);
            };
            if user.disabled {
                return Ok(None);
            }
            let tenant = state.store.get_tenant(tenant_id).await?;
            Ok(Some(ResolvedPrincipal {
                actor: Actor::TenantUser {
                    tenant_id,
                    user_id,
                    email: user.email.to_string(),
                    roles: user.roles.clone(),
                },
                display_name: user.display_name,
                language: user.language,
                tenant,
            }))
        }
        SessionPrincipal::Operator { operator_id } => {
            let Some(op) = state.store.get_operator(operator_id).await? else {
                return Ok(None);
            };
            if op.disabled {
                return Ok(None);
            }
            // Standing roles plus the elevations active at this moment.
            let roles =
                candor_app::elevation::roles_now(&state.core, operator_id, &op.roles).await?;
            Ok(Some(ResolvedPrincipal {
                actor: Actor::Operator {
                    operator_id,
                    email: op.email.to_string(),
                    roles,
                },
                display_name: op.display_name,
                language: op.language,
                tenant: None,
            }))
        }
    }
}

/// The language for a page: the user's choice, else the language cookie, else the
/// tenant's language, else the browser's, else English.
pub fn page_language(
    headers: &HeaderMap,
    user_choice: Option<Language>,
    tenant: Option<&Tenant>,
) -> Language {
    user_choice
        .or_else(|| session::cookie_value(headers, LANGUAGE_COOKIE).and_then(|c| c.parse().ok()))
        .or_else(|| tenant.map(|t| t.default_language))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Language::from_accept_language)
        })
        .unwrap_or_default()
}

/// A signed-in person in the portal or console.
pub struct PortalUser {
    pub actor: Actor,
    pub csrf: String,
    pub language: Language,
    pub time_zone: String,
    pub display_name: String,
    pub tenant: Option<Tenant>,
    pub ip: Option<String>,
}

impl PortalUser {
    pub fn is_operator(&self) -> bool {
        matches!(self.actor, Actor::Operator { .. })
    }
}

impl FromRequestParts<AppState> for PortalUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let console = parts.uri.path().starts_with("/console");
        let sign_in = if console {
            "/console/signin"
        } else {
            "/signin"
        };
        let session = session::current(state, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(session) = session else {
            return Err(Redirect::to(sign_in).into_response());
        };
        let Some(resolved) = resolve_principal(state, session.principal)
            .await
            .map_err(IntoResponse::into_response)?
        else {
            return Err(Redirect::to(sign_in).into_response());
        };
        // Each realm has its own pages: send people to theirs.
        match (&resolved.actor, console) {
            (Actor::Operator { .. }, false) if parts.uri.path().starts_with("/portal") => {
                return Err(Redirect::to("/console").into_response())
            }
            (Actor::TenantUser { .. }, true) => return Err(Redirect::to("/portal").into_response()),
            _ => {}
        }
        let language = page_language(&parts.headers, resolved.language, resolved.tenant.as_ref());
        let time_zone = resolved
            .tenant
            .as_ref()
            .map(|t| t.time_zone.to_string())
            .unwrap_or_else(|| "UTC".to_owned());
        Ok(PortalUser {
            actor: resolved.actor,
            csrf: session.csrf_token,
            language,
            time_zone,
            display_name: resolved.display_name,
            tenant: resolved.tenant,
            ip: client_ip(parts, state),
        })
    }
}
