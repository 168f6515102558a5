//! A tenant's notification contacts through the portal: added with their language and
//! subscriptions, refused with a clear message when wrong, sent a real test email, and
//! removed; only by Global Administrators; audited.

use candor_domain::audit::AuditChain;
use candor_domain::identity::TenantRole;

use crate::common::{csrf_of, Mailroom, TestApp};
use crate::health::place;

/// Jobs and deliveries that write mail to `outbox` and link to this app.
fn mail_runner(app: &TestApp, outbox: &std::path::Path) -> Mailroom {
    Mailroom::new(app.core.clone(), outbox, &app.base)
}

async fn contacts_are_managed_and_tested_by_global_administrators(app: TestApp) {
    place(&app).await;
    let ga = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let browser = app.sign_in(&ga, false).await;
    let page = browser
        .get(app.url("/portal/contacts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Exchange Online"), "services to choose from");
    let csrf = csrf_of(&page);
    let add = |email: &'static str, topics: &'static [&'static str]| {
        let mut form: Vec<(&str, &str)> = vec![
            ("csrf", csrf.as_str()),
            ("email", email),
            ("language", "nl"),
            ("services", "Exchange"),
        ];
        for t in topics {
            form.push(("topics", t));
        }
        let browser = browser.clone();
        let url = app.url("/portal/contacts");
        async move {
            let res = browser.post(url).form(&form).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, body) = add("not an address", &["incidents"]).await;
    assert_eq!(status, 200);
    assert!(body.contains("class=\"error\""), "{body}");
    assert!(body.contains("not an address"), "what was typed is kept");
    let (status, body) = add("noc@contoso.example", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("at least one"), "{body}");
    let (status, _) = add("noc@contoso.example", &["incidents", "postIncidentReviews"]).await;
    assert_eq!(status, 303);
    let (status, body) = add("noc@contoso.example", &["incidents"]).await;
    assert_eq!(status, 200);
    assert!(body.contains("already a contact"), "{body}");

    let contacts = app.core.store.list_contacts(app.world.a.id).await.unwrap();
    assert_eq!(contacts.len(), 1);
    let contact = &contacts[0];
    assert_eq!(contact.language.tag(), "nl");
    assert_eq!(contact.subscription.topics.len(), 2);
    assert_eq!(contact.subscription.services.len(), 1);

    // A test email goes out through the mail transport, in the contact's language.
    let page = browser
        .get(app.url("/portal/contacts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let res = browser
        .post(app.url(&format!("/portal/contacts/{}", contact.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let outbox = tempfile::tempdir().unwrap();
    let runner = mail_runner(&app, outbox.path());
    runner.run().await;
    let mail = crate::lockbox_api::read_mail(outbox.path());
    let test = mail
        .iter()
        .find(|(to, _, _)| to == "noc@contoso.example")
        .expect("the test email arrived");
    assert!(test.1.contains("Testmelding"), "Dutch subject: {}", test.1);
    assert!(test.2.contains("Exchange Online"), "{}", test.2);

    // Others may not manage contacts; another tenant cannot touch this one.
    let reader = app
        .world
        .a
        .user(TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let other = app.sign_in(&reader, false).await;
    assert_eq!(
        other
            .get(app.url("/portal/contacts"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let b_admin = app
        .world
        .b
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let b = app.sign_in(&b_admin, false).await;
    let b_csrf = app.csrf(&b, "/portal/contacts").await;
    let res = b
        .post(app.url(&format!("/portal/contacts/{}", contact.id)))
        .form(&[("csrf", b_csrf.as_str()), ("action", "remove")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.core
            .store
            .list_contacts(app.world.a.id)
            .await
            .unwrap()
            .len(),
        1
    );

    let res = browser
        .post(app.url(&format!("/portal/contacts/{}", contact.id)))
        .form(&[("csrf", csrf.as_str()), ("action", "remove")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(app
        .core
        .store
        .list_contacts(app.world.a.id)
        .await
        .unwrap()
        .is_empty());
    let log = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    for activity in [
        "Add-NotificationContact",
        "Send-TestNotification",
        "Remove-NotificationContact",
    ] {
        assert!(log.iter().any(|a| a == activity), "{activity}");
    }
}

async fn issue_news_reaches_subscribed_contacts_once(app: TestApp) {
    use candor_app::health::{self as svc, PostInput, UpdateInput};
    use candor_domain::health::{
        ComponentId, Contact, ContactId, Scope, ServiceId, Subscription, Topic,
    };
    use candor_domain::identity::{EmailAddress, OperatorRole};
    use candor_domain::language::Language;
    place(&app).await;
    let add = |tenant, email: &str, topics: &[Topic], services: &[&str], lang| {
        let contact = Contact {
            id: ContactId::generate(),
            tenant,
            email: EmailAddress::parse(email).unwrap(),
            language: lang,
            subscription: Subscription {
                topics: topics.iter().copied().collect(),
                services: services
                    .iter()
                    .map(|s| ServiceId::from_trusted(*s))
                    .collect(),
            },
            created_at: candor_domain::clock::Clock::now(app.clock.as_ref()),
        };
        let core = app.core.clone();
        async move { core.store.add_contact(&contact, vec![]).await.unwrap() }
    };
    // Tenant A (on the broken mailbox database): one contact for Exchange incidents, in
    // Dutch; one for advisories only. Tenant B is not affected.
    add(
        app.world.a.id,
        "noc@contoso.example",
        &[Topic::Incidents],
        &["Exchange"],
        Language::Dutch,
    )
    .await;
    add(
        app.world.a.id,
        "pm@contoso.example",
        &[Topic::Advisories],
        &[],
        Language::English,
    )
    .await;
    add(
        app.world.b.id,
        "noc@fabrikam.example",
        &[Topic::Incidents],
        &[],
        Language::English,
    )
    .await;
    let im = crate::health::operator(&app, OperatorRole::IncidentManager);
    let (issue, _) = svc::create_issue(
        &app.core,
        &im,
        None,
        crate::health::incident(Scope {
            components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    svc::update_issue(
        &app.core,
        &im,
        None,
        issue.id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceDegradation),
            post: Some(PostInput {
                body_html: "<p>We found the cause &amp; are fixing it.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let runner = mail_runner(&app, outbox.path());
    runner.run().await;
    let mail = crate::lockbox_api::read_mail(outbox.path());
    assert_eq!(
        mail.len(),
        2,
        "the two posts, to the one subscribed contact: {mail:?}"
    );
    assert!(mail.iter().all(|(to, _, _)| to == "noc@contoso.example"));
    let bodies: Vec<&str> = mail.iter().map(|(_, _, b)| b.as_str()).collect();
    assert!(
        bodies.iter().any(|b| b.contains("We onderzoeken het.")),
        "the Dutch translation: {bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("We found the cause & are fixing it.")),
        "{bodies:?}"
    );
    assert!(bodies
        .iter()
        .all(|b| b.contains(&format!("/portal/health/issues/{}", issue.id))));
    // Each mail offers one-click unsubscribe (RFC 8058); the link works without signing
    // in, only with Candor's token, and once.
    let raw: String = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .next()
        .unwrap();
    let unfolded = raw.replace("\r\n ", "").replace("\n ", "");
    assert!(
        unfolded.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{raw}"
    );
    // A stable delivery id, the same on every retry, as the Message-ID.
    let ids: Vec<String> = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter_map(|m| {
            m.split("Message-ID: <")
                .nth(1)
                .and_then(|r| r.split('>').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter().all(|i| i.ends_with("@deliveries.candor")),
        "{ids:?}"
    );
    assert_ne!(ids[0], ids[1], "one id per delivery");
    let url = unfolded
        .split("List-Unsubscribe: <")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a List-Unsubscribe header")
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/unsubscribe/", app.base)),
        "{url}"
    );
    let http = app.http();
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("noc@contoso.example"));
    // Another last character than the one it has (a fixed "0" is no change one time in 16).
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    let res = http
        .post(&tampered)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!app
        .core
        .store
        .list_contacts(app.world.a.id)
        .await
        .unwrap()
        .iter()
        .any(|c| c.email.as_ref() == "noc@contoso.example"));
    let res = http
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "once");
    let log = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    assert!(log.iter().any(|a| a == "Remove-NotificationContact"));

    // A fan-out that runs again (a worker died halfway and it was retried) queues nothing
    // twice.
    let again = candor_app::notify::fan_out(&app.core, &issue.id, Some(1), &app.base, None)
        .await
        .unwrap();
    assert_eq!(again, 0);
    runner.run().await;
    assert_eq!(crate::lockbox_api::read_mail(outbox.path()).len(), 2);
}

async fn messages_and_reviews_reach_their_subscribers(app: TestApp) {
    use candor_app::health::{self as svc, PirInput, PostInput, UpdateInput};
    use candor_app::messages::{self, NewMessageInput};
    use candor_domain::health::{ComponentId, Contact, ContactId, Scope, Subscription, Topic};
    use candor_domain::identity::{EmailAddress, OperatorRole};
    use candor_domain::language::Language;
    place(&app).await;
    for (tenant, email, topic) in [
        (app.world.a.id, "mc@contoso.example", Topic::MessageCenter),
        (app.world.a.id, "reviews@contoso.example", Topic::Reviews),
        (app.world.b.id, "mc@fabrikam.example", Topic::MessageCenter),
    ] {
        let contact = Contact {
            id: ContactId::generate(),
            tenant,
            email: EmailAddress::parse(email).unwrap(),
            language: Language::English,
            subscription: Subscription {
                topics: [topic].into_iter().collect(),
                services: Default::default(),
            },
            created_at: candor_domain::clock::Clock::now(app.clock.as_ref()),
        };
        app.core.store.add_contact(&contact, vec![]).await.unwrap();
    }
    let im = crate::health::operator(&app, OperatorRole::IncidentManager);
    // An Exchange message reaches Contoso (on the mailbox servers), not Fabrikam.
    let (message, _) = messages::create_message(
        &app.core,
        &im,
        None,
        NewMessageInput {
            title: "Retiring Basic authentication".into(),
            body_html: "<p>Move your apps to OAuth.</p>".into(),
            category: candor_domain::health::Category::PlanForChange,
            services: vec!["Exchange".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A resolved incident on Contoso's database, with a published review.
    let (issue, _) = svc::create_issue(
        &app.core,
        &im,
        None,
        crate::health::incident(Scope {
            components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    svc::update_issue(
        &app.core,
        &im,
        None,
        issue.id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: Some(PostInput {
                body_html: "<p>Fixed.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    svc::save_pir_draft(
        &app.core,
        &im,
        None,
        issue.id.clone(),
        PirInput {
            user_impact: "Mail could not be opened for 40 minutes.".into(),
            scope_of_impact: "One mailbox database.".into(),
            root_cause: "A certificate expired.".into(),
            actions_taken: "It was replaced.".into(),
            next_steps: "Renewals are automatic now.".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    svc::publish_pir(&app.core, &im, None, issue.id.clone())
        .await
        .unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let runner = mail_runner(&app, outbox.path());
    runner.run().await;
    let mail = crate::lockbox_api::read_mail(outbox.path());
    let to = |who: &str| {
        mail.iter()
            .filter(|(t, _, _)| t == who)
            .map(|(_, s, b)| (s.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    let mc = to("mc@contoso.example");
    assert_eq!(mc.len(), 1, "{mail:?}");
    assert!(mc[0].0.contains("Retiring Basic authentication"));
    assert!(mc[0]
        .1
        .contains(&format!("/portal/messages/{}", message.id)));
    assert!(
        to("mc@fabrikam.example").is_empty(),
        "Fabrikam does not use Exchange"
    );
    let reviews = to("reviews@contoso.example");
    assert_eq!(reviews.len(), 1, "only the review, not the posts: {mail:?}");
    assert!(reviews[0].1.contains("A certificate expired."));
}

crate::both!(
    contacts_are_managed_and_tested_by_global_administrators,
    issue_news_reaches_subscribed_contacts_once,
    messages_and_reviews_reach_their_subscribers,
);

/// Issue news through a real SMTP server (aiosmtpd): plain text and HTML, the delivery's
/// stable id as Message-ID, and the one-click unsubscribe headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_news_goes_through_a_real_smtp_server() {
    use candor_domain::health::{ComponentId, Contact, ContactId, Scope, Subscription};
    use candor_domain::identity::{EmailAddress, OperatorRole};
    use candor_domain::language::Language;
    let Some(smtp) = crate::lockbox_api::smtp_server().await else {
        return;
    };
    let app = crate::common::spawn(crate::common::Backend::Sqlite)
        .await
        .unwrap();
    place(&app).await;
    let contact = Contact {
        id: ContactId::generate(),
        tenant: app.world.a.id,
        email: EmailAddress::parse("noc@contoso.example").unwrap(),
        language: Language::French,
        subscription: Subscription::everything(),
        created_at: candor_domain::clock::Clock::now(app.clock.as_ref()),
    };
    app.core.store.add_contact(&contact, vec![]).await.unwrap();
    let im = crate::health::operator(&app, OperatorRole::IncidentManager);
    let (issue, _) = candor_app::health::create_issue(
        &app.core,
        &im,
        None,
        crate::health::incident(Scope {
            components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let mailer = std::sync::Arc::new(
        candor_delivery::email::Mailer::smtp(
            &format!("smtp://127.0.0.1:{}", smtp.port),
            "Candor <candor@provider.example>",
        )
        .unwrap(),
    );
    let jobs = candor::jobs::JobRunner::new(app.core.clone()).with_public_url(app.base.clone());
    while jobs.run_one().await.unwrap().is_some() {}
    let worker = candor::deliveries::DeliveryRunner::new(
        app.core.clone(),
        Some(mailer),
        candor::deliveries::DeliverySettings::default(),
    );
    assert_eq!(worker.drain().await.unwrap().sent, 1);
    let dir = smtp.maildir.path().join("mail").join("new");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let delivery = app
        .core
        .store
        .tenant_deliveries(app.world.a.id, None, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        msg.message_id(),
        Some(format!("{}@deliveries.candor", delivery.id).as_str())
    );
    assert_eq!(delivery.status, candor_domain::health::DeliveryStatus::Sent);
    let text = msg.body_text(0).unwrap();
    assert!(text.contains(issue.id.as_str()), "{text}");
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(&format!("/portal/health/issues/{}\"", issue.id)),
        "a link: {html}"
    );
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("List-Unsubscribe: <"), "{raw}");
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
}
