//! Customer Lockbox over real HTTP, with the job runner and real mail transports: the
//! API from filing to the enforcement point, grant tokens checked against the JWKS,
//! deadlines recorded by jobs across a restart, and link-free emails as delivered.

use std::path::Path;
use std::sync::Arc;

use candor::jobs::JobRunner;
use candor_app::error::AppError;
use candor_app::lockbox::{self, Decision, NewRequestInput};
use candor_app::{identity, Core};
use candor_delivery::email::Mailer;
use candor_domain::audit::AuditChain;
use candor_domain::clock::Clock;
use candor_domain::identity::{Actor, ApiPermission, OperatorRole, TenantRole};
use candor_domain::lockbox::{LockboxRequestId, LockboxStatus};
use candor_domain::store::Store;
use serde_json::{json, Value};
use time::Duration;

use crate::common::{App, DbGuard, TestApp};
use crate::health::operator;

async fn workloads(core: &Core) {
    lockbox::put_workload(
        core,
        &Actor::System,
        None,
        "Exchange Online",
        &["Get-Mailbox".into(), "Export-MailboxDiagnosticLogs".into()],
    )
    .await
    .unwrap();
}

/// An operator client (a machine identity on the provider side), its token and secret.
async fn operator_client(app: &TestApp, role: OperatorRole) -> (String, String, App) {
    let (client, secret) = identity::create_operator_client(
        &app.core,
        &Actor::System,
        None,
        role.as_str(),
        &[role.as_str().to_owned()],
    )
    .await
    .unwrap();
    let creds = App {
        client_id: client.id.to_string(),
        secret,
    };
    let token = app.token(&creds).await;
    (client.id.to_string(), token, creds)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app
        .http()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = app
        .http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Runs every due job, then sends every due delivery with `mailer`; returns how many
/// emails were sent.
async fn run_jobs(core: Arc<Core>, mailer: Mailer) -> usize {
    let runner = JobRunner::new(core.clone());
    while let Some(outcome) = runner.run_one().await.unwrap() {
        assert!(
            matches!(outcome, candor::jobs::Outcome::Done(_)),
            "{outcome:?}"
        );
    }
    let report = candor::deliveries::DeliveryRunner::new(
        core,
        Some(Arc::new(mailer)),
        candor::deliveries::DeliverySettings::default(),
    )
    .drain()
    .await
    .unwrap();
    assert_eq!(report.total(), report.sent, "every email sent: {report:?}");
    report.sent
}

/// A check independent of Candor's own: nothing in the text a mail client could link.
pub(crate) fn assert_link_free(text: &str) {
    let lower = text.to_lowercase();
    for bad in ["://", "www.", "@", "mailto:", "tel:", "\\\\"] {
        assert!(!lower.contains(bad), "`{bad}` in: {text}");
    }
    let chars: Vec<char> = lower.chars().collect();
    for i in 1..chars.len().saturating_sub(2) {
        if chars[i] == '.'
            && chars[i - 1].is_alphanumeric()
            && chars[i + 1].is_alphabetic()
            && chars[i + 2].is_alphabetic()
        {
            panic!("a domain-like name in: {text}");
        }
    }
}

/// The messages in a directory of `.eml` files (pickup) or a maildir's `new/`.
pub(crate) fn read_mail(dir: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") || path.is_dir() {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned();
        out.push((
            to,
            msg.subject().unwrap_or_default().to_owned(),
            msg.body_text(0).unwrap_or_default().to_string(),
        ));
    }
    out.sort();
    out
}

async fn the_api_from_filing_to_the_enforcement_point(app: TestApp) {
    workloads(&app.core).await;
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    // Provider steps are people's, in the console; machine credentials cannot take them.
    let engineer_person = operator(&app, OperatorRole::SupportEngineer);
    let manager_person = operator(&app, OperatorRole::SupportManager);
    let Actor::Operator {
        operator_id: engineer_uuid,
        ..
    } = &engineer_person
    else {
        unreachable!()
    };
    let engineer_id = engineer_uuid.to_string();
    let (_, engineer, _) = operator_client(&app, OperatorRole::SupportEngineer).await;
    let (_, mut plane, plane_creds) = operator_client(&app, OperatorRole::DataPlaneService).await;
    let mut tenant = app
        .token(app.world.a.app(ApiPermission::LockboxReadWriteAll))
        .await;
    let other_tenant = app
        .token(app.world.b.app(ApiPermission::LockboxReadWriteAll))
        .await;
    let health_only = app
        .token(app.world.a.app(ApiPermission::ServiceHealthReadAll))
        .await;
    let tenant_id = app.world.a.id.to_string();
    let ask = |operation: &str| json!({"operator": engineer_id, "tenantId": tenant_id, "workload": "Exchange Online", "operation": operation});

    // Before any request: refused, with the reason.
    let (s, answer) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(answer["decision"], "deny");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("no Lockbox request"),
        "{answer}"
    );

    // Filing: bad input names the field (a huge number included); a good request waits
    // for the manager. An operator client cannot file.
    let input = |minutes: i64| NewRequestInput {
        tenant: app.world.a.id,
        workload: "Exchange Online".into(),
        operations: vec!["Get-Mailbox".into()],
        service_request: "SR-42".into(),
        justification: "Mailbox will not open in any client.".into(),
        duration_minutes: minutes,
    };
    for minutes in [300, i64::MAX, i64::MIN] {
        let e = lockbox::file_request(&app.core, &engineer_person, None, input(minutes))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("4 hours"), "{e}");
    }
    let mut linkish = input(60);
    linkish.service_request = "SR-1;evil.example".into();
    assert!(
        lockbox::file_request(&app.core, &engineer_person, None, linkish)
            .await
            .is_err()
    );
    let client_actor = Actor::Operator {
        operator_id: candor_domain::OperatorId::generate(),
        email: "svc:client".into(),
        roles: [OperatorRole::SupportEngineer, OperatorRole::SupportManager]
            .into_iter()
            .collect(),
    };
    assert!(matches!(
        lockbox::file_request(&app.core, &client_actor, None, input(60)).await,
        Err(AppError::Forbidden(_))
    ));
    let id = lockbox::file_request(&app.core, &engineer_person, None, input(120))
        .await
        .unwrap()
        .id;
    // The filing routes are not part of the API.
    let (s, _) = post(&app, &engineer, "/api/v1/lockbox/requests", json!({})).await;
    assert_eq!(s, 405);

    // The tenant sees it (visible before the internal approval), another tenant does not.
    let (s, page) = get(&app, &tenant, "/api/v1/lockbox/requests").await;
    assert_eq!(s, 200);
    assert_eq!(page["value"][0]["id"], id.to_string().as_str());
    let (s, _) = get(
        &app,
        &other_tenant,
        &format!("/api/v1/lockbox/requests/{id}"),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = get(&app, &health_only, "/api/v1/lockbox/requests").await;
    assert_eq!(s, 403);

    // The tenant cannot approve before the provider's internal approval.
    let decision = |d: &str| json!({"decision": d, "comment": "Go ahead"});
    let decide_path = format!("/api/v1/lockbox/requests/{id}/decision");
    let (s, _) = post(&app, &tenant, &decide_path, decision("Approve")).await;
    assert_eq!(s, 409);
    // A client holding the manager role cannot approve internally; the manager can.
    assert!(matches!(
        lockbox::decide_internally(&app.core, &client_actor, None, id, true, None).await,
        Err(AppError::Forbidden(_))
    ));
    let pending = lockbox::decide_internally(&app.core, &manager_person, None, id, true, None)
        .await
        .unwrap();
    assert_eq!(pending.status, LockboxStatus::Pending);
    assert!(pending
        .internal_decision
        .as_ref()
        .is_some_and(|d| d.signature.is_some()));
    let (s, answer) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(answer["decision"], "deny");
    assert!(
        answer["reason"].as_str().unwrap().contains("pending"),
        "{answer}"
    );

    // Approvers see who else may approve; the other tenant cannot decide.
    let (_, one) = get(&app, &tenant, &format!("/api/v1/lockbox/requests/{id}")).await;
    let approvers: Vec<&str> = one["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(approvers.len(), 2, "{approvers:?}");
    let (s, _) = post(&app, &other_tenant, &decide_path, decision("Approve")).await;
    assert_eq!(s, 404);
    let (s, bad) = post(&app, &tenant, &decide_path, decision("Maybe")).await;
    assert_eq!(s, 400);
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Approve"));
    let (s, approved) = post(&app, &tenant, &decide_path, decision("Approve")).await;
    assert_eq!(s, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert!(approved["customerDecision"]["signingKeyId"].is_string());

    // Allowed now, with a grant token that verifies against the published keys.
    let (_, answer) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(answer["decision"], "allow", "{answer}");
    assert_eq!(answer["requestId"], id.to_string().as_str());
    let token = answer["grantToken"].as_str().unwrap();
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_ed_components(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["candor-lockbox"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["grant"], id.to_string().as_str());
    assert_eq!(claims["tid"], tenant_id.as_str());
    assert_eq!(claims["operations"], json!(["Get-Mailbox"]));
    let now = app.clock.now().unix_timestamp();
    assert!(
        claims["exp"].as_i64().unwrap() <= now + 300,
        "at most five minutes"
    );
    // Not an operation the grant names.
    let (_, answer) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Export-MailboxDiagnosticLogs"),
    )
    .await;
    assert_eq!(answer["decision"], "deny");
    assert!(answer["reason"]
        .as_str()
        .unwrap()
        .contains("covers Get-Mailbox only"));
    // Only data-plane services ask.
    let (s, _) = post(
        &app,
        &engineer,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(s, 403);

    // Near the end of access the token ends with the access, not five minutes later.
    // (Access tokens live an hour: fetch new ones after moving the clock.)
    app.clock.advance(Duration::minutes(118));
    plane = app.token(&plane_creds).await;
    tenant = app
        .token(app.world.a.app(ApiPermission::LockboxReadWriteAll))
        .await;
    let (_, late) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(late["decision"], "allow", "{late}");
    let expires = time::OffsetDateTime::parse(
        late["grantTokenExpires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let end = time::OffsetDateTime::parse(
        late["accessEnd"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(expires <= end, "{expires} is past the end of access {end}");
    assert!(end - app.clock.now() <= Duration::minutes(2));
    // Reported operations land in the tenant's log as `Operator`; uncovered ones are
    // refused, and the refusal is recorded too.
    let mut report = ask("Get-Mailbox");
    report["target"] = json!("ceo mailbox");
    let (s, recorded) = post(&app, &plane, "/api/v1/lockbox/actions", report).await;
    assert_eq!(s, 201, "{recorded}");
    let (s, refused) = post(
        &app,
        &plane,
        "/api/v1/lockbox/actions",
        ask("Export-MailboxDiagnosticLogs"),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(refused["error"]["code"], "not_covered");
    // Only operations the workload knows become Activities in the tenant's log.
    let (s, bad) = post(
        &app,
        &plane,
        "/api/v1/lockbox/actions",
        ask("Set-AccessToCustomerDataRequest"),
    )
    .await;
    assert_eq!(s, 400, "{bad}");
    let records = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 1000)
        .await
        .unwrap();
    let done = records
        .iter()
        .find(|r| r.activity == "Get-Mailbox")
        .unwrap();
    assert_eq!(done.actor, "Operator");
    assert_eq!(done.item.as_deref(), Some(id.to_string().as_str()));
    let refusal = records
        .iter()
        .find(|r| r.activity == "Export-MailboxDiagnosticLogs")
        .unwrap();
    assert!(refusal.details.contains("Refused"), "{}", refusal.details);

    // Revocation cuts access at once.
    let (s, revoked) = post(
        &app,
        &tenant,
        &format!("/api/v1/lockbox/requests/{id}/revoke"),
        json!({"comment": "solved"}),
    )
    .await;
    assert_eq!(s, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let (_, answer) = post(
        &app,
        &plane,
        "/api/v1/lockbox/authorize",
        ask("Get-Mailbox"),
    )
    .await;
    assert_eq!(answer["decision"], "deny");
    assert!(
        answer["reason"].as_str().unwrap().contains("revoked"),
        "{answer}"
    );

    // Every decision verifies against Candor's keys.
    let (_, checks) = lockbox::verify(&app.core, id).await.unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");

    // The tenant checks them itself, with nothing but its log's key: each decision's
    // signature, and that the log holds it as the decision's audit record.
    candor_app::audit::checkpoint_all(&app.core).await.unwrap();
    let (_, shown) = get(&app, &tenant, &format!("/api/v1/lockbox/requests/{id}")).await;
    for step in ["internalDecision", "customerDecision", "ended"] {
        let d = &shown[step];
        assert!(
            d["signature"].is_string() && d["auditRecordId"].is_string(),
            "{step}: {d}"
        );
        assert!(
            d["signedForm"]
                .as_str()
                .unwrap()
                .contains(&format!("id={id}")),
            "{d}"
        );
        assert!(d["leafIndex"].is_u64(), "{d}");
    }
    let reader = app.token(&app.world.a.all).await;
    let (_, keys) = get(&app, &reader, "/api/v1/audit/keys").await;
    let key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.json");
    std::fs::write(&file, shown.to_string()).unwrap();
    let verify = |file: &Path, state: &str| {
        let args = [
            "verify",
            "--log",
            &app.base,
            "--full",
            "--key",
            &key,
            "--token",
            &reader,
            "--state",
            state,
            "--lockbox",
        ];
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_candor"));
        cmd.args(args).arg(file);
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let state = dir.path().join("state.json").display().to_string();
    let (ok, out) = verify(&file, &state);
    assert!(ok, "{out}");
    assert!(out.contains("3 of 3 Lockbox decisions are signed"), "{out}");
    assert!(
        out.contains("3 of 3 Lockbox decisions are in the log"),
        "{out}"
    );
    // What was decided, changed after the fact, no longer verifies.
    let mut forged = shown.clone();
    let form = forged["customerDecision"]["signedForm"]
        .as_str()
        .unwrap()
        .replace("outcome=Approve", "outcome=Deny");
    forged["customerDecision"]["signedForm"] = Value::String(form);
    std::fs::write(&file, forged.to_string()).unwrap();
    let (ok, out) = verify(&file, &state);
    assert!(!ok, "{out}");
    assert!(out.contains("does not verify with your key"), "{out}");

    // Lists filter by status (the status now) and page with a cursor.
    let (_, revoked_list) = get(&app, &tenant, "/api/v1/lockbox/requests?status=Revoked").await;
    assert_eq!(revoked_list["value"].as_array().unwrap().len(), 1);
    let (_, none) = get(&app, &tenant, "/api/v1/lockbox/requests?status=pending").await;
    assert!(none["value"].as_array().unwrap().is_empty());
    let (s, _) = get(&app, &tenant, "/api/v1/lockbox/requests?status=sideways").await;
    assert_eq!(s, 400);
    let (s, _) = get(&app, &tenant, "/api/v1/lockbox/requests?cursor=nonsense").await;
    assert_eq!(s, 400);
}

/// Reopens the database as a restarted instance would: a new store, core and job runner;
/// nothing carried over in memory.
async fn restart(app: &TestApp) -> Arc<Core> {
    let store: Arc<dyn Store> = match &app.db {
        DbGuard::Sqlite(db) => Arc::new(
            candor_store_sqlite::SqliteStore::open(&db.path)
                .await
                .unwrap(),
        ),
        DbGuard::Postgres(db) => Arc::new(
            candor_store_postgres::PostgresStore::connect(&db.url)
                .await
                .unwrap(),
        ),
    };
    let clock: Arc<dyn Clock> = app.clock.clone();
    Arc::new(Core::new(store, clock).await.unwrap())
}

async fn deadlines_are_recorded_by_jobs_across_a_restart(app: TestApp) {
    workloads(&app.core).await;
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let input = |minutes| NewRequestInput {
        tenant: app.world.a.id,
        workload: "Exchange Online".into(),
        operations: vec!["Get-Mailbox".into()],
        service_request: "SR-7".into(),
        justification: "Calendar items vanish after sync.".into(),
        duration_minutes: minutes,
    };
    // One request left undecided, one approved for four hours.
    let stale = lockbox::file_request(&app.core, &engineer, None, input(60))
        .await
        .unwrap()
        .id;
    lockbox::decide_internally(&app.core, &manager, None, stale, true, None)
        .await
        .unwrap();
    app.clock.advance(Duration::hours(1));
    let granted = lockbox::file_request(&app.core, &engineer, None, input(240))
        .await
        .unwrap()
        .id;
    lockbox::decide_internally(&app.core, &manager, None, granted, true, None)
        .await
        .unwrap();
    lockbox::decide(&app.core, &ga, None, granted, Decision::Approve, None)
        .await
        .unwrap();

    // A restart between approval and expiry: nothing in memory survives.
    let core = restart(&app).await;
    let outbox = tempfile::tempdir().unwrap();
    let pickup = || Mailer::pickup(outbox.path().to_owned(), "Candor <candor@localhost>").unwrap();
    app.clock
        .advance(Duration::hours(3) + Duration::minutes(59));
    JobRunner::new(core.clone())
        .schedule_periodic(app.clock.now())
        .await
        .unwrap();
    run_jobs(core.clone(), pickup()).await;
    let get = |id: LockboxRequestId| {
        let core = core.clone();
        async move { core.store.get_lockbox_request(id).await.unwrap().unwrap() }
    };
    assert_eq!(get(stale).await.status, LockboxStatus::Pending);
    assert_eq!(get(granted).await.status, LockboxStatus::Approved);

    // Twelve hours after it reached the tenant the first expires; four hours after its
    // approval the second's access has ended. The job writes both down.
    app.clock.advance(Duration::hours(8) + Duration::minutes(2));
    JobRunner::new(core.clone())
        .schedule_periodic(app.clock.now())
        .await
        .unwrap();
    run_jobs(core.clone(), pickup()).await;
    assert_eq!(get(stale).await.status, LockboxStatus::Expired);
    assert_eq!(get(granted).await.status, LockboxStatus::Completed);
    let activities = app.activities(AuditChain::Tenant(app.world.a.id)).await;
    assert!(activities.contains(&"Expire-AccessToCustomerDataRequest".to_owned()));
    assert!(activities.contains(&"Complete-AccessToCustomerDataRequest".to_owned()));
    // The history outlives the end.
    let ended = lockbox::list(
        &core,
        &ga,
        lockbox::ListQuery {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ended.len(), 2);

    // The mail as delivered: the two approvers twice (two requests reached them), the
    // engineer for each decision and the expiry; no links anywhere.
    let mail = read_mail(outbox.path());
    let to = |who: &str| mail.iter().filter(|(t, _, _)| t == who).count();
    let approver = &app
        .world
        .a
        .user(TenantRole::CustomerLockboxAccessApprover)
        .email;
    let admin = &app.world.a.user(TenantRole::GlobalAdministrator).email;
    let engineer_email = &app.world.operator(OperatorRole::SupportEngineer).email;
    assert_eq!(to(approver), 2, "{mail:?}");
    assert_eq!(to(admin), 2, "{mail:?}");
    assert_eq!(
        to(engineer_email),
        4,
        "two internal approvals, the approval, the expiry: {mail:?}"
    );
    for (_, subject, body) in &mail {
        assert_link_free(subject);
        assert_link_free(body);
    }
    let pending = mail
        .iter()
        .find(|(t, _, _)| t == approver)
        .map(|(_, _, b)| b.clone())
        .unwrap();
    assert!(pending.contains(&stale.to_string()) || pending.contains(&granted.to_string()));
    assert!(pending.contains("Customer Lockbox"), "{pending}");
    assert!(pending.contains("no links"), "{pending}");
}

async fn a_justification_with_a_link_never_reaches_the_email(app: TestApp) {
    workloads(&app.core).await;
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let id = lockbox::file_request(
        &app.core,
        &engineer,
        None,
        NewRequestInput {
            tenant: app.world.a.id,
            workload: "Exchange Online".into(),
            operations: vec!["Get-Mailbox".into()],
            // (A service request number that looks like an address is refused at filing.)
            service_request: "SR-2026-77".into(),
            justification: "Please approve quickly at https://evil.example/approve".into(),
            duration_minutes: 60,
        },
    )
    .await
    .unwrap()
    .id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    lockbox::decide(
        &app.core,
        &ga,
        None,
        id,
        Decision::Deny,
        Some("Ask me at admin@contoso.example".into()),
    )
    .await
    .unwrap();
    let outbox = tempfile::tempdir().unwrap();
    run_jobs(
        app.core.clone(),
        Mailer::pickup(outbox.path().to_owned(), "Candor <candor@localhost>").unwrap(),
    )
    .await;
    let mail = read_mail(outbox.path());
    assert_eq!(mail.len(), 4, "two approvers, the engineer twice: {mail:?}");
    for (_, subject, body) in &mail {
        assert_link_free(subject);
        assert_link_free(body);
        assert!(!body.contains("evil"), "{body}");
    }
}

crate::both!(
    the_api_from_filing_to_the_enforcement_point,
    deadlines_are_recorded_by_jobs_across_a_restart,
    a_justification_with_a_link_never_reaches_the_email,
    the_cli_gets_sets_and_verifies_like_the_cmdlets,
);

/// A real SMTP server (Python's aiosmtpd) writing what it receives into a maildir.
pub(crate) struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    pub maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn smtp_server() -> Option<SmtpServer> {
    let available = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("CI").is_err(),
            "aiosmtpd is missing; .ci/run installs it (pip install aiosmtpd)"
        );
        eprintln!("skipping: python3 with aiosmtpd is not installed (pip install aiosmtpd)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("mail"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = SmtpServer {
        child,
        port,
        maildir,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not start listening on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_are_emailed_through_a_real_smtp_server() {
    let Some(smtp) = smtp_server().await else {
        return;
    };
    let app = crate::common::spawn(crate::common::Backend::Sqlite)
        .await
        .unwrap();
    workloads(&app.core).await;
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let id = lockbox::file_request(
        &app.core,
        &engineer,
        None,
        NewRequestInput {
            tenant: app.world.a.id,
            workload: "Exchange Online".into(),
            operations: vec!["Get-Mailbox".into()],
            service_request: "SR-99".into(),
            justification: "Shared mailbox permissions are lost.".into(),
            duration_minutes: 30,
        },
    )
    .await
    .unwrap()
    .id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    let mailer = Mailer::smtp(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Candor <candor@provider.example>",
    )
    .unwrap();
    assert_eq!(run_jobs(app.core.clone(), mailer).await, 3);
    let mail = read_mail(&smtp.maildir.path().join("mail").join("new"));
    assert_eq!(mail.len(), 3, "{mail:?}");
    let approver = &app
        .world
        .a
        .user(TenantRole::CustomerLockboxAccessApprover)
        .email;
    let (_, subject, body) = mail.iter().find(|(t, _, _)| t == approver).unwrap();
    assert!(subject.contains("Customer Lockbox"), "{subject}");
    assert!(body.contains(&id.to_string()), "{body}");
    assert!(body.contains("SR-99"), "{body}");
    for (_, subject, body) in &mail {
        assert_link_free(subject);
        assert_link_free(body);
    }
}

async fn candor_cli(args: &[&str], secret: Option<&str>) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_candor"));
    cmd.args(args).env_remove("CANDOR_CLIENT_SECRET");
    if let Some(s) = secret {
        cmd.env("CANDOR_CLIENT_SECRET", s);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_cli_gets_sets_and_verifies_like_the_cmdlets(app: TestApp) {
    workloads(&app.core).await;
    let ga = crate::lockbox::person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    let engineer = operator(&app, OperatorRole::SupportEngineer);
    let manager = operator(&app, OperatorRole::SupportManager);
    let id = lockbox::file_request(
        &app.core,
        &engineer,
        None,
        NewRequestInput {
            tenant: app.world.a.id,
            workload: "Exchange Online".into(),
            operations: vec!["Get-Mailbox".into()],
            service_request: "SR-1234".into(),
            justification: "Mail flow rule drops external mail.".into(),
            duration_minutes: 45,
        },
    )
    .await
    .unwrap()
    .id;
    lockbox::decide_internally(&app.core, &manager, None, id, true, None)
        .await
        .unwrap();
    let creds = app.world.a.app(ApiPermission::LockboxReadWriteAll);
    let base = app.base.clone();
    let api = |extra: &[&str]| {
        let mut v = vec!["lockbox"];
        v.extend_from_slice(extra);
        v.extend_from_slice(&["--url", &base, "--client-id", &creds.client_id]);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        candor_cli(&refs, Some(&creds.secret)).await
    };

    let (code, out, err) = run(api(&["get", "--status", "Pending"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&id.to_string()) && out.contains("pending"),
        "{out}"
    );
    let (code, out, _) = run(api(&["get", "--status", "Approved"])).await;
    assert_eq!(code, 0);
    assert!(!out.contains(&id.to_string()), "{out}");
    let (code, out, _) = run(api(&["get", "--request-id", &id.to_string()])).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("May approve:") && out.contains("SR-1234"),
        "{out}"
    );
    let (code, out, err) = run(api(&[
        "set",
        "--request-id",
        &id.to_string(),
        "--decision",
        "approve",
        "--comment",
        "Approved for SR-1234",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is now approved"), "{out}");
    // Deciding again is refused with the reason, exit code 2.
    let (code, _, err) = run(api(&[
        "set",
        "--request-id",
        &id.to_string(),
        "--decision",
        "Deny",
    ]))
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("approved"), "{err}");
    // Bad input: one clear line, exit 2.
    let (code, _, err) = run(api(&[
        "set",
        "--request-id",
        &id.to_string(),
        "--decision",
        "Maybe",
    ]))
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("Maybe"), "{err}");
    let (code, _, err) = candor_cli(
        &[
            "lockbox",
            "get",
            "--url",
            &base,
            "--client-id",
            &creds.client_id,
        ],
        None,
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("CANDOR_CLIENT_SECRET"), "{err}");
    let (code, _, err) = candor_cli(
        &[
            "lockbox",
            "get",
            "--url",
            &base,
            "--client-id",
            &creds.client_id,
        ],
        Some("wrong"),
    )
    .await;
    assert_ne!(code, 0);
    assert!(!err.contains("wrong"), "the secret is never echoed: {err}");

    // Verification against the keys in the database.
    let db_args: Vec<String> = match &app.db {
        DbGuard::Sqlite(db) => vec![
            "--data-dir".into(),
            db.path.parent().unwrap().to_string_lossy().into_owned(),
        ],
        DbGuard::Postgres(db) => crate::common::postgres_cli_args(&db.url),
    };
    let mut verify = vec!["lockbox".to_owned(), "verify".to_owned(), id.to_string()];
    verify.extend(db_args.clone());
    let refs: Vec<&str> = verify.iter().map(String::as_str).collect();
    let (code, out, err) = candor_cli(&refs, None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("All 2 decision(s) verify"), "{out}");
}
