use async_trait::async_trait;
use candor_domain::store::{KeyPurpose, KeyStore, SigningKeyRecord, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;

use candor_domain::audit::NewAuditRecord;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::{db_error, rows, SqliteStore};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn ensure_signing_key(
        &self,
        candidate: SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord> {
        sqlx::query(
            "INSERT INTO signing_keys (key_id, purpose, secret, public, created_at, retired_at)
             VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
        )
        .bind(&candidate.key_id)
        .bind(candidate.purpose.as_str())
        .bind(&candidate.secret)
        .bind(&candidate.public)
        .bind(to_unix_micros(candidate.created_at))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "SELECT key_id, purpose, secret, public, created_at, retired_at FROM signing_keys
             WHERE purpose = ? AND retired_at IS NULL",
        )
        .bind(candidate.purpose.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?
        .map(|r| rows::signing_key(&r))
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt("no active signing key after inserting one".into()))
    }

    async fn list_signing_keys(&self, purpose: KeyPurpose) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query(
            "SELECT key_id, purpose, secret, public, created_at, retired_at FROM signing_keys
             WHERE purpose = ? ORDER BY created_at",
        )
        .bind(purpose.as_str())
        .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = ? WHERE purpose = ? AND retired_at IS NULL",
        )
        .bind(to_unix_micros(now))
        .bind(next.purpose.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO signing_keys (key_id, purpose, secret, public, created_at, retired_at)
             VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(&next.key_id)
        .bind(next.purpose.as_str())
        .bind(&next.secret)
        .bind(&next.public)
        .bind(to_unix_micros(next.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }
}
