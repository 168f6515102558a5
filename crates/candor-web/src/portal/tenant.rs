//! Tenant portal pages.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::{ids, words};
use candor_domain::audit::AuditChain;
use candor_domain::identity::{authorize, Action, ApiPermission, TenantRole};
use candor_domain::language::Language;
use candor_domain::{ApiClientId, UserId};
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::audit::{audit_page, export};
use crate::pages::{error_page, notice_text, render, render_with, PageCtx};
use crate::AppState;
use candor_app::i18n::Tr;
use candor_app::identity;

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_from(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .and_then(|q| serde_urlencoded::from_str::<NoticeQuery>(q).ok())
        .and_then(|n| n.notice)
}

fn tenant_of(user: &PortalUser) -> Result<candor_domain::TenantId, ApiError> {
    user.actor
        .tenant_id()
        .ok_or_else(|| ApiError::NotFound("this page is for tenant users".into()))
}

fn role_label(tr: &Tr, role: &str) -> String {
    tr.t(&format!("role-{role}"))
}

pub struct Card {
    pub href: &'static str,
    pub label: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "tenant_home.html")]
struct HomePage {
    title: String,
    page: PageCtx,
    welcome: String,
    tenant: candor_domain::identity::Tenant,
    tenant_language: &'static str,
    roles: Vec<String>,
    services: Vec<String>,
    cards: Vec<Card>,
}

pub async fn home(State(state): State<AppState>, user: PortalUser) -> Response {
    let path = "/portal";
    let Some(tenant) = user.tenant.clone() else {
        return error_page(&state, &user, path, ApiError::NotFound("no tenant".into()));
    };
    let mut page = PageCtx::for_user(&state, &user, path);
    super::lockbox::add_pending_alert(&state, &user, &mut page).await;
    let tr = page.tr.clone();
    let t = tenant.id;
    let allowed = |a| authorize(&user.actor, a).is_ok();
    let mut cards = Vec::new();
    for (action, href, label, text) in [
        (
            Action::ReadAuditLog(t),
            "/portal/audit",
            "nav-audit",
            "home-audit-card",
        ),
        (
            Action::ManageUsers(t),
            "/portal/users",
            "nav-users",
            "home-users-card",
        ),
        (
            Action::ManageApiClients(t),
            "/portal/api-clients",
            "nav-api-clients",
            "home-api-clients-card",
        ),
        (
            Action::ManageTenantSettings(t),
            "/portal/settings",
            "nav-settings",
            "home-settings-card",
        ),
        (
            Action::ReadLockboxRequests(t),
            "/portal/lockbox",
            "nav-lockbox",
            "lockbox-intro",
        ),
    ] {
        if allowed(action) {
            cards.push(Card {
                href,
                label: tr.t(label),
                text: tr.t(text),
            });
        }
    }
    let roles = match &user.actor {
        candor_domain::identity::Actor::TenantUser { roles, .. } => {
            roles.iter().map(|r| role_label(&tr, r.as_str())).collect()
        }
        _ => Vec::new(),
    };
    let services = match candor_app::topology::services_of_tenant(&state.core, tenant.id).await {
        Ok(s) => s.into_iter().map(|s| s.display_name).collect(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    render(&HomePage {
        title: tr.t("home-title"),
        services,
        welcome: tr.t1("home-welcome", "name", &user.display_name),
        tenant_language: tenant.default_language.native_name(),
        tenant,
        roles,
        cards,
        page,
    })
}

pub async fn audit(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let chain = match tenant_of(&user) {
        Ok(t) => AuditChain::Tenant(t),
        Err(e) => return error_page(&state, &user, "/portal/audit", e),
    };
    audit_page(&state, &user, raw, "/portal/audit", chain).await
}

pub async fn audit_export(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    export(&state, &user, raw).await
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<(&'static str, String, bool)>,
}

#[derive(Default)]
pub struct NewUserValues {
    pub display_name: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    title: String,
    page: PageCtx,
    users: Vec<UserRow>,
    all_roles: Vec<(&'static str, String)>,
    form: NewUserValues,
}

async fn users_page(
    state: &AppState,
    user: &PortalUser,
    notice: Option<String>,
    error: Option<(ApiError, NewUserValues)>,
) -> Response {
    let path = "/portal/users";
    let tenant_id = match tenant_of(user) {
        Ok(t) => t,
        Err(e) => return error_page(state, user, path, e),
    };
    if let Err(denied) = authorize(&user.actor, Action::ManageUsers(tenant_id)) {
        return error_page(state, user, path, denied.into());
    }
    let users = match state.store.list_users(tenant_id).await {
        Ok(u) => u,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = notice_text(&tr, notice.as_deref());
    let (status, form) = match error {
        Some((e, values)) => {
            let status = e.status();
            page.error = Some(e.public_message());
            (status, values)
        }
        None => (StatusCode::OK, NewUserValues::default()),
    };
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            name: u.display_name.clone(),
            email: u.email.to_string(),
            roles: TenantRole::ALL
                .iter()
                .map(|r| {
                    (
                        r.as_str(),
                        role_label(&tr, r.as_str()),
                        u.roles.contains(*r),
                    )
                })
                .collect(),
        })
        .collect();
    render_with(
        status,
        &UsersPage {
            title: tr.t("users-title"),
            users: rows,
            all_roles: TenantRole::ALL
                .iter()
                .map(|r| (r.as_str(), role_label(&tr, r.as_str())))
                .collect(),
            form,
            page,
        },
    )
}

pub async fn users(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    users_page(&state, &user, notice_from(&raw), None).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    display_name: String,
    email: String,
    password: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewUserForm>,
) -> Response {
    let tenant_id = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, "/portal/users", e),
    };
    let values = NewUserValues {
        display_name: form.display_name.clone(),
        email: form.email.clone(),
    };
    let words = words::roles(&form.roles)
        .and_then(|r| Ok((r, words::language("language", form.language.as_deref())?)));
    let input = words.map(|(roles, language)| identity::UserInput {
        email: form.email,
        display_name: form.display_name,
        password: form.password,
        roles,
        language,
    });
    match ids::with_parsed(input, |input| {
        identity::create_user(&state.core, &user.actor, user.ip.clone(), tenant_id, input)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/portal/users?notice=user-created").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, "/portal/users", e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => users_page(&state, &user, None, Some((e, values))).await,
    }
}

#[derive(Deserialize)]
pub struct RolesForm {
    #[serde(default)]
    roles: Vec<String>,
}

pub async fn set_roles(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<RolesForm>,
) -> Response {
    let path = "/portal/users";
    let tenant_id = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let Ok(user_id) = id.parse::<UserId>() else {
        return error_page(
            &state,
            &user,
            path,
            ApiError::NotFound("no such user".into()),
        );
    };
    match ids::with_parsed(words::roles(&form.roles), |roles| {
        identity::set_user_roles(
            &state.core,
            &user.actor,
            user.ip.clone(),
            tenant_id,
            user_id,
            roles,
        )
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/portal/users?notice=roles-saved").into_response(),
        Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            error_page(&state, &user, path, e)
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => users_page(&state, &user, None, Some((e, NewUserValues::default()))).await,
    }
}

pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub permissions: String,
    pub created: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "api_clients.html")]
struct ClientsPage {
    title: String,
    page: PageCtx,
    clients: Vec<ClientRow>,
    all_permissions: Vec<&'static str>,
    created: Option<(String, String)>,
}

async fn clients_page(
    state: &AppState,
    user: &PortalUser,
    notice: Option<String>,
    created: Option<(String, String)>,
    error: Option<ApiError>,
) -> Response {
    let path = "/portal/api-clients";
    let tenant_id = match tenant_of(user) {
        Ok(t) => t,
        Err(e) => return error_page(state, user, path, e),
    };
    if let Err(denied) = authorize(&user.actor, Action::ManageApiClients(tenant_id)) {
        return error_page(state, user, path, denied.into());
    }
    let clients = match state.store.list_api_clients(tenant_id).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = notice_text(&tr, notice.as_deref());
    let status = match error {
        Some(e) => {
            page.error = Some(e.public_message());
            e.status()
        }
        None => StatusCode::OK,
    };
    let rows = clients
        .iter()
        .map(|c| ClientRow {
            id: c.id.to_string(),
            name: c.display_name.clone(),
            permissions: c.permissions.names().join(", "),
            created: tr.time(&c.created_at),
            active: c.is_active(),
        })
        .collect();
    render_with(
        status,
        &ClientsPage {
            title: tr.t("clients-title"),
            clients: rows,
            all_permissions: ApiPermission::ALL.iter().map(|p| p.as_str()).collect(),
            created,
            page,
        },
    )
}

pub async fn api_clients(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    clients_page(&state, &user, notice_from(&raw), None, None).await
}

#[derive(Deserialize)]
pub struct NewClientForm {
    display_name: String,
    #[serde(default)]
    permissions: Vec<String>,
}

pub async fn create_api_client(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewClientForm>,
) -> Response {
    let path = "/portal/api-clients";
    let tenant_id = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    match identity::create_api_client(
        &state.core,
        &user.actor,
        user.ip.clone(),
        tenant_id,
        &form.display_name,
        &form.permissions,
    )
    .await
    .map_err(ApiError::from)
    {
        // The secret is shown on this response only; it is never stored or shown again.
        Ok(issued) => {
            let mut r = clients_page(
                &state,
                &user,
                None,
                Some((issued.client.id.to_string(), issued.secret)),
                None,
            )
            .await;
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, path, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => clients_page(&state, &user, None, None, Some(e)).await,
    }
}

pub async fn revoke_api_client(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let path = "/portal/api-clients";
    let tenant_id = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let Ok(client_id) = id.parse::<ApiClientId>() else {
        return error_page(
            &state,
            &user,
            path,
            ApiError::NotFound("no such API client".into()),
        );
    };
    match identity::revoke_api_client(
        &state.core,
        &user.actor,
        user.ip.clone(),
        tenant_id,
        client_id,
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => {
            state.tokens.forget_all();
            Redirect::to("/portal/api-clients?notice=client-revoked").into_response()
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, path, e),
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    title: String,
    page: PageCtx,
    tenant_languages: Vec<(&'static str, &'static str, bool)>,
    time_zone: String,
}

async fn settings_page(
    state: &AppState,
    user: &PortalUser,
    notice: Option<String>,
    error: Option<(ApiError, String, String)>,
) -> Response {
    let path = "/portal/settings";
    let Some(tenant) = user.tenant.clone() else {
        return error_page(state, user, path, ApiError::NotFound("no tenant".into()));
    };
    if let Err(denied) = authorize(&user.actor, Action::ManageTenantSettings(tenant.id)) {
        return error_page(state, user, path, denied.into());
    }
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = notice_text(&tr, notice.as_deref());
    let (status, lang, tz) = match error {
        Some((e, lang, tz)) => {
            page.error = Some(e.public_message());
            (
                e.status(),
                lang.parse().unwrap_or(tenant.default_language),
                tz,
            )
        }
        None => (
            StatusCode::OK,
            tenant.default_language,
            tenant.time_zone.to_string(),
        ),
    };
    render_with(
        status,
        &SettingsPage {
            title: tr.t("settings-title"),
            tenant_languages: Language::ALL
                .iter()
                .map(|l| (l.tag(), l.native_name(), *l == lang))
                .collect(),
            time_zone: tz,
            page,
        },
    )
}

pub async fn settings(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    settings_page(&state, &user, notice_from(&raw), None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    default_language: String,
    time_zone: String,
}

pub async fn save_settings(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<SettingsForm>,
) -> Response {
    let path = "/portal/settings";
    let tenant_id = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let language = words::required_language("language", &form.default_language);
    match ids::with_parsed(language, |language| {
        identity::update_tenant_settings(
            &state.core,
            &user.actor,
            user.ip.clone(),
            tenant_id,
            language,
            &form.time_zone,
        )
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/portal/settings?notice=settings-saved").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, path, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => {
            settings_page(
                &state,
                &user,
                None,
                Some((e, form.default_language, form.time_zone)),
            )
            .await
        }
    }
}
