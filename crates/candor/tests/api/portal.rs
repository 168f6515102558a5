//! The portal's stories: signing in and out, sessions, CSRF, managing users, API clients
//! and settings, languages.

use candor_domain::audit::AuditChain;
use candor_domain::identity::TenantRole;
use time::Duration;

use crate::common::{csrf_of, TestApp, PASSWORD};

async fn sign_in_succeeds_fails_and_is_audited(app: TestApp) {
    let ga = &app.world.a.user(TenantRole::GlobalAdministrator).email;
    let browser = app.sign_in(ga, false).await;
    let home = browser.get(app.url("/portal")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("Contoso"), "tenant name on the home page");
    assert!(html.contains("GlobalAdministrator of Contoso"));

    let other = app.browser();
    let page = other
        .get(app.url("/signin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = other
        .post(app.url("/signin"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", ga.as_str()),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("The email address or password is not correct"));

    let activities = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    assert!(activities.contains(&"UserLoggedIn".to_owned()));
    assert!(activities.contains(&"UserLoginFailed".to_owned()));
    // An unknown account's failure lands in the operator realm's log.
    let res = other
        .post(app.url("/signin"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", "nobody@nowhere.example"),
            ("password", "whatever-it-is"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(app
        .activities(AuditChain::Operator)
        .await
        .contains(&"UserLoginFailed".to_owned()));
}

async fn repeated_sign_in_failures_are_throttled_with_a_clear_message(app: TestApp) {
    let email = &app.world.a.user(TenantRole::AuditReader).email;
    let browser = app.browser();
    let page = browser
        .get(app.url("/signin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let res = browser
            .post(app.url("/signin"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email.as_str()),
                ("password", "guessing-wrong-again"),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let html = res.text().await.unwrap();
            assert!(html.contains("Too many sign-in attempts"), "{html}");
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(&statuses[5..], &[429, 429]);
    // Even the right password waits now.
    let res = browser
        .post(app.url("/signin"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
}

async fn forms_without_the_csrf_token_are_refused(app: TestApp) {
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    for (path, form) in [
        (
            "/portal/users",
            vec![
                ("display_name", "Mallory"),
                ("email", "mallory@contoso.example"),
                ("password", "a-long-enough-password"),
            ],
        ),
        (
            "/portal/settings",
            vec![("default_language", "ko"), ("time_zone", "Asia/Seoul")],
        ),
        (
            "/portal/api-clients",
            vec![("display_name", "x"), ("permissions", "AuditLog.Read.All")],
        ),
        ("/signout", vec![]),
    ] {
        let res = browser
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path} without token");
        let mut with_wrong = form.clone();
        with_wrong.push(("csrf", "forged"));
        let res = browser
            .post(app.url(path))
            .form(&with_wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path} with a wrong token");
        assert!(res.text().await.unwrap().contains("The form has expired"));
    }
    assert!(app
        .core
        .store
        .find_user_by_email(
            &candor_domain::identity::EmailAddress::parse("mallory@contoso.example").unwrap()
        )
        .await
        .unwrap()
        .is_none());
    // Sign-in itself is protected by the pre-session token.
    let fresh = app.browser();
    let res = fresh
        .post(app.url("/signin"))
        .form(&[("email", "admin@contoso.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn idle_sessions_expire_and_sign_out_ends_the_session(app: TestApp) {
    let browser = app
        .sign_in(&app.world.a.user(TenantRole::AuditReader).email, false)
        .await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        browser
            .get(app.url("/portal"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        browser
            .get(app.url("/portal"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "activity keeps it alive"
    );
    app.clock.advance(Duration::minutes(31));
    let res = browser.get(app.url("/portal")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/signin");

    let browser = app
        .sign_in(&app.world.a.user(TenantRole::AuditReader).email, false)
        .await;
    let csrf = app.csrf(&browser, "/portal").await;
    let res = browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        browser
            .get(app.url("/portal"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert!(app
        .activities(AuditChain::Tenant(app.world.a.id))
        .await
        .contains(&"UserLoggedOut".to_owned()));
}

async fn a_global_administrator_manages_users_and_roles(app: TestApp) {
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    let csrf = app.csrf(&browser, "/portal/users").await;
    let res = browser
        .post(app.url("/portal/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Ada Lovelace"),
            ("email", "ada@contoso.example"),
            ("password", "a-long-enough-password"),
            ("roles", "AuditReader"),
            ("roles", "MessageCenterReader"),
            ("language", "fr"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = browser
        .get(app.url("/portal/users?notice=user-created"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ada@contoso.example"));
    assert!(page.contains("The user was added."));

    // Bad input: a clear message, nothing written.
    let res = browser
        .post(app.url("/portal/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Bob"),
            ("email", "bob-at-contoso"),
            ("password", "a-long-enough-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("is not an email address"));
    let res = browser
        .post(app.url("/portal/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Bob"),
            ("email", "bob@contoso.example"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("at least 12 characters"));
    let res = browser
        .post(app.url("/portal/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Dup"),
            ("email", "ada@contoso.example"),
            ("password", "a-long-enough-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // The last Global Administrator cannot lose the role.
    let ga = app.world.a.user(TenantRole::GlobalAdministrator);
    let res = browser
        .post(app.url(&format!("/portal/users/{}/roles", ga.id)))
        .form(&[("csrf", csrf.as_str()), ("roles", "AuditReader")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("at least one Global Administrator"));

    let reader = app.world.a.user(TenantRole::AuditReader);
    let res = browser
        .post(app.url(&format!("/portal/users/{}/roles", reader.id)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("roles", "AuditReader"),
            ("roles", "CustomerLockboxAccessApprover"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 10_000)
        .await
        .unwrap();
    let change = records
        .iter()
        .rev()
        .find(|r| r.activity == "Set-UserRoles")
        .unwrap();
    assert_eq!(change.item.as_deref(), Some(reader.email.as_str()));
    assert!(change.details.contains("CustomerLockboxAccessApprover"));
    assert_eq!(
        change.actor,
        app.world.a.user(TenantRole::GlobalAdministrator).email
    );
    assert_eq!(change.ip_address.as_deref(), Some("127.0.0.1"));
}

async fn api_client_secrets_are_shown_once_and_work(app: TestApp) {
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    let csrf = app.csrf(&browser, "/portal/api-clients").await;
    let res = browser
        .post(app.url("/portal/api-clients"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Status dashboard"),
            ("permissions", "ServiceHealth.Read.All"),
            ("permissions", "AuditLog.Read.All"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let grab = |id: &str| {
        let marker = format!("id=\"{id}\">");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('<').unwrap()].to_owned()
    };
    let client = crate::common::App {
        client_id: grab("new-client-id"),
        secret: grab("new-client-secret"),
    };
    let token = app.token(&client).await;
    let res = app
        .http()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The list page never shows the secret again.
    let list = browser
        .get(app.url("/portal/api-clients"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&client.client_id));
    assert!(!list.contains(&client.secret));

    let res = browser
        .post(app.url("/portal/api-clients"))
        .form(&[("csrf", csrf.as_str()), ("display_name", "No permissions")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let res = browser
        .post(app.url(&format!("/portal/api-clients/{}/revoke", client.client_id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Revoked on this instance: refused at once, without waiting for the cache.
    let res = app
        .http()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let activities = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    assert!(activities.contains(&"Add-ApiClient".to_owned()));
    assert!(activities.contains(&"Revoke-ApiClient".to_owned()));
}

async fn settings_and_language_follow_the_reader(app: TestApp) {
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    let csrf = app.csrf(&browser, "/portal/settings").await;
    let res = browser
        .post(app.url("/portal/settings"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("default_language", "nl"),
            ("time_zone", "Mars/Olympus"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Mars/Olympus"));
    let res = browser
        .post(app.url("/portal/settings"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("default_language", "nl"),
            ("time_zone", "Asia/Taipei"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let tenant = app
        .core
        .store
        .get_tenant(app.world.a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.time_zone.as_str(), "Asia/Taipei");
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 10_000)
        .await
        .unwrap();
    let change = records
        .iter()
        .rev()
        .find(|r| r.activity == "Set-TenantSettings")
        .unwrap();
    assert!(change.details.contains("Europe/Amsterdam") && change.details.contains("Asia/Taipei"));

    // Users without a language of their own now read Dutch.
    let reader = app
        .sign_in(&app.world.a.user(TenantRole::AuditReader).email, false)
        .await;
    let html = reader
        .get(app.url("/portal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("lang=\"nl\""), "tenant default applies");
    // A personal choice wins over the tenant's.
    let csrf = app.csrf(&reader, "/portal").await;
    let res = reader
        .post(app.url("/language"))
        .form(&[("csrf", csrf.as_str()), ("lang", "ko"), ("back", "/portal")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/portal");
    let html = reader
        .get(app.url("/portal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("lang=\"ko\""));
    let user = app
        .core
        .store
        .get_user(
            app.world.a.id,
            app.world
                .a
                .user(TenantRole::AuditReader)
                .id
                .parse()
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        user.language,
        Some(candor_domain::language::Language::Korean)
    );
    // An open redirect is not possible through `back`.
    let res = reader
        .post(app.url("/language"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("lang", "en"),
            ("back", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/");
}

crate::both!(
    sign_in_succeeds_fails_and_is_audited,
    repeated_sign_in_failures_are_throttled_with_a_clear_message,
    forms_without_the_csrf_token_are_refused,
    idle_sessions_expire_and_sign_out_ends_the_session,
    a_global_administrator_manages_users_and_roles,
    api_client_secrets_are_shown_once_and_work,
    settings_and_language_follow_the_reader,
);
