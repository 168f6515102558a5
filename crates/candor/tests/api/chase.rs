//! Every incident has a human owner, and the owner is chased: an incident declared
//! through the operator API gets the Incident Manager it names (or the one on duty),
//! and when its update is overdue the owner and the incident managers on duty are told
//! by email and through the signed operator webhook within the watchdog's period,
//! again at the reminder interval until a post is made, and once when the cadence
//! changes. The owner's browser, with push turned on in the console, is told too. On
//! the clock the tests control: nobody waits an hour.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use candor_app::chase::{ChaseSettings, OperatorWebhook};
use candor_app::health::{self as svc, PostInput, UpdateInput};
use candor_delivery::webhook::verify;
use candor_domain::clock::Clock;
use candor_domain::health::BrowserOwner;
use candor_domain::identity::{Actor, EmailAddress, OperatorRole};
use serde_json::{json, Value};
use time::Duration;

use crate::common::{Mailroom, TestApp};
use crate::health::{operator, place};
use crate::lockbox_api::read_mail;
use crate::operator_api::client;

const SECRET: &str = "operator-webhook-secret-0123456789";

fn declaration(owner: Option<&str>) -> Value {
    let mut body = json!({
        "service": "Exchange Online",
        "classification": "incident",
        "title": "Mail flow is delayed",
        "impactDescription": "Inbound mail may be delayed.",
        "scope": {"scaleUnits": ["eu-west-su1"]},
        "post": {"content": "<p>Investigating.</p>"}
    });
    if let Some(o) = owner {
        body["owner"] = json!(o);
    }
    body
}

async fn an_api_declared_incident_has_an_owner_who_is_chased(app: TestApp) {
    place(&app).await;
    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    // A second Incident Manager, on duty; the world's own one will be named as owner.
    let duty = candor_app::identity::create_operator(
        &app.core,
        &Actor::System,
        None,
        candor_app::identity::OperatorInput {
            email: "duty@provider.example".into(),
            display_name: "On duty".into(),
            password: "a long and proper password".into(),
            roles: [OperatorRole::IncidentManager].into_iter().collect(),
            break_glass: false,
        },
    )
    .await
    .unwrap();
    let owner = app.world.operator(OperatorRole::IncidentManager).clone();
    let (hook_url, hook_seen) = crate::webhooks::receiver(Arc::new(AtomicU16::new(200))).await;
    let settings = ChaseSettings {
        duty: vec![EmailAddress::parse("duty@provider.example").unwrap()],
        reminder_every: Duration::minutes(15),
        operator_webhook: Some(OperatorWebhook {
            url: hook_url,
            secret: SECRET.into(),
        }),
        console_url: app.base.clone(),
    };
    app.core.chase.set(ChaseSettings {
        duty: Vec::new(),
        ..settings.clone()
    });
    let token = client(&app, &["IncidentManager"]).await;
    let declare = |body: Value| {
        let req = app
            .http()
            .post(app.url("/api/v1/operator/issues"))
            .bearer_auth(&token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };

    // A machine client's incident needs a person: none named and nobody on duty, refused.
    let res = declare(declaration(None)).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("owner"),
        "{err}"
    );
    // Someone who is not an Incident Manager cannot own it.
    let reader = app
        .world
        .operator(OperatorRole::SupportEngineer)
        .email
        .clone();
    let res = declare(declaration(Some(&reader))).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not an active Incident Manager"),
        "{err}"
    );
    // Nobody named: the one on duty owns it.
    app.core.chase.set(settings.clone());
    let res = declare(declaration(None)).await;
    assert_eq!(res.status(), 201);
    let by_duty: Value = res.json().await.unwrap();
    assert_eq!(by_duty["owner"], duty.id.to_string());
    // Named by email: that Incident Manager owns it.
    let res = declare(declaration(Some(&owner.email))).await;
    assert_eq!(res.status(), 201);
    let issue: Value = res.json().await.unwrap();
    assert_eq!(issue["owner"], owner.id);
    let id = issue["id"].as_str().unwrap().to_owned();
    let due = time::OffsetDateTime::parse(
        issue["nextUpdateDue"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();

    // The owner turns push on in the console, in one browser; the operator push page is
    // the console's own (a tenant user is sent to the portal's), and nobody else's.
    let (push_url, pushed) = crate::push::push_service(Arc::new(AtomicU16::new(201))).await;
    let (keypair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let components = keypair.raw_components().unwrap();
    let console = app.sign_in(&owner.email, true).await;
    let page = console
        .get(app.url("/console/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"data-action="/console/push""#), "{page}");
    let csrf = crate::common::csrf_of(&page);
    let res = console
        .post(app.url("/console/push"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("endpoint", push_url.as_str()),
            ("p256dh", &crate::push::b64(&keypair.pub_as_raw().unwrap())),
            ("auth", &crate::push::b64(&auth)),
            ("label", "On-call phone"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/push?notice=subscribed");
    let listed = console
        .get(app.url("/console/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("On-call phone"));
    // Someone else at the provider sees none of it.
    let engineer = app
        .world
        .operator(OperatorRole::SupportEngineer)
        .email
        .clone();
    let other = app.sign_in(&engineer, true).await;
    let theirs = other
        .get(app.url("/console/push"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!theirs.contains("On-call phone"));
    // A tenant user on the console's push page is sent to their own.
    let reader_of_a = app
        .world
        .a
        .user(candor_domain::identity::TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let tenant_browser = app.sign_in(&reader_of_a, false).await;
    let res = app
        .http()
        .get(app.url("/console/push"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200, "signed out: no page");
    let res = tenant_browser
        .get(app.url("/console/push"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "a tenant user is not shown the console's page"
    );
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/portal"));
    let operator_log = app
        .activities(candor_domain::audit::AuditChain::Operator)
        .await;
    assert!(operator_log.iter().any(|a| a == "Add-PushSubscription"));

    let outbox = tempfile::tempdir().unwrap();
    let mailroom = Mailroom::new(app.core.clone(), outbox.path(), &app.base);
    let watch = || async {
        mailroom
            .jobs
            .schedule_periodic(app.clock.now())
            .await
            .unwrap();
        mailroom.run().await;
    };
    let overdue_mail = |n: usize| {
        let mail = read_mail(outbox.path());
        let about: Vec<_> = mail
            .into_iter()
            .filter(|(_, subject, _)| {
                subject == &format!("Update overdue: {id} Mail flow is delayed")
            })
            .collect();
        assert_eq!(about.len(), n, "{about:?}");
        about
    };
    watch().await;
    overdue_mail(0);

    // Ten seconds past the deadline (one watchdog period): flagged and told.
    app.clock.set(due + Duration::seconds(10));
    watch().await;
    let told = overdue_mail(2);
    let to: std::collections::BTreeSet<&str> = told.iter().map(|(to, _, _)| to.as_str()).collect();
    assert!(to.contains(owner.email.as_str()), "the owner: {to:?}");
    assert!(
        to.contains("duty@provider.example"),
        "the one on duty: {to:?}"
    );
    let body = &told.iter().find(|(to, _, _)| to == &owner.email).unwrap().2;
    assert!(
        body.contains(&format!("{}/console/issues/{id}", app.base)),
        "{body}"
    );
    let hooks = hook_seen.lock().unwrap().clone();
    let overdue_hooks: Vec<_> = hooks
        .iter()
        .filter(|(_, _, b)| {
            serde_json::from_slice::<Value>(b)
                .is_ok_and(|v| v["event"] == "issue.overdue" && v["data"]["issueId"] == id)
        })
        .collect();
    assert_eq!(overdue_hooks.len(), 1, "the operator webhook is told once");
    let (sig, _, raw) = overdue_hooks[0];
    verify(sig, SECRET, raw, app.clock.now().unix_timestamp())
        .expect("signed like a tenant webhook");
    // And the owner's phone is told, encrypted for it, with the link to the issue.
    let pushes = pushed.lock().unwrap().clone();
    assert_eq!(pushes.len(), 1, "one push to the owner's one browser");
    let note = crate::push::open(&components, &auth, &pushes[0].1);
    assert_eq!(
        note["title"],
        format!("Update overdue: {id} Mail flow is delayed")
    );
    assert_eq!(
        note["url"],
        format!("{}/console/issues/{id}", app.base),
        "{note}"
    );

    // Still no post: reminded at the interval, not before.
    app.clock.advance(Duration::minutes(14));
    watch().await;
    overdue_mail(2);
    app.clock.advance(Duration::minutes(1));
    watch().await;
    overdue_mail(4);
    assert_eq!(
        pushed.lock().unwrap().len(),
        2,
        "the reminder is pushed too"
    );

    // A post ends the reminders; a new cadence is told once.
    let im = operator(&app, OperatorRole::IncidentManager);
    svc::update_issue(
        &app.core,
        &im,
        None,
        candor_domain::health::IssueId::parse(&id).unwrap(),
        UpdateInput {
            cadence_minutes: Some(30),
            post: Some(PostInput {
                body_html: "<p>Found it; updates every half hour.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    watch().await;
    let cadence: Vec<_> = read_mail(outbox.path())
        .into_iter()
        .filter(|(_, s, _)| s.starts_with("New update cadence") && s.contains(&id))
        .collect();
    assert_eq!(
        cadence.len(),
        2,
        "the owner and the one on duty: {cadence:?}"
    );
    assert!(
        cadence[0].2.contains("every 30 minutes"),
        "{:?}",
        cadence[0]
    );
    app.clock.advance(Duration::minutes(29));
    watch().await;
    overdue_mail(4);

    // The deliveries are the operator realm's: no tenant's log shows them.
    let tenant_log = app
        .core
        .store
        .tenant_deliveries(app.world.a.id, None, 500)
        .await
        .unwrap();
    assert!(tenant_log.iter().all(|d| !d.change.starts_with("overdue:")));

    // The owner removes the browser: no more pushes, and it is in the operator log.
    let browser = app
        .core
        .store
        .list_push_subscriptions(BrowserOwner::Operator(owner.id.parse().unwrap()))
        .await
        .unwrap()[0]
        .id;
    // An hour has passed on the test clock: both sign in again.
    let other = app.sign_in(&engineer, true).await;
    let other_csrf = app.csrf(&other, "/console/push").await;
    let console = app.sign_in(&owner.email, true).await;
    let csrf = app.csrf(&console, "/console/push").await;
    let res = other
        .post(app.url(&format!("/console/push/{browser}")))
        .form(&[("csrf", other_csrf.as_str()), ("action", "remove")])
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(
        status,
        404,
        "not someone else's to remove: {}",
        res.text().await.unwrap()
    );
    let res = console
        .post(app.url(&format!("/console/push/{browser}")))
        .form(&[("csrf", csrf.as_str()), ("action", "remove")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let operator_log = app
        .activities(candor_domain::audit::AuditChain::Operator)
        .await;
    assert!(operator_log.iter().any(|a| a == "Remove-PushSubscription"));
}

crate::both!(an_api_declared_incident_has_an_owner_who_is_chased);
