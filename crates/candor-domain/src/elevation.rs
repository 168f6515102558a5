//! Internal elevation: operators hold a privileged role only for a limited time, after
//! another operator approved it. As with Lockbox, the end is decided by comparing with the
//! time given at every check, never by waiting for a job.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::identity::{InvalidValue, OperatorRole, OperatorRoles};
use crate::lockbox::{Decision, Refused};
use crate::OperatorId;

/// The longest a role may be held per elevation, and how long a request may wait.
pub const MAX_ELEVATION: Duration = Duration::hours(8);
pub const MIN_ELEVATION: Duration = Duration::minutes(15);
pub const APPROVAL_WINDOW: Duration = Duration::hours(12);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ElevationId(pub Uuid);

impl ElevationId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl std::fmt::Display for ElevationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ElevationId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self).map_err(|_| {
            InvalidValue::new(
                "elevation id",
                format!(
                    "`{}` is not an elevation id",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })
    }
}

/// Roles that are held only through an approved, time-boxed elevation (or, for the very
/// first one, a loudly audited break-glass account).
pub const PRIVILEGED_ROLES: [OperatorRole; 1] = [OperatorRole::ProviderAdmin];

pub fn is_privileged(role: OperatorRole) -> bool {
    PRIVILEGED_ROLES.contains(&role)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ElevationStatus {
    Requested,
    Active,
    Ended,
    Denied,
    Expired,
    Revoked,
}

impl std::str::FromStr for ElevationStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ElevationStatus::Requested,
            ElevationStatus::Active,
            ElevationStatus::Ended,
            ElevationStatus::Denied,
            ElevationStatus::Expired,
            ElevationStatus::Revoked,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            InvalidValue::new(
                "status",
                format!(
                    "`{}` is not an elevation status",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })
    }
}

impl ElevationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ElevationStatus::Requested => "requested",
            ElevationStatus::Active => "active",
            ElevationStatus::Ended => "ended",
            ElevationStatus::Denied => "denied",
            ElevationStatus::Expired => "expired",
            ElevationStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elevation {
    pub id: ElevationId,
    pub operator: OperatorId,
    pub role: OperatorRole,
    pub reason: String,
    pub duration: Duration,
    pub requested_at: OffsetDateTime,
    pub status: ElevationStatus,
    pub decision: Option<Decision>,
    pub active_from: Option<OffsetDateTime>,
    pub active_until: Option<OffsetDateTime>,
}

impl Elevation {
    pub fn new(
        operator: OperatorId,
        role: OperatorRole,
        reason: &str,
        minutes: i64,
        now: OffsetDateTime,
    ) -> Result<Elevation, InvalidValue> {
        let reason = reason.trim();
        if reason.chars().count() < 10 || reason.chars().count() > 1000 {
            return Err(InvalidValue::new(
                "reason",
                "say why in 10 to 1000 characters (a ticket or incident id helps)",
            ));
        }
        if minutes < MIN_ELEVATION.whole_minutes() || minutes > MAX_ELEVATION.whole_minutes() {
            return Err(InvalidValue::new(
                "duration",
                format!("{minutes} minutes is outside 15 minutes to 8 hours"),
            ));
        }
        let duration = Duration::minutes(minutes);
        if duration < MIN_ELEVATION || duration > MAX_ELEVATION {
            return Err(InvalidValue::new(
                "duration",
                format!("{minutes} minutes is outside 15 minutes to 8 hours"),
            ));
        }
        Ok(Elevation {
            id: ElevationId::generate(),
            operator,
            role,
            reason: reason.to_owned(),
            duration,
            requested_at: now,
            status: ElevationStatus::Requested,
            decision: None,
            active_from: None,
            active_until: None,
        })
    }

    pub fn status_at(&self, now: OffsetDateTime) -> ElevationStatus {
        match self.status {
            ElevationStatus::Requested if now >= self.requested_at + APPROVAL_WINDOW => {
                ElevationStatus::Expired
            }
            ElevationStatus::Active if self.active_until.is_none_or(|u| now >= u) => {
                ElevationStatus::Ended
            }
            s => s,
        }
    }

    /// Another operator decides. They must hold the role themselves, standing or through
    /// an active elevation of their own (`approver_roles` is what they hold right now).
    pub fn decide(
        &self,
        approver: OperatorId,
        approver_name: &str,
        approver_roles: &OperatorRoles,
        approve: bool,
        comment: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Elevation, Refused> {
        if approver == self.operator {
            return Err(Refused(
                "nobody approves their own elevation; another operator must".into(),
            ));
        }
        if !approver_roles.contains(self.role) {
            return Err(Refused(format!(
                "only an operator who holds {} may decide on an elevation to it",
                self.role
            )));
        }
        let current = self.status_at(now);
        if current != ElevationStatus::Requested {
            return Err(Refused(format!(
                "the elevation is {}; only a requested one can be decided",
                current.as_str()
            )));
        }
        let mut next = self.clone();
        next.decision = Some(Decision::new(approver_name, now, comment));
        if approve {
            next.status = ElevationStatus::Active;
            next.active_from = Some(now);
            next.active_until = Some(now + self.duration);
        } else {
            next.status = ElevationStatus::Denied;
        }
        Ok(next)
    }

    /// Ends an active elevation early.
    pub fn revoke(&self, now: OffsetDateTime) -> Result<Elevation, Refused> {
        if self.status_at(now) != ElevationStatus::Active {
            return Err(Refused("only an active elevation can be revoked".into()));
        }
        let mut next = self.clone();
        next.status = ElevationStatus::Revoked;
        next.active_until = Some(now);
        Ok(next)
    }

    /// Whether the operator holds the role through this elevation at `now`.
    pub fn grants(&self, role: OperatorRole, now: OffsetDateTime) -> bool {
        self.role == role && self.status_at(now) == ElevationStatus::Active
    }
}

/// The roles an operator holds at `now`: standing roles plus active elevations.
pub fn effective_roles(
    standing: &OperatorRoles,
    elevations: &[Elevation],
    now: OffsetDateTime,
) -> OperatorRoles {
    let mut roles = standing.clone();
    for e in elevations.iter().filter(|e| e.grants(e.role, now)) {
        roles.0.insert(e.role);
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-22 9:00 UTC);

    fn roles(r: &[OperatorRole]) -> OperatorRoles {
        r.iter().copied().collect()
    }

    #[test]
    fn an_approved_elevation_grants_the_role_for_its_duration_only() {
        let me = OperatorId::generate();
        let e = Elevation::new(
            me,
            OperatorRole::ProviderAdmin,
            "INC-42: rotate keys",
            60,
            T0,
        )
        .unwrap();
        assert!(!e.grants(OperatorRole::ProviderAdmin, T0));
        let approver = OperatorId::generate();
        let active = e
            .decide(
                approver,
                "admin@provider.example",
                &roles(&[OperatorRole::ProviderAdmin]),
                true,
                None,
                T0 + Duration::minutes(5),
            )
            .unwrap();
        assert!(active.grants(OperatorRole::ProviderAdmin, T0 + Duration::minutes(64)));
        assert!(!active.grants(OperatorRole::ProviderAdmin, T0 + Duration::minutes(65)));
        assert!(!active.grants(OperatorRole::SupportManager, T0 + Duration::minutes(10)));
        let mine = effective_roles(
            &roles(&[OperatorRole::SupportEngineer]),
            std::slice::from_ref(&active),
            T0 + Duration::minutes(10),
        );
        assert!(
            mine.contains(OperatorRole::ProviderAdmin)
                && mine.contains(OperatorRole::SupportEngineer)
        );
        let later = effective_roles(
            &roles(&[OperatorRole::SupportEngineer]),
            std::slice::from_ref(&active),
            T0 + Duration::hours(2),
        );
        assert!(!later.contains(OperatorRole::ProviderAdmin));
        let revoked = active.revoke(T0 + Duration::minutes(20)).unwrap();
        assert!(!revoked.grants(OperatorRole::ProviderAdmin, T0 + Duration::minutes(21)));
    }

    #[test]
    fn nobody_approves_their_own_and_approvers_must_hold_the_role() {
        let me = OperatorId::generate();
        let e = Elevation::new(
            me,
            OperatorRole::ProviderAdmin,
            "INC-42: rotate keys",
            60,
            T0,
        )
        .unwrap();
        let admin = roles(&[OperatorRole::ProviderAdmin]);
        assert!(e
            .decide(me, "me@provider.example", &admin, true, None, T0)
            .is_err());
        let other = OperatorId::generate();
        let err = e
            .decide(
                other,
                "im@provider.example",
                &roles(&[OperatorRole::IncidentManager]),
                true,
                None,
                T0,
            )
            .unwrap_err();
        assert!(err.0.contains("ProviderAdmin"), "{err}");
        assert_eq!(e.status_at(T0 + APPROVAL_WINDOW), ElevationStatus::Expired);
        assert!(e
            .decide(
                other,
                "a@provider.example",
                &admin,
                true,
                None,
                T0 + APPROVAL_WINDOW
            )
            .is_err());
        let denied = e
            .decide(
                other,
                "a@provider.example",
                &admin,
                false,
                Some("no incident".into()),
                T0,
            )
            .unwrap();
        assert!(!denied.grants(OperatorRole::ProviderAdmin, T0));
    }

    #[test]
    fn requests_are_checked() {
        let me = OperatorId::generate();
        assert!(Elevation::new(me, OperatorRole::ProviderAdmin, "short", 60, T0).is_err());
        assert!(Elevation::new(
            me,
            OperatorRole::ProviderAdmin,
            "INC-42: rotate keys",
            8 * 60 + 1,
            T0
        )
        .is_err());
        assert!(Elevation::new(
            me,
            OperatorRole::ProviderAdmin,
            "INC-42: rotate keys",
            14,
            T0
        )
        .is_err());
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Someone decides: (is it the requester?, do they hold the role?, approve?)
        Decide(bool, bool, bool),
        Revoke,
        Wait(i64),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<bool>(), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, c)| Step::Decide(a, b, c)),
            Just(Step::Revoke),
            (1i64..600).prop_map(Step::Wait),
        ]
    }

    proptest::proptest! {
        /// Whatever happens in whatever order, the role is held only after an approval by
        /// another operator who held the role, and only until the duration or a revocation.
        #[test]
        fn the_role_is_held_only_under_another_holders_approval(
            minutes in 15i64..=480,
            steps in proptest::collection::vec(step(), 0..20),
        ) {
            let me = OperatorId::generate();
            let other = OperatorId::generate();
            let holder = roles(&[OperatorRole::ProviderAdmin]);
            let bystander = roles(&[OperatorRole::SupportManager]);
            let mut e = Elevation::new(me, OperatorRole::ProviderAdmin, "INC-1: fix the tenant list", minutes, T0).unwrap();
            let mut now = T0;
            let mut approved: Option<OffsetDateTime> = None;
            let mut ended: Option<OffsetDateTime> = None;
            for s in steps {
                match s {
                    Step::Wait(m) => now += Duration::minutes(m),
                    Step::Decide(own, holds, approve) => {
                        let who = if own { me } else { other };
                        let their_roles = if holds { &holder } else { &bystander };
                        if let Ok(next) = e.decide(who, "x", their_roles, approve, None, now) {
                            proptest::prop_assert!(!own && holds, "decided by the requester or a non-holder");
                            if approve {
                                approved = Some(now);
                            }
                            e = next;
                        }
                    }
                    Step::Revoke => {
                        if let Ok(next) = e.revoke(now) {
                            ended = Some(now);
                            e = next;
                        }
                    }
                }
                if e.grants(OperatorRole::ProviderAdmin, now) {
                    let from = approved.expect("held without an approval");
                    proptest::prop_assert!(now >= from && now < from + Duration::minutes(minutes));
                    proptest::prop_assert!(ended.is_none_or(|t| now < t));
                }
                proptest::prop_assert!(!e.grants(OperatorRole::SupportManager, now));
            }
        }
    }
}
