//! Statuspage's public API v2 served by Candor: every document has Statuspage's shape
//! (held to fixtures written from its documentation), shows exactly what the public page
//! shows (a broad incident, never a targeted one; broad maintenance), maps statuses as
//! `docs/API.md` says, answers any origin, revalidates with ETags, is written into the
//! backup status site, and a real third-party client reads it unchanged.

use candor_domain::health::Scope;
use candor_domain::identity::OperatorRole;
use serde_json::{json, Value};
use time::Duration;

use crate::common::TestApp;
use crate::graph::same_shape;
use crate::health::{incident, operator, place};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/statuspage")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn get(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let res = app.http().get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

/// A broad incident on Exchange, a targeted one on SharePoint, a broad maintenance of
/// SharePoint starting in an hour.
async fn world(app: &TestApp) -> (String, String) {
    place(app).await;
    let manager = operator(app, OperatorRole::IncidentManager);
    let mut broad = Scope::default();
    broad
        .regions
        .insert(candor_domain::identity::RegionCode::parse("eu-west").unwrap());
    let mut input = incident(broad);
    input.status = Some(candor_domain::health::Status::ServiceDegradation);
    let (public, _) = candor_app::health::create_issue(&app.core, &manager, None, input)
        .await
        .unwrap();
    let mut narrow = Scope::default();
    narrow
        .components
        .insert(candor_domain::health::ComponentId::parse("eu-west-su1-spo01").unwrap());
    let mut input = incident(narrow);
    input.service = "SharePoint Online".into();
    input.feature = None;
    input.feature_group = None;
    input.title = "Sites of one farm are slow".into();
    candor_app::health::create_issue(&app.core, &manager, None, input)
        .await
        .unwrap();
    let now = candor_domain::clock::Clock::now(app.clock.as_ref());
    let (maintenance, _) = candor_app::maintenance::schedule(
        &app.core,
        &manager,
        None,
        candor_app::maintenance::NewMaintenanceInput {
            services: vec!["SharePoint".into()],
            scope: Scope::default(),
            text: [(
                candor_domain::language::Language::English,
                (
                    "Search index rebuild".to_owned(),
                    "Search may miss new files.".to_owned(),
                ),
            )]
            .into(),
            start: now + Duration::hours(1),
            end: now + Duration::hours(3),
            impact: candor_domain::health::maintenance::ExpectedImpact::Degraded,
            reminder_minutes: None,
        },
    )
    .await
    .unwrap();
    (public.id.to_string(), maintenance.id.to_string())
}

async fn every_document_has_statuspages_shape_and_the_public_pages_content(app: TestApp) {
    let (issue, maintenance) = world(&app).await;

    let (headers, summary) = get(&app, "/api/v2/summary.json").await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    same_shape(&summary, &fixture("summary.json"), "summary");
    let components = summary["components"].as_array().unwrap();
    let status_of = |id: &str| {
        components
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].clone())
            .unwrap()
    };
    assert_eq!(status_of("Exchange"), "partial_outage", "{summary}");
    assert_eq!(
        status_of("SharePoint"),
        "operational",
        "the targeted incident is not public"
    );
    assert_eq!(summary["status"]["indicator"], "major");
    assert_eq!(summary["status"]["description"], "Partial System Outage");
    let incidents = summary["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{summary}");
    assert_eq!(incidents[0]["id"], issue.as_str());
    assert_eq!(incidents[0]["status"], "identified");
    assert_eq!(incidents[0]["impact"], "major");
    assert_eq!(incidents[0]["components"][0]["id"], "Exchange");
    assert_eq!(
        incidents[0]["incident_updates"][0]["affected_components"][0]["new_status"],
        "partial_outage"
    );
    let maintenances = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maintenances.len(), 1);
    assert_eq!(maintenances[0]["id"], maintenance.as_str());
    assert_eq!(maintenances[0]["status"], "scheduled");
    assert!(maintenances[0]["scheduled_for"].is_string());

    for (path, fixture_name) in [
        ("/api/v2/status.json", "status.json"),
        ("/api/v2/components.json", "components.json"),
        ("/api/v2/incidents.json", "incidents.json"),
        (
            "/api/v2/incidents/unresolved.json",
            "incidents-unresolved.json",
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            "scheduled-maintenances.json",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "scheduled-maintenances.json",
        ),
    ] {
        let (_, doc) = get(&app, path).await;
        same_shape(&doc, &fixture(fixture_name), path);
        assert_eq!(doc["page"], summary["page"], "{path}");
    }
    let (_, active) = get(&app, "/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"], json!([]));

    // In its window the maintenance is active and its component under maintenance.
    app.clock.advance(Duration::minutes(61));
    candor_app::maintenance::move_due(&app.core).await.unwrap();
    let (_, active) = get(&app, "/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress");
    let (_, components) = get(&app, "/api/v2/components.json").await;
    let sharepoint = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "SharePoint")
        .unwrap()
        .clone();
    assert_eq!(sharepoint["status"], "under_maintenance");
    let (_, upcoming) = get(&app, "/api/v2/scheduled-maintenances/upcoming.json").await;
    assert_eq!(upcoming["scheduled_maintenances"], json!([]));
}

async fn a_reader_revalidates_with_the_etag(app: TestApp) {
    let (issue, _) = world(&app).await;
    let res = app
        .http()
        .get(app.url("/api/v2/status.json"))
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let again = app
        .http()
        .get(app.url("/api/v2/status.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    // Another change: another tag, and the whole document again.
    let manager = operator(&app, OperatorRole::IncidentManager);
    let id: candor_domain::health::IssueId = candor_app::ids::id(&issue).unwrap();
    candor_app::health::update_issue(
        &app.core,
        &manager,
        None,
        id,
        candor_app::health::UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: Some(candor_app::health::PostInput {
                body_html: "<p>Fixed.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let changed = app
        .http()
        .get(app.url("/api/v2/status.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["status"]["indicator"], "none");
    assert_eq!(body["status"]["description"], "All Systems Operational");
}

async fn the_backup_site_holds_the_same_documents(app: TestApp) {
    world(&app).await;
    let status = candor_app::public::public_status(&app.core).await.unwrap();
    let files = candor_app::status_page::site_files(&status, &app.base).unwrap();
    for doc in [
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ] {
        let (_, bytes) = files
            .iter()
            .find(|(path, _)| *path == format!("api/v2/{doc}"))
            .unwrap_or_else(|| panic!("no api/v2/{doc} in the site"));
        let copy: Value = serde_json::from_slice(bytes).unwrap();
        let (_, live) = get(&app, &format!("/api/v2/{doc}")).await;
        assert_eq!(copy, live, "{doc}: the copy reads as the live API");
    }
}

/// The `statuspage.io` npm client, as published, reads Candor: only the base URL of its
/// HTTP client is pointed at Candor instead of `https://<page>.statuspage.io`.
async fn a_third_party_client_reads_it(app: TestApp) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/statuspage-client");
    let missing = if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        Some("no Node.js on PATH")
    } else if !dir.join("node_modules/statuspage.io").exists() {
        Some("the client is not installed (cd tests/statuspage-client && npm ci)")
    } else {
        None
    };
    if let Some(why) = missing {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the Statuspage client test is required under CI=true: {why}");
        }
        eprintln!("skipping the Statuspage client test: {why}");
        return;
    }
    let (issue, maintenance) = world(&app).await;
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(dir.join("read.mjs"))
            .arg(base)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["status"]["status"]["indicator"], "major");
    assert_eq!(read["summary"]["incidents"][0]["id"], issue.as_str());
    assert_eq!(read["unresolved"]["incidents"][0]["id"], issue.as_str());
    assert_eq!(
        read["incidents"]["incidents"].as_array().unwrap().len(),
        1,
        "only the broad incident"
    );
    assert_eq!(
        read["upcoming"]["scheduled_maintenances"][0]["id"],
        maintenance.as_str()
    );
    assert!(read["components"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "Exchange" && c["status"] == "partial_outage"));
}

crate::both!(
    every_document_has_statuspages_shape_and_the_public_pages_content,
    a_reader_revalidates_with_the_etag,
    the_backup_site_holds_the_same_documents,
    a_third_party_client_reads_it,
);
