//! Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/healthz", get(healthz))
        .at(t, "/readyz", get(readyz))
        .at(t, "/metrics", get(metrics))
        .at(t, "/openapi.json", get(openapi))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: its database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            // Whether other instances' changes reach this one as they happen (PostgreSQL
            // LISTEN); without, views expire after a second. Whether Lockbox grants are
            // kept in memory now; without, each decision reads the database. Whether the
            // placement index is current; without, previews ask the database.
            Json(json!({"status": "ready", "database": state.store.backend(),
                "hearsOtherInstances": state.views.hearing(),
                "grantCache": state.grants.enabled(),
                "placementIndex": state.placements.get().is_some()}))
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": state.store.backend(),
                    "error": {"code": "database_unavailable", "message": "the database does not answer"}})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(counts) = state.store.job_counts().await {
        metrics::gauge!("candor_jobs", "status" => "queued").set(counts.queued as f64);
        metrics::gauge!("candor_jobs", "status" => "running").set(counts.running as f64);
        metrics::gauge!("candor_jobs", "status" => "dead").set(counts.dead as f64);
    }
    // This instance's view of each destination (see `candor_app::destinations`).
    for d in state.destinations.snapshot(state.clock.now()) {
        let labels = [
            ("channel", d.channel.as_str().to_owned()),
            ("destination", d.destination.clone()),
        ];
        metrics::gauge!("candor_delivery_breaker_open", &labels).set(if d.open {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("candor_delivery_in_flight", &labels).set(d.in_flight as f64);
        metrics::gauge!("candor_delivery_destination_failed", &labels).set(d.failed as f64);
        metrics::gauge!("candor_delivery_held_back", &labels).set(d.held_back as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref().clone()).into_response()
}

/// Unknown routes answer with Candor's error body.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "not_found",
            "message": format!("there is no {method} {}", uri.path())}})),
    )
        .into_response()
}

/// Counts requests and their latency by route template (not raw path, to bound labels).
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("candor_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("candor_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// What the portal's pages may load: only Candor's own scripts, styles, images and
/// workers; no framing; forms post back to Candor. Inline `<style>` is allowed for the
/// self-contained pages (the status page, a printable review); inline script is not.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
frame-ancestors 'none'; form-action 'self'";

/// Headers every response carries (no MIME sniffing, no framing, no full URLs leaked to
/// other sites as referrers), and the content security policy on HTML pages. A handler
/// that sets one of them itself keeps its own.
pub async fn security_headers(req: Request, next: Next) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(req).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    if is_html {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    response
}

/// A handler that panicked answers 500 with Candor's error body; the panic is logged.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    let correlation = uuid::Uuid::new_v4();
    tracing::error!(%correlation, panic = %detail, "handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": {"code": "internal_error",
            "message": format!("something went wrong on our side (correlation id {correlation})")}})),
    )
        .into_response()
}
