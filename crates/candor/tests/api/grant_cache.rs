//! Lockbox grants kept in memory by several instances on one PostgreSQL: a revocation
//! committed on one instance is refused by another as soon as the announcement arrives,
//! within the generation check's second when the announcement is lost, and at once when
//! the other's listener is cut.

use std::sync::Arc;
use std::time::{Duration, Instant};

use candor_app::grants::{CHECK_EVERY, TRUST_FOR};
use candor_app::lockbox::{self, Decision, NewRequestInput};
use candor_app::Core;
use candor_domain::clock::Clock;
use candor_domain::identity::{Actor, OperatorRole, TenantRole};
use candor_domain::lockbox::{LockboxEvent, LockboxRequest, Workload};
use candor_domain::OperatorId;
use tokio_util::sync::CancellationToken;

use crate::common::{Backend, DbGuard, TestApp};
use crate::health::operator;
use crate::lockbox::person;

/// An approved request of the world's Support Engineer in tenant A, filed and decided
/// through `core`.
async fn approved(app: &TestApp, core: &Core) -> LockboxRequest {
    let engineer = operator(app, OperatorRole::SupportEngineer);
    let manager = operator(app, OperatorRole::SupportManager);
    let ga = person(app, TenantRole::GlobalAdministrator, false);
    let filed = lockbox::file_request(
        core,
        &engineer,
        None,
        NewRequestInput {
            tenant: app.world.a.id,
            workload: "Exchange Online".into(),
            operations: vec!["Get-Mailbox".into()],
            service_request: "SR-20261205-1".into(),
            justification: "A mailbox will not open in any client.".into(),
            duration_minutes: 120,
        },
    )
    .await
    .unwrap();
    lockbox::decide_internally(core, &manager, None, filed.id, true, None)
        .await
        .unwrap();
    lockbox::decide(core, &ga, None, filed.id, Decision::Approve, None)
        .await
        .unwrap()
}

fn engineer_id(app: &TestApp) -> OperatorId {
    let Actor::Operator { operator_id, .. } = operator(app, OperatorRole::SupportEngineer) else {
        unreachable!()
    };
    operator_id
}

/// Whether `core` lets the engineer in, and whether it answered from memory.
async fn allowed(app: &TestApp, core: &Core) -> (bool, bool) {
    let operator = engineer_id(app);
    let cached = core.grants.approved(operator, app.world.a.id).is_some();
    let covering = lockbox::covering_request(
        core,
        operator,
        app.world.a.id,
        "Exchange Online",
        "Get-Mailbox",
    )
    .await
    .unwrap();
    (covering.is_some(), cached)
}

/// Waits until `core` refuses the engineer, and says how long that took from `since`
/// (just before the revocation was sent).
///
/// The bound is checked as a rule, not a stopwatch: no call *made* later than
/// [`TRUST_FOR`] after the revocation `committed` may let the engineer in. A slow machine
/// only delays the calls, so it cannot fail this; a cache that trusted stale memory can.
async fn refused_after(app: &TestApp, core: &Core, since: Instant, committed: Instant) -> Duration {
    loop {
        let asked = Instant::now();
        if !allowed(app, core).await.0 {
            return since.elapsed();
        }
        let late = asked.saturating_duration_since(committed);
        assert!(
            late < TRUST_FOR,
            "a call made {late:?} after the revocation committed was still let in \
             (the bound is {TRUST_FOR:?})"
        );
        assert!(since.elapsed() < Duration::from_secs(60), "never refused");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Until `core` answers for the engineer from memory (announcements of the steps that
/// approved the grant may still be arriving, each dropping what was kept).
async fn cached(app: &TestApp, core: &Core) {
    let started = Instant::now();
    loop {
        let (allowed, from_memory) = allowed(app, core).await;
        assert!(allowed, "the engineer is let in");
        if from_memory {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never kept in memory"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Until `core` keeps grants in memory again (it hears and has checked).
async fn trusted(core: &Core) {
    let started = Instant::now();
    while !core.grants.enabled() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the cache never came on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_refused_by_another_within_the_bound() {
    let Some(app) = crate::common::spawn(Backend::Postgres).await else {
        return;
    };
    let DbGuard::Postgres(db) = &app.db else {
        unreachable!()
    };
    let url = db.url.clone();
    // Instance B: its own connections to the same database, on the same clock.
    let store_b = Arc::new(
        candor_store_postgres::PostgresStore::connect(&url)
            .await
            .unwrap(),
    );
    let b = Arc::new(Core::new(store_b, app.clock.clone()).await.unwrap());
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    for core in [app.core.clone(), b.clone()] {
        tokio::spawn(core.clone().hear_announcements(stop.clone()));
        tokio::spawn(core.watch_grants(stop.clone()));
    }
    app.core
        .store
        .put_workload(
            &Workload {
                name: "Exchange Online".into(),
                operations: vec!["Get-Mailbox".into()],
            },
            vec![],
        )
        .await
        .unwrap();
    let ga = person(&app, TenantRole::GlobalAdministrator, false);
    lockbox::set_enabled(&app.core, &ga, None, app.world.a.id, true)
        .await
        .unwrap();
    trusted(&b).await;

    // 1. Announced: B refuses within the announcement's delay.
    let grant = approved(&app, &app.core).await;
    cached(&app, &b).await;
    let sent = Instant::now();
    lockbox::revoke(&app.core, &ga, None, grant.id, None)
        .await
        .unwrap();
    let announced = refused_after(&app, &b, sent, Instant::now()).await;

    // 2. The announcement lost (the change written without one): B's generation check
    // finds it within its second.
    let grant = approved(&app, &app.core).await;
    trusted(&b).await;
    cached(&app, &b).await;
    let before = app
        .core
        .store
        .get_lockbox_request(grant.id)
        .await
        .unwrap()
        .unwrap();
    let after = before
        .apply(
            &LockboxEvent::Revoke {
                name: "admin@contoso.example".into(),
                comment: None,
            },
            app.clock.now(),
        )
        .unwrap();
    let sent = Instant::now();
    app.core
        .store
        .save_lockbox_request(&after, before.status, vec![], vec![])
        .await
        .unwrap();
    let unannounced = refused_after(&app, &b, sent, Instant::now()).await;

    // 3. B's listener cut: B stops trusting its memory until it hears again.
    let grant = approved(&app, &app.core).await;
    trusted(&b).await;
    cached(&app, &b).await;
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(cut >= 1, "the listeners' connections were found");
    let sent = Instant::now();
    lockbox::revoke(&app.core, &ga, None, grant.id, None)
        .await
        .unwrap();
    let while_cut = refused_after(&app, &b, sent, Instant::now()).await;
    trusted(&b).await;

    eprintln!(
        "revocation refused on the other instance after: announced {announced:?}, \
         announcement lost {unannounced:?} (check every {CHECK_EVERY:?}), listener cut {while_cut:?}"
    );
}
