//! Operator console pages.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::{ids, words};
use candor_domain::audit::{AuditChain, AuditQueryInput};
use candor_domain::identity::{authorize, Action, Actor, OperatorRole};
use candor_domain::TenantId;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::audit::{audit_page, export};
use crate::pages::{error_page, notice_text, render, render_with, PageCtx};
use crate::AppState;
use candor_app::i18n::Tr;
use candor_app::{audit as audit_service, identity};

fn role_label(tr: &Tr, role: &str) -> String {
    tr.t(&format!("role-{role}"))
}

pub struct RecentRow {
    pub date: String,
    pub user: String,
    pub activity: String,
    pub item: String,
}

#[derive(Template)]
#[template(path = "console_home.html")]
struct HomePage {
    title: String,
    page: PageCtx,
    welcome: String,
    tenants: i64,
    operators: usize,
    jobs_queued: i64,
    jobs_dead: i64,
    roles: Vec<String>,
    recent: Vec<RecentRow>,
}

pub async fn home(State(state): State<AppState>, user: PortalUser) -> Response {
    let mut page = PageCtx::for_user(&state, &user, "/console");
    super::health::add_owner_alerts(&state, &user, &mut page).await;
    let tr = page.tr.clone();
    let counts = async {
        Ok::<_, ApiError>((
            state.store.count_tenants().await?,
            state.store.list_operators().await?.len(),
            state.store.job_counts().await?,
        ))
    }
    .await;
    let (tenants, operators, jobs) = match counts {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut recent = Vec::new();
    if authorize(&user.actor, Action::ReadOperatorAuditLog).is_ok() {
        let now = state.clock.now();
        let input = AuditQueryInput {
            from: Some(now - time::Duration::days(30)),
            to: Some(now + time::Duration::minutes(1)),
            limit: Some(10),
            ..Default::default()
        };
        if let Ok(result) =
            audit_service::search(&state.core, &user.actor, AuditChain::Operator, input).await
        {
            recent = result
                .items
                .iter()
                .map(|r| RecentRow {
                    date: tr.time(&r.occurred_at),
                    user: r.actor.clone(),
                    activity: r.activity.clone(),
                    item: r.item.clone().unwrap_or_default(),
                })
                .collect();
        }
    }
    let roles = match &user.actor {
        Actor::Operator { roles, .. } => {
            roles.iter().map(|r| role_label(&tr, r.as_str())).collect()
        }
        _ => Vec::new(),
    };
    render(&HomePage {
        title: tr.t("console-title"),
        welcome: tr.t1("console-welcome", "name", &user.display_name),
        tenants,
        operators,
        jobs_queued: jobs.queued,
        jobs_dead: jobs.dead,
        roles,
        recent,
        page,
    })
}

pub async fn audit(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    audit_page(&state, &user, raw, "/console/audit", AuditChain::Operator).await
}

pub async fn audit_export(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    export(&state, &user, raw).await
}

pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub region: String,
    pub language: &'static str,
    pub time_zone: String,
    pub created: String,
    pub is_demo: bool,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    title: String,
    page: PageCtx,
    tenants: Vec<TenantRow>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct TenantsQuery {
    after_name: Option<String>,
    after_id: Option<String>,
    notice: Option<String>,
}

const TENANTS_PER_PAGE: u32 = 50;

async fn tenants_page(
    state: &AppState,
    user: &PortalUser,
    q: TenantsQuery,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/tenants";
    if let Err(denied) = authorize(&user.actor, Action::ManageTenants) {
        return error_page(state, user, path, denied.into());
    }
    let after = match (
        q.after_name,
        q.after_id.as_deref().map(str::parse::<TenantId>),
    ) {
        (Some(n), Some(Ok(id))) => Some((n, id)),
        _ => None,
    };
    let tenants = match state.store.list_tenants(after, TENANTS_PER_PAGE + 1).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = notice_text(&tr, q.notice.as_deref());
    let status = match error {
        Some(e) => {
            page.error = Some(e.public_message());
            e.status()
        }
        None => StatusCode::OK,
    };
    let more = tenants.len() > TENANTS_PER_PAGE as usize;
    let shown = &tenants[..tenants.len().min(TENANTS_PER_PAGE as usize)];
    let next_page = if more {
        shown.last().map(|t| {
            format!(
                "/console/tenants?{}",
                serde_urlencoded::to_string([
                    ("after_name", t.name.as_str()),
                    ("after_id", &t.id.to_string())
                ])
                .unwrap_or_default()
            )
        })
    } else {
        None
    };
    render_with(
        status,
        &TenantsPage {
            title: tr.t("tenants-title"),
            tenants: shown
                .iter()
                .map(|t| TenantRow {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    region: t.home_region.to_string(),
                    language: t.default_language.native_name(),
                    time_zone: t.time_zone.to_string(),
                    created: tr.time(&t.created_at),
                    is_demo: t.is_demo,
                })
                .collect(),
            next_page,
            page,
        },
    )
}

pub async fn tenants(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = raw
        .as_deref()
        .and_then(|r| serde_urlencoded::from_str::<TenantsQuery>(r).ok())
        .unwrap_or_default();
    tenants_page(&state, &user, q, None).await
}

#[derive(Deserialize)]
pub struct NewTenantForm {
    name: String,
    home_region: String,
    default_language: String,
    time_zone: String,
}

pub async fn create_tenant(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewTenantForm>,
) -> Response {
    let input = words::required_language("language", &form.default_language).map(|l| {
        identity::TenantInput {
            name: form.name,
            home_region: form.home_region,
            default_language: l,
            time_zone: form.time_zone,
            is_demo: false,
        }
    });
    match ids::with_parsed(input, |input| {
        identity::create_tenant(&state.core, &user.actor, user.ip.clone(), input)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/console/tenants?notice=tenant-created").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, "/console/tenants", e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => tenants_page(&state, &user, TenantsQuery::default(), Some(e)).await,
    }
}

#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsPage {
    title: String,
    page: PageCtx,
    operators: Vec<(String, String, String)>,
    all_roles: Vec<(&'static str, String)>,
}

async fn operators_page(
    state: &AppState,
    user: &PortalUser,
    notice: Option<String>,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/operators";
    if let Err(denied) = authorize(&user.actor, Action::ManageOperators) {
        return error_page(state, user, path, denied.into());
    }
    let operators = match state.store.list_operators().await {
        Ok(o) => o,
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
    render_with(
        status,
        &OperatorsPage {
            title: tr.t("operators-title"),
            operators: operators
                .iter()
                .map(|o| {
                    (
                        o.display_name.clone(),
                        o.email.to_string(),
                        o.roles
                            .iter()
                            .map(|r| role_label(&tr, r.as_str()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
                .collect(),
            all_roles: OperatorRole::ALL
                .iter()
                .map(|r| (r.as_str(), role_label(&tr, r.as_str())))
                .collect(),
            page,
        },
    )
}

pub async fn operators(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let notice = raw
        .as_deref()
        .and_then(|r| serde_urlencoded::from_str::<TenantsQuery>(r).ok())
        .and_then(|q| q.notice);
    operators_page(&state, &user, notice, None).await
}

#[derive(Deserialize)]
pub struct NewOperatorForm {
    display_name: String,
    email: String,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

pub async fn create_operator(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewOperatorForm>,
) -> Response {
    let input = words::roles(&form.roles).map(|roles| identity::OperatorInput {
        email: form.email,
        display_name: form.display_name,
        password: form.password,
        roles,
        break_glass: false,
    });
    match ids::with_parsed(input, |input| {
        identity::create_operator(&state.core, &user.actor, user.ip.clone(), input)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/console/operators?notice=operator-created").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, "/console/operators", e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => operators_page(&state, &user, None, Some(e)).await,
    }
}
