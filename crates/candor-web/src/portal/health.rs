//! Service health for tenants: the dashboard, an issue, its post-incident review.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use candor_app::ids;
use candor_domain::health::{Issue, Status};

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::health::{self as svc};
use candor_app::i18n::Tr;

use crate::pages::health::{
    classification_label, post_views, review_response, PostView, ReviewDocument,
};
use candor_app::status_page::{status_class, status_label};

pub async fn tenant_review(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let path = "/portal/health";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let (issue, pir) = match ids::with_parsed(ids::tenant_issue(&id), |id| {
        svc::pir_for_tenant(&state.core, &user.actor, tenant, id)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(v) => v,
        Err(e @ ApiError::Internal(_)) => return e.into_response(),
        Err(e) => return error_page(&state, &user, path, e),
    };
    let services = state.store.list_services().await.unwrap_or_default();
    let service = services
        .iter()
        .find(|s| s.id == issue.service)
        .map_or(issue.service.to_string(), |s| s.display_name.clone());
    let download = raw.as_deref().is_some_and(|q| q.contains("download=1"));
    let doc = ReviewDocument::new(
        Tr::new(user.language, user.time_zone.clone()),
        issue,
        pir,
        service,
    );
    review_response(&doc, download)
}

// ---------------------------------------------------------------- tenant dashboard

pub struct ServiceRow {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub issues: Vec<(String, String)>,
    pub bars: Vec<candor_app::status_page::DayBar>,
    pub months: Vec<String>,
}

pub struct HistoryRow {
    pub id: String,
    pub title: String,
    pub service: String,
    pub status: String,
    pub status_class: &'static str,
    pub updated: String,
}

/// A planned maintenance on the dashboard: scheduled or in progress.
pub struct MaintenanceRow {
    pub id: String,
    pub message: String,
    pub title: String,
    pub window: String,
    pub impact: String,
    pub state: String,
    pub state_class: &'static str,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    title: String,
    page: PageCtx,
    services: Vec<ServiceRow>,
    maintenances: Vec<MaintenanceRow>,
    history: Vec<HistoryRow>,
}

fn tenant_of(user: &PortalUser) -> Result<candor_domain::TenantId, ApiError> {
    user.actor
        .tenant_id()
        .ok_or_else(|| ApiError::NotFound("this page is for tenant users".into()))
}

pub async fn dashboard(State(state): State<AppState>, user: PortalUser) -> Response {
    let path = "/portal/health";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let svc::TenantHealth {
        services: views,
        issues,
        mut history,
        maintenances,
    } = match svc::tenant_health(&state.core, &user.actor, tenant)
        .await
        .map_err(ApiError::from)
    {
        Ok(h) => h,
        Err(e @ ApiError::Internal(_)) => return e.into_response(),
        Err(e) => return error_page(&state, &user, path, e),
    };
    let page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    let mut upcoming: Vec<_> = maintenances
        .iter()
        .filter(|m| !m.maintenance.state.is_over())
        .collect();
    upcoming.sort_by_key(|m| m.maintenance.window.start);
    let maintenances = upcoming
        .into_iter()
        .map(|m| {
            let mm = &m.maintenance;
            MaintenanceRow {
                id: m.id.to_string(),
                message: m.message.to_string(),
                title: m.text_in(tr.lang).0.to_owned(),
                window: tr.ta(
                    "maintenance-window",
                    &[
                        ("start", tr.time(&mm.window.start)),
                        ("end", tr.time(&mm.window.end)),
                    ],
                ),
                impact: tr.t(&format!("maintenance-impact-{}", mm.impact.as_str())),
                state: tr.t(&format!("maintenance-state-{}", mm.state.as_str())),
                state_class: if mm.is_active(state.clock.now()) {
                    "info"
                } else {
                    "ok"
                },
            }
        })
        .collect();
    let names: std::collections::BTreeMap<String, String> = views
        .iter()
        .map(|v| (v.service.id.to_string(), v.service.display_name.clone()))
        .collect();
    render(&HealthPage {
        title: tr.t("health-title"),
        services: views
            .iter()
            .map(|v| {
                let days = history.remove(&v.service.id).unwrap_or_default();
                let (bars, months) = candor_app::status_page::history_lines(&tr, &days);
                let maintained = v.under_maintenance && v.status == Status::ServiceOperational;
                ServiceRow {
                    name: v.service.display_name.clone(),
                    status: if maintained {
                        tr.t("maintenance-under")
                    } else {
                        status_label(&tr, v.status)
                    },
                    status_class: if maintained {
                        "info"
                    } else {
                        status_class(v.status)
                    },
                    issues: v
                        .active
                        .iter()
                        .map(|i| (i.id.to_string(), i.title.clone()))
                        .collect(),
                    bars,
                    months,
                }
            })
            .collect(),
        maintenances,
        history: issues
            .iter()
            .map(|i| HistoryRow {
                id: i.id.to_string(),
                title: i.title.clone(),
                service: names
                    .get(i.service.as_str())
                    .cloned()
                    .unwrap_or_else(|| i.service.to_string()),
                status: status_label(&tr, i.status),
                status_class: status_class(i.status),
                updated: tr.time(&i.last_modified),
            })
            .collect(),
        page,
    })
}

#[derive(Template)]
#[template(path = "health_issue.html")]
struct HealthIssuePage {
    title: String,
    page: PageCtx,
    issue: Issue,
    status: String,
    status_class: &'static str,
    service: String,
    classification: String,
    start: String,
    end: Option<String>,
    next_update: Option<String>,
    posts: Vec<PostView>,
    has_review: bool,
}

pub async fn tenant_issue(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let path = "/portal/health";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let (issue, posts) = match ids::with_parsed(ids::tenant_issue(&id), |id| {
        svc::issue_for_tenant(&state.core, &user.actor, tenant, id)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(v) => v,
        Err(e @ ApiError::Internal(_)) => return e.into_response(),
        Err(e) => return error_page(&state, &user, path, e),
    };
    let services = state.store.list_services().await.unwrap_or_default();
    let page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    render(&HealthIssuePage {
        title: format!("{} {}", issue.id, issue.title),
        status: status_label(&tr, issue.status),
        status_class: status_class(issue.status),
        service: services
            .iter()
            .find(|s| s.id == issue.service)
            .map_or(issue.service.to_string(), |s| s.display_name.clone()),
        classification: classification_label(&tr, issue.classification),
        start: tr.time(&issue.start),
        end: issue.end.map(|e| tr.time(&e)),
        next_update: issue.next_update_due.map(|d| tr.time(&d)),
        posts: post_views(&tr, &posts),
        has_review: issue.status == Status::PostIncidentReviewPublished,
        issue,
        page,
    })
}
