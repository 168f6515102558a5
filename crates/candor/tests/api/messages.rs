//! Message Center end to end: the operator API publishes, Graph's `/messages` serves
//! exactly the reached tenants, attachments and the archive come back byte for byte,
//! viewpoints are a person's own, and bad input is refused with a reason.

use std::io::Read;

use base64::Engine;
use candor_domain::identity::{ApiPermission, OperatorRole, TenantRole};
use serde_json::{json, Value};

use crate::common::{spawn_configured, Backend, TestApp};
use crate::graph::same_shape;
use crate::health::place;

const BASE: &str = "/v1.0/admin/serviceAnnouncement";
const CSV: &[u8] = b"mailbox,last sign-in\nadele@contoso.example,2026-10-01\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1,
];

/// A Graph example without its paging link, which appears only when there is another page.
fn fixture(name: &str) -> Value {
    let mut v = crate::graph::fixture(name);
    if let Value::Object(map) = &mut v {
        map.remove("@odata.nextLink");
    }
    v
}

async fn operator_token(app: &TestApp) -> String {
    crate::operator_api::client(app, &[OperatorRole::IncidentManager.as_str()]).await
}

fn message_request() -> Value {
    json!({
        "title": "Basic authentication retires in Exchange Online",
        "content": "<p>Move your apps to modern authentication.</p><script>alert(1)</script>",
        "translations": {"nl": {"title": "Basisverificatie verdwijnt", "content": "<p>Stap over op moderne verificatie.</p>"}},
        "category": "PlanForChange",
        "severity": "high",
        "services": ["Exchange Online"],
        "tags": ["Retirement", "Admin impact"],
        "isMajorChange": true,
        "actionRequiredByDateTime": "2027-03-01T00:00:00Z",
        "details": {"ExternalLink": "https://learn.example.com/basic-auth"},
        "attachments": [
            {"name": "mailboxes.csv", "contentType": "application/csv",
             "contentBase64": base64::engine::general_purpose::STANDARD.encode(CSV)},
            {"name": "timeline.png",
             "contentBase64": base64::engine::general_purpose::STANDARD.encode(PNG)}
        ]
    })
}

async fn publish(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.http()
        .post(app.url("/api/v1/operator/messages"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn graph(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = app
        .http()
        .get(app.url(&format!("{BASE}{path}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn a_message_reaches_exactly_its_tenants_in_graphs_shape(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let res = publish(&app, &op, &message_request()).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("MC"), "{id}");
    assert_eq!(created["reachedTenants"], 1, "only Contoso uses Exchange");
    assert!(!created["content"].as_str().unwrap().contains("script"));
    assert_eq!(created["category"], "planForChange");

    let contoso = app
        .token(app.world.a.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let fabrikam = app
        .token(app.world.b.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let (status, list) = graph(&app, &contoso, "/messages").await;
    assert_eq!(status, 200, "{list}");
    same_shape(&list, &fixture("graph_list_messages.json"), "list");
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (status, one) = graph(&app, &contoso, &format!("/messages/{id}")).await;
    assert_eq!(status, 200);
    same_shape(&one, &fixture("graph_get_message.json"), "message");
    assert_eq!(one["viewPoint"], Value::Null, "apps have no viewpoint");
    assert_eq!(one["services"], json!(["Exchange Online"]));
    assert_eq!(one["hasAttachments"], true);
    assert_eq!(one["severity"], "high");
    assert_eq!(
        one["details"],
        json!([{"name": "ExternalLink", "value": "https://learn.example.com/basic-auth"}])
    );
    assert!(one["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#admin/serviceAnnouncement/messages/$entity"));

    // Fabrikam was not reached: nothing listed, and the message "does not exist".
    let (status, list) = graph(&app, &fabrikam, "/messages").await;
    assert_eq!(status, 200);
    assert_eq!(list["value"], json!([]));
    let (status, err) = graph(&app, &fabrikam, &format!("/messages/{id}")).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "itemNotFound");
    let (status, _) = graph(
        &app,
        &fabrikam,
        &format!("/messages/{id}/attachmentsArchive"),
    )
    .await;
    assert_eq!(status, 404);

    // OData over messages: lambdas over tags and services, $select, $expand, /beta.
    let (_, hit) = graph(
        &app,
        &contoso,
        "/messages?$filter=tags/any(t:t eq 'Retirement') and 'Exchange Online' in services&$select=id,title",
    )
    .await;
    assert_eq!(
        hit["value"],
        json!([{"id": id, "title": "Basic authentication retires in Exchange Online"}])
    );
    let (_, miss) = graph(
        &app,
        &contoso,
        "/messages?$filter=category eq 'stayInformed'",
    )
    .await;
    assert_eq!(miss["value"], json!([]));
    let (_, expanded) = graph(&app, &contoso, "/messages?$expand=attachments").await;
    assert_eq!(
        expanded["value"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, beta) = app_get(
        &app,
        &contoso,
        &format!("/beta/admin/serviceAnnouncement/messages/{id}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(beta["@odata.context"]
        .as_str()
        .unwrap()
        .contains("/beta/$metadata#"));
    let (status, err) = graph(&app, &contoso, "/messages?$expand=posts").await;
    assert_eq!(status, 400, "{err}");

    // A Dutch reader gets the Dutch text.
    let res = app
        .http()
        .get(app.url(&format!("{BASE}/messages/{id}")))
        .bearer_auth(&contoso)
        .header("accept-language", "nl")
        .send()
        .await
        .unwrap();
    let nl: Value = res.json().await.unwrap();
    assert_eq!(nl["title"], "Basisverificatie verdwijnt");
}

async fn app_get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = app
        .http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn attachments_and_the_archive_come_back_byte_for_byte(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let created: Value = publish(&app, &op, &message_request())
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let contoso = app
        .token(app.world.a.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let (status, list) = graph(&app, &contoso, &format!("/messages/{id}/attachments")).await;
    assert_eq!(status, 200);
    same_shape(
        &list,
        &fixture("graph_list_attachments.json"),
        "attachments",
    );
    assert!(list["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with(&format!("messages('{id}')/attachments")));
    let csv = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "mailboxes.csv")
        .unwrap()
        .clone();
    assert_eq!(csv["contentType"], "text/csv");
    assert_eq!(csv["size"], CSV.len());
    let aid = csv["id"].as_str().unwrap();
    let (status, one) = graph(&app, &contoso, &format!("/messages/{id}/attachments/{aid}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "mailboxes.csv");

    let res = app
        .http()
        .get(app.url(&format!("{BASE}/messages/{id}/attachments/{aid}/content")))
        .bearer_auth(&contoso)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), CSV);

    let res = app
        .http()
        .get(app.url(&format!("{BASE}/messages/{id}/attachmentsArchive")))
        .bearer_auth(&contoso)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, vec!["mailboxes.csv", "timeline.png"]);
    let mut png = Vec::new();
    zip.by_name("timeline.png")
        .unwrap()
        .read_to_end(&mut png)
        .unwrap();
    assert_eq!(png, PNG);

    let (status, _) = graph(
        &app,
        &contoso,
        &format!("/messages/{id}/attachments/00000000-0000-0000-0000-000000000000/content"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = graph(
        &app,
        &contoso,
        &format!("/messages/{id}/attachments/not-a-uuid"),
    )
    .await;
    assert_eq!(status, 404);
}

async fn viewpoints_belong_to_the_signed_in_person(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let created: Value = publish(&app, &op, &message_request())
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reader = app
        .world
        .a
        .user(TenantRole::MessageCenterReader)
        .email
        .clone();
    let browser = app.sign_in(&reader, false).await;
    let act = |name: &'static str, ids: Value| {
        let browser = browser.clone();
        let url = app.url(&format!("{BASE}/messages/{name}"));
        async move {
            let res = browser
                .post(url)
                .json(&json!({"messageIds": ids}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        act("markRead", json!([id])).await,
        (200, json!({"value": true}))
    );
    assert_eq!(
        act("microsoft.graph.favorite", json!([id])).await,
        (200, json!({"value": true}))
    );
    assert_eq!(
        act("archive", json!([id])).await,
        (200, json!({"value": true}))
    );
    assert_eq!(
        act("unarchive", json!([id])).await,
        (200, json!({"value": true}))
    );
    let got: Value = browser
        .get(app.url(&format!("{BASE}/messages/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["viewPoint"],
        json!({"isRead": true, "isArchived": false, "isFavorited": true})
    );
    // Unknown or unreached ids: false, and nothing changes.
    assert_eq!(
        act("markUnread", json!([id, "MC999999"])).await,
        (200, json!({"value": false}))
    );
    let got: Value = browser
        .get(app.url(&format!("{BASE}/messages/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["viewPoint"]["isRead"], true);
    // Bad requests say what is wrong.
    let (status, err) = act("delete", json!([id])).await;
    assert_eq!(status, 404, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("markRead"));
    let (status, _) = act("markRead", json!([])).await;
    assert_eq!(status, 400);
    let res = browser
        .post(app.url(&format!("{BASE}/messages/markRead")))
        .header("content-type", "text/plain")
        .body(format!("{{\"messageIds\":[\"{id}\"]}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        401,
        "a session alone does not authorize a non-JSON POST"
    );

    // Another person in the same tenant has their own, untouched viewpoint.
    let admin = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let other = app.sign_in(&admin, false).await;
    let theirs: Value = other
        .get(app.url(&format!("{BASE}/messages/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["viewPoint"],
        json!({"isRead": false, "isArchived": false, "isFavorited": false})
    );

    // Apps may read but never set a viewpoint (delegated only, as in Graph).
    let contoso = app
        .token(app.world.a.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let res = app
        .http()
        .post(app.url(&format!("{BASE}/messages/markRead")))
        .bearer_auth(&contoso)
        .json(&json!({"messageIds": [id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("delegated only"));
}

async fn bad_messages_are_refused_with_a_reason_and_nothing_is_published(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut exe = message_request();
    exe["attachments"] = json!([{"name": "tool.exe", "contentBase64": "TVqQAAMAAAAEAAAA"}]);
    cases.push((exe, "only PDF"));
    let mut lying = message_request();
    lying["attachments"] = json!([{"name": "chart.png", "contentType": "image/png",
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7\n")}]);
    cases.push((lying, "application/pdf"));
    let mut big = message_request();
    big["attachments"] = json!([{"name": "big.txt", "contentType": "text/plain",
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 5 * 1024 * 1024 + 1])}]);
    cases.push((big, "at most 5 MiB"));
    let mut not_b64 = message_request();
    not_b64["attachments"] = json!([{"name": "a.txt", "contentBase64": "***"}]);
    cases.push((not_b64, "not base64"));
    let mut category = message_request();
    category["category"] = json!("gossip");
    cases.push((category, "planForChange"));
    let mut service = message_request();
    service["services"] = json!(["Teams"]);
    cases.push((service, "not in the catalog"));
    let mut no_service = message_request();
    no_service["services"] = json!([]);
    cases.push((no_service, "at least one service"));
    let mut dates = message_request();
    dates["startDateTime"] = json!("2027-01-01T00:00:00Z");
    dates["endDateTime"] = json!("2026-01-01T00:00:00Z");
    cases.push((dates, "end before it starts"));
    let mut region = message_request();
    region["audience"] = json!({"regions": ["mars"]});
    cases.push((region, "mars"));
    let mut unknown = message_request();
    unknown["colour"] = json!("red");
    cases.push((unknown, "colour"));
    for (body, needle) in cases {
        let res = publish(&app, &op, &body).await;
        assert_eq!(res.status(), 400, "expected 400 mentioning {needle}");
        let err: Value = res.json().await.unwrap();
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    let list: Value = app
        .http()
        .get(app.url("/api/v1/operator/messages"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "nothing was published");
}

async fn updates_are_tagged_widen_the_audience_and_creates_are_idempotent(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let mut body = message_request();
    body["attachments"] = json!([]);
    let send = || {
        app.http()
            .post(app.url("/api/v1/operator/messages"))
            .bearer_auth(&op)
            .header("idempotency-key", "mc-basic-auth-1")
            .json(&body)
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let id = first["id"].as_str().unwrap();

    let res = app
        .http()
        .patch(app.url(&format!("/api/v1/operator/messages/{id}")))
        .bearer_auth(&op)
        .json(
            &json!({"severity": "critical", "audience": {"tenants": [app.world.b.id.to_string()]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["tags"][0], "Updated message");
    assert_eq!(updated["newlyReachedTenants"], 1);
    assert_eq!(updated["reachedTenants"], 2);
    let fabrikam = app
        .token(app.world.b.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let (status, seen) = graph(&app, &fabrikam, &format!("/messages/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["severity"], "critical");

    let res = app
        .http()
        .patch(app.url(&format!("/api/v1/operator/messages/{id}")))
        .bearer_auth(&op)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // Only incident managers publish; a Support Engineer is refused.
    let engineer =
        crate::operator_api::client(&app, &[OperatorRole::SupportEngineer.as_str()]).await;
    let res = publish(&app, &engineer, &message_request()).await;
    assert_eq!(res.status(), 403);
    // Tenant apps cannot publish either.
    let tenant_app = app.token(&app.world.a.all).await;
    let res = publish(&app, &tenant_app, &message_request()).await;
    assert_eq!(res.status(), 403);
}

async fn message_center_needs_its_permission(app: TestApp) {
    place(&app).await;
    let health_only = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let (status, err) = graph(&app, &health_only, "/messages").await;
    assert_eq!(status, 403, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ServiceMessage.Read.All"));
    let auditor = app.world.a.user(TenantRole::AuditReader).email.clone();
    let browser = app.sign_in(&auditor, false).await;
    let res = browser
        .get(app.url(&format!("{BASE}/messages")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .http()
        .get(app.url(&format!("{BASE}/messages")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// The console publishes with a file upload; the tenant reads it in the portal, where
/// opening marks it read and the buttons archive and favourite it.
async fn the_portal_publishes_and_shows_messages(app: TestApp) {
    place(&app).await;
    let im = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let console = app.sign_in(&im, true).await;
    let csrf = app.csrf(&console, "/console/messages/new").await;
    let form = |csrf: &str, file: (&'static str, &'static [u8])| {
        reqwest::multipart::Form::new()
            .text("title", "Teams meeting recordings move to OneDrive")
            .text("body", "<p>Recordings will be stored in OneDrive.</p>")
            .text("language", "en")
            .text("category", "planForChange")
            .text("severity", "normal")
            .text("services", "Exchange")
            .text("tags", "Feature update, Admin impact")
            .text("major", "1")
            .text("act_by", "2027-02-01")
            .text("action", "publish")
            .text("translation_title_nl", "Opnames verhuizen naar OneDrive")
            .text("translation_body_nl", "<p>Opnames komen in OneDrive.</p>")
            .part(
                "attachments",
                reqwest::multipart::Part::bytes(file.1.to_vec())
                    .file_name(file.0)
                    .mime_str("application/octet-stream")
                    .unwrap(),
            )
            .text("csrf_unused", csrf.to_owned())
    };
    // Without the token in the action URL the upload is refused.
    let res = console
        .post(app.url("/console/messages/new"))
        .multipart(form(&csrf, ("rollout.csv", CSV)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A refused file type comes back as a form error, nothing published.
    let res = console
        .post(app.url(&format!("/console/messages/new?csrf={csrf}")))
        .multipart(form(&csrf, ("payload.html", b"<script>x</script>")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("payload.html"),
        "the form names the refused file"
    );
    assert!(
        page.contains("Teams meeting recordings"),
        "the typed values are kept"
    );
    let res = console
        .post(app.url(&format!("/console/messages/new?csrf={csrf}")))
        .multipart(form(&csrf, ("rollout.csv", CSV)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/console/messages/MC"), "{location}");
    assert!(location.ends_with("reached=1"), "{location}");
    let id = location
        .trim_start_matches("/console/messages/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let shown = console
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("rollout.csv"));

    // The reader sees it unread, opens it (in Dutch), and it is read.
    let reader = app
        .world
        .a
        .user(TenantRole::MessageCenterReader)
        .email
        .clone();
    let portal = app.sign_in(&reader, false).await;
    let inbox = portal
        .get(app.url("/portal/messages"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inbox.contains(&id));
    assert!(inbox.contains("class=\"unread\""));
    let unread = portal
        .get(app.url("/portal/messages?view=inbox&unread=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(unread.contains(&id));
    let search = |q: &'static str| {
        let portal = portal.clone();
        let url = app.url(&format!("/portal/messages?q={q}"));
        async move { portal.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        search("recordings").await.contains(&id),
        "found by a word of its title"
    );
    assert!(
        !search("sharepoint%20outage").await.contains(&id),
        "not by words it lacks"
    );
    let csrf = app.csrf(&portal, "/portal/messages").await;
    portal
        .post(app.url("/language"))
        .form(&[("csrf", csrf.as_str()), ("lang", "nl"), ("back", "/portal")])
        .send()
        .await
        .unwrap();
    let page = portal
        .get(app.url(&format!("/portal/messages/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Opnames verhuizen naar OneDrive"),
        "Dutch title"
    );
    assert!(page.contains("rollout.csv"));
    let unread = portal
        .get(app.url("/portal/messages?view=inbox&unread=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!unread.contains(&id), "opening marked it read");

    // Download the attachment, then archive and favourite the message.
    let aid = page
        .split(&format!("/portal/messages/{id}/attachments/"))
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let file = portal
        .get(app.url(&format!("/portal/messages/{id}/attachments/{aid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().as_ref(), CSV);
    let csrf = app.csrf(&portal, &format!("/portal/messages/{id}")).await;
    for change in ["archive", "favorite"] {
        let res = portal
            .post(app.url(&format!("/portal/messages/{id}/viewpoint")))
            .form(&[("csrf", csrf.as_str()), ("change", change)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{change}");
    }
    let res = portal
        .post(app.url(&format!("/portal/messages/{id}/viewpoint")))
        .form(&[("change", "archive")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token, no change");
    let inbox = portal
        .get(app.url("/portal/messages"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!inbox.contains(&id), "archived messages leave the inbox");
    let archived = portal
        .get(app.url("/portal/messages?view=archived"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(archived.contains(&id));
    let favorites = portal
        .get(app.url("/portal/messages?view=favorites"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(favorites.contains(&id));

    // Fabrikam's people never see it, not even by its id.
    let other = app
        .world
        .b
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let theirs = app.sign_in(&other, false).await;
    let inbox = theirs
        .get(app.url("/portal/messages"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!inbox.contains(&id));
    let res = theirs
        .get(app.url(&format!("/portal/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = theirs
        .get(app.url(&format!("/portal/messages/{id}/attachments/{aid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // An auditor of Contoso has no Message Center.
    let auditor = app.world.a.user(TenantRole::AuditReader).email.clone();
    let audit_only = app.sign_in(&auditor, false).await;
    let res = audit_only
        .get(app.url("/portal/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

crate::both!(
    the_portal_publishes_and_shows_messages,
    a_message_reaches_exactly_its_tenants_in_graphs_shape,
    attachments_and_the_archive_come_back_byte_for_byte,
    viewpoints_belong_to_the_signed_in_person,
    bad_messages_are_refused_with_a_reason_and_nothing_is_published,
    updates_are_tagged_widen_the_audience_and_creates_are_idempotent,
    message_center_needs_its_permission,
);

/// Graph's per-app-per-tenant limits: the next request gets 429, Graph's error code and
/// a Retry-After; another tenant's app is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_requests_are_throttled_per_app_per_tenant() {
    let app = spawn_configured(Backend::Sqlite, |c| c.graph_requests_per_minute = 3)
        .await
        .unwrap();
    place(&app).await;
    let contoso = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    for _ in 0..3 {
        assert_eq!(graph(&app, &contoso, "/issues").await.0, 200);
    }
    let res = app
        .http()
        .get(app.url(&format!("{BASE}/issues")))
        .bearer_auth(&contoso)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&wait), "{wait}");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "TooManyRequests");
    let fabrikam = app
        .token(app.world.b.app(ApiPermission::ServiceHealthReadAll))
        .await;
    assert_eq!(graph(&app, &fabrikam, "/issues").await.0, 200);
}
