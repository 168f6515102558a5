//! Service health: issues reach exactly the affected tenants, update by update, on a
//! cadence, and a resolved issue becomes active again only by an explicit reopen.

use candor_app::health::{self as svc, NewIssueInput, PostInput, UpdateInput};
use candor_app::topology;
use candor_domain::audit::AuditChain;
use candor_domain::clock::Clock;
use candor_domain::health::*;
use candor_domain::identity::{Actor, OperatorRole, RegionCode, TenantRole};
use candor_web::error::ApiError;
use time::Duration;

use crate::common::TestApp;

pub(crate) fn operator(app: &TestApp, role: OperatorRole) -> Actor {
    let p = app.world.operator(role);
    Actor::Operator {
        operator_id: p.id.parse().unwrap(),
        email: p.email.clone(),
        roles: [role].into_iter().collect(),
    }
}

/// Tenant A's user with `role`, as an actor.
pub(crate) fn tenant_actor(app: &TestApp, role: TenantRole) -> Actor {
    let p = app.world.a.user(role);
    Actor::TenantUser {
        tenant_id: app.world.a.id,
        user_id: p.id.parse().unwrap(),
        email: p.email.clone(),
        roles: [role].into_iter().collect(),
    }
}

fn reader(app: &TestApp, tenant_b: bool) -> (Actor, candor_domain::TenantId) {
    let t = if tenant_b { &app.world.b } else { &app.world.a };
    let p = t.user(TenantRole::ServiceSupportAdministrator);
    (
        Actor::TenantUser {
            tenant_id: t.id,
            user_id: p.id.parse().unwrap(),
            email: p.email.clone(),
            roles: [TenantRole::ServiceSupportAdministrator]
                .into_iter()
                .collect(),
        },
        t.id,
    )
}

/// Contoso lives on an Exchange mailbox database, Fabrikam on a SharePoint farm, both in
/// scale unit eu-west-su1.
pub(crate) async fn place(app: &TestApp) {
    let svc = |id: &str, name: &str, prefix: &str| Service {
        id: ServiceId::parse(id).unwrap(),
        display_name: name.into(),
        issue_prefix: IssuePrefix::parse(prefix).unwrap(),
        features: vec![Feature {
            feature_group: "E-Mail and calendar access".into(),
            name: "E-Mail and calendar access".into(),
        }],
    };
    let su = ScaleUnitId::parse("eu-west-su1").unwrap();
    let comp = |id: &str, s: &str| Component {
        id: ComponentId::parse(id).unwrap(),
        scale_unit: su.clone(),
        services: [ServiceId::parse(s).unwrap()].into_iter().collect(),
    };
    let changes = TopologyChanges {
        tenants: vec![],
        services: vec![
            svc("Exchange", "Exchange Online", "EX"),
            svc("SharePoint", "SharePoint Online", "SP"),
        ],
        regions: vec![Region {
            code: RegionCode::parse("eu-west").unwrap(),
            display_name: "Europe West".into(),
        }],
        scale_units: vec![ScaleUnit {
            id: su.clone(),
            region: RegionCode::parse("eu-west").unwrap(),
        }],
        components: vec![
            comp("eu-west-su1-mbx01", "Exchange"),
            comp("eu-west-su1-spo01", "SharePoint"),
        ],
        placements: vec![
            Placement {
                tenant_id: app.world.a.id,
                component: ComponentId::parse("eu-west-su1-mbx01").unwrap(),
            },
            Placement {
                tenant_id: app.world.b.id,
                component: ComponentId::parse("eu-west-su1-spo01").unwrap(),
            },
        ],
    };
    topology::apply(&app.core, &Actor::System, None, &changes)
        .await
        .unwrap();
}

pub(crate) fn incident(scope: Scope) -> NewIssueInput {
    NewIssueInput {
        service: "Exchange Online".into(),
        classification: candor_domain::health::Classification::Incident,
        feature: Some("E-Mail and calendar access".into()),
        feature_group: Some("E-Mail and calendar access".into()),
        title: "Users can't open their mailboxes".into(),
        impact_description: "Users may be unable to open mail in any client.".into(),
        scope,
        post: PostInput {
            body_html: "<p>We're investigating.</p><script>alert(1)</script>".into(),
            translations: [(
                candor_domain::language::Language::Dutch,
                "<p>We onderzoeken het.</p>".to_owned(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn post(text: &str) -> Option<PostInput> {
    Some(PostInput {
        body_html: format!("<p>{text}</p>"),
        ..Default::default()
    })
}

async fn an_incident_reaches_exactly_the_tenants_on_the_broken_infrastructure(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        scale_units: [ScaleUnitId::parse("eu-west-su1").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let preview = svc::preview(&app.core, &im, "Exchange", &scope)
        .await
        .unwrap();
    assert_eq!(preview.total, 1);
    assert_eq!(preview.tenants[0].id, app.world.a.id);
    assert_eq!(preview.by_region, vec![("eu-west".to_owned(), 1)]);

    let (issue, affected) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    assert_eq!(affected, 1);
    assert!(issue.id.as_str().starts_with("EX1"), "{}", issue.id);
    assert_eq!(
        issue.next_update_due,
        Some(app.clock.now() + Duration::hours(1))
    );

    let (a, a_id) = reader(&app, false);
    let (dash, recent) = svc::tenant_dashboard(&app.core, &a, a_id).await.unwrap();
    let exchange = dash
        .iter()
        .find(|v| v.service.id.as_str() == "Exchange")
        .unwrap();
    assert_eq!(exchange.status, Status::Investigating);
    assert_eq!(recent.len(), 1);
    let (_, posts) = svc::issue_for_tenant(&app.core, &a, a_id, issue.id.clone())
        .await
        .unwrap();
    assert!(
        !posts[0].body_html.contains("script"),
        "sanitized: {}",
        posts[0].body_html
    );
    assert_eq!(
        posts[0].body_in(candor_domain::language::Language::Dutch),
        "<p>We onderzoeken het.</p>"
    );

    let (b, b_id) = reader(&app, true);
    let (dash, recent) = svc::tenant_dashboard(&app.core, &b, b_id).await.unwrap();
    assert!(
        recent.is_empty(),
        "Fabrikam never sees an issue that does not affect it"
    );
    assert!(dash.iter().all(|v| v.status == Status::ServiceOperational));
    let err = svc::issue_for_tenant(&app.core, &b, b_id, issue.id.clone())
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(err).status(), 404);

    // Widening the scope tells Fabrikam, with the whole history.
    let wider = Scope {
        services: ["Exchange", "SharePoint"]
            .iter()
            .map(|s| ServiceId::parse(s).unwrap())
            .collect(),
        ..issue.scope.clone()
    };
    let (_, added) = svc::change_scope(&app.core, &im, None, issue.id.clone(), wider)
        .await
        .unwrap();
    assert_eq!(added, 1);
    let (_, posts) = svc::issue_for_tenant(&app.core, &b, b_id, issue.id.clone())
        .await
        .unwrap();
    assert_eq!(posts.len(), 1);
    // Narrowing again keeps Fabrikam informed.
    svc::change_scope(&app.core, &im, None, issue.id.clone(), issue.scope.clone())
        .await
        .unwrap();
    assert!(svc::issue_for_tenant(&app.core, &b, b_id, issue.id.clone())
        .await
        .is_ok());

    let activities = app.activities(AuditChain::Operator).await;
    assert!(activities.contains(&"New-ServiceHealthIssue".to_owned()));
    assert_eq!(
        activities
            .iter()
            .filter(|a| *a == "Set-ServiceHealthIssueScope")
            .count(),
        2
    );
}

async fn only_incident_managers_publish_and_scopes_must_exist(app: TestApp) {
    place(&app).await;
    let scope = Scope {
        services: [ServiceId::parse("Exchange").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    for role in [
        OperatorRole::ProviderAdmin,
        OperatorRole::SupportEngineer,
        OperatorRole::SupportManager,
    ] {
        let err = svc::create_issue(
            &app.core,
            &operator(&app, role),
            None,
            incident(scope.clone()),
        )
        .await
        .unwrap_err();
        assert_eq!(ApiError::from(err).status(), 403, "{role}");
    }
    let (a, _) = reader(&app, false);
    assert_eq!(
        ApiError::from(
            svc::create_issue(&app.core, &a, None, incident(scope.clone()))
                .await
                .unwrap_err()
        )
        .status(),
        403
    );
    let im = operator(&app, OperatorRole::IncidentManager);
    for (bad, needle) in [
        (Scope::default(), "scope"),
        (
            Scope {
                components: [ComponentId::parse("nowhere-1").unwrap()]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            "nowhere-1",
        ),
        (
            Scope {
                tenants: [candor_domain::TenantId::generate()].into_iter().collect(),
                ..Default::default()
            },
            "does not exist",
        ),
    ] {
        let err = svc::create_issue(&app.core, &im, None, incident(bad))
            .await
            .unwrap_err();
        let err = ApiError::from(err);
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains(needle), "{err}");
    }
    let mut no_service = incident(scope.clone());
    no_service.service = "Exchange Offline".into();
    assert!(svc::create_issue(&app.core, &im, None, no_service)
        .await
        .unwrap_err()
        .to_string()
        .contains("catalog"));
    let mut empty_post = incident(scope);
    empty_post.post.body_html = "<script>only this</script>".into();
    assert!(svc::create_issue(&app.core, &im, None, empty_post)
        .await
        .unwrap_err()
        .to_string()
        .contains("text"));
    assert!(
        app.core
            .store
            .list_issues(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "nothing half-written"
    );
}

async fn updates_keep_the_cadence_and_reopening_is_explicit(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        services: [ServiceId::parse("Exchange").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (issue, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    let id = &issue.id;

    app.clock.advance(Duration::minutes(45));
    let up = svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceDegradation),
            post: post("Mailbox database failover under way."),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((up.updates_total, up.updates_on_time), (1, 1));
    assert_eq!(
        up.next_update_due,
        Some(app.clock.now() + Duration::hours(1))
    );

    // Seventy minutes of silence: overdue, and the late post does not count as on time.
    app.clock.advance(Duration::minutes(70));
    let overdue = app
        .core
        .store
        .overdue_issues(app.clock.now())
        .await
        .unwrap();
    assert_eq!(overdue.len(), 1);
    let up = svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            post: post("Still recovering; next update in two hours."),
            cadence_minutes: Some(120),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((up.updates_total, up.updates_on_time), (2, 1));
    assert_eq!(up.cadence, Duration::minutes(120));
    assert_eq!(
        up.next_update_due,
        Some(app.clock.now() + Duration::hours(2))
    );
    let posts = app.core.store.issue_posts(&up.id).await.unwrap();
    assert_eq!(
        posts.last().unwrap().new_cadence,
        Some(Duration::minutes(120)),
        "the post tells tenants the new cadence"
    );

    // A cadence change without a post is refused.
    let err = svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            cadence_minutes: Some(30),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(ApiError::from(err).status(), 400);

    let done = svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: post("Fixed."),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(done.is_resolved());
    assert_eq!(done.next_update_due, None);
    assert!(done.end.is_some());
    let err = svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::Investigating),
            post: post("Back?"),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    let err = ApiError::from(err);
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("reopen"), "{err}");
    let err = svc::reopen_issue(&app.core, &im, None, id.clone(), UpdateInput::default())
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(err).status(), 400, "a reopen says why");
    let again = svc::reopen_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            post: post("The problem is back for some users."),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.status, Status::Investigating);
    assert!(again.end.is_none());
    assert!(again.next_update_due.is_some());
    assert!(app
        .activities(AuditChain::Operator)
        .await
        .contains(&"Reopen-ServiceHealthIssue".to_owned()));
}

async fn the_console_publishes_and_the_affected_tenant_reads_it(app: TestApp) {
    place(&app).await;
    let console = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let csrf = app.csrf(&console, "/console/issues/new").await;
    let form = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("service", "Exchange".to_owned()),
            ("classification", "incident".to_owned()),
            ("status", "serviceDegradation".to_owned()),
            ("title", "Mail delivery is delayed".to_owned()),
            (
                "impact_description",
                "Messages may take an hour to arrive.".to_owned(),
            ),
            ("cadence_minutes", "60".to_owned()),
            ("scale_units", "eu-west-su1".to_owned()),
            ("body", "<p>We are rerouting mail.</p>".to_owned()),
            ("translation_nl", "<p>We leiden de mail om.</p>".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let res = console
        .post(app.url("/console/issues/new"))
        .form(&form("preview"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("tenants will be told") && html.contains("<strong>1</strong>"),
        "preview shows one tenant"
    );
    assert!(
        html.contains("Contoso") && !html.contains(">Fabrikam "),
        "and which"
    );
    assert!(
        app.core
            .store
            .list_issues(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "a preview publishes nothing"
    );

    let res = console
        .post(app.url("/console/issues/new"))
        .form(&form("publish"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/console/issues/EX") && location.contains("count=1"),
        "{location}"
    );
    let id = location
        .trim_start_matches("/console/issues/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = console
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mail delivery is delayed") && page.contains("published to 1 tenants"));

    let csrf = app.csrf(&console, &format!("/console/issues/{id}")).await;
    let res = console
        .post(app.url(&format!("/console/issues/{id}/posts")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("status", "restoringService"),
            ("post_type", "regular"),
            ("cadence_minutes", "30"),
            ("body", "Half the queues are drained."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Bad input on the console: a form error, nothing written.
    let res = console
        .post(app.url(&format!("/console/issues/{id}/posts")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("status", "investigating"),
            ("cadence_minutes", "lots"),
            ("body", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // The affected tenant's service support admin sees it, in Dutch where translated.
    let reader = app
        .sign_in(
            &app.world
                .a
                .user(TenantRole::ServiceSupportAdministrator)
                .email,
            false,
        )
        .await;
    let dash = reader
        .get(app.url("/portal/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dash.contains(&id) && dash.contains("Exchange Online"));
    let csrf = app.csrf(&reader, "/portal/health").await;
    reader
        .post(app.url("/language"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("lang", "nl"),
            ("back", "/portal/health"),
        ])
        .send()
        .await
        .unwrap();
    let issue = reader
        .get(app.url(&format!("/portal/health/issues/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(issue.status(), 200);
    let html = issue.text().await.unwrap();
    assert!(
        html.contains("We leiden de mail om."),
        "the Dutch translation"
    );
    assert!(
        html.contains("Half the queues are drained."),
        "an untranslated post falls back to the original"
    );
    assert!(
        html.contains("30"),
        "the post announcing a new cadence says so"
    );

    // The other tenant does not even learn that the issue exists.
    let other = app
        .sign_in(
            &app.world.b.user(TenantRole::GlobalAdministrator).email,
            false,
        )
        .await;
    assert_eq!(
        other
            .get(app.url(&format!("/portal/health/issues/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let dash = other
        .get(app.url("/portal/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!dash.contains(&id));
}

crate::both!(
    the_watchdog_flags_each_overdue_update_once,
    the_owner_of_an_overdue_incident_is_alerted,
    a_published_review_marks_the_issue_and_reaches_its_tenants,
    the_console_publishes_and_the_affected_tenant_reads_it,
    an_incident_reaches_exactly_the_tenants_on_the_broken_infrastructure,
    only_incident_managers_publish_and_scopes_must_exist,
    updates_keep_the_cadence_and_reopening_is_explicit,
);

async fn a_published_review_marks_the_issue_and_reaches_its_tenants(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        scale_units: [ScaleUnitId::parse("eu-west-su1").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (issue, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    let id = issue.id.clone();
    let sections = svc::PirInput {
        user_impact: "Mail was delayed by up to an hour.".into(),
        scope_of_impact: "Tenants on one scale unit in Europe.".into(),
        root_cause: "<p>A disk filled up.</p><script>x</script>".into(),
        actions_taken: "We freed space and moved queues.".into(),
        next_steps: "Alert at 80 % disk use.".into(),
        ..Default::default()
    };
    svc::save_pir_draft(&app.core, &im, None, id.clone(), sections.clone())
        .await
        .unwrap();
    let err = svc::publish_pir(&app.core, &im, None, id.clone())
        .await
        .unwrap_err();
    assert_eq!(
        ApiError::from(err).status(),
        409,
        "an active issue has no review yet"
    );
    svc::update_issue(
        &app.core,
        &im,
        None,
        id.clone(),
        UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: post("Fixed."),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut incomplete = sections.clone();
    incomplete.next_steps = String::new();
    svc::save_pir_draft(&app.core, &im, None, id.clone(), incomplete)
        .await
        .unwrap();
    assert_eq!(
        ApiError::from(
            svc::publish_pir(&app.core, &im, None, id.clone())
                .await
                .unwrap_err()
        )
        .status(),
        400
    );
    svc::save_pir_draft(&app.core, &im, None, id.clone(), sections)
        .await
        .unwrap();

    // Tenants cannot read a draft.
    let reader = app
        .sign_in(
            &app.world
                .a
                .user(TenantRole::ServiceSupportAdministrator)
                .email,
            false,
        )
        .await;
    assert_eq!(
        reader
            .get(app.url(&format!("/portal/health/issues/{id}/review")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let console = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let csrf = app.csrf(&console, &format!("/console/issues/{id}")).await;
    let res = console
        .post(app.url(&format!("/console/issues/{id}/review")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_impact", "Mail was delayed by up to an hour."),
            ("scope_of_impact", "Tenants on one scale unit in Europe."),
            ("root_cause", "A disk filled up."),
            ("actions_taken", "We freed space."),
            ("next_steps", "Alert at 80 % disk use."),
            ("action", "publish"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let issue = app.core.store.get_issue(&id).await.unwrap().unwrap();
    assert_eq!(issue.status, Status::PostIncidentReviewPublished);
    assert!(app
        .activities(AuditChain::Operator)
        .await
        .contains(&"Publish-PostIncidentReview".to_owned()));

    let page = reader
        .get(app.url(&format!("/portal/health/issues/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/review?download=1"));
    let doc = reader
        .get(app.url(&format!("/portal/health/issues/{id}/review?download=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), 200);
    assert!(doc.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let html = doc.text().await.unwrap();
    for section in [
        "User impact",
        "Scope of impact",
        "Incident start and end",
        "Root cause",
        "Actions taken",
        "Next steps",
        "A disk filled up.",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(
        html.contains("<style>") && !html.contains("/static/"),
        "self-contained"
    );

    // Graph's incidentReport serves the same document; other tenants get Graph's 404.
    let token = app
        .token(
            app.world
                .a
                .app(candor_domain::identity::ApiPermission::ServiceHealthReadAll),
        )
        .await;
    let report = app
        .http()
        .get(app.url(&format!(
            "/v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    let document = report.text().await.unwrap();
    assert!(document.contains("Root cause"));
    // Every Graph function in the route table is served in each form the SDKs
    // generate: `name()` (Microsoft's own SDK), `microsoft.graph.name()`, and `name`.
    let functions: Vec<String> = app
        .state
        .routes
        .entries()
        .iter()
        .filter_map(|e| {
            let (base, last) = e.path.rsplit_once('/')?;
            let name = last.strip_prefix("microsoft.graph.")?.strip_suffix("()")?;
            Some(format!("{base}/{name}"))
        })
        .collect();
    assert!(
        functions
            .iter()
            .any(|f| f.ends_with("/issues/{id}/incidentReport")),
        "{functions:?}"
    );
    for plain in &functions {
        let (base, name) = plain.rsplit_once('/').unwrap();
        for form in [
            plain.clone(),
            format!("{base}/{name}()"),
            format!("{base}/microsoft.graph.{name}()"),
        ] {
            assert!(
                app.state.routes.entries().iter().any(|e| e.path == form),
                "{form} is not routed"
            );
            if !form.starts_with("/v1.0/admin/serviceAnnouncement/issues/{id}/") {
                continue;
            }
            let res = app
                .http()
                .get(app.url(&form.replace("{id}", &id.to_string())))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{form}");
            assert_eq!(res.text().await.unwrap(), document, "{form}");
        }
    }
    let other = app
        .token(
            app.world
                .b
                .app(candor_domain::identity::ApiPermission::ServiceHealthReadAll),
        )
        .await;
    let report = app
        .http()
        .get(app.url(&format!(
            "/v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport"
        )))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 404);
    let graph: serde_json::Value = app
        .http()
        .get(app.url(&format!("/v1.0/admin/serviceAnnouncement/issues/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(graph["status"], "postIncidentReviewPublished");
}

/// The owner of an overdue incident is told on the console pages they use; other
/// operators are not.
async fn the_owner_of_an_overdue_incident_is_alerted(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        services: [ServiceId::parse("Exchange").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (issue, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    let owner = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let url = app.url("/console");
    let home = |c: reqwest::Client| {
        let url = url.clone();
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        !home(owner.clone()).await.contains("class=\"alert\""),
        "nothing is due yet"
    );
    app.clock.advance(Duration::minutes(75));
    // (A new session: the first one idled out while the clock moved on.)
    let owner = app
        .sign_in(
            &app.world.operator(OperatorRole::IncidentManager).email,
            true,
        )
        .await;
    let page = home(owner.clone()).await;
    assert!(page.contains("class=\"alert\""), "the owner is alerted");
    assert!(page.contains(issue.id.as_str()));
    assert!(page.contains("15 minutes overdue"), "says how late");
    let list = owner
        .get(app.url("/console/issues"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("href=\"/console/issues/{}\"", issue.id)));
    let admin = app
        .sign_in(&app.world.operator(OperatorRole::ProviderAdmin).email, true)
        .await;
    assert!(
        !home(admin).await.contains("class=\"alert\""),
        "only the owner"
    );
}

async fn the_watchdog_flags_each_overdue_update_once(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        services: [ServiceId::parse("Exchange").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (issue, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    let runner = candor::jobs::JobRunner::new(app.core.clone());
    let drain = || async {
        runner.schedule_periodic(app.clock.now()).await.unwrap();
        while runner.run_one().await.unwrap().is_some() {}
    };
    let flags = || async {
        app.core
            .store
            .audit_chain_records("operator", 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.activity == "Flag-OverdueUpdate")
            .count()
    };
    drain().await;
    assert_eq!(flags().await, 0, "not due yet");
    app.clock.advance(Duration::minutes(61));
    drain().await;
    assert_eq!(flags().await, 1);
    app.clock.advance(Duration::minutes(5));
    drain().await;
    assert_eq!(flags().await, 1, "once per missed deadline");
    svc::update_issue(
        &app.core,
        &im,
        None,
        issue.id.clone(),
        UpdateInput {
            post: post("Still on it."),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.clock.advance(Duration::minutes(30));
    drain().await;
    assert_eq!(flags().await, 1, "back on time");
    app.clock.advance(Duration::minutes(31));
    drain().await;
    assert_eq!(
        flags().await,
        2,
        "the next missed deadline is flagged again"
    );
}
