//! Push subscriptions: browsers of tenant users that asked for Web Push notifications.

use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{PushSubscription, PushSubscriptionId};
use candor_domain::store::StoreResult;
use candor_domain::time_util::to_unix_micros;
use candor_domain::{TenantId, UserId};
use sqlx::sqlite::SqliteRow;

use crate::audit::append_in_tx;
use crate::rows::{from_json, get, json, parsed, time};
use crate::{db_error, SqliteStore};

const COLS: &str =
    "id, tenant_id, user_id, endpoint, p256dh, auth, subscription, label, created_at";

fn push(row: &SqliteRow) -> StoreResult<PushSubscription> {
    Ok(PushSubscription {
        id: parsed(row, "id")?,
        tenant: parsed(row, "tenant_id")?,
        user: parsed(row, "user_id")?,
        endpoint: get(row, "endpoint")?,
        p256dh: get(row, "p256dh")?,
        auth: get(row, "auth")?,
        subscription: from_json(row, "subscription")?,
        label: get(row, "label")?,
        created_at: time(row, "created_at")?,
    })
}

impl SqliteStore {
    pub(crate) async fn save_push(
        &self,
        p: &PushSubscription,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO push_subscriptions ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (endpoint) DO UPDATE SET id = excluded.id, tenant_id = excluded.tenant_id,
                 user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
                 subscription = excluded.subscription, label = excluded.label,
                 created_at = excluded.created_at"
        ))
        .bind(p.id.to_string())
        .bind(p.tenant.to_string())
        .bind(p.user.to_string())
        .bind(&p.endpoint)
        .bind(&p.p256dh)
        .bind(&p.auth)
        .bind(json(&p.subscription))
        .bind(&p.label)
        .bind(to_unix_micros(p.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    pub(crate) async fn list_push(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PushSubscription>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM push_subscriptions WHERE tenant_id = ? AND user_id = ?
             ORDER BY created_at DESC"
        ))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(push)
        .collect()
    }

    pub(crate) async fn get_push(
        &self,
        ids: &[PushSubscriptionId],
    ) -> StoreResult<Vec<PushSubscription>> {
        self.rows_where_in(
            &format!("SELECT {COLS} FROM push_subscriptions"),
            "id",
            ids,
            "",
        )
        .await?
        .iter()
        .map(push)
        .collect()
    }

    pub(crate) async fn delete_push(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        id: PushSubscriptionId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "DELETE FROM push_subscriptions WHERE id = ? AND tenant_id = ?
                 AND (? IS NULL OR user_id = ?)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(user.map(|u| u.to_string()))
        .bind(user.map(|u| u.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    pub(crate) async fn push_of(&self, tenants: &[TenantId]) -> StoreResult<Vec<PushSubscription>> {
        self.rows_where_in(
            &format!("SELECT {COLS} FROM push_subscriptions"),
            "tenant_id",
            tenants,
            "",
        )
        .await?
        .iter()
        .map(push)
        .collect()
    }
}
