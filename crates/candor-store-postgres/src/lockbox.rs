use async_trait::async_trait;
use candor_domain::jobs::NewJob;
use candor_domain::JobId;

use crate::jobs::insert_job;
use candor_domain::audit::NewAuditRecord;
use candor_domain::lockbox::{
    LockboxFilter, LockboxRequest, LockboxRequestId, LockboxStatus, Workload,
};
use candor_domain::store::{Conflict, LockboxStore, Stale, StoreError, StoreResult};
use candor_domain::TenantId;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::rows::{corrupt, get, json, opt_json, parsed};
use crate::{db_error, PostgresStore};

const COLS: &str = "id, tenant_id, workload, operations, service_request, justification, duration_seconds, requester_id, requester_name, created_at, needs_customer, status, internal_decision, pending_since, customer_decision, access_start, access_end, ended, next_deadline";

fn request(row: &PgRow) -> StoreResult<LockboxRequest> {
    let ops: String = get(row, "operations")?;
    Ok(LockboxRequest {
        id: LockboxRequestId(get(row, "id")?),
        tenant: TenantId(get(row, "tenant_id")?),
        workload: get(row, "workload")?,
        operations: serde_json::from_str(&ops).map_err(|e| corrupt("operations", e))?,
        service_request: get(row, "service_request")?,
        justification: get(row, "justification")?,
        duration: Duration::seconds(get(row, "duration_seconds")?),
        requester: candor_domain::OperatorId(get(row, "requester_id")?),
        requester_name: get(row, "requester_name")?,
        created_at: get(row, "created_at")?,
        needs_customer: get(row, "needs_customer")?,
        status: parsed(row, "status")?,
        internal_decision: opt_json(row, "internal_decision")?,
        pending_since: get(row, "pending_since")?,
        customer_decision: opt_json(row, "customer_decision")?,
        access_start: get(row, "access_start")?,
        access_end: get(row, "access_end")?,
        ended: opt_json(row, "ended")?,
    })
}

#[async_trait]
impl LockboxStore for PostgresStore {
    async fn lockbox_enabled(&self, tenant: TenantId) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT enabled FROM lockbox_settings WHERE tenant_id = $1")
                .bind(tenant.0)
                .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO lockbox_settings (tenant_id, enabled, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at",
        )
        .bind(tenant.0)
        .bind(enabled)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn put_workload(&self, w: &Workload, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO lockbox_workloads (name, operations) VALUES ($1, $2)
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
                .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO lockbox_requests ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        ))
        .bind(r.id.0)
        .bind(r.tenant.0)
        .bind(&r.workload)
        .bind(json(&r.operations))
        .bind(&r.service_request)
        .bind(&r.justification)
        .bind(r.duration.whole_seconds())
        .bind(r.requester.0)
        .bind(&r.requester_name)
        .bind(r.created_at)
        .bind(r.needs_customer)
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since)
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start)
        .bind(r.access_end)
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline())
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE lockbox_requests SET status = $1, internal_decision = $2, pending_since = $3,
                 customer_decision = $4, access_start = $5, access_end = $6, ended = $7, next_deadline = $8,
                 needs_customer = $9
             WHERE id = $10 AND status = $11",
        )
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since)
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start)
        .bind(r.access_end)
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline())
        .bind(r.needs_customer)
        .bind(r.id.0)
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
        sqlx::query(&format!(
            "SELECT {COLS} FROM lockbox_requests WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .map(|r| request(&r))
        .transpose()
    }

    async fn list_lockbox_requests(&self, f: &LockboxFilter) -> StoreResult<Vec<LockboxRequest>> {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {COLS} FROM lockbox_requests WHERE 1 = 1"));
        if let Some(t) = f.tenant {
            qb.push(" AND tenant_id = ").push_bind(t.0);
        }
        if let Some(o) = f.requester {
            qb.push(" AND requester_id = ").push_bind(o.0);
        }
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(after) = f.created_after {
            qb.push(" AND created_at > ").push_bind(after);
        }
        if let Some((at, id)) = f.before {
            qb.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id.0)
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        qb.build()
            .fetch_all(&self.pool)
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
            "SELECT {COLS} FROM lockbox_requests WHERE next_deadline IS NOT NULL AND next_deadline <= $1
             ORDER BY next_deadline LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(request)
        .collect()
    }
}
