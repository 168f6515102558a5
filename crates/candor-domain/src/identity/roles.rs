use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Roles a user holds within one customer tenant (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TenantRole {
    GlobalAdministrator,
    CustomerLockboxAccessApprover,
    ServiceSupportAdministrator,
    MessageCenterReader,
    AuditReader,
}

/// Roles on the provider side, in the operator realm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OperatorRole {
    ProviderAdmin,
    IncidentManager,
    SupportEngineer,
    SupportManager,
    /// A machine identity of the provider's data plane (a mailbox server, say) that asks
    /// Candor whether an engineer's operation is covered by a Lockbox grant.
    DataPlaneService,
    /// A monitoring system that sends alerts, which open draft issues; it can do
    /// nothing else.
    AlertSource,
}

/// Application permissions an API client may carry, spelled as in Microsoft Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ApiPermission {
    #[serde(rename = "ServiceHealth.Read.All")]
    ServiceHealthReadAll,
    #[serde(rename = "ServiceMessage.Read.All")]
    ServiceMessageReadAll,
    #[serde(rename = "AuditLog.Read.All")]
    AuditLogReadAll,
    #[serde(rename = "Lockbox.ReadWrite.All")]
    LockboxReadWriteAll,
    /// Manage the tenant's notification contacts and webhook endpoints.
    #[serde(rename = "ServiceHealth.Notifications.ReadWrite")]
    ServiceHealthNotificationsReadWrite,
    /// Name the witnesses whose cosignatures the tenant's audit log accepts.
    #[serde(rename = "AuditLog.Witnesses.ReadWrite")]
    AuditLogWitnessesReadWrite,
}

macro_rules! named_enum {
    ($ty:ty, $what:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                <$ty>::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        value: wanted.chars().take(64).collect(),
                        allowed: <$ty>::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

named_enum!(TenantRole, "tenant role", [
    GlobalAdministrator => "GlobalAdministrator",
    CustomerLockboxAccessApprover => "CustomerLockboxAccessApprover",
    ServiceSupportAdministrator => "ServiceSupportAdministrator",
    MessageCenterReader => "MessageCenterReader",
    AuditReader => "AuditReader",
]);

named_enum!(OperatorRole, "operator role", [
    ProviderAdmin => "ProviderAdmin",
    IncidentManager => "IncidentManager",
    SupportEngineer => "SupportEngineer",
    SupportManager => "SupportManager",
    DataPlaneService => "DataPlaneService",
    AlertSource => "AlertSource",
]);

named_enum!(ApiPermission, "permission", [
    ServiceHealthReadAll => "ServiceHealth.Read.All",
    ServiceMessageReadAll => "ServiceMessage.Read.All",
    AuditLogReadAll => "AuditLog.Read.All",
    LockboxReadWriteAll => "Lockbox.ReadWrite.All",
    ServiceHealthNotificationsReadWrite => "ServiceHealth.Notifications.ReadWrite",
    AuditLogWitnessesReadWrite => "AuditLog.Witnesses.ReadWrite",
]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {what}; expected one of: {allowed}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub allowed: String,
}

/// A set of names (roles or permissions), stored as a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NameSet<T: Ord>(pub BTreeSet<T>);

pub type TenantRoles = NameSet<TenantRole>;
pub type OperatorRoles = NameSet<OperatorRole>;
pub type ApiPermissions = NameSet<ApiPermission>;

impl<T: Ord> Default for NameSet<T> {
    fn default() -> Self {
        Self(BTreeSet::new())
    }
}

impl<T: Ord + Copy> NameSet<T> {
    pub fn empty() -> Self {
        Self(BTreeSet::new())
    }

    pub fn contains(&self, item: T) -> bool {
        self.0.contains(&item)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.0.iter().copied()
    }
}

impl<T: Ord + Copy> FromIterator<T> for NameSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T: Ord + Copy + fmt::Display> NameSet<T> {
    /// The stored form: names joined by commas, in a stable order.
    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|v| v.to_string()).collect()
    }
}

impl<T: Ord + Copy + FromStr<Err = UnknownName>> NameSet<T> {
    /// Parses a comma-separated list; blanks are ignored, an unknown name is an error.
    pub fn parse_csv(s: &str) -> Result<Self, UnknownName> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<BTreeSet<T>, _>>()
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sets_round_trip_through_their_stored_form() {
        let roles: TenantRoles = [TenantRole::AuditReader, TenantRole::GlobalAdministrator]
            .into_iter()
            .collect();
        assert_eq!(roles.to_csv(), "GlobalAdministrator,AuditReader");
        assert_eq!(TenantRoles::parse_csv(&roles.to_csv()), Ok(roles));
    }

    #[test]
    fn unknown_permission_lists_the_allowed_ones() {
        let err = ApiPermissions::parse_csv("ServiceHealth.Read.All, Mail.Send").unwrap_err();
        assert!(err.to_string().contains("Mail.Send"));
        assert!(err.to_string().contains("AuditLog.Read.All"));
    }

    #[test]
    fn names_are_case_insensitive_on_input() {
        assert_eq!("auditreader".parse(), Ok(TenantRole::AuditReader));
        assert_eq!(
            "servicehealth.read.all".parse(),
            Ok(ApiPermission::ServiceHealthReadAll)
        );
    }
}
