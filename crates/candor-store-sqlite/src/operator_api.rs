use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::identity::{OperatorClient, OperatorRoles};
use candor_domain::store::{Idempotency, OperatorApiStore, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::ApiClientId;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::rows::{get, opt_time, parsed, time};
use crate::{db_error, SqliteStore};

const COLS: &str = "id, display_name, secret_hash, roles, created_at, revoked_at";

fn client(row: &SqliteRow) -> StoreResult<OperatorClient> {
    Ok(OperatorClient {
        id: parsed(row, "id")?,
        display_name: get(row, "display_name")?,
        secret_hash: get(row, "secret_hash")?,
        roles: OperatorRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| StoreError::Corrupt(format!("roles: {e}")))?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl OperatorApiStore for SqliteStore {
    async fn create_operator_client(
        &self,
        c: &OperatorClient,
        audit: NewAuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO operator_clients ({COLS}) VALUES (?, ?, ?, ?, ?, NULL)"
        ))
        .bind(c.id.to_string())
        .bind(&c.display_name)
        .bind(&c.secret_hash)
        .bind(c.roles.to_csv())
        .bind(to_unix_micros(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_operator_client(&self, id: ApiClientId) -> StoreResult<Option<OperatorClient>> {
        sqlx::query(&format!("SELECT {COLS} FROM operator_clients WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?
            .map(|r| client(&r))
            .transpose()
    }

    async fn revoke_operator_client(
        &self,
        id: ApiClientId,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<OperatorClient> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "UPDATE operator_clients SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING {COLS}"
        ))
        .bind(to_unix_micros(now))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
        let c = client(&row)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(c)
    }

    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Idempotency> {
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO idempotency_keys (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(to_unix_micros(now))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() == 1 {
            return Ok(Idempotency::New);
        }
        let (hash, status, body): (String, Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = ? AND key = ?",
        )
        .bind(scope)
        .bind(key)
        .fetch_one(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(match (hash == request_hash, status, body) {
            (false, _, _) => Idempotency::Mismatch,
            (true, Some(status), Some(body)) => Idempotency::Replay {
                status: status as u16,
                body,
            },
            (true, _, _) => Idempotency::InProgress,
        })
    }

    async fn finish_idempotent(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET status_code = ?, response_body = ? WHERE scope = ? AND key = ?")
            .bind(i64::from(status))
            .bind(body)
            .bind(scope)
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status_code IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
