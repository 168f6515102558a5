//! Public status, for anyone: the live page (`/status`) and the Atom feeds
//! (`/feeds/status.atom`, a tenant's private feed), rendered by `candor_app::status_page`
//! as the backup status site is; and the one-click unsubscribe page.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use candor_app::i18n::Tr;
use candor_app::public::public_status;
use candor_app::status_page::{atom, atom_of, page_html, CSS};
use candor_domain::language::Language;

use crate::error::ApiError;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/status", get(live_page))
        .at(t, "/feeds/status.atom", get(public_feed))
        .at(t, "/feeds/tenants/{token}", get(tenant_feed))
        .at(
            t,
            "/feeds/tenants/{token}/maintenance.ics",
            get(tenant_calendar),
        )
        .at(t, "/feeds/maintenance.ics", get(public_calendar))
        // The token in the path is the credential (RFC 8058 one-click): no session, no
        // CSRF token, by design. GET only asks; POST unsubscribes.
        .at(
            t,
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe_now),
        )
}

/// The `lang` the query asks for, English otherwise.
pub(crate) fn lang_of(raw: &Option<String>) -> Language {
    raw.as_deref()
        .and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(Language::English)
}

async fn live_page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let status = match public_status(&state.core).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tr = Tr::new(lang, "UTC");
    match page_html(
        &status,
        &tr,
        |l| format!("/status?lang={}", l.tag()),
        format!("/feeds/status.atom?lang={}", lang.tag()),
        None,
        format!("/status/subscribe?lang={}", lang.tag()),
        false,
    ) {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn public_feed(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let status = match public_status(&state.core).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tr = Tr::new(lang, "UTC");
    let body = atom(&status, &tr, &state.config.public_url, "/feeds/status.atom");
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        body,
    )
        .into_response()
}

async fn tenant_feed(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let found = match candor_app::feeds::tenant_feed(&state.core, &token).await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tenant = &found.tenant;
    let lang = raw
        .as_ref()
        .map(|_| lang_of(&raw))
        .filter(|_| raw.as_deref().is_some_and(|q| q.contains("lang=")))
        .unwrap_or(tenant.default_language);
    let tr = Tr::new(lang, tenant.time_zone.to_string());
    let title = tr.t1("feed-tenant-title", "name", &tenant.name);
    // The link is the secret: it is not repeated in the feed.
    // Entries lead to the issue in the portal (sign-in needed), not the public page,
    // which does not show issues that reached only some tenants.
    let base = state.config.public_url.trim_end_matches('/').to_owned();
    // A maintenance leads to the Message Center message that carries it.
    let maintenance_page = |id: &str| {
        found
            .maintenances
            .iter()
            .find(|m| m.id.as_str() == id)
            .map_or_else(
                || format!("{base}/portal/health"),
                |m| format!("{base}/portal/messages/{}", m.message),
            )
    };
    let name_of = |id: &candor_domain::health::ServiceId| {
        found
            .catalog
            .iter()
            .find(|s| &s.id == id)
            .map_or_else(|| id.to_string(), |s| s.display_name.clone())
    };
    let maintenances = candor_app::status_page::maintenance_entries(
        &found.maintenances,
        &tr,
        &name_of,
        &maintenance_page,
    );
    let body = atom_of(
        &found.issues,
        maintenances,
        state.clock.now(),
        &title,
        &tr,
        &|id| {
            if id.is_empty() {
                format!("{base}/portal/health")
            } else {
                format!("{base}/portal/health/issues/{id}")
            }
        },
        &format!("urn:candor:feed:tenant:{}", tenant.id),
        None,
    );
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=60"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

const CALENDAR: &str = "text/calendar; charset=utf-8";

/// A tenant's planned maintenance as iCalendar, behind its feed link.
async fn tenant_calendar(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (tenant, maintenances) = match candor_app::feeds::tenant_calendar(&state.core, &token).await
    {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let lang = if raw.as_deref().is_some_and(|q| q.contains("lang=")) {
        lang_of(&raw)
    } else {
        tenant.default_language
    };
    let tr = Tr::new(lang, "UTC");
    let name = format!("{}: {}", tenant.name, tr.t("maintenance-calendar"));
    let body = candor_app::maintenance::calendar(&name, &maintenances, lang);
    (
        [
            (header::CONTENT_TYPE, CALENDAR),
            (header::CACHE_CONTROL, "private, max-age=300"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// The planned maintenance the public page shows (broad scope), as iCalendar.
async fn public_calendar(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let maintenances = match candor_app::maintenance::public(&state.core).await {
        Ok(m) => m,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tr = Tr::new(lang, "UTC");
    let body =
        candor_app::maintenance::calendar(&tr.t("maintenance-calendar"), &maintenances, lang);
    (
        [
            (header::CONTENT_TYPE, CALENDAR),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage<'a> {
    tr: &'a Tr,
    css: &'static str,
    email: String,
    done: bool,
}

fn unsubscribe_html(tr: &Tr, email: String, done: bool) -> Response {
    let page = UnsubscribePage {
        tr,
        css: CSS,
        email,
        done,
    };
    match page.render() {
        Ok(html) => ([(header::REFERRER_POLICY, "no-referrer")], Html(html)).into_response(),
        Err(e) => ApiError::internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match candor_app::contacts::contact_of_token(&state.core, &token).await {
        Ok(c) => unsubscribe_html(&Tr::new(c.language, "UTC"), c.email.to_string(), false),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn unsubscribe_now(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    crate::auth::extract::ClientIp(ip): crate::auth::extract::ClientIp,
) -> Response {
    match candor_app::contacts::unsubscribe(&state.core, &token, ip).await {
        Ok(c) => unsubscribe_html(&Tr::new(c.language, "UTC"), c.email.to_string(), true),
        Err(e) => ApiError::from(e).into_response(),
    }
}
