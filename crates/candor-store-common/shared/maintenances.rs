// Planned maintenance, each with the Message Center message that carries it to its
// tenants, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/maintenances.rs`
// and `candor-store-postgres/src/maintenances.rs`, where `crate::dialect` says how that
// database stores times (`at`) and which pool reads and writes. Placeholders are `$1`,
// `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::{at, DbRow, Store};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::maintenance::{
    Maintenance, MaintenanceId, ScheduledMaintenance, Window,
};
use candor_domain::health::{ComponentId, Message, MessageId};
use candor_domain::store::{Conflict, MaintenanceStore, Stale, StoreError, StoreResult};
use candor_domain::TenantId;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::messages::{insert_message, reach, save_message};
use crate::rows::{from_json, get, json, opt_time, parsed, time};

const MAINTENANCE_COLS: &str = "id, message_id, services, scope, texts, window_start, window_end, impact, reminder_minutes, state, started_at, ended_at, told, next_due, broad, created_by, created_at, last_modified_at";

fn maintenance(row: &DbRow) -> StoreResult<ScheduledMaintenance> {
    let id: String = get(row, "id")?;
    let window = Window {
        start: time(row, "window_start")?,
        end: time(row, "window_end")?,
    };
    if window.end <= window.start {
        return Err(crate::rows::corrupt(
            "window_end",
            format!("maintenance {id} ends before it starts"),
        ));
    }
    let reminder: i64 = get(row, "reminder_minutes")?;
    Ok(ScheduledMaintenance {
        id: MaintenanceId::parse(&id).map_err(|e| crate::rows::corrupt("id", e))?,
        message: MessageId::parse(&get::<String>(row, "message_id")?)
            .map_err(|e| crate::rows::corrupt("message_id", e))?,
        maintenance: Maintenance {
            services: from_json(row, "services")?,
            scope: from_json(row, "scope")?,
            text: from_json(row, "texts")?,
            window,
            impact: parsed(row, "impact")?,
            reminder: time::Duration::minutes(reminder),
            state: parsed(row, "state")?,
            started_at: opt_time(row, "started_at")?,
            ended_at: opt_time(row, "ended_at")?,
            told: from_json(row, "told")?,
        },
        broad: get(row, "broad")?,
        created_by: get(row, "created_by")?,
        created_at: time(row, "created_at")?,
        last_modified: time(row, "last_modified_at")?,
    })
}

fn maintenances(rows: Vec<DbRow>) -> StoreResult<Vec<ScheduledMaintenance>> {
    rows.iter().map(maintenance).collect()
}

#[async_trait]
impl MaintenanceStore for Store {
    async fn create_maintenance(
        &self,
        s: &ScheduledMaintenance,
        message: &Message,
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<i64> {
        let m = &s.maintenance;
        let mut tx = self.write_tx().await.map_err(db_error)?;
        insert_message(&mut tx, message).await?;
        let explicit: Vec<TenantId> = message.audience.tenants.iter().copied().collect();
        let reached = reach(
            &mut tx,
            &message.id,
            covered,
            &explicit,
            message.last_modified,
        )
        .await?;
        sqlx::query(&format!(
            "INSERT INTO maintenances ({MAINTENANCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(s.id.as_str())
        .bind(s.message.as_str())
        .bind(json(&m.services))
        .bind(json(&m.scope))
        .bind(json(&m.text))
        .bind(at(m.window.start))
        .bind(at(m.window.end))
        .bind(m.impact.as_str())
        .bind(m.reminder.whole_minutes())
        .bind(m.state.as_str())
        .bind(m.started_at.map(at))
        .bind(m.ended_at.map(at))
        .bind(json(&m.told))
        .bind(m.next_due().map(at))
        .bind(s.broad)
        .bind(&s.created_by)
        .bind(at(s.created_at))
        .bind(at(s.last_modified))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(reached)
    }

    async fn update_maintenance(
        &self,
        s: &ScheduledMaintenance,
        expected_last_modified: OffsetDateTime,
        message: &Message,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<()> {
        let m = &s.maintenance;
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE maintenances SET texts = $1, window_start = $2, window_end = $3, impact = $4,
                 reminder_minutes = $5, state = $6, started_at = $7, ended_at = $8, told = $9,
                 next_due = $10, last_modified_at = $11
             WHERE id = $12 AND last_modified_at = $13",
        )
        .bind(json(&m.text))
        .bind(at(m.window.start))
        .bind(at(m.window.end))
        .bind(m.impact.as_str())
        .bind(m.reminder.whole_minutes())
        .bind(m.state.as_str())
        .bind(m.started_at.map(at))
        .bind(m.ended_at.map(at))
        .bind(json(&m.told))
        .bind(m.next_due().map(at))
        .bind(at(s.last_modified))
        .bind(s.id.as_str())
        .bind(at(expected_last_modified))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::Stale(Stale::Maintenance)));
        }
        // The message moves with its maintenance alone: its last change is read here, in
        // the same transaction, rather than carried by the caller.
        let row = sqlx::query("SELECT last_modified_at FROM messages WHERE id = $1")
            .bind(message.id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let before = time(&row, "last_modified_at")?;
        save_message(&mut tx, message, before).await?;
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn get_maintenance(
        &self,
        id: &MaintenanceId,
    ) -> StoreResult<Option<ScheduledMaintenance>> {
        sqlx::query(&format!(
            "SELECT {MAINTENANCE_COLS} FROM maintenances WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(maintenance)
        .transpose()
    }

    async fn list_maintenances(&self, limit: u32) -> StoreResult<Vec<ScheduledMaintenance>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAINTENANCE_COLS} FROM maintenances ORDER BY window_start DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        maintenances(rows)
    }

    async fn due_maintenances(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledMaintenance>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAINTENANCE_COLS} FROM maintenances WHERE next_due <= $1 ORDER BY next_due LIMIT $2"
        ))
        .bind(at(now))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?;
        maintenances(rows)
    }

    async fn tenant_maintenances(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledMaintenance>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAINTENANCE_COLS} FROM maintenances
             WHERE message_id IN (SELECT message_id FROM message_tenants WHERE tenant_id = $1)
             ORDER BY window_start DESC, id DESC LIMIT $2"
        ))
        .bind(crate::dialect::key(tenant.0))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        maintenances(rows)
    }
}
