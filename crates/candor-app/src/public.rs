//! What anyone may know without signing in: the broad issues (a whole region, a whole
//! service, or scope still unclear), their posts, and each service's status. Feeds and
//! the backup status site are built from this, and nothing else.

use std::collections::BTreeMap;

use candor_domain::health::{Issue, Post, Service, Status};
use candor_domain::store::IssueFilter;
use candor_domain::JobId;
use time::{Duration, OffsetDateTime};

use super::Core;
use crate::error::AppResult;
use crate::jobs::{Job, Periodic, STATUS_SITE_PUBLISH};

/// Resolved issues stay on the public page this long.
pub const RECENT: Duration = Duration::days(7);

pub struct PublicService {
    pub service: Service,
    pub status: Status,
}

pub struct PublicIssue {
    pub issue: Issue,
    pub service_name: String,
    /// Newest first.
    pub posts: Vec<Post>,
}

pub struct PublicStatus {
    pub generated: OffsetDateTime,
    pub services: Vec<PublicService>,
    /// Active first, then by last change, newest first.
    pub issues: Vec<PublicIssue>,
}

pub async fn public_status(core: &Core) -> AppResult<PublicStatus> {
    let now = core.clock.now();
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
            PublicService { service, status }
        })
        .collect();
    Ok(PublicStatus {
        generated: now,
        services,
        issues,
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

/// After a health change: rebuild the backup status site within seconds (one job per
/// second at most, whoever asks). A failure to queue is logged, not returned: the change
/// itself is already recorded, and the minute's periodic rebuild catches up.
pub async fn changed(core: &Core) {
    let now = core.clock.now();
    let job = Job::StatusSitePublish(Periodic::default())
        .at(now)
        .dedupe(format!("{STATUS_SITE_PUBLISH}:{}", now.unix_timestamp()));
    if let Err(e) = core.store.enqueue_job(JobId::generate(), job, now).await {
        tracing::warn!(error = %e, "could not queue the status site rebuild");
    }
}
