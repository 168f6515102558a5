//! What the server-rendered pages of both audiences share: the page frame (`PageCtx`),
//! rendering and error pages, sign-in, the CSRF guard every form passes before any handler
//! runs, and the views both the tenant portal (`crate::portal`) and the operator console
//! (`crate::console`) show. Every page works without JavaScript.

pub mod audit;
pub mod deliveries;
pub mod form;
pub mod health;
pub mod lockbox;
pub mod messages;
pub mod push;
mod signin;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::CookieJar;
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::language::Language;
use form::Form;
use serde::Deserialize;

use crate::auth::extract::{page_language, resolve_principal, PortalUser};
use crate::auth::session::{self, cookie_value, LANGUAGE_COOKIE, PRESESSION_CSRF_COOKIE};
use crate::error::ApiError;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;
use candor_app::i18n::Tr;
use candor_app::secrets::{random_token, same_secret};

/// The pages every audience shares: sign-in for both, sign-out, language, the stylesheet.
pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/", get(root))
        .at(
            t,
            "/signin",
            get(signin::tenant_form).post(signin::tenant_submit),
        )
        .at(
            t,
            "/console/signin",
            get(signin::console_form).post(signin::console_submit),
        )
        .at(t, "/signout", post(signin::sign_out))
        .at(t, "/language", post(change_language))
        .at(t, "/static/candor.css", get(stylesheet))
}

/// Everything the layout needs.
pub struct PageCtx {
    pub tr: Tr,
    pub demo: bool,
    pub signed_in: bool,
    pub is_operator: bool,
    pub display_name: String,
    pub csrf: String,
    pub path: String,
    pub nav: Vec<NavItem>,
    pub languages: Vec<(&'static str, &'static str, bool)>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Things that need the reader's attention now, each with a link: e.g. overdue
    /// updates on issues they own.
    pub alerts: Vec<(String, String)>,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

fn languages(current: Language) -> Vec<(&'static str, &'static str, bool)> {
    Language::ALL
        .iter()
        .map(|l| (l.tag(), l.native_name(), *l == current))
        .collect()
}

impl PageCtx {
    pub fn for_user(state: &AppState, user: &PortalUser, path: &str) -> PageCtx {
        let tr = Tr::new(user.language, user.time_zone.clone());
        let allowed = |a: Action| authorize(&user.actor, a).is_ok();
        let mut nav = Vec::new();
        let mut add = |href: &'static str, key: &str| {
            nav.push(NavItem {
                href,
                label: tr.t(key),
                active: path == href
                    || (href != "/portal" && href != "/console" && path.starts_with(href)),
            })
        };
        match &user.actor {
            Actor::TenantUser { tenant_id, .. } => {
                let t = *tenant_id;
                add("/portal", "nav-home");
                if allowed(Action::ReadServiceHealth(t)) {
                    add("/portal/health", "nav-health");
                }
                if allowed(Action::ReadMessageCenter(t)) {
                    add("/portal/messages", "nav-messages");
                }
                if allowed(Action::ReadServiceHealth(t)) || allowed(Action::ReadMessageCenter(t)) {
                    add("/portal/push", "push-title");
                }
                if allowed(Action::ReadLockboxRequests(t)) {
                    add("/portal/lockbox", "nav-lockbox");
                }
                if allowed(Action::ReadAuditLog(t)) {
                    add("/portal/audit", "nav-audit");
                }
                if allowed(Action::ManageUsers(t)) {
                    add("/portal/users", "nav-users");
                }
                if allowed(Action::ManageApiClients(t)) {
                    add("/portal/api-clients", "nav-api-clients");
                }
                if allowed(Action::ManageTenantSettings(t)) {
                    add("/portal/settings", "nav-settings");
                    add("/portal/contacts", "nav-contacts");
                    add("/portal/webhooks", "webhooks-title");
                    add("/portal/deliveries", "deliveries-title");
                    add("/portal/feeds", "feeds-title");
                }
            }
            _ => {
                add("/console", "nav-console");
                add("/console/elevation", "nav-elevation");
                add("/console/push", "push-title");
                if allowed(Action::PublishServiceHealth) {
                    add("/console/issues", "nav-issues");
                    add("/console/drafts", "drafts-title");
                    add("/console/maintenance", "maintenance-public");
                    add("/console/subscribers", "subscribers-title");
                }
                if allowed(Action::PublishMessages) {
                    add("/console/messages", "nav-messages");
                }
                if allowed(Action::PublishServiceHealth) || allowed(Action::PublishMessages) {
                    add("/console/deliveries", "deliveries-console-title");
                }
                if allowed(Action::FileLockboxRequest) || allowed(Action::ApproveLockboxInternally)
                {
                    add("/console/lockbox", "nav-console-lockbox");
                }
                if allowed(Action::ManageTenants) {
                    add("/console/tenants", "nav-tenants");
                }
                if allowed(Action::ManageTopology) {
                    add("/console/topology", "nav-topology");
                }
                if allowed(Action::ManageOperators) {
                    add("/console/operators", "nav-operators");
                }
                if allowed(Action::ReadOperatorAuditLog) {
                    add("/console/audit", "nav-audit");
                }
            }
        }
        PageCtx {
            languages: languages(user.language),
            tr,
            demo: state.config.demo || user.tenant.as_ref().is_some_and(|t| t.is_demo),
            signed_in: true,
            is_operator: user.is_operator(),
            display_name: user.display_name.clone(),
            csrf: user.csrf.clone(),
            path: path.to_owned(),
            nav,
            notice: None,
            error: None,
            alerts: Vec::new(),
        }
    }

    /// A page for someone not signed in; `csrf` is the pre-session token.
    pub fn anonymous(state: &AppState, lang: Language, csrf: String, path: &str) -> PageCtx {
        PageCtx {
            tr: Tr::new(lang, "UTC"),
            demo: state.config.demo,
            signed_in: false,
            is_operator: path.starts_with("/console"),
            display_name: String::new(),
            csrf,
            path: path.to_owned(),
            nav: Vec::new(),
            languages: languages(lang),
            notice: None,
            error: None,
            alerts: Vec::new(),
        }
    }
}

pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

pub fn render_with(status: StatusCode, t: &impl Template) -> Response {
    let mut r = render(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub page: PageCtx,
    pub message: String,
    pub back: String,
}

/// Renders an error for a signed-in person as a page in their language.
pub fn error_page(state: &AppState, user: &PortalUser, path: &str, err: ApiError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        return err.into_response();
    }
    let page = PageCtx::for_user(state, user, path);
    let message = match &err {
        ApiError::Forbidden(_) => page.tr.t("common-forbidden"),
        ApiError::NotFound(_) => page.tr.t("common-not-found"),
        other => other.public_message(),
    };
    let back = if user.is_operator() {
        "/console"
    } else {
        "/portal"
    };
    render_with(
        status,
        &ErrorPage {
            title: page.tr.t("common-error-title"),
            page,
            message,
            back: back.to_owned(),
        },
    )
}

async fn root(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    match session::current(&state, &headers).await {
        Ok(Some(s)) => match s.principal {
            candor_domain::identity::SessionPrincipal::Operator { .. } => {
                Redirect::to("/console").into_response()
            }
            _ => Redirect::to("/portal").into_response(),
        },
        _ => Redirect::to("/signin").into_response(),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        candor_app::status_page::CSS,
    )
        .into_response()
}

/// The pre-session CSRF token: the existing cookie, or a new one to set.
pub fn presession_csrf(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    match jar
        .get(PRESESSION_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
    {
        Some(v) if v.len() >= 32 => (jar, v),
        _ => {
            let token = random_token();
            let jar = jar.add(session::build_cookie(
                state,
                PRESESSION_CSRF_COOKIE,
                token.clone(),
            ));
            (jar, token)
        }
    }
}

const MAX_FORM_BYTES: usize = 256 * 1024;
/// A message form with its attachments (each at most 5 MiB, 20 MiB together).
pub(crate) const MAX_UPLOAD_BYTES: usize =
    candor_app::messages::MAX_TOTAL_ATTACHMENT_BYTES + 1024 * 1024;

/// Refuses any state-changing portal request whose form does not carry the session's
/// CSRF token (or, before sign-in, the pre-session cookie's).
pub(crate) async fn csrf_guard(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // File uploads are multipart; their token travels in the form's action URL, as the
    // body is not a urlencoded form.
    let multipart = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let limit = if multipart {
        MAX_UPLOAD_BYTES
    } else {
        MAX_FORM_BYTES
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::BadRequest("the form is too large".into()).into_response();
        }
    };
    let fields = if multipart {
        serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query().unwrap_or("")).ok()
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).ok()
    };
    let submitted = fields
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v)
        })
        .unwrap_or_default();
    let session_token = match session::current(&state, &parts.headers).await {
        Ok(s) => s.map(|s| s.csrf_token),
        Err(e) => return e.into_response(),
    };
    let presession = cookie_value(&parts.headers, PRESESSION_CSRF_COOKIE);
    let ok = !submitted.is_empty()
        && (session_token.is_some_and(|t| same_secret(&submitted, &t))
            || presession.is_some_and(|t| same_secret(&submitted, &t)));
    if !ok {
        let lang = page_language(&parts.headers, None, None);
        let tr = Tr::new(lang, "UTC");
        let page = PageCtx::anonymous(&state, lang, String::new(), parts.uri.path());
        tracing::warn!(path = %parts.uri.path(), "form refused: missing or wrong CSRF token");
        return render_with(
            StatusCode::FORBIDDEN,
            &ErrorPage {
                title: tr.t("common-error-title"),
                message: tr.t("common-csrf"),
                back: "/".into(),
                page,
            },
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[derive(Deserialize)]
struct LanguageForm {
    lang: String,
    back: Option<String>,
}

/// The items of a comma-separated form field, trimmed, empty ones dropped.
pub fn comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A local path to return to; anything else goes home.
pub fn safe_back(back: Option<&str>) -> String {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn change_language(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Response {
    let Ok(lang) = form.lang.parse::<Language>() else {
        return ApiError::BadRequest(format!(
            "`{}` is not a supported language",
            form.lang.chars().take(20).collect::<String>()
        ))
        .into_response();
    };
    if let Ok(Some(s)) = session::current(&state, &headers).await {
        if let Ok(Some(who)) = resolve_principal(&state, s.principal).await {
            let saved = match who.actor {
                Actor::TenantUser {
                    tenant_id, user_id, ..
                } => {
                    state
                        .store
                        .set_user_language(tenant_id, user_id, Some(lang))
                        .await
                }
                Actor::Operator { operator_id, .. } => {
                    state
                        .store
                        .set_operator_language(operator_id, Some(lang))
                        .await
                }
                _ => Ok(()),
            };
            if let Err(e) = saved {
                return ApiError::from(e).into_response();
            }
        }
    }
    let jar = jar.add(session::build_cookie(
        &state,
        LANGUAGE_COOKIE,
        lang.tag().to_owned(),
    ));
    (jar, Redirect::to(&safe_back(form.back.as_deref()))).into_response()
}

/// Which notice a redirect asked to show (`?notice=...`), translated.
pub fn notice_text(tr: &Tr, notice: Option<&str>) -> Option<String> {
    let key = match notice? {
        "user-created" => "users-created",
        "roles-saved" => "users-roles-saved",
        "client-revoked" => "clients-revoked-notice",
        "settings-saved" => "settings-saved",
        "tenant-created" => "tenants-created",
        "operator-created" => "operators-created",
        "signed-out" => "signed-out",
        _ => return None,
    };
    Some(tr.t(key))
}

/// Reads `cookie_value` for handlers that only have headers.
pub fn language_cookie(headers: &axum::http::HeaderMap) -> Option<Language> {
    cookie_value(headers, LANGUAGE_COOKIE).and_then(|v| v.parse().ok())
}
