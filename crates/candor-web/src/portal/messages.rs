//! The Message Center for tenants: the list (views, filters, paging), a message with
//! the reader's viewpoint, attachments.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::ids;
use candor_domain::health::{Category, Message, Viewpoint, ViewpointChange};
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::graph::messages::download;
use crate::pages::messages::{
    category_label, human_size, service_names, severity_class, severity_label,
};
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::i18n::Tr;
use candor_app::messages::{self as svc};

const PAGE_SIZE: usize = 25;

fn tenant_of(user: &PortalUser) -> Result<candor_domain::TenantId, ApiError> {
    user.actor
        .tenant_id()
        .ok_or_else(|| ApiError::NotFound("this page is for tenant users".into()))
}

pub struct MessageRow {
    pub id: String,
    pub title: String,
    pub services: String,
    pub category: String,
    pub severity: String,
    pub severity_class: &'static str,
    pub major: bool,
    pub act_by: Option<String>,
    pub updated: String,
    pub unread: bool,
    pub favorite: bool,
    pub attachments: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub view: String,
    #[serde(default)]
    pub unread: Option<String>,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub category: String,
    /// Words to find in the title (either language) or the id.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<usize>,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct ListPage {
    title: String,
    page: PageCtx,
    views: Vec<(&'static str, String, bool)>,
    view: String,
    unread_only: bool,
    search: String,
    services: Vec<(String, String, bool)>,
    categories: Vec<(&'static str, String, bool)>,
    rows: Vec<MessageRow>,
    total: usize,
    prev: Option<String>,
    next: Option<String>,
}

fn list_link(q: &ListQuery, view: &str, page: usize) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("view", view.to_owned())];
    if q.unread.is_some() {
        pairs.push(("unread", "1".into()));
    }
    if !q.service.is_empty() {
        pairs.push(("service", q.service.clone()));
    }
    if !q.category.is_empty() {
        pairs.push(("category", q.category.clone()));
    }
    if !q.q.trim().is_empty() {
        pairs.push(("q", q.q.trim().to_owned()));
    }
    if page > 1 {
        pairs.push(("page", page.to_string()));
    }
    format!(
        "/portal/messages?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The inbox: messages that reached the tenant, filtered by view and facets, paged.
pub async fn list(
    State(state): State<AppState>,
    user: PortalUser,
    Query(q): Query<ListQuery>,
) -> Response {
    let path = "/portal/messages";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let views = match svc::tenant_messages(&state.core, &user.actor, tenant).await {
        Ok(v) => v,
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    let catalog = state.store.list_services().await.unwrap_or_default();
    let page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    let view = match q.view.as_str() {
        "archived" | "favorites" => q.view.clone(),
        _ => "inbox".to_owned(),
    };
    let category: Option<Category> = q.category.parse().ok();
    let needle = q.q.trim().to_lowercase();
    let found = |m: &Message| {
        needle.is_empty()
            || m.id.as_str().to_lowercase().contains(&needle)
            || m.title.to_lowercase().contains(&needle)
            || m.text_in(tr.lang).0.to_lowercase().contains(&needle)
    };
    let matching: Vec<_> = views
        .iter()
        .filter(|v| {
            let p = v.viewpoint.unwrap_or_default();
            let in_view = match view.as_str() {
                "archived" => p.is_archived,
                "favorites" => p.is_favorited,
                _ => !p.is_archived,
            };
            in_view
                && (q.unread.is_none() || !p.is_read)
                && (q.service.is_empty()
                    || v.message.services.iter().any(|s| s.as_str() == q.service))
                && category.is_none_or(|c| v.message.category == c)
                && found(&v.message)
        })
        .collect();
    let total = matching.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let current = q.page.unwrap_or(1).clamp(1, pages);
    let rows = matching
        .iter()
        .skip((current - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|v| {
            let m = &v.message;
            let p = v.viewpoint.unwrap_or_default();
            MessageRow {
                id: m.id.to_string(),
                title: m.text_in(tr.lang).0.to_owned(),
                services: service_names(m, &catalog),
                category: category_label(&tr, m.category),
                severity: severity_label(&tr, m.severity),
                severity_class: severity_class(m.severity),
                major: m.is_major_change,
                act_by: m.action_required_by.map(|t| tr.time(&t)),
                updated: tr.time(&m.last_modified),
                unread: !p.is_read,
                favorite: p.is_favorited,
                attachments: m.attachments.len(),
            }
        })
        .collect();
    let used: std::collections::BTreeSet<String> = views
        .iter()
        .flat_map(|v| v.message.services.iter().map(|s| s.to_string()))
        .collect();
    render(&ListPage {
        title: tr.t("messages-title"),
        views: [
            ("inbox", "messages-view-inbox"),
            ("favorites", "messages-view-favorites"),
            ("archived", "messages-view-archived"),
        ]
        .into_iter()
        .map(|(v, k)| (v, tr.t(k), v == view))
        .collect(),
        unread_only: q.unread.is_some(),
        search: q.q.trim().to_owned(),
        services: catalog
            .iter()
            .filter(|s| used.contains(s.id.as_str()))
            .map(|s| {
                (
                    s.id.to_string(),
                    s.display_name.clone(),
                    s.id.as_str() == q.service,
                )
            })
            .collect(),
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), category_label(&tr, *c), Some(*c) == category))
            .collect(),
        rows,
        total,
        prev: (current > 1).then(|| list_link(&q, &view, current - 1)),
        next: (current < pages).then(|| list_link(&q, &view, current + 1)),
        view,
        page,
    })
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    title: String,
    page: PageCtx,
    id: String,
    body: String,
    services: String,
    category: String,
    severity: String,
    severity_class: &'static str,
    major: bool,
    tags: Vec<String>,
    act_by: Option<String>,
    start: String,
    end: Option<String>,
    updated: String,
    link: Option<String>,
    attachments: Vec<(String, String, String)>,
    /// (viewpoint change, button label): the three toggles as they now apply.
    buttons: Vec<(&'static str, String)>,
}

fn viewpoint_buttons(tr: &Tr, v: Viewpoint) -> Vec<(&'static str, String)> {
    let pick = |on: bool, off: (&'static str, &str), on_: (&'static str, &str)| {
        let (change, key) = if on { on_ } else { off };
        (change, tr.t(key))
    };
    vec![
        pick(
            v.is_read,
            ("markRead", "message-mark-read"),
            ("markUnread", "message-mark-unread"),
        ),
        pick(
            v.is_archived,
            ("archive", "message-archive"),
            ("unarchive", "message-unarchive"),
        ),
        pick(
            v.is_favorited,
            ("favorite", "message-favorite"),
            ("unfavorite", "message-unfavorite"),
        ),
    ]
}

/// One message. Opening it marks it read, as Message Center does.
pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let path = "/portal/messages";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let mut view = match ids::with_parsed(ids::tenant_message(&id), |id| {
        svc::message_for_tenant(&state.core, &user.actor, tenant, id)
    })
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    if view.viewpoint.is_some_and(|v| !v.is_read) {
        let ids = [view.message.id.to_string()];
        match svc::change_viewpoints(
            &state.core,
            &user.actor,
            tenant,
            &ids,
            ViewpointChange::MarkRead,
        )
        .await
        .map_err(ApiError::from)
        {
            Ok(_) => view.viewpoint = view.viewpoint.map(|v| ViewpointChange::MarkRead.apply(v)),
            // A reader without the viewpoint right still reads the message.
            Err(ApiError::Forbidden(_)) => {}
            Err(e) => return error_page(&state, &user, path, e),
        }
    }
    let catalog = state.store.list_services().await.unwrap_or_default();
    let page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    let m = &view.message;
    let (title, body) = m.text_in(tr.lang);
    render(&MessagePage {
        title: title.to_owned(),
        id: m.id.to_string(),
        body: body.to_owned(),
        services: service_names(m, &catalog),
        category: category_label(&tr, m.category),
        severity: severity_label(&tr, m.severity),
        severity_class: severity_class(m.severity),
        major: m.is_major_change,
        tags: m.tags.clone(),
        act_by: m.action_required_by.map(|t| tr.time(&t)),
        start: tr.time(&m.start),
        end: m.end.map(|t| tr.time(&t)),
        updated: tr.time(&m.last_modified),
        link: m
            .details
            .iter()
            .find(|(k, v)| {
                (k.as_str() == "ExternalLink" || k.as_str() == "BlogLink")
                    && (v.starts_with("https://") || v.starts_with("http://"))
            })
            .map(|(_, v)| v.clone()),
        attachments: m
            .attachments
            .iter()
            .map(|a| (a.id.to_string(), a.name.clone(), human_size(a.size)))
            .collect(),
        buttons: viewpoint_buttons(&tr, view.viewpoint.unwrap_or_default()),
        page,
    })
}

#[derive(Debug, Deserialize)]
pub struct ViewpointForm {
    pub change: String,
    #[serde(default)]
    pub back: Option<String>,
}

/// Read/unread, archive and favourite buttons.
pub async fn set_viewpoint(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<ViewpointForm>,
) -> Response {
    let path = "/portal/messages";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let change: ViewpointChange = match form.change.parse() {
        Ok(c) => c,
        Err(e) => return error_page(&state, &user, path, ApiError::Invalid(e)),
    };
    match svc::change_viewpoints(
        &state.core,
        &user.actor,
        tenant,
        std::slice::from_ref(&id),
        change,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                &state,
                &user,
                path,
                ApiError::NotFound(format!(
                    "there is no message {} for this tenant",
                    id.chars().take(20).collect::<String>()
                )),
            )
        }
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    }
    let back = crate::pages::safe_back(form.back.as_deref());
    let back = if back == "/" {
        format!("/portal/messages/{id}")
    } else {
        back
    };
    Redirect::to(&back).into_response()
}

pub async fn attachment(
    State(state): State<AppState>,
    user: PortalUser,
    Path((id, aid)): Path<(String, String)>,
) -> Response {
    let path = "/portal/messages";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let attachment = ids::tenant_message(&id)
        .and_then(|message| Ok((ids::attachment(&message, &aid)?, message)));
    let found = ids::with_parsed(attachment, |(aid, id)| {
        svc::attachment_for_tenant(&state.core, &user.actor, tenant, id, aid)
    });
    match found.await {
        Ok((meta, bytes)) => download(&meta.content_type, &meta.name, bytes),
        Err(e) => error_page(&state, &user, path, ApiError::from(e)),
    }
}

pub async fn archive(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
) -> Response {
    let path = "/portal/messages";
    let tenant = match tenant_of(&user) {
        Ok(t) => t,
        Err(e) => return error_page(&state, &user, path, e),
    };
    match ids::with_parsed(ids::tenant_message(&id), |id| {
        svc::attachments_archive(&state.core, &user.actor, tenant, id)
    })
    .await
    {
        Ok((mid, bytes)) => download("application/zip", &format!("{mid}-attachments.zip"), bytes),
        Err(e) => error_page(&state, &user, path, ApiError::from(e)),
    }
}

// ---- Console ----
