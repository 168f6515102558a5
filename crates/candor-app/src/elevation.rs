//! Internal elevation (no standing access): an operator asks for a privileged role for a
//! while and a reason; another operator who holds that role right now approves; the role
//! is held until the time runs out or it is revoked. Every step is audited in the
//! operator realm's log. Who holds what is worked out at each request from the clock.

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::elevation::{
    effective_roles, is_privileged, Elevation, ElevationId, ElevationStatus, PRIVILEGED_ROLES,
};
use candor_domain::identity::{Actor, InvalidValue, OperatorRole, OperatorRoles};
use candor_domain::OperatorId;
use serde_json::json;

use super::Core;
use crate::error::{AppError, AppResult};

pub const ELEVATION_REQUESTED: &str = "New-Elevation";
pub const ELEVATION_DECIDED: &str = "Set-Elevation";
pub const ELEVATION_REVOKED: &str = "Revoke-Elevation";

fn person(actor: &Actor) -> AppResult<(OperatorId, String, OperatorRoles)> {
    match actor {
        Actor::Operator {
            operator_id,
            email,
            roles,
        } if !email.starts_with("svc:") => Ok((*operator_id, email.clone(), roles.clone())),
        _ => Err(AppError::Refused(
            "elevations are for people on the provider side".into(),
        )),
    }
}

/// The roles an operator holds now: their standing roles plus active elevations.
pub async fn roles_now(
    core: &Core,
    operator: OperatorId,
    standing: &OperatorRoles,
) -> AppResult<OperatorRoles> {
    let active = core
        .store
        .list_elevations(Some(operator), Some(ElevationStatus::Active), 20)
        .await?;
    Ok(effective_roles(standing, &active, core.clock.now()))
}

/// Asks for a privileged role for `minutes` (15 to 480), saying why.
pub async fn request(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    role: &str,
    reason: &str,
    minutes: i64,
) -> AppResult<Elevation> {
    let (me, name, roles) = person(actor)?;
    let role: OperatorRole = role
        .parse()
        .map_err(|e: candor_domain::identity::UnknownName| {
            AppError::Invalid(InvalidValue::new("role", e.to_string()))
        })?;
    if !is_privileged(role) {
        return Err(AppError::Invalid(InvalidValue::new(
            "role",
            format!(
                "{role} is not privileged and is assigned directly; elevations are for {}",
                PRIVILEGED_ROLES
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )));
    }
    if roles.contains(role) {
        return Err(AppError::not_now(format!("you already hold {role}")));
    }
    let now = core.clock.now();
    let open = core
        .store
        .list_elevations(Some(me), Some(ElevationStatus::Requested), 20)
        .await?;
    if open
        .iter()
        .any(|e| e.role == role && e.status_at(now) == ElevationStatus::Requested)
    {
        return Err(AppError::not_now(format!(
            "you already asked for {role}; wait for a decision"
        )));
    }
    let elevation = Elevation::new(me, role, reason, minutes, now)?;
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, ELEVATION_REQUESTED)
        .ip(ip)
        .item(elevation.id.to_string())
        .details(json!({
            "Role": role.as_str(),
            "Reason": elevation.reason,
            "DurationMinutes": minutes,
            "Requester": name,
        }));
    core.store
        .create_elevation(&elevation, vec![record])
        .await?;
    Ok(elevation)
}

async fn load(core: &Core, id: ElevationId) -> AppResult<Elevation> {
    core.store
        .get_elevation(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no elevation {id}")))
}

/// Another operator who holds the role now approves or denies.
pub async fn decide(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: ElevationId,
    approve: bool,
    comment: Option<String>,
) -> AppResult<Elevation> {
    let (me, name, roles) = person(actor)?;
    let before = load(core, id).await?;
    let now = core.clock.now();
    let comment = comment
        .map(|c| c.trim().chars().take(1000).collect::<String>())
        .filter(|c| !c.is_empty());
    // Who may decide is a question of rights (403); the elevation's state (decided,
    // expired) is a conflict (409). The domain checks both again.
    let denied = |message: String| {
        AppError::Forbidden(candor_domain::identity::Denied {
            reason: candor_domain::identity::DenyReason::MissingRole,
            message,
        })
    };
    if before.operator == me {
        return Err(denied(
            "nobody approves their own elevation; another operator must".into(),
        ));
    }
    if !roles.contains(before.role) {
        return Err(denied(format!(
            "only an operator who holds {} may decide on an elevation to it",
            before.role
        )));
    }
    let after = before
        .decide(me, &name, &roles, approve, comment.clone(), now)
        .map_err(|r| AppError::not_now(r.0))?;
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, ELEVATION_DECIDED)
        .ip(ip)
        .item(before.id.to_string())
        .details(json!({
            "ApprovalDecision": if approve { "Approve" } else { "Deny" },
            "Role": before.role.as_str(),
            "Operator": before.operator.to_string(),
            "Comment": comment,
            "ActiveUntil": after.active_until.map(candor_domain::time_util::rfc3339),
        }));
    core.store
        .save_elevation(&after, before.status, vec![record])
        .await?;
    Ok(after)
}

/// Ends an active elevation early: its holder, or anyone holding the role.
pub async fn revoke(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: ElevationId,
) -> AppResult<Elevation> {
    let (me, _, roles) = person(actor)?;
    let before = load(core, id).await?;
    if before.operator != me && !roles.contains(before.role) {
        return Err(AppError::Forbidden(candor_domain::identity::Denied {
            reason: candor_domain::identity::DenyReason::MissingRole,
            message: format!(
                "only the holder, or someone holding {}, ends an elevation",
                before.role
            ),
        }));
    }
    let now = core.clock.now();
    let after = before.revoke(now).map_err(|r| AppError::not_now(r.0))?;
    let record = NewAuditRecord::by(actor, AuditChain::Operator, now, ELEVATION_REVOKED)
        .ip(ip)
        .item(before.id.to_string())
        .details(json!({"Role": before.role.as_str(), "Operator": before.operator.to_string()}));
    core.store
        .save_elevation(&after, before.status, vec![record])
        .await?;
    Ok(after)
}

/// What the elevation page shows: the caller's own elevations, and the requests they may
/// decide (for roles they hold now, not their own). Statuses are as of now.
pub async fn overview(core: &Core, actor: &Actor) -> AppResult<(Vec<Elevation>, Vec<Elevation>)> {
    let (me, _, roles) = person(actor)?;
    let now = core.clock.now();
    let at_now = |mut e: Elevation| {
        e.status = e.status_at(now);
        e
    };
    let mine = core
        .store
        .list_elevations(Some(me), None, 50)
        .await?
        .into_iter()
        .map(at_now)
        .collect();
    let waiting = core
        .store
        .list_elevations(None, Some(ElevationStatus::Requested), 200)
        .await?
        .into_iter()
        .map(at_now)
        .filter(|e| {
            e.status == ElevationStatus::Requested && e.operator != me && roles.contains(e.role)
        })
        .collect();
    Ok((mine, waiting))
}

pub const ELEVATION_EXPIRED: &str = "Expire-Elevation";
pub const ELEVATION_ENDED: &str = "End-Elevation";

/// Records what time alone decided: requests nobody approved within 12 hours expired,
/// active elevations reached their end. The role was already refused from that moment
/// (roles are worked out against the clock); this writes it down in the operator log.
pub async fn record_deadlines(core: &Core) -> AppResult<usize> {
    let now = core.clock.now();
    let mut recorded = 0;
    for status in [ElevationStatus::Requested, ElevationStatus::Active] {
        for before in core.store.list_elevations(None, Some(status), 500).await? {
            let current = before.status_at(now);
            if current == before.status {
                continue;
            }
            let mut after = before.clone();
            after.status = current;
            let activity = if current == ElevationStatus::Expired {
                ELEVATION_EXPIRED
            } else {
                ELEVATION_ENDED
            };
            let record = NewAuditRecord::new(
                AuditChain::Operator,
                now,
                "system",
                candor_domain::audit::ActorKind::System,
                activity,
            )
            .item(before.id.to_string())
            .details(json!({
                "Role": before.role.as_str(),
                "Operator": before.operator.to_string(),
                "ActiveUntil": before.active_until.map(candor_domain::time_util::rfc3339),
            }));
            match core
                .store
                .save_elevation(&after, before.status, vec![record])
                .await
            {
                Ok(()) => recorded += 1,
                Err(candor_domain::store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(recorded)
}
