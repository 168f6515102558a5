//! Identifiers. Each kind of thing has its own type so a tenant id can never be passed
//! where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| IdParseError { what: $what, value: s.chars().take(64).collect() })
            }
        }
    };
}

uuid_id!(
    /// A customer tenant.
    TenantId,
    "tenant id"
);
uuid_id!(
    /// A user of a customer tenant.
    UserId,
    "user id"
);
uuid_id!(
    /// A person on the provider side.
    OperatorId,
    "operator id"
);
uuid_id!(
    /// A draft issue opened by an alert from monitoring.
    DraftId,
    "draft id"
);
uuid_id!(
    /// An API client (app registration) of a tenant; its id is the OAuth `client_id`.
    ApiClientId,
    "client id"
);
uuid_id!(
    /// One audit record.
    AuditRecordId,
    "audit record id"
);
uuid_id!(
    /// One durable job.
    JobId,
    "job id"
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} (expected a UUID such as 0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6a)")]
pub struct IdParseError {
    pub what: &'static str,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = TenantId::generate();
        assert_eq!(id.to_string().parse::<TenantId>(), Ok(id));
    }

    #[test]
    fn bad_id_names_what_was_expected() {
        let err = "nope".parse::<UserId>().unwrap_err();
        assert!(err.to_string().contains("user id"), "{err}");
    }
}
