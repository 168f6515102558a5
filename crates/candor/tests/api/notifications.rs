//! Notification settings as code: a tenant's app with ServiceHealth.Notifications.ReadWrite
//! (or a Global Administrator's session, with its CSRF token) lists, creates, changes,
//! tests and removes contacts and webhook endpoints through the API, with the portal's
//! checks; every other caller is refused.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use candor_domain::audit::AuditChain;
use candor_domain::identity::{ApiPermission, TenantRole};
use serde_json::{json, Value};

use crate::common::TestApp;
use crate::health::place;

async fn notification_settings_are_managed_through_the_api(app: TestApp) {
    place(&app).await;
    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    let a = &app.world.a;
    let token = app
        .token(a.app(ApiPermission::ServiceHealthNotificationsReadWrite))
        .await;
    let http = app.http();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>, token: &str| {
        let mut req = http.request(method, app.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move { req.send().await.unwrap() }
    };
    use reqwest::Method as M;

    // Contacts: create, list, change, test, remove.
    let res = call(
        M::POST,
        "/api/v1/notifications/contacts",
        Some(json!({"email": "NOC@contoso.example", "language": "nl", "topics": ["incidents"]})),
        &token,
    )
    .await;
    assert_eq!(res.status(), 201);
    let contact: Value = res.json().await.unwrap();
    assert_eq!(contact["email"], "noc@contoso.example");
    assert_eq!(contact["language"], "nl");
    let id = contact["id"].as_str().unwrap().to_owned();
    let again = call(
        M::POST,
        "/api/v1/notifications/contacts",
        Some(json!({"email": "noc@contoso.example", "topics": ["incidents"]})),
        &token,
    )
    .await;
    assert_eq!(again.status(), 409, "an address once per tenant");
    for (body, says) in [
        (
            json!({"email": "not an address", "topics": ["incidents"]}),
            "email",
        ),
        (
            json!({"email": "x@contoso.example", "topics": ["gossip"]}),
            "gossip",
        ),
        (
            json!({"email": "x@contoso.example", "topics": ["incidents"], "services": ["Nope"]}),
            "Nope",
        ),
        (
            json!({"email": "x@contoso.example", "topics": ["incidents"], "colour": "red"}),
            "colour",
        ),
    ] {
        let res = call(
            M::POST,
            "/api/v1/notifications/contacts",
            Some(body),
            &token,
        )
        .await;
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        assert!(err.to_string().contains(says), "{err}");
    }
    let listed: Value = call(M::GET, "/api/v1/notifications/contacts", None, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let res = call(
        M::PATCH,
        &format!("/api/v1/notifications/contacts/{id}"),
        Some(json!({"language": "fr", "topics": ["incidents", "advisories"], "services": ["Exchange Online"]})),
        &token,
    )
    .await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["language"], "fr");
    assert_eq!(changed["services"], json!(["Exchange"]));
    assert_eq!(changed["email"], "noc@contoso.example", "the address stays");
    let res = call(
        M::POST,
        &format!("/api/v1/notifications/contacts/{id}/test"),
        None,
        &token,
    )
    .await;
    assert_eq!(res.status(), 202);

    // Webhooks: create (the secret once), list (never the secret), change, rotate,
    // test, remove.
    let (url, _seen) = crate::webhooks::receiver(Arc::new(AtomicU16::new(200))).await;
    let res = call(
        M::POST,
        "/api/v1/notifications/webhooks",
        Some(json!({"url": url, "topics": ["incidents"]})),
        &token,
    )
    .await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let listed: Value = call(M::GET, "/api/v1/notifications/webhooks", None, &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed[0].get("secret").is_none(), "{listed}");
    let res = call(
        M::PATCH,
        &format!("/api/v1/notifications/webhooks/{hook_id}"),
        Some(json!({"format": "teams"})),
        &token,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["format"], "teams");
    let res = call(
        M::PATCH,
        &format!("/api/v1/notifications/webhooks/{hook_id}"),
        Some(json!({"enabled": false})),
        &token,
    )
    .await;
    assert_eq!(res.status(), 400);
    let bad_url = call(
        M::POST,
        "/api/v1/notifications/webhooks",
        Some(json!({"url": "ftp://example.com/x", "topics": ["incidents"]})),
        &token,
    )
    .await;
    assert_eq!(bad_url.status(), 400);
    let rotated: Value = call(
        M::POST,
        &format!("/api/v1/notifications/webhooks/{hook_id}/rotate-secret"),
        None,
        &token,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_ne!(rotated["secret"].as_str().unwrap(), secret);
    let res = call(
        M::POST,
        &format!("/api/v1/notifications/webhooks/{hook_id}/test"),
        None,
        &token,
    )
    .await;
    assert_eq!(res.status(), 202);
    assert!(res.json::<Value>().await.unwrap()["deliveryId"].is_string());

    // Another tenant's app, even with the permission, finds nothing of tenant A's.
    let b_token = app
        .token(
            app.world
                .b
                .app(ApiPermission::ServiceHealthNotificationsReadWrite),
        )
        .await;
    for path in [
        format!("/api/v1/notifications/contacts/{id}"),
        format!("/api/v1/notifications/webhooks/{hook_id}"),
    ] {
        let res = call(M::DELETE, &path, None, &b_token).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    let b_list: Value = call(M::GET, "/api/v1/notifications/contacts", None, &b_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b_list, json!([]));
    // An app without the permission is refused, reading or writing.
    let reader = app.token(a.app(ApiPermission::ServiceHealthReadAll)).await;
    assert_eq!(
        call(M::GET, "/api/v1/notifications/contacts", None, &reader)
            .await
            .status(),
        403
    );
    assert_eq!(
        call(
            M::POST,
            "/api/v1/notifications/webhooks",
            Some(json!({"url": "https://hooks.example.com/x", "topics": ["incidents"]})),
            &reader
        )
        .await
        .status(),
        403
    );
    // A malformed id is not found, as another tenant's is.
    assert_eq!(
        call(
            M::DELETE,
            "/api/v1/notifications/contacts/nope",
            None,
            &token
        )
        .await
        .status(),
        404
    );

    // A Global Administrator's session reads, and writes with its CSRF token only.
    let ga = app
        .sign_in(&a.user(TenantRole::GlobalAdministrator).email, false)
        .await;
    let listed = ga
        .get(app.url("/api/v1/notifications/contacts"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let body = json!({"email": "oncall@contoso.example", "topics": ["incidents"]});
    let forged = ga
        .post(app.url("/api/v1/notifications/contacts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401, "a write without the CSRF token");
    let csrf = app.csrf(&ga, "/portal").await;
    let made = ga
        .post(app.url("/api/v1/notifications/contacts"))
        .header("X-CSRF-Token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    // A session of someone who is not a Global Administrator is refused.
    let support = app
        .sign_in(
            &a.user(TenantRole::ServiceSupportAdministrator).email,
            false,
        )
        .await;
    assert_eq!(
        support
            .get(app.url("/api/v1/notifications/contacts"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    // Removal, and every change in the tenant's audit log.
    assert_eq!(
        call(
            M::DELETE,
            &format!("/api/v1/notifications/contacts/{id}"),
            None,
            &token
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        call(
            M::DELETE,
            &format!("/api/v1/notifications/webhooks/{hook_id}"),
            None,
            &token
        )
        .await
        .status(),
        204
    );
    let log = app.activities(AuditChain::Tenant(a.id)).await;
    for activity in [
        "Add-NotificationContact",
        "Set-NotificationContact",
        "Remove-NotificationContact",
        "Add-WebhookEndpoint",
        "Set-WebhookEndpoint",
        "Set-WebhookSecret",
        "Remove-WebhookEndpoint",
    ] {
        assert!(log.iter().any(|a| a == activity), "{activity} in {log:?}");
    }
}

crate::both!(notification_settings_are_managed_through_the_api);
