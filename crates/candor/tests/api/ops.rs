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

crate::both!(health_readiness_metrics_and_openapi);
