//! The audit log page and its export, as a tenant sees its chain and an operator the
//! operator realm's.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use candor_domain::audit::AuditChain;
use time::Duration;

use crate::api::audit::AuditSearchParams;
use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render_with, PageCtx};
use crate::AppState;
use candor_app::audit as audit_service;

#[derive(Default)]
pub struct AuditFormValues {
    pub start: String,
    pub end: String,
    pub activities: String,
    pub users: String,
    pub item: String,
}

pub struct AuditRow {
    pub date: String,
    pub ip: String,
    pub user: String,
    pub activity: String,
    pub item: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub title: String,
    pub page: PageCtx,
    pub action: &'static str,
    pub form: AuditFormValues,
    pub searched: bool,
    pub rows: Vec<AuditRow>,
    pub has_cursor: bool,
    pub first_page: String,
    pub next_page: Option<String>,
    pub export_csv: String,
    pub export_json: String,
    /// Said when the search reaches back past the log's retention.
    pub past_retention: Option<String>,
}

fn with_params(
    base: &str,
    params: &AuditSearchParams,
    cursor: Option<&str>,
    format: Option<&str>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (k, v) in [
        ("start", &params.start),
        ("end", &params.end),
        ("activities", &params.activities),
        ("users", &params.users),
        ("item", &params.item),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v));
        }
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    if let Some(f) = format {
        pairs.push(("format", f));
    }
    format!(
        "{base}?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The audit search page, shared by the portal (tenant log) and console (operator log).
pub async fn audit_page(
    state: &AppState,
    user: &PortalUser,
    raw: Option<String>,
    base: &'static str,
    chain: AuditChain,
) -> Response {
    let mut page = PageCtx::for_user(state, user, base);
    let tr = page.tr.clone();
    let submitted = raw.as_deref().is_some_and(|q| !q.is_empty());
    let mut params: AuditSearchParams = match raw
        .as_deref()
        .map(serde_urlencoded::from_str::<AuditSearchParams>)
    {
        None => AuditSearchParams::default(),
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            page.error = Some(tr.t("audit-range-required"));
            AuditSearchParams::default()
        }
    };
    if !submitted {
        // First visit: the last seven days.
        let today = state.clock.now().date();
        params.start = Some((today - Duration::days(7)).to_string());
        params.end = Some((today + Duration::days(1)).to_string());
    }
    let mut rows = Vec::new();
    let mut next_page = None;
    let mut searched = false;
    let mut past_retention = None;
    match params.to_input() {
        Ok(input) => match async {
            let from = input.from;
            let page = audit_service::search(&state.core, &user.actor, chain, input).await?;
            let notice = match from {
                Some(from) => candor_app::audit_retention::notice(&state.core, chain, from).await?,
                None => None,
            };
            Ok::<_, candor_app::error::AppError>((page, notice))
        }
        .await
        .map_err(ApiError::from)
        {
            Ok((result, notice)) => {
                past_retention = notice.map(|n| {
                    tr.ta(
                        "audit-past-retention",
                        &[("days", n.days.to_string()), ("before", n.before_date)],
                    )
                });
                searched = true;
                rows = result
                    .items
                    .iter()
                    .map(|r| AuditRow {
                        date: tr.time(&r.occurred_at),
                        ip: r.ip_address.clone().unwrap_or_default(),
                        user: r.actor.clone(),
                        activity: r.activity.clone(),
                        item: r.item.clone().unwrap_or_default(),
                        details: if r.details == "{}" {
                            String::new()
                        } else {
                            r.details.clone()
                        },
                    })
                    .collect();
                next_page = result
                    .next_cursor
                    .as_deref()
                    .map(|c| with_params(base, &params, Some(c), None));
            }
            Err(ApiError::Forbidden(_)) => {
                return error_page(
                    state,
                    user,
                    base,
                    ApiError::Forbidden(candor_domain::identity::Denied {
                        reason: candor_domain::identity::DenyReason::MissingRole,
                        message: tr.t("common-forbidden"),
                    }),
                )
            }
            Err(ApiError::Invalid(e)) => page.error = Some(e.to_string()),
            Err(e) => return e.into_response(),
        },
        Err(e) => page.error = Some(e.public_message()),
    }
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let export_base = if base.starts_with("/console") {
        "/console/audit/export"
    } else {
        "/portal/audit/export"
    };
    render_with(
        status,
        &AuditPage {
            title: tr.t("audit-title"),
            action: base,
            form: AuditFormValues {
                start: params.start.clone().unwrap_or_default(),
                end: params.end.clone().unwrap_or_default(),
                activities: params.activities.clone().unwrap_or_default(),
                users: params.users.clone().unwrap_or_default(),
                item: params.item.clone().unwrap_or_default(),
            },
            searched,
            rows,
            has_cursor: params.cursor.is_some(),
            first_page: with_params(base, &params, None, None),
            next_page,
            export_csv: with_params(export_base, &params, None, Some("csv")),
            export_json: with_params(export_base, &params, None, Some("json")),
            past_retention,
            page,
        },
    )
}

pub async fn export(state: &AppState, user: &PortalUser, raw: Option<String>) -> Response {
    let params = match raw
        .as_deref()
        .map(serde_urlencoded::from_str::<AuditSearchParams>)
    {
        None => AuditSearchParams::default(),
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            return ApiError::BadRequest(format!("the query string is not valid: {e}"))
                .into_response()
        }
    };
    match crate::api::audit::export_response(state, &user.actor, user.ip.clone(), &params).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
