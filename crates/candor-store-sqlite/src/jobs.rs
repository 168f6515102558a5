use async_trait::async_trait;
use candor_domain::jobs::{AfterFailure, JobCounts, NewJob, StoredJob};
use candor_domain::store::{Conflict, JobStore, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::JobId;
use time::{Duration, OffsetDateTime};

use crate::{db_error, rows, SqliteStore};

const JOB_COLS: &str =
    "id, kind, payload, run_at, dedupe_key, status, attempts, max_attempts, lease_until, last_error";

/// Queues a job on `conn` (inside the caller's transaction when there is one, so the job
/// exists exactly when the change that asked for it does). False if its dedupe key is taken.
pub(crate) async fn insert_job(
    conn: &mut sqlx::SqliteConnection,
    id: JobId,
    job: &NewJob,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, payload, run_at, dedupe_key, status, attempts, max_attempts, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(to_unix_micros(job.run_at))
    .bind(&job.dedupe_key)
    .bind(job.max_attempts)
    .bind(to_unix_micros(now))
    .bind(to_unix_micros(now))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue_job(
        &self,
        id: JobId,
        job: NewJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobId>> {
        let mut conn = self.writer.acquire().await.map_err(db_error)?;
        Ok(insert_job(&mut conn, id, &job, now).await?.then_some(id))
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        worker: &str,
    ) -> StoreResult<Option<StoredJob>> {
        let now_us = to_unix_micros(now);
        sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?,
                 lease_until = ?, updated_at = ?
             WHERE id = (
                 SELECT id FROM jobs
                 WHERE (status = 'queued' AND run_at <= ?) OR (status = 'running' AND lease_until < ?)
                 ORDER BY run_at, id LIMIT 1)
             RETURNING {JOB_COLS}"
        ))
        .bind(worker)
        .bind(to_unix_micros(now + lease))
        .bind(now_us)
        .bind(now_us)
        .bind(now_us)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?
        .map(|r| rows::job(&r))
        .transpose()
    }

    async fn complete_job(&self, id: JobId, worker: &str, now: OffsetDateTime) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', lease_owner = NULL, lease_until = NULL, updated_at = ?
             WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .bind(to_unix_micros(now))
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.writer)
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
            AfterFailure::RetryAt(t) => ("queued", Some(to_unix_micros(t))),
            AfterFailure::Dead => ("dead", None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, run_at = COALESCE(?, run_at), last_error = ?,
                 lease_owner = NULL, lease_until = NULL, updated_at = ?
             WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(to_unix_micros(now))
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.writer)
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
        sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?
            .map(|r| rows::job(&r))
            .transpose()
    }

    async fn purge_finished_jobs(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'done' AND updated_at < ?")
            .bind(to_unix_micros(before))
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn job_counts(&self) -> StoreResult<JobCounts> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .fetch_all(&self.reader)
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
