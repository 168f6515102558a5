//! `candor serve`: the portal, console, API, job runner and delivery worker.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{self, StoreChoice};
use crate::server::{self, ServeSettings};

use super::{CliError, CliResult, DbArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Seed a fictional demo world into an empty database and print where to sign in.
    #[arg(long)]
    pub demo: bool,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CANDOR_LISTEN")]
    pub listen: Option<String>,
    /// Run only the HTTP side (for API-only instances next to ones that run jobs).
    #[arg(long)]
    pub no_jobs: bool,
    /// The URL people and clients use to reach Candor (token issuer, links).
    #[arg(long, env = "CANDOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Mark cookies Secure (set when Candor is served over HTTPS).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Trust X-Forwarded-For for client addresses (only behind your own proxy).
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Graph service communications requests allowed per app per tenant per minute
    /// (default 240, Graph's own limit).
    #[arg(long, env = "CANDOR_GRAPH_REQUESTS_PER_MINUTE", value_parser = clap::value_parser!(u32).range(1..))]
    pub graph_requests_per_minute: Option<u32>,
    /// The same per hour (default 800, Graph's own limit).
    #[arg(long, env = "CANDOR_GRAPH_REQUESTS_PER_HOUR", value_parser = clap::value_parser!(u32).range(1..))]
    pub graph_requests_per_hour: Option<u32>,
    /// The SMTP relay for email: smtp://host:port, smtp://user:password@host:587?tls=required
    /// or smtps://host:465. Without it, email is written as .eml files to <data-dir>/outbox.
    #[arg(long, env = "CANDOR_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of Candor's email [default: Candor <candor@localhost>].
    #[arg(long, env = "CANDOR_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where the backup status site is published; serve its `current/` directory with any
    /// web server [default: <data-dir>/status-site].
    #[arg(long, env = "CANDOR_STATUS_SITE_DIR")]
    pub status_site_dir: Option<PathBuf>,
    /// Also publish the backup status site to an S3-compatible bucket, s3://bucket/prefix
    /// (credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP).
    #[arg(long, env = "CANDOR_STATUS_SITE_BUCKET")]
    pub status_site_bucket: Option<String>,
    /// Let webhook endpoints be private or loopback addresses (tests and labs only:
    /// otherwise a tenant could make Candor call your own network).
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Attempts at a delivery before it is given up as failed [default: 10; retries
    /// back off from 5 seconds to an hour].
    #[arg(long, env = "CANDOR_DELIVERY_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub delivery_attempts: Option<u32>,
    /// Addresses one network address may ask to subscribe to the public page (and leave
    /// unconfirmed) in an hour; past it, its subscribe form is refused [default: 5].
    #[arg(long, env = "CANDOR_SUBSCRIBE_UNCONFIRMED_PER_IP", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub subscribe_unconfirmed_per_ip: Option<u32>,
    /// Confirmation emails one address may receive in an hour; further requests for it
    /// send nothing [default: 3].
    #[arg(long, env = "CANDOR_SUBSCRIBE_EMAILS_PER_ADDRESS", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub subscribe_emails_per_address: Option<u32>,
    /// Tenants per part of a fan-out: a fan-out that reaches more is split into parts of
    /// this many, which every instance's job runners claim side by side [default: 20000;
    /// 10 to 10000000].
    #[arg(long, env = "CANDOR_FANOUT_PART_TENANTS", value_parser = clap::value_parser!(u32).range(10..=10_000_000))]
    pub fanout_part_tenants: Option<u32>,
    /// Seconds a crashed instance's claimed work waits before another takes it over
    /// [default: 300; at least 15].
    #[arg(long, env = "CANDOR_LEASE_SECONDS", value_parser = clap::value_parser!(u32).range(15..=86400))]
    pub lease_seconds: Option<u32>,
    /// Seconds between signed checkpoints of the audit logs that grew, each then
    /// published beside the backup status site [default: 10; 5 to 3600].
    #[arg(long, env = "CANDOR_CHECKPOINT_INTERVAL", value_parser = clap::value_parser!(u32).range(5..=3600))]
    pub checkpoint_interval: Option<u32>,
    /// Seconds one email may take, the whole SMTP exchange; past it the attempt fails
    /// and is retried [default: 30].
    #[arg(long, env = "CANDOR_EMAIL_DEADLINE_SECONDS", value_parser = clap::value_parser!(u32).range(1..=600))]
    pub email_deadline_seconds: Option<u32>,
    /// Seconds one webhook or Web Push send may take, connect to last byte [default: 10].
    #[arg(long, env = "CANDOR_WEBHOOK_DEADLINE_SECONDS", value_parser = clap::value_parser!(u32).range(1..=600))]
    pub webhook_deadline_seconds: Option<u32>,
    /// The Incident Managers on duty, by email, comma-separated: the owner of an issue a
    /// machine client declares without naming one, and told (with the owner) of every
    /// overdue update [default: every Incident Manager is told; such a declaration is
    /// refused].
    #[arg(long, env = "CANDOR_DUTY_INCIDENT_MANAGERS", value_delimiter = ',')]
    pub duty_incident_managers: Vec<String>,
    /// Minutes between reminders of an overdue update, until a post is made
    /// [default: 15].
    #[arg(long, env = "CANDOR_OVERDUE_REMINDER_MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub overdue_reminder_minutes: Option<u32>,
    /// The provider's own webhook: overdue updates and cadence changes are posted there,
    /// signed with --operator-webhook-secret like tenant webhooks.
    #[arg(long, env = "CANDOR_OPERATOR_WEBHOOK_URL")]
    pub operator_webhook_url: Option<String>,
    /// The operator webhook's signing secret (at least 16 characters; prefer the
    /// environment variable or the file to a flag).
    #[arg(long, env = "CANDOR_OPERATOR_WEBHOOK_SECRET", hide_env_values = true)]
    pub operator_webhook_secret: Option<String>,
    /// SQLite's page cache for the writer connection, in MiB; each of the 8 reader
    /// connections gets a quarter [default: 64]. Memory grows into these caches as the
    /// database grows, then levels off. Ignored on PostgreSQL.
    #[arg(long, env = "CANDOR_SQLITE_CACHE_MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub sqlite_cache_mib: Option<u32>,
    /// A TOML configuration file (keys: listen, data-dir, database-url, public-url,
    /// secure-cookies, trust-forwarded-for, no-jobs, graph-requests-per-minute,
    /// graph-requests-per-hour, smtp-url, mail-from, status-site-dir, status-site-bucket,
    /// allow-private-webhooks, delivery-attempts, lease-seconds, email-deadline-seconds,
    /// webhook-deadline-seconds, sqlite-cache-mib, duty-incident-managers (a list),
    /// overdue-reminder-minutes, operator-webhook-url, operator-webhook-secret). Flags
    /// and environment win.
    #[arg(long, env = "CANDOR_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub(super) async fn serve(args: ServeArgs) -> CliResult {
    let file = match &args.config {
        Some(path) => config::read_file(path)?,
        None => config::FileConfig::default(),
    };
    let listen = args
        .listen
        .clone()
        .or(file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listen = config::parse_listen(&listen)?;
    // Flags/env win over the file; the file wins over defaults.
    let data_dir = if args.db.data_dir == std::path::Path::new("./candor-data") {
        file.data_dir.clone().unwrap_or(args.db.data_dir.clone())
    } else {
        args.db.data_dir.clone()
    };
    let database_url = args.db.database_url.clone().or(file.database_url.clone());
    let store = StoreChoice::from_args(&data_dir, database_url.as_deref())?;
    let public_url = args
        .public_url
        .clone()
        .or(file.public_url.clone())
        .unwrap_or_default();
    let scheme_ok = public_url.starts_with("http://") || public_url.starts_with("https://");
    if !public_url.is_empty() && !scheme_ok {
        return Err(CliError::Usage(format!(
            "--public-url `{public_url}` must start with http:// or https://"
        )));
    }
    let smtp_url = args.smtp_url.clone().or(file.smtp_url.clone());
    if let Some(url) = &smtp_url {
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err(CliError::Usage(
                "--smtp-url must start with smtp:// or smtps://".into(),
            ));
        }
    }
    let mail_from = args
        .mail_from
        .clone()
        .or(file.mail_from.clone())
        .unwrap_or_else(|| server::DEFAULT_MAIL_FROM.to_owned());
    if let Err(e) = candor_delivery::email::check_sender(&mail_from) {
        return Err(CliError::Usage(format!("--mail-from: {e}")));
    }
    let delivery_attempts = args
        .delivery_attempts
        .or(file.delivery_attempts)
        .unwrap_or(candor_domain::health::DEFAULT_DELIVERY_ATTEMPTS as u32);
    if !(1..=100).contains(&delivery_attempts) {
        return Err(CliError::Usage(
            "delivery-attempts must be between 1 and 100".into(),
        ));
    }
    let defaults = candor_domain::health::subscriber::RequestLimits::default();
    let subscribe_limits = candor_domain::health::subscriber::RequestLimits {
        unconfirmed_per_ip: args
            .subscribe_unconfirmed_per_ip
            .or(file.subscribe_unconfirmed_per_ip)
            .unwrap_or(defaults.unconfirmed_per_ip),
        emails_per_address: args
            .subscribe_emails_per_address
            .or(file.subscribe_emails_per_address)
            .unwrap_or(defaults.emails_per_address),
    };
    if !(1..=10000).contains(&subscribe_limits.unconfirmed_per_ip) {
        return Err(CliError::Usage(
            "subscribe-unconfirmed-per-ip must be between 1 and 10000".into(),
        ));
    }
    if !(1..=100).contains(&subscribe_limits.emails_per_address) {
        return Err(CliError::Usage(
            "subscribe-emails-per-address must be between 1 and 100".into(),
        ));
    }
    let fanout_part_tenants = args
        .fanout_part_tenants
        .or(file.fanout_part_tenants)
        .unwrap_or(candor_app::notify::DEFAULT_PART_TENANTS as u32);
    if !(10..=10_000_000).contains(&fanout_part_tenants) {
        return Err(CliError::Usage(
            "fanout-part-tenants must be between 10 and 10000000".into(),
        ));
    }
    let lease_seconds = args
        .lease_seconds
        .or(file.lease_seconds)
        .unwrap_or(server::DEFAULT_LEASE_SECONDS);
    if !(15..=86400).contains(&lease_seconds) {
        return Err(CliError::Usage(
            "lease-seconds must be between 15 and 86400".into(),
        ));
    }
    let checkpoint_interval = args
        .checkpoint_interval
        .or(file.checkpoint_interval)
        .unwrap_or(crate::jobs::DEFAULT_CHECKPOINT_INTERVAL);
    if !(5..=3600).contains(&checkpoint_interval) {
        return Err(CliError::Usage(
            "checkpoint-interval must be between 5 and 3600 seconds".into(),
        ));
    }
    let deadline = |name: &str, flag: Option<u32>, file: Option<u32>, default: u64| {
        let secs = flag.or(file).map(u64::from).unwrap_or(default);
        if (1..=600).contains(&secs) {
            Ok(std::time::Duration::from_secs(secs))
        } else {
            Err(CliError::Usage(format!("{name} must be between 1 and 600")))
        }
    };
    let defaults = crate::deliveries::Deadlines::default();
    let email_deadline = deadline(
        "email-deadline-seconds",
        args.email_deadline_seconds,
        file.email_deadline_seconds,
        defaults.email.as_secs(),
    )?;
    let webhook_deadline = deadline(
        "webhook-deadline-seconds",
        args.webhook_deadline_seconds,
        file.webhook_deadline_seconds,
        defaults.webhook.as_secs(),
    )?;
    let sqlite_cache_mib = args
        .sqlite_cache_mib
        .or(file.sqlite_cache_mib)
        .unwrap_or(candor_store_sqlite::PageCache::DEFAULT_MIB);
    if !(1..=4096).contains(&sqlite_cache_mib) {
        return Err(CliError::Usage(
            "sqlite-cache-mib must be between 1 and 4096".into(),
        ));
    }
    let status_site_bucket = args
        .status_site_bucket
        .clone()
        .or(file.status_site_bucket.clone());
    if let Some(b) = &status_site_bucket {
        // Checked now, so a typo stops the start instead of every publication.
        candor_delivery::site::Bucket::open(b, &[])
            .map_err(|e| CliError::Usage(format!("--status-site-bucket: {e}")))?;
    }
    let duty = if args.duty_incident_managers.is_empty() {
        file.duty_incident_managers.clone().unwrap_or_default()
    } else {
        args.duty_incident_managers.clone()
    };
    let duty = duty
        .iter()
        .map(|e| {
            candor_domain::identity::EmailAddress::parse(e)
                .map_err(|e| CliError::Usage(format!("--duty-incident-managers: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reminder_minutes = args
        .overdue_reminder_minutes
        .or(file.overdue_reminder_minutes)
        .unwrap_or(15);
    if !(1..=1440).contains(&reminder_minutes) {
        return Err(CliError::Usage(
            "overdue-reminder-minutes must be between 1 and 1440".into(),
        ));
    }
    let hook_url = args
        .operator_webhook_url
        .clone()
        .or(file.operator_webhook_url.clone());
    let hook_secret = args
        .operator_webhook_secret
        .clone()
        .or(file.operator_webhook_secret.clone());
    let operator_webhook = match (hook_url, hook_secret) {
        (None, None) => None,
        (Some(url), Some(secret)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(CliError::Usage(
                    "--operator-webhook-url must start with https:// or http://".into(),
                ));
            }
            if secret.chars().count() < 16 {
                return Err(CliError::Usage(
                    "--operator-webhook-secret must be at least 16 characters".into(),
                ));
            }
            Some(candor_app::chase::OperatorWebhook { url, secret })
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--operator-webhook-url needs --operator-webhook-secret (or CANDOR_OPERATOR_WEBHOOK_SECRET) to sign with".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "--operator-webhook-secret is set but --operator-webhook-url is not".into(),
            ))
        }
    };
    let chase = candor_app::chase::ChaseSettings {
        duty,
        reminder_every: time::Duration::minutes(i64::from(reminder_minutes)),
        operator_webhook,
        console_url: public_url.clone(),
    };
    let log_origin = if args.db.log_origin == candor_app::DEFAULT_LOG_ORIGIN {
        file.log_origin
            .clone()
            .unwrap_or_else(|| args.db.log_origin.clone())
    } else {
        args.db.log_origin.clone()
    };
    let settings = ServeSettings {
        audit_key: {
            let mut db = args.db.clone();
            if db.signing_key_file.is_none() {
                db.signing_key_file = file.signing_key_file.clone();
            }
            db.audit_key(&data_dir)
        },
        log_origin: crate::config::log_origin(&log_origin)?,
        chase,
        status_site_bucket,
        allow_private_webhooks: args.allow_private_webhooks
            || file.allow_private_webhooks.unwrap_or(false),
        delivery_attempts: delivery_attempts as i32,
        subscribe_limits,
        fanout_part_tenants: fanout_part_tenants as usize,
        lease: time::Duration::seconds(i64::from(lease_seconds)),
        checkpoint_interval,
        deadlines: crate::deliveries::Deadlines {
            email: email_deadline,
            webhook: webhook_deadline,
            push: webhook_deadline,
        },
        status_site_dir: args
            .status_site_dir
            .clone()
            .or(file.status_site_dir.clone()),
        mail: server::MailSettings {
            smtp_url,
            from: mail_from,
        },
        listen,
        data_dir,
        store,
        sqlite_cache: candor_store_sqlite::PageCache {
            writer_mib: sqlite_cache_mib,
        },
        demo: args.demo,
        jobs: !(args.no_jobs || file.no_jobs.unwrap_or(false)),
        web: candor_web::WebConfig {
            secure_cookies: args.secure_cookies
                || file.secure_cookies.unwrap_or(false)
                || public_url.starts_with("https://"),
            trust_forwarded_for: args.trust_forwarded_for
                || file.trust_forwarded_for.unwrap_or(false),
            public_url,
            demo: args.demo,
            graph_requests_per_minute: positive(
                "graph-requests-per-minute",
                args.graph_requests_per_minute
                    .or(file.graph_requests_per_minute)
                    .unwrap_or(candor_web::GRAPH_REQUESTS_PER_MINUTE),
            )?,
            graph_requests_per_hour: positive(
                "graph-requests-per-hour",
                args.graph_requests_per_hour
                    .or(file.graph_requests_per_hour)
                    .unwrap_or(candor_web::GRAPH_REQUESTS_PER_HOUR),
            )?,
        },
    };
    let running = server::start(settings).await?;
    server::shutdown_signal().await;
    eprintln!("Stopping: finishing requests in flight…");
    running.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

fn positive(key: &str, n: u32) -> Result<u32, CliError> {
    if n == 0 {
        return Err(CliError::Usage(format!("{key} must be at least 1")));
    }
    Ok(n)
}
