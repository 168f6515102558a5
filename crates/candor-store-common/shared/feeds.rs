// Private feed links of tenants, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/feeds.rs` and
// `candor-store-postgres/src/feeds.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::store::{FeedStore, FeedToken, StoreResult};
use candor_domain::TenantId;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::dialect::{at, key, DbRow, Store};
use crate::rows::{get, id, opt_time, time};

fn token(row: &DbRow) -> StoreResult<FeedToken> {
    Ok(FeedToken {
        id: id(row, "id", std::convert::identity)?,
        tenant: id(row, "tenant_id", TenantId)?,
        label: get(row, "label")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl FeedStore for Store {
    async fn create_feed_token(
        &self,
        t: &FeedToken,
        token_hash: &str,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO feed_tokens (id, tenant_id, token_hash, label, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(key(t.id))
        .bind(key(t.tenant.0))
        .bind(token_hash)
        .bind(&t.label)
        .bind(at(t.created_at))
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
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        row.map(|r| id(&r, "tenant_id", TenantId)).transpose()
    }

    async fn list_feed_tokens(&self, tenant: TenantId) -> StoreResult<Vec<FeedToken>> {
        sqlx::query(
            "SELECT id, tenant_id, label, created_at, revoked_at FROM feed_tokens
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(key(tenant.0))
        .fetch_all(self.reader())
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
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE feed_tokens SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
        )
        .bind(at(now))
        .bind(key(id))
        .bind(key(tenant.0))
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
