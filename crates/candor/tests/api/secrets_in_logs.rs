//! No secret ever reaches the log. `candor serve` runs as a real process at the most
//! talkative level an operator would set (`CANDOR_LOG=debug`, every crate), with an
//! SMTP relay URL carrying a password; the test signs in (right and wrong passwords),
//! gets tokens (right and wrong secrets), calls the API with good and forged tokens,
//! reads a private feed, sends news to a webhook and mail through the relay (which is
//! down, so the failures are logged too). Then it reads the whole log and looks for
//! every secret that crossed the process.

use std::sync::Arc;
use std::time::Duration;

use candor_app::identity::{self, TenantInput, UserInput};
use candor_app::{feeds, webhooks, Core};
use candor_domain::clock::SystemClock;
use candor_domain::identity::Actor;
use serde_json::Value;

use crate::common::{csrf_of, PASSWORD};
use crate::crash::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("candor.db");
    let store = Arc::new(candor_store_sqlite::SqliteStore::open(&path).await.unwrap());
    let mut core = Core::new(store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    core.allow_private_webhooks = true.into();
    let system = Actor::System;
    let tenant = identity::create_tenant(
        &core,
        &system,
        None,
        TenantInput {
            name: "Contoso".into(),
            home_region: "eu-west".into(),
            default_language: candor_domain::language::Language::English,
            time_zone: "UTC".into(),
            is_demo: false,
        },
    )
    .await
    .unwrap();
    identity::create_user(
        &core,
        &system,
        None,
        tenant.id,
        UserInput {
            email: "admin@contoso.example".into(),
            display_name: "Admin".into(),
            password: PASSWORD.into(),
            roles: candor_app::words::roles(&["GlobalAdministrator".to_owned()]).unwrap(),
            language: None,
        },
    )
    .await
    .unwrap();
    let app = identity::create_api_client(
        &core,
        &system,
        None,
        tenant.id,
        "Dashboard",
        &["ServiceHealth.Read.All".into()],
    )
    .await
    .unwrap();
    let (receiver, _seen) =
        crate::webhooks::receiver(Arc::new(std::sync::atomic::AtomicU16::new(204))).await;
    let hook = webhooks::add(
        &core,
        &system,
        None,
        tenant.id,
        webhooks::WebhookInput {
            url: receiver,
            format: None,
            topics: [candor_domain::health::Topic::Incidents].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap();
    let feed = feeds::create_link(&core, &system, None, tenant.id, "Wallboard")
        .await
        .unwrap();
    drop(core);
    store.close().await;

    // A relay nobody listens on: sending fails, and is retried and logged.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let smtp_password = "Smtp-Relay-Pass-4711";
    let log = dir.path().join("serve.log");
    let (mut serve, base) = crate::common::spawn_logged(
        std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--allow-private-webhooks",
                "--data-dir",
            ])
            .arg(dir.path())
            .arg("--smtp-url")
            .arg(format!(
                "smtp://candor:{smtp_password}@127.0.0.1:{dead_port}"
            ))
            .env("CANDOR_LOG", "debug")
            .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap()),
        &log,
    )
    .await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", PASSWORD.into()),
        ("API client secret", app.secret.clone()),
        ("webhook secret", hook.secret.clone()),
        ("feed token", feed.token.clone()),
        ("SMTP password", smtp_password.into()),
    ];

    // Sign-ins, a wrong password first.
    let wrong_password = "Wrong-Horse-Battery-99";
    secrets.push(("mistyped password", wrong_password.into()));
    for password in [wrong_password, PASSWORD] {
        let page = http
            .get(format!("{base}/signin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        let res = http
            .post(format!("{base}/signin"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@contoso.example"),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        if password == PASSWORD {
            assert_eq!(res.status(), 303);
            let cookie = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| c.strip_prefix("candor_session="))
                .map(|c| c.split(';').next().unwrap_or("").to_owned())
                .unwrap();
            secrets.push(("session cookie", cookie));
            secrets.push(("CSRF token", csrf));
        }
    }

    // Tokens, a wrong secret first; then the API with the token, and with forged ones.
    let forged_secret = "not-the-secret-Q2FuZG9y";
    secrets.push(("wrong client secret", forged_secret.into()));
    let mut access_token = String::new();
    for secret in [forged_secret, app.secret.as_str()] {
        let res = http
            .post(format!("{base}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client.id.to_string()),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        if let Some(t) = body["access_token"].as_str() {
            access_token = t.to_owned();
        }
    }
    assert!(!access_token.is_empty());
    secrets.push(("access token", access_token.clone()));
    let signature = access_token.rsplit('.').next().unwrap().to_owned();
    secrets.push(("access token signature", signature));
    let forged_token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJmb3JnZWQifQ.Zm9yZ2VkLXNpZ25hdHVyZQ";
    secrets.push(("forged token", forged_token.into()));
    // Signed by a key Candor never had: it looks the key up in the store, and refuses.
    let unknown_key = {
        let now = time::OffsetDateTime::now_utc();
        let keys = candor_app::keys::Keys::ephemeral(now).unwrap();
        let other = candor_web::auth::token::TokenService::new(&keys, base.clone()).unwrap();
        let client = candor_domain::identity::ApiClient {
            id: app.client.id,
            tenant_id: tenant.id,
            display_name: "Dashboard".into(),
            secret_hash: String::new(),
            permissions: std::iter::empty().collect(),
            created_at: now,
            revoked_at: None,
        };
        other.issue(&client, now).unwrap()
    };
    secrets.push(("token signed by an unknown key", unknown_key.clone()));
    for (token, expected) in [
        (access_token.as_str(), 200),
        (forged_token, 401),
        (unknown_key.as_str(), 401),
    ] {
        let res = http
            .get(format!("{base}/v1.0/admin/serviceAnnouncement/issues"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    let res = http
        .get(format!("{base}/feeds/tenants/{}", feed.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Links whose path is their secret: a confirmation, a subscriber's page, an
    // unsubscribe link (unknown ones: the path is logged before it is checked).
    for (what, path) in [
        ("confirmation link", "/status/subscribe/confirm/"),
        ("subscriber link", "/status/subscription/"),
        ("unsubscribe link", "/unsubscribe/"),
    ] {
        let secret = candor_app::secrets::random_token();
        let res = http
            .get(format!("{base}{path}{secret}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{what}");
        secrets.push((what, secret));
    }

    // A contact (mail through the dead relay) and a webhook test (a signed request).
    let page = http
        .get(format!("{base}/portal/contacts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let res = http
        .post(format!("{base}/portal/contacts"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "noc@contoso.example"),
            ("language", "en"),
            ("topics", "incidents"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());
    let page = http
        .get(format!("{base}/portal/webhooks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(format!("{base}/portal/webhooks/{}", hook.endpoint.id))
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());
    let page = http
        .get(format!("{base}/portal/contacts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let contact = page
        .split("action=\"/portal/contacts/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the contact was added")
        .to_owned();
    // A test message to the contact, through the relay that is down.
    let res = http
        .post(format!("{base}/portal/contacts/{contact}"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "test")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());

    // Give the worker time to try the relay and to log what failed.
    wait_for("a logged mail failure", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("delivery will be retried") || text.contains("delivery failed for good")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    serve.kill().unwrap();
    serve.wait().unwrap();

    let text = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("serve.out")).unwrap();
    assert!(
        text.lines().count() > 50,
        "the run logged too little to prove anything:\n{text}"
    );
    let leaked: Vec<String> = secrets
        .iter()
        .filter(|(_, s)| text.contains(s.as_str()))
        .map(|(what, s)| format!("{what} ({s})"))
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets in the log: {leaked:?}\n(log at {}; {} lines)",
        log.display(),
        text.lines().count()
    );
    eprintln!(
        "secrets: {} checked against {} log lines",
        secrets.len(),
        text.lines().count()
    );
}
