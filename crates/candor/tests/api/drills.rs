//! Failure drills: one channel's destination breaks, and the others still carry the news
//! at once. Each drill uses a real broken server on loopback, not a mock of our mailer.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use candor::deliveries::{Deadlines, DeliveryRunner, DeliverySettings};
use candor_domain::health::{Channel, DeliveryStatus, Topic};
use candor_domain::identity::TenantRole;
use candor_domain::language::Language;

use crate::common::TestApp;
use crate::health::{place, tenant_actor};

/// An SMTP "relay" that accepts connections and never says a word: the stall that used
/// to hold the worker's slots for as long as it lasted.
async fn silent_smtp_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    (port, held)
}

async fn a_stalled_mail_relay_does_not_hold_up_webhooks(app: TestApp) {
    place(&app).await;
    let tenant = app.world.a.id;
    let ga = tenant_actor(&app, TenantRole::GlobalAdministrator);
    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    let (url, seen) = crate::webhooks::receiver(Arc::new(AtomicU16::new(200))).await;
    let endpoint = candor_app::webhooks::add(
        &app.core,
        &ga,
        None,
        tenant,
        candor_app::webhooks::WebhookInput {
            url,
            format: None,
            topics: [Topic::Incidents].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap()
    .endpoint;
    let contact = candor_app::contacts::add(
        &app.core,
        &ga,
        None,
        tenant,
        candor_app::contacts::ContactInput {
            email: "noc@contoso.example".into(),
            language: Language::English,
            topics: [Topic::Incidents].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap();
    candor_app::contacts::send_test(&app.core, &ga, None, tenant, contact.id)
        .await
        .unwrap();
    candor_app::webhooks::send_test(&app.core, &ga, None, tenant, endpoint.id)
        .await
        .unwrap();

    let (port, _held) = silent_smtp_server().await;
    let mailer = candor_delivery::email::Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "Candor <candor@localhost>",
    )
    .unwrap();
    let worker = DeliveryRunner::new(
        app.core.clone(),
        Some(Arc::new(mailer)),
        DeliverySettings {
            deadlines: Deadlines {
                email: StdDuration::from_secs(1),
                ..Deadlines::default()
            },
            ..DeliverySettings::default()
        },
    );
    // Without a deadline this drain would wait on the relay for as long as it stalls.
    let report = tokio::time::timeout(StdDuration::from_secs(60), worker.drain())
        .await
        .expect("the drain ends although the relay never answers")
        .unwrap();
    assert_eq!(report.sent, 1, "the webhook went: {report:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the receiver has it");

    let deliveries = app
        .core
        .store
        .tenant_deliveries(tenant, None, 50)
        .await
        .unwrap();
    let email = deliveries
        .iter()
        .find(|d| d.channel == Channel::Email)
        .expect("the test email was queued");
    assert_eq!(
        email.status,
        DeliveryStatus::Pending,
        "back in the queue, not sending"
    );
    assert_eq!(email.attempts, 1);
    let reason = email.last_error.as_deref().unwrap_or_default();
    assert!(reason.contains("email deadline"), "says why: {reason}");
    assert!(
        email.run_at > candor_domain::clock::Clock::now(app.clock.as_ref()),
        "retried later, with backoff: {:?}",
        email.run_at
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.status != DeliveryStatus::Sending),
        "nothing is left sending"
    );
}

crate::both!(a_stalled_mail_relay_does_not_hold_up_webhooks);
