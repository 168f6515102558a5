//! Alert intake: a real Alertmanager payload (firing, repeated, resolved; malformed)
//! opens one draft issue per fingerprint, with its impact preview, and tells the
//! incident managers; nobody else hears of it until an incident manager publishes it
//! with one action. The AlertSource role can do nothing else.

use candor_app::identity::create_operator_client;
use candor_domain::identity::Actor;
use serde_json::{json, Value};

use crate::common::{App, Mailroom, TestApp};
use crate::health::place;
use crate::lockbox_api::read_mail;

async fn operator_token(app: &TestApp, role: &str) -> String {
    let (c, secret) = create_operator_client(&app.core, &Actor::System, None, role, &[role.into()])
        .await
        .unwrap();
    app.token(&App {
        client_id: c.id.to_string(),
        secret,
    })
    .await
}

/// As Alertmanager 0.27 posts it to a webhook receiver.
fn alertmanager(status: &str) -> Value {
    json!({
        "receiver": "candor",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "MailboxLatencyHigh", "candor_service": "Exchange",
                       "candor_scale_unit": "eu-west-su1", "severity": "page"},
            "annotations": {"summary": "Mailbox access is slow in eu-west-su1",
                            "description": "Users may wait for mail to open."},
            "startsAt": "2026-11-22T08:58:00Z",
            "endsAt": if status == "resolved" { "2026-11-22T09:30:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
            "fingerprint": "c9f6a4e0d1b2a3f4"
        }],
        "groupLabels": {"alertname": "MailboxLatencyHigh"},
        "commonLabels": {"alertname": "MailboxLatencyHigh"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"MailboxLatencyHigh\"}",
        "truncatedAlerts": 0
    })
}

async fn monitoring_drafts_incidents_that_a_person_publishes(app: TestApp) {
    place(&app).await;
    let source = operator_token(&app, "AlertSource").await;
    let manager = operator_token(&app, "IncidentManager").await;
    let http = app.http();
    let post = |path: &str, body: Value, token: &str| {
        let req = http.post(app.url(path)).bearer_auth(token).json(&body);
        async move { req.send().await.unwrap() }
    };

    // Firing: a draft, with its reach, and nobody but the incident managers told.
    let res = post(
        "/api/v1/alerts/alertmanager",
        alertmanager("firing"),
        &source,
    )
    .await;
    let status = res.status();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["alerts"][0]["outcome"], "opened");
    let draft_id = answer["alerts"][0]["draftId"].as_str().unwrap().to_owned();
    let outbox = tempfile::tempdir().unwrap();
    let mailroom = Mailroom::new(app.core.clone(), outbox.path(), &app.base);
    mailroom.run().await;
    let mail = read_mail(outbox.path());
    let told: Vec<&str> = mail
        .iter()
        .filter(|(_, s, _)| {
            s == "Draft issue from monitoring: Mailbox access is slow in eu-west-su1"
        })
        .map(|(to, _, _)| to.as_str())
        .collect();
    assert_eq!(told, ["incidentmanager@provider.example"], "{mail:?}");
    for tenant in [app.world.a.id, app.world.b.id] {
        let log = app
            .core
            .store
            .tenant_deliveries(tenant, None, 50)
            .await
            .unwrap();
        assert!(log.is_empty(), "no tenant hears of a draft");
    }

    // Repeated: the same draft. Resolved: noted on it.
    let res = post(
        "/api/v1/alerts/alertmanager",
        alertmanager("firing"),
        &source,
    )
    .await;
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["alerts"][0]["outcome"], "updated");
    assert_eq!(again["alerts"][0]["draftId"], draft_id);
    let res = post(
        "/api/v1/alerts/alertmanager",
        alertmanager("resolved"),
        &source,
    )
    .await;
    assert_eq!(res.status(), 202);
    let draft: Value = http
        .get(app.url(&format!("/api/v1/operator/drafts/{draft_id}")))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(draft["firing"], false);
    assert_eq!(
        draft["affectedTenants"], 1,
        "Contoso alone has a mailbox there"
    );
    assert_eq!(draft["title"], "Mailbox access is slow in eu-west-su1");
    let notes: Vec<&str> = draft["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("firing since")),
        "{notes:?}"
    );
    assert_eq!(notes.last(), Some(&"resolved"));
    let listed: Value = http
        .get(app.url("/api/v1/operator/drafts"))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Malformed payloads: a clear 400 naming each problem, and nothing drafted.
    for (body, says) in [
        (
            json!({"version": "3", "status": "firing", "alerts": []}),
            "version",
        ),
        (
            {
                let mut p = alertmanager("firing");
                p["alerts"][0]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("candor_service");
                p
            },
            "alert 1: labels",
        ),
        (
            {
                let mut p = alertmanager("firing");
                p["alerts"][0]["labels"]["candor_region"] = json!("Europe West!");
                p
            },
            "alert 1: region",
        ),
        (json!({"alerts": "many"}), "not valid"),
    ] {
        let res = post("/api/v1/alerts/alertmanager", body, &source).await;
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    let res = post(
        "/api/v1/alerts/generic",
        json!({"fingerprint": "x", "status": "firing", "service": "Nope", "title": "t"}),
        &source,
    )
    .await;
    assert_eq!(res.status(), 400, "an unknown service");

    // The alert source can do nothing else; the manager cannot send alerts.
    let declared = post(
        "/api/v1/operator/issues",
        json!({"service": "Exchange", "classification": "incident", "title": "t",
               "impactDescription": "i", "scope": {}, "post": {"content": "<p>x</p>"}}),
        &source,
    )
    .await;
    assert_eq!(declared.status(), 403);
    let res = http
        .get(app.url("/api/v1/operator/drafts"))
        .bearer_auth(&source)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = post(
        "/api/v1/alerts/alertmanager",
        alertmanager("firing"),
        &manager,
    )
    .await;
    assert_eq!(res.status(), 403);

    // One action publishes it: an issue with an owner, told to the reached tenants.
    let res = post(
        &format!("/api/v1/operator/drafts/{draft_id}/publish"),
        json!({}),
        &manager,
    )
    .await;
    assert_eq!(res.status(), 201);
    let issue: Value = res.json().await.unwrap();
    assert_eq!(issue["affectedTenants"], 1);
    assert_eq!(issue["title"], "Mailbox access is slow in eu-west-su1");
    assert_eq!(
        issue["owner"],
        app.world
            .operator(candor_domain::identity::OperatorRole::IncidentManager)
            .id,
        "the one on duty owns what a client publishes"
    );
    let again = post(
        &format!("/api/v1/operator/drafts/{draft_id}/publish"),
        json!({}),
        &manager,
    )
    .await;
    assert_eq!(again.status(), 409);
    let draft: Value = http
        .get(app.url(&format!("/api/v1/operator/drafts/{draft_id}")))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(draft["issue"], issue["id"]);

    // A firing alert after publication opens a fresh draft.
    let res = post(
        "/api/v1/alerts/alertmanager",
        alertmanager("firing"),
        &source,
    )
    .await;
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(fresh["alerts"][0]["outcome"], "opened");
    assert_ne!(fresh["alerts"][0]["draftId"], draft_id);
    // The console's one action does the same for a person, who then owns the issue.
    let console = app
        .sign_in(
            &app.world
                .operator(candor_domain::identity::OperatorRole::IncidentManager)
                .email,
            true,
        )
        .await;
    let page = console
        .get(app.url("/console/drafts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fresh_id = fresh["alerts"][0]["draftId"].as_str().unwrap();
    assert!(
        page.contains(&format!("/console/drafts/{fresh_id}/publish")),
        "{page}"
    );
    let csrf = crate::common::csrf_of(&page);
    let res = console
        .post(app.url(&format!("/console/drafts/{fresh_id}/publish")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/console/issues/"), "{to}");
    let generic = post(
        "/api/v1/alerts/generic",
        json!({"fingerprint": "db-latency", "status": "firing", "service": "Exchange Online",
               "title": "Slow mailboxes", "regions": ["eu-west"]}),
        &source,
    )
    .await;
    assert_eq!(generic.status(), 202);
    assert_eq!(
        generic.json::<Value>().await.unwrap()["alerts"][0]["outcome"],
        "opened"
    );
}

crate::both!(monitoring_drafts_incidents_that_a_person_publishes);
