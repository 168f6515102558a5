// Operator clients and the operator API's idempotency keys, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/operator_api.rs` and
// `candor-store-postgres/src/operator_api.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::DbRow;
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::identity::{OperatorClient, OperatorRoles};
use candor_domain::store::{
    Idempotency, OperatorApiStore, StoreError, StoreResult, IDEMPOTENCY_CLAIM_ABANDONED_AFTER,
};
use candor_domain::ApiClientId;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::dialect::{at, key, Store};
use crate::rows::{get, id, opt_time, time};

const COLS: &str = "id, display_name, secret_hash, roles, created_at, revoked_at";

fn client(row: &DbRow) -> StoreResult<OperatorClient> {
    Ok(OperatorClient {
        id: id(row, "id", ApiClientId)?,
        display_name: get(row, "display_name")?,
        secret_hash: get(row, "secret_hash")?,
        roles: OperatorRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| StoreError::Corrupt(format!("roles: {e}")))?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl OperatorApiStore for Store {
    async fn create_operator_client(
        &self,
        c: &OperatorClient,
        audit: NewAuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO operator_clients ({COLS}) VALUES ($1, $2, $3, $4, $5, NULL)"
        ))
        .bind(key(c.id.0))
        .bind(&c.display_name)
        .bind(&c.secret_hash)
        .bind(c.roles.to_csv())
        .bind(at(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_operator_client(&self, id: ApiClientId) -> StoreResult<Option<OperatorClient>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM operator_clients WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
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
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "UPDATE operator_clients SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {COLS}"
        ))
        .bind(at(now))
        .bind(key(id.0))
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
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(at(now))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() == 1 {
            return Ok(Idempotency::New);
        }
        let taken_over = sqlx::query(
            "UPDATE idempotency_keys SET created_at = $1 WHERE scope = $2 AND key = $3 AND request_hash = $4 AND status_code IS NULL AND created_at < $5",
        )
        .bind(at(now))
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(at(now - IDEMPOTENCY_CLAIM_ABANDONED_AFTER))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if taken_over.rows_affected() == 1 {
            return Ok(Idempotency::New);
        }
        let (hash, status, body): (String, Option<i32>, Option<String>) = sqlx::query_as(
            "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_one(self.writer())
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
        sqlx::query("UPDATE idempotency_keys SET status_code = $1, response_body = $2 WHERE scope = $3 AND key = $4")
            .bind(i32::from(status))
            .bind(body)
            .bind(scope)
            .bind(key)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status_code IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
