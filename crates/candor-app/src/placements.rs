//! The placement index (`candor_domain::health::placement_index`) kept in memory, for
//! the impact preview: built at start, built again after every topology change this
//! instance makes or hears announced, and, where other instances write too, every
//! [`REFRESH_EVERY`] in any case.
//!
//! Like the grant cache it fails closed: an index built before the latest change it knows
//! of is never used, nor is any index while this instance does not hear the others (where
//! others write); the preview then asks the database, as it always could. An
//! announcement that is lost costs at most [`REFRESH_EVERY`] of a preview that misses the
//! newest tenants; what a declared issue reaches is always computed by the database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use std::collections::HashMap;

use candor_domain::health::placement_index::PlacementIndex;
use candor_domain::health::ComponentId;
use candor_domain::store::ImpactPreview;
use candor_domain::TenantId;

/// How often the index is rebuilt even when no change was heard, where other instances
/// write too (an announcement may be lost). The embedded store sees every write.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// How long after a change the rebuild waits, so an import's burst of changes is one
/// rebuild.
const SETTLE: Duration = Duration::from_millis(250);

pub struct PlacementCache {
    /// Every write goes through this process: nothing unheard can make it stale.
    complete: bool,
    hearing: AtomicBool,
    /// Raised by every change; an index is current only if built at the latest.
    generation: AtomicU64,
    current: RwLock<Option<(u64, Arc<PlacementIndex>)>>,
    wake: tokio::sync::Notify,
}

impl PlacementCache {
    pub fn new(complete: bool) -> PlacementCache {
        PlacementCache {
            complete,
            hearing: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            current: RwLock::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The index, if it is current and may be trusted.
    pub fn get(&self) -> Option<Arc<PlacementIndex>> {
        if !self.complete && !self.hearing.load(Ordering::Acquire) {
            return None;
        }
        let current = self.current.read().ok()?;
        let (built_at, index) = current.as_ref()?;
        (*built_at == self.generation.load(Ordering::Acquire)).then(|| index.clone())
    }

    /// Tenants or placements changed (here, or announced by another instance).
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// The listener came up or went down; either way a change may have been missed.
    pub fn set_hearing(&self, on: bool) {
        self.hearing.store(on, Ordering::Release);
        self.changed();
    }

    /// The generation to build at; read it *before* reading the store.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn install(&self, built_at: u64, index: Arc<PlacementIndex>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some((built_at, index));
        }
    }
}

impl crate::Core {
    /// Tenants or placements changed and committed: rebuild this instance's index, and
    /// tell the others.
    pub async fn placements_changed(&self) {
        self.placements.changed();
        if let Err(e) = self
            .store
            .announce(candor_domain::store::Announcement::Topology)
            .await
        {
            tracing::warn!(error = %e, "could not announce a topology change to other instances; their previews ask the database until their next refresh");
        }
    }

    /// Builds the placement index now, and again after every change, until `stop`.
    pub async fn keep_placement_index(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            let built_at = self.placements.generation();
            let started = std::time::Instant::now();
            let wait = match self.store.placement_index_rows().await {
                Ok(rows) => {
                    let index =
                        tokio::task::spawn_blocking(move || PlacementIndex::build(rows)).await;
                    match index {
                        Ok(index) => {
                            tracing::debug!(
                                tenants = index.tenants(),
                                placements = index.placements(),
                                ms = started.elapsed().as_millis() as u64,
                                "placement index built"
                            );
                            self.placements.install(built_at, Arc::new(index));
                            if self.placements.complete {
                                // Nothing unheard can change it: wait for a change.
                                Duration::MAX
                            } else {
                                REFRESH_EVERY
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not build the placement index; previews ask the database");
                            Duration::from_secs(5)
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the placements; previews ask the database until they can, trying again in 5 s");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.placements.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SETTLE) => {}
            }
        }
    }
}

/// Who `covered` components and `explicit` tenants reach, from the index when it is
/// current, else from the database; the same answer either way.
pub async fn preview(
    core: &crate::Core,
    covered: &[ComponentId],
    explicit: &[TenantId],
    limit: u32,
) -> crate::error::AppResult<ImpactPreview> {
    let Some(index) = core.placements.get() else {
        return Ok(core.store.preview_impact(covered, explicit, limit).await?);
    };
    let reach = index.reach(covered, explicit, limit as usize);
    let mut tenants = core.store.get_tenants(&reach.first).await?;
    let rank: HashMap<TenantId, usize> = reach
        .first
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i))
        .collect();
    tenants.sort_by_key(|t| rank.get(&t.id).copied().unwrap_or(usize::MAX));
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(ImpactPreview {
        total: count(reach.total),
        by_region: reach
            .by_region
            .into_iter()
            .map(|(r, n)| (r, count(n)))
            .collect(),
        tenants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_index_built_at_the_latest_change_is_used() {
        let cache = PlacementCache::new(true);
        assert!(cache.get().is_none(), "nothing built yet");
        let at = cache.generation();
        cache.install(at, Arc::new(PlacementIndex::default()));
        assert!(cache.get().is_some());
        cache.changed();
        assert!(cache.get().is_none(), "a change makes it stale");
        // A build that began before a change is stale as soon as it is installed.
        let at = cache.generation();
        cache.changed();
        cache.install(at, Arc::new(PlacementIndex::default()));
        assert!(cache.get().is_none());
    }

    #[test]
    fn among_several_instances_it_is_used_only_while_hearing() {
        let cache = PlacementCache::new(false);
        cache.install(cache.generation(), Arc::new(PlacementIndex::default()));
        assert!(cache.get().is_none(), "not hearing the others");
        cache.set_hearing(true);
        assert!(cache.get().is_none(), "hearing begins with a rebuild");
        cache.install(cache.generation(), Arc::new(PlacementIndex::default()));
        assert!(cache.get().is_some());
        cache.set_hearing(false);
        assert!(cache.get().is_none());
    }
}
