//! Customer Lockbox use cases: the tenant's setting, filing a request, the internal and
//! the customer decision, cancelling, revoking, and the access check. Every step is
//! audited in the tenant's log (the tenant sees its requests even with Lockbox off) and,
//! for provider-side steps, in the operator realm too.

use candor_domain::audit::{ActorKind, AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::lockbox::{
    check_duration, check_operations, LockboxEvent, LockboxFilter, LockboxRequest,
    LockboxRequestId, LockboxStatus, Refused, SignatureCheck, Workload,
};
use candor_domain::store::StoreError;
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{AppError, AppResult};

pub const SETTING_CHANGED: &str = "Set-OrganizationConfig";
pub const REQUEST_FILED: &str = "New-AccessToCustomerDataRequest";
pub const REQUEST_INTERNAL_DECISION: &str = "Set-AccessToCustomerDataRequestInternalApproval";
/// The activity Microsoft 365 records for an approver's decision (and Candor for cancel
/// and revoke), with ApprovalDecision in the details.
pub const REQUEST_DECIDED: &str = "Set-AccessToCustomerDataRequest";
/// Recorded by the deadline job once a request's decision window has passed.
pub const REQUEST_EXPIRED: &str = "Expire-AccessToCustomerDataRequest";
/// Recorded by the deadline job once a grant's duration has run out.
pub const ACCESS_ENDED: &str = "Complete-AccessToCustomerDataRequest";

fn invalid(field: &'static str, problem: impl Into<String>) -> AppError {
    AppError::Invalid(InvalidValue::new(field, problem))
}

fn refused(r: Refused) -> AppError {
    AppError::not_now(r.0)
}

/// Turns Customer Lockbox on or off for a tenant (Global Administrators only).
pub async fn set_enabled(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    enabled: bool,
) -> AppResult<()> {
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

/// The person on the provider side taking a Lockbox step. Machine credentials (operator
/// clients) never file, approve or cancel: every provider step has a person's name on it,
/// so "never one's own request" means what it says.
fn operator_of(actor: &Actor) -> AppResult<(candor_domain::OperatorId, String)> {
    match actor {
        Actor::Operator {
            operator_id, email, ..
        } if !email.starts_with("svc:") => Ok((*operator_id, email.clone())),
        Actor::Operator { .. } => Err(AppError::Forbidden(candor_domain::identity::Denied {
            reason: candor_domain::identity::DenyReason::MissingRole,
            message: "Lockbox requests are filed, approved internally and canceled by people, in the console; operator clients cannot".into(),
        })),
        _ => Err(AppError::Refused(
            "only a person on the provider side files, approves internally or cancels Lockbox requests".into(),
        )),
    }
}

pub async fn file_request(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: NewRequestInput,
) -> AppResult<LockboxRequest> {
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
    // It goes into the approvers' emails, which must never carry anything linkable.
    if service_request.is_empty()
        || service_request.chars().count() > 64
        || !service_request
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '#'))
    {
        return Err(invalid(
            "service request",
            "give the service request number: 1 to 64 letters, digits, spaces, - _ or #",
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
    core.store
        .create_lockbox_request(&request, records, vec![])
        .await?;
    Ok(request)
}

async fn load(core: &Core, id: LockboxRequestId) -> AppResult<LockboxRequest> {
    core.store
        .get_lockbox_request(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no Lockbox request {id}")))
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
) -> AppResult<LockboxRequest> {
    let Recorded {
        activity,
        decision,
        comment,
    } = recorded;
    let now = core.clock.now();
    let mut after = before.apply(&event, now).map_err(refused)?;
    after.sign_decisions(&core.keys.audit.key_id, &core.keys.audit.signing);
    let mut details =
        json!({"ApprovalDecision": decision, "Comment": comment, "Status": after.status.as_str()});
    // The signature goes into the log with the decision, so a tenant who checks the log
    // holds every decision's signature as the log recorded it.
    if let Some((step, sig)) = after.signed_since(&before).into_iter().next() {
        details["Signature"] =
            json!({"Step": step.as_str(), "KeyId": sig.key_id, "Value": sig.value});
    }
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
    let notices = if core.send_notifications {
        super::lockbox_mail::notifications(core, before.status, &after).await?
    } else {
        Vec::new()
    };
    let saved = core
        .store
        .save_lockbox_request(&after, before.status, records, notices)
        .await;
    // Even a failed save may have raced another change: forget what was loaded.
    match saved {
        Ok(()) => core.lockbox_changed().await,
        Err(e) => {
            core.grants.changed();
            return Err(e.into());
        }
    }
    Ok(after)
}

/// A Support Manager (never the requester) approves or denies internally.
pub async fn decide_internally(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: LockboxRequestId,
    approve: bool,
    comment: Option<String>,
) -> AppResult<LockboxRequest> {
    authorize(actor, Action::ApproveLockboxInternally)?;
    let (by, name) = operator_of(actor)?;
    let mut before = load(core, id).await?;
    let comment = check_comment(comment)?;
    // Lockbox turned on since the request was filed: the tenant decides all the same.
    if approve && !before.needs_customer && core.store.lockbox_enabled(before.tenant).await? {
        before.needs_customer = true;
    }
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

fn check_comment(comment: Option<String>) -> AppResult<Option<String>> {
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(invalid("comment", "at most 2000 characters"));
    }
    Ok(comment)
}

/// Who a tenant-side decision is recorded as: the person, or the app.
fn tenant_decider(actor: &Actor) -> AppResult<String> {
    match actor {
        Actor::TenantUser { email, .. } => Ok(email.clone()),
        Actor::ApiClient { client_id, .. } => Ok(format!("app:{client_id}")),
        _ => Err(AppError::Refused(
            "only the tenant approves, denies or revokes a Lockbox request".into(),
        )),
    }
}

/// `Set-AccessToCustomerDataRequest`: a tenant approver approves or denies; the engineer
/// who filed the request cancels it.
pub async fn decide(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: LockboxRequestId,
    decision: Decision,
    comment: Option<String>,
) -> AppResult<LockboxRequest> {
    let before = load(core, id).await?;
    let comment = check_comment(comment)?;
    let event = match decision {
        Decision::Cancel => {
            authorize(actor, Action::FileLockboxRequest)?;
            let (by, name) = operator_of(actor)?;
            LockboxEvent::Cancel { by, name }
        }
        Decision::Approve | Decision::Deny => {
            authorize(actor, Action::DecideLockboxRequest(before.tenant))?;
            let name = tenant_decider(actor)?;
            if decision == Decision::Approve {
                LockboxEvent::Approve {
                    name,
                    comment: comment.clone(),
                }
            } else {
                LockboxEvent::Deny {
                    name,
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
    id: LockboxRequestId,
    comment: Option<String>,
) -> AppResult<LockboxRequest> {
    let before = load(core, id).await?;
    authorize(actor, Action::DecideLockboxRequest(before.tenant))?;
    let comment = check_comment(comment)?;
    let event = LockboxEvent::Revoke {
        name: tenant_decider(actor)?,
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
) -> AppResult<Option<LockboxRequest>> {
    let approved = match core.grants.approved(operator, tenant) {
        Some(hit) => hit,
        None => {
            let generation = core.grants.generation();
            // A grant works only for an engineer who still exists and is enabled.
            let active = core
                .store
                .get_operator(operator)
                .await?
                .is_some_and(|o| !o.disabled);
            let loaded = std::sync::Arc::new(if active {
                core.store
                    .list_lockbox_requests(&LockboxFilter {
                        tenant: Some(tenant),
                        requester: Some(operator),
                        status: Some(LockboxStatus::Approved),
                        created_after: None,
                        before: None,
                        limit: 100,
                    })
                    .await?
            } else {
                Vec::new()
            });
            core.grants
                .remember(operator, tenant, generation, loaded.clone());
            loaded
        }
    };
    // The clock decides on every call, cached or not.
    let now = core.clock.now();
    Ok(approved
        .iter()
        .find(|r| r.allows(workload, operation, now))
        .cloned())
}

/// Records what time alone decided (expiry, end of access) for requests whose deadline
/// has passed, in batches. Access was already refused from the deadline on; this only
/// writes it down, in the request and in the tenant's audit log. Safe to run on several
/// instances at once: a request someone else saved first is skipped.
pub async fn record_deadlines(core: &Core) -> AppResult<usize> {
    const BATCH: u32 = 200;
    let mut recorded = 0;
    loop {
        let now = core.clock.now();
        let due = core
            .store
            .lockbox_requests_past_deadline(now, BATCH)
            .await?;
        let mut progressed = false;
        let full = due.len() == BATCH as usize;
        for before in due {
            let status = before.status_at(now);
            if status == before.status {
                continue;
            }
            let mut after = before.clone();
            after.status = status;
            let (activity, deadline) = if status == LockboxStatus::Expired {
                (REQUEST_EXPIRED, before.decision_deadline())
            } else {
                (ACCESS_ENDED, before.access_end)
            };
            let record = NewAuditRecord::new(
                AuditChain::Tenant(before.tenant),
                now,
                "system",
                ActorKind::System,
                activity,
            )
            .item(before.id.to_string())
            .details(json!({
                "Status": status.as_str(),
                "Deadline": deadline.map(candor_domain::time_util::rfc3339),
            }));
            let notices = if core.send_notifications {
                super::lockbox_mail::notifications(core, before.status, &after).await?
            } else {
                Vec::new()
            };
            match core
                .store
                .save_lockbox_request(&after, before.status, vec![record], notices)
                .await
            {
                Ok(()) => {
                    core.lockbox_changed().await;
                    recorded += 1;
                    progressed = true;
                }
                // Another instance, or a person, got there first.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !full || !progressed {
            return Ok(recorded);
        }
    }
}

/// The audit records (in the tenant's log) each signed decision of a request was
/// written as: the record whose details carry that decision's signature.
pub async fn decision_records(
    core: &Core,
    request: &LockboxRequest,
) -> AppResult<
    Vec<(
        candor_domain::lockbox::DecisionStep,
        candor_domain::audit::AuditRecord,
    )>,
> {
    use candor_domain::audit::{AuditQuery, AuditQueryInput};
    use candor_domain::lockbox::DecisionStep;
    let mut found = Vec::new();
    for step in DecisionStep::ALL {
        let Some(d) = request.decision(step) else {
            continue;
        };
        let Some(sig) = &d.signature else {
            continue;
        };
        // Written in the same transaction as the decision, at the decision's time.
        let query = AuditQuery::parse(
            AuditChain::Tenant(request.tenant),
            AuditQueryInput {
                from: Some(d.at),
                to: Some(d.at + time::Duration::seconds(1)),
                item: Some(request.id.to_string()),
                limit: Some(50),
                ..Default::default()
            },
        )?;
        let records = core.store.search_audit(&query).await?;
        if let Some(r) = records.into_iter().find(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details)
                .ok()
                .is_some_and(|d| d["Signature"]["Value"].as_str() == Some(sig.value.as_str()))
        }) {
            found.push((step, r));
        }
    }
    Ok(found)
}

/// One request's decisions checked against their signatures (`candor lockbox verify`).
pub async fn verify(
    core: &Core,
    id: LockboxRequestId,
) -> AppResult<(LockboxRequest, Vec<SignatureCheck>)> {
    let request = load(core, id).await?;
    let checks = request.verify_decisions(|key_id| core.keys.audit_verifiers.get(key_id).copied());
    Ok((request, checks))
}

/// What a caller asks to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The request's status now (deadlines included).
    pub status: Option<LockboxStatus>,
    pub created_after: Option<time::OffsetDateTime>,
    /// Operators: only one tenant's requests.
    pub tenant: Option<TenantId>,
    /// Operators: only their own requests (engineers only ever see their own).
    pub mine: bool,
    pub before: Option<(time::OffsetDateTime, LockboxRequestId)>,
    pub limit: u32,
}

/// Which requests `actor` may see: a tenant its own; a Support Manager all (their queue);
/// a Support Engineer those they filed.
fn visible_to(actor: &Actor, q: &ListQuery) -> AppResult<LockboxFilter> {
    let mut filter = LockboxFilter {
        tenant: q.tenant,
        requester: None,
        status: None,
        created_after: q.created_after,
        before: q.before,
        limit: q.limit.clamp(1, 500),
    };
    match actor {
        Actor::TenantUser { tenant_id, .. } | Actor::ApiClient { tenant_id, .. } => {
            authorize(actor, Action::ReadLockboxRequests(*tenant_id))?;
            filter.tenant = Some(*tenant_id);
        }
        Actor::Operator { operator_id, .. } => {
            if q.mine || authorize(actor, Action::ApproveLockboxInternally).is_err() {
                authorize(actor, Action::FileLockboxRequest)
                    .or_else(|_| authorize(actor, Action::ApproveLockboxInternally))?;
                filter.requester = Some(*operator_id);
            }
        }
        Actor::System => {}
    }
    Ok(filter)
}

/// Requests the caller may see, newest first. A status filter matches the status at
/// this moment; requests whose deadline passed less than a minute ago may still carry
/// their earlier recorded status until the deadline job writes it down.
pub async fn list(core: &Core, actor: &Actor, q: ListQuery) -> AppResult<Vec<LockboxRequest>> {
    Ok(list_page(core, actor, q).await?.items)
}

/// One page of requests and where the next page starts. The continuation comes from the
/// store's page before the status filter, so a page thinned by the filter (requests whose
/// status changed with time) is never mistaken for the last one.
pub struct RequestPage {
    pub items: Vec<LockboxRequest>,
    pub next: Option<(time::OffsetDateTime, LockboxRequestId)>,
}

pub async fn list_page(core: &Core, actor: &Actor, q: ListQuery) -> AppResult<RequestPage> {
    let mut filter = visible_to(actor, &q)?;
    filter.status = q.status;
    let now = core.clock.now();
    let found = core.store.list_lockbox_requests(&filter).await?;
    let next = if found.len() >= filter.limit as usize {
        found.last().map(|r| (r.created_at, r.id))
    } else {
        None
    };
    let items = found
        .into_iter()
        .map(|mut r| {
            r.status = r.status_at(now);
            r
        })
        .filter(|r| q.status.is_none_or(|s| r.status == s))
        .collect();
    Ok(RequestPage { items, next })
}

/// One request, if the caller may see it (as "not found" otherwise, so nobody learns
/// that another tenant's request exists). Its status is the status now.
pub async fn get(core: &Core, actor: &Actor, id: LockboxRequestId) -> AppResult<LockboxRequest> {
    let mut request = load(core, id).await?;
    let hidden = || AppError::NotFound(format!("there is no Lockbox request {id}"));
    match actor {
        Actor::TenantUser { tenant_id, .. } | Actor::ApiClient { tenant_id, .. } => {
            authorize(actor, Action::ReadLockboxRequests(*tenant_id))?;
            if *tenant_id != request.tenant {
                return Err(hidden());
            }
        }
        Actor::Operator { operator_id, .. } => {
            let manager = authorize(actor, Action::ApproveLockboxInternally).is_ok();
            if !manager {
                authorize(actor, Action::FileLockboxRequest)?;
                if *operator_id != request.requester {
                    return Err(hidden());
                }
            }
        }
        Actor::System => {}
    }
    request.status = request.status_at(core.clock.now());
    Ok(request)
}

/// A person who may approve a tenant's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// The tenant's Global Administrators and Customer Lockbox Access Approvers (enabled),
/// so an approver sees who else may decide, and so they can be told.
pub async fn approvers(core: &Core, tenant: TenantId) -> AppResult<Vec<Approver>> {
    use candor_domain::identity::TenantRole;
    let mut people: Vec<Approver> = approver_users(core, tenant)
        .await?
        .into_iter()
        .map(|u| Approver {
            email: u.email.to_string(),
            display_name: u.display_name,
            roles: u
                .roles
                .0
                .iter()
                .filter(|r| {
                    matches!(
                        r,
                        TenantRole::GlobalAdministrator | TenantRole::CustomerLockboxAccessApprover
                    )
                })
                .map(|r| r.as_str().to_owned())
                .collect(),
        })
        .collect();
    people.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(people)
}

/// The enabled Global Administrators and Customer Lockbox Access Approvers of a tenant.
pub async fn approver_users(
    core: &Core,
    tenant: TenantId,
) -> AppResult<Vec<candor_domain::identity::TenantUser>> {
    use candor_domain::identity::TenantRole;
    Ok(core
        .store
        .list_users(tenant)
        .await?
        .into_iter()
        .filter(|u| !u.disabled)
        .filter(|u| {
            u.roles.contains(TenantRole::GlobalAdministrator)
                || u.roles.contains(TenantRole::CustomerLockboxAccessApprover)
        })
        .collect())
}

/// What a data-plane service asks before an engineer's operation.
#[derive(Debug, Clone)]
pub struct AccessQuestion {
    /// The engineer: their operator id or email address.
    pub operator: String,
    pub tenant: TenantId,
    pub workload: String,
    pub operation: String,
}

/// The answer: the covering request, or why there is none.
#[derive(Debug, Clone)]
pub enum AccessAnswer {
    Allow(Box<LockboxRequest>),
    Deny(String),
}

async fn resolve_operator(core: &Core, who: &str) -> AppResult<Option<candor_domain::OperatorId>> {
    let who = who.trim();
    if let Ok(id) = who.parse::<uuid::Uuid>() {
        return Ok(Some(candor_domain::OperatorId(id)));
    }
    let Ok(email) = candor_domain::identity::EmailAddress::parse(who) else {
        return Err(invalid(
            "operator",
            "give the engineer's operator id or email address",
        ));
    };
    Ok(core
        .store
        .find_operator_by_email(&email)
        .await?
        .filter(|o| !o.disabled)
        .map(|o| o.id))
}

/// The decision point for data-plane services: is this operation by this engineer on
/// this tenant covered, right now, by an approved grant? Decided against the clock.
pub async fn check_access(
    core: &Core,
    actor: &Actor,
    q: &AccessQuestion,
) -> AppResult<AccessAnswer> {
    authorize(actor, Action::EnforceLockbox)?;
    if q.workload.trim().is_empty() || q.operation.trim().is_empty() {
        return Err(invalid("workload", "name the workload and the operation"));
    }
    let Some(operator) = resolve_operator(core, &q.operator).await? else {
        return Ok(AccessAnswer::Deny(format!(
            "{} is not an active operator",
            q.operator.chars().take(100).collect::<String>()
        )));
    };
    if let Some(r) = covering_request(
        core,
        operator,
        q.tenant,
        q.workload.trim(),
        q.operation.trim(),
    )
    .await?
    {
        return Ok(AccessAnswer::Allow(Box::new(r)));
    }
    Ok(AccessAnswer::Deny(why_not(core, operator, q).await?))
}

/// Explains a refusal from the engineer's latest requests for the tenant.
async fn why_not(
    core: &Core,
    operator: candor_domain::OperatorId,
    q: &AccessQuestion,
) -> AppResult<String> {
    let now = core.clock.now();
    let recent = core
        .store
        .list_lockbox_requests(&LockboxFilter {
            tenant: Some(q.tenant),
            requester: Some(operator),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let workload = q.workload.trim();
    let operation = q.operation.trim();
    let same_workload: Vec<&LockboxRequest> = recent
        .iter()
        .filter(|r| r.workload.eq_ignore_ascii_case(workload))
        .collect();
    if let Some(active) = same_workload
        .iter()
        .find(|r| r.status_at(now) == LockboxStatus::Approved)
    {
        return Ok(format!(
            "the approved request {} covers {} only, not {operation}",
            active.id,
            active
                .operations
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(match same_workload.first() {
        None => format!(
            "no Lockbox request by this operator for {workload} in this tenant; file one and have it approved"
        ),
        Some(latest) => {
            let status = latest.status_at(now);
            let when = match status {
                LockboxStatus::Completed | LockboxStatus::Revoked | LockboxStatus::Canceled => {
                    latest
                        .access_end
                        .map(|t| format!(" (access ended {})", candor_domain::time_util::rfc3339(t)))
                        .unwrap_or_default()
                }
                _ => String::new(),
            };
            format!(
                "the latest request for {workload}, {}, is {status}{when}; no grant is active",
                latest.id
            )
        }
    })
}

/// What a data-plane service reports after an engineer's operation.
#[derive(Debug, Clone)]
pub struct ActionReport {
    pub question: AccessQuestion,
    /// The grant the service was told about, if it kept it: must be the covering one.
    pub request_id: Option<String>,
    /// What the operation touched, in the service's words (a mailbox, say).
    pub target: Option<String>,
}

/// What became of a report: recorded under a grant, or refused (and the refusal recorded).
#[derive(Debug, Clone)]
pub enum ReportOutcome {
    Recorded(Box<LockboxRequest>),
    Refused(String),
}

/// Records an operation an engineer performed in the tenant's audit log (User
/// `Operator`, Activity = the operation, Item = the request id) and, with the engineer's
/// name, in the provider's own log. A report no grant covers is refused, and that
/// refusal is recorded in both logs too.
pub async fn report_action(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    report: ActionReport,
) -> AppResult<ReportOutcome> {
    authorize(actor, Action::EnforceLockbox)?;
    let q = &report.question;
    if core.store.get_tenant(q.tenant).await?.is_none() {
        return Err(invalid(
            "tenant",
            format!("tenant {} does not exist", q.tenant),
        ));
    }
    let operation = q.operation.trim();
    // Only operations a workload knows become Activities in a tenant's audit log.
    let workloads = core.store.list_workloads().await?;
    let known = workloads.iter().any(|w| {
        w.name.eq_ignore_ascii_case(q.workload.trim())
            && w.operations.iter().any(|o| o == operation)
    });
    if !known {
        return Err(invalid(
            "operation",
            format!(
                "`{}` is not an operation of the workload `{}`",
                operation.chars().take(100).collect::<String>(),
                q.workload.trim().chars().take(100).collect::<String>()
            ),
        ));
    }
    let target = report
        .target
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(500).collect::<String>());
    let claimed = match report.request_id.as_deref() {
        Some(id) => Some(id.parse::<LockboxRequestId>()?),
        None => None,
    };
    let answer = check_access(core, actor, q).await?;
    let (outcome, item, details) = match answer {
        AccessAnswer::Allow(r) if claimed.is_none_or(|c| c == r.id) => {
            let details = json!({
                "Result": "Succeeded",
                "Workload": r.workload,
                "Target": target,
                "ReportedBy": actor.audit_name(),
            });
            (ReportOutcome::Recorded(r.clone()), Some(r.id), details)
        }
        AccessAnswer::Allow(r) => {
            let reason = format!(
                "the operation is covered by request {}, not by the request named",
                r.id
            );
            let details = json!({"Result": "Refused", "Reason": reason, "Workload": q.workload.trim(), "Target": target, "ReportedBy": actor.audit_name()});
            (ReportOutcome::Refused(reason), claimed, details)
        }
        AccessAnswer::Deny(reason) => {
            let details = json!({"Result": "Refused", "Reason": reason, "Workload": q.workload.trim(), "Target": target, "ReportedBy": actor.audit_name()});
            (ReportOutcome::Refused(reason), claimed, details)
        }
    };
    let now = core.clock.now();
    let engineer = q.operator.trim().chars().take(200).collect::<String>();
    let mut tenant_record = NewAuditRecord::new(
        AuditChain::Tenant(q.tenant),
        now,
        "Operator",
        ActorKind::Operator,
        operation,
    )
    .ip(ip.clone())
    .details(details.clone());
    let mut provider_details = details;
    provider_details["Tenant"] = json!(q.tenant.to_string());
    let mut provider_record = NewAuditRecord::new(
        AuditChain::Operator,
        now,
        engineer,
        ActorKind::Operator,
        operation,
    )
    .ip(ip)
    .details(provider_details);
    if let Some(item) = item {
        tenant_record = tenant_record.item(item.to_string());
        provider_record = provider_record.item(item.to_string());
    }
    core.store
        .append_audit(vec![tenant_record, provider_record])
        .await?;
    Ok(outcome)
}

/// Adds or changes a workload and its pre-approved operations (Provider Admins).
pub async fn put_workload(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    name: &str,
    operations: &[String],
) -> AppResult<Workload> {
    authorize(actor, Action::ManageTopology)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid("workload", "give a name of 1 to 100 characters"));
    }
    let mut ops: Vec<String> = Vec::new();
    for op in operations
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
    {
        if op.chars().count() > 100
            || !op
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(
                "operations",
                format!(
                    "`{}` is not an operation name (letters, digits, - _ . up to 100)",
                    op.chars().take(40).collect::<String>()
                ),
            ));
        }
        if !ops.iter().any(|o| o.eq_ignore_ascii_case(op)) {
            ops.push(op.to_owned());
        }
    }
    if ops.is_empty() {
        return Err(invalid("operations", "name at least one operation"));
    }
    let workload = Workload {
        name: name.to_owned(),
        operations: ops,
    };
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        "Set-LockboxWorkload",
    )
    .ip(ip)
    .item(workload.name.clone())
    .details(json!({"Operations": workload.operations}));
    core.store.put_workload(&workload, vec![record]).await?;
    Ok(workload)
}
