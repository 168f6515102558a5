//! Subscribing by email: the public page's form with its double opt-in and limits, the
//! broad news confirmed subscribers receive with their one-click unsubscribe and manage
//! links, the console's counts, removal and export, and a tenant's invitations. Links
//! are read from the mail as it was sent: a real SMTP server (aiosmtpd), or the pickup
//! directory every other test reads.

use std::path::Path;

use candor_app::Core;
use candor_domain::health::subscriber::{
    public_subscription, Subscriber, SubscriberId, SubscriptionRequest,
};
use candor_domain::health::{ComponentId, Scope};
use candor_domain::identity::{EmailAddress, OperatorRole, RegionCode, TenantRole};
use candor_domain::language::Language;
use reqwest::StatusCode;

use crate::common::{csrf_of, Mailroom, TestApp};
use crate::health::{incident, operator, place};

/// A confirmed public subscriber to everything, put straight into the store.
pub(crate) async fn confirmed(core: &Core, email: &str) -> Subscriber {
    let now = core.clock.now();
    let email = EmailAddress::parse(email).unwrap();
    let request = SubscriptionRequest {
        id: SubscriberId::generate(),
        token_hash: candor_app::secrets::sha256_hex(&candor_app::secrets::random_token()),
        email: email.clone(),
        tenant: None,
        language: Language::English,
        subscription: public_subscription(&[], Default::default()).unwrap(),
        requested_by: "192.0.2.1".into(),
        requested_at: now,
    };
    let mail = candor_domain::email::OutboundEmail {
        to: email.to_string(),
        subject: "Confirm".into(),
        body: "A test subscriber.".into(),
        kind: "subscription.confirm".into(),
        tenant: None,
        delivery_id: None,
        unsubscribe: None,
        html: None,
    };
    let delivery = candor_app::notify::email_delivery(
        core,
        candor_domain::health::OPERATOR_REALM_TENANT,
        &format!("subscription:{}", request.id),
        email.as_ref(),
        candor_domain::health::Realm::Public,
        mail,
        now,
    )
    .unwrap();
    core.store
        .request_subscription(&request, &delivery, vec![])
        .await
        .unwrap();
    let subscriber = Subscriber {
        id: SubscriberId::generate(),
        email,
        language: Language::English,
        subscription: request.subscription.clone(),
        confirmed_at: now,
    };
    core.store
        .confirm_subscriber(request.id, &subscriber, vec![])
        .await
        .unwrap()
        .unwrap()
}

/// A mail as received.
#[derive(Debug)]
struct Mail {
    to: String,
    subject: String,
    text: String,
    raw: String,
}

/// The mail in `dir` not read before (each file is taken: read once).
fn take_mail(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned();
        out.push(Mail {
            to,
            subject: msg.subject().unwrap_or_default().to_owned(),
            text: msg.body_text(0).unwrap_or_default().into_owned(),
            raw: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    out
}

/// The first web address in `text` containing `part`.
fn link_in(text: &str, part: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
        .find(|w| w.starts_with("http") && w.contains(part))
        .map(str::to_owned)
}

fn subscribe_form<'a>(
    email: &'a str,
    language: &'a str,
    topics: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("email", email), ("language", language)];
    form.extend(topics.iter().map(|t| ("topics", *t)));
    form
}

fn region_wide() -> Scope {
    Scope {
        regions: [RegionCode::parse("eu-west").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

fn one_component() -> Scope {
    Scope {
        components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// Confirms from the mail's link as a person does: the link's page asks, the button
/// confirms.
async fn confirm_from(app: &TestApp, link: &str) -> String {
    let http = app.http();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("id=\"confirm\""), "{page}");
    let done = http.post(link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    done.text().await.unwrap()
}

/// Through a real SMTP server: the confirmation mail's link confirms, broad news (not
/// narrow news) reaches the subscriber in its language with a one-click unsubscribe
/// and a manage link, and unsubscribing stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_confirms_from_the_mail_hears_broad_news_and_leaves_in_one_click() {
    let Some(smtp) = crate::lockbox_api::smtp_server().await else {
        return;
    };
    let app = crate::common::spawn(crate::common::Backend::Sqlite)
        .await
        .unwrap();
    place(&app).await;
    let mailer = std::sync::Arc::new(
        candor_delivery::email::Mailer::smtp(
            &format!("smtp://127.0.0.1:{}", smtp.port),
            "Candor <candor@provider.example>",
        )
        .unwrap(),
    );
    let jobs = candor::jobs::JobRunner::new(app.core.clone()).with_public_url(app.base.clone());
    let worker = candor::deliveries::DeliveryRunner::new(
        app.core.clone(),
        Some(mailer),
        candor::deliveries::DeliverySettings::default(),
    );
    let inbox = smtp.maildir.path().join("mail").join("new");
    let run = || async {
        loop {
            let mut ran = 0;
            while jobs.run_one().await.unwrap().is_some() {
                ran += 1;
            }
            let sent = worker.drain().await.unwrap().total();
            if ran == 0 && sent == 0 {
                break;
            }
        }
    };

    // The public page links to the form; the form takes an address.
    let http = app.http();
    let status = http.get(app.url("/status?lang=fr")).send().await.unwrap();
    let status = status.text().await.unwrap();
    assert!(status.contains("/status/subscribe?lang=fr"), "{status}");
    let form = http
        .get(app.url("/status/subscribe?lang=fr"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("name=\"email\""), "{form}");
    let sent = http
        .post(app.url("/status/subscribe?lang=fr"))
        .form(&subscribe_form(
            "Fan@Example.org",
            "fr",
            &["incidents", "plannedMaintenance"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    run().await;
    let mail = take_mail(&inbox);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].to, "fan@example.org");
    assert!(
        mail[0].subject.contains("Confirmez"),
        "French: {}",
        mail[0].subject
    );
    assert!(
        !mail[0].raw.contains("List-Unsubscribe"),
        "nothing to unsubscribe from yet"
    );
    let link = link_in(&mail[0].text, "/status/subscribe/confirm/").expect("a link to confirm");
    // Nothing is sent before the address is confirmed.
    assert!(app
        .core
        .store
        .list_subscribers(None, None, 10)
        .await
        .unwrap()
        .is_empty());
    let done = confirm_from(&app, &link).await;
    assert!(done.contains("fan@example.org"), "{done}");
    // A link confirms once.
    let again = app.http().post(&link).send().await.unwrap();
    assert_eq!(again.status(), 404);

    // Narrow news is not the public's; broad news is.
    let im = operator(&app, OperatorRole::IncidentManager);
    candor_app::health::create_issue(&app.core, &im, None, incident(one_component()))
        .await
        .unwrap();
    run().await;
    assert!(
        take_mail(&inbox).iter().all(|m| m.to != "fan@example.org"),
        "narrow news stays with its tenants"
    );
    let (broad, _) =
        candor_app::health::create_issue(&app.core, &im, None, incident(region_wide()))
            .await
            .unwrap();
    run().await;
    let news: Vec<Mail> = take_mail(&inbox)
        .into_iter()
        .filter(|m| m.to == "fan@example.org")
        .collect();
    assert_eq!(news.len(), 1, "{news:?}");
    let news = &news[0];
    assert!(news.text.contains(broad.id.as_str()), "{}", news.text);
    assert!(
        news.text.contains(&format!("/status?lang=fr#{}", broad.id)),
        "a link to the public page, not the portal: {}",
        news.text
    );
    assert!(!news.text.contains("/portal/"), "{}", news.text);
    assert!(news
        .raw
        .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let manage = link_in(&news.text, "/status/subscription/").expect("a manage link");
    let unsubscribe = link_in(&news.raw, "/unsubscribe").expect("a List-Unsubscribe URL");
    assert!(unsubscribe.starts_with(&manage), "{unsubscribe} {manage}");

    // The manage page changes what is received.
    let page = app.http().get(&manage).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("fan@example.org"), "{page}");
    let saved = app
        .http()
        .post(&manage)
        .form(&[("language", "nl"), ("topics", "incidents")])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let subscriber = app
        .core
        .store
        .find_subscriber(&EmailAddress::parse("fan@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subscriber.language, Language::Dutch);
    assert_eq!(subscriber.subscription.topics.len(), 1);
    let refused = app
        .http()
        .post(&manage)
        .form(&[("language", "nl"), ("topics", "messageCenter")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "only public news can be chosen");

    // One click, as a mail client sends it (RFC 8058), ends it.
    let gone = app
        .http()
        .post(&unsubscribe)
        .body("List-Unsubscribe=One-Click")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    assert!(app
        .core
        .store
        .list_subscribers(None, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        app.http().get(&manage).send().await.unwrap().status(),
        404,
        "the link names nobody now"
    );
    candor_app::health::create_issue(&app.core, &im, None, incident(region_wide()))
        .await
        .unwrap();
    run().await;
    assert!(take_mail(&inbox).iter().all(|m| m.to != "fan@example.org"));
    let activities = app
        .activities(candor_domain::audit::AuditChain::Operator)
        .await;
    for expected in [
        "Add-StatusSubscriber",
        "Set-StatusSubscriber",
        "Remove-StatusSubscriber",
    ] {
        assert!(activities.iter().any(|a| a == expected), "{activities:?}");
    }
}

/// The form refuses what it cannot take, answers the same for every address it takes
/// (new, asked for before, subscribed, or over its mail limit), sends at most three
/// confirmation emails an hour to one address, refuses a network address that asked for
/// too many addresses, and a link older than a day confirms nothing.
async fn the_form_holds_to_its_limits_and_tells_nobody_who_is_subscribed(app: TestApp) {
    place(&app).await;
    let outbox = tempfile::tempdir().unwrap();
    let mail = Mailroom::new(app.core.clone(), outbox.path(), &app.base);
    let http = app.http();
    let post = |form: Vec<(&'static str, &'static str)>| {
        let http = http.clone();
        let url = app.url("/status/subscribe");
        async move {
            let res = http.post(url).form(&form).send().await.unwrap();
            let status = res.status();
            (status, res.text().await.unwrap())
        }
    };

    for (form, problem) in [
        (subscribe_form("not-an-address", "en", &[]), "email"),
        (subscribe_form("x@example.org", "xx", &[]), "language"),
        (
            subscribe_form("x@example.org", "en", &["messageCenter"]),
            "public status page",
        ),
        (
            {
                let mut f = subscribe_form("x@example.org", "en", &[]);
                f.push(("services", "No such service"));
                f
            },
            "not a service",
        ),
    ] {
        let (status, page) = post(form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains(problem), "{problem}: {page}");
        assert!(page.contains("id=\"subscribe\""), "the form again: {page}");
    }

    // Four requests for one address: four identical answers, three emails.
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, page) = post(subscribe_form("repeat@example.org", "en", &[])).await;
        assert_eq!(status, 200);
        answers.push(page);
    }
    mail.run().await;
    let sent = take_mail(outbox.path());
    assert_eq!(
        sent.iter().filter(|m| m.to == "repeat@example.org").count(),
        3,
        "{sent:?}"
    );
    // A subscribed address gets the same answer as any other.
    confirmed(&app.core, "already@example.org").await;
    let (status, page) = post(subscribe_form("already@example.org", "en", &[])).await;
    assert_eq!(status, 200);
    answers.push(page);
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every answer alike"
    );

    // One network address may leave five addresses unconfirmed an hour.
    for email in ["b@example.org", "c@example.org", "d@example.org"] {
        let (status, _) = post(subscribe_form(email, "en", &[])).await;
        assert_eq!(status, 200, "{email}");
    }
    let (status, page) = post(subscribe_form("f@example.org", "en", &[])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(page.contains("too many"), "{page}");
    // An address it asked for already still goes through.
    let (status, _) = post(subscribe_form("b@example.org", "en", &[])).await;
    assert_eq!(status, 200);

    // A day later the links are dead, and the limits have passed.
    mail.run().await;
    let links: Vec<String> = take_mail(outbox.path())
        .iter()
        .filter_map(|m| link_in(&m.text, "/status/subscribe/confirm/"))
        .collect();
    assert!(!links.is_empty());
    app.clock.advance(time::Duration::hours(25));
    for link in &links {
        let res = app.http().get(link).send().await.unwrap();
        assert_eq!(res.status(), 404, "{link}");
        let res = app.http().post(link).send().await.unwrap();
        assert_eq!(res.status(), 404, "{link}");
    }
    let (status, _) = post(subscribe_form("f@example.org", "en", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(
        candor_app::subscribers::purge_expired(&app.core)
            .await
            .unwrap(),
        8,
        "the day-old requests are purged, the new one kept"
    );
    assert_eq!(
        app.core
            .store
            .list_subscribers(None, None, 10)
            .await
            .unwrap()
            .len(),
        1,
        "only the one confirmed"
    );
}

/// Incident managers see the counts, remove an address and export the list; other
/// operators are refused.
async fn incident_managers_count_remove_and_export_subscribers(app: TestApp) {
    place(&app).await;
    let everything = confirmed(&app.core, "all@example.org").await;
    let exchange = confirmed(&app.core, "exchange@example.org").await;
    let mut narrowed = exchange.clone();
    narrowed.subscription = public_subscription(
        &[],
        [candor_domain::health::ServiceId::from_trusted("Exchange")].into(),
    )
    .unwrap();
    assert!(app
        .core
        .store
        .save_subscriber(&narrowed, vec![])
        .await
        .unwrap());
    let im = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let browser = app.sign_in(&im, true).await;
    let page = browser
        .get(app.url("/console/subscribers"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("all@example.org") && page.contains("exchange@example.org"));
    assert!(
        page.contains("<td>Exchange Online</td><td>2</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>SharePoint Online</td><td>1</td>"),
        "{page}"
    );
    let found = browser
        .get(app.url("/console/subscribers?q=exch"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(found.contains("exchange@example.org") && !found.contains("all@example.org"));

    let csv = browser
        .get(app.url("/console/subscribers.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "all@example.org");
    assert_eq!(&rows[1][3], "Exchange");

    let csrf = csrf_of(&page);
    let removed = browser
        .post(app.url(&format!("/console/subscribers/{}/remove", everything.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    let left = app
        .core
        .store
        .list_subscribers(None, None, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, exchange.id);

    let approver = app
        .world
        .operator(OperatorRole::SupportManager)
        .email
        .clone();
    let other = app.sign_in(&approver, true).await;
    for path in ["/console/subscribers", "/console/subscribers.csv"] {
        let res = other.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    let actor = operator(&app, OperatorRole::SupportManager);
    let refused = candor_app::subscribers::remove(&app.core, &actor, None, exchange.id).await;
    assert!(matches!(
        refused,
        Err(candor_app::error::AppError::Forbidden(_))
    ));
}

/// A Global Administrator invites someone: nothing changes until they accept from the
/// email, then they are a contact. Other roles cannot invite.
async fn an_invited_person_becomes_a_contact_when_they_accept(app: TestApp) {
    place(&app).await;
    let outbox = tempfile::tempdir().unwrap();
    let mail = Mailroom::new(app.core.clone(), outbox.path(), &app.base);
    let ga = app
        .world
        .a
        .app(candor_domain::identity::ApiPermission::ServiceHealthNotificationsReadWrite);
    let token = app.token(ga).await;
    let invite = |token: String, body: serde_json::Value| {
        let url = app.url("/api/v1/notifications/contacts/invitations");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = invite(
        token.clone(),
        serde_json::json!({"email": "ops@contoso.example", "language": "ko", "topics": ["incidents"]}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let view: serde_json::Value = res.json().await.unwrap();
    assert_eq!(view["email"], "ops@contoso.example");
    assert!(app
        .core
        .store
        .list_contacts(app.world.a.id)
        .await
        .unwrap()
        .is_empty());
    mail.run().await;
    let sent = take_mail(outbox.path());
    let invitation = sent
        .iter()
        .find(|m| m.to == "ops@contoso.example")
        .expect("the invitation");
    assert!(
        invitation.subject.contains(&app.world.a.name),
        "{}",
        invitation.subject
    );
    let link = link_in(&invitation.text, "/status/subscribe/confirm/").unwrap();
    let done = confirm_from(&app, &link).await;
    assert!(done.contains(&app.world.a.name), "{done}");
    let contacts = app.core.store.list_contacts(app.world.a.id).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email.as_ref(), "ops@contoso.example");
    assert_eq!(contacts[0].language, Language::Korean);
    // Inviting a contact again is a conflict; a bad address is refused.
    let res = invite(
        token.clone(),
        serde_json::json!({"email": "ops@contoso.example", "topics": ["incidents"]}),
    )
    .await;
    assert_eq!(res.status(), 409);
    let res = invite(
        token,
        serde_json::json!({"email": "nobody", "topics": ["incidents"]}),
    )
    .await;
    assert_eq!(res.status(), 400);

    // In the portal too, for Global Administrators only.
    let ga = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let browser = app.sign_in(&ga, false).await;
    let csrf = app.csrf(&browser, "/portal/contacts").await;
    let res = browser
        .post(app.url("/portal/contacts/invitations"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "desk@contoso.example"),
            ("language", "en"),
            ("topics", "incidents"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let reader = app
        .world
        .a
        .user(TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let other = app.sign_in(&reader, false).await;
    let csrf = app.csrf(&other, "/portal/health").await;
    let res = other
        .post(app.url("/portal/contacts/invitations"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "sneaky@contoso.example"),
            ("language", "en"),
            ("topics", "incidents"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    mail.run().await;
    let sent = take_mail(outbox.path());
    assert!(sent.iter().any(|m| m.to == "desk@contoso.example"));
    assert!(sent.iter().all(|m| m.to != "sneaky@contoso.example"));
    let activities = app
        .activities(candor_domain::audit::AuditChain::Tenant(app.world.a.id))
        .await;
    assert!(activities.iter().any(|a| a == "New-NotificationInvitation"));
    assert!(activities.iter().any(|a| a == "Add-NotificationContact"));
}

crate::both!(
    the_form_holds_to_its_limits_and_tells_nobody_who_is_subscribed,
    incident_managers_count_remove_and_export_subscribers,
    an_invited_person_becomes_a_contact_when_they_accept,
);
