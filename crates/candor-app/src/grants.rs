//! The approved Lockbox grants per (engineer, tenant), kept in memory so the enforcement
//! point answers without a database round trip, and the grant tokens already signed.
//!
//! Correctness comes first: revocation must be refused from the moment it is recorded.
//! Every Lockbox change made by this process bumps a generation *after* it commits, and
//! an entry loaded under an older generation is never used, so a load that raced a
//! revocation is thrown away.
//!
//! Where this process is the only writer (the embedded store) that is the whole story.
//! Where other instances write too (PostgreSQL), the cache is trusted only while this
//! instance both hears their announcements (each Lockbox change is announced after it
//! commits, and dropping the cache on it takes milliseconds) and has read the database's
//! Lockbox generation (raised in every change's transaction) within [`TRUST_FOR`]. The
//! generation is read every [`CHECK_EVERY`]: an announcement that is lost costs at most
//! that long. A listener that fails, or reads that stop succeeding, turn the cache off
//! (every decision then reads the database) until both work again.
//! Whatever the cache says, the time checks (`allows(now)`) run on every call.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use candor_domain::lockbox::{LockboxRequest, LockboxRequestId};
use candor_domain::{OperatorId, TenantId};
use time::{Duration, OffsetDateTime};

/// A cached grant token is handed out again only while it has at least this long to live.
pub const TOKEN_REUSE_MARGIN: Duration = Duration::seconds(60);

/// How often an instance among several reads the database's Lockbox generation.
pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long after its last successful read of the generation the cache is trusted.
pub const TRUST_FOR: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
struct Entry {
    generation: u64,
    approved: Arc<Vec<LockboxRequest>>,
}

pub struct GrantCache {
    /// Every write goes through this process: nothing else can make an entry stale.
    complete: bool,
    /// This instance hears the others' announcements (its listener is up).
    hearing: AtomicBool,
    /// When the database's generation was last read, as nanoseconds since `started`
    /// (0: never).
    checked: AtomicU64,
    /// The database's generation as last read (-1: never).
    db_generation: AtomicI64,
    started: std::time::Instant,
    generation: AtomicU64,
    entries: quick_cache::sync::Cache<(OperatorId, TenantId), Entry>,
    tokens: quick_cache::sync::Cache<LockboxRequestId, (String, OffsetDateTime)>,
}

impl GrantCache {
    /// `complete`: every write to the store goes through this process.
    pub fn new(complete: bool) -> GrantCache {
        GrantCache {
            complete,
            hearing: AtomicBool::new(false),
            checked: AtomicU64::new(0),
            db_generation: AtomicI64::new(-1),
            started: std::time::Instant::now(),
            generation: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::new(100_000),
            tokens: quick_cache::sync::Cache::new(100_000),
        }
    }

    /// Whether entries may be used now.
    pub fn enabled(&self) -> bool {
        self.complete || (self.hearing.load(Ordering::Acquire) && self.checked_lately())
    }

    fn checked_lately(&self) -> bool {
        let at = self.checked.load(Ordering::Acquire);
        at != 0
            && self
                .started
                .elapsed()
                .as_nanos()
                .saturating_sub(u128::from(at))
                < TRUST_FOR.as_nanos()
    }

    /// Whether this process is the only writer (then nothing needs hearing or checking).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// The listener came up (true) or went down (false). Either way what was kept may
    /// have missed a change.
    pub fn set_hearing(&self, on: bool) {
        self.hearing.store(on, Ordering::Release);
        self.changed();
    }

    /// The database's generation was read by a query sent at `read_started`: a new one
    /// means another instance changed something this one may not have heard of.
    ///
    /// Trust is counted from when the read was *sent*, not when it answered: every change
    /// committed before then is in what it read, so however slow the read, a revocation
    /// committed at `c` is never answered from memory after `c + TRUST_FOR`.
    pub fn checked(&self, db_generation: i64, read_started: std::time::Instant) {
        let before = self.db_generation.swap(db_generation, Ordering::AcqRel);
        if before != db_generation {
            self.changed();
        }
        let at = read_started
            .saturating_duration_since(self.started)
            .as_nanos();
        let at = u64::try_from(at).unwrap_or(u64::MAX).max(1);
        self.checked.fetch_max(at, Ordering::AcqRel);
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
        if !self.enabled() {
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
        if self.enabled() {
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
    fn among_several_instances_it_is_trusted_only_while_it_hears_and_has_checked() {
        let cache = GrantCache::new(false);
        let (op, tenant) = (OperatorId::generate(), TenantId::generate());
        let keep = |cache: &GrantCache| {
            cache.remember(op, tenant, cache.generation(), Arc::new(Vec::new()));
            cache.approved(op, tenant).is_some()
        };
        assert!(!keep(&cache), "neither hearing nor checked");
        cache.set_hearing(true);
        assert!(!keep(&cache), "hearing, never checked");
        cache.checked(7, std::time::Instant::now());
        assert!(keep(&cache), "hearing and checked just now");
        cache.checked(7, std::time::Instant::now());
        assert!(
            cache.approved(op, tenant).is_some(),
            "the same generation keeps it"
        );
        cache.checked(8, std::time::Instant::now());
        assert!(
            cache.approved(op, tenant).is_none(),
            "a new generation in the database drops it"
        );
        assert!(keep(&cache));
        cache.set_hearing(false);
        assert!(
            cache.approved(op, tenant).is_none(),
            "a lost listener drops it"
        );
        assert!(!keep(&cache), "and keeps nothing until it hears again");
    }

    #[test]
    fn a_check_that_stops_succeeding_turns_it_off() {
        // Started a while ago, last checked right at the start: more than TRUST_FOR ago.
        let cache = GrantCache {
            started: std::time::Instant::now() - TRUST_FOR - std::time::Duration::from_millis(10),
            ..GrantCache::new(false)
        };
        cache.set_hearing(true);
        cache.checked.store(1, Ordering::Release);
        assert!(!cache.enabled(), "last checked more than TRUST_FOR ago");
        cache.checked(1, std::time::Instant::now());
        assert!(cache.enabled(), "checked again just now");
        assert!(
            GrantCache::new(true).enabled(),
            "the only writer needs no checks"
        );
    }

    #[test]
    fn a_slow_read_is_trusted_from_when_it_was_sent() {
        let cache = GrantCache {
            started: std::time::Instant::now() - TRUST_FOR * 2,
            ..GrantCache::new(false)
        };
        cache.set_hearing(true);
        // A read sent more than TRUST_FOR ago that answers only now proves nothing about
        // the changes committed while it was on its way.
        let sent = std::time::Instant::now() - TRUST_FOR - std::time::Duration::from_millis(10);
        cache.checked(1, sent);
        assert!(!cache.enabled(), "the read was sent too long ago");
        cache.checked(1, std::time::Instant::now());
        assert!(cache.enabled());
        cache.checked(1, sent);
        assert!(cache.enabled(), "an older read never moves trust back");
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
