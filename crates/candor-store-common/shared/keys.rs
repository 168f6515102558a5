// Signing keys (public parts, and secrets until they leave the database), on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/keys.rs` and
// `candor-store-postgres/src/keys.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use async_trait::async_trait;
use candor_domain::store::{KeyPurpose, KeyStore, SigningKeyRecord, StoreError, StoreResult};

use candor_domain::audit::NewAuditRecord;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::dialect::{at, Store};
use crate::{db_error, rows};

#[async_trait]
impl KeyStore for Store {
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
        .bind(at(candidate.created_at))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        sqlx::query(
            "SELECT key_id, purpose, secret, public, created_at, retired_at FROM signing_keys
             WHERE purpose = $1 AND retired_at IS NULL",
        )
        .bind(candidate.purpose.as_str())
        .fetch_optional(self.writer())
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
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::signing_key)
        .collect()
    }

    async fn forget_signing_secret(&self, key_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE signing_keys SET secret = $1 WHERE key_id = $2")
            .bind(Vec::<u8>::new())
            .bind(key_id)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn rotate_signing_key(
        &self,
        next: SigningKeyRecord,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE purpose = $2 AND retired_at IS NULL",
        )
        .bind(at(now))
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
        .bind(at(next.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }
}
