//! Webhook endpoints end to end: a Global Administrator adds one in the portal (private
//! addresses refused unless allowed, the secret shown once), sends a test, receives
//! issue news signed with the secret (and, after a rotation, with the old one too),
//! watches the delivery log; an endpoint that keeps failing is disabled and the
//! tenant's Global Administrators are emailed. Other roles and tenants are refused.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use candor::deliveries::{DeliveryRunner, DeliverySettings};
use candor_delivery::webhook::{verify, DELIVERY_HEADER, SIGNATURE_HEADER};
use candor_domain::audit::AuditChain;
use candor_domain::clock::Clock;
use candor_domain::health::{ComponentId, DeliveryStatus, Scope};
use candor_domain::identity::{OperatorRole, TenantRole};

use crate::common::{csrf_of, TestApp};
use crate::health::place;

/// What a receiver saw: signature header, delivery id header, body.
pub type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A webhook receiver on a random loopback port answering `status`.
pub async fn receiver(status: Arc<AtomicU16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                let status = status.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    store.lock().unwrap().push((
                        h(SIGNATURE_HEADER),
                        h(DELIVERY_HEADER),
                        body.to_vec(),
                    ));
                    axum::http::StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn secret_on(page: &str) -> String {
    let marker = "<code class=\"secret\">";
    let start = page.find(marker).expect("the secret is shown") + marker.len();
    let end = page[start..].find('<').unwrap();
    page[start..start + end].to_owned()
}

async fn webhooks_carry_signed_news_and_failing_ones_are_disabled(app: TestApp) {
    place(&app).await;
    let (url, seen) = receiver(Arc::new(AtomicU16::new(200))).await;
    let ga = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let browser = app.sign_in(&ga, false).await;
    let csrf = app.csrf(&browser, "/portal/webhooks").await;
    let add = |url: String, format: &'static str| {
        let browser = browser.clone();
        let csrf = csrf.clone();
        let to = app.url("/portal/webhooks");
        async move {
            let res = browser
                .post(to)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("url", url.as_str()),
                    ("format", format),
                    ("topics", "incidents"),
                    ("topics", "advisories"),
                ])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };

    // Private and loopback targets are refused unless configuration allows them.
    let (status, page) = add(url.clone(), "candor").await;
    assert_eq!(status, 200);
    assert!(page.contains("class=\"error\""), "{page}");
    assert!(page.contains("https"), "says why: {page}");
    let (_, page) = add("https://127.0.0.1/hook".into(), "candor").await;
    assert!(page.contains("private or local"), "{page}");
    let (_, page) = add("not a url".into(), "candor").await;
    assert!(page.contains("not valid"), "{page}");
    let (_, page) = add("https://hooks.example/x".into(), "carrier-pigeon").await;
    assert!(page.contains("carrier-pigeon"), "{page}");
    assert!(app
        .core
        .store
        .list_webhooks(app.world.a.id)
        .await
        .unwrap()
        .is_empty());

    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    let (status, page) = add(url.clone(), "candor").await;
    assert_eq!(status, 200);
    let secret = secret_on(&page);
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, page) = add(url.clone(), "slack").await;
    assert!(page.contains("already a webhook endpoint"), "{page}");
    let endpoint = app.core.store.list_webhooks(app.world.a.id).await.unwrap()[0].clone();
    assert_eq!(endpoint.secret, secret);

    // The disabled-endpoint notice rides the same queue, so this worker carries mail too.
    let outbox = tempfile::tempdir().unwrap();
    let mailer = Arc::new(
        candor_delivery::email::Mailer::pickup(
            outbox.path().to_owned(),
            "Candor <candor@localhost>",
        )
        .unwrap(),
    );
    let worker = DeliveryRunner::new(
        app.core.clone(),
        Some(mailer),
        DeliverySettings {
            disable_webhook_after: 3,
            ..DeliverySettings::default()
        },
    );
    // A test message, through the same queue.
    let res = browser
        .post(app.url(&format!("/portal/webhooks/{}", endpoint.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(worker.drain().await.unwrap().sent, 1);
    let (sig, id, body) = seen.lock().unwrap()[0].clone();
    let now = app.clock.now().unix_timestamp();
    verify(&sig, &secret, &body, now).expect("signed with the endpoint's secret");
    let test: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(test["event"], "test");
    assert_eq!(
        test["id"],
        id.as_str(),
        "the id in the body is the header's"
    );
    assert_eq!(test["schemaVersion"], "1.0");

    // Issue news reaches the endpoint of the affected tenant, once.
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
    assert_eq!(worker.drain().await.unwrap().sent, 1);
    let news: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap()[1].2).unwrap();
    assert_eq!(news["event"], "issue.posted");
    assert_eq!(news["tenantId"], app.world.a.id.to_string());
    assert_eq!(news["data"]["issueId"], issue.id.as_str());
    assert!(news["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/portal/health/issues/{}", issue.id)));
    let again = candor_app::notify::fan_out(&app.core, &issue.id, Some(1), &app.base, None)
        .await
        .unwrap();
    assert_eq!(again, 0, "a fan-out run again queues nothing twice");

    // A new secret: the old one keeps signing during its grace period.
    let res = browser
        .post(app.url(&format!("/portal/webhooks/{}", endpoint.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "rotate")])
        .send()
        .await
        .unwrap();
    let new_secret = secret_on(&res.text().await.unwrap());
    assert_ne!(new_secret, secret);
    browser
        .post(app.url(&format!("/portal/webhooks/{}", endpoint.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    worker.drain().await.unwrap();
    let (sig, _, body) = seen.lock().unwrap()[2].clone();
    verify(&sig, &new_secret, &body, now).unwrap();
    verify(&sig, &secret, &body, now).unwrap();

    // The tenant's delivery log: its own deliveries, with their ids.
    let log = browser
        .get(app.url("/portal/deliveries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains(&id), "the test delivery is in the log");
    assert!(log.contains(&format!("{}, update 1", issue.id)), "{log}");

    // Others may not manage endpoints or read the log; another tenant cannot touch it.
    let reader = app
        .world
        .a
        .user(TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let other = app.sign_in(&reader, false).await;
    for path in ["/portal/webhooks", "/portal/deliveries"] {
        assert_eq!(
            other.get(app.url(path)).send().await.unwrap().status(),
            403,
            "{path}"
        );
    }
    let b_admin = app
        .world
        .b
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let b = app.sign_in(&b_admin, false).await;
    let b_csrf = app.csrf(&b, "/portal/webhooks").await;
    for action in ["remove", "rotate", "test", "enable"] {
        let res = b
            .post(app.url(&format!("/portal/webhooks/{}", endpoint.id)))
            .form(&[("csrf", b_csrf.as_str()), ("action", action)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{action}");
    }
    let b_log = b
        .get(app.url("/portal/deliveries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!b_log.contains(&id), "another tenant's log is its own");

    // An endpoint that keeps failing is disabled, and the administrators are told.
    let failing = Arc::new(AtomicU16::new(503));
    let (bad_url, bad_seen) = receiver(failing.clone()).await;
    let (_, page) = add(bad_url, "teams").await;
    let bad_secret = secret_on(&page);
    let bad = app
        .core
        .store
        .list_webhooks(app.world.a.id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.secret == bad_secret)
        .unwrap();
    let delivery_id = candor_app::webhooks::send_test(
        &app.core,
        &crate::health::tenant_actor(&app, TenantRole::GlobalAdministrator),
        None,
        app.world.a.id,
        bad.id,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        worker.drain().await.unwrap();
        app.clock.advance(time::Duration::hours(2));
    }
    let disabled = app.core.store.get_webhook(bad.id).await.unwrap().unwrap();
    assert!(!disabled.enabled, "disabled after three failures in a row");
    assert!(disabled.disabled_reason.unwrap().contains("503"));
    assert_eq!(bad_seen.lock().unwrap().len(), 3);
    let delivery = app
        .core
        .store
        .get_delivery(&delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.attempts, 3);
    worker.drain().await.unwrap();
    let delivery = app
        .core
        .store
        .get_delivery(&delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(
        bad_seen.lock().unwrap().len(),
        3,
        "nothing more is sent to it"
    );
    let log = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    for activity in [
        "Add-WebhookEndpoint",
        "Send-TestNotification",
        "Set-WebhookSecret",
        "Disable-WebhookEndpoint",
    ] {
        assert!(log.iter().any(|a| a == activity), "{activity}");
    }
    let mail = crate::lockbox_api::read_mail(outbox.path());
    assert!(
        mail.iter()
            .any(|(to, subject, _)| *to == ga && subject.contains("turned off")),
        "the Global Administrator is told: {mail:?}"
    );

    // Turned on again, it works again. (Hours went by: a fresh sign-in.)
    failing.store(200, Ordering::Relaxed);
    let browser = app.sign_in(&ga, false).await;
    let csrf = app.csrf(&browser, "/portal/webhooks").await;
    let res = browser
        .post(app.url(&format!("/portal/webhooks/{}", bad.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "enable")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    candor_app::webhooks::send_test(
        &app.core,
        &crate::health::tenant_actor(&app, TenantRole::GlobalAdministrator),
        None,
        app.world.a.id,
        bad.id,
    )
    .await
    .unwrap();
    assert_eq!(worker.drain().await.unwrap().sent, 1);
    let (sig, _, body) = bad_seen.lock().unwrap()[3].clone();
    verify(&sig, &bad_secret, &body, app.clock.now().unix_timestamp()).unwrap();
    let teams: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(teams["@type"], "MessageCard", "the Teams shape");

    // The operators' view: the issue's news, per change; tenants may not see it.
    let console = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let page = console
        .get(app.url("/console/deliveries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("{}, update 1", issue.id)), "{page}");
    let res = browser
        .get(app.url("/console/deliveries"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200);
    let _ = csrf_of(&page);
}

crate::both!(webhooks_carry_signed_news_and_failing_ones_are_disabled);
