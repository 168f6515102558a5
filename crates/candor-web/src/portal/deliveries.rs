//! Delivery logs: a tenant's own (who in the organization was told what, when, and what
//! failed), and the operators' view per change.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use candor_domain::health::{Delivery, DeliveryStatus};
use serde::Deserialize;

use super::{error_page, render, PageCtx};
use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::AppState;
use candor_app::deliveries as svc;
use candor_app::i18n::Tr;

const PATH: &str = "/portal/deliveries";
const CONSOLE_PATH: &str = "/console/deliveries";

pub struct DeliveryRow {
    pub id: String,
    pub when: String,
    pub change: String,
    pub channel: String,
    pub recipient: String,
    pub status: String,
    pub status_key: &'static str,
    pub error: Option<String>,
}

fn row(tr: &Tr, d: &Delivery) -> DeliveryRow {
    let mut status = tr.t(&format!("deliveries-status-{}", d.status.as_str()));
    if d.attempts > 1 {
        status = format!(
            "{status} · {}",
            tr.ta("deliveries-attempts", &[("count", d.attempts.to_string())])
        );
    }
    if d.status == DeliveryStatus::Pending && d.attempts > 0 {
        status = format!(
            "{status} · {}",
            tr.ta("deliveries-next-attempt", &[("time", tr.time(&d.run_at))])
        );
    }
    DeliveryRow {
        id: d.id.clone(),
        when: tr.time(&d.sent_at.unwrap_or(d.created_at)),
        change: change_name(tr, &d.change),
        channel: tr.t(&format!("deliveries-channel-{}", d.channel.as_str())),
        recipient: d.recipient.clone(),
        status,
        status_key: d.status.as_str(),
        error: (d.status != DeliveryStatus::Sent)
            .then(|| d.last_error.clone())
            .flatten(),
    }
}

/// A change key in words: "EX123456, update 2", "MC123456", "test".
fn change_name(tr: &Tr, change: &str) -> String {
    let parts: Vec<&str> = change.split(':').collect();
    match parts.as_slice() {
        ["issue", id, "post", n] => tr.ta(
            "deliveries-change-post",
            &[("id", (*id).to_owned()), ("number", (*n).to_owned())],
        ),
        ["issue", id, "review"] => tr.ta("deliveries-change-review", &[("id", (*id).to_owned())]),
        ["message", id] => (*id).to_owned(),
        ["test", ..] => tr.t("deliveries-change-test"),
        _ => change.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct LogPage {
    title: String,
    page: PageCtx,
    rows: Vec<DeliveryRow>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    before: Option<String>,
}

pub async fn tenant_log(
    State(state): State<AppState>,
    user: PortalUser,
    Query(q): Query<LogQuery>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let log = match svc::tenant_log(
        &state.core,
        &user.actor,
        tenant,
        q.before.as_deref(),
        svc::PAGE,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&state, &user, PATH, ApiError::from(e)),
    };
    let page = PageCtx::for_user(&state, &user, PATH);
    let tr = page.tr.clone();
    render(&LogPage {
        title: tr.t("deliveries-title"),
        rows: log.deliveries.iter().map(|d| row(&tr, d)).collect(),
        next: log.next.map(|c| format!("{PATH}?before={c}")),
        page,
    })
}

pub struct ChangeRow {
    pub change: String,
    pub link: String,
    pub first: String,
    pub reached: String,
    pub tenants: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Template)]
#[template(path = "console_deliveries.html")]
struct ConsolePage {
    title: String,
    page: PageCtx,
    changes: Vec<ChangeRow>,
    detail: Option<String>,
    /// (label, link, current) per status filter.
    filters: Vec<(String, String, bool)>,
    rows: Vec<DeliveryRow>,
}

#[derive(Deserialize, Default)]
pub struct ConsoleQuery {
    change: Option<String>,
    status: Option<String>,
}

fn query_value(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|q| q.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

pub async fn console(
    State(state): State<AppState>,
    user: PortalUser,
    Query(q): Query<ConsoleQuery>,
) -> Response {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<DeliveryStatus>() {
            Ok(s) => Some(s),
            Err(e) => return error_page(&state, &user, CONSOLE_PATH, e.into()),
        },
    };
    let changes = match svc::changes(&state.core, &user.actor, None, 50).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &user, CONSOLE_PATH, ApiError::from(e)),
    };
    let page = PageCtx::for_user(&state, &user, CONSOLE_PATH);
    let tr = page.tr.clone();
    let (detail, rows, filters) = match q.change.as_deref().filter(|c| !c.is_empty()) {
        None => (None, Vec::new(), Vec::new()),
        Some(change) => {
            let (_, list) =
                match svc::of_change(&state.core, &user.actor, change, status, 200).await {
                    Ok(x) => x,
                    Err(e) => return error_page(&state, &user, CONSOLE_PATH, ApiError::from(e)),
                };
            let base = format!("{CONSOLE_PATH}?change={}", query_value(change));
            let mut filters = vec![(tr.t("deliveries-all"), base.clone(), status.is_none())];
            for s in DeliveryStatus::ALL {
                filters.push((
                    tr.t(&format!("deliveries-status-{}", s.as_str())),
                    format!("{base}&status={}#detail", s.as_str()),
                    status == Some(*s),
                ));
            }
            (
                Some(change_name(&tr, change)),
                list.iter().map(|d| row(&tr, d)).collect(),
                filters,
            )
        }
    };
    render(&ConsolePage {
        title: tr.t("deliveries-console-title"),
        changes: changes
            .iter()
            .map(|c| ChangeRow {
                change: change_name(&tr, &c.deliveries.change),
                link: query_value(&c.deliveries.change),
                first: tr.time(&c.deliveries.first_queued),
                reached: c
                    .tenants_reached
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "–".into()),
                tenants: c.deliveries.tenants,
                sent: c.deliveries.sent,
                pending: c.deliveries.pending,
                failed: c.deliveries.failed,
            })
            .collect(),
        detail,
        filters,
        rows,
        page,
    })
}
