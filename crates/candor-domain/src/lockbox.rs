//! Customer Lockbox requests: a provider engineer's time-boxed, scoped access to one
//! tenant's data, approved internally by another person and then (when the tenant has
//! Lockbox on) by the tenant. One state machine, and the deadlines are decided by
//! comparing with the time given, never by waiting for a job: a request is expired the
//! moment its deadline passes, whether or not anything recorded it yet.

use std::collections::BTreeSet;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::identity::InvalidValue;
use crate::{OperatorId, TenantId};

/// A pending request not decided within this long expires; no access is granted.
pub const DECISION_WINDOW: Duration = Duration::hours(12);
/// The longest access a request may ask for.
pub const MAX_ACCESS: Duration = Duration::hours(4);
pub const MIN_ACCESS: Duration = Duration::minutes(15);

/// A request id; also the Item of its audit records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LockboxRequestId(pub Uuid);

impl LockboxRequestId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for LockboxRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for LockboxRequestId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self).map_err(|_| {
            InvalidValue::new(
                "request id",
                format!(
                    "`{}` is not a Lockbox request id",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })
    }
}

/// Where a request stands. `Completed` and `Expired` are reached by time alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LockboxStatus {
    AwaitingInternalApproval,
    Pending,
    Approved,
    Completed,
    InternallyDenied,
    Denied,
    Expired,
    Canceled,
    Revoked,
}

impl LockboxStatus {
    pub const ALL: &'static [LockboxStatus] = &[
        LockboxStatus::AwaitingInternalApproval,
        LockboxStatus::Pending,
        LockboxStatus::Approved,
        LockboxStatus::Completed,
        LockboxStatus::InternallyDenied,
        LockboxStatus::Denied,
        LockboxStatus::Expired,
        LockboxStatus::Canceled,
        LockboxStatus::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LockboxStatus::AwaitingInternalApproval => "awaitingInternalApproval",
            LockboxStatus::Pending => "pending",
            LockboxStatus::Approved => "approved",
            LockboxStatus::Completed => "completed",
            LockboxStatus::InternallyDenied => "internallyDenied",
            LockboxStatus::Denied => "denied",
            LockboxStatus::Expired => "expired",
            LockboxStatus::Canceled => "canceled",
            LockboxStatus::Revoked => "revoked",
        }
    }

    /// Nothing moves a request out of these.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            LockboxStatus::AwaitingInternalApproval
                | LockboxStatus::Pending
                | LockboxStatus::Approved
        )
    }
}

impl fmt::Display for LockboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LockboxStatus {
    type Err = InvalidValue;
    /// Case-insensitive; also the cmdlet's words (`Canceled`, `Approved`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        LockboxStatus::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                InvalidValue::new(
                    "status",
                    format!(
                        "`{}` is not one of {}",
                        s.chars().take(40).collect::<String>(),
                        LockboxStatus::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }
}

/// Who decided, when, and what they said, with Candor's signature over the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: OffsetDateTime,
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<DecisionSignature>,
}

impl Decision {
    pub(crate) fn new(by: &str, at: OffsetDateTime, comment: Option<String>) -> Decision {
        Decision {
            by: by.to_owned(),
            at,
            comment,
            signature: None,
        }
    }
}

/// An Ed25519 signature (base64) by the key `key_id` over a decision's signed form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionSignature {
    pub key_id: String,
    pub value: String,
}

/// The three decisions a request can carry; each is signed on its own, so a later
/// decision never invalidates an earlier signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionStep {
    /// The Support Manager's approval or denial.
    Internal,
    /// The tenant approver's approval or denial.
    Customer,
    /// The engineer's cancellation or the tenant's revocation.
    End,
}

impl DecisionStep {
    pub const ALL: [DecisionStep; 3] = [
        DecisionStep::Internal,
        DecisionStep::Customer,
        DecisionStep::End,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionStep::Internal => "internal",
            DecisionStep::Customer => "customer",
            DecisionStep::End => "end",
        }
    }
}

/// What checking one decision's signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub step: DecisionStep,
    /// Approve, Deny, Cancel or Revoke.
    pub outcome: &'static str,
    pub by: String,
    pub at: OffsetDateTime,
    pub key_id: Option<String>,
    /// `Ok` when the signature verifies over the request as it is stored now.
    pub result: Result<(), String>,
}

/// A Lockbox request as stored. `status` is the last recorded state; `status_at(now)`
/// is the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockboxRequest {
    pub id: LockboxRequestId,
    pub tenant: TenantId,
    pub workload: String,
    pub operations: BTreeSet<String>,
    pub service_request: String,
    pub justification: String,
    pub duration: Duration,
    pub requester: OperatorId,
    pub requester_name: String,
    pub created_at: OffsetDateTime,
    /// Whether the tenant had Lockbox on when the request was filed.
    pub needs_customer: bool,
    pub status: LockboxStatus,
    pub internal_decision: Option<Decision>,
    /// When the request reached the customer (pending since).
    pub pending_since: Option<OffsetDateTime>,
    pub customer_decision: Option<Decision>,
    /// Access runs from `access_start` to `access_end` once approved.
    pub access_start: Option<OffsetDateTime>,
    pub access_end: Option<OffsetDateTime>,
    /// Canceled or revoked: who and when.
    pub ended: Option<Decision>,
}

/// What someone does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockboxEvent {
    /// A Support Manager other than the requester approves internally.
    ApproveInternally { by: OperatorId, name: String },
    DenyInternally {
        by: OperatorId,
        name: String,
        comment: Option<String>,
    },
    /// A tenant approver (a person, or an app holding Lockbox.ReadWrite.All) decides;
    /// `name` is who the audit log and the signature name.
    Approve {
        name: String,
        comment: Option<String>,
    },
    Deny {
        name: String,
        comment: Option<String>,
    },
    /// The requester withdraws their own request (before or during access).
    Cancel { by: OperatorId, name: String },
    /// The tenant cuts an active grant short.
    Revoke {
        name: String,
        comment: Option<String>,
    },
}

/// Why an event cannot happen now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refuse<T>(m: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(m.into()))
}

impl LockboxRequest {
    /// The state the request is in at `now`, deadlines included.
    pub fn status_at(&self, now: OffsetDateTime) -> LockboxStatus {
        match self.status {
            LockboxStatus::AwaitingInternalApproval if now >= self.created_at + DECISION_WINDOW => {
                LockboxStatus::Expired
            }
            LockboxStatus::Pending
                if now >= self.pending_since.unwrap_or(self.created_at) + DECISION_WINDOW =>
            {
                LockboxStatus::Expired
            }
            LockboxStatus::Approved if self.access_end.is_none_or(|end| now >= end) => {
                LockboxStatus::Completed
            }
            s => s,
        }
    }

    /// When the request stops waiting for a decision, if it is waiting.
    pub fn decision_deadline(&self) -> Option<OffsetDateTime> {
        match self.status {
            LockboxStatus::AwaitingInternalApproval => Some(self.created_at + DECISION_WINDOW),
            LockboxStatus::Pending => {
                Some(self.pending_since.unwrap_or(self.created_at) + DECISION_WINDOW)
            }
            _ => None,
        }
    }

    /// The next moment time alone changes the request (expiry, or the end of access);
    /// jobs record what happened then, checks never wait for them.
    pub fn next_deadline(&self) -> Option<OffsetDateTime> {
        match self.status {
            LockboxStatus::Approved => self.access_end,
            _ => self.decision_deadline(),
        }
    }

    /// Whether `operation` on the request's workload is allowed at `now`.
    pub fn allows(&self, workload: &str, operation: &str, now: OffsetDateTime) -> bool {
        self.status_at(now) == LockboxStatus::Approved
            && self.access_start.is_some_and(|s| now >= s)
            && self.workload.eq_ignore_ascii_case(workload)
            && self.operations.contains(operation)
    }

    fn grant(&mut self, at: OffsetDateTime) {
        self.status = LockboxStatus::Approved;
        self.access_start = Some(at);
        self.access_end = Some(at + self.duration);
    }

    /// Applies `event` at `now`, returning the request's new state. Deadlines that have
    /// passed win: a decision after the window is refused because the request expired.
    pub fn apply(&self, event: &LockboxEvent, now: OffsetDateTime) -> Result<Self, Refused> {
        let current = self.status_at(now);
        let mut next = self.clone();
        next.status = current;
        match event {
            LockboxEvent::ApproveInternally { by, name } => {
                if current != LockboxStatus::AwaitingInternalApproval {
                    return refuse(format!(
                        "the request is {current}; only a request awaiting internal approval can be approved internally"
                    ));
                }
                if *by == self.requester {
                    return refuse(
                        "nobody approves their own request; another Support Manager must",
                    );
                }
                next.internal_decision = Some(Decision::new(name, now, None));
                if self.needs_customer {
                    next.status = LockboxStatus::Pending;
                    next.pending_since = Some(now);
                } else {
                    next.grant(now);
                }
            }
            LockboxEvent::DenyInternally { by, name, comment } => {
                if current != LockboxStatus::AwaitingInternalApproval {
                    return refuse(format!(
                        "the request is {current}; only a request awaiting internal approval can be denied internally"
                    ));
                }
                if *by == self.requester {
                    return refuse("nobody decides on their own request; cancel it instead");
                }
                next.status = LockboxStatus::InternallyDenied;
                next.internal_decision = Some(Decision::new(name, now, comment.clone()));
            }
            LockboxEvent::Approve { name, comment, .. }
            | LockboxEvent::Deny { name, comment, .. } => {
                if current != LockboxStatus::Pending {
                    return refuse(format!(
                        "the request is {current}; only a pending request can be approved or denied"
                    ));
                }
                next.customer_decision = Some(Decision::new(name, now, comment.clone()));
                if matches!(event, LockboxEvent::Approve { .. }) {
                    next.grant(now);
                } else {
                    next.status = LockboxStatus::Denied;
                }
            }
            LockboxEvent::Cancel { by, name } => {
                if *by != self.requester {
                    return refuse("only the engineer who filed a request can cancel it");
                }
                if current.is_final() {
                    return refuse(format!("the request is already {current}"));
                }
                next.status = LockboxStatus::Canceled;
                next.ended = Some(Decision::new(name, now, None));
                if next.access_end.is_some_and(|e| e > now) {
                    next.access_end = Some(now);
                }
            }
            LockboxEvent::Revoke { name, comment, .. } => {
                if current != LockboxStatus::Approved {
                    return refuse(format!(
                        "the request is {current}; only active access can be revoked"
                    ));
                }
                next.status = LockboxStatus::Revoked;
                next.ended = Some(Decision::new(name, now, comment.clone()));
                next.access_end = Some(now);
            }
        }
        Ok(next)
    }

    /// The decisions signed in `self` that were not signed in `before`: what the step
    /// just taken signed, for its audit record to carry.
    pub fn signed_since(&self, before: &LockboxRequest) -> Vec<(DecisionStep, DecisionSignature)> {
        DecisionStep::ALL
            .into_iter()
            .filter_map(|step| {
                let now = self.decision(step)?.signature.clone()?;
                let then = before.decision(step).and_then(|d| d.signature.as_ref());
                (then != Some(&now)).then_some((step, now))
            })
            .collect()
    }

    pub fn decision(&self, step: DecisionStep) -> Option<&Decision> {
        match step {
            DecisionStep::Internal => self.internal_decision.as_ref(),
            DecisionStep::Customer => self.customer_decision.as_ref(),
            DecisionStep::End => self.ended.as_ref(),
        }
    }

    fn decision_mut(&mut self, step: DecisionStep) -> Option<&mut Decision> {
        match step {
            DecisionStep::Internal => self.internal_decision.as_mut(),
            DecisionStep::Customer => self.customer_decision.as_mut(),
            DecisionStep::End => self.ended.as_mut(),
        }
    }

    /// What a decision said, read from the final states it can lead to (which never
    /// change again, so the word is stable for the life of the request).
    fn outcome(&self, step: DecisionStep) -> &'static str {
        match step {
            DecisionStep::Internal if self.status == LockboxStatus::InternallyDenied => "Deny",
            DecisionStep::Customer if self.status == LockboxStatus::Denied => "Deny",
            DecisionStep::Internal | DecisionStep::Customer => "Approve",
            DecisionStep::End if self.status == LockboxStatus::Revoked => "Revoke",
            DecisionStep::End => "Cancel",
        }
    }

    /// The bytes a decision's signature covers: every field that decides what access is
    /// granted (tenant, workload, operations, duration, requester) plus the decision
    /// itself, in a fixed order, so a signature cannot be moved to another request or
    /// another decision. The access window follows from the decision time and duration.
    pub fn signed_form(&self, step: DecisionStep) -> Option<Vec<u8>> {
        let d = self.decision(step)?;
        let micros = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000).to_string();
        let ops: Vec<&str> = self.operations.iter().map(String::as_str).collect();
        Some(
            format!(
                "candor-lockbox-decision-v1\nid={}\ntenant={}\nworkload={}\noperations={}\nservice_request={}\nduration_s={}\nrequester={}\ncreated_at={}\nneeds_customer={}\nstep={}\noutcome={}\nby={}\nat={}\ncomment={}\n",
                self.id,
                self.tenant,
                self.workload,
                ops.join(","),
                self.service_request,
                self.duration.whole_seconds(),
                self.requester,
                micros(self.created_at),
                self.needs_customer,
                step.as_str(),
                self.outcome(step),
                d.by,
                micros(d.at),
                d.comment.as_deref().unwrap_or("").replace('\n', "\\n"),
            )
            .into_bytes(),
        )
    }

    /// Signs every decision that is not signed yet (the one just taken).
    pub fn sign_decisions(&mut self, key_id: &str, key: &SigningKey) {
        for step in DecisionStep::ALL {
            let Some(form) = self.signed_form(step) else {
                continue;
            };
            if let Some(d) = self.decision_mut(step) {
                if d.signature.is_none() {
                    d.signature = Some(DecisionSignature {
                        key_id: key_id.to_owned(),
                        value: BASE64.encode(key.sign(&form).to_bytes()),
                    });
                }
            }
        }
    }

    /// Checks each decision's signature against the request as it stands, with the
    /// verifying key its signature names.
    pub fn verify_decisions(
        &self,
        key_for: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Vec<SignatureCheck> {
        DecisionStep::ALL
            .into_iter()
            .filter_map(|step| {
                let d = self.decision(step)?;
                let form = self.signed_form(step)?;
                let result = match &d.signature {
                    None => Err("the decision is not signed".to_owned()),
                    Some(sig) => match key_for(&sig.key_id) {
                        None => Err(format!("the signing key {} is unknown", sig.key_id)),
                        Some(key) => BASE64
                            .decode(&sig.value)
                            .ok()
                            .and_then(|b| Signature::from_slice(&b).ok())
                            .ok_or_else(|| {
                                "the signature is not a valid Ed25519 signature".to_owned()
                            })
                            .and_then(|sig| {
                                key.verify(&form, &sig).map_err(|_| {
                                    "the signature does not match the request as stored".to_owned()
                                })
                            }),
                    },
                };
                Some(SignatureCheck {
                    step,
                    outcome: self.outcome(step),
                    by: d.by.clone(),
                    at: d.at,
                    key_id: d.signature.as_ref().map(|s| s.key_id.clone()),
                    result,
                })
            })
            .collect()
    }
}

/// A workload engineers may ask to access, with its pre-approved operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub operations: Vec<String>,
}

/// Which requests to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct LockboxFilter {
    pub tenant: Option<TenantId>,
    pub requester: Option<OperatorId>,
    /// The recorded status.
    pub status: Option<LockboxStatus>,
    pub created_after: Option<OffsetDateTime>,
    /// Keyset paging: only requests listed after this one (its creation time and id).
    pub before: Option<(OffsetDateTime, LockboxRequestId)>,
    pub limit: u32,
}

/// Checks a requested duration: 15 minutes to 4 hours.
pub fn check_duration(minutes: i64) -> Result<Duration, InvalidValue> {
    // Compared as a number first: a huge one must not overflow the duration.
    if minutes < MIN_ACCESS.whole_minutes() || minutes > MAX_ACCESS.whole_minutes() {
        return Err(InvalidValue::new(
            "duration",
            format!("{minutes} minutes is outside 15 minutes to 4 hours"),
        ));
    }
    let d = Duration::minutes(minutes);
    if d < MIN_ACCESS || d > MAX_ACCESS {
        return Err(InvalidValue::new(
            "duration",
            format!("{minutes} minutes is outside 15 minutes to 4 hours"),
        ));
    }
    Ok(d)
}

/// Checks the operations asked for are among the workload's pre-approved ones.
pub fn check_operations(
    workload: &str,
    asked: &[String],
    allowed: &[String],
) -> Result<BTreeSet<String>, InvalidValue> {
    let mut out = BTreeSet::new();
    for op in asked.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        match allowed.iter().find(|a| a.eq_ignore_ascii_case(op)) {
            Some(a) => {
                out.insert(a.clone());
            }
            None => {
                return Err(InvalidValue::new(
                    "operations",
                    format!(
                        "{op} is not a pre-approved operation of {workload} ({})",
                        allowed.join(", ")
                    ),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(InvalidValue::new(
            "operations",
            "name at least one pre-approved operation",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-22 9:00 UTC);

    fn request(needs_customer: bool) -> LockboxRequest {
        LockboxRequest {
            id: LockboxRequestId::generate(),
            tenant: TenantId::generate(),
            workload: "Exchange Online".into(),
            operations: ["Get-Mailbox".to_owned()].into_iter().collect(),
            service_request: "SR-1001".into(),
            justification: "Mailbox will not open".into(),
            duration: Duration::hours(2),
            requester: OperatorId::generate(),
            requester_name: "engineer@provider.example".into(),
            created_at: T0,
            needs_customer,
            status: LockboxStatus::AwaitingInternalApproval,
            internal_decision: None,
            pending_since: None,
            customer_decision: None,
            access_start: None,
            access_end: None,
            ended: None,
        }
    }

    fn manager() -> LockboxEvent {
        LockboxEvent::ApproveInternally {
            by: OperatorId::generate(),
            name: "manager@provider.example".into(),
        }
    }

    fn approver(approve: bool) -> LockboxEvent {
        let name = "approver@contoso.example".to_owned();
        if approve {
            LockboxEvent::Approve {
                name,
                comment: None,
            }
        } else {
            LockboxEvent::Deny {
                name,
                comment: Some("not now".into()),
            }
        }
    }

    #[test]
    fn the_happy_path_grants_access_from_the_approval_for_the_duration() {
        let r = request(true);
        let r = r.apply(&manager(), T0 + Duration::hours(1)).unwrap();
        assert_eq!(r.status, LockboxStatus::Pending);
        assert!(!r.allows("Exchange Online", "Get-Mailbox", T0 + Duration::hours(1)));
        let approved_at = T0 + Duration::hours(3);
        let r = r.apply(&approver(true), approved_at).unwrap();
        assert_eq!(r.status_at(approved_at), LockboxStatus::Approved);
        assert!(r.allows(
            "exchange online",
            "Get-Mailbox",
            approved_at + Duration::minutes(119)
        ));
        assert!(
            !r.allows("Exchange Online", "Set-Mailbox", approved_at),
            "scoped to its operations"
        );
        assert!(!r.allows("SharePoint Online", "Get-Mailbox", approved_at));
        assert!(!r.allows(
            "Exchange Online",
            "Get-Mailbox",
            approved_at + Duration::hours(2)
        ));
        assert_eq!(
            r.status_at(approved_at + Duration::hours(2)),
            LockboxStatus::Completed
        );
    }

    #[test]
    fn nobody_approves_their_own_request_and_only_the_requester_cancels() {
        let r = request(true);
        let own = LockboxEvent::ApproveInternally {
            by: r.requester,
            name: r.requester_name.clone(),
        };
        assert!(r.apply(&own, T0).is_err());
        let other = LockboxEvent::Cancel {
            by: OperatorId::generate(),
            name: "someone@provider.example".into(),
        };
        assert!(r.apply(&other, T0).is_err());
        let cancel = LockboxEvent::Cancel {
            by: r.requester,
            name: r.requester_name.clone(),
        };
        assert_eq!(
            r.apply(&cancel, T0).unwrap().status,
            LockboxStatus::Canceled
        );
    }

    #[test]
    fn undecided_requests_expire_after_twelve_hours() {
        let r = request(true);
        assert_eq!(
            r.status_at(T0 + Duration::hours(12)),
            LockboxStatus::Expired
        );
        assert!(r.apply(&manager(), T0 + Duration::hours(12)).is_err());
        let pending = r.apply(&manager(), T0 + Duration::hours(11)).unwrap();
        // The customer has twelve hours from when it reached them.
        assert_eq!(
            pending.status_at(T0 + Duration::hours(22)),
            LockboxStatus::Pending
        );
        assert_eq!(
            pending.status_at(T0 + Duration::hours(23)),
            LockboxStatus::Expired
        );
        let late = pending.apply(&approver(true), T0 + Duration::hours(23));
        assert!(late.unwrap_err().0.contains("expired"));
    }

    #[test]
    fn with_lockbox_off_the_internal_approval_grants_access() {
        let r = request(false);
        let r = r.apply(&manager(), T0).unwrap();
        assert_eq!(r.status, LockboxStatus::Approved);
        assert!(r.allows("Exchange Online", "Get-Mailbox", T0));
        assert!(
            r.apply(&approver(true), T0).is_err(),
            "nothing to decide for the tenant"
        );
    }

    #[test]
    fn revocation_cuts_access_at_once() {
        let r = request(true)
            .apply(&manager(), T0)
            .unwrap()
            .apply(&approver(true), T0)
            .unwrap();
        let revoke = LockboxEvent::Revoke {
            name: "admin@contoso.example".into(),
            comment: Some("issue solved".into()),
        };
        let at = T0 + Duration::minutes(30);
        let revoked = r.apply(&revoke, at).unwrap();
        assert_eq!(revoked.status_at(at), LockboxStatus::Revoked);
        assert!(!revoked.allows("Exchange Online", "Get-Mailbox", at));
        assert!(revoked.apply(&revoke, at).is_err(), "revoked once");
        let denied = request(true)
            .apply(&manager(), T0)
            .unwrap()
            .apply(&approver(false), T0)
            .unwrap();
        assert_eq!(denied.status, LockboxStatus::Denied);
        assert!(!denied.allows("Exchange Online", "Get-Mailbox", T0));
    }

    #[test]
    fn durations_and_operations_are_checked() {
        assert!(check_duration(240).is_ok());
        assert!(check_duration(241).is_err());
        assert!(check_duration(14).is_err());
        let allowed = vec![
            "Get-Mailbox".to_owned(),
            "Export-MailboxDiagnosticLogs".to_owned(),
        ];
        let ops = check_operations("Exchange Online", &["get-mailbox".into()], &allowed).unwrap();
        assert_eq!(
            ops.into_iter().collect::<Vec<_>>(),
            vec!["Get-Mailbox".to_owned()]
        );
        let e =
            check_operations("Exchange Online", &["Remove-Mailbox".into()], &allowed).unwrap_err();
        assert!(e.to_string().contains("Remove-Mailbox"));
        assert!(check_operations("Exchange Online", &[], &allowed).is_err());
        assert_eq!(
            "Canceled".parse::<LockboxStatus>().unwrap(),
            LockboxStatus::Canceled
        );
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn all_verify(r: &LockboxRequest) -> bool {
        let key = signing_key().verifying_key();
        r.verify_decisions(|id| (id == "k1").then_some(key))
            .iter()
            .all(|c| c.result.is_ok())
    }

    #[test]
    fn decisions_are_signed_and_any_change_to_what_they_grant_breaks_the_signature() {
        let r = request(true);
        let mut approved = r.apply(&manager(), T0 + Duration::minutes(5)).unwrap();
        approved.sign_decisions("k1", &signing_key());
        let mut approved = approved
            .apply(&approver(true), T0 + Duration::minutes(30))
            .unwrap();
        approved.sign_decisions("k1", &signing_key());
        let checks = approved.verify_decisions(|_| Some(signing_key().verifying_key()));
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.result.is_ok()), "{checks:?}");
        assert_eq!(checks[1].outcome, "Approve");
        assert_eq!(checks[1].step, DecisionStep::Customer);

        let mut longer = approved.clone();
        longer.duration = Duration::hours(4);
        let mut other_tenant = approved.clone();
        other_tenant.tenant = TenantId::generate();
        let mut more_ops = approved.clone();
        more_ops.operations.insert("Set-Mailbox".into());
        let mut other_approver = approved.clone();
        if let Some(d) = other_approver.customer_decision.as_mut() {
            d.by = "mallory@evil.example".into();
        }
        let mut turned_into_approval = r
            .apply(&manager(), T0 + Duration::minutes(5))
            .unwrap()
            .apply(&approver(false), T0 + Duration::minutes(30))
            .unwrap();
        turned_into_approval.sign_decisions("k1", &signing_key());
        turned_into_approval.status = LockboxStatus::Approved;
        for tampered in [
            longer,
            other_tenant,
            more_ops,
            other_approver,
            turned_into_approval,
        ] {
            assert!(!all_verify(&tampered), "{tampered:?}");
        }
        // A later decision does not disturb the earlier signatures.
        let mut revoked = approved
            .apply(
                &LockboxEvent::Revoke {
                    name: "admin@contoso.example".into(),
                    comment: Some("done".into()),
                },
                T0 + Duration::minutes(40),
            )
            .unwrap();
        revoked.sign_decisions("k1", &signing_key());
        assert!(all_verify(&revoked));
        // Unknown keys and missing signatures are reported, not passed.
        let checks = revoked.verify_decisions(|_| None);
        assert!(checks.iter().all(|c| c.result.is_err()));
        let unsigned = r.apply(&manager(), T0).unwrap();
        assert!(!all_verify(&unsigned));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Manager,
        Own,
        Approve,
        Deny,
        Cancel,
        Revoke,
        Wait(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Manager),
            Just(Step::Own),
            Just(Step::Approve),
            Just(Step::Deny),
            Just(Step::Cancel),
            Just(Step::Revoke),
            (1i64..600).prop_map(Step::Wait),
        ]
    }

    proptest! {
        /// Whatever happens in whatever order: access only ever exists between a real
        /// approval and the end of the requested duration (or an earlier revocation or
        /// cancellation), final states stay final, and the requester never approves.
        #[test]
        fn access_never_outlives_its_grant(needs_customer: bool, steps in proptest::collection::vec(step(), 0..25)) {
            let mut r = request(needs_customer);
            let mut now = T0;
            let mut cut_at: Option<OffsetDateTime> = None;
            for s in steps {
                let before = r.status_at(now);
                let event = match s {
                    Step::Wait(m) => { now += Duration::minutes(m); None }
                    Step::Manager => Some(manager()),
                    Step::Own => Some(LockboxEvent::ApproveInternally { by: r.requester, name: r.requester_name.clone() }),
                    Step::Approve => Some(approver(true)),
                    Step::Deny => Some(approver(false)),
                    Step::Cancel => Some(LockboxEvent::Cancel { by: r.requester, name: r.requester_name.clone() }),
                    Step::Revoke => Some(LockboxEvent::Revoke { name: "a@b.example".into(), comment: None }),
                };
                if let Some(e) = event {
                    if let Ok(next) = r.apply(&e, now) {
                        prop_assert!(!before.is_final(), "{before} moved");
                        prop_assert!(!matches!(s, Step::Own));
                        if matches!(next.status, LockboxStatus::Revoked | LockboxStatus::Canceled) {
                            cut_at = Some(now);
                        }
                        r = next;
                    }
                }
                // Never outside the grant's scope: another operation, another workload.
                prop_assert!(!r.allows("Exchange Online", "Remove-Mailbox", now));
                prop_assert!(!r.allows("SharePoint Online", "Get-Mailbox", now));
                if r.allows("Exchange Online", "Get-Mailbox", now) {
                    let start = r.access_start.unwrap();
                    prop_assert!(now >= start && now < start + r.duration);
                    prop_assert!(r.duration <= MAX_ACCESS);
                    prop_assert!(cut_at.is_none_or(|c| now < c));
                    prop_assert!(r.internal_decision.is_some());
                    prop_assert!(!r.needs_customer || r.customer_decision.is_some());
                }
            }
        }
    }
}
