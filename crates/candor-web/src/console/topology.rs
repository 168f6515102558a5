//! The console's catalog and topology page: what exists, and an upload that checks a
//! topology file completely and applies it all or nothing.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use candor_domain::identity::{authorize, Action};

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render_with, PageCtx};
use crate::AppState;
use candor_app::topology::{import_file, ImportFailure};
use candor_app::topology_file::Problem;

/// Components listed on the page; the API and CLI handle the rest.
const SHOWN_COMPONENTS: usize = 300;

pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub features: String,
}

pub struct RegionRow {
    pub code: String,
    pub name: String,
    pub scale_units: Vec<(String, usize)>,
}

#[derive(Template)]
#[template(path = "console_topology.html")]
struct TopologyPage {
    title: String,
    page: PageCtx,
    tenants: i64,
    placements: i64,
    components_total: usize,
    services: Vec<ServiceRow>,
    regions: Vec<RegionRow>,
    components: Vec<(String, String, String)>,
    problems: Vec<Problem>,
}

async fn topology_page(
    state: &AppState,
    user: &PortalUser,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    problems: Vec<Problem>,
) -> Response {
    let path = "/console/topology";
    if let Err(d) = authorize(&user.actor, Action::ManageTopology) {
        return error_page(state, user, path, d.into());
    }
    let loaded = async {
        Ok::<_, ApiError>((
            state.store.list_services().await?,
            state.store.list_regions().await?,
            state.store.list_scale_units().await?,
            state.store.list_components().await?,
            state.store.count_tenants().await?,
            state.store.count_placements().await?,
        ))
    };
    let (services, regions, scale_units, components, tenants, placements) = match loaded.await {
        Ok(v) => v,
        Err(e) => return error_page(state, user, path, e),
    };
    let mut page = PageCtx::for_user(state, user, path);
    page.notice = notice;
    page.error = error;
    let tr = page.tr.clone();
    let mut per_su: BTreeMap<String, usize> = BTreeMap::new();
    for c in &components {
        *per_su.entry(c.scale_unit.to_string()).or_default() += 1;
    }
    render_with(
        status,
        &TopologyPage {
            title: tr.t("topology-title"),
            tenants,
            placements,
            components_total: components.len(),
            services: services
                .iter()
                .map(|s| ServiceRow {
                    id: s.id.to_string(),
                    name: s.display_name.clone(),
                    prefix: s.issue_prefix.as_str().to_owned(),
                    features: s
                        .features
                        .iter()
                        .map(|f| f.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
            regions: regions
                .iter()
                .map(|r| RegionRow {
                    code: r.code.to_string(),
                    name: r.display_name.clone(),
                    scale_units: scale_units
                        .iter()
                        .filter(|s| s.region == r.code)
                        .map(|s| {
                            (
                                s.id.to_string(),
                                per_su.get(s.id.as_str()).copied().unwrap_or(0),
                            )
                        })
                        .collect(),
                })
                .collect(),
            components: components
                .iter()
                .take(SHOWN_COMPONENTS)
                .map(|c| {
                    (
                        c.id.to_string(),
                        c.scale_unit.to_string(),
                        c.services
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
                .collect(),
            problems,
            page,
        },
    )
}

pub async fn show(State(state): State<AppState>, user: PortalUser) -> Response {
    topology_page(&state, &user, StatusCode::OK, None, None, Vec::new()).await
}

/// The upload: a file, and whether only to check it.
pub async fn upload(
    State(state): State<AppState>,
    user: PortalUser,
    mut multipart: Multipart,
) -> Response {
    let path = "/console/topology";
    if let Err(d) = authorize(&user.actor, Action::ManageTopology) {
        return error_page(&state, &user, path, d.into());
    }
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut dry_run = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return error_page(
                    &state,
                    &user,
                    path,
                    ApiError::BadRequest(format!("the form could not be read: {}", e.body_text())),
                )
            }
        };
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or("topology").to_owned();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b.to_vec())),
                    Err(e) => {
                        return error_page(
                            &state,
                            &user,
                            path,
                            ApiError::BadRequest(format!(
                                "the file could not be read: {}",
                                e.body_text()
                            )),
                        )
                    }
                }
            }
            "dry_run" => dry_run = true,
            _ => {}
        }
    }
    let tr = PageCtx::for_user(&state, &user, path).tr;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return topology_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            None,
            Some(tr.t("topology-no-file")),
            Vec::new(),
        )
        .await;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return topology_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            None,
            Some(tr.t("topology-not-text")),
            Vec::new(),
        )
        .await;
    };
    match import_file(
        &state.core,
        &user.actor,
        user.ip.clone(),
        &name,
        &text,
        dry_run,
        |_| {},
    )
    .await
    {
        Ok(counts) => {
            let key = if dry_run {
                "topology-valid"
            } else {
                "topology-imported"
            };
            let notice = format!("{} {counts}", tr.t(key));
            topology_page(
                &state,
                &user,
                StatusCode::OK,
                Some(notice),
                None,
                Vec::new(),
            )
            .await
        }
        Err(ImportFailure::Problems(problems)) => {
            let error = tr.t1("topology-problems", "count", &problems.len().to_string());
            topology_page(
                &state,
                &user,
                StatusCode::BAD_REQUEST,
                None,
                Some(error),
                problems,
            )
            .await
        }
        Err(ImportFailure::Refused(e)) => error_page(&state, &user, path, ApiError::from(e)),
    }
}
