//! Alerts from monitoring, read into what a draft issue needs: Prometheus Alertmanager's
//! webhook payload (version 4) and Candor's own small generic form. Labels name the
//! service and the scope (`candor_service`, `candor_component`, `candor_scale_unit`,
//! `candor_region`, each a comma-separated list but the service; `candor_classification`
//! incident or advisory), annotations the title (`summary`) and the impact
//! (`description`). Every problem of a payload is reported, each naming its alert and
//! field, so a monitoring team can fix its rules in one go.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Classification, ComponentId, ScaleUnitId, Scope};
use crate::identity::{InvalidValue, RegionCode};

/// Prometheus Alertmanager's webhook body (`version: "4"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    pub version: String,
    #[serde(default)]
    pub group_key: Option<String>,
    #[serde(default)]
    pub truncated_alerts: Option<u64>,
    pub status: String,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    pub alerts: Vec<AlertmanagerAlert>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Candor's generic alert, for monitoring that is not Alertmanager.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericAlert {
    /// Stable for one problem: a repeat updates the same draft.
    pub fingerprint: String,
    /// firing or resolved.
    pub status: String,
    /// Service id or display name.
    pub service: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// incident (default) or advisory.
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub scale_units: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    /// RFC 3339; default when it arrived.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Where to read more (a dashboard, the alert rule).
    #[serde(default)]
    pub link: Option<String>,
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOrigin {
    Alertmanager,
    Generic,
}

impl AlertOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOrigin::Alertmanager => "alertmanager",
            AlertOrigin::Generic => "generic",
        }
    }
}

/// One alert as Candor reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub origin: AlertOrigin,
    pub fingerprint: String,
    pub firing: bool,
    /// Service id or display name, as the label gave it (the catalog decides).
    pub service: String,
    pub classification: Classification,
    pub title: String,
    pub description: String,
    /// Empty: the whole service.
    pub scope: Scope,
    pub starts_at: OffsetDateTime,
    pub link: Option<String>,
}

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;

fn problem(alert: usize, field: &str, what: impl Into<String>) -> InvalidValue {
    InvalidValue::new("alerts", format!("alert {alert}: {field}: {}", what.into()))
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

fn clip(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

fn status(i: usize, s: &str) -> Result<bool, InvalidValue> {
    match s.trim().to_ascii_lowercase().as_str() {
        "firing" => Ok(true),
        "resolved" => Ok(false),
        other => Err(problem(
            i,
            "status",
            format!("`{}` is neither firing nor resolved", clip(other, 40)),
        )),
    }
}

fn time_or(
    i: usize,
    field: &str,
    s: Option<&str>,
    default: OffsetDateTime,
) -> Result<OffsetDateTime, InvalidValue> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        // Alertmanager sends the zero time for "unset".
        Some(t) if t.starts_with("0001-01-01") => Ok(default),
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                problem(
                    i,
                    field,
                    format!("`{}` is not an RFC 3339 time", clip(t, 40)),
                )
            }),
    }
}

fn classification(i: usize, s: Option<&str>) -> Result<Classification, InvalidValue> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Classification::Incident),
        Some(c) => c
            .parse()
            .map_err(|e: InvalidValue| problem(i, "classification", e.problem)),
    }
}

/// The scope the alert's lists name; each id is checked.
fn scope<'a>(
    i: usize,
    components: impl Iterator<Item = &'a str>,
    scale_units: impl Iterator<Item = &'a str>,
    regions: impl Iterator<Item = &'a str>,
    problems: &mut Vec<InvalidValue>,
) -> Scope {
    let mut scope = Scope::default();
    for c in components {
        match ComponentId::parse(c) {
            Ok(id) => {
                scope.components.insert(id);
            }
            Err(e) => problems.push(problem(i, "component", e.problem)),
        }
    }
    for s in scale_units {
        match ScaleUnitId::parse(s) {
            Ok(id) => {
                scope.scale_units.insert(id);
            }
            Err(e) => problems.push(problem(i, "scale unit", e.problem)),
        }
    }
    for r in regions {
        match RegionCode::parse(r) {
            Ok(code) => {
                scope.regions.insert(code);
            }
            Err(e) => problems.push(problem(i, "region", e.problem)),
        }
    }
    scope
}

/// A fingerprint for an alert that brings none: its labels, hashed in order.
fn labels_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Reads an Alertmanager payload; `now` stands in for a missing start. Every problem
/// of every alert is returned at once.
pub fn read_alertmanager(
    payload: &AlertmanagerPayload,
    now: OffsetDateTime,
) -> Result<Vec<Alert>, Vec<InvalidValue>> {
    if payload.version.trim() != "4" {
        return Err(vec![InvalidValue::new(
            "version",
            format!(
                "`{}` is not a version of Alertmanager's webhook payload Candor reads (4)",
                clip(&payload.version, 20)
            ),
        )]);
    }
    if payload.alerts.is_empty() {
        return Err(vec![InvalidValue::new(
            "alerts",
            "the payload carries no alert",
        )]);
    }
    let mut alerts = Vec::new();
    let mut problems = Vec::new();
    for (n, a) in payload.alerts.iter().enumerate() {
        let i = n + 1;
        // An alert's own labels and annotations win over the group's common ones.
        let mut labels = payload.common_labels.clone();
        labels.extend(a.labels.clone());
        let mut annotations = payload.common_annotations.clone();
        annotations.extend(a.annotations.clone());
        let label = |k: &str| {
            labels
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.trim().is_empty())
        };
        let firing = match status(i, &a.status) {
            Ok(f) => f,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let Some(service) = label("candor_service") else {
            problems.push(problem(
                i,
                "labels",
                "needs `candor_service` (a service id or display name)",
            ));
            continue;
        };
        let title = annotations
            .get("summary")
            .or_else(|| labels.get("alertname"))
            .map(|t| clip(t, TITLE_MAX))
            .unwrap_or_default();
        if title.is_empty() {
            problems.push(problem(
                i,
                "annotations",
                "needs a `summary` (or the alert an `alertname`)",
            ));
            continue;
        }
        let description = annotations
            .get("description")
            .map(|d| clip(d, DESCRIPTION_MAX))
            .unwrap_or_else(|| title.clone());
        let scope = scope(
            i,
            list(label("candor_component").unwrap_or("")),
            list(label("candor_scale_unit").unwrap_or("")),
            list(label("candor_region").unwrap_or("")),
            &mut problems,
        );
        let classification = match classification(i, label("candor_classification")) {
            Ok(c) => c,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let starts_at = match time_or(i, "startsAt", a.starts_at.as_deref(), now) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let fingerprint = a
            .fingerprint
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| clip(f, 100))
            .unwrap_or_else(|| labels_fingerprint(&labels));
        alerts.push(Alert {
            origin: AlertOrigin::Alertmanager,
            fingerprint,
            firing,
            service: clip(service, 100),
            classification,
            title,
            description,
            scope,
            starts_at,
            link: a.generator_url.clone().filter(|u| u.starts_with("http")),
        });
    }
    if problems.is_empty() {
        Ok(alerts)
    } else {
        Err(problems)
    }
}

/// Reads a generic alert.
pub fn read_generic(a: &GenericAlert, now: OffsetDateTime) -> Result<Alert, Vec<InvalidValue>> {
    let mut problems = Vec::new();
    let firing = status(1, &a.status)
        .map_err(|e| problems.push(e))
        .unwrap_or(true);
    let fingerprint = clip(&a.fingerprint, 100);
    if fingerprint.is_empty() {
        problems.push(problem(1, "fingerprint", "is empty"));
    }
    let title = clip(&a.title, TITLE_MAX);
    if title.is_empty() {
        problems.push(problem(1, "title", "is empty"));
    }
    if a.service.trim().is_empty() {
        problems.push(problem(1, "service", "is empty"));
    }
    let scope = scope(
        1,
        a.components.iter().map(String::as_str),
        a.scale_units.iter().map(String::as_str),
        a.regions.iter().map(String::as_str),
        &mut problems,
    );
    let classification = classification(1, a.classification.as_deref())
        .map_err(|e| problems.push(e))
        .unwrap_or(Classification::Incident);
    let starts_at = time_or(1, "startsAt", a.starts_at.as_deref(), now)
        .map_err(|e| problems.push(e))
        .unwrap_or(now);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Alert {
        origin: AlertOrigin::Generic,
        fingerprint,
        firing,
        service: clip(&a.service, 100),
        classification,
        description: a
            .description
            .as_deref()
            .map(|d| clip(d, DESCRIPTION_MAX))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| title.clone()),
        title,
        scope,
        starts_at,
        link: a.link.clone().filter(|u| u.starts_with("http")),
    })
}

/// A draft issue monitoring opened: not published, nobody told but the incident
/// managers, until one of them publishes it with one action. One open draft per alert
/// fingerprint; repeats update it, a resolved alert is noted on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueDraft {
    pub id: crate::DraftId,
    pub fingerprint: String,
    pub origin: String,
    pub service: super::ServiceId,
    pub classification: Classification,
    pub title: String,
    pub impact_description: String,
    pub scope: Scope,
    /// Whether the alert is firing now (false once it resolved).
    pub firing: bool,
    /// Tenants the scope reaches, from the impact preview when it was last updated.
    pub affected_tenants: i64,
    /// What happened to it: fired, fired again, resolved.
    pub notes: Vec<DraftNote>,
    pub link: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The issue it was published as.
    pub issue: Option<super::IssueId>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftNote {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub text: String,
}

/// Notes kept on a draft: the latest, so an alert that flaps does not grow it forever.
pub const DRAFT_NOTES_KEPT: usize = 50;

impl IssueDraft {
    pub fn note(&mut self, at: OffsetDateTime, text: impl Into<String>) {
        self.notes.push(DraftNote {
            at,
            text: text.into(),
        });
        if self.notes.len() > DRAFT_NOTES_KEPT {
            let extra = self.notes.len() - DRAFT_NOTES_KEPT;
            self.notes.drain(..extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    /// As Alertmanager 0.27 sends it.
    fn payload(status: &str) -> AlertmanagerPayload {
        serde_json::from_value(serde_json::json!({
            "receiver": "candor",
            "status": status,
            "alerts": [{
                "status": status,
                "labels": {"alertname": "MailboxLatencyHigh", "candor_service": "Exchange",
                           "candor_scale_unit": "eu-west-su1", "severity": "page"},
                "annotations": {"summary": "Mailbox access is slow in eu-west-su1",
                                "description": "Users may wait for mail to open."},
                "startsAt": "2026-12-04T09:58:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
                "fingerprint": "c9f6a4e0d1b2a3f4"
            }],
            "groupLabels": {"alertname": "MailboxLatencyHigh"},
            "commonLabels": {"alertname": "MailboxLatencyHigh", "candor_service": "Exchange"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": "{}:{alertname=\"MailboxLatencyHigh\"}",
            "truncatedAlerts": 0
        }))
        .unwrap()
    }

    #[test]
    fn an_alertmanager_alert_names_its_service_scope_and_words() {
        let alerts = read_alertmanager(&payload("firing"), NOW).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert!(a.firing);
        assert_eq!(a.fingerprint, "c9f6a4e0d1b2a3f4");
        assert_eq!(a.service, "Exchange");
        assert_eq!(a.title, "Mailbox access is slow in eu-west-su1");
        assert_eq!(a.description, "Users may wait for mail to open.");
        assert_eq!(a.classification, Classification::Incident);
        assert!(a
            .scope
            .scale_units
            .contains(&ScaleUnitId::parse("eu-west-su1").unwrap()));
        assert_eq!(a.starts_at, time::macros::datetime!(2026-12-04 9:58 UTC));
        assert!(a.link.as_deref().unwrap().starts_with("http://prometheus"));
        let resolved = read_alertmanager(&payload("resolved"), NOW).unwrap();
        assert!(!resolved[0].firing);
        assert_eq!(resolved[0].fingerprint, a.fingerprint, "the same problem");
    }

    #[test]
    fn every_problem_is_named_with_its_alert() {
        let mut p = payload("firing");
        let mut second = p.alerts[0].clone();
        second
            .labels
            .insert("candor_region".into(), "Europe West!".into());
        second.status = "burning".into();
        let mut third = p.alerts[0].clone();
        third
            .labels
            .insert("candor_component".into(), "not a component".into());
        p.alerts.push(second);
        p.alerts.push(third);
        let problems = read_alertmanager(&p, NOW).unwrap_err();
        let text: Vec<String> = problems.iter().map(|e| e.problem.clone()).collect();
        assert_eq!(problems.len(), 2, "{text:?}");
        assert!(text[0].starts_with("alert 2: status"), "{text:?}");
        assert!(text[1].starts_with("alert 3: component"), "{text:?}");
    }

    #[test]
    fn a_payload_without_a_service_or_of_another_version_is_refused() {
        let mut p = payload("firing");
        p.common_labels.clear();
        p.alerts[0].labels.remove("candor_service");
        let problems = read_alertmanager(&p, NOW).unwrap_err();
        assert!(problems[0].problem.contains("candor_service"));
        let mut p = payload("firing");
        p.version = "3".into();
        assert_eq!(read_alertmanager(&p, NOW).unwrap_err()[0].field, "version");
        let mut p = payload("firing");
        p.alerts.clear();
        assert!(read_alertmanager(&p, NOW).is_err());
    }

    #[test]
    fn an_alert_without_a_fingerprint_gets_one_from_its_labels() {
        let mut p = payload("firing");
        p.alerts[0].fingerprint = None;
        let one = read_alertmanager(&p, NOW).unwrap()[0].fingerprint.clone();
        let two = read_alertmanager(&p, NOW).unwrap()[0].fingerprint.clone();
        assert_eq!(one, two);
        p.alerts[0]
            .labels
            .insert("candor_scale_unit".into(), "eu-west-su2".into());
        assert_ne!(read_alertmanager(&p, NOW).unwrap()[0].fingerprint, one);
    }

    #[test]
    fn a_generic_alert_is_checked_field_by_field() {
        let ok: GenericAlert = serde_json::from_value(serde_json::json!({
            "fingerprint": "db-latency", "status": "firing", "service": "Exchange Online",
            "title": "Slow mailboxes", "regions": ["eu-west"], "classification": "advisory"
        }))
        .unwrap();
        let a = read_generic(&ok, NOW).unwrap();
        assert_eq!(a.classification, Classification::Advisory);
        assert_eq!(a.description, "Slow mailboxes");
        assert_eq!(a.starts_at, NOW);
        let bad: GenericAlert = serde_json::from_value(serde_json::json!({
            "fingerprint": "", "status": "on fire", "service": "", "title": "",
            "classification": "disaster", "startsAt": "yesterday"
        }))
        .unwrap();
        let problems = read_generic(&bad, NOW).unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(serde_json::from_value::<GenericAlert>(serde_json::json!({
            "fingerprint": "x", "status": "firing", "service": "s", "title": "t", "colour": "red"
        }))
        .is_err());
    }
}
