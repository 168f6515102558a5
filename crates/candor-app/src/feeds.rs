//! Private per-tenant Atom feeds: a Global Administrator creates a link with an
//! unguessable token (shown once, only its hash kept) for a dashboard or a feed reader,
//! and revokes it when it leaks. The feed holds every issue that reached the tenant.

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue, Tenant};
use candor_domain::store::FeedToken;
use candor_domain::TenantId;
use serde_json::json;
use time::Duration;

use super::public::PublicIssue;
use super::Core;
use crate::error::{AppError, AppResult};
use crate::ids::FeedLinkId;
use crate::secrets::{random_token, sha256_hex};

pub const FEED_LINK_CREATED: &str = "New-FeedLink";
pub const FEED_LINK_REVOKED: &str = "Revoke-FeedLink";
/// How far back a tenant's feed reaches.
pub const FEED_HISTORY: Duration = Duration::days(30);

/// A new link and its token, which is shown only now.
pub struct NewFeedLink {
    pub link: FeedToken,
    pub token: String,
}

pub async fn create_link(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    label: &str,
) -> AppResult<NewFeedLink> {
    authorize(actor, Action::ManageTenantSettings(tenant))?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(AppError::Invalid(InvalidValue::new(
            "label",
            "name the link (1 to 100 characters), e.g. where it is used",
        )));
    }
    let token = format!("feed-{}", random_token());
    let now = core.clock.now();
    let link = FeedToken {
        id: uuid::Uuid::now_v7(),
        tenant,
        label: label.to_owned(),
        created_at: now,
        revoked_at: None,
    };
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, FEED_LINK_CREATED)
        .ip(ip)
        .item(link.id.to_string())
        .details(json!({"Label": link.label}));
    core.store
        .create_feed_token(&link, &sha256_hex(&token), vec![record])
        .await?;
    Ok(NewFeedLink { link, token })
}

pub async fn links(core: &Core, actor: &Actor, tenant: TenantId) -> AppResult<Vec<FeedToken>> {
    authorize(actor, Action::ManageTenantSettings(tenant))?;
    Ok(core.store.list_feed_tokens(tenant).await?)
}

pub async fn revoke_link(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant: TenantId,
    FeedLinkId(id): FeedLinkId,
) -> AppResult<()> {
    authorize(actor, Action::ManageTenantSettings(tenant))?;
    let now = core.clock.now();
    let record = NewAuditRecord::by(actor, AuditChain::Tenant(tenant), now, FEED_LINK_REVOKED)
        .ip(ip)
        .item(id.to_string());
    if core
        .store
        .revoke_feed_token(tenant, id, now, vec![record])
        .await?
    {
        Ok(())
    } else {
        Err(AppError::NotFound(
            "there is no such active feed link".into(),
        ))
    }
}

/// What a tenant's private feed holds.
pub struct TenantFeed {
    pub tenant: Tenant,
    /// The issues of the last 30 days that reached it, newest change first, with posts.
    pub issues: Vec<PublicIssue>,
    /// The planned maintenance that reaches it, not over for longer than 30 days.
    pub maintenances: Vec<candor_domain::health::maintenance::ScheduledMaintenance>,
    pub catalog: Vec<candor_domain::health::Service>,
}

/// The tenant behind a link, and what its feed holds. Unknown and revoked links are
/// "not found".
pub async fn tenant_feed(core: &Core, token: &str) -> AppResult<TenantFeed> {
    let tenant = tenant_of_link(core, token.trim().trim_end_matches(".atom")).await?;
    let now = core.clock.now();
    let catalog = core.store.list_services().await?;
    let reached = core
        .store
        .tenant_issues(tenant.id, now - FEED_HISTORY)
        .await?;
    let mut issues = super::public::with_posts(core, &catalog, reached).await?;
    issues.sort_by_key(|i| std::cmp::Reverse(i.issue.last_modified));
    let mut maintenances = core
        .store
        .tenant_maintenances(tenant.id, super::maintenance::MAX_LISTED)
        .await?;
    maintenances.retain(|m| {
        let ended = m.maintenance.ended_at.unwrap_or(m.maintenance.window.end);
        ended >= now - FEED_HISTORY
    });
    Ok(TenantFeed {
        tenant,
        issues,
        maintenances,
        catalog,
    })
}

/// The tenant behind a feed link, and the planned maintenance that reaches it, for its
/// calendar: the same link, so revoking it stops both.
pub async fn tenant_calendar(
    core: &Core,
    token: &str,
) -> AppResult<(
    Tenant,
    Vec<candor_domain::health::maintenance::ScheduledMaintenance>,
)> {
    let tenant = tenant_of_link(core, token.trim()).await?;
    let maintenances = core
        .store
        .tenant_maintenances(tenant.id, super::maintenance::MAX_LISTED)
        .await?;
    Ok((tenant, maintenances))
}

/// Unknown and revoked links are "not found".
async fn tenant_of_link(core: &Core, token: &str) -> AppResult<Tenant> {
    let missing = || AppError::NotFound("there is no such feed".into());
    if token.len() < 16 || token.len() > 200 {
        return Err(missing());
    }
    let tenant_id = core
        .store
        .tenant_of_feed_token(&sha256_hex(token))
        .await?
        .ok_or_else(missing)?;
    core.store.get_tenant(tenant_id).await?.ok_or_else(missing)
}
