//! What anyone may know without signing in: the broad issues (a whole region, a whole
//! service, or scope still unclear), their posts, and each service's status. Feeds and
//! the backup status site are built from this, and nothing else.

use std::collections::BTreeMap;

use candor_domain::health::availability;
use candor_domain::health::maintenance::{MaintenanceState, ScheduledMaintenance};
use candor_domain::health::{Issue, Post, Service, Status};
use candor_domain::store::IssueFilter;
use candor_domain::JobId;
use time::{Duration, OffsetDateTime};

use super::Core;
use crate::error::AppResult;
use crate::jobs::{Job, Periodic, STATUS_SITE_PUBLISH, STATUS_SITE_UPLOAD};

/// Resolved issues stay on the public page this long.
pub const RECENT: Duration = Duration::days(7);

pub struct PublicService {
    pub service: Service,
    pub status: Status,
    /// A broad planned maintenance of it is in progress.
    pub under_maintenance: bool,
    /// The last `HISTORY_DAYS` days (UTC), oldest first, from the broad issues.
    pub history: Vec<availability::Day>,
}

/// Days of availability history the public page shows.
pub const HISTORY_DAYS: u16 = 90;

pub struct PublicIssue {
    pub issue: Issue,
    pub service_name: String,
    /// Newest first.
    pub posts: Vec<Post>,
}

pub struct PublicStatus {
    pub generated: OffsetDateTime,
    /// The newest public change this status includes (none before the first), so a
    /// reader of a copy can tell how far behind it is.
    pub last_change: Option<OffsetDateTime>,
    pub services: Vec<PublicService>,
    /// Active first, then by last change, newest first.
    pub issues: Vec<PublicIssue>,
    /// Broad planned maintenance, scheduled or in progress, or completed within
    /// `RECENT`; soonest window first.
    pub maintenances: Vec<ScheduledMaintenance>,
}

pub async fn public_status(core: &Core) -> AppResult<PublicStatus> {
    let now = core.clock.now();
    // Read before the status itself: every change announced by then has committed.
    let last_change = last_change(core).await?;
    let mut found: BTreeMap<String, Issue> = BTreeMap::new();
    for filter in [
        IssueFilter {
            active_only: true,
            modified_since: None,
            limit: 1000,
        },
        IssueFilter {
            active_only: false,
            modified_since: Some(now - RECENT),
            limit: 1000,
        },
    ] {
        for issue in core.store.list_issues(&filter).await? {
            if issue.scope.is_broad() {
                found.insert(issue.id.to_string(), issue);
            }
        }
    }
    // Every broad issue that touched the history's days: any resolved since its first
    // day was last changed after it.
    let since = now - Duration::days(i64::from(HISTORY_DAYS));
    let mut spans: BTreeMap<String, Vec<availability::Span>> = BTreeMap::new();
    let touched = core
        .store
        .list_issues(&IssueFilter {
            active_only: false,
            modified_since: Some(since),
            limit: 10_000,
        })
        .await?;
    for issue in touched.iter().chain(found.values()) {
        if issue.scope.is_broad() && issue.end.is_none_or(|e| e >= since) {
            if let Some(span) = availability::Span::of(issue) {
                spans
                    .entry(issue.service.as_str().to_owned())
                    .or_default()
                    .push(span);
            }
        }
    }
    // Maintenance is shown on its days, apart: it never counts against availability.
    let broad_maintenance = super::maintenance::public(core).await?;
    for m in &broad_maintenance {
        if let Some(span) = m.maintenance.span() {
            if span.end.is_none_or(|e| e >= since) {
                for service in &m.maintenance.services {
                    spans
                        .entry(service.as_str().to_owned())
                        .or_default()
                        .push(span);
                }
            }
        }
    }
    let maintenances: Vec<ScheduledMaintenance> = {
        let mut shown: Vec<ScheduledMaintenance> = broad_maintenance
            .into_iter()
            .filter(|m| match m.maintenance.state {
                MaintenanceState::Scheduled | MaintenanceState::InProgress => true,
                MaintenanceState::Completed => m.maintenance.window.end >= now - RECENT,
                MaintenanceState::Cancelled => false,
            })
            .collect();
        shown.sort_by_key(|m| m.maintenance.window.start);
        shown
    };
    // An issue found by both reads counts once.
    for list in spans.values_mut() {
        list.sort_by_key(|s| (s.start, s.end, s.impact));
        list.dedup();
    }
    let catalog = core.store.list_services().await?;
    let mut issues = with_posts(core, &catalog, found.into_values().collect()).await?;
    issues.sort_by(|a, b| {
        a.issue
            .is_resolved()
            .cmp(&b.issue.is_resolved())
            .then(b.issue.last_modified.cmp(&a.issue.last_modified))
    });
    let services = catalog
        .into_iter()
        .map(|service| {
            let status = issues
                .iter()
                .filter(|i| i.issue.service == service.id && !i.issue.is_resolved())
                .map(|i| i.issue.status)
                .max_by_key(|s| s.severity())
                .unwrap_or(Status::ServiceOperational);
            let history = availability::history(
                spans
                    .get(service.id.as_str())
                    .map_or(&[][..], Vec::as_slice),
                now,
                HISTORY_DAYS,
                &jiff::tz::TimeZone::UTC,
            );
            let under_maintenance = maintenances.iter().any(|m| {
                m.maintenance.services.contains(&service.id) && m.maintenance.is_active(now)
            });
            PublicService {
                service,
                status,
                under_maintenance,
                history,
            }
        })
        .collect();
    Ok(PublicStatus {
        generated: now,
        last_change,
        services,
        issues,
        maintenances,
    })
}

/// Issues with their service's name and their posts (newest first), the posts read in
/// one round trip.
pub async fn with_posts(
    core: &Core,
    catalog: &[Service],
    issues: Vec<Issue>,
) -> AppResult<Vec<PublicIssue>> {
    let ids: Vec<_> = issues.iter().map(|i| i.id.clone()).collect();
    let mut posts = core.store.posts_of_issues(&ids).await?;
    Ok(issues
        .into_iter()
        .map(|issue| {
            let mut p = posts.remove(&issue.id).unwrap_or_default();
            p.sort_by_key(|p| std::cmp::Reverse(p.created_at));
            PublicIssue {
                service_name: catalog
                    .iter()
                    .find(|s| s.id == issue.service)
                    .map(|s| s.display_name.clone())
                    .unwrap_or_else(|| issue.service.to_string()),
                issue,
                posts: p,
            }
        })
        .collect())
}

/// Counts public changes: each one asks for the site generation after it.
const SITE_REQUESTED: &str = "status_site.requested";
/// The newest public change's time (Unix microseconds).
const SITE_CHANGED_AT: &str = "status_site.changed_at";
/// The newest generation a published site includes.
const SITE_BUILT: &str = "status_site.built";
/// The newest generation the site's bucket holds.
const SITE_UPLOADED: &str = "status_site.uploaded";

async fn last_change(core: &Core) -> AppResult<Option<OffsetDateTime>> {
    let micros = core.store.current_number(SITE_CHANGED_AT).await?;
    Ok((micros > 0)
        .then(|| OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok())
        .flatten())
}

/// After a public change has committed: ask for a rebuild of the backup status site.
/// Each change asks for its own generation, so no request is ever taken for one that
/// already ran; a rebuild that starts later includes it, and the rebuilds asked for
/// meanwhile find nothing left to do (they coalesce). A failure to ask is logged, not
/// returned: the change itself is recorded, and the minute's rebuild catches up.
pub async fn changed(core: &Core) {
    let now = core.clock.now();
    let micros = i64::try_from(now.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
    let asked = async {
        core.store.raise_number(SITE_CHANGED_AT, micros).await?;
        let generation = core.store.next_number(SITE_REQUESTED, 1).await?;
        let job = Job::StatusSitePublish(Periodic::default())
            .at(now)
            .dedupe(format!("{STATUS_SITE_PUBLISH}:change:{generation}"));
        core.store.enqueue_job(JobId::generate(), job, now).await
    };
    if let Err(e) = asked.await {
        tracing::warn!(error = %e, "could not queue the status site rebuild");
    }
}

/// The generation a rebuild starting now covers: every change asked for so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteGeneration(pub i64);

/// Read before a rebuild reads the status, so what it builds includes the generation.
pub async fn site_generation(core: &Core) -> AppResult<SiteGeneration> {
    Ok(SiteGeneration(
        core.store.current_number(SITE_REQUESTED).await?,
    ))
}

/// Whether the published site is older than `generation`.
pub async fn site_behind(core: &Core, generation: SiteGeneration) -> AppResult<bool> {
    Ok(core.store.current_number(SITE_BUILT).await? < generation.0)
}

/// Records that a site including `generation` is published.
pub async fn site_built(core: &Core, generation: SiteGeneration) -> AppResult<()> {
    Ok(core.store.raise_number(SITE_BUILT, generation.0).await?)
}

/// Whether the site's bucket holds a copy older than `generation`.
pub async fn bucket_behind(core: &Core, generation: SiteGeneration) -> AppResult<bool> {
    Ok(core.store.current_number(SITE_UPLOADED).await? < generation.0)
}

/// Records that the bucket holds a site including `generation`.
pub async fn bucket_built(core: &Core, generation: SiteGeneration) -> AppResult<()> {
    Ok(core.store.raise_number(SITE_UPLOADED, generation.0).await?)
}

/// After the site's directory was rebuilt for `generation`: ask for its copy in the
/// bucket (once per generation; an upload that starts later covers the ones before).
pub async fn upload_wanted(core: &Core, generation: SiteGeneration) -> AppResult<()> {
    let now = core.clock.now();
    let job = Job::StatusSiteUpload(Periodic::default())
        .at(now)
        .dedupe(format!("{STATUS_SITE_UPLOAD}:{}", generation.0));
    core.store.enqueue_job(JobId::generate(), job, now).await?;
    Ok(())
}
