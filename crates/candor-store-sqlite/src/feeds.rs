use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::store::{FeedStore, FeedToken, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::TenantId;
use sqlx::sqlite::SqliteRow;

use crate::audit::append_in_tx;
use crate::rows::{get, opt_time, parsed, time};
use crate::{db_error, SqliteStore};

fn token(row: &SqliteRow) -> StoreResult<FeedToken> {
    let id: String = get(row, "id")?;
    Ok(FeedToken {
        id: uuid::Uuid::parse_str(&id).map_err(|e| crate::rows::corrupt("id", e))?,
        tenant: parsed(row, "tenant_id")?,
        label: get(row, "label")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl FeedStore for SqliteStore {
    async fn create_feed_token(
        &self,
        t: &FeedToken,
        token_hash: &str,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO feed_tokens (id, tenant_id, token_hash, label, created_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(t.id.to_string())
        .bind(t.tenant.to_string())
        .bind(token_hash)
        .bind(&t.label)
        .bind(to_unix_micros(t.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn tenant_of_feed_token(&self, token_hash: &str) -> StoreResult<Option<TenantId>> {
        let row = sqlx::query(
            "SELECT tenant_id FROM feed_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(|r| parsed(&r, "tenant_id")).transpose()
    }

    async fn list_feed_tokens(&self, tenant: TenantId) -> StoreResult<Vec<FeedToken>> {
        sqlx::query(
            "SELECT id, tenant_id, label, created_at, revoked_at FROM feed_tokens
             WHERE tenant_id = ? ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(token)
        .collect()
    }

    async fn revoke_feed_token(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        now: time::OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE feed_tokens SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
        )
        .bind(to_unix_micros(now))
        .bind(id.to_string())
        .bind(tenant.to_string())
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
}
