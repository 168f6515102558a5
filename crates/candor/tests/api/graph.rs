//! The Graph-compatible service communications API: the same shapes as Microsoft
//! Graph's documented examples, OData options, paging, and Graph's error body.

use candor_app::health::{self as svc, UpdateInput};
use candor_domain::health::{ScaleUnitId, Scope, ServiceId};
use candor_domain::identity::{ApiPermission, OperatorRole};
use serde_json::Value;

use crate::common::TestApp;
use crate::health::{incident, operator, place};

const BASE: &str = "/v1.0/admin/serviceAnnouncement";

pub(crate) fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/graph")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub(crate) fn same_shape(ours: &Value, theirs: &Value, path: &str) {
    let (Value::Object(ours), Value::Object(theirs)) = (ours, theirs) else {
        return;
    };
    for (k, v) in theirs {
        if k.starts_with("@odata") && path.contains('.') {
            continue;
        }
        let mine = ours
            .get(k)
            .unwrap_or_else(|| panic!("{path}.{k} is missing from Candor's response"));
        match (mine, v) {
            (Value::Object(_), Value::Object(_)) => same_shape(mine, v, &format!("{path}.{k}")),
            (Value::Array(a), Value::Array(b)) => {
                if let (Some(x), Some(y)) = (a.first(), b.first()) {
                    same_shape(x, y, &format!("{path}.{k}[0]"));
                }
            }
            (Value::Null, _) | (_, Value::Null) => {}
            (a, b) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "{path}.{k}: {a} vs {b}"
            ),
        }
    }
}

/// Two Exchange issues affecting Contoso (one resolved), none affecting Fabrikam.
async fn two_issues(app: &TestApp) -> (String, String) {
    place(app).await;
    let im = operator(app, OperatorRole::IncidentManager);
    let scope = Scope {
        scale_units: [ScaleUnitId::parse("eu-west-su1").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (first, _) = svc::create_issue(&app.core, &im, None, incident(scope.clone()))
        .await
        .unwrap();
    let (second, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    svc::update_issue(
        &app.core,
        &im,
        None,
        first.id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: Some(svc::PostInput {
                body_html: "Fixed.".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (first.id.to_string(), second.id.to_string())
}

async fn issues_look_like_graphs_and_honour_odata(app: TestApp) {
    let (resolved, active) = two_issues(&app).await;
    let token = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let get = |path: String| {
        let http = app.http();
        let url = app.url(&path);
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let res = get(format!("{BASE}/issues")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#admin/serviceAnnouncement/issues"));
    let items = body["value"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let one = items.iter().find(|i| i["id"] == active.as_str()).unwrap();
    same_shape(
        one,
        &fixture("graph_get_servicehealthissue.json"),
        "issues.value",
    );
    assert_eq!(
        one["status"], "investigating",
        "camelCase enums on the wire"
    );
    assert_eq!(one["classification"], "incident");
    assert_eq!(one["origin"], "microsoft");
    assert_eq!(one["service"], "Exchange Online");
    assert_eq!(one["isResolved"], false);
    assert_eq!(one["posts"][0]["description"]["contentType"], "html");
    assert!(
        one.as_object().unwrap().contains_key("endDateTime"),
        "nulls are serialized, not omitted"
    );

    let single: Value = get(format!("{BASE}/issues/{active}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(single["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("issues/$entity"));
    assert_eq!(single["id"], active.as_str());
    same_shape(
        &single,
        &fixture("graph_get_servicehealthissue.json"),
        "issue",
    );

    let open: Value = get(format!("{BASE}/issues?$filter=isResolved%20eq%20false"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open["value"].as_array().unwrap().len(), 1);
    assert_eq!(open["value"][0]["id"], active.as_str());
    let by_service: Value = get(format!("{BASE}/issues?$filter=service%20eq%20'Exchange%20Online'%20and%20status%20eq%20'ServiceRestored'")).await.json().await.unwrap();
    assert_eq!(
        by_service["value"][0]["id"],
        resolved.as_str(),
        "enum values in filters ignore case"
    );
    let selected: Value = get(format!(
        "{BASE}/issues?$select=title,status&$orderby=id%20asc&$count=true"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(selected["@odata.count"], 2);
    assert_eq!(selected["value"][0]["id"], resolved.as_str());
    assert_eq!(
        selected["value"][0].as_object().unwrap().len(),
        3,
        "id, title, status"
    );

    // Server-driven paging with $skip, as Graph does.
    let page1 = app
        .http()
        .get(app.url(&format!("{BASE}/issues?$orderby=id")))
        .bearer_auth(&token)
        .header("Prefer", "odata.maxpagesize=1")
        .send()
        .await
        .unwrap();
    let page1: Value = page1.json().await.unwrap();
    assert_eq!(page1["value"].as_array().unwrap().len(), 1);
    let next = page1["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("%24skip=1") || next.contains("$skip=1"),
        "{next}"
    );
    let next_path = next.trim_start_matches(&app.base).to_owned();
    let page2: Value = app
        .http()
        .get(app.url(&next_path))
        .bearer_auth(&token)
        .header("Prefer", "odata.maxpagesize=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["value"][0]["id"], active.as_str());
    assert!(page2.get("@odata.nextLink").is_none());

    for (q, needle) in [
        ("$filter=nope%20eq%201", "Invalid filter clause"),
        ("$top=lots", "$top"),
        ("$orderby=id%20sideways", "orderby"),
        ("$search=mail", "not supported"),
    ] {
        let res = get(format!("{BASE}/issues?{q}")).await;
        assert_eq!(res.status(), 400, "{q}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalidRequest");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{q}: {body}"
        );
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
}

async fn overviews_show_each_service_the_tenant_uses(app: TestApp) {
    let (_, active) = two_issues(&app).await;
    let token = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let body: Value = app
        .http()
        .get(app.url(&format!("{BASE}/healthOverviews")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = fixture("graph_list_healthoverviews.json");
    same_shape(
        &body["value"][0],
        &expected["value"][0],
        "healthOverviews.value",
    );
    let exchange = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "Exchange")
        .unwrap();
    assert_eq!(exchange["status"], "investigating");
    assert!(exchange.get("issues").is_none());

    let expanded: Value = app
        .http()
        .get(app.url(&format!("{BASE}/healthOverviews?$expand=issues")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(expanded["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("healthOverviews(issues())"));
    let exchange = expanded["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "Exchange")
        .unwrap();
    assert_eq!(exchange["issues"].as_array().unwrap().len(), 2);

    // By display name (as the docs do) or by id.
    for key in ["Exchange%20Online", "Exchange"] {
        let one: Value = app
            .http()
            .get(app.url(&format!("{BASE}/healthOverviews/{key}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["id"], "Exchange", "{key}");
    }
    let res = app
        .http()
        .get(app.url(&format!("{BASE}/healthOverviews/Exchange/issues")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "UnknownError"
    );

    // Fabrikam sees SharePoint healthy and cannot read Contoso's issue.
    let other = app
        .token(app.world.b.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let body: Value = app
        .http()
        .get(app.url(&format!("{BASE}/healthOverviews")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["status"] == "serviceOperational"),
        "{body}"
    );
    let res = app
        .http()
        .get(app.url(&format!("{BASE}/issues/{active}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let err: Value = res.json().await.unwrap();
    same_shape(&err, &fixture("graph_error_doc_example.json"), "error");
    assert_eq!(err["error"]["code"], "itemNotFound");
    let listed: Value = app
        .http()
        .get(app.url(&format!("{BASE}/issues")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["value"].as_array().unwrap().is_empty());
    let _ = ServiceId::parse("Exchange");
}

async fn the_graph_api_refuses_callers_without_service_health_access(app: TestApp) {
    two_issues(&app).await;
    let url = app.url(&format!("{BASE}/issues"));
    let res = app.http().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "InvalidAuthenticationToken"
    );
    let token = app
        .token(app.world.a.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let res = app
        .http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "accessDenied");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ServiceHealth.Read.All"));
    let ops = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let res = ops.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 403, "operators have no tenant view");
    let reader = app
        .sign_in(
            &app.world
                .a
                .user(candor_domain::identity::TenantRole::AuditReader)
                .email,
            false,
        )
        .await;
    assert_eq!(reader.get(&url).send().await.unwrap().status(), 403);
    let admin = app
        .sign_in(
            &app.world
                .a
                .user(candor_domain::identity::TenantRole::ServiceSupportAdministrator)
                .email,
            false,
        )
        .await;
    assert_eq!(
        admin.get(&url).send().await.unwrap().status(),
        200,
        "a signed-in admin's browser can read it too"
    );
}

crate::both!(
    issues_look_like_graphs_and_honour_odata,
    overviews_show_each_service_the_tenant_uses,
    the_graph_api_refuses_callers_without_service_health_access,
);
