//! Tenants, tenant users, operators, API clients, roles and the one authorization function.

mod authz;
mod roles;
mod validate;

pub use authz::*;
pub use roles::*;
pub use validate::*;

use serde::Serialize;
use time::OffsetDateTime;

use crate::language::Language;
use crate::{ApiClientId, OperatorId, TenantId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub home_region: RegionCode,
    pub default_language: Language,
    pub time_zone: TimeZoneName,
    pub is_demo: bool,
    pub created_at: OffsetDateTime,
}

/// A tenant as asked for, already validated.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: TenantName,
    pub home_region: RegionCode,
    pub default_language: Language,
    pub time_zone: TimeZoneName,
    pub is_demo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantUser {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: EmailAddress,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub roles: TenantRoles,
    pub language: Option<Language>,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewTenantUser {
    pub tenant_id: TenantId,
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub roles: TenantRoles,
    pub language: Option<Language>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub id: OperatorId,
    pub email: EmailAddress,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub roles: OperatorRoles,
    pub language: Option<Language>,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewOperator {
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub roles: OperatorRoles,
}

/// An app registration of a tenant: authenticates with the client credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiClient {
    pub id: ApiClientId,
    pub tenant_id: TenantId,
    pub display_name: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub permissions: ApiPermissions,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiClient {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct NewApiClient {
    pub tenant_id: TenantId,
    pub display_name: DisplayName,
    pub secret_hash: String,
    pub permissions: ApiPermissions,
}

/// A machine credential of the operator realm (a monitoring system, a deployment tool),
/// acting with the operator roles it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorClient {
    pub id: ApiClientId,
    pub display_name: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub roles: OperatorRoles,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl OperatorClient {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Who a portal session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPrincipal {
    TenantUser {
        tenant_id: TenantId,
        user_id: UserId,
    },
    Operator {
        operator_id: OperatorId,
    },
}

/// A portal session. Only the hash of the cookie's token is stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub principal: SessionPrincipal,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ip_address: Option<String>,
}

/// How long a session lives with no request, and at most.
pub const SESSION_IDLE_TIMEOUT: time::Duration = time::Duration::minutes(30);
pub const SESSION_MAX_AGE: time::Duration = time::Duration::hours(12);

impl Session {
    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now - self.last_seen_at < SESSION_IDLE_TIMEOUT && now - self.created_at < SESSION_MAX_AGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn session(created: OffsetDateTime, seen: OffsetDateTime) -> Session {
        Session {
            token_hash: "h".into(),
            principal: SessionPrincipal::Operator {
                operator_id: OperatorId::generate(),
            },
            csrf_token: "c".into(),
            created_at: created,
            last_seen_at: seen,
            ip_address: None,
        }
    }

    #[test]
    fn idle_session_expires_after_thirty_minutes() {
        let t0 = datetime!(2026-01-01 8:00 UTC);
        let s = session(t0, t0);
        assert!(s.is_live(t0 + time::Duration::minutes(29)));
        assert!(!s.is_live(t0 + time::Duration::minutes(30)));
    }

    #[test]
    fn busy_session_still_ends_after_twelve_hours() {
        let t0 = datetime!(2026-01-01 8:00 UTC);
        let now = t0 + time::Duration::hours(12);
        let s = session(t0, now - time::Duration::minutes(1));
        assert!(!s.is_live(now));
    }
}
