//! Retention of audit records (SPEC §7): a log may keep its records' bodies for a set
//! number of days (none by default: for good). Past that a record's body (who, from
//! where, what, on what, details) is deleted and only its place, time, hashes and Merkle
//! tree hashes stay, so the chain still links, the tree still has its root, and every
//! checkpoint and proof ever given still verifies. The provider sets it, per tenant,
//! as agreed with the tenant; the change is written to both logs.

use candor_domain::audit::{activity, AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::time_util::rfc3339;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::error::{AppError, AppResult};
use crate::Core;

/// The shortest retention: a month, so a mistyped setting cannot empty a log at once.
pub const MIN_DAYS: u32 = 30;
/// A hundred years.
pub const MAX_DAYS: u32 = 36_500;
/// Records pruned per statement: small enough not to hold the log's writers up long.
const PRUNE_BATCH: u32 = 2_000;

/// Where a log's retention ends: records that happened before this are past it.
pub fn cutoff(now: OffsetDateTime, days: u32) -> OffsetDateTime {
    now - Duration::days(i64::from(days))
}

fn check_days(days: Option<u32>) -> AppResult<Option<u32>> {
    match days {
        Some(d) if !(MIN_DAYS..=MAX_DAYS).contains(&d) => Err(AppError::Invalid(
            InvalidValue::new(
                "auditRetentionDays",
                format!(
                    "a log keeps its records from {MIN_DAYS} to {MAX_DAYS} days, or for good (none); {d} is outside that"
                ),
            ),
        )),
        other => Ok(other),
    }
}

/// Whether `actor` may set `chain`'s retention (asked before reading a request body).
pub fn may_set(actor: &Actor, chain: AuditChain) -> AppResult<()> {
    Ok(authorize(
        actor,
        match chain {
            AuditChain::Tenant(_) => Action::ManageTenants,
            AuditChain::Operator => Action::ManageOperators,
        },
    )?)
}

/// Sets how many days `chain` keeps its records' bodies (None: for good). A Provider
/// Administrator's change, recorded in the operator realm's log and in the tenant's.
pub async fn set(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    days: Option<u32>,
    ip: Option<String>,
) -> AppResult<()> {
    may_set(actor, chain)?;
    let days = check_days(days)?;
    if let AuditChain::Tenant(t) = chain {
        core.tenant(t).await?;
    }
    let key = chain.key();
    core.store.set_audit_retention(&key, days).await?;
    let now = core.clock.now();
    let details = json!({"Log": key, "RetentionDays": days});
    let mut records =
        vec![
            NewAuditRecord::by(actor, AuditChain::Operator, now, activity::RETENTION_SET)
                .ip(ip.clone())
                .item(key.clone())
                .details(details.clone()),
        ];
    if chain != AuditChain::Operator {
        records.push(
            NewAuditRecord::by(actor, chain, now, activity::RETENTION_SET)
                .ip(ip)
                .item(key)
                .details(details),
        );
    }
    core.store.append_audit(records).await?;
    Ok(())
}

/// How many days `chain` keeps its records' bodies, if it does not keep them for good.
pub async fn days_of(core: &Core, chain: AuditChain) -> AppResult<Option<u32>> {
    Ok(core.store.audit_retention(&chain.key()).await?)
}

/// What a search of `chain` from `from` cannot show, when it reaches past retention.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PastRetention {
    /// How many days this log keeps its records' bodies.
    pub days: u32,
    /// Records that happened before this time (RFC 3339) are past retention: their
    /// place and hashes are kept (proofs still verify), their contents are not.
    pub before: String,
    /// The same day as a date (`YYYY-MM-DD`), for pages.
    #[serde(skip)]
    pub before_date: String,
}

/// Whether a search of `chain` from `from` reaches past its retention, and so shows
/// none of the records there.
pub async fn notice(
    core: &Core,
    chain: AuditChain,
    from: OffsetDateTime,
) -> AppResult<Option<PastRetention>> {
    let Some(days) = days_of(core, chain).await? else {
        return Ok(None);
    };
    let before = cutoff(core.clock.now(), days);
    Ok((from < before).then(|| PastRetention {
        days,
        before: rfc3339(before),
        before_date: before.date().to_string(),
    }))
}

/// Deletes the bodies of every record past its log's retention, in batches. Returns how
/// many records were pruned. A job runs it hourly.
pub async fn prune_due(core: &Core) -> AppResult<u64> {
    let now = core.clock.now();
    let mut pruned = 0;
    for (chain, days) in core.store.audit_retentions().await? {
        let before = cutoff(now, days);
        loop {
            let n = core
                .store
                .prune_audit_records(&chain, before, PRUNE_BATCH)
                .await?;
            pruned += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retention_is_a_month_to_a_century_or_for_good() {
        assert!(check_days(None).unwrap().is_none());
        assert_eq!(check_days(Some(30)).unwrap(), Some(30));
        assert_eq!(check_days(Some(36_500)).unwrap(), Some(36_500));
        assert!(check_days(Some(29)).is_err());
        assert!(check_days(Some(0)).is_err());
        assert!(check_days(Some(36_501)).is_err());
        let now = time::macros::datetime!(2026-12-05 12:00 UTC);
        assert_eq!(
            cutoff(now, 30),
            time::macros::datetime!(2026-11-05 12:00 UTC)
        );
    }
}
