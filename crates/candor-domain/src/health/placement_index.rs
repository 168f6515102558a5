//! Every placement in memory, compactly: tenants are numbered in name order and each
//! component keeps the numbers of the tenants placed on it as a compressed bitmap, so the
//! tenants a scope reaches are the union of its components' bitmaps: for a region of a
//! million-tenant world that is milliseconds, where asking the database takes seconds.
//!
//! Numbering in name order makes "the first tenants by name" the lowest numbers of the
//! union, so a preview needs no sort.

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;

use super::ComponentId;
use crate::TenantId;

/// What the index is built from, as compact as the store can hand it over: tenants
/// already in preview order (by name, as the database sorts names), each with its home
/// region as a position in `regions`; placements with their component as a position in
/// `components`.
#[derive(Debug, Clone, Default)]
pub struct PlacementRows {
    pub tenants: Vec<(TenantId, u16)>,
    pub regions: Vec<String>,
    pub components: Vec<ComponentId>,
    pub placements: Vec<(TenantId, u32)>,
}

/// Who a set of components (and tenants named outright) reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub total: u64,
    /// (home region, tenants), by region.
    pub by_region: Vec<(String, u64)>,
    /// The first `limit` tenants by name.
    pub first: Vec<TenantId>,
}

#[derive(Debug, Default)]
pub struct PlacementIndex {
    /// By number: tenant numbers are positions here, in (name, id) order.
    tenants: Vec<TenantId>,
    numbers: HashMap<TenantId, u32>,
    /// By number: the tenant's home region, as a position in `regions`.
    home: Vec<u16>,
    regions: Vec<String>,
    by_component: HashMap<ComponentId, RoaringBitmap>,
    placements: u64,
}

impl PlacementIndex {
    /// Builds the index; placements of tenants or components not in `rows` are ignored
    /// (the database's foreign keys keep there being none).
    pub fn build(rows: PlacementRows) -> PlacementIndex {
        let PlacementRows {
            tenants,
            regions,
            components,
            placements,
        } = rows;
        let mut index = PlacementIndex {
            tenants: Vec::with_capacity(tenants.len()),
            numbers: HashMap::with_capacity(tenants.len()),
            home: Vec::with_capacity(tenants.len()),
            regions,
            ..PlacementIndex::default()
        };
        for (n, (id, region)) in tenants.into_iter().enumerate() {
            let Ok(n) = u32::try_from(n) else { break };
            index.tenants.push(id);
            index.numbers.insert(id, n);
            index.home.push(region);
        }
        let mut bitmaps = vec![RoaringBitmap::new(); components.len()];
        for (tenant, component) in placements {
            let (Some(n), Some(bitmap)) = (
                index.numbers.get(&tenant),
                bitmaps.get_mut(component as usize),
            ) else {
                continue;
            };
            bitmap.insert(*n);
            index.placements += 1;
        }
        index.by_component = components
            .into_iter()
            .zip(bitmaps)
            .filter(|(_, b)| !b.is_empty())
            .collect();
        index
    }

    pub fn tenants(&self) -> usize {
        self.tenants.len()
    }

    pub fn placements(&self) -> u64 {
        self.placements
    }

    /// The tenants placed on any of `covered`, plus those of `explicit` that exist.
    pub fn reach(&self, covered: &[ComponentId], explicit: &[TenantId], limit: usize) -> Reach {
        let mut set = RoaringBitmap::new();
        for c in covered {
            if let Some(b) = self.by_component.get(c) {
                set |= b;
            }
        }
        set.extend(explicit.iter().filter_map(|t| self.numbers.get(t).copied()));
        let mut per_region = vec![0u64; self.regions.len()];
        for n in &set {
            if let Some(r) = self.home.get(n as usize) {
                if let Some(count) = per_region.get_mut(usize::from(*r)) {
                    *count += 1;
                }
            }
        }
        let by_region: BTreeMap<&str, u64> = self
            .regions
            .iter()
            .zip(per_region)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.as_str(), n))
            .collect();
        Reach {
            total: set.len(),
            by_region: by_region
                .into_iter()
                .map(|(r, n)| (r.to_owned(), n))
                .collect(),
            first: set
                .iter()
                .take(limit)
                .filter_map(|n| self.tenants.get(n as usize).copied())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A tenant as the tests describe it.
    #[derive(Debug, Clone)]
    struct IndexedTenant {
        id: TenantId,
        name: String,
        home_region: String,
    }

    /// The rows a store would hand over: tenants sorted by (name, id), regions and
    /// components numbered.
    fn rows(tenants: &[IndexedTenant], placements: &[(TenantId, ComponentId)]) -> PlacementRows {
        let mut sorted = tenants.to_vec();
        sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.0.cmp(&b.id.0)));
        let mut regions: Vec<String> = Vec::new();
        let mut components: Vec<ComponentId> = Vec::new();
        let tenants = sorted
            .iter()
            .map(|t| {
                let r = regions
                    .iter()
                    .position(|r| *r == t.home_region)
                    .unwrap_or_else(|| {
                        regions.push(t.home_region.clone());
                        regions.len() - 1
                    });
                (t.id, r as u16)
            })
            .collect();
        let placements = placements
            .iter()
            .map(|(t, c)| {
                let n = components.iter().position(|x| x == c).unwrap_or_else(|| {
                    components.push(c.clone());
                    components.len() - 1
                });
                (*t, n as u32)
            })
            .collect();
        PlacementRows {
            tenants,
            regions,
            components,
            placements,
        }
    }

    fn component(i: usize) -> ComponentId {
        ComponentId::from_trusted(format!("c{i}"))
    }

    proptest! {
        /// The index reaches exactly the tenants placed on the covered components plus
        /// those named, counts them per home region, and lists the first by name.
        #[test]
        fn reach_is_exactly_the_placed_and_named_tenants(
            tenants in prop::collection::vec(("[a-d]{1,3}", 0usize..3), 0..40),
            placements in prop::collection::vec((0usize..40, 0usize..6), 0..120),
            covered in prop::collection::btree_set(0usize..6, 0..6),
            named in prop::collection::btree_set(0usize..40, 0..4),
            limit in 0usize..10,
        ) {
            let tenants: Vec<IndexedTenant> = tenants
                .into_iter()
                .map(|(name, region)| IndexedTenant {
                    id: TenantId::generate(),
                    name,
                    home_region: format!("r{region}"),
                })
                .collect();
            let placements: Vec<(TenantId, ComponentId)> = placements
                .into_iter()
                .filter(|(t, _)| *t < tenants.len())
                .map(|(t, c)| (tenants[t].id, component(c)))
                .collect();
            let covered: Vec<ComponentId> = covered.into_iter().map(component).collect();
            let named: Vec<TenantId> = named
                .into_iter()
                .filter(|t| *t < tenants.len())
                .map(|t| tenants[t].id)
                .collect();
            let index = PlacementIndex::build(rows(&tenants, &placements));
            let reach = index.reach(&covered, &named, limit);

            let expected: BTreeSet<TenantId> = placements
                .iter()
                .filter(|(_, c)| covered.contains(c))
                .map(|(t, _)| *t)
                .chain(named.iter().copied())
                .collect();
            prop_assert_eq!(reach.total, expected.len() as u64);
            let mut by_region: BTreeMap<String, u64> = BTreeMap::new();
            for t in &tenants {
                if expected.contains(&t.id) {
                    *by_region.entry(t.home_region.clone()).or_default() += 1;
                }
            }
            prop_assert_eq!(reach.by_region, by_region.into_iter().collect::<Vec<_>>());
            let mut by_name: Vec<&IndexedTenant> =
                tenants.iter().filter(|t| expected.contains(&t.id)).collect();
            by_name.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.0.cmp(&b.id.0)));
            let first: Vec<TenantId> = by_name.iter().take(limit).map(|t| t.id).collect();
            prop_assert_eq!(reach.first, first);
        }
    }

    #[test]
    fn unknown_components_and_tenants_reach_nobody() {
        let t = IndexedTenant {
            id: TenantId::generate(),
            name: "Contoso".into(),
            home_region: "eu-west".into(),
        };
        let index = PlacementIndex::build(rows(std::slice::from_ref(&t), &[(t.id, component(1))]));
        assert_eq!(index.tenants(), 1);
        assert_eq!(index.placements(), 1);
        let reach = index.reach(&[component(2)], &[TenantId::generate()], 10);
        assert_eq!(reach.total, 0);
        assert!(reach.by_region.is_empty() && reach.first.is_empty());
        let reach = index.reach(&[component(1)], &[t.id], 10);
        assert_eq!(reach.total, 1, "placed and named counts once");
        assert_eq!(reach.by_region, vec![("eu-west".to_owned(), 1)]);
    }
}
