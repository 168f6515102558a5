//! The approved Lockbox grants per (engineer, tenant), kept in memory so the enforcement
//! point answers without a database round trip, and the grant tokens already signed.
//!
//! Correctness comes first: revocation must be refused from the moment it is recorded.
//! Every Lockbox change made by this process bumps a generation *after* it commits, and
//! an entry loaded under an older generation is never used, so a load that raced a
//! revocation is thrown away. That covers every writer only when this process is the
//! only one: the cache is on for the embedded SQLite store (one instance) and off for
//! PostgreSQL, where other instances write too and each check goes to the database.
//! Whatever the cache says, the time checks (`allows(now)`) run on every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candor_domain::lockbox::{LockboxRequest, LockboxRequestId};
use candor_domain::{OperatorId, TenantId};
use time::{Duration, OffsetDateTime};

/// A cached grant token is handed out again only while it has at least this long to live.
pub const TOKEN_REUSE_MARGIN: Duration = Duration::seconds(60);

#[derive(Clone)]
struct Entry {
    generation: u64,
    approved: Arc<Vec<LockboxRequest>>,
}

pub struct GrantCache {
    enabled: bool,
    generation: AtomicU64,
    entries: quick_cache::sync::Cache<(OperatorId, TenantId), Entry>,
    tokens: quick_cache::sync::Cache<LockboxRequestId, (String, OffsetDateTime)>,
}

impl GrantCache {
    pub fn new(enabled: bool) -> GrantCache {
        GrantCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::new(100_000),
            tokens: quick_cache::sync::Cache::new(100_000),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The generation to stamp a load with; read it *before* reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The approved requests of `operator` in `tenant`, if cached under the current
    /// generation.
    pub fn approved(
        &self,
        operator: OperatorId,
        tenant: TenantId,
    ) -> Option<Arc<Vec<LockboxRequest>>> {
        if !self.enabled {
            return None;
        }
        let entry = self.entries.get(&(operator, tenant))?;
        (entry.generation == self.generation()).then_some(entry.approved)
    }

    pub fn remember(
        &self,
        operator: OperatorId,
        tenant: TenantId,
        generation: u64,
        approved: Arc<Vec<LockboxRequest>>,
    ) {
        if self.enabled {
            self.entries.insert(
                (operator, tenant),
                Entry {
                    generation,
                    approved,
                },
            );
        }
    }

    /// After any Lockbox change has committed: nothing loaded before it is used again.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A grant token signed earlier for `grant` that still has a while to live.
    pub fn token(
        &self,
        grant: LockboxRequestId,
        now: OffsetDateTime,
    ) -> Option<(String, OffsetDateTime)> {
        let (token, expires) = self.tokens.get(&grant)?;
        (expires - now >= TOKEN_REUSE_MARGIN).then_some((token, expires))
    }

    pub fn remember_token(&self, grant: LockboxRequestId, token: String, expires: OffsetDateTime) {
        self.tokens.insert(grant, (token, expires));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_load_that_raced_a_change_is_never_used() {
        let cache = GrantCache::new(true);
        let (op, tenant) = (OperatorId::generate(), TenantId::generate());
        let stamped = cache.generation();
        // ...the store is read; meanwhile a revocation commits and says so...
        cache.changed();
        cache.remember(op, tenant, stamped, Arc::new(Vec::new()));
        assert!(cache.approved(op, tenant).is_none());
        let fresh = cache.generation();
        cache.remember(op, tenant, fresh, Arc::new(Vec::new()));
        assert!(cache.approved(op, tenant).is_some());
        cache.changed();
        assert!(cache.approved(op, tenant).is_none());
    }

    #[test]
    fn off_means_nothing_is_kept() {
        let cache = GrantCache::new(false);
        let (op, tenant) = (OperatorId::generate(), TenantId::generate());
        cache.remember(op, tenant, cache.generation(), Arc::new(Vec::new()));
        assert!(cache.approved(op, tenant).is_none());
    }

    #[test]
    fn tokens_are_reused_only_with_time_to_spare() {
        let cache = GrantCache::new(true);
        let grant = LockboxRequestId::generate();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        cache.remember_token(grant, "t".into(), t0 + Duration::minutes(5));
        assert!(cache.token(grant, t0).is_some());
        assert!(cache
            .token(grant, t0 + Duration::minutes(4) + Duration::seconds(1))
            .is_none());
    }
}
