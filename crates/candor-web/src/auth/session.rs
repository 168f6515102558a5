//! Portal sessions: a random token in an HttpOnly cookie, only its hash in the store, a
//! CSRF token per session, idle and absolute expiry checked against Candor's clock.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, SameSite};
use candor_domain::identity::{Session, SessionPrincipal};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::AppState;
use candor_app::secrets::{random_token, sha256_hex};

pub const SESSION_COOKIE: &str = "candor_session";
/// Double-submit cookie protecting the sign-in forms, before there is a session.
pub const PRESESSION_CSRF_COOKIE: &str = "candor_csrf";
pub const LANGUAGE_COOKIE: &str = "candor_lang";

/// Refresh `last_seen_at` at most this often, so reading pages does not write each time.
const TOUCH_INTERVAL: time::Duration = time::Duration::seconds(60);

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| Cookie::parse(c.trim().to_owned()).ok())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

pub fn build_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.config.secure_cookies)
        .same_site(SameSite::Lax)
        .build()
}

pub fn removal_cookie(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = build_cookie(state, name, String::new());
    c.make_removal();
    c
}

/// Creates a session and returns the cookie to set.
pub async fn start(
    state: &AppState,
    principal: SessionPrincipal,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Cookie<'static>, ApiError> {
    let token = random_token();
    let session = Session {
        token_hash: sha256_hex(&token),
        principal,
        csrf_token: random_token(),
        created_at: now,
        last_seen_at: now,
        ip_address: ip,
    };
    state.store.create_session(&session).await?;
    Ok(build_cookie(state, SESSION_COOKIE, token))
}

/// The live session named by the request's cookie, if any. Expired sessions are deleted.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = sha256_hex(&token);
    let Some(session) = state.store.get_session(&hash).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if !session.is_live(now) {
        state.store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_INTERVAL {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Some(session))
}

pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
        state.store.delete_session(&sha256_hex(&token)).await?;
    }
    Ok(())
}
