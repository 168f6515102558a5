//! `candor serve`: the HTTP server and, unless `--no-jobs`, the job runner, sharing one
//! store; both stop gracefully on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use candor_app::Core;
use candor_domain::clock::{Clock, SystemClock};
use candor_web::WebConfig;
use tokio_util::sync::CancellationToken;

use crate::config::{open_store_with, StoreChoice};
use crate::deliveries::{DeliveryRunner, DeliverySettings};
use crate::demo;
use crate::jobs::JobRunner;

#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreChoice,
    /// SQLite's page caches (ignored on PostgreSQL).
    pub sqlite_cache: candor_store_sqlite::PageCache,
    pub demo: bool,
    pub jobs: bool,
    pub web: WebConfig,
    pub mail: MailSettings,
    /// Where the backup status site is published (`<data-dir>/status-site` by default).
    pub status_site_dir: Option<PathBuf>,
    /// An S3-compatible bucket the backup status site is also published to.
    pub status_site_bucket: Option<String>,
    /// Webhooks may reach private and loopback addresses (tests, labs).
    pub allow_private_webhooks: bool,
    /// Attempts at a delivery before it is dead.
    pub delivery_attempts: i32,
    /// How often the public subscribe form may be used.
    pub subscribe_limits: candor_domain::health::subscriber::RequestLimits,
    /// Tenants per part of a fan-out (`notify::DEFAULT_PART_TENANTS`).
    pub fanout_part_tenants: usize,
    /// How long claimed jobs and deliveries are an instance's before another may take
    /// them over.
    pub lease: time::Duration,
    /// Seconds between checkpoints of the audit logs that grew.
    pub checkpoint_interval: u32,
    /// How long one send may take, per channel.
    pub deadlines: crate::deliveries::Deadlines,
    /// Who owns and is chased about incidents.
    pub chase: candor_app::chase::ChaseSettings,
    /// The name of this installation in the audit logs' checkpoints.
    pub log_origin: String,
    /// Where the audit signing key is kept.
    pub audit_key: candor_app::keys::AuditKeySource,
}

/// How long a crashed instance's claimed work waits, unless configured.
pub const DEFAULT_LEASE_SECONDS: u32 = 300;

/// The backup status site's default directory.
pub fn status_site_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("status-site")
}

/// Where email goes: an SMTP relay, or (without one) `.eml` files under the data
/// directory's `outbox/`.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp_url: Option<String>,
    pub from: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_url: None,
            from: DEFAULT_MAIL_FROM.to_owned(),
        }
    }
}

pub const DEFAULT_MAIL_FROM: &str = "Candor <candor@localhost>";

/// The directory email goes to when no SMTP relay is configured.
pub fn outbox_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("outbox")
}

fn mailer(settings: &ServeSettings) -> anyhow::Result<candor_delivery::email::Mailer> {
    use candor_delivery::email::Mailer;
    Ok(match &settings.mail.smtp_url {
        Some(url) => Mailer::smtp(url, &settings.mail.from)?,
        None => Mailer::pickup(outbox_dir(&settings.data_dir), &settings.mail.from)?,
    })
}

/// A running Candor: its address and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    pub stop: CancellationToken,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes requests in flight, stops the job runner.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.done.await?
    }
}

/// Opens the store, seeds the demo world if asked, binds, and starts serving.
pub async fn start(settings: ServeSettings) -> anyhow::Result<Running> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    start_with_clock(settings, clock).await
}

/// The embedded store has one writer: a second `serve` on the same database would break
/// what Candor relies on (the Lockbox grant cache above all), so it is refused. The lock
/// is the operating system's, released when the process ends, however it ends.
fn lock_embedded_store(choice: &StoreChoice) -> anyhow::Result<Option<std::fs::File>> {
    let StoreChoice::Sqlite(path) = choice else {
        return Ok(None);
    };
    let lock_path = path.with_extension("db.lock");
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "another Candor is already serving {}; the embedded database takes one instance (use PostgreSQL, --database-url, for several)",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(anyhow::anyhow!(
            "cannot lock {}: {e}",
            lock_path.display()
        )),
    }
}

pub async fn start_with_clock(
    settings: ServeSettings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let lock = lock_embedded_store(&settings.store)?;
    tracing::info!(database = %settings.store.describe(), "opening the store");
    let store = open_store_with(&settings.store, settings.sqlite_cache).await?;
    let mut core = Core::with_audit_key(store, clock, &settings.audit_key).await?;
    core.delivery_attempts = settings.delivery_attempts;
    core.subscribe_limits = settings.subscribe_limits;
    core.fanout_part_tenants = settings.fanout_part_tenants;
    core.log_origin = settings.log_origin.clone();
    core.allow_private_webhooks = settings.allow_private_webhooks.into();
    let mut chase = settings.chase.clone();
    if chase.console_url.is_empty() {
        chase.console_url = format!("http://{}", settings.listen);
    }
    core.chase.set(chase);
    if lock.is_some() {
        // This process owns the embedded store: nothing else can be working on what it
        // finds in flight, which a previous run left there when it died.
        let released = core.store.release_all_leases().await?;
        if released > 0 {
            tracing::info!(
                released,
                "work left in flight by the last run is queued again"
            );
        }
    }
    let core = Arc::new(core);
    let mut web = settings.web.clone();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    if web.public_url.is_empty() {
        web.public_url = format!("http://{addr}");
    }
    if settings.demo {
        web.demo = true;
        let seeded =
            demo::seed_if_empty(&core, &settings.data_dir, &web.public_url, |done, total| {
                if done % 10 == 0 || done == total {
                    tracing::info!("seeding the demo world: {done}/{total} tenants");
                }
            })
            .await?;
        let path = demo::credentials_path(&settings.data_dir);
        match seeded {
            Some(c) => {
                let admin = c.tenants.first().and_then(|t| t.users.first());
                let op = c.operators.first();
                eprintln!(
                    "Demo world ready: {} tenants, {} operators.",
                    c.tenants.len(),
                    c.operators.len()
                );
                if let (Some(admin), Some(op)) = (admin, op) {
                    eprintln!(
                        "  Tenant portal:    {}  (e.g. {} / {})",
                        c.portal_sign_in, admin.email, admin.password
                    );
                    eprintln!(
                        "  Operator console: {}  (e.g. {} / {})",
                        c.console_sign_in, op.email, op.password
                    );
                }
                eprintln!("  Every demo credential: {}", path.display());
            }
            None if path.exists() => {
                eprintln!(
                    "Demo data already present; credentials are in {}",
                    path.display()
                );
            }
            None => eprintln!("The database already holds data; the demo world was not seeded."),
        }
    }
    let (router, _state) = candor_web::app(core.clone(), web.clone())?;
    let stop = CancellationToken::new();
    let runner = if settings.jobs {
        let mailer = Arc::new(mailer(&settings)?);
        tracing::info!(to = %mailer.describe(), "email goes to");
        let site = settings
            .status_site_dir
            .clone()
            .unwrap_or_else(|| status_site_dir(&settings.data_dir));
        tracing::info!(dir = %site.display(), "the backup status site is published to (serve its current/)");
        let deliveries = DeliveryRunner::new(
            core.clone(),
            Some(mailer),
            DeliverySettings {
                lease: settings.lease,
                push_subject: push_subject(&settings.mail.from),
                deadlines: settings.deadlines,
                ..DeliverySettings::default()
            },
        );
        // Opened once for the three runners (`serve` checked the URL at start).
        let bucket = crate::jobs::open_bucket(settings.status_site_bucket.clone());
        // One runner per lane, so a rebuild or an upload that hangs holds up nothing else.
        let runners: Vec<JobRunner> = candor_domain::jobs::JobLane::ALL
            .into_iter()
            .map(|lane| {
                let runner = match &bucket {
                    Some(b) => JobRunner::new(core.clone()).with_bucket(b.clone()),
                    None => JobRunner::new(core.clone()),
                };
                runner
                    .with_lease(settings.lease)
                    .with_checkpoint_interval(settings.checkpoint_interval)
                    .with_status_site(site.clone(), web.public_url.clone())
                    .with_public_url(web.public_url.clone())
                    .only(lane)
            })
            .collect();
        Some((runners, deliveries))
    } else {
        None
    };
    // Other instances on the same database announce their changes; hear them.
    let hearing = tokio::spawn(core.clone().hear_announcements(stop.clone()));
    // And read the Lockbox generation, so a lost announcement cannot keep a revoked grant.
    let watching = tokio::spawn(core.clone().watch_grants(stop.clone()));
    // The placement index the impact previews read, kept current.
    let indexing = tokio::spawn(core.clone().keep_placement_index(stop.clone()));
    let stop_server = stop.clone();
    let stop_jobs = stop.clone();
    let done = tokio::spawn(async move {
        // Held for as long as this instance serves.
        let _lock = lock;
        let jobs = runner.map(|(runners, d)| {
            let lanes: Vec<_> = runners
                .into_iter()
                .map(|r| tokio::spawn(r.run(stop_jobs.clone())))
                .collect();
            (lanes, tokio::spawn(d.run(stop_jobs)))
        });
        let served = candor_web::serve(
            listener,
            router,
            async move { stop_server.cancelled().await },
        )
        .await;
        if let Some((lanes, d)) = jobs {
            for j in lanes {
                let _ = j.await;
            }
            let _ = d.await;
        }
        let _ = hearing.await;
        let _ = watching.await;
        let _ = indexing.await;
        served.map_err(anyhow::Error::from)
    });
    tracing::info!(%addr, public_url = %web.public_url, jobs = settings.jobs, audit_key = %settings.audit_key.describe(), audit_key_id = %core.keys.audit.key_id, "Candor is serving");
    eprintln!(
        "Candor is listening on http://{addr} (sign in at {}/signin)",
        web.public_url.trim_end_matches('/')
    );
    Ok(Running {
        addr,
        core,
        stop,
        done,
    })
}

/// The VAPID contact push services see: the sender address of Candor's email.
fn push_subject(mail_from: &str) -> String {
    let address = mail_from
        .rsplit_once('<')
        .map(|(_, rest)| rest.trim_end_matches('>'))
        .unwrap_or(mail_from)
        .trim();
    format!("mailto:{address}")
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
