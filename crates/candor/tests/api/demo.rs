//! The demo world is seeded once, completely, and audited as `system`.

use candor_domain::audit::AuditChain;
use candor_domain::identity::Actor;

use crate::common::{bare_core, Backend};

async fn demo_world(backend: Backend) {
    let Some((core, _clock, _db)) = bare_core(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let creds = candor::demo::seed_if_empty(&core, dir.path(), "http://127.0.0.1:9", |_, _| {})
        .await
        .unwrap()
        .expect("an empty database gets the demo world");
    assert_eq!(creds.tenants.len(), 50);
    assert_eq!(creds.operators.len(), 4);
    assert!(creds.tenants.iter().all(|t| t.users.len() == 5));
    assert_eq!(core.store.count_tenants().await.unwrap(), 50);
    assert_eq!(core.store.list_regions().await.unwrap().len(), 3);
    assert_eq!(core.store.list_services().await.unwrap().len(), 6);
    assert_eq!(core.store.count_placements().await.unwrap(), 200);
    let first: candor_domain::TenantId = creds.tenants[0].id.parse().unwrap();
    let services = candor_app::topology::services_of_tenant(&core, first)
        .await
        .unwrap();
    assert!(
        services.iter().any(|s| s.display_name == "Exchange Online"),
        "{services:?}"
    );
    let tenant = core.store.get_tenant(first).await.unwrap().unwrap();
    assert!(tenant.is_demo);
    // A living service: active and resolved incidents and advisories, one reviewed.
    let issues = core
        .store
        .list_issues(&candor_domain::store::IssueFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(issues.len(), 5);
    assert_eq!(issues.iter().filter(|i| !i.is_resolved()).count(), 2);
    let kinds: std::collections::BTreeSet<_> = issues
        .iter()
        .map(|i| (i.classification.as_str(), i.is_resolved()))
        .collect();
    assert_eq!(
        kinds.len(),
        4,
        "active and resolved incidents and advisories"
    );
    let reviewed: Vec<_> = issues
        .iter()
        .filter(|i| i.status == candor_domain::health::Status::PostIncidentReviewPublished)
        .collect();
    assert_eq!(reviewed.len(), 1);
    assert!(core
        .store
        .get_pir(&reviewed[0].id)
        .await
        .unwrap()
        .unwrap()
        .is_published());
    let contoso = core
        .store
        .tenant_issues(first, core.clock.now() - time::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(
        contoso.len(),
        3,
        "the first tenant is in eu-west-su1: {contoso:?}"
    );
    // Message Center: every category, one with an attachment, the first tenant reached.
    let messages = core.store.list_messages(100).await.unwrap();
    let categories: std::collections::BTreeSet<_> =
        messages.iter().map(|m| m.category.as_str()).collect();
    assert_eq!(categories.len(), candor_domain::health::Category::ALL.len());
    assert!(messages.iter().any(|m| !m.attachments.is_empty()));
    assert_eq!(core.store.tenant_messages(first).await.unwrap().len(), 3);

    // Customer Lockbox: on for the first tenant, a request in every state, and the
    // pending one's approver emails queued (they land in <data-dir>/outbox).
    assert!(core.store.lockbox_enabled(first).await.unwrap());
    assert_eq!(core.store.list_workloads().await.unwrap().len(), 3);
    let requests = core
        .store
        .list_lockbox_requests(&candor_domain::lockbox::LockboxFilter {
            tenant: Some(first),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let states: std::collections::BTreeSet<_> =
        requests.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        states.len(),
        candor_domain::lockbox::LockboxStatus::ALL.len(),
        "every state, as recorded: {states:?}"
    );
    let outbox = tempfile::tempdir().unwrap();
    crate::common::Mailroom::new(core.clone(), outbox.path(), "")
        .run()
        .await;
    let mail = crate::lockbox_api::read_mail(outbox.path());
    let approver = &creds.tenants[0]
        .users
        .iter()
        .find(|u| u.roles.iter().any(|r| r == "CustomerLockboxAccessApprover"))
        .unwrap()
        .email;
    assert!(
        mail.iter().filter(|(to, _, _)| to == approver).count() >= 1,
        "the pending request's approvers are emailed: {mail:?}"
    );
    let lockbox_mail: Vec<_> = mail
        .iter()
        .filter(|(_, subject, _)| subject.contains("Lockbox") || subject.contains("lockbox"))
        .collect();
    for (_, subject, body) in &lockbox_mail {
        crate::lockbox_api::assert_link_free(subject);
        crate::lockbox_api::assert_link_free(body);
    }
    assert_eq!(
        lockbox_mail.len(),
        3,
        "only the request waiting now is mailed (its two approvers and the engineer), not the replayed history: {lockbox_mail:?}"
    );
    // Each tenant's operations desk is a contact: the demo's issues left their mail.
    let noc = format!("noc@{}", approver.split('@').nth(1).unwrap());
    assert!(
        mail.iter().any(|(to, _, _)| *to == noc),
        "the first tenant's contact heard about its issues"
    );
    assert!(!creds.data_plane_client.client_secret.is_empty());

    // Written to disk, readable, with working credentials.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(candor::demo::credentials_path(dir.path())).unwrap())
            .unwrap();
    assert_eq!(file["tenants"].as_array().unwrap().len(), 50);
    let client = &creds.tenants[0].api_client;
    assert!(candor_app::identity::authenticate_client(
        &core,
        &client.client_id,
        &client.client_secret
    )
    .await
    .is_ok());
    let admin = &creds.tenants[0].users[0];
    assert!(
        candor_app::identity::sign_in(&core, false, &admin.email, &admin.password, None)
            .await
            .is_ok()
    );

    // Audited as system, and seeding twice does nothing.
    let operator_log = core
        .store
        .audit_chain_records(&AuditChain::Operator.key(), 0, 10_000)
        .await
        .unwrap();
    assert!(operator_log
        .iter()
        .any(|r| r.activity == "Seed-DemoWorld" && r.actor == "system"));
    assert!(operator_log.iter().any(|r| r.activity == "Set-Topology"));
    let tenant_log = core
        .store
        .audit_chain_records(&AuditChain::Tenant(first).key(), 0, 10_000)
        .await
        .unwrap();
    assert!(tenant_log
        .iter()
        .filter(|r| r.activity == "Add-User")
        .all(|r| r.actor == Actor::System.audit_name()));
    assert!(
        candor::demo::seed_if_empty(&core, dir.path(), "http://127.0.0.1:9", |_, _| {})
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_world_is_seeded_once_on_sqlite() {
    demo_world(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_world_is_seeded_once_on_postgres() {
    demo_world(Backend::Postgres).await;
}
