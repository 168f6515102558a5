use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::elevation::{Elevation, ElevationId, ElevationStatus};
use candor_domain::store::{Conflict, ElevationStore, Stale, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::OperatorId;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use time::Duration;

use crate::audit::append_in_tx;
use crate::rows::{get, json, opt_json, opt_time, parsed, time};
use crate::{db_error, SqliteStore};

const COLS: &str = "id, operator_id, role, reason, duration_seconds, requested_at, status, decision, active_from, active_until";

fn elevation(row: &SqliteRow) -> StoreResult<Elevation> {
    Ok(Elevation {
        id: parsed(row, "id")?,
        operator: parsed(row, "operator_id")?,
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
impl ElevationStore for SqliteStore {
    async fn create_elevation(&self, e: &Elevation, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO elevations ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(e.id.to_string())
        .bind(e.operator.to_string())
        .bind(e.role.as_str())
        .bind(&e.reason)
        .bind(e.duration.whole_seconds())
        .bind(to_unix_micros(e.requested_at))
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from.map(to_unix_micros))
        .bind(e.active_until.map(to_unix_micros))
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE elevations SET status = ?, decision = ?, active_from = ?, active_until = ?
             WHERE id = ? AND status = ?",
        )
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from.map(to_unix_micros))
        .bind(e.active_until.map(to_unix_micros))
        .bind(e.id.to_string())
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
        sqlx::query(&format!("SELECT {COLS} FROM elevations WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
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
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {COLS} FROM elevations WHERE 1 = 1"));
        if let Some(o) = operator {
            qb.push(" AND operator_id = ").push_bind(o.to_string());
        }
        if let Some(s) = status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        qb.push(" ORDER BY requested_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        qb.build()
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?
            .iter()
            .map(elevation)
            .collect()
    }
}
