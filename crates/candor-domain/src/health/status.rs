//! The lifecycle of an issue: Microsoft 365's `serviceHealthStatus` set and the one
//! function that decides which moves are allowed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `serviceHealthStatus`, spelled as Graph emits it on the wire (camelCase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    ServiceOperational,
    Investigating,
    RestoringService,
    VerifyingService,
    ServiceRestored,
    PostIncidentReviewPublished,
    ServiceDegradation,
    ServiceInterruption,
    ExtendedRecovery,
    FalsePositive,
    InvestigationSuspended,
    Resolved,
    MitigatedExternal,
    Mitigated,
    ResolvedExternal,
    Confirmed,
    Reported,
}

impl Status {
    pub const ALL: [Status; 17] = [
        Status::ServiceOperational,
        Status::Investigating,
        Status::RestoringService,
        Status::VerifyingService,
        Status::ServiceRestored,
        Status::PostIncidentReviewPublished,
        Status::ServiceDegradation,
        Status::ServiceInterruption,
        Status::ExtendedRecovery,
        Status::FalsePositive,
        Status::InvestigationSuspended,
        Status::Resolved,
        Status::MitigatedExternal,
        Status::Mitigated,
        Status::ResolvedExternal,
        Status::Confirmed,
        Status::Reported,
    ];

    /// The camelCase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::ServiceOperational => "serviceOperational",
            Status::Investigating => "investigating",
            Status::RestoringService => "restoringService",
            Status::VerifyingService => "verifyingService",
            Status::ServiceRestored => "serviceRestored",
            Status::PostIncidentReviewPublished => "postIncidentReviewPublished",
            Status::ServiceDegradation => "serviceDegradation",
            Status::ServiceInterruption => "serviceInterruption",
            Status::ExtendedRecovery => "extendedRecovery",
            Status::FalsePositive => "falsePositive",
            Status::InvestigationSuspended => "investigationSuspended",
            Status::Resolved => "resolved",
            Status::MitigatedExternal => "mitigatedExternal",
            Status::Mitigated => "mitigated",
            Status::ResolvedExternal => "resolvedExternal",
            Status::Confirmed => "confirmed",
            Status::Reported => "reported",
        }
    }

    /// The phase an issue in this status is in.
    pub fn phase(self) -> Phase {
        match self {
            Status::ServiceOperational => Phase::NotAnIssueStatus,
            Status::Investigating
            | Status::RestoringService
            | Status::VerifyingService
            | Status::ServiceDegradation
            | Status::ServiceInterruption
            | Status::ExtendedRecovery
            | Status::InvestigationSuspended
            | Status::Confirmed
            | Status::Reported => Phase::Active,
            Status::ServiceRestored
            | Status::FalsePositive
            | Status::Resolved
            | Status::MitigatedExternal
            | Status::Mitigated
            | Status::ResolvedExternal => Phase::Closed,
            Status::PostIncidentReviewPublished => Phase::Reviewed,
        }
    }

    /// Graph's `isResolved`.
    pub fn is_resolved(self) -> bool {
        matches!(self.phase(), Phase::Closed | Phase::Reviewed)
    }

    /// How bad this status is for the service overview (higher is worse).
    pub fn severity(self) -> u8 {
        match self {
            Status::ServiceInterruption => 5,
            Status::ServiceDegradation => 4,
            Status::RestoringService | Status::ExtendedRecovery => 3,
            Status::Investigating | Status::Confirmed | Status::Reported => 2,
            Status::VerifyingService | Status::InvestigationSuspended => 1,
            _ => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Only services are "operational"; an issue never is.
    NotAnIssueStatus,
    Active,
    Closed,
    /// Closed, and its post-incident review has been published.
    Reviewed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a service health status")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    /// Case-insensitive: Graph's docs show PascalCase, the wire carries camelCase.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.chars().take(40).collect()))
    }
}

/// Why a status changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// An ordinary update (usually with a post).
    Update,
    /// Explicitly reopening a closed issue; audited as such.
    Reopen,
    /// Publishing the post-incident review.
    PublishReview,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an issue cannot be {0}; that status describes a healthy service")]
    NotForIssues(Status),
    #[error("the issue is resolved ({from}); reopen it explicitly to make it {to}")]
    ReopenRequired { from: Status, to: Status },
    #[error("only publishing the post-incident review sets postIncidentReviewPublished")]
    ReviewOnlyByPublishing,
    #[error("a post-incident review can be published only for a resolved issue (not {0})")]
    ReviewNeedsResolution(Status),
    #[error("a false positive has no post-incident review")]
    NoReviewForFalsePositive,
    #[error("only a resolved issue can be reopened; this one is {0}")]
    NotResolved(Status),
    #[error("a reopened issue must be given an active status, not {0}")]
    ReopenToActive(Status),
}

/// The whole lifecycle in one place: may an issue in `from` move to `to` this way?
pub fn transition(from: Status, to: Status, how: Move) -> Result<(), TransitionError> {
    use Phase::*;
    if to.phase() == NotAnIssueStatus {
        return Err(TransitionError::NotForIssues(to));
    }
    match how {
        Move::Update => match (from.phase(), to.phase()) {
            (_, NotAnIssueStatus) => Err(TransitionError::NotForIssues(to)),
            (_, Reviewed) => Err(TransitionError::ReviewOnlyByPublishing),
            (Active | NotAnIssueStatus, Active | Closed) => Ok(()),
            (Closed, Closed) => Ok(()),
            (Closed | Reviewed, Active) => Err(TransitionError::ReopenRequired { from, to }),
            (Reviewed, Closed) => Err(TransitionError::ReopenRequired { from, to }),
        },
        Move::PublishReview => match (from, to) {
            (_, t) if t != Status::PostIncidentReviewPublished => {
                Err(TransitionError::ReviewOnlyByPublishing)
            }
            (Status::FalsePositive, _) => Err(TransitionError::NoReviewForFalsePositive),
            (f, _) if f.phase() == Closed || f.phase() == Reviewed => Ok(()),
            (f, _) => Err(TransitionError::ReviewNeedsResolution(f)),
        },
        Move::Reopen => match (from.phase(), to.phase()) {
            (Closed | Reviewed, Active) => Ok(()),
            (Closed | Reviewed, _) => Err(TransitionError::ReopenToActive(to)),
            _ => Err(TransitionError::NotResolved(from)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_names_parse_in_either_case() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            let pascal = s.as_str()[..1].to_uppercase() + &s.as_str()[1..];
            assert_eq!(pascal.parse::<Status>(), Ok(s));
        }
        assert!("ServicaOperational".parse::<Status>().is_err());
    }

    #[test]
    fn the_usual_incident_walks_through() {
        let path = [
            Status::Investigating,
            Status::ServiceDegradation,
            Status::RestoringService,
            Status::ExtendedRecovery,
            Status::ServiceRestored,
        ];
        for w in path.windows(2) {
            assert_eq!(
                transition(w[0], w[1], Move::Update),
                Ok(()),
                "{} -> {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(
            transition(
                Status::ServiceRestored,
                Status::PostIncidentReviewPublished,
                Move::PublishReview
            ),
            Ok(())
        );
    }

    #[test]
    fn a_resolved_issue_does_not_silently_become_active() {
        let err =
            transition(Status::ServiceRestored, Status::Investigating, Move::Update).unwrap_err();
        assert!(matches!(err, TransitionError::ReopenRequired { .. }));
        assert!(err.to_string().contains("reopen"));
        assert_eq!(
            transition(Status::ServiceRestored, Status::Investigating, Move::Reopen),
            Ok(())
        );
        assert!(transition(
            Status::Investigating,
            Status::ServiceDegradation,
            Move::Reopen
        )
        .is_err());
    }

    #[test]
    fn reviews_come_only_from_publishing_a_resolved_issue() {
        assert_eq!(
            transition(
                Status::ServiceRestored,
                Status::PostIncidentReviewPublished,
                Move::Update
            ),
            Err(TransitionError::ReviewOnlyByPublishing)
        );
        assert!(transition(
            Status::Investigating,
            Status::PostIncidentReviewPublished,
            Move::PublishReview
        )
        .is_err());
        assert_eq!(
            transition(
                Status::FalsePositive,
                Status::PostIncidentReviewPublished,
                Move::PublishReview
            ),
            Err(TransitionError::NoReviewForFalsePositive)
        );
    }

    #[test]
    fn service_operational_is_never_an_issue_status() {
        for from in Status::ALL {
            for how in [Move::Update, Move::Reopen, Move::PublishReview] {
                assert!(transition(from, Status::ServiceOperational, how).is_err());
            }
        }
    }

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    fn any_move() -> impl Strategy<Value = Move> {
        proptest::sample::select(vec![Move::Update, Move::Reopen, Move::PublishReview])
    }

    proptest! {
        /// Along any accepted path, a resolved issue becomes active again only by an
        /// explicit reopen, and reaches postIncidentReviewPublished only by publishing.
        #[test]
        fn no_path_reactivates_without_reopen(steps in proptest::collection::vec((any_status(), any_move()), 1..40)) {
            let mut current = Status::Investigating;
            for (to, how) in steps {
                if transition(current, to, how).is_ok() {
                    if current.is_resolved() && !to.is_resolved() {
                        prop_assert_eq!(how, Move::Reopen);
                    }
                    if to == Status::PostIncidentReviewPublished && current != to {
                        prop_assert_eq!(how, Move::PublishReview);
                    }
                    prop_assert!(to != Status::ServiceOperational);
                    current = to;
                }
            }
        }

        /// Every active status can be reached from every active status by an update,
        /// and every issue can always be resolved while active.
        #[test]
        fn active_issues_move_freely_and_can_always_close(a in any_status(), b in any_status()) {
            if a.phase() == Phase::Active && b.phase() != Phase::NotAnIssueStatus && b.phase() != Phase::Reviewed {
                prop_assert_eq!(transition(a, b, Move::Update), Ok(()));
            }
        }
    }
}
