use async_trait::async_trait;
use candor_domain::jobs::NewJob;
use candor_domain::JobId;

use crate::jobs::insert_job;
use candor_domain::audit::NewAuditRecord;
use candor_domain::lockbox::{
    LockboxFilter, LockboxRequest, LockboxRequestId, LockboxStatus, Workload,
};
use candor_domain::store::{Conflict, LockboxStore, Stale, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::TenantId;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::rows::{corrupt, get, json, opt_json, opt_time, parsed, time};
use crate::{db_error, SqliteStore};

const COLS: &str = "id, tenant_id, workload, operations, service_request, justification, duration_seconds, requester_id, requester_name, created_at, needs_customer, status, internal_decision, pending_since, customer_decision, access_start, access_end, ended, next_deadline";

fn request(row: &SqliteRow) -> StoreResult<LockboxRequest> {
    let ops: String = get(row, "operations")?;
    Ok(LockboxRequest {
        id: parsed(row, "id")?,
        tenant: parsed(row, "tenant_id")?,
        workload: get(row, "workload")?,
        operations: serde_json::from_str(&ops).map_err(|e| corrupt("operations", e))?,
        service_request: get(row, "service_request")?,
        justification: get(row, "justification")?,
        duration: Duration::seconds(get(row, "duration_seconds")?),
        requester: parsed(row, "requester_id")?,
        requester_name: get(row, "requester_name")?,
        created_at: time(row, "created_at")?,
        needs_customer: get(row, "needs_customer")?,
        status: parsed(row, "status")?,
        internal_decision: opt_json(row, "internal_decision")?,
        pending_since: opt_time(row, "pending_since")?,
        customer_decision: opt_json(row, "customer_decision")?,
        access_start: opt_time(row, "access_start")?,
        access_end: opt_time(row, "access_end")?,
        ended: opt_json(row, "ended")?,
    })
}

#[async_trait]
impl LockboxStore for SqliteStore {
    async fn lockbox_enabled(&self, tenant: TenantId) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT enabled FROM lockbox_settings WHERE tenant_id = ?")
                .bind(tenant.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(db_error)?;
        Ok(on.unwrap_or(false))
    }

    async fn set_lockbox_enabled(
        &self,
        tenant: TenantId,
        enabled: bool,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO lockbox_settings (tenant_id, enabled, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(enabled)
        .bind(to_unix_micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn put_workload(&self, w: &Workload, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO lockbox_workloads (name, operations) VALUES (?, ?)
             ON CONFLICT (name) DO UPDATE SET operations = excluded.operations",
        )
        .bind(&w.name)
        .bind(json(&w.operations))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_workloads(&self) -> StoreResult<Vec<Workload>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, operations FROM lockbox_workloads ORDER BY name")
                .fetch_all(&self.reader)
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(name, ops)| {
                Ok(Workload {
                    operations: serde_json::from_str(&ops).map_err(|e| corrupt("operations", e))?,
                    name,
                })
            })
            .collect()
    }

    async fn create_lockbox_request(
        &self,
        r: &LockboxRequest,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO lockbox_requests ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(r.id.to_string())
        .bind(r.tenant.to_string())
        .bind(&r.workload)
        .bind(json(&r.operations))
        .bind(&r.service_request)
        .bind(&r.justification)
        .bind(r.duration.whole_seconds())
        .bind(r.requester.to_string())
        .bind(&r.requester_name)
        .bind(to_unix_micros(r.created_at))
        .bind(r.needs_customer)
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since.map(to_unix_micros))
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start.map(to_unix_micros))
        .bind(r.access_end.map(to_unix_micros))
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline().map(to_unix_micros))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            insert_job(&mut tx, JobId::generate(), job, job.run_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn save_lockbox_request(
        &self,
        r: &LockboxRequest,
        expected: LockboxStatus,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE lockbox_requests SET status = ?, internal_decision = ?, pending_since = ?,
                 customer_decision = ?, access_start = ?, access_end = ?, ended = ?, next_deadline = ?,
                 needs_customer = ?
             WHERE id = ? AND status = ?",
        )
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since.map(to_unix_micros))
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start.map(to_unix_micros))
        .bind(r.access_end.map(to_unix_micros))
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline().map(to_unix_micros))
        .bind(r.needs_customer)
        .bind(r.id.to_string())
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::Stale(Stale::LockboxRequest)));
        }
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            insert_job(&mut tx, JobId::generate(), job, job.run_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn get_lockbox_request(
        &self,
        id: LockboxRequestId,
    ) -> StoreResult<Option<LockboxRequest>> {
        sqlx::query(&format!("SELECT {COLS} FROM lockbox_requests WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?
            .map(|r| request(&r))
            .transpose()
    }

    async fn list_lockbox_requests(&self, f: &LockboxFilter) -> StoreResult<Vec<LockboxRequest>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {COLS} FROM lockbox_requests WHERE 1 = 1"));
        if let Some(t) = f.tenant {
            qb.push(" AND tenant_id = ").push_bind(t.to_string());
        }
        if let Some(o) = f.requester {
            qb.push(" AND requester_id = ").push_bind(o.to_string());
        }
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(after) = f.created_after {
            qb.push(" AND created_at > ")
                .push_bind(to_unix_micros(after));
        }
        if let Some((at, id)) = f.before {
            qb.push(" AND (created_at, id) < (")
                .push_bind(to_unix_micros(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        qb.build()
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?
            .iter()
            .map(request)
            .collect()
    }

    async fn lockbox_requests_past_deadline(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<LockboxRequest>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM lockbox_requests WHERE next_deadline IS NOT NULL AND next_deadline <= ?
             ORDER BY next_deadline LIMIT ?"
        ))
        .bind(to_unix_micros(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(request)
        .collect()
    }
}
