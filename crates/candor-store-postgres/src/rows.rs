//! Reading rows back into domain types. Anything that does not parse is reported as
//! corrupt data rather than trusted.

use candor_domain::audit::{AuditRecord, Checkpoint};
use candor_domain::identity::{
    ApiClient, ApiPermissions, EmailAddress, Operator, OperatorRoles, RegionCode, Session,
    SessionPrincipal, Tenant, TenantRoles, TenantUser, TimeZoneName,
};
use candor_domain::jobs::{JobStatus, StoredJob};
use candor_domain::store::{KeyPurpose, SigningKeyRecord, StoreError, StoreResult};
use candor_domain::{ApiClientId, AuditRecordId, JobId, OperatorId, TenantId, UserId};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use crate::db_error;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(db_error)
}

/// An id column (UUID here), made into its type by `make` (e.g. `TenantId`).
pub(crate) fn id<T>(row: &PgRow, col: &str, make: fn(Uuid) -> T) -> StoreResult<T> {
    get::<Uuid>(row, col).map(make)
}

/// A TIMESTAMPTZ column that may be NULL.
pub(crate) fn opt_time(row: &PgRow, col: &str) -> StoreResult<Option<time::OffsetDateTime>> {
    get(row, col)
}

/// A TIMESTAMPTZ column.
pub(crate) fn time(row: &PgRow, col: &str) -> StoreResult<time::OffsetDateTime> {
    get(row, col)
}

pub(crate) fn parsed<T: std::str::FromStr>(row: &PgRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = get(row, col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

fn opt_parsed<T: std::str::FromStr>(row: &PgRow, col: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = get(row, col)?;
    s.map(|s| s.parse().map_err(|e| corrupt(col, e)))
        .transpose()
}

fn hash32(row: &PgRow, col: &str) -> StoreResult<[u8; 32]> {
    let v: Vec<u8> = get(row, col)?;
    v.try_into().map_err(|_| corrupt(col, "not 32 bytes"))
}

fn uuid(row: &PgRow, col: &str) -> StoreResult<Uuid> {
    get(row, col)
}

fn opt_uuid(row: &PgRow, col: &str) -> StoreResult<Option<Uuid>> {
    get(row, col)
}

pub(crate) fn tenant(row: &PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: TenantId(uuid(row, "id")?),
        name: get(row, "name")?,
        home_region: RegionCode::from_trusted(get::<String>(row, "home_region")?),
        default_language: parsed(row, "default_language")?,
        time_zone: TimeZoneName::from_trusted(get::<String>(row, "time_zone")?),
        is_demo: get(row, "is_demo")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn user(row: &PgRow) -> StoreResult<TenantUser> {
    Ok(TenantUser {
        id: UserId(uuid(row, "id")?),
        tenant_id: TenantId(uuid(row, "tenant_id")?),
        email: EmailAddress::from_trusted(get::<String>(row, "email")?),
        display_name: get(row, "display_name")?,
        password_hash: get(row, "password_hash")?,
        roles: TenantRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| corrupt("roles", e))?,
        language: opt_parsed(row, "language")?,
        disabled: get(row, "disabled")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn operator(row: &PgRow) -> StoreResult<Operator> {
    Ok(Operator {
        id: OperatorId(uuid(row, "id")?),
        email: EmailAddress::from_trusted(get::<String>(row, "email")?),
        display_name: get(row, "display_name")?,
        password_hash: get(row, "password_hash")?,
        roles: OperatorRoles::parse_csv(&get::<String>(row, "roles")?)
            .map_err(|e| corrupt("roles", e))?,
        language: opt_parsed(row, "language")?,
        disabled: get(row, "disabled")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn api_client(row: &PgRow) -> StoreResult<ApiClient> {
    Ok(ApiClient {
        id: ApiClientId(uuid(row, "id")?),
        tenant_id: TenantId(uuid(row, "tenant_id")?),
        display_name: get(row, "display_name")?,
        secret_hash: get(row, "secret_hash")?,
        permissions: ApiPermissions::parse_csv(&get::<String>(row, "permissions")?)
            .map_err(|e| corrupt("permissions", e))?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn session(row: &PgRow) -> StoreResult<Session> {
    let principal = match (
        opt_uuid(row, "tenant_id")?,
        opt_uuid(row, "user_id")?,
        opt_uuid(row, "operator_id")?,
    ) {
        (Some(t), Some(u), None) => SessionPrincipal::TenantUser {
            tenant_id: TenantId(t),
            user_id: UserId(u),
        },
        (None, None, Some(o)) => SessionPrincipal::Operator {
            operator_id: OperatorId(o),
        },
        _ => return Err(corrupt("session", "neither a tenant user nor an operator")),
    };
    Ok(Session {
        token_hash: get(row, "token_hash")?,
        principal,
        csrf_token: get(row, "csrf_token")?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        ip_address: get(row, "ip_address")?,
    })
}

pub(crate) fn audit_record(row: &PgRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: AuditRecordId(uuid(row, "id")?),
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        tenant_id: opt_uuid(row, "tenant_id")?.map(TenantId),
        occurred_at: get(row, "occurred_at")?,
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

pub(crate) fn checkpoint(row: &PgRow) -> StoreResult<Checkpoint> {
    Ok(Checkpoint {
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        head_hash: hash32(row, "head_hash")?,
        created_at: get(row, "created_at")?,
        key_id: get(row, "key_id")?,
        signature: get(row, "signature")?,
    })
}

pub(crate) fn signing_key(row: &PgRow) -> StoreResult<SigningKeyRecord> {
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
        created_at: get(row, "created_at")?,
        retired_at: get(row, "retired_at")?,
    })
}

pub(crate) fn job(row: &PgRow) -> StoreResult<StoredJob> {
    let payload: String = get(row, "payload")?;
    Ok(StoredJob {
        id: JobId(uuid(row, "id")?),
        kind: get(row, "kind")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("payload", e))?,
        run_at: get(row, "run_at")?,
        dedupe_key: get(row, "dedupe_key")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        lease_until: get(row, "lease_until")?,
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
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(row: &PgRow, col: &str) -> StoreResult<T> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &PgRow,
    col: &str,
) -> StoreResult<Option<T>> {
    get::<Option<String>>(row, col)?
        .map(|s| serde_json::from_str(&s).map_err(|e| corrupt(col, e)))
        .transpose()
}
