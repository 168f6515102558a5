//! Customer Lockbox use cases against a real store: the whole path from filing to access
//! and its end, who may do what, deadlines by the clock, and the tenant's audit log.

use candor_app::error::AppError;
use candor_app::lockbox::{self as lockbox, Decision, NewRequestInput};
use candor_domain::audit::AuditChain;
use candor_domain::clock::Clock;
use candor_domain::identity::{Actor, OperatorRole, TenantRole};
use candor_domain::lockbox::{LockboxStatus, Workload};
use time::Duration;

use crate::common::TestApp;
use crate::health::operator;

pub(crate) fn person(app: &TestApp, role: TenantRole, tenant_b: bool) -> Actor {
    let t = if tenant_b { &app.world.b } else { &app.world.a };
    let p = t.user(role);
    Actor::TenantUser {
        tenant_id: t.id,
        user_id: p.id.parse().unwrap(),
        email: p.email.clone(),
        roles: [role].into_iter().collect(),
    }
}

async fn setup(app: &TestApp) {
    app.core
        .store
        .put_workload(
            &Workload {
                name: "Exchange Online".into(),
                operations: vec!["Get-Mailbox".into(), "Export-MailboxDiagnosticLogs".into()],
            },
            vec![],
        )
        .await
        .unwrap();
}

fn input(app: &TestApp) -> NewRequestInput {
    NewRequestInput {
        tenant: app.world.a.id,
        workload: "exchange online".into(),
        operations: vec!["Get-Mailbox".into()],
        service_request: "SR-20261122-1".into(),
        justification: "The CEO's mailbox will not open in any client.".into(),
        duration_minutes: 120,
    }
}

async fn a_request_goes_from_filing_to_access_and_ends_by_itself(app: TestApp) {
    setup(&app).await;
    let ga = person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let approver = person(&app, TenantRole::CustomerLockboxAccessApprover, false);
    let filed = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap();
    assert_eq!(filed.status, LockboxStatus::AwaitingInternalApproval);
    assert_eq!(filed.workload, "Exchange Online");
    let id = filed.id;
    let Actor::Operator { operator_id, .. } = engineer else {
        unreachable!()
    };
    let no_access = |app: &TestApp| {
        let core = app.core.clone();
        let tenant = app.world.a.id;
        async move {
            lockbox::covering_request(&core, operator_id, tenant, "Exchange Online", "Get-Mailbox")
                .await
                .unwrap()
                .is_none()
        }
    };
    // The tenant cannot decide before the provider approved internally.
    let early = lockbox::decide(&app.core, &approver, None, id, Decision::Approve, None).await;
    assert!(matches!(early, Err(AppError::Conflict(_))), "{early:?}");
    let pending = lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    assert_eq!(pending.status, LockboxStatus::Pending);
    assert!(no_access(&app).await);
    app.clock.advance(Duration::hours(1));
    let approved = lockbox::decide(
        &app.core,
        &approver,
        Some("203.0.113.9".into()),
        id,
        Decision::Approve,
        Some("Go ahead".into()),
    )
    .await
    .unwrap();
    assert_eq!(approved.status, LockboxStatus::Approved);
    let covering = lockbox::covering_request(
        &app.core,
        operator_id,
        app.world.a.id,
        "Exchange Online",
        "Get-Mailbox",
    )
    .await
    .unwrap();
    assert_eq!(covering.map(|r| r.id), Some(approved.id));
    assert!(
        lockbox::covering_request(
            &app.core,
            operator_id,
            app.world.a.id,
            "Exchange Online",
            "Export-MailboxDiagnosticLogs"
        )
        .await
        .unwrap()
        .is_none(),
        "only the operations asked for"
    );
    assert!(
        lockbox::covering_request(
            &app.core,
            operator_id,
            app.world.b.id,
            "Exchange Online",
            "Get-Mailbox"
        )
        .await
        .unwrap()
        .is_none(),
        "only the tenant that approved"
    );
    // Two hours after the approval access ends, with no job having run.
    app.clock.advance(Duration::minutes(119));
    assert!(!no_access(&app).await);
    app.clock.advance(Duration::minutes(1));
    assert!(no_access(&app).await);

    // The tenant's log has the filing, the internal approval and the decision with its
    // ApprovalDecision, IP and item.
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 1000)
        .await
        .unwrap();
    let decided = records
        .iter()
        .find(|r| r.activity == "Set-AccessToCustomerDataRequest")
        .unwrap();
    assert_eq!(decided.item.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(decided.ip_address.as_deref(), Some("203.0.113.9"));
    let details: serde_json::Value = serde_json::from_str(&decided.details).unwrap();
    assert_eq!(details["ApprovalDecision"], "Approve");
    for activity in [
        "Set-OrganizationConfig",
        "New-AccessToCustomerDataRequest",
        "Set-AccessToCustomerDataRequestInternalApproval",
    ] {
        assert!(records.iter().any(|r| r.activity == activity), "{activity}");
    }
}

async fn who_may_do_what(app: TestApp) {
    setup(&app).await;
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let ga = person(&app, TenantRole::GlobalAdministrator, false);
    // Only Global Administrators change the setting.
    let approver = person(&app, TenantRole::CustomerLockboxAccessApprover, false);
    assert!(matches!(
        lockbox::set_enabled(&app.core, &approver, None, app.world.a.id, true).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        lockbox::set_enabled(
            &app.core,
            &person(&app, TenantRole::GlobalAdministrator, true),
            None,
            app.world.a.id,
            true
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    // Only Support Engineers file; a manager cannot.
    assert!(matches!(
        lockbox::file_request(&app.core, &manager, None, input(&app)).await,
        Err(AppError::Forbidden(_))
    ));
    let id = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap()
        .id;
    // An engineer cannot approve internally; the tenant of another org cannot decide.
    assert!(matches!(
        lockbox::decide_internally(&app.core, &engineer, None, id, true, None).await,
        Err(AppError::Forbidden(_))
    ));
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    let other_tenant = person(&app, TenantRole::CustomerLockboxAccessApprover, true);
    assert!(matches!(
        lockbox::decide(&app.core, &other_tenant, None, id, Decision::Approve, None).await,
        Err(AppError::Forbidden(_))
    ));
    let reader = person(&app, TenantRole::ServiceSupportAdministrator, false);
    assert!(matches!(
        lockbox::decide(&app.core, &reader, None, id, Decision::Approve, None).await,
        Err(AppError::Forbidden(_))
    ));
    // The engineer cancels their own request; then nothing more happens to it.
    let canceled = lockbox::decide(&app.core, &engineer, None, id, Decision::Cancel, None)
        .await
        .unwrap();
    assert_eq!(canceled.status, LockboxStatus::Canceled);
    assert!(matches!(
        lockbox::decide(&app.core, &ga, None, id, Decision::Approve, None).await,
        Err(AppError::Conflict(_))
    ));
    // Bad input says what is wrong.
    let mut bad = input(&app);
    bad.operations = vec!["Remove-Mailbox".into()];
    let e = lockbox::file_request(&app.core, &engineer, None, bad)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Remove-Mailbox"), "{e}");
    let mut long = input(&app);
    long.duration_minutes = 5 * 60;
    assert!(lockbox::file_request(&app.core, &engineer, None, long)
        .await
        .unwrap_err()
        .to_string()
        .contains("4 hours"));
    let mut nowhere = input(&app);
    nowhere.workload = "Teams".into();
    assert!(lockbox::file_request(&app.core, &engineer, None, nowhere)
        .await
        .unwrap_err()
        .to_string()
        .contains("Exchange Online"));
}

async fn undecided_requests_expire_and_revocation_cuts_access(app: TestApp) {
    setup(&app).await;
    let ga = person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let stale = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap();
    lockbox::decide_internally(&app.core, &manager, None, stale.id, true, None)
        .await
        .unwrap();
    app.clock.advance(Duration::hours(12));
    let late = lockbox::decide(&app.core, &ga, None, stale.id, Decision::Approve, None).await;
    let Err(AppError::Conflict(m)) = late else {
        panic!("{late:?}")
    };
    assert!(m.to_string().contains("expired"), "{m}");
    let due = app
        .core
        .store
        .lockbox_requests_past_deadline(app.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the expiry job will find it");

    let fresh = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap();
    let id = fresh.id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    lockbox::decide(&app.core, &ga, None, id, Decision::Approve, None)
        .await
        .unwrap();
    let Actor::Operator { operator_id, .. } = engineer else {
        unreachable!()
    };
    let access = || {
        lockbox::covering_request(
            &app.core,
            operator_id,
            app.world.a.id,
            "Exchange Online",
            "Get-Mailbox",
        )
    };
    assert!(access().await.unwrap().is_some());
    let revoked = lockbox::revoke(&app.core, &ga, None, id, Some("Solved".into()))
        .await
        .unwrap();
    assert_eq!(revoked.status, LockboxStatus::Revoked);
    assert!(
        access().await.unwrap().is_none(),
        "refused from the moment of revocation"
    );
}

async fn with_lockbox_off_the_internal_approval_is_enough(app: TestApp) {
    setup(&app).await;
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let filed = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap();
    assert!(!filed.needs_customer);
    let granted = lockbox::decide_internally(&app.core, &manager, None, filed.id, true, None)
        .await
        .unwrap();
    assert_eq!(granted.status, LockboxStatus::Approved);
    // Still visible to, and audited for, the tenant.
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 1000)
        .await
        .unwrap();
    assert!(records
        .iter()
        .any(|r| r.activity == "New-AccessToCustomerDataRequest"));

    // Filed while Lockbox was off, approved internally after the tenant turned it on:
    // the tenant decides all the same.
    let filed_before = lockbox::file_request(&app.core, &engineer, None, input(&app))
        .await
        .unwrap();
    assert!(!filed_before.needs_customer);
    let ga = person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let waiting =
        lockbox::decide_internally(&app.core, &manager, None, filed_before.id, true, None)
            .await
            .unwrap();
    assert_eq!(waiting.status, LockboxStatus::Pending);
    let stored = app
        .core
        .store
        .get_lockbox_request(filed_before.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.needs_customer, "kept with the request");
    let (_, checks) = lockbox::verify(&app.core, filed_before.id).await.unwrap();
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
}

crate::both!(
    a_request_goes_from_filing_to_access_and_ends_by_itself,
    who_may_do_what,
    undecided_requests_expire_and_revocation_cuts_access,
    with_lockbox_off_the_internal_approval_is_enough,
);
