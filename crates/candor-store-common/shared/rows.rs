// Reading rows back into domain types, on either database. Anything that does not parse
// is reported as corrupt data rather than trusted. How a column of each kind (an id, a
// time) is read is the dialect's (`crate::dialect::{id, time, …}`).
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/rows.rs` and
// `candor-store-postgres/src/rows.rs`.

use candor_domain::audit::{AuditRecord, Checkpoint};
use candor_domain::identity::{
    ApiClient, ApiPermissions, EmailAddress, Operator, OperatorRoles, RegionCode, Session,
    SessionPrincipal, Tenant, TenantRoles, TenantUser, TimeZoneName,
};
use candor_domain::jobs::{JobStatus, StoredJob};
use candor_domain::store::{KeyPurpose, SigningKeyRecord, StoreError, StoreResult};
use candor_domain::{ApiClientId, AuditRecordId, JobId, OperatorId, TenantId, UserId};

use crate::dialect::each;
use crate::dialect::DbRow;
pub(crate) use crate::dialect::{get, id, opt_id, opt_time, time};

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn parsed<T: std::str::FromStr>(row: &DbRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = get(row, col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_parsed<T: std::str::FromStr>(row: &DbRow, col: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = get(row, col)?;
    s.map(|s| s.parse().map_err(|e| corrupt(col, e)))
        .transpose()
}

fn hash32(row: &DbRow, col: &str) -> StoreResult<[u8; 32]> {
    let v: Vec<u8> = get(row, col)?;
    v.try_into().map_err(|_| corrupt(col, "not 32 bytes"))
}

pub(crate) fn tenant(row: &DbRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: id(row, "id", TenantId)?,
        name: get(row, "name")?,
        home_region: RegionCode::from_trusted(get::<String>(row, "home_region")?),
        default_language: parsed(row, "default_language")?,
        time_zone: TimeZoneName::from_trusted(get::<String>(row, "time_zone")?),
        is_demo: get(row, "is_demo")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn user(row: &DbRow) -> StoreResult<TenantUser> {
    Ok(TenantUser {
        id: id(row, "id", UserId)?,
        tenant_id: id(row, "tenant_id", TenantId)?,
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

pub(crate) fn operator(row: &DbRow) -> StoreResult<Operator> {
    Ok(Operator {
        id: id(row, "id", OperatorId)?,
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

pub(crate) fn api_client(row: &DbRow) -> StoreResult<ApiClient> {
    Ok(ApiClient {
        id: id(row, "id", ApiClientId)?,
        tenant_id: id(row, "tenant_id", TenantId)?,
        display_name: get(row, "display_name")?,
        secret_hash: get(row, "secret_hash")?,
        permissions: ApiPermissions::parse_csv(&get::<String>(row, "permissions")?)
            .map_err(|e| corrupt("permissions", e))?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn session(row: &DbRow) -> StoreResult<Session> {
    let principal = match (
        opt_id(row, "tenant_id", TenantId)?,
        opt_id(row, "user_id", UserId)?,
        opt_id(row, "operator_id", OperatorId)?,
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

pub(crate) fn audit_record(row: &DbRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: id(row, "id", AuditRecordId)?,
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        tenant_id: opt_id(row, "tenant_id", TenantId)?,
        occurred_at: time(row, "occurred_at")?,
        actor: get(row, "actor")?,
        actor_kind: parsed(row, "actor_kind")?,
        ip_address: get(row, "ip_address")?,
        activity: get(row, "activity")?,
        item: get(row, "item")?,
        details: get(row, "details")?,
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
        tree_hashes: get::<Option<Vec<u8>>>(row, "tree_hashes")?
            .unwrap_or_default()
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect(),
        pruned: get(row, "pruned")?,
    })
}

pub(crate) fn audit_witness(row: &DbRow) -> StoreResult<candor_domain::audit::AuditWitness> {
    let key_id: i64 = get(row, "key_id")?;
    let cosigned = match (
        get::<Option<i64>>(row, "cosigned_size")?,
        get::<Option<String>>(row, "cosignature")?,
        opt_time(row, "cosigned_at")?,
    ) {
        (Some(size), Some(line), Some(received_at)) => Some(candor_domain::audit::Cosignature {
            size: u64::try_from(size).map_err(|e| corrupt("cosigned_size", e))?,
            line,
            received_at,
        }),
        _ => None,
    };
    Ok(candor_domain::audit::AuditWitness {
        id: id(row, "id", |u| u)?,
        chain: get(row, "chain")?,
        name: get(row, "name")?,
        key_id: u32::try_from(key_id).map_err(|e| corrupt("key_id", e))?,
        verifier_key: get(row, "verifier_key")?,
        added_at: time(row, "added_at")?,
        cosigned,
    })
}

pub(crate) fn checkpoint(row: &DbRow) -> StoreResult<Checkpoint> {
    Ok(Checkpoint {
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        head_hash: hash32(row, "head_hash")?,
        created_at: time(row, "created_at")?,
        key_id: get(row, "key_id")?,
        signature: get(row, "signature")?,
        note: get(row, "note")?,
    })
}

pub(crate) fn signing_key(row: &DbRow) -> StoreResult<SigningKeyRecord> {
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

pub(crate) fn job(row: &DbRow) -> StoreResult<StoredJob> {
    let payload: String = get(row, "payload")?;
    Ok(StoredJob {
        id: id(row, "id", JobId)?,
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
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(row: &DbRow, col: &str) -> StoreResult<T> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &DbRow,
    col: &str,
) -> StoreResult<Option<T>> {
    get::<Option<String>>(row, col)?
        .map(|s| serde_json::from_str(&s).map_err(|e| corrupt(col, e)))
        .transpose()
}

/// The tenants placed on the components listed in parameter `$components`, and those of
/// the tenants listed in `$tenants` that exist, as a query of one column, `tenant_id`:
/// who an issue or a message reaches.
pub(crate) fn reached_tenants(components: u8, tenants: u8) -> String {
    format!(
        "SELECT tenant_id FROM placements WHERE component IN (SELECT value FROM {})
         UNION SELECT id FROM tenants WHERE id IN (SELECT value FROM {})",
        each(components),
        each(tenants)
    )
}

/// The tenants the issue in parameter `$issue` affects, as a query of one column,
/// `tenant_id`: those named outright, and those placed on a component it covers.
/// `only(column)` is a condition (` AND …`, or nothing) each select applies to its own
/// tenant column, so a narrower question (one tenant, one range of ids) is answered
/// through the indexes instead of around the whole reach.
pub(crate) fn affected_by_issue(issue: u8, only: &dyn Fn(&str) -> String) -> String {
    format!(
        "SELECT tenant_id FROM issue_tenants WHERE issue_id = ${issue}{}
         UNION SELECT p.tenant_id FROM issue_components c JOIN placements p ON p.component = c.component
         WHERE c.issue_id = ${issue}{}",
        only("tenant_id"),
        only("p.tenant_id")
    )
}

/// No condition, for `affected_by_issue`.
pub(crate) fn every(_: &str) -> String {
    String::new()
}
