//! Durable jobs: a job that panics or errors is retried and never lost; periodic tasks
//! are enqueued once per period however many instances schedule them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use candor::jobs::{JobRunner, Outcome, AUDIT_CHECKPOINT, SESSION_CLEANUP};
use candor_domain::clock::Clock;
use candor_domain::jobs::{JobStatus, NewJob};
use candor_domain::JobId;
use futures::FutureExt;
use serde_json::json;
use time::Duration;

use crate::common::TestApp;

async fn a_panicking_job_is_retried_until_it_succeeds(app: TestApp) {
    let attempts = Arc::new(AtomicU32::new(0));
    let mut runner = JobRunner::new(app.core.clone());
    let seen = attempts.clone();
    runner.register("flaky", move |_core, job| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            match n {
                1 => panic!("first attempt explodes"),
                2 => anyhow::bail!("second attempt fails politely (job {})", job.id),
                _ => Ok(()),
            }
        }
        .boxed()
    });
    let now = app.clock.now();
    let id = app
        .core
        .store
        .enqueue_job(JobId::generate(), NewJob::new("flaky", json!({}), now), now)
        .await
        .unwrap()
        .unwrap();

    match runner.run_one().await.unwrap() {
        Some(Outcome::Retry(j, e)) => {
            assert_eq!(j, id);
            assert!(e.contains("panicked") && e.contains("explodes"), "{e}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    let stored = app.core.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Queued);
    assert!(stored.last_error.unwrap().contains("explodes"));
    assert!(
        runner.run_one().await.unwrap().is_none(),
        "backoff: not due yet"
    );

    app.clock.advance(Duration::seconds(10));
    assert!(
        matches!(runner.run_one().await.unwrap(), Some(Outcome::Retry(_, e)) if e.contains("politely"))
    );
    app.clock.advance(Duration::seconds(20));
    assert_eq!(runner.run_one().await.unwrap(), Some(Outcome::Done(id)));
    assert_eq!(
        app.core.store.get_job(id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

async fn a_job_of_a_crashed_worker_is_taken_over(app: TestApp) {
    let now = app.clock.now();
    let id = app
        .core
        .store
        .enqueue_job(
            JobId::generate(),
            NewJob::new(SESSION_CLEANUP, json!({}), now),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    // A worker claims it and dies without a word.
    let claimed = app
        .core
        .store
        .claim_job(
            now,
            candor::jobs::LEASE,
            "dead-worker",
            candor_domain::jobs::JobLane::General,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    let runner = JobRunner::new(app.core.clone());
    assert!(
        runner.run_one().await.unwrap().is_none(),
        "leased to the dead worker"
    );
    app.clock
        .advance(candor::jobs::LEASE + Duration::seconds(1));
    assert_eq!(runner.run_one().await.unwrap(), Some(Outcome::Done(id)));
}

async fn a_job_nobody_can_run_ends_dead_with_its_error(app: TestApp) {
    let now = app.clock.now();
    let mut job = NewJob::new("no.such.kind", json!({}), now);
    job.max_attempts = 2;
    let id = app
        .core
        .store
        .enqueue_job(JobId::generate(), job, now)
        .await
        .unwrap()
        .unwrap();
    let runner = JobRunner::new(app.core.clone());
    assert!(matches!(
        runner.run_one().await.unwrap(),
        Some(Outcome::Retry(..))
    ));
    app.clock.advance(Duration::minutes(1));
    match runner.run_one().await.unwrap() {
        Some(Outcome::Dead(j, e)) => {
            assert_eq!(j, id);
            assert!(e.contains("no handler"), "{e}");
        }
        other => panic!("expected dead, got {other:?}"),
    }
    assert_eq!(app.core.store.job_counts().await.unwrap().dead, 1);
}

async fn periodic_tasks_run_once_per_period_across_instances(app: TestApp) {
    let one = JobRunner::new(app.core.clone());
    let two = JobRunner::new(app.core.clone());
    let now = app.clock.now();
    one.schedule_periodic(now).await.unwrap();
    two.schedule_periodic(now + Duration::minutes(5))
        .await
        .unwrap();
    let mut done = Vec::new();
    while let Some(outcome) = one.run_one().await.unwrap() {
        done.push(outcome);
    }
    assert_eq!(done.len(), 5, "a checkpoint, a cleanup, and this minute's health watchdog, Lockbox deadlines and status site (the other instance's minute is not due yet): {done:?}");
    assert!(done.iter().all(|o| matches!(o, Outcome::Done(_))));
    // The checkpoint job signed the chains.
    let key = candor_domain::audit::AuditChain::Tenant(app.world.a.id).key();
    assert!(app
        .core
        .store
        .latest_checkpoint(&key)
        .await
        .unwrap()
        .is_some());
    app.clock.advance(Duration::hours(1));
    two.schedule_periodic(app.clock.now()).await.unwrap();
    assert!(
        two.run_one().await.unwrap().is_some(),
        "the next hour gets its own jobs"
    );
    let _ = AUDIT_CHECKPOINT;
}

crate::both!(
    a_panicking_job_is_retried_until_it_succeeds,
    a_job_of_a_crashed_worker_is_taken_over,
    a_job_nobody_can_run_ends_dead_with_its_error,
    periodic_tasks_run_once_per_period_across_instances,
);
