//! Web Push end to end: a tenant user's browser subscribes through the portal, issue news
//! reaches a local push service written for this test, which checks the VAPID
//! authorization and decrypts the message (RFC 8291) with the browser's keys; a test
//! notification goes the same way; a browser the push service says is gone is forgotten.
//! Other people cannot see or remove someone's browsers.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use candor::deliveries::{DeliveryRunner, DeliverySettings};
use candor_domain::health::{BrowserOwner, ComponentId, Scope};
use candor_domain::identity::{OperatorRole, TenantRole};
use ece::crypto::EcKeyComponents;

use crate::common::TestApp;
use crate::health::place;

pub type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A push service on loopback: records the Authorization header and the encrypted body.
pub async fn push_service(status: Arc<AtomicU16>) -> (String, Received) {
    let seen: Received = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/push/{device}",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                let status = status.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    assert_eq!(
                        headers.get("content-encoding").unwrap(),
                        "aes128gcm",
                        "RFC 8291 encoding"
                    );
                    assert!(headers.get("ttl").is_some());
                    store.lock().unwrap().push((auth, body.to_vec()));
                    axum::http::StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push/device-1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn open(keys: &EcKeyComponents, auth: &[u8], body: &[u8]) -> serde_json::Value {
    let plain = ece::decrypt(keys, auth, body).expect("decrypts with the browser's keys");
    serde_json::from_slice(&plain).unwrap()
}

async fn news_reaches_a_subscribed_browser_encrypted_and_signed(app: TestApp) {
    place(&app).await;
    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    let status = Arc::new(AtomicU16::new(201));
    let (endpoint, seen) = push_service(status.clone()).await;
    let (keypair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let components = keypair.raw_components().unwrap();
    let p256dh = b64(&keypair.pub_as_raw().unwrap());

    let reader = app
        .world
        .a
        .user(TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let browser = app.sign_in(&reader, false).await;
    let page = browser
        .get(app.url("/portal/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let vapid = app.core.keys.vapid.public_b64();
    assert!(
        page.contains(&vapid),
        "the page carries the key to subscribe with"
    );
    let csrf = crate::common::csrf_of(&page);
    // Bad keys are refused with a reason; nothing is stored.
    let res = browser
        .post(app.url("/portal/push"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("endpoint", endpoint.as_str()),
            ("p256dh", "AAAA"),
            ("auth", &b64(&auth)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("P-256"));
    let res = browser
        .post(app.url("/portal/push"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("endpoint", endpoint.as_str()),
            ("p256dh", p256dh.as_str()),
            ("auth", &b64(&auth)),
            ("label", "Firefox on Android"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = browser
        .get(app.url("/portal/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Firefox on Android"));

    // Issue news reaches the browser through the push service.
    let im = crate::health::operator(&app, OperatorRole::IncidentManager);
    let (issue, _) = candor_app::health::create_issue(
        &app.core,
        &im,
        None,
        crate::health::incident(Scope {
            components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let jobs = candor::jobs::JobRunner::new(app.core.clone()).with_public_url(app.base.clone());
    while jobs.run_one().await.unwrap().is_some() {}
    let worker = DeliveryRunner::new(app.core.clone(), None, DeliverySettings::default());
    assert_eq!(worker.drain().await.unwrap().sent, 1);
    let (authorization, body) = seen.lock().unwrap()[0].clone();
    assert!(
        authorization.starts_with("vapid t=") && authorization.contains(&format!("k={vapid}")),
        "VAPID: {authorization}"
    );
    let note = open(&components, &auth, &body);
    assert!(
        note["title"]
            .as_str()
            .unwrap()
            .contains("Users can't open their mailboxes"),
        "{note}"
    );
    assert!(note["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/portal/health/issues/{}", issue.id)));

    // Another person sees none of it and cannot remove it.
    let id = app
        .core
        .store
        .list_push_subscriptions(BrowserOwner::TenantUser {
            tenant: app.world.a.id,
            user: app
                .world
                .a
                .user(TenantRole::ServiceSupportAdministrator)
                .id
                .parse()
                .unwrap(),
        })
        .await
        .unwrap()[0]
        .id;
    let ga = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let other = app.sign_in(&ga, false).await;
    let other_page = other
        .get(app.url("/portal/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!other_page.contains("Firefox on Android"));
    let other_csrf = crate::common::csrf_of(&other_page);
    let res = other
        .post(app.url(&format!("/portal/push/{id}")))
        .form(&[("csrf", other_csrf.as_str()), ("action", "remove")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // A test notification; then the push service says the browser is gone: forgotten.
    let res = browser
        .post(app.url(&format!("/portal/push/{id}")))
        .form(&[("csrf", csrf.as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    worker.drain().await.unwrap();
    let note = open(&components, &auth, &seen.lock().unwrap()[1].1);
    assert!(note["tag"].as_str().unwrap().starts_with("test:"));
    status.store(410, Ordering::Relaxed);
    candor_app::push::send_test(
        &app.core,
        &crate::health::tenant_actor(&app, TenantRole::ServiceSupportAdministrator),
        None,
        id,
    )
    .await
    .unwrap();
    assert_eq!(worker.drain().await.unwrap().dead, 1);
    assert!(app
        .core
        .store
        .get_push_subscriptions(&[id])
        .await
        .unwrap()
        .is_empty());
    let log = app
        .activities(candor_domain::audit::AuditChain::Tenant(app.world.a.id))
        .await;
    assert!(log.iter().any(|a| a == "Add-PushSubscription"));
    assert!(log.iter().any(|a| a == "Remove-PushSubscription"));

    // The installable app's pieces are served.
    let http = app.http();
    for (path, kind) in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/sw.js", "text/javascript"),
        ("/static/push.js", "text/javascript"),
    ] {
        let res = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
}

crate::both!(news_reaches_a_subscribed_browser_encrypted_and_signed);
