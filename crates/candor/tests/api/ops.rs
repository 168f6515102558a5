//! Operational endpoints.

use serde_json::Value;

use crate::common::TestApp;

async fn health_readiness_metrics_and_openapi(app: TestApp) {
    let http = app.http();
    let health: Value = http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    let res = http
        .get(app.url("/healthz"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-123");
    let res = http.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        !res.headers()["x-request-id"].is_empty(),
        "a request id is assigned"
    );

    let metrics = http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("candor_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/healthz\""));
    // Buckets, which instances behind one load balancer can be summed by, not quantiles.
    // One recorder serves the whole test process, so other tests' requests (other
    // methods on /healthz among them) are in it too: count GET /healthz alone.
    let healthz_buckets = metrics
        .lines()
        .filter(|l| {
            l.starts_with("candor_http_request_duration_seconds_bucket{")
                && l.contains("method=\"GET\"")
                && l.contains("route=\"/healthz\"")
        })
        .count();
    assert_eq!(healthz_buckets, 12, "11 bounds and +Inf: {metrics}");
    assert!(!metrics.contains("quantile="), "{metrics}");

    let openapi: Value = http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = openapi["paths"].as_object().unwrap();
    for p in [
        "/oauth2/v2.0/token",
        "/.well-known/jwks.json",
        "/api/v1/audit/records",
        "/api/v1/audit/records/export",
        "/api/v1/me",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(openapi["components"]["securitySchemes"]["bearer"].is_object());

    let missing = http.get(app.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// Every response refuses MIME sniffing, framing and cross-site referrers; HTML pages
/// also carry a content security policy that allows no inline or foreign script.
async fn responses_carry_security_headers(app: TestApp) {
    let http = app.http();
    for path in [
        "/signin",
        "/status",
        "/healthz",
        "/api/v1/nope",
        "/static/push.js",
    ] {
        let res = http.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        let html = h
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        assert_eq!(h.contains_key("content-security-policy"), html, "{path}");
        if html {
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        }
    }
    let page = http.get(app.url("/signin")).send().await.unwrap();
    assert!(page.headers().contains_key("content-security-policy"));
}

crate::both!(
    health_readiness_metrics_and_openapi,
    responses_carry_security_headers
);

/// The embedded database takes one serving instance; a second is refused with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_embedded_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = || candor::server::ServeSettings {
        log_origin: candor_app::DEFAULT_LOG_ORIGIN.to_owned(),
        audit_key: candor_app::keys::AuditKeySource::File(dir.path().join("signing.key")),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        store: candor::StoreChoice::Sqlite(dir.path().join("candor.db")),
        sqlite_cache: candor_store_sqlite::PageCache::default(),
        demo: false,
        jobs: false,
        web: candor_web::WebConfig::default(),
        mail: candor::server::MailSettings::default(),
        status_site_dir: None,
        status_site_bucket: None,
        allow_private_webhooks: false,
        delivery_attempts: 10,
        subscribe_limits: Default::default(),
        fanout_part_tenants: candor_app::notify::DEFAULT_PART_TENANTS,
        lease: time::Duration::minutes(5),
        checkpoint_interval: 10,
        deadlines: candor::deliveries::Deadlines::default(),
        chase: candor_app::chase::ChaseSettings::default(),
    };
    let first = candor::server::start(settings()).await.unwrap();
    let second = candor::server::start(settings()).await;
    let Err(e) = second else {
        panic!("two servers on one SQLite database")
    };
    assert!(e.to_string().contains("already serving"), "{e}");
    first.shutdown().await.unwrap();
    // Once the first has stopped, another may start.
    let again = candor::server::start(settings()).await.unwrap();
    again.shutdown().await.unwrap();
}
