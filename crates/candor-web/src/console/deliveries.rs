//! Deliveries for operators: each change's counts by state, and its deliveries.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use candor_domain::health::DeliveryStatus;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::deliveries::{change_name, row, DeliveryRow};
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::deliveries as svc;

const CONSOLE_PATH: &str = "/console/deliveries";

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

/// One destination's breaker and sends, as the page shows them.
pub struct DestinationRow {
    pub channel: String,
    pub destination: String,
    pub open: bool,
    /// Closed, open until …, or probing.
    pub state: String,
    pub in_flight: usize,
    pub sent: u64,
    pub failed: u64,
    pub held_back: u64,
    pub last_error: Option<String>,
}

fn destination_row(
    tr: &candor_app::i18n::Tr,
    d: &candor_app::destinations::DestinationView,
) -> DestinationRow {
    use candor_domain::health::breaker::BreakerState;
    let state = match d.breaker {
        BreakerState::Closed { .. } => tr.t("deliveries-breaker-closed"),
        BreakerState::Open { until, .. } => {
            tr.t1("deliveries-breaker-open", "until", &tr.time(&until))
        }
        BreakerState::Probing { .. } => tr.t("deliveries-breaker-probing"),
    };
    DestinationRow {
        channel: tr.t(&format!("deliveries-channel-{}", d.channel.as_str())),
        destination: d.destination.clone(),
        open: d.open,
        state,
        in_flight: d.in_flight,
        sent: d.sent,
        failed: d.failed,
        held_back: d.held_back,
        last_error: d.last_error.clone(),
    }
}

#[derive(Template)]
#[template(path = "console_deliveries.html")]
struct ConsolePage {
    title: String,
    page: PageCtx,
    destinations: Vec<DestinationRow>,
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
    let destinations = match svc::destinations(&state.core, &user.actor) {
        Ok(d) => d,
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
        destinations: destinations
            .iter()
            .map(|d| destination_row(&tr, d))
            .collect(),
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
