use async_trait::async_trait;
use candor_domain::store::{KeyPurpose, KeyStore, SigningKeyRecord, StoreError, StoreResult};

use candor_domain::audit::NewAuditRecord;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::{db_error, rows, PostgresStore};

#[async_trait]
impl KeyStore for PostgresStore {
    async fn ensure_signing_key(
        &self,
        candidate: SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord> {
        sqlx::query(
            "INSERT INTO signing_keys (key_id, purpose, secret, public, created_at, retired_at)
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
        )
        .bind(&candidate.key_id)
        .bind(candidate.purpose.as_str())
        .bind(&candidate.secret)
        .bind(&candidate.public)
        .bind(candidate.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "SELECT key_id, purpose, secret, public, created_at, retired_at FROM signing_keys
             WHERE purpose = $1 AND retired_at IS NULL",
        )
        .bind(candidate.purpose.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .map(|r| rows::signing_key(&r))
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt("no active signing key after inserting one".into()))
    }

    async fn list_signing_keys(&self, purpose: KeyPurpose) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query(
            "SELECT key_id, purpose, secret, public, created_at, retired_at FROM signing_keys
             WHERE purpose = $1 ORDER BY created_at",
        )
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::signing_key)
        .collect()
    }

    async fn rotate_signing_key(
        &self,
        next: SigningKeyRecord,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE purpose = $2 AND retired_at IS NULL",
        )
        .bind(now)
        .bind(next.purpose.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO signing_keys (key_id, purpose, secret, public, created_at, retired_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&next.key_id)
        .bind(next.purpose.as_str())
        .bind(&next.secret)
        .bind(&next.public)
        .bind(next.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }
}
