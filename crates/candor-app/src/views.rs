//! In-memory views of what tenants read most: each tenant's Graph issue list, dropped at
//! once when this instance publishes a health change. Other instances on the same
//! PostgreSQL database hear of it through `NOTIFY` and drop theirs too; without that
//! (the embedded store, which a CLI command in another process may write to) a view is
//! kept for at most a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use candor_domain::language::Language;
use candor_domain::TenantId;
use serde_json::Value;

/// How long a view may be served without looking at the store again.
pub const VIEW_TTL: Duration = Duration::from_secs(1);
/// The same while this instance hears every change announced: only a safety net then.
pub const ANNOUNCED_VIEW_TTL: Duration = Duration::from_secs(30);

/// A tenant's issues as Graph JSON items, and the whole default response once built.
pub struct IssueView {
    generation: u64,
    built: Instant,
    pub items: Arc<Vec<Value>>,
    /// The response to a request with no query options, per API version (v1.0, beta).
    pub default_body: [std::sync::OnceLock<Bytes>; 2],
}

pub struct HealthViews {
    generation: AtomicU64,
    /// Whether changes from other instances are heard as they happen.
    hearing: AtomicBool,
    issues: quick_cache::sync::Cache<(TenantId, Option<Language>), Arc<IssueView>>,
    /// The public status as Statuspage's API documents, with the generation they were
    /// built at and when.
    public_documents: std::sync::RwLock<Option<(u64, Instant, Arc<crate::statuspage::Documents>)>>,
}

impl Default for HealthViews {
    fn default() -> Self {
        HealthViews {
            generation: AtomicU64::new(0),
            hearing: AtomicBool::new(false),
            issues: quick_cache::sync::Cache::new(50_000),
            public_documents: std::sync::RwLock::new(None),
        }
    }
}

impl HealthViews {
    /// Every view built before now is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every change made anywhere is heard (and invalidates) as it happens.
    pub fn set_hearing(&self, hearing: bool) {
        self.hearing.store(hearing, Ordering::Release);
    }

    /// Whether this instance hears other instances' changes right now.
    pub fn hearing(&self) -> bool {
        self.hearing.load(Ordering::Acquire)
    }

    fn ttl(&self) -> Duration {
        if self.hearing.load(Ordering::Acquire) {
            ANNOUNCED_VIEW_TTL
        } else {
            VIEW_TTL
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh view, if there is one.
    pub fn issues(&self, tenant: TenantId, lang: Option<Language>) -> Option<Arc<IssueView>> {
        let view = self.issues.get(&(tenant, lang))?;
        (view.generation == self.generation() && view.built.elapsed() < self.ttl()).then_some(view)
    }

    /// The public documents, if fresh.
    pub fn public_documents(&self) -> Option<Arc<crate::statuspage::Documents>> {
        let kept = self.public_documents.read().ok()?;
        let (generation, built, docs) = kept.as_ref()?;
        (*generation == self.generation() && built.elapsed() < self.ttl()).then(|| docs.clone())
    }

    /// Keeps public documents built from the store at `generation` (read before it was).
    pub fn keep_public_documents(&self, generation: u64, docs: Arc<crate::statuspage::Documents>) {
        if let Ok(mut kept) = self.public_documents.write() {
            *kept = Some((generation, Instant::now(), docs));
        }
    }

    /// Keeps a view built from the store at `generation` (read before the store was).
    pub fn keep_issues(
        &self,
        tenant: TenantId,
        lang: Option<Language>,
        generation: u64,
        items: Vec<Value>,
    ) -> Arc<IssueView> {
        let view = Arc::new(IssueView {
            generation,
            built: Instant::now(),
            items: Arc::new(items),
            default_body: Default::default(),
        });
        self.issues.insert((tenant, lang), view.clone());
        view
    }
}
