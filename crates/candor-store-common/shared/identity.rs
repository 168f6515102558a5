// Identity: tenants, users, operators, API clients, sessions, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/identity.rs` and
// `candor-store-postgres/src/identity.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use: PostgreSQL numbers them so, and SQLite numbers
// named `$N` parameters by first appearance, which is the same only in that order.

use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::identity::{
    ApiClient, EmailAddress, NewApiClient, NewOperator, NewTenant, NewTenantUser, Operator,
    Session, SessionPrincipal, Tenant, TenantRoles, TenantUser, TimeZoneName,
};
use candor_domain::language::Language;
use candor_domain::store::{IdentityStore, StoreError, StoreResult};
use candor_domain::{ApiClientId, OperatorId, TenantId, UserId};
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::dialect::{at, key, Store};
use crate::{db_error, rows};

const TENANT_COLS: &str = "id, name, home_region, default_language, time_zone, is_demo, created_at";
const USER_COLS: &str =
    "tenant_id, id, email, display_name, password_hash, roles, language, disabled, created_at";
const OPERATOR_COLS: &str =
    "id, email, display_name, password_hash, roles, language, disabled, created_at";
const CLIENT_COLS: &str =
    "tenant_id, id, display_name, secret_hash, permissions, created_at, revoked_at";

#[async_trait]
impl IdentityStore for Store {
    async fn create_tenant(
        &self,
        id: TenantId,
        tenant: NewTenant,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<Tenant> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO tenants (id, name, home_region, default_language, time_zone, is_demo, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key(id.0))
        .bind(tenant.name.as_str())
        .bind(tenant.home_region.as_str())
        .bind(tenant.default_language.tag())
        .bind(tenant.time_zone.as_str())
        .bind(tenant.is_demo)
        .bind(at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Tenant {
            id,
            name: tenant.name.to_string(),
            home_region: tenant.home_region,
            default_language: tenant.default_language,
            time_zone: tenant.time_zone,
            is_demo: tenant.is_demo,
            created_at: now,
        })
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"))
            .bind(key(id.0))
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .map(|r| rows::tenant(&r))
            .transpose()
    }

    async fn get_tenants(&self, ids: &[TenantId]) -> StoreResult<Vec<Tenant>> {
        self.rows_where_in(&format!("SELECT {TENANT_COLS} FROM tenants"), "id", ids, "")
            .await?
            .iter()
            .map(rows::tenant)
            .collect()
    }

    async fn list_tenants(
        &self,
        after: Option<(String, TenantId)>,
        limit: u32,
    ) -> StoreResult<Vec<Tenant>> {
        let (name, id) = after.map(|(n, id)| (n, key(id.0))).unwrap_or_default();
        sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE (name, id) > ($1, $2) ORDER BY name, id LIMIT $3"
        ))
        .bind(name)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::tenant)
        .collect()
    }

    async fn count_tenants(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn update_tenant_settings(
        &self,
        id: TenantId,
        default_language: Language,
        time_zone: TimeZoneName,
        audit: NewAuditRecord,
    ) -> StoreResult<Tenant> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "UPDATE tenants SET default_language = $1, time_zone = $2 WHERE id = $3 RETURNING {TENANT_COLS}"
        ))
        .bind(default_language.tag())
        .bind(time_zone.as_str())
        .bind(key(id.0))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
        let tenant = rows::tenant(&row)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(tenant)
    }

    async fn create_user(
        &self,
        id: UserId,
        user: NewTenantUser,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<TenantUser> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO tenant_users (tenant_id, id, email, display_name, password_hash, roles, language, disabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8)",
        )
        .bind(key(user.tenant_id.0))
        .bind(key(id.0))
        .bind(user.email.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.roles.to_csv())
        .bind(user.language.map(|l| l.tag()))
        .bind(at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(TenantUser {
            id,
            tenant_id: user.tenant_id,
            email: user.email,
            display_name: user.display_name.to_string(),
            password_hash: user.password_hash,
            roles: user.roles,
            language: user.language,
            disabled: false,
            created_at: now,
        })
    }

    async fn get_user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<TenantUser>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM tenant_users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(key(tenant.0))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::user(&r))
        .transpose()
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> StoreResult<Option<TenantUser>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM tenant_users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::user(&r))
        .transpose()
    }

    async fn list_users(&self, tenant: TenantId) -> StoreResult<Vec<TenantUser>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM tenant_users WHERE tenant_id = $1 ORDER BY email"
        ))
        .bind(key(tenant.0))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn set_user_roles(
        &self,
        tenant: TenantId,
        id: UserId,
        roles: TenantRoles,
        audit: NewAuditRecord,
    ) -> StoreResult<TenantUser> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "UPDATE tenant_users SET roles = $1 WHERE tenant_id = $2 AND id = $3 RETURNING {USER_COLS}"
        ))
        .bind(roles.to_csv())
        .bind(key(tenant.0))
        .bind(key(id.0))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
        let user = rows::user(&row)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(user)
    }

    async fn set_user_language(
        &self,
        tenant: TenantId,
        id: UserId,
        language: Option<Language>,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE tenant_users SET language = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(language.map(|l| l.tag()))
                .bind(key(tenant.0))
                .bind(key(id.0))
                .execute(self.writer())
                .await
                .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_operator(
        &self,
        id: OperatorId,
        operator: NewOperator,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<Operator> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO operators (id, email, display_name, password_hash, roles, language, disabled, created_at)
             VALUES ($1, $2, $3, $4, $5, NULL, FALSE, $6)",
        )
        .bind(key(id.0))
        .bind(operator.email.as_str())
        .bind(operator.display_name.as_str())
        .bind(&operator.password_hash)
        .bind(operator.roles.to_csv())
        .bind(at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Operator {
            id,
            email: operator.email,
            display_name: operator.display_name.to_string(),
            password_hash: operator.password_hash,
            roles: operator.roles,
            language: None,
            disabled: false,
            created_at: now,
        })
    }

    async fn get_operator(&self, id: OperatorId) -> StoreResult<Option<Operator>> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::operator(&r))
        .transpose()
    }

    async fn find_operator_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Operator>> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::operator(&r))
        .transpose()
    }

    async fn list_operators(&self) -> StoreResult<Vec<Operator>> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators ORDER BY email"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::operator)
        .collect()
    }

    async fn set_operator_language(
        &self,
        id: OperatorId,
        language: Option<Language>,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE operators SET language = $1 WHERE id = $2")
            .bind(language.map(|l| l.tag()))
            .bind(key(id.0))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_api_client(
        &self,
        id: ApiClientId,
        client: NewApiClient,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<ApiClient> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO api_clients (tenant_id, id, display_name, secret_hash, permissions, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(key(client.tenant_id.0))
        .bind(key(id.0))
        .bind(client.display_name.as_str())
        .bind(&client.secret_hash)
        .bind(client.permissions.to_csv())
        .bind(at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(ApiClient {
            id,
            tenant_id: client.tenant_id,
            display_name: client.display_name.to_string(),
            secret_hash: client.secret_hash,
            permissions: client.permissions,
            created_at: now,
            revoked_at: None,
        })
    }

    async fn get_api_client(&self, id: ApiClientId) -> StoreResult<Option<ApiClient>> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLS} FROM api_clients WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::api_client(&r))
        .transpose()
    }

    async fn list_api_clients(&self, tenant: TenantId) -> StoreResult<Vec<ApiClient>> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLS} FROM api_clients WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(key(tenant.0))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::api_client)
        .collect()
    }

    async fn revoke_api_client(
        &self,
        tenant: TenantId,
        id: ApiClientId,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<ApiClient> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "UPDATE api_clients SET revoked_at = COALESCE(revoked_at, $1)
             WHERE tenant_id = $2 AND id = $3 RETURNING {CLIENT_COLS}"
        ))
        .bind(at(now))
        .bind(key(tenant.0))
        .bind(key(id.0))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
        let client = rows::api_client(&row)?;
        append_in_tx(&mut tx, vec![audit]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(client)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let (tenant, user, operator) = match session.principal {
            SessionPrincipal::TenantUser { tenant_id, user_id } => {
                (Some(key(tenant_id.0)), Some(key(user_id.0)), None)
            }
            SessionPrincipal::Operator { operator_id } => (None, None, Some(key(operator_id.0))),
        };
        sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, operator_id, csrf_token, created_at, last_seen_at, ip_address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.token_hash)
        .bind(tenant)
        .bind(user)
        .bind(operator)
        .bind(&session.csrf_token)
        .bind(at(session.created_at))
        .bind(at(session.last_seen_at))
        .bind(&session.ip_address)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        sqlx::query(
            "SELECT token_hash, tenant_id, user_id, operator_id, csrf_token, created_at, last_seen_at, ip_address
             FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::session(&r))
        .transpose()
    }

    async fn touch_session(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(at(now))
            .bind(token_hash)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(at(idle_before))
            .bind(at(created_before))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
