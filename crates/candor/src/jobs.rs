//! The job runner inside `candor serve`: claims due jobs from the durable table, runs
//! them with a lease, retries failures (panics included) with backoff, and enqueues the
//! periodic tasks once per period for the whole cluster (the dedupe key makes the second
//! instance's enqueue a no-op, and only one worker can claim the job).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use candor_app::error::AppError;
use candor_app::jobs::{Job, OverdueUpdate, Periodic, Undecodable};
use candor_app::Core;
use candor_domain::email::OutboundEmail;
use candor_domain::health::Realm;
use candor_domain::jobs::{after_failure, AfterFailure, JobLane, StoredJob};
use candor_domain::JobId;
use futures::FutureExt;
use rand::Rng;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

/// Seconds between checkpoints of the logs that grew (`--checkpoint-interval`).
pub const DEFAULT_CHECKPOINT_INTERVAL: u32 = 10;
/// How long a claimed job is ours before another worker may take it over.
pub const LEASE: Duration = Duration::minutes(5);
/// How long one attempt may run.
pub const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(240);
const IDLE_POLL: StdDuration = StdDuration::from_millis(500);

pub use candor_app::jobs::{
    AUDIT_CHECKPOINT, EMAIL_SEND, HEALTH_OVERDUE, HEALTH_WATCHDOG, LOCKBOX_DEADLINES,
    NOTIFY_FANOUT, SESSION_CLEANUP, STATUS_SITE_PUBLISH,
};
pub const OVERDUE_FLAGGED: &str = "Flag-OverdueUpdate";
/// Finished jobs are kept this long, for operators to look at.
pub const KEEP_FINISHED_JOBS: Duration = Duration::days(7);
/// Sent and failed deliveries stay in tenants' delivery logs this long.
pub const KEEP_FINISHED_DELIVERIES: Duration = Duration::days(30);

/// Makes a periodic task for its period (a `Job` variant).
type MakePeriodic = fn(Periodic) -> Job;
type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
/// A handler for a kind `Job` does not define (tests register their own kinds).
pub type Handler = Arc<dyn Fn(Arc<Core>, StoredJob) -> JobFuture + Send + Sync>;

/// A failure that retrying cannot cure (a malformed recipient, say): the job goes
/// straight to dead instead of being retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// Where the backup status site goes: a directory (always), a bucket (when configured).
#[derive(Clone)]
struct SiteTarget {
    dir: std::path::PathBuf,
    bucket: Option<Arc<candor_delivery::site::Bucket>>,
    base_url: String,
    /// Logs this instance still has to publish (their last attempt failed); `None`
    /// until its first round, which looks at every log.
    logs_pending: Arc<std::sync::Mutex<Option<std::collections::BTreeSet<String>>>>,
    /// The largest co-signed size of each log as last published: a log whose witnesses
    /// co-signed since is published again, with their cosignatures.
    cosigned_seen: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
}

/// How long publishing the logs to the bucket may hold up a checkpoint round (the
/// general lane's other jobs wait behind it); what is not done is tried next round.
const LOG_UPLOAD_BUDGET: StdDuration = StdDuration::from_secs(30);

/// Publishes the logs that got a checkpoint (and any still pending) beside the backup
/// site's directory and to its bucket, each from what that copy holds now.
async fn publish_logs(
    core: &Core,
    site: &SiteTarget,
    checkpointed: Vec<candor_domain::audit::AuditChain>,
) -> anyhow::Result<()> {
    use candor_domain::audit::AuditChain;
    let (first_round, mut wanted) = {
        let mut pending = site
            .logs_pending
            .lock()
            .map_err(|_| anyhow::anyhow!("the pending logs' lock was poisoned"))?;
        let first = pending.is_none();
        (
            first,
            pending.replace(Default::default()).unwrap_or_default(),
        )
    };
    if first_round {
        wanted.extend(core.store.audit_tips().await?.into_iter().map(|(k, _)| k));
    }
    wanted.extend(checkpointed.into_iter().map(AuditChain::key));
    let cosigned = core.store.cosigned_sizes().await?;
    if let Ok(mut seen) = site.cosigned_seen.lock() {
        for (key, size) in cosigned {
            if seen.insert(key.clone(), size) != Some(size) {
                wanted.insert(key);
            }
        }
    }
    let mut failed = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    for key in wanted {
        let Some(chain) = AuditChain::from_key(&key) else {
            continue;
        };
        if let Err(e) = publish_log(core, site, chain, started).await {
            tracing::warn!(chain = %key, error = %e, "publishing an audit log failed; tried again next round");
            failed.insert(key);
        }
    }
    if let Ok(mut pending) = site.logs_pending.lock() {
        pending.get_or_insert_with(Default::default).extend(failed);
    }
    Ok(())
}

async fn publish_log(
    core: &Core,
    site: &SiteTarget,
    chain: candor_domain::audit::AuditChain,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    use candor_app::audit::{publication, publication_path};
    let base = publication_path(core, chain).await.map_err(app)?;
    let checkpoint = format!("{base}/checkpoint");
    let text_of = |bytes: Option<Vec<u8>>| bytes.and_then(|b| String::from_utf8(b).ok());
    let published = text_of(candor_delivery::site::read_file(&site.dir, &checkpoint)?);
    if let Some(files) = publication(core, chain, &base, published.as_deref())
        .await
        .map_err(app)?
    {
        let dir = site.dir.clone();
        tokio::task::spawn_blocking(move || candor_delivery::site::write_files(&dir, &files))
            .await??;
    }
    if let Some(bucket) = &site.bucket {
        let left = LOG_UPLOAD_BUDGET.saturating_sub(started.elapsed());
        tokio::time::timeout(left, async {
            let published = text_of(bucket.get(&checkpoint).await?);
            if let Some(files) = publication(core, chain, &base, published.as_deref())
                .await
                .map_err(app)?
            {
                bucket.publish(&files).await?;
            }
            anyhow::Ok(())
        })
        .await
        .map_err(|_| anyhow::anyhow!("the bucket took too long this round"))??;
    }
    Ok(())
}

/// Rebuilds the backup site's directory. A rebuild a change asked for (`on_change`) is
/// skipped when one that started after that change has already been published. The
/// copy in the bucket is a job of its own, in its own lane.
async fn publish_status_site(
    core: Arc<Core>,
    target: Option<SiteTarget>,
    on_change: bool,
) -> anyhow::Result<()> {
    let Some(SiteTarget {
        dir,
        bucket,
        base_url,
        ..
    }) = target
    else {
        tracing::debug!("no status site directory on this instance; nothing to publish");
        return Ok(());
    };
    let generation = candor_app::public::site_generation(&core)
        .await
        .map_err(app)?;
    if on_change
        && !candor_app::public::site_behind(&core, generation)
            .await
            .map_err(app)?
    {
        tracing::debug!(
            generation = generation.0,
            "the status site already includes this change"
        );
        return Ok(());
    }
    let (stamp, files) = site_files(&core, &base_url).await?;
    let count = files.len();
    let release = tokio::task::spawn_blocking(move || {
        candor_delivery::site::publish_dir(&dir, &stamp, &files)
    })
    .await??;
    tracing::info!(files = count, release = %release.display(), "status site published");
    candor_app::public::site_built(&core, generation)
        .await
        .map_err(app)?;
    if bucket.is_some() {
        candor_app::public::upload_wanted(&core, generation)
            .await
            .map_err(app)?;
    }
    Ok(())
}

fn app(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The site's files as the public status reads now, and the release stamp they go by.
async fn site_files(
    core: &Core,
    base_url: &str,
) -> anyhow::Result<(String, Vec<(String, Vec<u8>)>)> {
    let status = candor_app::public::public_status(core).await.map_err(app)?;
    let files = candor_app::status_page::site_files(&status, base_url).map_err(app)?;
    let stamp = format!("{:020}", status.generated.unix_timestamp_nanos().max(0));
    Ok((stamp, files))
}

/// Copies the backup site to its bucket, unless a copy that started later is there.
async fn upload_status_site(core: Arc<Core>, target: Option<SiteTarget>) -> anyhow::Result<()> {
    let Some(SiteTarget {
        bucket: Some(bucket),
        base_url,
        ..
    }) = target
    else {
        tracing::debug!("no status site bucket on this instance; nothing to upload");
        return Ok(());
    };
    let generation = candor_app::public::site_generation(&core)
        .await
        .map_err(app)?;
    if !candor_app::public::bucket_behind(&core, generation)
        .await
        .map_err(app)?
    {
        return Ok(());
    }
    let (_, files) = site_files(&core, &base_url).await?;
    bucket.publish(&files).await?;
    tracing::info!(files = files.len(), bucket = %bucket.describe(), "status site published to the bucket");
    candor_app::public::bucket_built(&core, generation)
        .await
        .map_err(app)?;
    Ok(())
}

/// The status site's bucket at `url`; one that cannot be used is logged and left out.
pub fn open_bucket(url: Option<String>) -> Option<Arc<candor_delivery::site::Bucket>> {
    url.and_then(|u| match candor_delivery::site::Bucket::open(&u, &[]) {
        Ok(b) => Some(Arc::new(b)),
        Err(e) => {
            tracing::error!(error = %e, "the status site bucket cannot be used");
            None
        }
    })
}

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(JobId),
    Retry(JobId, String),
    Dead(JobId, String),
}

pub struct JobRunner {
    core: Arc<Core>,
    worker: String,
    lease: Duration,
    public_url: String,
    site_bucket: Option<Arc<candor_delivery::site::Bucket>>,
    site: Option<SiteTarget>,
    /// Kinds `Job` does not define, each with its handler (tests use their own).
    extra: HashMap<String, Handler>,
    /// The lanes this runner claims from, in turn (all of them, unless `only`).
    lanes: Vec<JobLane>,
    /// Seconds between audit checkpoints.
    checkpoint_every: u32,
}

/// An `email.send` job an earlier version queued, moved into the deliveries table. Its
/// change is named after the job's own delivery id, so a job that runs twice (a lease
/// that lapsed) still queues one delivery.
async fn adopt_email(core: &Core, email: OutboundEmail) -> anyhow::Result<()> {
    let Some(tenant) = email.tenant else {
        return Err(Permanent(format!(
            "the {} email to queue names no tenant; it cannot be logged",
            email.kind
        ))
        .into());
    };
    let now = core.clock.now();
    // The engineer's Lockbox mail is the provider's, not the tenant's, to read about.
    let realm = if email.kind == "lockbox.decided" {
        Realm::Operator
    } else {
        Realm::Tenant
    };
    let change = format!(
        "{EMAIL_SEND}:{}",
        email.delivery_id.as_deref().unwrap_or(email.kind.as_str())
    );
    let to = email.to.clone();
    let delivery =
        candor_app::notify::email_delivery(core, tenant, &change, &to, realm, email, now)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    core.store.queue_deliveries(&[delivery], now).await?;
    Ok(())
}

/// What one job asks for, with what this runner was configured with.
struct Work {
    core: Arc<Core>,
    public_url: String,
    site: Option<SiteTarget>,
}

impl Work {
    async fn run(self, job: Job) -> anyhow::Result<()> {
        let core = self.core;
        match job {
            Job::AuditCheckpoint(_) => {
                let chains = candor_app::audit::checkpoint_chains(&core)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if !chains.is_empty() {
                    tracing::info!(checkpoints = chains.len(), "audit checkpoints signed");
                }
                if let Some(site) = &self.site {
                    publish_logs(&core, site, chains).await?;
                }
            }
            Job::SessionCleanup(_) => clean_up(&core).await?,
            Job::HealthWatchdog(_) => {
                let now = core.clock.now();
                for issue in core.store.overdue_issues(now).await? {
                    let Some(due) = issue.next_update_due else {
                        continue;
                    };
                    let due = candor_domain::time_util::rfc3339(due);
                    let key = format!("{HEALTH_OVERDUE}:{}:{due}", issue.id);
                    let job = Job::HealthOverdue(OverdueUpdate {
                        issue: issue.id,
                        due,
                        reminder: 0,
                    })
                    .at(now)
                    .dedupe(key);
                    core.store.enqueue_job(JobId::generate(), job, now).await?;
                }
                // Planned maintenance moves on the same beat: reminders, starts and ends
                // are at most ten seconds late.
                let moved = candor_app::maintenance::move_due(&core)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if moved > 0 {
                    tracing::info!(moved, "planned maintenance moved on");
                }
            }
            Job::HealthOverdue(overdue) => flag_overdue(&core, overdue).await?,
            Job::HealthCadenceChanged(changed) => {
                if let Some(issue) = core.store.get_issue(&changed.issue).await? {
                    let n = candor_app::chase::cadence_changed(&core, &issue, changed.post)
                        .await
                        .map_err(app)?;
                    tracing::info!(issue = %issue.id, told = n, "cadence change told");
                }
            }
            Job::LockboxDeadlines(_) => {
                let n = candor_app::lockbox::record_deadlines(&core)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                // Elevations end by the clock too; written down on the same beat.
                let e = candor_app::elevation::record_deadlines(&core)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if n + e > 0 {
                    tracing::info!(requests = n, elevations = e, "deadlines recorded");
                }
            }
            Job::StatusSitePublish(p) => {
                publish_status_site(core, self.site, p.period.is_none()).await?
            }
            Job::StatusSiteUpload(_) => upload_status_site(core, self.site).await?,
            Job::NotifyFanout(fanout) => {
                let queued = candor_app::notify::run(&core, &fanout, &self.public_url)
                    .await
                    .map_err(|e| match e {
                        AppError::Refused(m) => anyhow::Error::new(Permanent(m)),
                        other => anyhow::anyhow!("{other}"),
                    })?;
                tracing::info!(?fanout, queued, "news fanned out to contacts");
            }
            Job::EmailSend(email) => adopt_email(&core, email).await?,
        }
        Ok(())
    }
}

async fn clean_up(core: &Core) -> anyhow::Result<()> {
    let now = core.clock.now();
    let n = core
        .store
        .delete_expired_sessions(
            now - candor_domain::identity::SESSION_IDLE_TIMEOUT,
            now - candor_domain::identity::SESSION_MAX_AGE,
        )
        .await?;
    let purged = core
        .store
        .purge_finished_jobs(now - KEEP_FINISHED_JOBS)
        .await?;
    let deliveries = core
        .store
        .purge_finished_deliveries(now - KEEP_FINISHED_DELIVERIES)
        .await?;
    if deliveries > 0 {
        tracing::info!(deliveries, "old finished deliveries removed");
    }
    let requests = candor_app::subscribers::purge_expired(core)
        .await
        .map_err(app)?;
    if requests > 0 {
        tracing::info!(requests, "expired subscription requests removed");
    }
    let pruned = candor_app::audit_retention::prune_due(core)
        .await
        .map_err(app)?;
    if pruned > 0 {
        tracing::info!(
            pruned,
            "audit records past retention pruned to their hashes"
        );
    }
    tracing::info!(
        removed = n,
        purged_jobs = purged,
        "expired sessions and old jobs removed"
    );
    Ok(())
}

async fn flag_overdue(core: &Core, overdue: OverdueUpdate) -> anyhow::Result<()> {
    let Some(issue) = core.store.get_issue(&overdue.issue).await? else {
        return Ok(());
    };
    // Only while it is still overdue for the same deadline: a post moves the deadline
    // and ends the reminders.
    let Some(due) = issue
        .next_update_due
        .filter(|d| candor_domain::time_util::rfc3339(*d) == overdue.due)
    else {
        return Ok(());
    };
    if overdue.reminder == 0 {
        let record = candor_domain::audit::NewAuditRecord::new(
            candor_domain::audit::AuditChain::Operator,
            core.clock.now(),
            "system",
            candor_domain::audit::ActorKind::System,
            OVERDUE_FLAGGED,
        )
        .item(overdue.issue.to_string())
        .details(json!({"due": overdue.due, "owner": issue.owner, "title": issue.title}));
        core.store.append_audit(vec![record]).await?;
    }
    let told = candor_app::chase::overdue(core, &issue, due, overdue.reminder)
        .await
        .map_err(app)?;
    tracing::warn!(issue = %issue.id, due = %overdue.due, reminder = overdue.reminder, told, "an update is overdue");
    // The next reminder, unless a post comes first.
    let now = core.clock.now();
    let next = overdue.reminder + 1;
    let every = core.chase.get().reminder_every;
    let job = Job::HealthOverdue(OverdueUpdate {
        reminder: next,
        ..overdue.clone()
    })
    .at(now + every)
    .dedupe(format!(
        "{HEALTH_OVERDUE}:{}:{}:{next}",
        overdue.issue, overdue.due
    ));
    core.store.enqueue_job(JobId::generate(), job, now).await?;
    Ok(())
}

impl JobRunner {
    pub fn new(core: Arc<Core>) -> JobRunner {
        let worker = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "candor".into()),
            uuid::Uuid::new_v4().simple()
        );
        JobRunner {
            core,
            worker,
            lease: LEASE,
            public_url: String::new(),
            site_bucket: None,
            site: None,
            extra: HashMap::new(),
            lanes: JobLane::ALL.to_vec(),
            checkpoint_every: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }

    /// Signs a checkpoint of every log that grew (and publishes it) every `seconds`.
    pub fn with_checkpoint_interval(mut self, seconds: u32) -> JobRunner {
        self.checkpoint_every = seconds;
        self
    }

    /// Claims only the jobs of `lane`: `candor serve` runs one runner per lane, so a
    /// job that hangs in one (an upload to a bucket that does not answer) holds up
    /// none of the others.
    pub fn only(mut self, lane: JobLane) -> JobRunner {
        self.lanes = vec![lane];
        self.worker = format!("{}-{}", self.worker, lane.as_str());
        self
    }

    /// Whether this runner schedules the periodic tasks (the one with the general lane).
    fn schedules(&self) -> bool {
        self.lanes.contains(&JobLane::General)
    }

    /// Claimed jobs are this runner's for `lease`; an attempt may take most of it.
    pub fn with_lease(mut self, lease: Duration) -> JobRunner {
        self.lease = lease;
        self
    }

    fn attempt_timeout(&self) -> StdDuration {
        let lease = StdDuration::from_millis(self.lease.whole_milliseconds().max(1000) as u64);
        ATTEMPT_TIMEOUT.min(lease.mul_f64(0.8))
    }

    /// Emails about issues link to the portal at `public_url`.
    pub fn with_public_url(mut self, public_url: String) -> JobRunner {
        self.public_url = public_url;
        self
    }

    /// Publishes the backup status site to `dir` (links in its feeds use `base_url`), and
    /// to the bucket given with `with_status_site_bucket` before.
    pub fn with_status_site(mut self, dir: std::path::PathBuf, base_url: String) -> JobRunner {
        self.site = Some(SiteTarget {
            dir,
            bucket: self.site_bucket.clone(),
            base_url,
            logs_pending: Default::default(),
            cosigned_seen: Default::default(),
        });
        self
    }

    /// Also publishes the backup status site to an S3-compatible bucket (call before
    /// `with_status_site`). A URL that cannot be used is logged and left out.
    pub fn with_status_site_bucket(mut self, url: Option<String>) -> JobRunner {
        self.site_bucket = open_bucket(url);
        self
    }

    /// Publishes the backup status site to `bucket` as well (call before
    /// `with_status_site`).
    pub fn with_bucket(
        mut self,
        bucket: impl Into<Arc<candor_delivery::site::Bucket>>,
    ) -> JobRunner {
        self.site_bucket = Some(bucket.into());
        self
    }

    /// Runs jobs of `kind`, a kind `Job` does not define, with `handler`.
    pub fn register(
        &mut self,
        kind: &str,
        handler: impl Fn(Arc<Core>, StoredJob) -> JobFuture + Send + Sync + 'static,
    ) {
        self.extra.insert(kind.to_owned(), Arc::new(handler));
    }

    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    /// Enqueues this period's periodic tasks; other instances doing the same are no-ops.
    pub async fn schedule_periodic(&self, now: OffsetDateTime) -> anyhow::Result<()> {
        let hour = now
            .replace_minute(0)
            .and_then(|t| t.replace_second(0))
            .and_then(|t| t.replace_nanosecond(0))
            .unwrap_or(now);
        let minute = now
            .replace_second(0)
            .and_then(|t| t.replace_nanosecond(0))
            .unwrap_or(now);
        // The watchdog looks every 10 s, so an overdue update is flagged within seconds of
        // its deadline rather than within a minute.
        let ten_seconds = minute + time::Duration::seconds(i64::from(now.second() / 10 * 10));
        let every = i64::from(self.checkpoint_every.max(1));
        let checkpoint_slot = now - time::Duration::seconds(now.unix_timestamp().rem_euclid(every));
        let checkpoint_slot = checkpoint_slot
            .replace_nanosecond(0)
            .unwrap_or(checkpoint_slot);
        let periodic: [(MakePeriodic, OffsetDateTime); 5] = [
            (Job::AuditCheckpoint, checkpoint_slot),
            (Job::SessionCleanup, hour),
            (Job::HealthWatchdog, ten_seconds),
            (Job::LockboxDeadlines, minute),
            (Job::StatusSitePublish, minute),
        ];
        for (make, period) in periodic {
            self.core
                .store
                .enqueue_job(JobId::generate(), Job::periodic(make, period), now)
                .await?;
        }
        Ok(())
    }

    /// The attempt at one claimed job: what it is decides what runs.
    fn attempt(&self, stored: &StoredJob) -> Result<JobFuture, anyhow::Error> {
        match Job::decode(&stored.kind, &stored.payload) {
            Ok(job) => {
                let work = Work {
                    core: self.core.clone(),
                    public_url: self.public_url.clone(),
                    site: self.site.clone(),
                };
                Ok(work.run(job).boxed())
            }
            Err(Undecodable::UnknownKind(kind)) => match self.extra.get(&kind) {
                Some(handler) => Ok(handler(self.core.clone(), stored.clone())),
                // Kept and retried with backoff, so an instance of the version that
                // queued it can take it; dead (and kept, with this error) at the end.
                None => Err(anyhow::anyhow!("{}", Undecodable::UnknownKind(kind))),
            },
            Err(malformed) => Err(Permanent(malformed.to_string()).into()),
        }
    }

    /// Claims and runs one due job. `None` when nothing is due.
    pub async fn run_one(&self) -> anyhow::Result<Option<Outcome>> {
        let now = self.core.clock.now();
        let mut claimed = None;
        for lane in &self.lanes {
            claimed = self
                .core
                .store
                .claim_job(now, self.lease, &self.worker, *lane)
                .await?;
            if claimed.is_some() {
                break;
            }
        }
        let Some(job) = claimed else {
            return Ok(None);
        };
        let id = job.id;
        let mut permanent = false;
        let result = if job.attempts > job.max_attempts {
            Err(format!(
                "gave up after {} attempts (its worker kept disappearing)",
                job.max_attempts
            ))
        } else {
            match self.attempt(&job) {
                Err(e) => {
                    permanent = e.is::<Permanent>();
                    if !permanent {
                        tracing::warn!(job = %id, kind = %job.kind, error = %e, "a job this version cannot run");
                    }
                    Err(format!("{e:#}"))
                }
                Ok(attempt) => {
                    // A separate task, so a panic is caught as a JoinError, not lost.
                    let task = tokio::spawn(attempt);
                    let timeout = self.attempt_timeout();
                    match tokio::time::timeout(timeout, task).await {
                        Ok(Ok(Ok(()))) => Ok(()),
                        Ok(Ok(Err(e))) => {
                            permanent = e.is::<Permanent>();
                            Err(format!("{e:#}"))
                        }
                        Ok(Err(join)) if join.is_panic() => {
                            Err(format!("panicked: {}", panic_text(join)))
                        }
                        Ok(Err(join)) => Err(format!("was cancelled: {join}")),
                        Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
                    }
                }
            }
        };
        let finished = self.core.clock.now();
        match result {
            Ok(()) => {
                self.core
                    .store
                    .complete_job(id, &self.worker, finished)
                    .await?;
                Ok(Some(Outcome::Done(id)))
            }
            Err(error) => {
                let jitter = rand::thread_rng().gen::<f64>();
                let after = if permanent || job.attempts > job.max_attempts {
                    AfterFailure::Dead
                } else {
                    after_failure(&job, finished, jitter)
                };
                tracing::warn!(job = %id, kind = %job.kind, attempt = job.attempts, %error, "job failed");
                self.core
                    .store
                    .fail_job(id, &self.worker, &error, after, finished)
                    .await?;
                Ok(Some(match after {
                    AfterFailure::Dead => Outcome::Dead(id, error),
                    AfterFailure::RetryAt(_) => Outcome::Retry(id, error),
                }))
            }
        }
    }

    /// Runs until `stop` is cancelled: periodic scheduling every 5 s (cheap: the
    /// dedupe keys make repeats no-ops), jobs as they come due.
    pub async fn run(self, stop: CancellationToken) {
        let lanes: Vec<&str> = self.lanes.iter().map(|l| l.as_str()).collect();
        tracing::info!(worker = %self.worker, ?lanes, "job runner started");
        let mut last_schedule: Option<std::time::Instant> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            if self.schedules()
                && last_schedule.is_none_or(|t| t.elapsed() >= StdDuration::from_secs(5))
            {
                if let Err(e) = self.schedule_periodic(self.core.clock.now()).await {
                    tracing::warn!(error = %e, "scheduling periodic jobs failed");
                }
                last_schedule = Some(std::time::Instant::now());
            }
            let idle = match self.run_one().await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "job runner could not reach the store");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
        tracing::info!(worker = %self.worker, "job runner stopped");
    }
}

fn panic_text(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}
