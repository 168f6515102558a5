use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::elevation::{Elevation, ElevationId, ElevationStatus};
use candor_domain::store::{Conflict, ElevationStore, Stale, StoreError, StoreResult};
use candor_domain::OperatorId;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use time::Duration;

use crate::audit::append_in_tx;
use crate::rows::{get, json, opt_json, parsed};
use crate::{db_error, PostgresStore};

const COLS: &str = "id, operator_id, role, reason, duration_seconds, requested_at, status, decision, active_from, active_until";

fn elevation(row: &PgRow) -> StoreResult<Elevation> {
    Ok(Elevation {
        id: ElevationId(get(row, "id")?),
        operator: OperatorId(get(row, "operator_id")?),
        role: parsed(row, "role")?,
        reason: get(row, "reason")?,
        duration: Duration::seconds(get(row, "duration_seconds")?),
        requested_at: get(row, "requested_at")?,
        status: parsed(row, "status")?,
        decision: opt_json(row, "decision")?,
        active_from: get(row, "active_from")?,
        active_until: get(row, "active_until")?,
    })
}

#[async_trait]
impl ElevationStore for PostgresStore {
    async fn create_elevation(&self, e: &Elevation, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO elevations ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(e.id.0)
        .bind(e.operator.0)
        .bind(e.role.as_str())
        .bind(&e.reason)
        .bind(e.duration.whole_seconds())
        .bind(e.requested_at)
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from)
        .bind(e.active_until)
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE elevations SET status = $1, decision = $2, active_from = $3, active_until = $4
             WHERE id = $5 AND status = $6",
        )
        .bind(e.status.as_str())
        .bind(e.decision.as_ref().map(json))
        .bind(e.active_from)
        .bind(e.active_until)
        .bind(e.id.0)
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
            .bind(id.0)
            .fetch_optional(&self.pool)
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
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {COLS} FROM elevations WHERE 1 = 1"));
        if let Some(o) = operator {
            qb.push(" AND operator_id = ").push_bind(o.0);
        }
        if let Some(s) = status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        qb.push(" ORDER BY requested_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(elevation)
            .collect()
    }
}
