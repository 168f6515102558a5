// The durable job queue, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/jobs.rs` and
// `candor-store-postgres/src/jobs.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use async_trait::async_trait;
use candor_domain::jobs::{AfterFailure, JobCounts, JobLane, NewJob, StoredJob};
use candor_domain::store::{Conflict, JobStore, StoreError, StoreResult};
use candor_domain::JobId;
use time::{Duration, OffsetDateTime};

use crate::dialect::{at, key, DbConnection, Store, CLAIM_LOCK};
use crate::{db_error, rows};

const JOB_COLS: &str =
    "id, kind, payload, run_at, dedupe_key, status, attempts, max_attempts, lease_until, last_error";

/// Queues a job on `conn` (inside the caller's transaction when there is one, so the job
/// exists exactly when the change that asked for it does). False if its dedupe key is taken.
pub(crate) async fn insert_job(
    conn: &mut DbConnection,
    id: JobId,
    job: &NewJob,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, lane, payload, run_at, dedupe_key, status, attempts, max_attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(key(id.0))
    .bind(&job.kind)
    .bind(job.lane().as_str())
    .bind(job.payload.to_string())
    .bind(at(job.run_at))
    .bind(&job.dedupe_key)
    .bind(job.max_attempts)
    .bind(at(now))
    .bind(at(now))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl JobStore for Store {
    async fn enqueue_job(
        &self,
        id: JobId,
        job: NewJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobId>> {
        let mut conn = self.writer().acquire().await.map_err(db_error)?;
        Ok(insert_job(&mut conn, id, &job, now).await?.then_some(id))
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        worker: &str,
        lane: JobLane,
    ) -> StoreResult<Option<StoredJob>> {
        sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1,
                 lease_until = $2, updated_at = $3
             WHERE id = (
                 SELECT id FROM jobs
                 WHERE lane = $4
                   AND ((status = 'queued' AND run_at <= $5) OR (status = 'running' AND lease_until < $6))
                 ORDER BY run_at, id LIMIT 1{CLAIM_LOCK})
             RETURNING {JOB_COLS}"
        ))
        .bind(worker)
        .bind(at(now + lease))
        .bind(at(now))
        .bind(lane.as_str())
        .bind(at(now))
        .bind(at(now))
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?
        .map(|r| rows::job(&r))
        .transpose()
    }

    async fn complete_job(&self, id: JobId, worker: &str, now: OffsetDateTime) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', lease_owner = NULL, lease_until = NULL, updated_at = $1
             WHERE id = $2 AND status = 'running' AND lease_owner = $3",
        )
        .bind(at(now))
        .bind(key(id.0))
        .bind(worker)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::LeaseLost {
                job: id.to_string(),
                worker: worker.to_string(),
            }));
        }
        Ok(())
    }

    async fn fail_job(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        after: AfterFailure,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (status, run_at) = match after {
            AfterFailure::RetryAt(t) => ("queued", Some(at(t))),
            AfterFailure::Dead => ("dead", None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, run_at = COALESCE($2, run_at), last_error = $3,
                 lease_owner = NULL, lease_until = NULL, updated_at = $4
             WHERE id = $5 AND status = 'running' AND lease_owner = $6",
        )
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(at(now))
        .bind(key(id.0))
        .bind(worker)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::LeaseLost {
                job: id.to_string(),
                worker: worker.to_string(),
            }));
        }
        Ok(())
    }

    async fn get_job(&self, id: JobId) -> StoreResult<Option<StoredJob>> {
        sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"))
            .bind(key(id.0))
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .map(|r| rows::job(&r))
            .transpose()
    }

    async fn purge_finished_jobs(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'done' AND updated_at < $1")
            .bind(at(before))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn job_counts(&self) -> StoreResult<JobCounts> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        let mut counts = JobCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                "dead" => counts.dead = n,
                _ => {}
            }
        }
        Ok(counts)
    }
}
