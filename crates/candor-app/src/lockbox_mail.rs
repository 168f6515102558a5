//! The emails a Lockbox step sends, composed in each reader's language and queued as
//! deliveries in the same transaction as the step (retried and logged like any news;
//! the engineer's mail is for the provider's eyes and stays out of the tenant's log). They carry **no link of any
//! form**: anything that came from a person (a case number, a comment, a tenant name)
//! and looks like an address is left out and the reader is sent to the portal instead.

use candor_domain::email::{contains_link, link_free_or, OutboundEmail};
use candor_domain::health::{NewDelivery, Realm};
use candor_domain::language::Language;
use candor_domain::lockbox::{LockboxRequest, LockboxStatus};

use super::Core;
use crate::error::AppResult;
use crate::i18n::Tr;

fn field(tr: &Tr, key: &str, value: &str) -> String {
    format!("{}: {}", tr.t(key), value)
}

/// The email telling one approver that a request waits for them.
pub fn pending_email(
    tr: &Tr,
    to: &str,
    tenant_name: &str,
    request: &LockboxRequest,
    approvers: usize,
) -> OutboundEmail {
    let hidden = tr.t("lockbox-mail-value-hidden");
    let tenant = link_free_or(tenant_name, &hidden).to_owned();
    let deadline = request
        .decision_deadline()
        .map(|t| tr.time(&t))
        .unwrap_or_default();
    let ops: Vec<&str> = request.operations.iter().map(String::as_str).collect();
    let body = [
        tr.t("lockbox-mail-pending-intro"),
        String::new(),
        field(tr, "lockbox-mail-field-request", &request.id.to_string()),
        field(
            tr,
            "lockbox-mail-field-workload",
            link_free_or(&request.workload, &hidden),
        ),
        field(
            tr,
            "lockbox-mail-field-operations",
            link_free_or(&ops.join(", "), &hidden),
        ),
        field(
            tr,
            "lockbox-mail-field-service-request",
            link_free_or(&request.service_request, &hidden),
        ),
        field(
            tr,
            "lockbox-mail-field-duration",
            &tr.ta(
                "lockbox-minutes",
                &[("minutes", request.duration.whole_minutes().to_string())],
            ),
        ),
        field(tr, "lockbox-mail-field-deadline", &deadline),
        String::new(),
        tr.ta("lockbox-mail-others", &[("count", approvers.to_string())]),
        String::new(),
        tr.t("lockbox-mail-where"),
        String::new(),
        tr.t("lockbox-mail-no-links"),
    ]
    .join("\n");
    OutboundEmail {
        to: to.to_owned(),
        subject: tr.ta("lockbox-mail-pending-subject", &[("tenant", tenant)]),
        body,
        kind: "lockbox.pending".into(),
        tenant: Some(request.tenant),
        delivery_id: None,
        unsubscribe: None,
        html: None,
    }
}

/// The email telling the engineer who filed a request what was decided.
pub fn decided_email(
    tr: &Tr,
    to: &str,
    tenant_name: &str,
    request: &LockboxRequest,
) -> OutboundEmail {
    let hidden = tr.t("lockbox-mail-value-hidden");
    let tenant = link_free_or(tenant_name, &hidden).to_owned();
    let status = tr.t(&format!("lockbox-status-{}", request.status.as_str()));
    let comment = [
        &request.ended,
        &request.customer_decision,
        &request.internal_decision,
    ]
    .into_iter()
    .flatten()
    .max_by_key(|d| d.at)
    .and_then(|d| d.comment.clone());
    let mut lines = vec![
        tr.ta("lockbox-mail-decided-intro", &[("tenant", tenant)]),
        String::new(),
        field(tr, "lockbox-mail-field-request", &request.id.to_string()),
        field(tr, "lockbox-mail-field-status", &status),
        field(
            tr,
            "lockbox-mail-field-service-request",
            link_free_or(&request.service_request, &hidden),
        ),
    ];
    if let (LockboxStatus::Approved, Some(start), Some(end)) =
        (request.status, request.access_start, request.access_end)
    {
        lines.push(field(
            tr,
            "lockbox-mail-field-access",
            &tr.ta(
                "lockbox-access-window",
                &[("start", tr.time(&start)), ("end", tr.time(&end))],
            ),
        ));
    }
    if let Some(c) = comment {
        let shown = if contains_link(&c) {
            tr.t("lockbox-mail-comment-hidden")
        } else {
            c
        };
        lines.push(field(tr, "lockbox-mail-field-comment", &shown));
    }
    lines.extend([
        String::new(),
        tr.t("lockbox-mail-where-console"),
        String::new(),
        tr.t("lockbox-mail-no-links"),
    ]);
    OutboundEmail {
        to: to.to_owned(),
        subject: tr.ta(
            "lockbox-mail-decided-subject",
            &[("id", request.id.to_string()), ("decision", status)],
        ),
        body: lines.join("\n"),
        kind: "lockbox.decided".into(),
        tenant: Some(request.tenant),
        delivery_id: None,
        unsubscribe: None,
        html: None,
    }
}

/// One email of a step as a delivery: the change is the request's new status, so a
/// step taken again (a retried save) queues nothing twice.
fn notice(
    core: &Core,
    email: OutboundEmail,
    request: &LockboxRequest,
    realm: Realm,
    now: time::OffsetDateTime,
) -> AppResult<NewDelivery> {
    let change = format!("lockbox:{}:{}", request.id, request.status.as_str());
    let to = email.to.clone();
    super::notify::email_delivery(core, request.tenant, &change, &to, realm, email, now)
}

/// The emails `after` calls for, as deliveries: the tenant's approvers when a request becomes
/// pending, the engineer on every decision (not on their own cancellation).
pub async fn notifications(
    core: &Core,
    before: LockboxStatus,
    after: &LockboxRequest,
) -> AppResult<Vec<NewDelivery>> {
    if before == after.status
        || matches!(
            after.status,
            LockboxStatus::Canceled | LockboxStatus::Completed
        )
    {
        return Ok(Vec::new());
    }
    let now = core.clock.now();
    let Some(tenant) = core.store.get_tenant(after.tenant).await? else {
        return Ok(Vec::new());
    };
    let mut notices = Vec::new();
    if after.status == LockboxStatus::Pending {
        let people = super::lockbox::approver_users(core, after.tenant).await?;
        for person in &people {
            let tr = Tr::new(
                person.language.unwrap_or(tenant.default_language),
                tenant.time_zone.to_string(),
            );
            let email = pending_email(
                &tr,
                person.email.as_ref(),
                &tenant.name,
                after,
                people.len(),
            );
            notices.push(notice(core, email, after, Realm::Tenant, now)?);
        }
    }
    // The engineer hears of every decision, the internal one included.
    if let Some(engineer) = core.store.get_operator(after.requester).await? {
        if !engineer.disabled {
            let tr = Tr::new(engineer.language.unwrap_or(Language::English), "UTC");
            let email = decided_email(&tr, engineer.email.as_ref(), &tenant.name, after);
            notices.push(notice(core, email, after, Realm::Operator, now)?);
        }
    }
    Ok(notices)
}
