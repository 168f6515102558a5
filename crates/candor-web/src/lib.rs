//! Candor's HTTP side: the tenant portal, the operator console, Candor's REST API, the
//! OAuth token endpoint and the operational endpoints, in one axum router.

pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod graph;
pub mod ops;
pub mod pages;
pub mod portal;
pub mod public;
pub mod routes;
pub mod statuspage;
pub mod subscribe;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::token::TokenService;
use crate::routes::RouteTable;
use candor_app::Core;

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where Candor is reached, e.g. `https://status.example.com`; the token issuer.
    pub public_url: String,
    /// Mark cookies `Secure` (on whenever Candor is served over HTTPS).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Show the demo banner.
    pub demo: bool,
    /// Graph service communications requests allowed per app per tenant, per minute and
    /// per hour (Graph's own limits are 240 and 800).
    pub graph_requests_per_minute: u32,
    pub graph_requests_per_hour: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            secure_cookies: false,
            trust_forwarded_for: false,
            demo: false,
            graph_requests_per_minute: GRAPH_REQUESTS_PER_MINUTE,
            graph_requests_per_hour: GRAPH_REQUESTS_PER_HOUR,
        }
    }
}

pub struct AppInner {
    pub core: Arc<Core>,
    pub tokens: TokenService,
    pub config: WebConfig,
    /// Sign-in attempts per account and per address.
    pub sign_in_limiter: DefaultKeyedRateLimiter<String>,
    /// Token requests per client id, and per address.
    pub token_limiter: DefaultKeyedRateLimiter<String>,
    pub token_address_limiter: DefaultKeyedRateLimiter<String>,
    /// Graph requests per app (or person) per tenant.
    pub graph_minute_limiter: DefaultKeyedRateLimiter<String>,
    pub graph_hour_limiter: DefaultKeyedRateLimiter<String>,
    /// Cosigned checkpoints taken without credentials, per address.
    pub cosignature_limiter: DefaultKeyedRateLimiter<String>,
    pub metrics: PrometheusHandle,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// Every path served, for the authorization matrix test.
    pub routes: Arc<RouteTable>,
}

impl Deref for AppInner {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Upper bounds (seconds) of the request duration histogram's buckets: Prometheus's own
/// defaults. Buckets, not the recorder's default summaries, because instances behind one
/// load balancer are summed bucket by bucket (quantiles cannot be added up), and because
/// a summary keeps a sketch per route for each 20 s of its minute: under the sustained
/// load bench they held 4.7 MiB, a third of the heap allocated after start-up.
const REQUEST_SECONDS_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder (installed once, shared by every app in it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
            let builder = match builder.set_buckets(&REQUEST_SECONDS_BUCKETS) {
                Ok(with_buckets) => with_buckets,
                Err(e) => {
                    tracing::warn!(error = %e, "histogram buckets refused; reporting summaries");
                    metrics_exporter_prometheus::PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            // Histograms keep every sample until upkeep drains them: without this, an
            // instance nobody scrapes grows by every request it serves (found by the
            // sustained load bench: 2 MiB a minute at 2,000 requests a second).
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}

/// Sign-in attempts allowed per minute for one account (and, times four, per address).
pub const SIGN_IN_ATTEMPTS_PER_MINUTE: u32 = 5;
/// Token requests allowed per minute for one client id (and, times ten, per address): a
/// client needs one token an hour.
pub const TOKEN_REQUESTS_PER_MINUTE: u32 = 30;
/// Graph's documented service communications limits, per app per tenant.
pub const GRAPH_REQUESTS_PER_MINUTE: u32 = 240;
pub const GRAPH_REQUESTS_PER_HOUR: u32 = 800;

/// Builds the whole application.
pub fn app(core: Arc<Core>, config: WebConfig) -> anyhow::Result<(Router, AppState)> {
    let tokens = TokenService::new(
        &core.keys,
        config.public_url.trim_end_matches('/').to_owned(),
    )
    .map_err(|e| anyhow::anyhow!("setting up token signing: {e}"))?;
    let per_minute = NonZeroU32::new(SIGN_IN_ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    let graph_minute = NonZeroU32::new(config.graph_requests_per_minute)
        .ok_or_else(|| anyhow::anyhow!("graph_requests_per_minute must be at least 1"))?;
    let graph_hour = NonZeroU32::new(config.graph_requests_per_hour)
        .ok_or_else(|| anyhow::anyhow!("graph_requests_per_hour must be at least 1"))?;
    let (api_routes, openapi) = api::routes().split_for_parts();
    let mut table = RouteTable::default();
    table.add_openapi(&openapi);
    let page_routes = pages::routes(&mut table)
        .merge(portal::routes(&mut table))
        .merge(console::routes(&mut table));
    let graph_routes = graph::routes(&mut table);
    let ops_routes = ops::routes(&mut table).merge(api::audit::tile_routes(&mut table));
    let public_routes = public::routes(&mut table)
        .merge(statuspage::routes(&mut table))
        .merge(subscribe::routes(&mut table));
    let state = AppState(Arc::new(AppInner {
        core,
        tokens,
        config,
        sign_in_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        token_limiter: RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(TOKEN_REQUESTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        )),
        // An address may serve several clients: it gets ten clients' worth.
        token_address_limiter: RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(TOKEN_REQUESTS_PER_MINUTE * 10).unwrap_or(NonZeroU32::MIN),
        )),
        graph_minute_limiter: RateLimiter::keyed(Quota::per_minute(graph_minute)),
        graph_hour_limiter: RateLimiter::keyed(Quota::per_hour(graph_hour)),
        cosignature_limiter: RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(api::audit_log::COSIGNATURES_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        )),
        metrics: metrics_handle(),
        openapi: Arc::new(openapi),
        routes: Arc::new(table),
    }));
    let router = Router::new()
        .merge(api_routes)
        .merge(page_routes.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::csrf_guard,
        )))
        .merge(graph_routes)
        .merge(ops_routes)
        .merge(public_routes)
        .fallback(ops::not_found)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(ops::record_metrics))
        .layer(axum::middleware::from_fn(ops::security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // A private feed's path is its secret, and so is a subscriber's or an
            // unsubscribe link's: never in the logs.
            let path = redacted_path(req.uri().path());
            tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(ops::panic_response));
    Ok((router, state))
}

/// Paths whose last part is a secret (a private feed, a confirmation, unsubscribe or
/// subscription link), with the secret cut, for the logs.
pub fn redacted_path(path: &str) -> &str {
    const SECRET_UNDER: [(&str, &str); 4] = [
        ("/feeds/tenants/", "/feeds/tenants/<redacted>"),
        (
            "/status/subscribe/confirm/",
            "/status/subscribe/confirm/<redacted>",
        ),
        ("/status/subscription/", "/status/subscription/<redacted>"),
        ("/unsubscribe/", "/unsubscribe/<redacted>"),
    ];
    SECRET_UNDER
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(path, |(_, shown)| shown)
}

/// Serves `router` on `listener` until `shutdown` resolves, finishing requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
