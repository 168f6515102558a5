//! The whole Lockbox story through the demo mailbox service (`candor demo-workload`),
//! over real HTTP on both backends: refused without a grant; filed, approved internally
//! and by the tenant; the operation succeeds and shows in the tenant's audit log as
//! `Operator`; refused again when the duration runs out, and after a revocation.

use candor::demo_workload::{Workload, WorkloadSettings};
use candor_app::identity;
use candor_app::lockbox::{self, Decision, NewRequestInput};
use candor_domain::audit::AuditChain;
use candor_domain::identity::{Actor, OperatorRole, TenantRole};
use serde_json::{json, Value};
use time::Duration;

use crate::common::TestApp;
use crate::health::operator;

async fn mailbox_service(app: &TestApp) -> String {
    let (client, secret) = identity::create_operator_client(
        &app.core,
        &Actor::System,
        None,
        "Mailbox service",
        &["DataPlaneService".to_owned()],
    )
    .await
    .unwrap();
    let workload = Workload::new(WorkloadSettings {
        candor_url: app.base.clone(),
        client_id: client.id.to_string(),
        client_secret: secret,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = app.stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, workload.router())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    base
}

async fn the_demo_story_runs_end_to_end(app: TestApp) {
    for (name, ops) in candor::demo::DEMO_WORKLOADS {
        let ops: Vec<String> = ops.iter().map(|o| (*o).to_owned()).collect();
        lockbox::put_workload(&app.core, &Actor::System, None, name, &ops)
            .await
            .unwrap();
    }
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let service = mailbox_service(&app).await;
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let engineer_email = app
        .world
        .operator(OperatorRole::SupportEngineer)
        .email
        .clone();
    let http = app.http();
    let tenant = app.world.a.id.to_string();
    let attempt = |operation: &'static str| {
        let http = http.clone();
        let url = format!("{service}/tenants/{tenant}/operations/{operation}");
        let body = json!({"operator": engineer_email, "mailbox": "Megan Bowen"});
        async move {
            let res = http.post(url).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };

    // 1. Without a grant the engineer is refused.
    let (status, refused) = attempt("Get-Mailbox").await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["refused"]
        .as_str()
        .unwrap()
        .contains("no Lockbox request"));

    // 2-4. Filed, approved by the manager, approved by the tenant.
    let file = || NewRequestInput {
        tenant: app.world.a.id,
        workload: "Exchange Online".into(),
        operations: vec!["Get-Mailbox".into()],
        service_request: "SR-2026-7".into(),
        justification: "Megan's mailbox will not open in any client.".into(),
        duration_minutes: 60,
    };
    let id = lockbox::file_request(&app.core, &engineer, None, file())
        .await
        .unwrap()
        .id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    let (status, _) = attempt("Get-Mailbox").await;
    assert_eq!(status, 403, "not before the tenant approves");
    lockbox::decide(&app.core, &ga, None, id, Decision::Approve, None)
        .await
        .unwrap();

    // 5. The operation succeeds and lands in the tenant's log as `Operator`.
    let (status, done) = attempt("Get-Mailbox").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["grant"], id.to_string().as_str());
    assert_eq!(done["result"]["DisplayName"], "Megan Bowen");
    let (status, _) = attempt("Export-MailboxDiagnosticLogs").await;
    assert_eq!(status, 403, "only the operations approved");
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 1000)
        .await
        .unwrap();
    let op = records
        .iter()
        .find(|r| r.activity == "Get-Mailbox")
        .expect("the operation is in the tenant's audit log");
    assert_eq!(op.actor, "Operator");
    assert_eq!(op.item.as_deref(), Some(id.to_string().as_str()));
    assert!(op.details.contains("Megan Bowen"), "{}", op.details);

    // 6. After the duration, refused again (no job needed).
    app.clock.advance(Duration::minutes(60));
    let (status, refused) = attempt("Get-Mailbox").await;
    assert_eq!(status, 403);
    assert!(
        refused["refused"].as_str().unwrap().contains("completed"),
        "{refused}"
    );

    // 7. A new grant, revoked by the tenant: refused from that moment.
    let id = lockbox::file_request(&app.core, &engineer, None, file())
        .await
        .unwrap()
        .id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    lockbox::decide(&app.core, &ga, None, id, Decision::Approve, None)
        .await
        .unwrap();
    assert_eq!(attempt("Get-Mailbox").await.0, 200);
    lockbox::revoke(&app.core, &ga, None, id, Some("done".into()))
        .await
        .unwrap();
    let (status, refused) = attempt("Get-Mailbox").await;
    assert_eq!(status, 403);
    assert!(
        refused["refused"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );
}

crate::both!(the_demo_story_runs_end_to_end);
