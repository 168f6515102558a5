//! Every kind of durable job Candor queues, each with its payload as a type. The store
//! keeps a job as its kind and a JSON payload (`NewJob`); only this module turns one into
//! the other, so no handler reads a payload field by name.

use candor_domain::email::OutboundEmail;
use candor_domain::health::maintenance::{MaintenanceId, MaintenanceNotice};
use candor_domain::health::{IssueId, MessageId};
use candor_domain::jobs::NewJob;
use candor_domain::time_util::rfc3339;
use candor_domain::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A job, by kind. The kind names (`#[serde(rename)]`) are what the jobs table holds:
/// never rename one, or jobs queued by an older version stop being understood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// Signs a checkpoint of every audit chain that grew (hourly).
    #[serde(rename = "audit.checkpoint")]
    AuditCheckpoint(Periodic),
    /// Removes expired sessions, old finished jobs and old deliveries (hourly).
    #[serde(rename = "sessions.cleanup")]
    SessionCleanup(Periodic),
    /// Looks for incidents whose next update is overdue (every 10 seconds).
    #[serde(rename = "health.watchdog")]
    HealthWatchdog(Periodic),
    /// Flags one overdue update of one issue, once per deadline.
    #[serde(rename = "health.overdue")]
    HealthOverdue(OverdueUpdate),
    /// Tells the owner and the incident managers that an issue's cadence changed.
    #[serde(rename = "health.cadence_changed")]
    HealthCadenceChanged(CadenceChanged),
    /// Writes down Lockbox expiries, ends of access and ends of elevations (every minute).
    /// Access is refused from each deadline on whether or not this has run.
    #[serde(rename = "lockbox.deadlines")]
    LockboxDeadlines(Periodic),
    /// Rebuilds and publishes the backup status site (after each public change, and
    /// every minute).
    #[serde(rename = "status_site.publish")]
    StatusSitePublish(Periodic),
    /// Copies the backup status site to its S3-compatible bucket (after each rebuild of
    /// the site's directory). A lane of its own: a bucket that hangs holds up nothing
    /// else.
    #[serde(rename = "bucket.status_site")]
    StatusSiteUpload(Periodic),
    /// Fans one change out to the reached tenants' recipients (queues their deliveries).
    #[serde(rename = "notify.fanout")]
    NotifyFanout(Fanout),
    /// One email queued by a version of Candor before every email went through the
    /// deliveries table (Lockbox mail, disabled-endpoint notices): never queued now; the
    /// runner moves it into the deliveries table, where it is sent like the rest.
    #[serde(rename = "email.send")]
    EmailSend(OutboundEmail),
}

/// The payload of a periodic task: the period it runs for (its dedupe key's stamp).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Periodic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// One missed deadline of one issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueUpdate {
    pub issue: IssueId,
    /// The deadline (RFC 3339): the flag is raised only while it is still the one due.
    pub due: String,
    /// 0 for the first notice (and the flag), then each reminder's number.
    #[serde(default)]
    pub reminder: u32,
}

/// A post that announced a new cadence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CadenceChanged {
    pub issue: IssueId,
    pub post: i64,
}

/// What a fan-out tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fanout {
    /// A post (`seq`), or the latest post when the scope changed (`seq` absent).
    Issue {
        issue: IssueId,
        #[serde(default)]
        seq: Option<i64>,
    },
    /// A published post-incident review.
    Review { issue: IssueId },
    /// A Message Center message, new or reaching more tenants.
    Message { message: MessageId },
    /// One notice of a planned maintenance (`stamp`: when it was given, in Unix
    /// microseconds, so an extension told twice is two notices).
    Maintenance {
        maintenance: MaintenanceId,
        notice: MaintenanceNotice,
        stamp: i64,
    },
    /// One part of a large fan-out: the reached tenants whose ids are at least `from`
    /// and, unless this is the last part, below `until`. The parts of a fan-out cover
    /// every id between them, so a tenant reached after the split is in one of them.
    Part {
        whole: Box<Fanout>,
        from: TenantId,
        #[serde(default)]
        until: Option<TenantId>,
    },
}

/// Why a stored job could not be read back as a `Job`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undecodable {
    /// A kind this version does not know: queued by another version of Candor (a rolling
    /// upgrade), or by hand. The job is kept for an instance that knows it.
    #[error(
        "no handler for job kind `{0}` in this version of Candor (queued by another version?)"
    )]
    UnknownKind(String),
    /// A known kind whose payload does not fit: retrying cannot help.
    #[error("the {kind} job's payload is malformed: {problem}")]
    Malformed { kind: String, problem: String },
}

// The kinds as stored (and as dedupe keys begin).
pub const AUDIT_CHECKPOINT: &str = "audit.checkpoint";
pub const SESSION_CLEANUP: &str = "sessions.cleanup";
pub const HEALTH_WATCHDOG: &str = "health.watchdog";
pub const HEALTH_OVERDUE: &str = "health.overdue";
pub const HEALTH_CADENCE_CHANGED: &str = "health.cadence_changed";
pub const LOCKBOX_DEADLINES: &str = "lockbox.deadlines";
pub const STATUS_SITE_PUBLISH: &str = "status_site.publish";
pub const STATUS_SITE_UPLOAD: &str = "bucket.status_site";
pub const NOTIFY_FANOUT: &str = "notify.fanout";
pub const EMAIL_SEND: &str = "email.send";

/// Every kind `Job` knows.
pub const KINDS: [&str; 10] = [
    AUDIT_CHECKPOINT,
    SESSION_CLEANUP,
    HEALTH_WATCHDOG,
    HEALTH_OVERDUE,
    HEALTH_CADENCE_CHANGED,
    LOCKBOX_DEADLINES,
    STATUS_SITE_PUBLISH,
    STATUS_SITE_UPLOAD,
    NOTIFY_FANOUT,
    EMAIL_SEND,
];

#[derive(Serialize, Deserialize)]
struct Stored {
    kind: String,
    payload: serde_json::Value,
}

impl Job {
    /// The kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::AuditCheckpoint(_) => AUDIT_CHECKPOINT,
            Job::SessionCleanup(_) => SESSION_CLEANUP,
            Job::HealthWatchdog(_) => HEALTH_WATCHDOG,
            Job::HealthOverdue(_) => HEALTH_OVERDUE,
            Job::HealthCadenceChanged(_) => HEALTH_CADENCE_CHANGED,
            Job::LockboxDeadlines(_) => LOCKBOX_DEADLINES,
            Job::StatusSitePublish(_) => STATUS_SITE_PUBLISH,
            Job::StatusSiteUpload(_) => STATUS_SITE_UPLOAD,
            Job::NotifyFanout(_) => NOTIFY_FANOUT,
            Job::EmailSend(_) => EMAIL_SEND,
        }
    }

    /// Reads a stored job back.
    pub fn decode(kind: &str, payload: &serde_json::Value) -> Result<Job, Undecodable> {
        if !KINDS.contains(&kind) {
            return Err(Undecodable::UnknownKind(kind.to_owned()));
        }
        let stored = serde_json::json!({"kind": kind, "payload": payload});
        serde_json::from_value(stored).map_err(|e| Undecodable::Malformed {
            kind: kind.to_owned(),
            problem: e.to_string(),
        })
    }

    /// The job to queue, due at `run_at`, without a dedupe key.
    pub fn at(&self, run_at: OffsetDateTime) -> NewJob {
        let (kind, payload) =
            match serde_json::to_value(self).and_then(serde_json::from_value::<Stored>) {
                Ok(s) => (s.kind, s.payload),
                // Serializing these types cannot fail (no maps with non-string keys, no
                // custom serializers); were it to, the kind alone still runs the periodic
                // tasks and a payload-bearing job is refused as malformed when claimed.
                Err(_) => (self.kind().to_owned(), serde_json::Value::Null),
            };
        NewJob::new(kind, payload, run_at)
    }

    /// A periodic task for the period starting at `period`, queued at most once per
    /// period for the whole cluster.
    pub fn periodic(make: fn(Periodic) -> Job, period: OffsetDateTime) -> NewJob {
        let stamp = rfc3339(period);
        let job = make(Periodic {
            period: Some(stamp.clone()),
        });
        let kind = job.kind();
        job.at(period).dedupe(format!("{kind}:{stamp}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn round_trip(job: Job) {
        let queued = job.at(datetime!(2026-12-03 10:00 UTC));
        assert_eq!(queued.kind, job.kind());
        assert_eq!(Job::decode(&queued.kind, &queued.payload), Ok(job));
    }

    #[test]
    fn every_kind_reads_back_as_it_was_queued() {
        round_trip(Job::AuditCheckpoint(Periodic::default()));
        round_trip(Job::SessionCleanup(Periodic {
            period: Some("2026-12-03T10:00:00Z".into()),
        }));
        round_trip(Job::HealthWatchdog(Periodic::default()));
        round_trip(Job::LockboxDeadlines(Periodic::default()));
        round_trip(Job::StatusSitePublish(Periodic::default()));
        round_trip(Job::HealthOverdue(OverdueUpdate {
            issue: IssueId::parse("EX100001").unwrap_or_else(|e| panic!("{e}")),
            due: "2026-12-03T11:00:00Z".into(),
            reminder: 0,
        }));
        round_trip(Job::NotifyFanout(Fanout::Issue {
            issue: IssueId::parse("EX100001").unwrap_or_else(|e| panic!("{e}")),
            seq: Some(3),
        }));
        for until in [None, Some(TenantId::generate())] {
            round_trip(Job::NotifyFanout(Fanout::Part {
                whole: Box::new(Fanout::Issue {
                    issue: IssueId::parse("EX100001").unwrap_or_else(|e| panic!("{e}")),
                    seq: Some(3),
                }),
                from: TenantId::generate(),
                until,
            }));
        }
        round_trip(Job::NotifyFanout(Fanout::Message {
            message: MessageId::parse("MC100001").unwrap_or_else(|e| panic!("{e}")),
        }));
        round_trip(Job::EmailSend(OutboundEmail {
            to: "a@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
            kind: "lockbox.pending".into(),
            tenant: None,
            delivery_id: Some("d".into()),
            unsubscribe: None,
            html: None,
        }));
    }

    #[test]
    fn payloads_queued_by_the_previous_version_still_read() {
        // The shapes written before jobs were typed (json! payloads).
        assert_eq!(
            Job::decode(
                "audit.checkpoint",
                &json!({"period": "2026-12-03T10:00:00Z"})
            ),
            Ok(Job::AuditCheckpoint(Periodic {
                period: Some("2026-12-03T10:00:00Z".into())
            }))
        );
        assert_eq!(
            Job::decode("status_site.publish", &json!({})),
            Ok(Job::StatusSitePublish(Periodic::default()))
        );
        assert!(matches!(
            Job::decode(
                "notify.fanout",
                &json!({"kind": "issue", "issue": "EX100001", "seq": null})
            ),
            Ok(Job::NotifyFanout(Fanout::Issue { seq: None, .. }))
        ));
        assert!(matches!(
            Job::decode(
                "notify.fanout",
                &json!({"kind": "review", "issue": "EX100001"})
            ),
            Ok(Job::NotifyFanout(Fanout::Review { .. }))
        ));
        assert!(matches!(
            Job::decode(
                "health.overdue",
                &json!({"issue": "EX100001", "due": "2026-12-03T11:00:00Z"})
            ),
            Ok(Job::HealthOverdue(_))
        ));
    }

    #[test]
    fn an_unknown_kind_is_told_apart_from_a_malformed_payload() {
        assert_eq!(
            Job::decode("maintenance.start", &json!({"id": 1})),
            Err(Undecodable::UnknownKind("maintenance.start".into()))
        );
        assert!(matches!(
            Job::decode("health.overdue", &json!({"issue": 7})),
            Err(Undecodable::Malformed { .. })
        ));
        assert!(matches!(
            Job::decode(
                "notify.fanout",
                &json!({"kind": "issue", "issue": "not an id"})
            ),
            Err(Undecodable::Malformed { .. })
        ));
    }

    #[test]
    fn periodic_tasks_are_deduplicated_per_period() {
        let t = datetime!(2026-12-03 10:00 UTC);
        let a = Job::periodic(Job::HealthWatchdog, t);
        let b = Job::periodic(Job::HealthWatchdog, t);
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_eq!(
            a.dedupe_key.as_deref(),
            Some("health.watchdog:2026-12-03T10:00:00.000000Z")
        );
        assert_ne!(
            a.dedupe_key,
            Job::periodic(Job::AuditCheckpoint, t).dedupe_key
        );
    }

    #[test]
    fn the_serde_names_are_the_stored_kinds() {
        let job = Job::StatusSitePublish(Periodic::default());
        let stored = serde_json::to_value(&job).unwrap_or_default();
        assert_eq!(stored["kind"], job.kind());
    }

    #[test]
    fn the_site_and_its_bucket_run_in_lanes_of_their_own() {
        use candor_domain::jobs::JobLane;
        for kind in KINDS {
            let lane = JobLane::of(kind);
            let expected = match kind {
                STATUS_SITE_PUBLISH => JobLane::StatusSite,
                STATUS_SITE_UPLOAD => JobLane::Bucket,
                _ => JobLane::General,
            };
            assert_eq!(lane, expected, "{kind}");
        }
    }

    #[test]
    fn kinds_lists_every_variant_once() {
        let mut seen: Vec<&str> = KINDS.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), KINDS.len());
    }
}
