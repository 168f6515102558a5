//! In-memory views of what tenants read most: each tenant's Graph issue list, kept for at
//! most a second and dropped at once when this instance publishes a health change. A
//! change made through another instance shows within the second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use candor_domain::language::Language;
use candor_domain::TenantId;
use serde_json::Value;

/// How long a view may be served without looking at the store again.
pub const VIEW_TTL: Duration = Duration::from_secs(1);

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
    issues: quick_cache::sync::Cache<(TenantId, Option<Language>), Arc<IssueView>>,
}

impl Default for HealthViews {
    fn default() -> Self {
        HealthViews {
            generation: AtomicU64::new(0),
            issues: quick_cache::sync::Cache::new(50_000),
        }
    }
}

impl HealthViews {
    /// Every view built before now is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh view, if there is one.
    pub fn issues(&self, tenant: TenantId, lang: Option<Language>) -> Option<Arc<IssueView>> {
        let view = self.issues.get(&(tenant, lang))?;
        (view.generation == self.generation() && view.built.elapsed() < VIEW_TTL).then_some(view)
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
