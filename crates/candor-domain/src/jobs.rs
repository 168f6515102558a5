//! Durable jobs: what a job is, and how long to wait before trying a failed one again.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::JobId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its run-at time (or for a worker).
    Queued,
    /// Claimed by a worker whose lease has not run out.
    Running,
    Done,
    /// Failed `max_attempts` times; kept for an operator to look at.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Dead,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Jobs run in lanes, each with a runner of its own, so a rebuild of the backup status
/// site or an upload to its bucket that hangs cannot hold up the fan-out, the watchdog
/// or each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobLane {
    /// Fan-out, the watchdog, clean-up: everything else.
    General,
    /// Rebuilding the backup status site's directory.
    StatusSite,
    /// Copying the backup status site to its S3-compatible bucket.
    Bucket,
}

impl JobLane {
    pub const ALL: [JobLane; 3] = [JobLane::General, JobLane::StatusSite, JobLane::Bucket];

    /// The lane a kind runs in: named by the kind's first word.
    pub fn of(kind: &str) -> JobLane {
        match kind.split(['.', ':']).next() {
            Some("status_site") => JobLane::StatusSite,
            Some("bucket") => JobLane::Bucket,
            _ => JobLane::General,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobLane::General => "general",
            JobLane::StatusSite => "status_site",
            JobLane::Bucket => "bucket",
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: OffsetDateTime,
    /// At most one job with the same dedupe key is ever enqueued.
    pub dedupe_key: Option<String>,
    pub max_attempts: i32,
}

pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

impl NewJob {
    pub fn lane(&self) -> JobLane {
        JobLane::of(&self.kind)
    }

    pub fn new(
        kind: impl Into<String>,
        payload: serde_json::Value,
        run_at: OffsetDateTime,
    ) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at,
            dedupe_key: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// A claimed job, as a worker sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: OffsetDateTime,
    pub dedupe_key: Option<String>,
    /// Attempts so far, including the one now running.
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_until: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub status: JobStatus,
}

/// What happens to a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(OffsetDateTime),
    Dead,
}

/// Exponential backoff: 5 s, 10 s, 20 s … capped at one hour, with up to +25 % jitter
/// (`jitter` in 0..1, supplied by the caller so this stays deterministic).
pub fn backoff(attempts: i32, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let base = 5.0 * f64::from(1u32 << exp.min(16));
    let capped = base.min(3600.0);
    Duration::milliseconds((capped * (1.0 + 0.25 * jitter.clamp(0.0, 1.0)) * 1000.0) as i64)
}

pub fn after_failure(job: &StoredJob, now: OffsetDateTime, jitter: f64) -> AfterFailure {
    if job.attempts >= job.max_attempts {
        AfterFailure::Dead
    } else {
        AfterFailure::RetryAt(now + backoff(job.attempts, jitter))
    }
}

/// Counts of jobs by status, for `/metrics` and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff(1, 0.0), Duration::seconds(5));
        assert_eq!(backoff(2, 0.0), Duration::seconds(10));
        assert_eq!(backoff(3, 0.0), Duration::seconds(20));
        assert_eq!(backoff(30, 0.0), Duration::hours(1));
    }

    #[test]
    fn a_job_out_of_attempts_is_dead() {
        let now = datetime!(2026-11-22 0:00 UTC);
        let mut job = StoredJob {
            id: JobId::generate(),
            kind: "k".into(),
            payload: serde_json::Value::Null,
            run_at: now,
            dedupe_key: None,
            attempts: 3,
            max_attempts: 3,
            lease_until: None,
            last_error: None,
            status: JobStatus::Running,
        };
        assert_eq!(after_failure(&job, now, 0.0), AfterFailure::Dead);
        job.attempts = 2;
        assert_eq!(
            after_failure(&job, now, 0.0),
            AfterFailure::RetryAt(now + Duration::seconds(10))
        );
    }

    proptest! {
        #[test]
        fn backoff_is_bounded_and_grows(a in 1i32..100, j in 0.0f64..1.0) {
            let d = backoff(a, j);
            prop_assert!(d >= Duration::seconds(5));
            prop_assert!(d <= Duration::seconds(4500));
            prop_assert!(backoff(a + 1, 0.0) >= backoff(a, 0.0));
        }
    }
}
