//! The 90-day availability history: on the public page and the backup site from the
//! broad issues only, on a tenant's dashboard from the issues that affected it.

use candor_app::health::{self as svc, PostInput, UpdateInput};
use candor_domain::health::availability::Impact;
use candor_domain::health::{Classification, ScaleUnitId, Scope, ServiceId, Status};
use candor_domain::identity::{OperatorRole, RegionCode, TenantRole};
use time::Duration;

use crate::common::TestApp;
use crate::health::{incident, operator, place};

/// Publishes `input`, then resolves it `minutes` later.
async fn lasting(
    app: &TestApp,
    input: candor_app::health::NewIssueInput,
    minutes: i64,
) -> candor_domain::health::IssueId {
    let im = operator(app, OperatorRole::IncidentManager);
    let (issue, _) = svc::create_issue(&app.core, &im, None, input)
        .await
        .unwrap();
    app.clock.advance(Duration::minutes(minutes));
    svc::update_issue(
        &app.core,
        &im,
        None,
        issue.id.clone(),
        UpdateInput {
            status: Some(Status::ServiceRestored),
            post: Some(PostInput {
                body_html: "<p>Fixed.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    issue.id
}

async fn the_history_shows_each_day_on_every_page(app: TestApp) {
    place(&app).await;
    // A targeted incident on tenant A's scale unit: 90 minutes of Exchange outage.
    let targeted = Scope {
        scale_units: [ScaleUnitId::parse("eu-west-su1").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    lasting(&app, incident(targeted), 90).await;
    // A broad advisory on SharePoint in the whole region: 30 minutes degraded.
    let mut advisory = incident(Scope {
        regions: [RegionCode::parse("eu-west").unwrap()]
            .into_iter()
            .collect(),
        services: [ServiceId::parse("SharePoint").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    advisory.service = "SharePoint Online".into();
    advisory.feature = None;
    advisory.feature_group = None;
    advisory.classification = Classification::Advisory;
    lasting(&app, advisory, 30).await;
    app.clock.advance(Duration::days(1));

    // Tenant A's dashboard: the outage on Exchange.
    let ga = |b: bool| {
        let t = if b { &app.world.b } else { &app.world.a };
        let p = t.user(TenantRole::GlobalAdministrator);
        candor_domain::identity::Actor::TenantUser {
            tenant_id: t.id,
            user_id: p.id.parse().unwrap(),
            email: p.email.clone(),
            roles: [TenantRole::GlobalAdministrator].into_iter().collect(),
        }
    };
    let history = |b: bool, service: &str| {
        let (who, tenant) = (ga(b), if b { app.world.b.id } else { app.world.a.id });
        let service = ServiceId::parse(service).unwrap();
        let app = &app;
        async move {
            svc::tenant_history(&app.core, &who, tenant, std::slice::from_ref(&service))
                .await
                .unwrap()
                .remove(&service)
                .unwrap()
        }
    };
    let exchange = history(false, "Exchange").await;
    assert_eq!(exchange.len(), 90);
    let bad: Vec<_> = exchange
        .iter()
        .filter(|d| d.worst != Impact::Operational)
        .collect();
    let minutes: u32 = bad.iter().map(|d| d.outage_minutes).sum();
    assert!(!bad.is_empty() && bad.iter().all(|d| d.worst == Impact::Outage));
    assert_eq!(minutes, 90);
    // Tenant B was never on Exchange's broken scale unit: its days are clean there.
    assert!(history(true, "Exchange")
        .await
        .iter()
        .all(|d| d.worst == Impact::Operational));
    assert_eq!(
        history(true, "SharePoint")
            .await
            .iter()
            .map(|d| d.degraded_minutes)
            .sum::<u32>(),
        30
    );
    // A reader of another tenant's history is refused.
    assert!(
        svc::tenant_history(&app.core, &ga(true), app.world.a.id, &[])
            .await
            .is_err()
    );

    // The portal shows the bars, with the month's figure.
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    let html = browser
        .get(app.url("/portal/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("day day-outage"), "{html}");
    assert!(html.contains("% available"), "{html}");

    // The public page: only the broad advisory, never the targeted incident.
    let public = app
        .http()
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains("day day-degraded"), "{public}");
    assert!(!public.contains("day day-outage"), "{public}");
    let status = candor_app::public::public_status(&app.core).await.unwrap();
    let json = candor_app::status_page::status_json(&status);
    let services = json["services"].as_array().unwrap();
    let sharepoint = services.iter().find(|s| s["id"] == "SharePoint").unwrap();
    let days = sharepoint["history"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    assert_eq!(
        days.iter()
            .map(|d| d["degradedMinutes"].as_u64().unwrap())
            .sum::<u64>(),
        30
    );
    assert!(days.iter().any(|d| d["worst"] == "degraded"));
    // Degraded service counts as available: the month is at 100 %.
    let months = sharepoint["availability"].as_array().unwrap();
    assert!(months
        .iter()
        .all(|m| (m["percent"].as_f64().unwrap() - 100.0).abs() < 1e-9));
    let exchange = services.iter().find(|s| s["id"] == "Exchange").unwrap();
    assert!(exchange["history"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["worst"] == "operational"));

    // The backup site carries the same bars, in every language.
    let files = candor_app::status_page::site_files(&status, &app.base).unwrap();
    let dutch = files
        .iter()
        .find(|(p, _)| p == "nl/index.html")
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .unwrap();
    assert!(dutch.contains("day day-degraded") && dutch.contains("% beschikbaar"));
}

crate::both!(the_history_shows_each_day_on_every_page);
