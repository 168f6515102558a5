//! The operator API, for monitoring systems: machine credentials with operator roles,
//! JSON in and out, and Idempotency-Key making retried writes safe.

use candor_app::identity::create_operator_client;
use candor_domain::identity::{Actor, ApiPermission};
use serde_json::{json, Value};

use crate::common::{App, TestApp};
use crate::health::place;

pub(crate) async fn client(app: &TestApp, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let privileged = roles.iter().any(|r| r == "ProviderAdmin");
    let (c, secret) = if privileged {
        candor_app::identity::create_break_glass_operator_client(
            &app.core,
            &Actor::System,
            None,
            "Topology sync",
            &roles,
        )
        .await
        .unwrap()
    } else {
        create_operator_client(&app.core, &Actor::System, None, "Monitoring", &roles)
            .await
            .unwrap()
    };
    app.token(&App {
        client_id: c.id.to_string(),
        secret,
    })
    .await
}

fn new_issue() -> Value {
    json!({
        "service": "Exchange Online",
        "classification": "incident",
        "title": "Mail flow is delayed",
        "impactDescription": "Inbound mail may be delayed.",
        "scope": {"scaleUnits": ["eu-west-su1"]},
        "post": {"content": "<p>Investigating.</p>", "translations": {"nl": "<p>We onderzoeken het.</p>"}}
    })
}

async fn monitoring_declares_issues_once_per_idempotency_key(app: TestApp) {
    place(&app).await;
    let token = client(&app, &["IncidentManager"]).await;
    let post = |body: Value, key: Option<&'static str>| {
        let mut req = app
            .http()
            .post(app.url("/api/v1/operator/issues"))
            .bearer_auth(&token)
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        async move { req.send().await.unwrap() }
    };
    let first = post(new_issue(), Some("alert-4711")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["affectedTenants"], 1);
    assert_eq!(first["status"], "investigating");
    assert_eq!(
        first["posts"][0]["translations"]["nl"],
        "<p>We onderzoeken het.</p>"
    );
    let retry = post(new_issue(), Some("alert-4711")).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        retry["id"], first["id"],
        "the retry returns the first answer"
    );
    let mut other = new_issue();
    other["title"] = json!("Something else");
    let clash = post(other, Some("alert-4711")).await;
    assert_eq!(clash.status(), 409);
    let listed: Vec<Value> = app
        .http()
        .get(app.url("/api/v1/operator/issues"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one issue, however often it was retried");
    assert_eq!(listed[0]["overdue"], false);
    assert!(listed[0]["overdueSince"].is_null());
    // An hour and a minute without an update: the API says it is overdue, and since when.
    let before = candor_domain::clock::Clock::now(app.clock.as_ref());
    app.clock.advance(time::Duration::minutes(61));
    let fresh = client(&app, &["IncidentManager"]).await;
    let listed: Vec<Value> = app
        .http()
        .get(app.url("/api/v1/operator/issues"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["overdue"], true, "{}", listed[0]);
    assert_eq!(listed[0]["overdueSince"], listed[0]["nextUpdateDue"]);
    app.clock.set(before);

    // A refused request frees its key for a corrected retry.
    let mut bad = new_issue();
    bad["scope"] = json!({"components": ["nowhere-1"]});
    let res = post(bad, Some("alert-4712")).await;
    assert_eq!(res.status(), 400);
    assert_eq!(post(new_issue(), Some("alert-4712")).await.status(), 201);

    // Updates, scope and reopen through the same API.
    let id = first["id"].as_str().unwrap();
    let res = app
        .http()
        .post(app.url(&format!("/api/v1/operator/issues/{id}/posts")))
        .bearer_auth(&token)
        .json(&json!({"status": "serviceRestored", "post": {"content": "Fixed."}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let fixed: Value = res.json().await.unwrap();
    assert_eq!(fixed["isResolved"], true);
    assert!(fixed["nextUpdateDue"].is_null());
    let res = app
        .http()
        .post(app.url(&format!("/api/v1/operator/issues/{id}/posts")))
        .bearer_auth(&token)
        .json(&json!({"status": "investigating", "post": {"content": "Back?"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = app
        .http()
        .post(app.url(&format!("/api/v1/operator/issues/{id}/reopen")))
        .bearer_auth(&token)
        .json(&json!({"post": {"content": "It is back."}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http()
        .put(app.url(&format!("/api/v1/operator/issues/{id}/scope")))
        .bearer_auth(&token)
        .json(&json!({"services": ["Exchange", "SharePoint"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let widened: Value = res.json().await.unwrap();
    assert_eq!(widened["newlyAffectedTenants"], 1);
    assert_eq!(widened["affectedTenants"], 2);
    let preview: Value = app
        .http()
        .post(app.url("/api/v1/operator/impact-preview"))
        .bearer_auth(&token)
        .json(&json!({"service": "SharePoint", "scope": {"regions": ["eu-west"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(preview["total"], 1);
    assert_eq!(preview["byRegion"]["eu-west"], 1);
    let one: Value = app
        .http()
        .get(app.url(&format!("/api/v1/operator/issues/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["posts"].as_array().unwrap().len(), 3);

    // Audited under the client's name.
    let log = app
        .core
        .store
        .audit_chain_records("operator", 0, 10_000)
        .await
        .unwrap();
    assert!(log
        .iter()
        .any(|r| r.activity == "New-ServiceHealthIssue" && r.actor.starts_with("svc:")));
}

async fn the_operator_api_refuses_bad_input_and_the_wrong_callers(app: TestApp) {
    place(&app).await;
    let url = app.url("/api/v1/operator/issues");
    assert_eq!(
        app.http()
            .post(&url)
            .json(&new_issue())
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let tenant_app = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let res = app
        .http()
        .post(&url)
        .bearer_auth(&tenant_app)
        .json(&new_issue())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "wrong_realm"
    );
    let admin = client(&app, &["ProviderAdmin"]).await;
    let res = app
        .http()
        .post(&url)
        .bearer_auth(&admin)
        .json(&new_issue())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("IncidentManager"));
    // A console session cannot drive the operator API's writes (no CSRF through cookies).
    let browser = app
        .sign_in(
            &app.world
                .operator(candor_domain::identity::OperatorRole::IncidentManager)
                .email,
            true,
        )
        .await;
    assert_eq!(
        browser
            .post(&url)
            .json(&new_issue())
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let token = client(&app, &["IncidentManager"]).await;
    let send = |body: String, ct: &'static str| {
        let req = app
            .http()
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body);
        async move { req.send().await.unwrap() }
    };
    for (body, ct, needle) in [
        ("{not json".to_owned(), "application/json", "not valid"),
        (new_issue().to_string(), "text/plain", "JSON"),
        (
            json!({"service": "Exchange"}).to_string(),
            "application/json",
            "missing field",
        ),
        (
            {
                let mut b = new_issue();
                b["surprise"] = json!(1);
                b.to_string()
            },
            "application/json",
            "surprise",
        ),
        (
            {
                let mut b = new_issue();
                b["scope"] = json!({"zones": ["x"]});
                b.to_string()
            },
            "application/json",
            "zones",
        ),
        (
            {
                let mut b = new_issue();
                b["classification"] = json!("outage");
                b.to_string()
            },
            "application/json",
            "outage",
        ),
        (
            {
                let mut b = new_issue();
                b["cadenceMinutes"] = json!(1);
                b.to_string()
            },
            "application/json",
            "15 minutes",
        ),
    ] {
        let res = send(body, ct).await;
        assert_eq!(res.status(), 400, "{needle}");
        let err: Value = res.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {err}"
        );
    }
    let res = app
        .http()
        .get(app.url("/api/v1/operator/issues/EX999999"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let openapi: Value = app
        .http()
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/api/v1/operator/issues"]["post"].is_object());
}

/// Tooling drafts and publishes the post-incident review; tenants then download it.
async fn reviews_are_drafted_and_published_through_the_api(app: TestApp) {
    place(&app).await;
    let token = client(&app, &["IncidentManager"]).await;
    let http = app.http();
    let created: Value = http
        .post(app.url("/api/v1/operator/issues"))
        .bearer_auth(&token)
        .json(&new_issue())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let put = |body: Value| {
        http.put(app.url(&format!("/api/v1/operator/issues/{id}/review")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let publish = || {
        http.post(app.url(&format!("/api/v1/operator/issues/{id}/review/publish")))
            .bearer_auth(&token)
            .send()
    };
    let mut review = json!({
        "userImpact": "<p>Mail was delayed by up to 40 minutes.</p>",
        "scopeOfImpact": "Tenants on eu-west-su1.",
        "rootCause": "",
        "actionsTaken": "Rolled back the configuration.",
        "nextSteps": "Add a canary stage."
    });
    assert_eq!(put(review.clone()).await.unwrap().status(), 200);
    let res = publish().await.unwrap();
    assert_eq!(res.status(), 400, "an empty section cannot be published");
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("root cause"));
    review["rootCause"] = json!("A configuration change throttled the transport queue.");
    assert_eq!(put(review.clone()).await.unwrap().status(), 200);
    let res = publish().await.unwrap();
    assert_eq!(
        res.status(),
        409,
        "an active issue is resolved before its review"
    );
    let res = http
        .post(app.url(&format!("/api/v1/operator/issues/{id}/posts")))
        .bearer_auth(&token)
        .json(&json!({"status": "serviceRestored", "post": {"content": "Mail flows normally."}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = publish().await.unwrap();
    assert_eq!(res.status(), 200);
    let published: Value = res.json().await.unwrap();
    assert!(published["publishedDateTime"].is_string());
    assert_eq!(
        put(review).await.unwrap().status(),
        409,
        "published reviews are final"
    );
    let reader = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let res = http
        .get(app.url(&format!(
            "/v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport"
        )))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("throttled the transport queue"));
    let bad = http
        .put(app.url(&format!("/api/v1/operator/issues/{id}/review")))
        .bearer_auth(&token)
        .json(&json!({"userImpact": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

crate::both!(
    monitoring_declares_issues_once_per_idempotency_key,
    the_operator_api_refuses_bad_input_and_the_wrong_callers,
    reviews_are_drafted_and_published_through_the_api,
);
