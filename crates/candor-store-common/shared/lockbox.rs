// Customer Lockbox settings, requests and their decisions, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/lockbox.rs` and
// `candor-store-postgres/src/lockbox.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use async_trait::async_trait;
use candor_domain::health::NewDelivery;

use crate::deliveries::insert_deliveries;
use crate::dialect::{at, key, Db, DbRow, Store};
use candor_domain::audit::NewAuditRecord;
use candor_domain::lockbox::{
    LockboxFilter, LockboxRequest, LockboxRequestId, LockboxStatus, Workload,
};
use candor_domain::store::{Conflict, LockboxStore, Stale, StoreError, StoreResult};
use candor_domain::TenantId;
use sqlx::QueryBuilder;
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::db_error;
use crate::rows::{corrupt, get, id, json, opt_json, opt_time, parsed, time};

/// When a step's notices were queued: they are due the moment the step is taken.
fn queued_at(notices: &[NewDelivery], otherwise: OffsetDateTime) -> OffsetDateTime {
    notices.iter().map(|d| d.run_at).min().unwrap_or(otherwise)
}

const COLS: &str = "id, tenant_id, workload, operations, service_request, justification, duration_seconds, requester_id, requester_name, created_at, needs_customer, status, internal_decision, pending_since, customer_decision, access_start, access_end, ended, next_deadline";

fn request(row: &DbRow) -> StoreResult<LockboxRequest> {
    let ops: String = get(row, "operations")?;
    Ok(LockboxRequest {
        id: id(row, "id", LockboxRequestId)?,
        tenant: id(row, "tenant_id", TenantId)?,
        workload: get(row, "workload")?,
        operations: serde_json::from_str(&ops).map_err(|e| corrupt("operations", e))?,
        service_request: get(row, "service_request")?,
        justification: get(row, "justification")?,
        duration: Duration::seconds(get(row, "duration_seconds")?),
        requester: id(row, "requester_id", candor_domain::OperatorId)?,
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
impl LockboxStore for Store {
    async fn lockbox_generation(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT value FROM lockbox_generation WHERE id = 1")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)?;
        get(&row, "value")
    }

    async fn lockbox_enabled(&self, tenant: TenantId) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT enabled FROM lockbox_settings WHERE tenant_id = $1")
                .bind(key(tenant.0))
                .fetch_optional(self.reader())
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
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO lockbox_settings (tenant_id, enabled, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at",
        )
        .bind(key(tenant.0))
        .bind(enabled)
        .bind(at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn put_workload(&self, w: &Workload, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
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
                .fetch_all(self.reader())
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
        notices: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO lockbox_requests ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        ))
        .bind(key(r.id.0))
        .bind(key(r.tenant.0))
        .bind(&r.workload)
        .bind(json(&r.operations))
        .bind(&r.service_request)
        .bind(&r.justification)
        .bind(r.duration.whole_seconds())
        .bind(key(r.requester.0))
        .bind(&r.requester_name)
        .bind(at(r.created_at))
        .bind(r.needs_customer)
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since.map(at))
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start.map(at))
        .bind(r.access_end.map(at))
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline().map(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        insert_deliveries(&mut tx, &notices, queued_at(&notices, r.created_at)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn save_lockbox_request(
        &self,
        r: &LockboxRequest,
        expected: LockboxStatus,
        audit: Vec<NewAuditRecord>,
        notices: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE lockbox_requests SET status = $1, internal_decision = $2, pending_since = $3,
                 customer_decision = $4, access_start = $5, access_end = $6, ended = $7, next_deadline = $8,
                 needs_customer = $9
             WHERE id = $10 AND status = $11",
        )
        .bind(r.status.as_str())
        .bind(r.internal_decision.as_ref().map(json))
        .bind(r.pending_since.map(at))
        .bind(r.customer_decision.as_ref().map(json))
        .bind(r.access_start.map(at))
        .bind(r.access_end.map(at))
        .bind(r.ended.as_ref().map(json))
        .bind(r.next_deadline().map(at))
        .bind(r.needs_customer)
        .bind(key(r.id.0))
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::Stale(Stale::LockboxRequest)));
        }
        sqlx::query("UPDATE lockbox_generation SET value = value + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        insert_deliveries(&mut tx, &notices, queued_at(&notices, r.created_at)).await?;
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
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| request(&r))
        .transpose()
    }

    async fn list_lockbox_requests(&self, f: &LockboxFilter) -> StoreResult<Vec<LockboxRequest>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {COLS} FROM lockbox_requests WHERE 1 = 1"));
        if let Some(t) = f.tenant {
            qb.push(" AND tenant_id = ").push_bind(key(t.0));
        }
        if let Some(o) = f.requester {
            qb.push(" AND requester_id = ").push_bind(key(o.0));
        }
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(after) = f.created_after {
            qb.push(" AND created_at > ").push_bind(at(after));
        }
        if let Some((when, id)) = f.before {
            qb.push(" AND (created_at, id) < (")
                .push_bind(at(when))
                .push(", ")
                .push_bind(key(id.0))
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        qb.build()
            .fetch_all(self.reader())
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
        .bind(at(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(request)
        .collect()
    }
}
