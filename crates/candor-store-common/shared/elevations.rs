// Elevations: operators' time-boxed privileged roles, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/elevations.rs` and
// `candor-store-postgres/src/elevations.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::{at, key, Db, DbRow, Store};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::elevation::{Elevation, ElevationId, ElevationStatus};
use candor_domain::store::{Conflict, ElevationStore, Stale, StoreError, StoreResult};
use candor_domain::OperatorId;
use sqlx::QueryBuilder;
use time::Duration;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::rows::{get, id, json, opt_json, opt_time, parsed, time};

const COLS: &str = "id, operator_id, role, reason, duration_seconds, requested_at, status, decision, active_from, active_until";

fn elevation(row: &DbRow) -> StoreResult<Elevation> {
    Ok(Elevation {
        id: id(row, "id", ElevationId)?,
        operator: id(row, "operator_id", OperatorId)?,
        role: parsed(row, "role")?,
        reason: get(row, "reason")?,
        duration: Duration::seconds(get(row, "duration_seconds")?),
        requested_at: time(row, "requested_at")?,
        status: parsed(row, "status")?,
        decision: opt_json(row, "decision")?,
        active_from: opt_time(row, "active_from")?,
        active_until: opt_time(row, "active_until")?,
    })
}

#[async_trait]
impl ElevationStore for Store {
    async fn create_elevation(&self, e: &Elevation, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO elevations ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(key(e.id.0))
        .bind(key(e.operator.0))
        .bind(e.role.as_str())
        .bind(&e.reason)
        .bind(e.duration.whole_seconds())
        .bind(at(e.requested_at))
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from.map(at))
        .bind(e.active_until.map(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn save_elevation(
        &self,
        e: &Elevation,
        expected: ElevationStatus,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE elevations SET status = $1, decision = $2, active_from = $3, active_until = $4
             WHERE id = $5 AND status = $6",
        )
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from.map(at))
        .bind(e.active_until.map(at))
        .bind(key(e.id.0))
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::Stale(Stale::Elevation)));
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn get_elevation(&self, id: ElevationId) -> StoreResult<Option<Elevation>> {
        sqlx::query(&format!("SELECT {COLS} FROM elevations WHERE id = $1"))
            .bind(key(id.0))
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .map(|r| elevation(&r))
            .transpose()
    }

    async fn list_elevations(
        &self,
        operator: Option<OperatorId>,
        status: Option<ElevationStatus>,
        limit: u32,
    ) -> StoreResult<Vec<Elevation>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {COLS} FROM elevations WHERE 1 = 1"));
        if let Some(o) = operator {
            qb.push(" AND operator_id = ").push_bind(key(o.0));
        }
        if let Some(s) = status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        qb.push(" ORDER BY requested_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        qb.build()
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(elevation)
            .collect()
    }
}
