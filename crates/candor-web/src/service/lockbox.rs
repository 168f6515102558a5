//! Customer Lockbox use cases: the tenant's setting, filing a request, the internal and
//! the customer decision, cancelling, revoking, and the access check. Every step is
//! audited in the tenant's log (the tenant sees its requests even with Lockbox off) and,
//! for provider-side steps, in the operator realm too.

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::lockbox::{
    check_duration, check_operations, LockboxEvent, LockboxFilter, LockboxRequest,
    LockboxRequestId, LockboxStatus, Refused,
};
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{ApiError, ApiResult};

pub const SETTING_CHANGED: &str = "Set-OrganizationConfig";
pub const REQUEST_FILED: &str = "New-AccessToCustomerDataRequest";
pub const REQUEST_INTERNAL_DECISION: &str = "Set-AccessToCustomerDataRequestInternalApproval";
/// The activity Microsoft 365 records for an approver's decision (and Candor for cancel
/// and revoke), with ApprovalDecision in the details.
pub const REQUEST_DECIDED: &str = "Set-AccessToCustomerDataRequest";

fn invalid(field: &'static str, problem: impl Into<String>) -> ApiError {
    ApiError::Invalid(InvalidValue::new(field, problem))
}

fn refused(r: Refused) -> ApiError {
    ApiError::Conflict(r.0)
}

/// Turns Customer Lockbox on or off for a tenant (Global Administrators only).
pub async fn set_enabled(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    enabled: bool,
) -> ApiResult<()> {
    authorize(actor, Action::ManageTenantSettings(tenant))?;
    let now = core.clock.now();
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, SETTING_CHANGED)
        .ip(ip)
        .details(json!({"CustomerLockBoxEnabled": enabled}));
    core.store
        .set_lockbox_enabled(tenant, enabled, now, vec![record])
        .await?;
    Ok(())
}

/// What a Support Engineer files.
#[derive(Debug, Clone)]
pub struct NewRequestInput {
    pub tenant: TenantId,
    pub workload: String,
    pub operations: Vec<String>,
    pub service_request: String,
    pub justification: String,
    pub duration_minutes: i64,
}

fn operator_of(actor: &Actor) -> ApiResult<(candor_domain::OperatorId, String)> {
    match actor {
        Actor::Operator {
            operator_id, email, ..
        } => Ok((*operator_id, email.clone())),
        _ => Err(ApiError::BadRequest(
            "only a person on the provider side files or cancels Lockbox requests".into(),
        )),
    }
}

pub async fn file_request(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: NewRequestInput,
) -> ApiResult<LockboxRequest> {
    authorize(actor, Action::FileLockboxRequest)?;
    let (requester, requester_name) = operator_of(actor)?;
    if core.store.get_tenant(input.tenant).await?.is_none() {
        return Err(invalid(
            "tenant",
            format!("tenant {} does not exist", input.tenant),
        ));
    }
    let workloads = core.store.list_workloads().await?;
    let workload = workloads
        .iter()
        .find(|w| w.name.eq_ignore_ascii_case(input.workload.trim()))
        .ok_or_else(|| {
            invalid(
                "workload",
                format!(
                    "`{}` is not a Lockbox workload ({})",
                    input.workload.chars().take(60).collect::<String>(),
                    workloads
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let operations = check_operations(&workload.name, &input.operations, &workload.operations)?;
    let service_request = input.service_request.trim();
    if service_request.is_empty() || service_request.chars().count() > 64 {
        return Err(invalid(
            "service request",
            "give the service request number (1 to 64 characters)",
        ));
    }
    let justification = input.justification.trim();
    if justification.chars().count() < 10 || justification.chars().count() > 2000 {
        return Err(invalid(
            "justification",
            "say why the data is needed in 10 to 2000 characters",
        ));
    }
    let duration = check_duration(input.duration_minutes)?;
    let now = core.clock.now();
    let request = LockboxRequest {
        id: LockboxRequestId::generate(),
        tenant: input.tenant,
        workload: workload.name.clone(),
        operations,
        service_request: service_request.to_owned(),
        justification: justification.to_owned(),
        duration,
        requester,
        requester_name,
        created_at: now,
        needs_customer: core.store.lockbox_enabled(input.tenant).await?,
        status: LockboxStatus::AwaitingInternalApproval,
        internal_decision: None,
        pending_since: None,
        customer_decision: None,
        access_start: None,
        access_end: None,
        ended: None,
    };
    let details = json!({
        "Workload": request.workload,
        "Operations": request.operations,
        "ServiceRequest": request.service_request,
        "DurationMinutes": duration.whole_minutes(),
        "LockboxEnabled": request.needs_customer,
    });
    let records = [AuditChain::Operator, AuditChain::Tenant(request.tenant)]
        .into_iter()
        .map(|chain| {
            NewAuditRecord::by(actor, chain, now, REQUEST_FILED)
                .ip(ip.clone())
                .item(request.id.to_string())
                .details(details.clone())
        })
        .collect();
    core.store.create_lockbox_request(&request, records).await?;
    Ok(request)
}

async fn load(core: &Core, id: &str) -> ApiResult<LockboxRequest> {
    let id: LockboxRequestId = id.parse()?;
    core.store
        .get_lockbox_request(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no Lockbox request {id}")))
}

/// How a step is recorded: its activity, the ApprovalDecision, and the comment.
struct Recorded<'a> {
    activity: &'a str,
    decision: &'a str,
    comment: Option<String>,
}

/// Applies `event`, saves it if nobody decided meanwhile, and audits it.
async fn transition(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    before: LockboxRequest,
    event: LockboxEvent,
    recorded: Recorded<'_>,
) -> ApiResult<LockboxRequest> {
    let Recorded {
        activity,
        decision,
        comment,
    } = recorded;
    let now = core.clock.now();
    let after = before.apply(&event, now).map_err(refused)?;
    let details =
        json!({"ApprovalDecision": decision, "Comment": comment, "Status": after.status.as_str()});
    let mut chains = vec![AuditChain::Tenant(before.tenant)];
    if matches!(actor, Actor::Operator { .. }) {
        chains.push(AuditChain::Operator);
    }
    let records = chains
        .into_iter()
        .map(|chain| {
            NewAuditRecord::by(actor, chain, now, activity)
                .ip(ip.clone())
                .item(before.id.to_string())
                .details(details.clone())
        })
        .collect();
    core.store
        .save_lockbox_request(&after, before.status, records)
        .await?;
    Ok(after)
}

/// A Support Manager (never the requester) approves or denies internally.
pub async fn decide_internally(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: &str,
    approve: bool,
    comment: Option<String>,
) -> ApiResult<LockboxRequest> {
    authorize(actor, Action::ApproveLockboxInternally)?;
    let (by, name) = operator_of(actor)?;
    let before = load(core, id).await?;
    let event = if approve {
        LockboxEvent::ApproveInternally { by, name }
    } else {
        LockboxEvent::DenyInternally {
            by,
            name,
            comment: comment.clone(),
        }
    };
    let decision = if approve { "Approve" } else { "Deny" };
    let recorded = Recorded {
        activity: REQUEST_INTERNAL_DECISION,
        decision,
        comment,
    };
    transition(core, actor, ip, before, event, recorded).await
}

/// What an approver, or the engineer, decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    Cancel,
}

impl std::str::FromStr for Decision {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "approve" => Ok(Decision::Approve),
            "deny" => Ok(Decision::Deny),
            "cancel" => Ok(Decision::Cancel),
            other => Err(InvalidValue::new(
                "decision",
                format!(
                    "`{}` is not Approve, Deny or Cancel",
                    other.chars().take(20).collect::<String>()
                ),
            )),
        }
    }
}

/// `Set-AccessToCustomerDataRequest`: a tenant approver approves or denies; the engineer
/// who filed the request cancels it.
pub async fn decide(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: &str,
    decision: Decision,
    comment: Option<String>,
) -> ApiResult<LockboxRequest> {
    let before = load(core, id).await?;
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(invalid("comment", "at most 2000 characters"));
    }
    let event = match decision {
        Decision::Cancel => {
            authorize(actor, Action::FileLockboxRequest)?;
            let (by, name) = operator_of(actor)?;
            LockboxEvent::Cancel { by, name }
        }
        Decision::Approve | Decision::Deny => {
            authorize(actor, Action::DecideLockboxRequest(before.tenant))?;
            let Actor::TenantUser { user_id, email, .. } = actor else {
                return Err(ApiError::BadRequest(
                    "only a person of the tenant approves or denies a Lockbox request".into(),
                ));
            };
            if decision == Decision::Approve {
                LockboxEvent::Approve {
                    by: *user_id,
                    name: email.clone(),
                    comment: comment.clone(),
                }
            } else {
                LockboxEvent::Deny {
                    by: *user_id,
                    name: email.clone(),
                    comment: comment.clone(),
                }
            }
        }
    };
    let word = match decision {
        Decision::Approve => "Approve",
        Decision::Deny => "Deny",
        Decision::Cancel => "Cancel",
    };
    let recorded = Recorded {
        activity: REQUEST_DECIDED,
        decision: word,
        comment,
    };
    transition(core, actor, ip, before, event, recorded).await
}

/// The tenant ends active access early; refused from that moment on.
pub async fn revoke(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: &str,
    comment: Option<String>,
) -> ApiResult<LockboxRequest> {
    let before = load(core, id).await?;
    authorize(actor, Action::DecideLockboxRequest(before.tenant))?;
    let Actor::TenantUser { user_id, email, .. } = actor else {
        return Err(ApiError::BadRequest(
            "only a person of the tenant revokes access".into(),
        ));
    };
    let event = LockboxEvent::Revoke {
        by: *user_id,
        name: email.clone(),
        comment: comment.clone(),
    };
    let recorded = Recorded {
        activity: REQUEST_DECIDED,
        decision: "Revoke",
        comment,
    };
    transition(core, actor, ip, before, event, recorded).await
}

/// The request under which `operator` may perform `operation` on `workload` in
/// `tenant` right now, if any. Decided against the clock, never against a job's record.
pub async fn covering_request(
    core: &Core,
    operator: candor_domain::OperatorId,
    tenant: TenantId,
    workload: &str,
    operation: &str,
) -> ApiResult<Option<LockboxRequest>> {
    let now = core.clock.now();
    let approved = core
        .store
        .list_lockbox_requests(&LockboxFilter {
            tenant: Some(tenant),
            requester: Some(operator),
            status: Some(LockboxStatus::Approved),
            created_after: None,
            limit: 100,
        })
        .await?;
    Ok(approved
        .into_iter()
        .find(|r| r.allows(workload, operation, now)))
}
