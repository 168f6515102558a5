//! Changing the catalog and topology, and reading what a tenant uses.

use std::collections::BTreeSet;

use candor_domain::audit::{AuditChain, NewAuditRecord};
use candor_domain::health::{check_references, Service, ServiceId, TopologyChanges};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::TenantId;
use serde_json::json;

use super::Core;
use crate::error::{AppError, AppResult};

pub const TOPOLOGY_CHANGED: &str = "Set-Topology";

/// Applies catalog, topology and placement changes after checking every reference, all
/// or nothing, audited in the operator realm.
pub async fn apply(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    changes: &TopologyChanges,
) -> AppResult<()> {
    authorize(actor, Action::ManageTopology)?;
    if changes.is_empty() {
        return Err(AppError::Refused("the topology change is empty".into()));
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
    if !changes.tenants.is_empty() || !changes.placements.is_empty() {
        core.placements_changed().await;
    }
    Ok(())
}

/// The ids of the services a tenant uses: those hosted on the components it is placed on.
pub async fn service_ids_of_tenant(
    core: &Core,
    tenant: TenantId,
) -> AppResult<BTreeSet<ServiceId>> {
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
pub async fn services_of_tenant(core: &Core, tenant: TenantId) -> AppResult<Vec<Service>> {
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

/// What a topology file holds, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyCounts {
    pub tenants: usize,
    pub services: usize,
    pub regions: usize,
    pub scale_units: usize,
    pub components: usize,
    pub placements: usize,
}

impl TopologyCounts {
    pub fn of(c: &TopologyChanges) -> TopologyCounts {
        TopologyCounts {
            tenants: c.tenants.len(),
            services: c.services.len(),
            regions: c.regions.len(),
            scale_units: c.scale_units.len(),
            components: c.components.len(),
            placements: c.placements.len(),
        }
    }
}

impl std::fmt::Display for TopologyCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tenants, {} services, {} regions, {} scale units, {} components, {} placements",
            self.tenants,
            self.services,
            self.regions,
            self.scale_units,
            self.components,
            self.placements
        )
    }
}

/// Why a topology file was not imported.
#[derive(Debug)]
pub enum ImportFailure {
    /// Lines or items that are wrong, each with where it is.
    Problems(Vec<super::topology_file::Problem>),
    Refused(AppError),
}

impl From<AppError> for ImportFailure {
    fn from(e: AppError) -> Self {
        ImportFailure::Refused(e)
    }
}

impl From<candor_domain::store::StoreError> for ImportFailure {
    fn from(e: candor_domain::store::StoreError) -> Self {
        ImportFailure::Refused(e.into())
    }
}

/// Reads a topology file, checks it completely (syntax, values, references, that placed
/// tenants exist) and, unless `dry_run`, applies it all or nothing. `progress` hears
/// about long files.
pub async fn import_file(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    name: &str,
    text: &str,
    dry_run: bool,
    mut progress: impl FnMut(&str),
) -> Result<TopologyCounts, ImportFailure> {
    authorize(actor, Action::ManageTopology).map_err(AppError::from)?;
    let changes =
        super::topology_file::parse(name, text, |line| progress(&format!("{line} lines read…")))
            .map_err(ImportFailure::Problems)?;
    let counts = TopologyCounts::of(&changes);
    // Placements must name tenants that exist; those the file defines need no lookup.
    let defined: BTreeSet<TenantId> = changes.tenants.iter().map(|t| t.id).collect();
    let placed: BTreeSet<TenantId> = changes
        .placements
        .iter()
        .map(|p| p.tenant_id)
        .filter(|t| !defined.contains(t))
        .collect();
    if !placed.is_empty() {
        progress(&format!("checking {} tenants…", placed.len()));
        let mut known = BTreeSet::new();
        let mut after = None;
        loop {
            let page = core.store.list_tenants(after.clone(), 10_000).await?;
            known.extend(page.iter().map(|t| t.id));
            match page.last() {
                Some(t) if page.len() == 10_000 => after = Some((t.name.clone(), t.id)),
                _ => break,
            }
        }
        let missing: Vec<super::topology_file::Problem> = placed
            .iter()
            .filter(|t| !known.contains(*t))
            .take(super::topology_file::MAX_REPORTED)
            .map(|t| super::topology_file::Problem {
                at: "placements".into(),
                message: format!("tenant {t} does not exist"),
            })
            .collect();
        if !missing.is_empty() {
            return Err(ImportFailure::Problems(missing));
        }
    }
    let known = core.store.topology_summary().await?;
    check_references(&changes, &known).map_err(|e| {
        ImportFailure::Problems(vec![super::topology_file::Problem {
            at: "references".into(),
            message: e.to_string(),
        }])
    })?;
    if dry_run {
        return Ok(counts);
    }
    progress(&format!("applying {counts} in one transaction…"));
    apply(core, actor, ip, &changes).await?;
    Ok(counts)
}
