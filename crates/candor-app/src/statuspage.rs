//! The public status in the shape of Statuspage's public API v2 (`/api/v2/*.json`), which
//! aggregators, dashboards, exporters, chat bots and Statuspage's own widget read. Built
//! from `PublicStatus` alone, so it shows exactly what the public page shows (broad issues
//! and broad maintenance), the same on the live site and the backup site.
//!
//! How Candor's words map to Statuspage's is one table per kind below, and in
//! `docs/API.md`.

use candor_domain::health::maintenance::{ExpectedImpact, MaintenanceState, ScheduledMaintenance};
use candor_domain::health::{Classification, Status};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use serde::Serialize;
use time::OffsetDateTime;

use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::public::{PublicIssue, PublicService, PublicStatus};
use crate::Core;

/// The page every answer names.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rollup {
    /// none, minor, major, critical, or maintenance.
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Component {
    pub id: String,
    pub name: String,
    /// operational, degraded_performance, partial_outage, major_outage, under_maintenance.
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub position: usize,
    pub description: Option<String>,
    pub showcase: bool,
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AffectedComponent {
    pub code: String,
    pub name: String,
    pub old_status: &'static str,
    pub new_status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: &'static str,
    pub body: String,
    pub incident_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
    pub affected_components: Vec<AffectedComponent>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    /// none, minor, major or critical.
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    pub incident_updates: Vec<IncidentUpdate>,
    pub components: Vec<Component>,
    /// Scheduled maintenances only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_until: Option<String>,
}

/// Who the page is: its id, name and address (the public URL).
#[derive(Debug, Clone)]
pub struct PageInfo {
    pub id: String,
    pub name: String,
    pub url: String,
}

impl PageInfo {
    /// The page of the installation at `public_url`: its id is stable for that address
    /// (the first 12 hex digits of its SHA-256, the length of Statuspage's ids).
    pub fn of(public_url: &str) -> PageInfo {
        use sha2::Digest;
        let url = public_url.trim_end_matches('/').to_owned();
        let digest = sha2::Sha256::digest(url.as_bytes());
        PageInfo {
            id: hex::encode(&digest[..6]),
            name: crate::i18n::Tr::new(Language::English, "UTC").t("public-title"),
            url,
        }
    }
}

/// A component's status for a service's state on the public page.
pub fn component_status(s: &PublicService) -> &'static str {
    match s.status {
        Status::ServiceInterruption => "major_outage",
        Status::ServiceDegradation | Status::RestoringService | Status::ExtendedRecovery => {
            "partial_outage"
        }
        Status::ServiceOperational if s.under_maintenance => "under_maintenance",
        Status::ServiceOperational => "operational",
        // Any other active issue: something is wrong, how badly is not yet known.
        _ => "degraded_performance",
    }
}

/// An incident's status for an issue's.
pub fn incident_status(s: Status) -> &'static str {
    match s {
        Status::Investigating
        | Status::Reported
        | Status::Confirmed
        | Status::InvestigationSuspended
        | Status::ServiceOperational => "investigating",
        Status::ServiceDegradation | Status::ServiceInterruption | Status::RestoringService => {
            "identified"
        }
        Status::VerifyingService | Status::ExtendedRecovery => "monitoring",
        Status::ServiceRestored
        | Status::FalsePositive
        | Status::Resolved
        | Status::MitigatedExternal
        | Status::Mitigated
        | Status::ResolvedExternal => "resolved",
        Status::PostIncidentReviewPublished => "postmortem",
    }
}

/// An incident's impact: advisories are minor; incidents major, critical once service is
/// interrupted; a false positive none.
pub fn incident_impact(i: &PublicIssue) -> &'static str {
    let issue = &i.issue;
    if issue.status == Status::FalsePositive {
        return "none";
    }
    let interrupted = issue.status == Status::ServiceInterruption
        || i.posts
            .iter()
            .any(|p| p.status == Status::ServiceInterruption);
    match issue.classification {
        Classification::Advisory => "minor",
        Classification::Incident if interrupted => "critical",
        Classification::Incident => "major",
    }
}

pub fn maintenance_status(s: MaintenanceState) -> &'static str {
    match s {
        MaintenanceState::Scheduled => "scheduled",
        MaintenanceState::InProgress => "in_progress",
        // Statuspage has no cancelled maintenance: it is completed, and says so.
        MaintenanceState::Completed | MaintenanceState::Cancelled => "completed",
    }
}

pub fn maintenance_impact(i: ExpectedImpact) -> &'static str {
    match i {
        ExpectedImpact::None => "none",
        ExpectedImpact::Degraded => "minor",
        ExpectedImpact::Unavailable => "major",
    }
}

/// The page's rollup, from its components: the worst one decides.
pub fn rollup(components: &[Component]) -> Rollup {
    let has = |s: &str| components.iter().any(|c| c.status == s);
    if has("major_outage") {
        Rollup {
            indicator: "critical",
            description: "Major System Outage",
        }
    } else if has("partial_outage") {
        Rollup {
            indicator: "major",
            description: "Partial System Outage",
        }
    } else if has("degraded_performance") {
        Rollup {
            indicator: "minor",
            description: "Partially Degraded Service",
        }
    } else if has("under_maintenance") {
        Rollup {
            indicator: "maintenance",
            description: "Service Under Maintenance",
        }
    } else {
        Rollup {
            indicator: "none",
            description: "All Systems Operational",
        }
    }
}

/// Everything the v2 API answers, computed once per public status.
pub struct StatuspageView {
    pub page: Page,
    pub components: Vec<Component>,
    /// Newest change first, at most 50 (Statuspage's page).
    pub incidents: Vec<Incident>,
    /// Soonest window first.
    pub maintenances: Vec<(MaintenanceState, Incident)>,
}

/// The most incidents `incidents.json` lists, as Statuspage's does.
pub const MAX_INCIDENTS: usize = 50;

impl StatuspageView {
    pub fn of(status: &PublicStatus, info: &PageInfo) -> StatuspageView {
        let page_id = info.id.clone();
        let stamp = |t: OffsetDateTime| rfc3339(t);
        let components: Vec<Component> = status
            .services
            .iter()
            .enumerate()
            .map(|(n, s)| Component {
                id: s.service.id.to_string(),
                name: s.service.display_name.clone(),
                status: component_status(s),
                created_at: stamp(status.generated),
                updated_at: stamp(status.last_change.unwrap_or(status.generated)),
                position: n + 1,
                description: None,
                showcase: true,
                start_date: None,
                group_id: None,
                page_id: page_id.clone(),
                group: false,
                only_show_if_degraded: false,
            })
            .collect();
        let component_of = |id: &str| components.iter().find(|c| c.id == id).cloned();
        let link = |anchor: &str| format!("{}/status#{anchor}", info.url.trim_end_matches('/'));
        // Newest change first, by time (not by the text of the time).
        let mut newest: Vec<&PublicIssue> = status.issues.iter().collect();
        newest.sort_by_key(|i| std::cmp::Reverse(i.issue.last_modified));
        let incidents: Vec<Incident> = newest
            .into_iter()
            .take(MAX_INCIDENTS)
            .map(|i| {
                let issue = &i.issue;
                let id = issue.id.to_string();
                let affected: Vec<Component> =
                    component_of(issue.service.as_str()).into_iter().collect();
                let monitoring_at = i
                    .posts
                    .iter()
                    .filter(|p| incident_status(p.status) == "monitoring")
                    .map(|p| p.created_at)
                    .min();
                let resolved_at = issue.is_resolved().then_some(issue.end).flatten();
                let updates = i
                    .posts
                    .iter()
                    .map(|p| IncidentUpdate {
                        id: format!("{id}-{}", p.seq),
                        status: incident_status(p.status),
                        body: crate::notify::plain_text(p.body_in(Language::English)),
                        incident_id: id.clone(),
                        created_at: stamp(p.created_at),
                        updated_at: stamp(p.created_at),
                        display_at: stamp(p.created_at),
                        affected_components: affected
                            .iter()
                            .map(|c| AffectedComponent {
                                code: c.id.clone(),
                                name: c.name.clone(),
                                old_status: "operational",
                                new_status: c.status,
                            })
                            .collect(),
                        deliver_notifications: true,
                        custom_tweet: None,
                        tweet_id: None,
                    })
                    .collect();
                Incident {
                    name: format!("{}: {}", i.service_name, issue.title),
                    status: incident_status(issue.status),
                    created_at: stamp(issue.start),
                    updated_at: stamp(issue.last_modified),
                    monitoring_at: monitoring_at.map(stamp),
                    resolved_at: resolved_at.map(stamp),
                    impact: incident_impact(i),
                    shortlink: link(&id),
                    started_at: stamp(issue.start),
                    page_id: page_id.clone(),
                    incident_updates: updates,
                    components: affected,
                    scheduled_for: None,
                    scheduled_until: None,
                    id,
                }
            })
            .collect();
        let maintenances = status
            .maintenances
            .iter()
            .map(|m| {
                (
                    m.maintenance.state,
                    maintenance(m, &components, &page_id, &link),
                )
            })
            .collect();
        StatuspageView {
            page: Page {
                id: page_id.clone(),
                name: info.name.clone(),
                url: info.url.clone(),
                time_zone: "Etc/UTC".into(),
                updated_at: stamp(status.last_change.unwrap_or(status.generated)),
            },
            components,
            incidents,
            maintenances,
        }
    }

    pub fn status(&self) -> Rollup {
        rollup(&self.components)
    }

    pub fn unresolved(&self) -> Vec<&Incident> {
        self.incidents
            .iter()
            .filter(|i| !matches!(i.status, "resolved" | "postmortem"))
            .collect()
    }

    pub fn upcoming(&self) -> Vec<&Incident> {
        self.maintenances_in(&[MaintenanceState::Scheduled])
    }

    pub fn active(&self) -> Vec<&Incident> {
        self.maintenances_in(&[MaintenanceState::InProgress])
    }

    fn maintenances_in(&self, states: &[MaintenanceState]) -> Vec<&Incident> {
        self.maintenances
            .iter()
            .filter(|(s, _)| states.contains(s))
            .map(|(_, m)| m)
            .collect()
    }

    pub fn all_maintenances(&self) -> Vec<&Incident> {
        self.maintenances.iter().map(|(_, m)| m).collect()
    }

    /// `summary.json`: the page, components, unresolved incidents, upcoming and running
    /// maintenance, and the rollup.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut ongoing = self.active();
        ongoing.extend(self.upcoming());
        serde_json::json!({
            "page": self.page,
            "components": self.components,
            "incidents": self.unresolved(),
            "scheduled_maintenances": ongoing,
            "status": self.status(),
        })
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::json!({"page": self.page, "status": self.status()})
    }

    pub fn components_json(&self) -> serde_json::Value {
        serde_json::json!({"page": self.page, "components": self.components})
    }

    pub fn incidents_json(&self, unresolved_only: bool) -> serde_json::Value {
        let list: Vec<&Incident> = if unresolved_only {
            self.unresolved()
        } else {
            self.incidents.iter().collect()
        };
        serde_json::json!({"page": self.page, "incidents": list})
    }

    pub fn maintenances_json(&self, which: Maintenances) -> serde_json::Value {
        let list = match which {
            Maintenances::All => self.all_maintenances(),
            Maintenances::Upcoming => self.upcoming(),
            Maintenances::Active => self.active(),
        };
        serde_json::json!({"page": self.page, "scheduled_maintenances": list})
    }

    /// Every document by its path under `/api/v2/`, for the live routes and the backup
    /// site's files alike.
    pub fn documents(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("summary.json", self.summary_json()),
            ("status.json", self.status_json()),
            ("components.json", self.components_json()),
            ("incidents.json", self.incidents_json(false)),
            ("incidents/unresolved.json", self.incidents_json(true)),
            (
                "scheduled-maintenances.json",
                self.maintenances_json(Maintenances::All),
            ),
            (
                "scheduled-maintenances/upcoming.json",
                self.maintenances_json(Maintenances::Upcoming),
            ),
            (
                "scheduled-maintenances/active.json",
                self.maintenances_json(Maintenances::Active),
            ),
        ]
    }
}

/// One document as served: its bytes and its strong ETag.
pub struct Document {
    pub body: bytes::Bytes,
    pub etag: String,
}

/// Every document of the public status, serialized once per change.
pub struct Documents {
    docs: Vec<(&'static str, Arc<Document>)>,
}

impl Documents {
    pub fn of(view: &StatuspageView) -> Result<Documents, serde_json::Error> {
        use sha2::Digest;
        let mut docs = Vec::new();
        for (name, value) in view.documents() {
            let body = serde_json::to_vec(&value)?;
            let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&body)[..16]));
            docs.push((
                name,
                Arc::new(Document {
                    body: body.into(),
                    etag,
                }),
            ));
        }
        Ok(Documents { docs })
    }

    /// The document at `name` under `/api/v2/`.
    pub fn get(&self, name: &str) -> Option<Arc<Document>> {
        self.docs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.clone())
    }
}

/// The public documents, built from the public status once per health change (and at
/// most a second old where other instances' changes are not heard; see `views`).
pub async fn documents(core: &Core, info: &PageInfo) -> AppResult<Arc<Documents>> {
    if let Some(docs) = core.views.public_documents() {
        return Ok(docs);
    }
    let generation = core.views.generation();
    let status = crate::public::public_status(core).await?;
    let docs =
        Arc::new(Documents::of(&StatuspageView::of(&status, info)).map_err(AppError::internal)?);
    core.views.keep_public_documents(generation, docs.clone());
    Ok(docs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenances {
    All,
    Upcoming,
    Active,
}

fn maintenance(
    m: &ScheduledMaintenance,
    components: &[Component],
    page_id: &str,
    link: &dyn Fn(&str) -> String,
) -> Incident {
    let mm = &m.maintenance;
    let id = m.id.to_string();
    let (title, description) = m.text_in(Language::English);
    let affected: Vec<Component> = components
        .iter()
        .filter(|c| mm.services.iter().any(|s| s.as_str() == c.id))
        .cloned()
        .collect();
    let status = maintenance_status(mm.state);
    let body = if mm.state == MaintenanceState::Cancelled {
        format!("{description}\n\nCancelled.")
    } else {
        description.to_owned()
    };
    Incident {
        name: title.to_owned(),
        status,
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.last_modified),
        monitoring_at: None,
        resolved_at: mm.ended_at.map(rfc3339),
        impact: maintenance_impact(mm.impact),
        shortlink: link(&id),
        started_at: rfc3339(mm.started_at.unwrap_or(mm.window.start)),
        page_id: page_id.to_owned(),
        incident_updates: vec![IncidentUpdate {
            id: format!("{id}-{}", mm.state.as_str()),
            status,
            body,
            incident_id: id.clone(),
            created_at: rfc3339(m.last_modified),
            updated_at: rfc3339(m.last_modified),
            display_at: rfc3339(m.last_modified),
            affected_components: affected
                .iter()
                .map(|c| AffectedComponent {
                    code: c.id.clone(),
                    name: c.name.clone(),
                    old_status: "operational",
                    new_status: if mm.state == MaintenanceState::InProgress {
                        "under_maintenance"
                    } else {
                        "operational"
                    },
                })
                .collect(),
            deliver_notifications: true,
            custom_tweet: None,
            tweet_id: None,
        }],
        components: affected,
        scheduled_for: Some(rfc3339(mm.window.start)),
        scheduled_until: Some(rfc3339(mm.window.end)),
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(status: &'static str) -> Component {
        Component {
            id: "x".into(),
            name: "X".into(),
            status,
            created_at: String::new(),
            updated_at: String::new(),
            position: 1,
            description: None,
            showcase: true,
            start_date: None,
            group_id: None,
            page_id: "p".into(),
            group: false,
            only_show_if_degraded: false,
        }
    }

    #[test]
    fn the_worst_component_decides_the_rollup() {
        let page = |s: &[&'static str]| {
            rollup(&s.iter().map(|s| component(s)).collect::<Vec<_>>()).indicator
        };
        assert_eq!(page(&[]), "none");
        assert_eq!(page(&["operational", "operational"]), "none");
        assert_eq!(page(&["operational", "under_maintenance"]), "maintenance");
        assert_eq!(
            page(&["under_maintenance", "degraded_performance"]),
            "minor"
        );
        assert_eq!(page(&["degraded_performance", "partial_outage"]), "major");
        assert_eq!(page(&["partial_outage", "major_outage"]), "critical");
    }

    #[test]
    fn every_issue_status_maps_to_an_incident_status() {
        for s in Status::ALL {
            let mapped = incident_status(s);
            assert!(
                [
                    "investigating",
                    "identified",
                    "monitoring",
                    "resolved",
                    "postmortem"
                ]
                .contains(&mapped),
                "{s:?}"
            );
            // Resolved in Candor is resolved (or reviewed) in Statuspage, and only then.
            assert_eq!(
                s.is_resolved(),
                matches!(mapped, "resolved" | "postmortem"),
                "{s:?}"
            );
        }
    }
}
