use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::store::{FeedStore, FeedToken, StoreResult};
use candor_domain::TenantId;
use sqlx::postgres::PgRow;

use crate::audit::append_in_tx;
use crate::rows::get;
use crate::{db_error, PostgresStore};

fn token(row: &PgRow) -> StoreResult<FeedToken> {
    Ok(FeedToken {
        id: get(row, "id")?,
        tenant: TenantId(get(row, "tenant_id")?),
        label: get(row, "label")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

#[async_trait]
impl FeedStore for PostgresStore {
    async fn create_feed_token(
        &self,
        t: &FeedToken,
        token_hash: &str,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO feed_tokens (id, tenant_id, token_hash, label, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(t.id)
        .bind(t.tenant.0)
        .bind(token_hash)
        .bind(&t.label)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn tenant_of_feed_token(&self, token_hash: &str) -> StoreResult<Option<TenantId>> {
        let row = sqlx::query(
            "SELECT tenant_id FROM feed_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| get(&r, "tenant_id").map(TenantId)).transpose()
    }

    async fn list_feed_tokens(&self, tenant: TenantId) -> StoreResult<Vec<FeedToken>> {
        sqlx::query(
            "SELECT id, tenant_id, label, created_at, revoked_at FROM feed_tokens
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE feed_tokens SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(tenant.0)
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
