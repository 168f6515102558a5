//! Targeting: which components an issue's scope covers, and so which tenants it affects.
//! Pure functions over a topology index; the store runs the same component set against
//! its placement table, and the property tests below pin the semantics.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Component, ComponentId, Placement, ScaleUnit, ScaleUnitId, ServiceId};
use crate::identity::{InvalidValue, RegionCode};
use crate::TenantId;

/// What an issue impacts. Components are always covered when named; scale units and
/// regions cover their components that host one of the scope's services (or the issue's
/// service when none is named); naming only services covers them everywhere; tenants
/// named explicitly are always affected. `unclear` widens the scope to every component
/// hosting those services in the regions involved, or everywhere when none is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Scope {
    pub components: BTreeSet<ComponentId>,
    pub scale_units: BTreeSet<ScaleUnitId>,
    pub regions: BTreeSet<RegionCode>,
    pub services: BTreeSet<ServiceId>,
    pub tenants: BTreeSet<TenantId>,
    pub unclear: bool,
}

impl Scope {
    /// Whether an issue with this scope is public news: it affects a whole region, a
    /// whole service, or nobody knows yet how far it reaches. An unclear scope is told
    /// as its widest reading, so it is public even when it names infrastructure (where
    /// it started is not where it stops). Issues on particular components, scale units
    /// or named tenants are told only to those tenants.
    pub fn is_broad(&self) -> bool {
        let narrowed =
            !(self.components.is_empty() && self.scale_units.is_empty() && self.tenants.is_empty());
        self.unclear || !self.regions.is_empty() || (!narrowed && !self.services.is_empty())
    }

    pub fn names_infrastructure(&self) -> bool {
        !(self.components.is_empty() && self.scale_units.is_empty() && self.regions.is_empty())
    }

    /// A scope must say something: infrastructure, services, tenants, or that it is unclear.
    pub fn check(&self) -> Result<(), InvalidValue> {
        if !self.names_infrastructure()
            && self.services.is_empty()
            && self.tenants.is_empty()
            && !self.unclear
        {
            return Err(InvalidValue::new(
                "scope",
                "name components, scale units, regions, services or tenants, or mark the scope unclear",
            ));
        }
        Ok(())
    }

    /// Checks every named component, scale unit, region and service exists.
    pub fn check_against(
        &self,
        index: &TopologyIndex,
        known_services: &BTreeSet<ServiceId>,
    ) -> Result<(), InvalidValue> {
        self.check()?;
        if let Some(c) = self
            .components
            .iter()
            .find(|c| !index.components.contains_key(*c))
        {
            return Err(InvalidValue::new(
                "scope",
                format!("component {c} does not exist"),
            ));
        }
        if let Some(s) = self
            .scale_units
            .iter()
            .find(|s| !index.scale_units.contains_key(*s))
        {
            return Err(InvalidValue::new(
                "scope",
                format!("scale unit {s} does not exist"),
            ));
        }
        if let Some(r) = self.regions.iter().find(|r| !index.regions.contains(*r)) {
            return Err(InvalidValue::new(
                "scope",
                format!("region {r} does not exist"),
            ));
        }
        if let Some(s) = self.services.iter().find(|s| !known_services.contains(*s)) {
            return Err(InvalidValue::new(
                "scope",
                format!("service {s} is not in the catalog"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct ComponentInfo {
    scale_unit: ScaleUnitId,
    region: RegionCode,
    services: BTreeSet<ServiceId>,
}

/// The topology, indexed for targeting.
#[derive(Debug, Clone, Default)]
pub struct TopologyIndex {
    components: BTreeMap<ComponentId, ComponentInfo>,
    scale_units: BTreeMap<ScaleUnitId, RegionCode>,
    regions: BTreeSet<RegionCode>,
}

impl TopologyIndex {
    pub fn new(
        regions: &[RegionCode],
        scale_units: &[ScaleUnit],
        components: &[Component],
    ) -> TopologyIndex {
        let scale_units: BTreeMap<ScaleUnitId, RegionCode> = scale_units
            .iter()
            .map(|s| (s.id.clone(), s.region.clone()))
            .collect();
        let components = components
            .iter()
            .filter_map(|c| {
                let region = scale_units.get(&c.scale_unit)?.clone();
                Some((
                    c.id.clone(),
                    ComponentInfo {
                        scale_unit: c.scale_unit.clone(),
                        region,
                        services: c.services.clone(),
                    },
                ))
            })
            .collect();
        TopologyIndex {
            components,
            scale_units,
            regions: regions.iter().cloned().collect(),
        }
    }

    pub fn has_region(&self, region: &RegionCode) -> bool {
        self.regions.contains(region)
    }

    pub fn region_of(&self, component: &ComponentId) -> Option<&RegionCode> {
        self.components.get(component).map(|c| &c.region)
    }
}

/// The components `scope` covers for an issue of `issue_service`.
pub fn scope_components(
    scope: &Scope,
    issue_service: &ServiceId,
    index: &TopologyIndex,
) -> BTreeSet<ComponentId> {
    let services: BTreeSet<&ServiceId> = if scope.services.is_empty() {
        [issue_service].into_iter().collect()
    } else {
        scope.services.iter().collect()
    };
    let hosts = |info: &ComponentInfo| info.services.iter().any(|s| services.contains(s));
    let mut covered: BTreeSet<ComponentId> = scope
        .components
        .iter()
        .filter(|c| index.components.contains_key(*c))
        .cloned()
        .collect();
    if scope.unclear {
        let mut regions: BTreeSet<&RegionCode> = scope.regions.iter().collect();
        regions.extend(
            scope
                .scale_units
                .iter()
                .filter_map(|s| index.scale_units.get(s)),
        );
        regions.extend(scope.components.iter().filter_map(|c| index.region_of(c)));
        covered.extend(
            index
                .components
                .iter()
                .filter(|(_, info)| {
                    hosts(info) && (regions.is_empty() || regions.contains(&info.region))
                })
                .map(|(id, _)| id.clone()),
        );
        return covered;
    }
    if !scope.names_infrastructure() {
        if !scope.services.is_empty() {
            covered.extend(
                index
                    .components
                    .iter()
                    .filter(|(_, i)| hosts(i))
                    .map(|(id, _)| id.clone()),
            );
        }
        return covered;
    }
    covered.extend(
        index
            .components
            .iter()
            .filter(|(_, info)| {
                hosts(info)
                    && (scope.scale_units.contains(&info.scale_unit)
                        || scope.regions.contains(&info.region))
            })
            .map(|(id, _)| id.clone()),
    );
    covered
}

/// The tenants `scope` affects, given every placement.
pub fn affected_tenants(
    scope: &Scope,
    issue_service: &ServiceId,
    index: &TopologyIndex,
    placements: &[Placement],
) -> BTreeSet<TenantId> {
    let covered = scope_components(scope, issue_service, index);
    placements
        .iter()
        .filter(|p| covered.contains(&p.component))
        .map(|p| p.tenant_id)
        .chain(scope.tenants.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sid(s: &str) -> ServiceId {
        ServiceId::from_trusted(s)
    }

    /// A random topology: regions r0.., scale units r0-su0.., components with random
    /// services, tenants placed on random components.
    #[derive(Debug, Clone)]
    struct World {
        regions: Vec<RegionCode>,
        scale_units: Vec<ScaleUnit>,
        components: Vec<Component>,
        placements: Vec<Placement>,
        tenants: Vec<TenantId>,
    }

    const SERVICES: [&str; 4] = ["Exchange", "SharePoint", "Teams", "Identity"];

    fn world() -> impl Strategy<Value = World> {
        (1usize..4, 1usize..4, 1usize..5, 0usize..30, any::<u64>()).prop_map(
            |(nr, nsu, nc, nt, seed)| {
                let mut rng = seed;
                let mut next = move |m: usize| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((rng >> 33) as usize) % m.max(1)
                };
                let regions: Vec<RegionCode> = (0..nr)
                    .map(|r| RegionCode::from_trusted(format!("r{r}")))
                    .collect();
                let mut scale_units = Vec::new();
                let mut components = Vec::new();
                for r in &regions {
                    for s in 0..nsu {
                        let su = ScaleUnitId::from_trusted(format!("{r}-su{s}"));
                        scale_units.push(ScaleUnit {
                            id: su.clone(),
                            region: r.clone(),
                        });
                        for c in 0..nc {
                            let services: BTreeSet<ServiceId> = (0..=next(2))
                                .map(|_| sid(SERVICES[next(SERVICES.len())]))
                                .collect();
                            components.push(Component {
                                id: ComponentId::from_trusted(format!("{su}-c{c}")),
                                scale_unit: su.clone(),
                                services,
                            });
                        }
                    }
                }
                let tenants: Vec<TenantId> = (0..nt).map(|_| TenantId::generate()).collect();
                let mut placements = Vec::new();
                for t in &tenants {
                    for _ in 0..=next(3) {
                        let c = &components[next(components.len())];
                        placements.push(Placement {
                            tenant_id: *t,
                            component: c.id.clone(),
                        });
                    }
                }
                World {
                    regions,
                    scale_units,
                    components,
                    placements,
                    tenants,
                }
            },
        )
    }

    fn scope_in(w: &World) -> impl Strategy<Value = (Scope, ServiceId)> {
        let comps: Vec<ComponentId> = w.components.iter().map(|c| c.id.clone()).collect();
        let sus: Vec<ScaleUnitId> = w.scale_units.iter().map(|s| s.id.clone()).collect();
        let regions = w.regions.clone();
        let tenants = w.tenants.clone();
        (
            proptest::sample::subsequence(comps.clone(), 0..=comps.len().min(3)),
            proptest::sample::subsequence(sus.clone(), 0..=sus.len().min(2)),
            proptest::sample::subsequence(regions.clone(), 0..=regions.len().min(2)),
            proptest::sample::subsequence(SERVICES.to_vec(), 0..=2),
            proptest::sample::subsequence(tenants.clone(), 0..=tenants.len().min(2)),
            any::<bool>(),
            proptest::sample::select(SERVICES.to_vec()),
        )
            .prop_map(|(c, s, r, sv, t, unclear, issue)| {
                (
                    Scope {
                        components: c.into_iter().collect(),
                        scale_units: s.into_iter().collect(),
                        regions: r.into_iter().collect(),
                        services: sv.into_iter().map(sid).collect(),
                        tenants: t.into_iter().collect(),
                        unclear,
                    },
                    sid(issue),
                )
            })
    }

    /// The rules written as a predicate over one tenant's placements, independent of the
    /// set-building implementation above.
    fn reference_affects(w: &World, scope: &Scope, issue: &ServiceId, tenant: TenantId) -> bool {
        if scope.tenants.contains(&tenant) {
            return true;
        }
        let region_of_su = |su: &ScaleUnitId| {
            w.scale_units
                .iter()
                .find(|s| &s.id == su)
                .map(|s| s.region.clone())
        };
        let wanted: Vec<&ServiceId> = if scope.services.is_empty() {
            vec![issue]
        } else {
            scope.services.iter().collect()
        };
        w.placements
            .iter()
            .filter(|p| p.tenant_id == tenant)
            .any(|p| {
                let Some(c) = w.components.iter().find(|c| c.id == p.component) else {
                    return false;
                };
                let region = region_of_su(&c.scale_unit);
                let hosts = wanted.iter().any(|s| c.services.contains(*s));
                if scope.components.contains(&c.id) {
                    return true;
                }
                if scope.unclear {
                    let mut named_regions: Vec<RegionCode> =
                        scope.regions.iter().cloned().collect();
                    named_regions.extend(scope.scale_units.iter().filter_map(region_of_su));
                    named_regions.extend(
                        scope
                            .components
                            .iter()
                            .filter_map(|n| w.components.iter().find(|x| &x.id == n))
                            .filter_map(|x| region_of_su(&x.scale_unit)),
                    );
                    return hosts
                        && (named_regions.is_empty()
                            || region.is_some_and(|r| named_regions.contains(&r)));
                }
                let infra = !scope.components.is_empty()
                    || !scope.scale_units.is_empty()
                    || !scope.regions.is_empty();
                if !infra {
                    return !scope.services.is_empty() && hosts;
                }
                hosts
                    && (scope.scale_units.contains(&c.scale_unit)
                        || region.is_some_and(|r| scope.regions.contains(&r)))
            })
    }

    proptest! {
        #[test]
        fn affected_tenants_are_exactly_those_placed_on_the_scope(
            (w, (scope, issue)) in world().prop_flat_map(|w| { let s = scope_in(&w); (Just(w), s) })
        ) {
            let index = TopologyIndex::new(&w.regions, &w.scale_units, &w.components);
            let got = affected_tenants(&scope, &issue, &index, &w.placements);
            let expected: BTreeSet<TenantId> = w.tenants.iter().copied().filter(|t| reference_affects(&w, &scope, &issue, *t)).collect();
            prop_assert_eq!(got, expected);
        }

        /// Marking a scope unclear never tells fewer tenants.
        #[test]
        fn unclear_only_widens(
            (w, (mut scope, issue)) in world().prop_flat_map(|w| { let s = scope_in(&w); (Just(w), s) })
        ) {
            let index = TopologyIndex::new(&w.regions, &w.scale_units, &w.components);
            scope.unclear = false;
            let narrow = affected_tenants(&scope, &issue, &index, &w.placements);
            scope.unclear = true;
            let wide = affected_tenants(&scope, &issue, &index, &w.placements);
            prop_assert!(narrow.is_subset(&wide));
        }

        /// Whatever else it names, an unclear scope is public.
        #[test]
        fn unclear_is_always_public(
            (_w, (mut scope, _issue)) in world().prop_flat_map(|w| { let s = scope_in(&w); (Just(w), s) })
        ) {
            scope.unclear = true;
            prop_assert!(scope.is_broad());
        }
    }

    #[test]
    fn an_empty_scope_is_refused() {
        assert!(Scope::default().check().is_err());
        let unclear = Scope {
            unclear: true,
            ..Default::default()
        };
        assert!(unclear.check().is_ok());
    }

    #[test]
    fn a_scale_unit_outage_reaches_the_services_tenants_there_only() {
        let eu = RegionCode::from_trusted("eu");
        let su1 = ScaleUnitId::from_trusted("eu-su1");
        let su2 = ScaleUnitId::from_trusted("eu-su2");
        let comp = |id: &str, su: &ScaleUnitId, s: &str| Component {
            id: ComponentId::from_trusted(id),
            scale_unit: su.clone(),
            services: [sid(s)].into_iter().collect(),
        };
        let components = vec![
            comp("mbx1", &su1, "Exchange"),
            comp("spo1", &su1, "SharePoint"),
            comp("mbx2", &su2, "Exchange"),
        ];
        let index = TopologyIndex::new(
            std::slice::from_ref(&eu),
            &[
                ScaleUnit {
                    id: su1.clone(),
                    region: eu.clone(),
                },
                ScaleUnit {
                    id: su2.clone(),
                    region: eu.clone(),
                },
            ],
            &components,
        );
        let (a, b, c) = (
            TenantId::generate(),
            TenantId::generate(),
            TenantId::generate(),
        );
        let placements = vec![
            Placement {
                tenant_id: a,
                component: ComponentId::from_trusted("mbx1"),
            },
            Placement {
                tenant_id: b,
                component: ComponentId::from_trusted("spo1"),
            },
            Placement {
                tenant_id: c,
                component: ComponentId::from_trusted("mbx2"),
            },
        ];
        let scope = Scope {
            scale_units: [su1].into_iter().collect(),
            ..Default::default()
        };
        assert_eq!(
            affected_tenants(&scope, &sid("Exchange"), &index, &placements),
            [a].into_iter().collect()
        );
        let unclear = Scope {
            unclear: true,
            ..scope
        };
        assert_eq!(
            affected_tenants(&unclear, &sid("Exchange"), &index, &placements),
            [a, c].into_iter().collect()
        );
    }

    #[test]
    fn only_region_wide_service_wide_or_unclear_scopes_are_broad() {
        let region = Scope {
            regions: [RegionCode::parse("eu-west").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert!(region.is_broad());
        let service = Scope {
            services: [ServiceId::parse("Exchange").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert!(service.is_broad());
        let unclear = Scope {
            unclear: true,
            ..Default::default()
        };
        assert!(unclear.is_broad());
        let component = Scope {
            components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
                .into_iter()
                .collect(),
            services: service.services.clone(),
            ..Default::default()
        };
        assert!(!component.is_broad());
        let tenant = Scope {
            tenants: [TenantId::generate()].into_iter().collect(),
            ..Default::default()
        };
        assert!(!tenant.is_broad());
        // Unclear, even where it started on named infrastructure: public.
        let unclear_here = Scope {
            unclear: true,
            ..component.clone()
        };
        assert!(unclear_here.is_broad());
    }
}
