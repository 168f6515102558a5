//! Changing the catalog and topology, and reading what a tenant uses.

use std::collections::BTreeSet;

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::{check_references, Service, ServiceId, TopologyChanges};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{ApiError, ApiResult};

pub const TOPOLOGY_CHANGED: &str = "Set-Topology";

/// Applies catalog, topology and placement changes after checking every reference, all
/// or nothing, audited in the operator realm.
pub async fn apply(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    changes: &TopologyChanges,
) -> ApiResult<()> {
    authorize(actor, Action::ManageTopology)?;
    if changes.is_empty() {
        return Err(ApiError::BadRequest("the topology change is empty".into()));
    }
    let known = core.store.topology_summary().await?;
    check_references(changes, &known)?;
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        TOPOLOGY_CHANGED,
    )
    .ip(ip)
    .details(json!({
        "services": changes.services.len(),
        "regions": changes.regions.len(),
        "scaleUnits": changes.scale_units.len(),
        "components": changes.components.len(),
        "placements": changes.placements.len(),
    }));
    core.store
        .apply_topology(changes, core.clock.now(), vec![record])
        .await?;
    Ok(())
}

/// The ids of the services a tenant uses: those hosted on the components it is placed on.
pub async fn service_ids_of_tenant(
    core: &Core,
    tenant: TenantId,
) -> ApiResult<BTreeSet<ServiceId>> {
    let placed: BTreeSet<_> = core
        .store
        .tenant_placements(tenant)
        .await?
        .into_iter()
        .collect();
    if placed.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(core
        .store
        .list_components()
        .await?
        .into_iter()
        .filter(|c| placed.contains(&c.id))
        .flat_map(|c| c.services)
        .collect())
}

/// The services a tenant uses, by display name.
pub async fn services_of_tenant(core: &Core, tenant: TenantId) -> ApiResult<Vec<Service>> {
    let used = service_ids_of_tenant(core, tenant).await?;
    if used.is_empty() {
        return Ok(Vec::new());
    }
    Ok(core
        .store
        .list_services()
        .await?
        .into_iter()
        .filter(|s| used.contains(&s.id))
        .collect())
}
