//! Who was told what: a tenant's own delivery log, and the operators' view per change
//! (tenants reached, deliveries sent, pending and failed, with the errors).

use candor_domain::health::{ChangeDeliveries, Delivery, DeliveryStatus, IssueId, MessageId};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::time_util::{from_unix_micros, to_unix_micros};
use candor_domain::TenantId;
use serde::Serialize;

use super::Core;
use crate::error::{AppError, AppResult};

/// Deliveries per page, unless asked otherwise.
pub const PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// A page of a tenant's log and the cursor of the next (older) one.
pub struct LogPage {
    pub deliveries: Vec<Delivery>,
    pub next: Option<String>,
}

fn bad_cursor() -> AppError {
    AppError::Invalid(InvalidValue::new(
        "before",
        "not a cursor from a previous page",
    ))
}

fn parse_cursor(cursor: &str) -> AppResult<(time::OffsetDateTime, String)> {
    let (at, id) = cursor.trim().split_once('.').ok_or_else(bad_cursor)?;
    let micros: i64 = at.parse().map_err(|_| bad_cursor())?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad_cursor());
    }
    Ok((from_unix_micros(micros), id.to_owned()))
}

/// The checks every page size goes through.
pub fn page_size(limit: Option<u32>) -> AppResult<u32> {
    match limit {
        None => Ok(PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(AppError::Invalid(InvalidValue::new(
            "limit",
            format!("ask for 1 to {MAX_PAGE} deliveries per page"),
        ))),
    }
}

/// A tenant's deliveries, newest first. Global Administrators only: the log names the
/// organization's contacts and endpoints.
pub async fn tenant_log(
    core: &Core,
    actor: &Actor,
    tenant: TenantId,
    before: Option<&str>,
    limit: u32,
) -> AppResult<LogPage> {
    authorize(actor, Action::ManageTenantSettings(tenant))?;
    let before = before
        .filter(|b| !b.trim().is_empty())
        .map(parse_cursor)
        .transpose()?;
    let deliveries = core.store.tenant_deliveries(tenant, before, limit).await?;
    let next = (deliveries.len() == limit as usize)
        .then(|| deliveries.last())
        .flatten()
        .map(|d| format!("{}.{}", to_unix_micros(d.created_at), d.id));
    Ok(LogPage { deliveries, next })
}

/// One change in the operators' view: its deliveries, and how many tenants it reached.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    #[serde(flatten)]
    pub deliveries: ChangeDeliveries,
    /// Tenants the issue or message reached (whether or not they have contacts).
    pub tenants_reached: Option<i64>,
}

fn may_see(actor: &Actor) -> AppResult<()> {
    authorize(actor, Action::PublishServiceHealth)
        .or_else(|_| authorize(actor, Action::PublishMessages))
        .map_err(AppError::from)
}

async fn reached(core: &Core, change: &str) -> AppResult<Option<i64>> {
    let mut parts = change.split(':');
    Ok(match (parts.next(), parts.next()) {
        (Some("issue"), Some(id)) => match IssueId::parse(id) {
            Ok(id) => Some(core.store.affected_count(&id).await?),
            Err(_) => None,
        },
        (Some("message"), Some(id)) => match MessageId::parse(id) {
            Ok(id) => Some(core.store.message_reach(&id).await?),
            Err(_) => None,
        },
        _ => None,
    })
}

/// The latest changes and how their deliveries stand, optionally those of one issue or
/// message (`prefix`, e.g. `issue:EX123456:`).
/// Where deliveries go, as this instance sees them: each destination's circuit breaker
/// and sends (open breakers first).
pub fn destinations(
    core: &Core,
    actor: &Actor,
) -> AppResult<Vec<crate::destinations::DestinationView>> {
    may_see(actor)?;
    Ok(core.destinations.snapshot(core.clock.now()))
}

pub async fn changes(
    core: &Core,
    actor: &Actor,
    prefix: Option<&str>,
    limit: u32,
) -> AppResult<Vec<ChangeView>> {
    may_see(actor)?;
    let mut views = Vec::new();
    for deliveries in core.store.change_deliveries(prefix, limit).await? {
        let tenants_reached = reached(core, &deliveries.change).await?;
        views.push(ChangeView {
            deliveries,
            tenants_reached,
        });
    }
    Ok(views)
}

/// One change's deliveries in a status (the failed ones, say, with their errors).
pub async fn of_change(
    core: &Core,
    actor: &Actor,
    change: &str,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> AppResult<(Option<ChangeView>, Vec<Delivery>)> {
    may_see(actor)?;
    let summary = core
        .store
        .change_deliveries(Some(change), 50)
        .await?
        .into_iter()
        .find(|c| c.change == change);
    let view = match summary {
        Some(deliveries) => Some(ChangeView {
            tenants_reached: reached(core, change).await?,
            deliveries,
        }),
        None => None,
    };
    let list = core
        .store
        .deliveries_of_change(change, status, limit)
        .await?;
    Ok((view, list))
}

/// A delivery as the API shows it (the payload stays inside Candor).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Stable: the same on every retry (the `Candor-Delivery-Id` header, the email's
    /// Message-ID).
    pub id: String,
    pub change: String,
    pub channel: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_date_time: String,
    pub sent_date_time: Option<String>,
    pub next_attempt_date_time: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        use candor_domain::time_util::rfc3339;
        DeliveryView {
            id: d.id.clone(),
            change: d.change.clone(),
            channel: d.channel.as_str().into(),
            recipient: d.recipient.clone(),
            status: d.status.as_str().into(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            created_date_time: rfc3339(d.created_at),
            sent_date_time: d.sent_at.map(rfc3339),
            next_attempt_date_time: (d.status == DeliveryStatus::Pending)
                .then(|| rfc3339(d.run_at)),
        }
    }
}
