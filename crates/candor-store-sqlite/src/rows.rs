//! Reading rows back into domain types. Anything that does not parse is reported as
//! corrupt data rather than trusted.

use candor_domain::audit::{AuditRecord, Checkpoint};
use candor_domain::identity::{
    ApiClient, ApiPermissions, EmailAddress, Operator, OperatorRoles, RegionCode, Session,
    SessionPrincipal, Tenant, TenantRoles, TenantUser, TimeZoneName,
};
use candor_domain::jobs::{JobStatus, StoredJob};
use candor_domain::store::{KeyPurpose, SigningKeyRecord, StoreError, StoreResult};
use candor_domain::time_util::from_unix_micros;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::db_error;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(db_error)
}

pub(crate) fn time(row: &SqliteRow, col: &str) -> StoreResult<OffsetDateTime> {
    Ok(from_unix_micros(get::<i64>(row, col)?))
}

pub(crate) fn opt_time(row: &SqliteRow, col: &str) -> StoreResult<Option<OffsetDateTime>> {
    Ok(get::<Option<i64>>(row, col)?.map(from_unix_micros))
}

/// An id column (TEXT here), made into its type by `make` (e.g. `TenantId`).
pub(crate) fn id<T>(row: &SqliteRow, col: &str, make: fn(uuid::Uuid) -> T) -> StoreResult<T> {
    let s: String = get(row, col)?;
    uuid::Uuid::parse_str(&s)
        .map(make)
        .map_err(|e| corrupt(col, e))
}

pub(crate) fn parsed<T: std::str::FromStr>(row: &SqliteRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = get(row, col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_parsed<T: std::str::FromStr>(row: &SqliteRow, col: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = get(row, col)?;
    s.map(|s| s.parse().map_err(|e| corrupt(col, e)))
        .transpose()
}

fn hash32(row: &SqliteRow, col: &str) -> StoreResult<[u8; 32]> {
    let v: Vec<u8> = get(row, col)?;
    v.try_into().map_err(|_| corrupt(col, "not 32 bytes"))
}

pub(crate) fn tenant(row: &SqliteRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: parsed(row, "id")?,
        name: get(row, "name")?,
        home_region: RegionCode::from_trusted(get::<String>(row, "home_region")?),
        default_language: parsed(row, "default_language")?,
        time_zone: TimeZoneName::from_trusted(get::<String>(row, "time_zone")?),
        is_demo: get(row, "is_demo")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn user(row: &SqliteRow) -> StoreResult<TenantUser> {
    Ok(TenantUser {
        id: parsed(row, "id")?,
        tenant_id: parsed(row, "tenant_id")?,
        email: EmailAddress::from_trusted(get::<String>(row, "email")?),
        display_name: get(row, "display_name")?,
        password_hash: get(row, "password_hash")?,
        roles: TenantRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| corrupt("roles", e))?,
        language: opt_parsed(row, "language")?,
        disabled: get(row, "disabled")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn operator(row: &SqliteRow) -> StoreResult<Operator> {
    Ok(Operator {
        id: parsed(row, "id")?,
        email: EmailAddress::from_trusted(get::<String>(row, "email")?),
        display_name: get(row, "display_name")?,
        password_hash: get(row, "password_hash")?,
        roles: OperatorRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| corrupt("roles", e))?,
        language: opt_parsed(row, "language")?,
        disabled: get(row, "disabled")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn api_client(row: &SqliteRow) -> StoreResult<ApiClient> {
    Ok(ApiClient {
        id: parsed(row, "id")?,
        tenant_id: parsed(row, "tenant_id")?,
        display_name: get(row, "display_name")?,
        secret_hash: get(row, "secret_hash")?,
        permissions: ApiPermissions::parse_csv(&get::<String>(row, "permissions")?)
            .map_err(|e| corrupt("permissions", e))?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn session(row: &SqliteRow) -> StoreResult<Session> {
    let principal = match (
        opt_parsed(row, "tenant_id")?,
        opt_parsed(row, "user_id")?,
        opt_parsed(row, "operator_id")?,
    ) {
        (Some(tenant_id), Some(user_id), None) => {
            SessionPrincipal::TenantUser { tenant_id, user_id }
        }
        (None, None, Some(operator_id)) => SessionPrincipal::Operator { operator_id },
        _ => return Err(corrupt("session", "neither a tenant user nor an operator")),
    };
    Ok(Session {
        token_hash: get(row, "token_hash")?,
        principal,
        csrf_token: get(row, "csrf_token")?,
        created_at: time(row, "created_at")?,
        last_seen_at: time(row, "last_seen_at")?,
        ip_address: get(row, "ip_address")?,
    })
}

pub(crate) fn audit_record(row: &SqliteRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: parsed(row, "id")?,
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        tenant_id: opt_parsed(row, "tenant_id")?,
        occurred_at: time(row, "occurred_at")?,
        actor: get(row, "actor")?,
        actor_kind: parsed(row, "actor_kind")?,
        ip_address: get(row, "ip_address")?,
        activity: get(row, "activity")?,
        item: get(row, "item")?,
        details: get(row, "details")?,
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
    })
}

pub(crate) fn checkpoint(row: &SqliteRow) -> StoreResult<Checkpoint> {
    Ok(Checkpoint {
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        head_hash: hash32(row, "head_hash")?,
        created_at: time(row, "created_at")?,
        key_id: get(row, "key_id")?,
        signature: get(row, "signature")?,
    })
}

pub(crate) fn signing_key(row: &SqliteRow) -> StoreResult<SigningKeyRecord> {
    let purpose = match get::<String>(row, "purpose")?.as_str() {
        "token" => KeyPurpose::Token,
        "audit" => KeyPurpose::Audit,
        "vapid" => KeyPurpose::Vapid,
        other => return Err(corrupt("purpose", other)),
    };
    Ok(SigningKeyRecord {
        key_id: get(row, "key_id")?,
        purpose,
        secret: get(row, "secret")?,
        public: get(row, "public")?,
        created_at: time(row, "created_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

pub(crate) fn job(row: &SqliteRow) -> StoreResult<StoredJob> {
    let payload: String = get(row, "payload")?;
    Ok(StoredJob {
        id: parsed(row, "id")?,
        kind: get(row, "kind")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("payload", e))?,
        run_at: time(row, "run_at")?,
        dedupe_key: get(row, "dedupe_key")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        lease_until: opt_time(row, "lease_until")?,
        last_error: get(row, "last_error")?,
        status: JobStatus::parse(&get::<String>(row, "status")?)
            .ok_or_else(|| corrupt("status", "unknown job status"))?,
    })
}

/// A value stored as JSON text.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Reads a JSON text column back; anything unreadable is corrupt data.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    col: &str,
) -> StoreResult<T> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    col: &str,
) -> StoreResult<Option<T>> {
    get::<Option<String>>(row, col)?
        .map(|s| serde_json::from_str(&s).map_err(|e| corrupt(col, e)))
        .transpose()
}
