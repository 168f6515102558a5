//! Internal elevation: no operator holds a privileged role standing except the
//! break-glass account; others get it through an elevation another holder approved, for
//! a limited time, refused again when it ends or is revoked; every step audited.

use candor_app::elevation;
use candor_app::error::AppError;
use candor_app::identity::{self, OperatorInput};
use candor_domain::audit::AuditChain;
use candor_domain::identity::{Actor, OperatorRole};
use time::Duration;

use crate::common::TestApp;
use crate::health::operator;

async fn status_of(browser: &reqwest::Client, app: &TestApp, path: &str) -> u16 {
    browser
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn privileged_roles_come_only_through_approved_elevations(app: TestApp) {
    let admin = operator(&app, OperatorRole::ProviderAdmin);
    // Nobody is given a privileged role standing, except by break-glass.
    let e = identity::create_operator(
        &app.core,
        &admin,
        None,
        OperatorInput {
            email: "second-admin@provider.example".into(),
            display_name: "Second Admin".into(),
            password: crate::common::PASSWORD.into(),
            roles: candor_app::words::roles(&["ProviderAdmin".to_owned()]).unwrap(),
            break_glass: false,
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("--break-glass"), "{e}");

    // An incident manager cannot manage tenants...
    let im_email = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let im = operator(&app, OperatorRole::IncidentManager);
    let browser = app.sign_in(&im_email, true).await;
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 403);
    // ...until they ask, and another holder of the role approves.
    let bad = elevation::request(&app.core, &im, None, "ProviderAdmin", "because", 60).await;
    assert!(
        matches!(bad, Err(AppError::Invalid(_))),
        "a reason is required: {bad:?}"
    );
    let not_privileged =
        elevation::request(&app.core, &im, None, "SupportManager", "INC-1 needs it", 60).await;
    assert!(matches!(not_privileged, Err(AppError::Invalid(_))));
    let asked = elevation::request(
        &app.core,
        &im,
        Some("198.51.100.4".into()),
        "ProviderAdmin",
        "INC-42: onboard the new tenant tonight",
        15,
    )
    .await
    .unwrap();
    let id = asked.id;
    let own = elevation::decide(&app.core, &im, None, id, true, None).await;
    assert!(
        matches!(own, Err(AppError::Forbidden(_))),
        "never one's own, refused as a matter of rights: {own:?}"
    );
    let manager = operator(&app, OperatorRole::SupportManager);
    let not_holder = elevation::decide(&app.core, &manager, None, id, true, None).await;
    assert!(
        matches!(not_holder, Err(AppError::Forbidden(_))),
        "only holders of the role decide: {not_holder:?}"
    );
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 403);
    let approved = elevation::decide(&app.core, &admin, None, id, true, Some("ok".into()))
        .await
        .unwrap();
    assert!(approved.active_until.is_some());
    assert_eq!(
        status_of(&browser, &app, "/console/tenants").await,
        200,
        "held from the approval on"
    );
    // For the approved time only (well inside the session's idle timeout).
    app.clock.advance(Duration::minutes(15));
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 403);
    // The deadline job writes the end down.
    assert_eq!(elevation::record_deadlines(&app.core).await.unwrap(), 1);
    assert_eq!(elevation::record_deadlines(&app.core).await.unwrap(), 0);

    // Revocation ends it at once.
    let again = elevation::request(
        &app.core,
        &im,
        None,
        "ProviderAdmin",
        "INC-43: rotate the API keys",
        120,
    )
    .await
    .unwrap()
    .id;
    elevation::decide(&app.core, &admin, None, again, true, None)
        .await
        .unwrap();
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 200);
    let ended = elevation::revoke(&app.core, &im, None, again)
        .await
        .unwrap();
    assert_eq!(ended.status.as_str(), "revoked");
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 403);

    // Audited in the operator realm's log.
    let log = app.activities(AuditChain::Operator).await;
    for activity in [
        "New-Elevation",
        "Set-Elevation",
        "Revoke-Elevation",
        "End-Elevation",
        "Add-BreakGlassOperator",
    ] {
        assert!(log.iter().any(|a| a == activity), "{activity} in {log:?}");
    }
    let _ = Actor::System;
}

async fn the_console_page_asks_and_decides(app: TestApp) {
    let im_email = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let browser = app.sign_in(&im_email, true).await;
    let csrf = app.csrf(&browser, "/console/elevation").await;
    // A form error keeps what was typed.
    let res = browser
        .post(app.url("/console/elevation"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("role", "ProviderAdmin"),
            ("reason", "short"),
            ("minutes", "60"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("10 to 1000"), "{page}");
    let res = browser
        .post(app.url("/console/elevation"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("role", "ProviderAdmin"),
            ("reason", "INC-50: restore a deleted tenant"),
            ("minutes", "30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Without the CSRF token nothing happens.
    let res = browser
        .post(app.url("/console/elevation"))
        .form(&[
            ("role", "ProviderAdmin"),
            ("reason", "INC-51: no token here"),
            ("minutes", "30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The break-glass admin sees it waiting and approves it.
    let admin_email = app
        .world
        .operator(OperatorRole::ProviderAdmin)
        .email
        .clone();
    let admin = app.sign_in(&admin_email, true).await;
    let page = admin
        .get(app.url("/console/elevation"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("INC-50"), "{page}");
    let id = page
        .split("/console/elevation/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let csrf = crate::common::csrf_of(&page);
    let res = admin
        .post(app.url(&format!("/console/elevation/{id}/decision")))
        .form(&[("csrf", csrf.as_str()), ("decision", "Approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(status_of(&browser, &app, "/console/tenants").await, 200);
}

crate::both!(
    privileged_roles_come_only_through_approved_elevations,
    the_console_page_asks_and_decides,
);
