//! Every permission rule, over HTTP: the allowed actor gets in, each forbidden one (wrong
//! role, other tenant, other realm, no credentials) is refused with 401/403 and a body
//! that says why.

use candor_domain::identity::{ApiPermission, OperatorRole, TenantRole};
use serde_json::Value;

use crate::common::TestApp;

const RANGE: &str = "start=2026-11-01&end=2026-12-01";

async fn audit_api_admits_audit_readers_only(app: TestApp) {
    let url = app.url(&format!("/api/v1/audit/records?{RANGE}"));
    let anonymous = app.http().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");

    for role in TenantRole::ALL {
        let browser = app.sign_in(&app.world.a.user(*role).email, false).await;
        let res = browser.get(&url).send().await.unwrap();
        let allowed = matches!(
            role,
            TenantRole::GlobalAdministrator | TenantRole::AuditReader
        );
        if allowed {
            assert_eq!(res.status(), 200, "{role}");
            let body: Value = res.json().await.unwrap();
            assert!(body["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["actorKind"] != "operator"));
        } else {
            assert_eq!(res.status(), 403, "{role}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("AuditReader"),
                "{body}"
            );
        }
    }

    for perm in ApiPermission::ALL {
        let token = app.token(app.world.a.app(*perm)).await;
        let res = app
            .http()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if *perm == ApiPermission::AuditLogReadAll {
            assert_eq!(res.status(), 200);
        } else {
            assert_eq!(res.status(), 403, "{perm}");
            let body: Value = res.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("AuditLog.Read.All"),
                "{body}"
            );
        }
    }

    for role in OperatorRole::ALL {
        let browser = app.sign_in(&app.world.operator(*role).email, true).await;
        let res = browser.get(&url).send().await.unwrap();
        if *role == OperatorRole::ProviderAdmin {
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            // The operator realm's log, not a tenant's.
            let items = body["items"].as_array().unwrap();
            assert!(
                items.iter().any(|r| r["activity"] == "Add-Operator"),
                "{body}"
            );
            assert!(items.iter().all(|r| r["activity"] != "Add-User"), "{body}");
        } else {
            assert_eq!(res.status(), 403, "{role}");
            let body: Value = res.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("ProviderAdmin"),
                "{body}"
            );
        }
    }
}

async fn each_tenant_sees_only_its_own_audit_log(app: TestApp) {
    let a = app.token(&app.world.a.all).await;
    let b = app.token(&app.world.b.all).await;
    let fetch = |token: String| {
        let http = app.http();
        let url = app.url(&format!("/api/v1/audit/records?{RANGE}&limit=500"));
        async move {
            let res = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let items_a = fetch(a).await["items"].as_array().unwrap().clone();
    let items_b = fetch(b).await["items"].as_array().unwrap().clone();
    let users = |items: &[Value]| {
        items
            .iter()
            .map(|r| r["item"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert!(users(&items_a)
        .iter()
        .any(|i| i.ends_with("@contoso.example")));
    assert!(users(&items_a)
        .iter()
        .all(|i| !i.ends_with("@fabrikam.example")));
    assert!(users(&items_b)
        .iter()
        .all(|i| !i.ends_with("@contoso.example")));
}

async fn a_global_administrator_cannot_touch_another_tenants_users(app: TestApp) {
    let browser = app
        .sign_in(
            &app.world.a.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    let csrf = app.csrf(&browser, "/portal/users").await;
    let victim = app.world.b.user(TenantRole::AuditReader);
    let res = browser
        .post(app.url(&format!("/portal/users/{}/roles", victim.id)))
        .form(&[("csrf", csrf.as_str()), ("roles", "GlobalAdministrator")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let user = app
        .core
        .store
        .get_user(app.world.b.id, victim.id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!user.roles.contains(TenantRole::GlobalAdministrator));
}

async fn portal_and_console_pages_require_their_roles(app: TestApp) {
    let tenant_pages = [
        (
            "/portal/audit",
            &[TenantRole::GlobalAdministrator, TenantRole::AuditReader][..],
        ),
        ("/portal/users", &[TenantRole::GlobalAdministrator][..]),
        (
            "/portal/api-clients",
            &[TenantRole::GlobalAdministrator][..],
        ),
        ("/portal/settings", &[TenantRole::GlobalAdministrator][..]),
        (
            "/portal/health",
            &[
                TenantRole::GlobalAdministrator,
                TenantRole::ServiceSupportAdministrator,
            ][..],
        ),
    ];
    for role in TenantRole::ALL {
        let browser = app.sign_in(&app.world.a.user(*role).email, false).await;
        assert_eq!(
            browser
                .get(app.url("/portal"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        for (path, allowed) in tenant_pages {
            let res = browser.get(app.url(path)).send().await.unwrap();
            let expected = if allowed.contains(role) { 200 } else { 403 };
            assert_eq!(res.status(), expected, "{role} on {path}");
        }
        // Tenant users have no business in the console.
        let res = browser
            .get(app.url("/console/tenants"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/portal");
    }
    let console_pages = ["/console/tenants", "/console/operators", "/console/audit"];
    for role in OperatorRole::ALL {
        let browser = app.sign_in(&app.world.operator(*role).email, true).await;
        assert_eq!(
            browser
                .get(app.url("/console"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        for path in console_pages {
            let res = browser.get(app.url(path)).send().await.unwrap();
            let expected = if *role == OperatorRole::ProviderAdmin {
                200
            } else {
                403
            };
            assert_eq!(res.status(), expected, "{role} on {path}");
        }
        for path in ["/console/issues", "/console/issues/new"] {
            let res = browser.get(app.url(path)).send().await.unwrap();
            let expected = if *role == OperatorRole::IncidentManager {
                200
            } else {
                403
            };
            assert_eq!(res.status(), expected, "{role} on {path}");
        }
        let res = browser.get(app.url("/portal/users")).send().await.unwrap();
        assert_eq!(res.status(), 303, "operators are sent back to the console");
        assert_eq!(res.headers()["location"], "/console");
    }
    for path in ["/portal", "/portal/audit", "/console", "/console/tenants"] {
        let res = app.http().get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.ends_with("/signin"), "{path} -> {location}");
    }
}

async fn only_provider_admins_create_tenants_and_operators(app: TestApp) {
    for role in OperatorRole::ALL {
        let browser = app.sign_in(&app.world.operator(*role).email, true).await;
        let csrf = app.csrf(&browser, "/console").await;
        let res = browser
            .post(app.url("/console/tenants"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", &format!("Made by {role}")),
                ("home_region", "eu-west"),
                ("default_language", "en"),
                ("time_zone", "UTC"),
            ])
            .send()
            .await
            .unwrap();
        let expected = if *role == OperatorRole::ProviderAdmin {
            303
        } else {
            403
        };
        assert_eq!(res.status(), expected, "{role}");
        let res = browser
            .post(app.url("/console/operators"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("display_name", "New Op"),
                (
                    "email",
                    &format!("new-{}@provider.example", role.as_str().to_lowercase()),
                ),
                ("password", "a-long-enough-password"),
                ("roles", "SupportEngineer"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected, "{role}");
    }
    assert_eq!(app.core.store.count_tenants().await.unwrap(), 3);
}

crate::both!(
    audit_api_admits_audit_readers_only,
    each_tenant_sees_only_its_own_audit_log,
    a_global_administrator_cannot_touch_another_tenants_users,
    portal_and_console_pages_require_their_roles,
    only_provider_admins_create_tenants_and_operators,
);
