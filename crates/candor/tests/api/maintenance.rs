//! Planned maintenance end to end, on the controlled clock: an Incident Manager previews
//! and schedules it through the operator API; it moves on its own (reminder, start, end),
//! is extended and cancelled by hand; each notice reaches exactly the placed tenants'
//! subscribers by email; the tenant lists it and reads its calendar behind its feed link;
//! the public calendar holds only broad maintenance; bad input is refused with a reason.

use candor_app::maintenance::move_due;
use candor_domain::audit::{AuditChain, AuditQuery};
use candor_domain::health::Topic;
use candor_domain::identity::{Actor, ApiPermission, OperatorRole, TenantRole};
use candor_domain::language::Language;
use serde_json::{json, Value};
use time::Duration;

use crate::common::{Mailroom, TestApp};
use crate::health::place;
use crate::lockbox_api::read_mail;

async fn operator_token(app: &TestApp) -> String {
    crate::operator_api::client(app, &[OperatorRole::IncidentManager.as_str()]).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app
        .http()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = app
        .http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn rfc(t: time::OffsetDateTime) -> String {
    candor_domain::time_util::rfc3339(t)
}

async fn subscribe(app: &TestApp, tenant: candor_domain::TenantId, email: &str) {
    candor_app::contacts::add(
        &app.core,
        &Actor::System,
        None,
        tenant,
        candor_app::contacts::ContactInput {
            email: email.into(),
            language: Language::English,
            topics: [Topic::PlannedMaintenance].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap();
}

/// Subjects of the mail `to` received since the last call (the outbox is emptied).
fn mail_to(outbox: &std::path::Path, to: &str) -> Vec<String> {
    let mail = read_mail(outbox);
    for entry in std::fs::read_dir(outbox).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    mail.into_iter()
        .filter(|(addr, _, _)| addr == to)
        .map(|(_, subject, _)| subject)
        .collect()
}

async fn a_maintenance_moves_on_its_own_and_tells_only_its_tenants(app: TestApp) {
    place(&app).await;
    subscribe(&app, app.world.a.id, "ops@contoso.example").await;
    subscribe(&app, app.world.b.id, "ops@fabrikam.example").await;
    let op = operator_token(&app).await;
    let outbox = tempfile::tempdir().unwrap();
    let mailroom = Mailroom::new(app.core.clone(), outbox.path(), &app.base);
    let now = candor_domain::clock::Clock::now(app.clock.as_ref());

    // The preview counts who it would reach: only Contoso is on Exchange.
    let (status, preview) = post(
        &app,
        &op,
        "/api/v1/operator/maintenances/impact-preview",
        json!({"services": ["Exchange Online"]}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["total"], 1, "{preview}");

    let request = json!({
        "services": ["Exchange Online"],
        "text": {
            "en": {"title": "Mailbox database upgrade", "description": "Mail may be slow while databases move."},
            "nl": {"title": "Upgrade van mailboxdatabases", "description": "E-mail kan traag zijn."}
        },
        "startDateTime": rfc(now + Duration::hours(3)),
        "endDateTime": rfc(now + Duration::hours(5)),
        "expectedImpact": "degraded"
    });
    let (status, created) = post(&app, &op, "/api/v1/operator/maintenances", request).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("MN"), "{id}");
    assert_eq!(created["state"], "scheduled");
    assert_eq!(created["tenantsReached"], 1);
    assert_eq!(created["isBroad"], true);
    assert_eq!(created["reminderMinutes"], 60);
    assert_eq!(created["notices"], json!(["scheduled"]));
    let message_id = created["messageId"].as_str().unwrap().to_owned();

    mailroom.run().await;
    let contoso = mail_to(outbox.path(), "ops@contoso.example");
    assert_eq!(contoso.len(), 1, "{contoso:?}");
    assert!(
        contoso[0].contains("Planned maintenance scheduled: Mailbox database upgrade"),
        "{contoso:?}"
    );
    assert!(mail_to(outbox.path(), "ops@fabrikam.example").is_empty());

    // The tenant's API and Graph's Message Center show it to Contoso only.
    let contoso_app = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let fabrikam_app = app
        .token(app.world.b.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let (status, list) = get(&app, &contoso_app, "/api/v1/maintenances").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert!(
        list[0].get("scope").is_none(),
        "the scope is the operator's"
    );
    let (_, list) = get(&app, &fabrikam_app, "/api/v1/maintenances").await;
    // The same as a calendar, for a client that sends the token.
    for (token, sees) in [(&contoso_app, true), (&fabrikam_app, false)] {
        let res = app
            .http()
            .get(app.url("/api/v1/maintenances.ics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar"));
        let ics = res.text().await.unwrap();
        assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
        assert_eq!(ics.contains(&format!("UID:{id}@candor")), sees, "{ics}");
    }
    assert_eq!(list, json!([]));
    let messages_app = app
        .token(app.world.a.app(ApiPermission::ServiceMessageReadAll))
        .await;
    let (status, message) = get(
        &app,
        &messages_app,
        &format!("/v1.0/admin/serviceAnnouncement/messages/{message_id}"),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["category"], "planForChange");
    assert!(
        message["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "Planned maintenance"),
        "{message}"
    );

    // Nothing moves before the reminder; the reminder once; the start at the start.
    app.clock.set(now + Duration::minutes(90));
    assert_eq!(move_due(&app.core).await.unwrap(), 0);
    app.clock.set(now + Duration::hours(2));
    assert_eq!(move_due(&app.core).await.unwrap(), 1);
    assert_eq!(move_due(&app.core).await.unwrap(), 0, "told once");
    mailroom.run().await;
    let told = mail_to(outbox.path(), "ops@contoso.example");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("starts soon"), "{told:?}");

    app.clock.set(now + Duration::hours(3));
    assert_eq!(move_due(&app.core).await.unwrap(), 1);
    // Tokens live an hour on the test clock too.
    let op = operator_token(&app).await;
    let (_, m) = get(&app, &op, &format!("/api/v1/operator/maintenances/{id}")).await;
    assert_eq!(m["state"], "inProgress", "{m}");
    assert_eq!(m["startedDateTime"], rfc(now + Duration::hours(3)));
    // The public page (the scope is broad) shows the service under maintenance, and
    // the maintenance itself; the machine-readable status says so too.
    let page = app
        .http()
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Under maintenance"), "{page}");
    assert!(page.contains("Mailbox database upgrade"), "{page}");
    let status = candor_app::public::public_status(&app.core).await.unwrap();
    let json = candor_app::status_page::status_json(&status);
    let exchange = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "Exchange")
        .unwrap();
    assert_eq!(exchange["underMaintenance"], true, "{exchange}");
    assert_eq!(json["maintenances"][0]["state"], "inProgress");
    // So does Contoso's dashboard; Fabrikam's knows nothing of it.
    for (tenant, sees) in [(&app.world.a, true), (&app.world.b, false)] {
        let browser = app
            .sign_in(&tenant.user(TenantRole::GlobalAdministrator).email, false)
            .await;
        let html = browser
            .get(app.url("/portal/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(html.contains("Under maintenance"), sees, "{html}");
        assert_eq!(html.contains("Mailbox database upgrade"), sees, "{html}");
    }
    // Graph's healthOverviews say so with an instance annotation.
    let graph = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let (status, overviews) = get(
        &app,
        &graph,
        "/v1.0/admin/serviceAnnouncement/healthOverviews",
    )
    .await;
    assert_eq!(status, 200, "{overviews}");
    let exchange = overviews["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "Exchange")
        .unwrap();
    assert_eq!(exchange["@candor.underMaintenance"], true, "{exchange}");
    assert_eq!(exchange["status"], "serviceOperational");
    // The public Atom feed has an entry for it.
    let feed = app
        .http()
        .get(app.url("/feeds/status.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let feed = feed_rs::parser::parse(feed.as_bytes()).unwrap();
    let entry = feed
        .entries
        .iter()
        .find(|e| e.id == format!("urn:candor:maintenance:{id}"))
        .unwrap_or_else(|| panic!("no entry for {id}: {feed:?}"));
    let title = entry.title.as_ref().unwrap().content.clone();
    assert!(title.contains("Mailbox database upgrade"), "{title}");
    assert!(title.contains("in progress"), "{title}");

    // Extended by hand while it runs; it then ends at the new end.
    let (status, extended) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "extend", "endDateTime": rfc(now + Duration::hours(6))}),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["endDateTime"], rfc(now + Duration::hours(6)));
    // An extension that does not move the end later is refused, with the reason.
    let (status, refused) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "extend", "endDateTime": rfc(now + Duration::hours(4))}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("later"), "{refused}");

    app.clock
        .set(now + Duration::hours(5) + Duration::minutes(30));
    assert_eq!(move_due(&app.core).await.unwrap(), 0, "not over yet");
    app.clock.set(now + Duration::hours(6));
    assert_eq!(move_due(&app.core).await.unwrap(), 1);
    let op = operator_token(&app).await;
    mailroom.run().await;
    let told = mail_to(outbox.path(), "ops@contoso.example");
    assert_eq!(told.len(), 3, "{told:?}");
    for words in ["started", "extended", "completed"] {
        assert!(told.iter().any(|s| s.contains(words)), "{words}: {told:?}");
    }
    assert!(mail_to(outbox.path(), "ops@fabrikam.example").is_empty());
    // Its three hours are on today's bar as maintenance, which availability ignores.
    let status = candor_app::public::public_status(&app.core).await.unwrap();
    let exchange = status
        .services
        .iter()
        .find(|s| s.service.id.as_str() == "Exchange")
        .unwrap();
    let today = exchange.history.last().unwrap();
    assert_eq!(today.maintenance_minutes, 180, "{today:?}");
    assert_eq!((today.outage_minutes, today.degraded_minutes), (0, 0));
    assert!(!exchange.under_maintenance);
    assert!(
        candor_domain::health::availability::monthly(&exchange.history)
            .iter()
            .all(|(_, _, percent)| *percent >= 100.0)
    );

    // Over: no change is possible any more.
    let (status, over) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "cancel"}),
    )
    .await;
    assert_eq!(status, 409, "{over}");

    // The tenant's calendar, behind its feed link; a revoked link answers 404.
    let link =
        candor_app::feeds::create_link(&app.core, &Actor::System, None, app.world.a.id, "Calendar")
            .await
            .unwrap();
    let res = app
        .http()
        .get(app.url(&format!("/feeds/tenants/{}/maintenance.ics", link.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let ics = res.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(ics.contains(&format!("UID:{id}@candor")), "{ics}");
    assert!(ics.contains("SUMMARY:Mailbox database upgrade"), "{ics}");
    let start = (now + Duration::hours(3)).format(&time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ));
    assert!(
        ics.contains(&format!("DTSTART:{}", start.unwrap())),
        "{ics}"
    );
    candor_app::feeds::revoke_link(
        &app.core,
        &Actor::System,
        None,
        app.world.a.id,
        candor_app::ids::FeedLinkId(link.link.id),
    )
    .await
    .unwrap();
    let res = app
        .http()
        .get(app.url(&format!("/feeds/tenants/{}/maintenance.ics", link.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // A maintenance for one named tenant is private: not on the public calendar.
    let (status, private) = post(
        &app,
        &op,
        "/api/v1/operator/maintenances",
        json!({
            "services": ["SharePoint Online"],
            "scope": {"tenants": [app.world.b.id.to_string()]},
            "text": {"en": {"title": "Fabrikam site move", "description": "Sites are read-only."}},
            "startDateTime": rfc(now + Duration::days(2)),
            "endDateTime": rfc(now + Duration::days(2) + Duration::hours(1)),
            "expectedImpact": "unavailable",
            "reminderMinutes": 0
        }),
    )
    .await;
    assert_eq!(status, 201, "{private}");
    assert_eq!(private["isBroad"], false);
    let public = app
        .http()
        .get(app.url("/feeds/maintenance.ics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains(&format!("UID:{id}@candor")), "{public}");
    assert!(!public.contains("Fabrikam site move"), "{public}");
    let private_id = private["id"].as_str().unwrap();
    let (status, cancelled) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{private_id}/changes"),
        json!({"change": "cancel"}),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    mailroom.run().await;
    let told = mail_to(outbox.path(), "ops@fabrikam.example");
    assert_eq!(told.len(), 2, "scheduled and cancelled: {told:?}");
    assert!(mail_to(outbox.path(), "ops@contoso.example").is_empty());

    // The CLI lists them from the database (PostgreSQL: another process may open it).
    if let crate::common::DbGuard::Postgres(db) = &app.db {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
            .args(["maintenance", "list", "--database-url", &db.url, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines
            .iter()
            .any(|l| l["id"] == id.as_str() && l["state"] == "completed"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
            .args([
                "maintenance",
                "list",
                "--database-url",
                &db.url,
                "--state",
                "cancelled",
            ])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            table.contains("Fabrikam site move") && !table.contains(&id),
            "{table}"
        );
    }

    // Every step is in the operator realm's audit log.
    let records = app
        .core
        .store
        .search_audit(&AuditQuery {
            chain: AuditChain::Operator,
            from: now - Duration::days(1),
            to: now + Duration::days(3),
            activities: vec![
                "New-PlannedMaintenance".into(),
                "Set-PlannedMaintenance".into(),
            ],
            users: Vec::new(),
            item: Some(id.clone()),
            before_seq: None,
            limit: 50,
        })
        .await
        .unwrap();
    let activities: Vec<&str> = records.iter().map(|r| r.activity.as_str()).collect();
    // Newest first: completed, extended, started, reminder, scheduled.
    assert_eq!(
        activities,
        [
            "Set-PlannedMaintenance",
            "Set-PlannedMaintenance",
            "Set-PlannedMaintenance",
            "Set-PlannedMaintenance",
            "New-PlannedMaintenance"
        ],
        "{records:?}"
    );
}

async fn bad_maintenance_is_refused_with_the_reason(app: TestApp) {
    place(&app).await;
    let op = operator_token(&app).await;
    let now = candor_domain::clock::Clock::now(app.clock.as_ref());
    let base = json!({
        "services": ["Exchange Online"],
        "text": {"en": {"title": "Upgrade", "description": "Slow mail."}},
        "startDateTime": rfc(now + Duration::hours(3)),
        "endDateTime": rfc(now + Duration::hours(5)),
        "expectedImpact": "degraded"
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, says) in [
        (
            with("endDateTime", json!(rfc(now + Duration::hours(2)))),
            "end after",
        ),
        (
            with("endDateTime", json!(rfc(now + Duration::days(9)))),
            "7 days",
        ),
        (
            with("startDateTime", json!(rfc(now - Duration::hours(1)))),
            "future",
        ),
        (with("startDateTime", json!("tomorrow")), "RFC 3339"),
        (with("services", json!(["Teams"])), "not in the catalog"),
        (with("services", json!([])), "at least one service"),
        (
            with("expectedImpact", json!("sunny")),
            "none, degraded, unavailable",
        ),
        (
            with(
                "text",
                json!({"en": {"title": "Upgrade", "description": ""}}),
            ),
            "both a title and a description",
        ),
        (
            with("text", json!({"xx": {"title": "a", "description": "b"}})),
            "language",
        ),
        (with("reminderMinutes", json!(-5)), "reminder"),
        (
            with("scope", json!({"regions": ["mars-north"]})),
            "mars-north",
        ),
    ] {
        let (status, err) = post(&app, &op, "/api/v1/operator/maintenances", body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(err.to_string().contains(says), "{body}: {err}");
    }
    // A change of an unknown kind, and of a maintenance that does not exist.
    let (_, created) = post(&app, &op, "/api/v1/operator/maintenances", base.clone()).await;
    let id = created["id"].as_str().unwrap();
    let (status, err) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "postpone"}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("reschedule"), "{err}");
    let (status, _) = post(
        &app,
        &op,
        "/api/v1/operator/maintenances/MN999999/changes",
        json!({"change": "cancel"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &op, "/api/v1/operator/maintenances/not-an-id").await;
    assert_eq!(status, 400);
    // Completing early is refused before it starts.
    let (status, err) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "completeEarly"}),
    )
    .await;
    assert_eq!(status, 409, "{err}");
    // Started early by hand, it is in progress at once.
    let (status, started) = post(
        &app,
        &op,
        &format!("/api/v1/operator/maintenances/{id}/changes"),
        json!({"change": "startEarly"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["state"], "inProgress");
    assert_eq!(started["startDateTime"], rfc(now));
}

async fn the_console_schedules_previews_and_changes_maintenance(app: TestApp) {
    place(&app).await;
    let email = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let browser = app.sign_in(&email, true).await;
    let html = browser
        .get(app.url("/console/maintenance"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::common::csrf_of(&html);
    let now = candor_domain::clock::Clock::now(app.clock.as_ref());
    let local = |t: time::OffsetDateTime| {
        t.format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap()
    };
    let fields = |action: &str, end: time::OffsetDateTime| {
        vec![
            ("csrf", csrf.clone()),
            ("services", "Exchange".to_owned()),
            ("regions", "eu-west".to_owned()),
            ("language", "en".to_owned()),
            ("title", "Console upgrade".to_owned()),
            ("description", "Mail may be slow.".to_owned()),
            ("start", local(now + Duration::hours(2))),
            ("end", local(end)),
            ("impact", "degraded".to_owned()),
            ("reminder_minutes", "30".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    // The preview says who it would reach, and schedules nothing.
    let html = browser
        .post(app.url("/console/maintenance"))
        .form(&fields("preview", now + Duration::hours(4)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("would reach 1 tenants"), "{html}");
    assert!(app
        .core
        .store
        .list_maintenances(10)
        .await
        .unwrap()
        .is_empty());
    // A window that ends before it starts is a form error, and nothing is stored.
    let html = browser
        .post(app.url("/console/maintenance"))
        .form(&fields("schedule", now + Duration::hours(1)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("must end after it starts"), "{html}");
    assert!(app
        .core
        .store
        .list_maintenances(10)
        .await
        .unwrap()
        .is_empty());
    // A translation with a title but no description is refused, with the language.
    let mut half = fields("schedule", now + Duration::hours(4));
    half.push(("title_nl", "Console-upgrade".to_owned()));
    let html = browser
        .post(app.url("/console/maintenance"))
        .form(&half)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("in nl"), "{html}");
    assert!(html.contains("value=\"Console-upgrade\""), "kept: {html}");
    let mut translated = fields("schedule", now + Duration::hours(4));
    translated.push(("title_nl", "Console-upgrade".to_owned()));
    translated.push(("description_nl", "E-mail kan traag zijn.".to_owned()));
    translated.push(("title_zh_tw", "主控台升級".to_owned()));
    translated.push(("description_zh_tw", "郵件可能較慢。".to_owned()));
    let res = browser
        .post(app.url("/console/maintenance"))
        .form(&translated)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let stored = app.core.store.list_maintenances(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].text_in(Language::Dutch),
        ("Console-upgrade", "E-mail kan traag zijn.")
    );
    assert_eq!(
        stored[0].text_in(Language::TraditionalChinese).0,
        "主控台升級"
    );
    assert_eq!(stored[0].text_in(Language::Korean).0, "Console upgrade");
    let id = stored[0].id.to_string();
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/console/maintenance#{id}")
    );
    let html = browser
        .get(app.url("/console/maintenance"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&id) && html.contains("Console upgrade"),
        "{html}"
    );
    assert_eq!(stored[0].maintenance.reminder, Duration::minutes(30));
    // Without the form's token the change is refused, and nothing changes.
    let res = browser
        .post(app.url(&format!("/console/maintenance/{id}/change")))
        .form(&[("change", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Moved to a new window before it starts.
    let res = browser
        .post(app.url(&format!("/console/maintenance/{id}/change")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("change", "reschedule"),
            ("start", local(now + Duration::hours(5)).as_str()),
            ("end", local(now + Duration::hours(7)).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let m = app.core.store.list_maintenances(10).await.unwrap();
    assert_eq!(m[0].maintenance.window.start, {
        let t = now + Duration::hours(5);
        t.replace_second(0).unwrap().replace_nanosecond(0).unwrap()
    });
    let html = browser
        .post(app.url(&format!("/console/maintenance/{id}/change")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("change", "reschedule"),
            ("start", "tomorrow"),
            ("end", local(now + Duration::hours(7)).as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("is not a time"), "{html}");
    let res = browser
        .post(app.url(&format!("/console/maintenance/{id}/change")))
        .form(&[("csrf", csrf.as_str()), ("change", "startEarly")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let m = app.core.store.list_maintenances(10).await.unwrap();
    assert_eq!(
        m[0].maintenance.state,
        candor_domain::health::maintenance::MaintenanceState::InProgress
    );
}

crate::both!(
    a_maintenance_moves_on_its_own_and_tells_only_its_tenants,
    bad_maintenance_is_refused_with_the_reason,
    the_console_schedules_previews_and_changes_maintenance,
);
