//! The `candor` command line. Every command that reads the database takes the same
//! `--data-dir` / `--database-url` as `serve`. Invalid arguments or configuration give
//! one clear line and exit code 2; nothing is written before all input is validated.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use candor_app::audit::{self as audit_service, ExportFormat};
use candor_app::error::AppError;
use candor_app::identity;
use candor_app::Core;
use candor_domain::audit::{AuditChain, AuditQueryInput};
use candor_domain::clock::SystemClock;
use candor_domain::identity::Actor;
use candor_domain::time_util::{parse_time, rfc3339};
use candor_domain::{ApiClientId, TenantId};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::StreamExt;

use crate::config::{self, ConfigError, StoreChoice};
use crate::server::{self, ServeSettings};

#[derive(Debug, Parser)]
#[command(
    name = "candor",
    version,
    about = "Candor: service health communications and Customer Lockbox for multi-tenant providers",
    long_about = "Candor tells each customer tenant about the incidents that affect it, through several \
independent channels, and guards every provider access to tenant data behind a time-boxed, \
customer-approved, audited Lockbox grant.\n\nStart with `candor serve --demo` to explore a demo world \
on the embedded SQLite database.",
    after_help = "Environment: CANDOR_DATA_DIR, CANDOR_DATABASE_URL, CANDOR_LISTEN, CANDOR_PUBLIC_URL, \
CANDOR_CONFIG, CANDOR_LOG (filter, e.g. info,candor=debug)."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CANDOR_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Directory for the embedded database, demo credentials and other local state.
    #[arg(long, env = "CANDOR_DATA_DIR", default_value = "./candor-data")]
    pub data_dir: PathBuf,
    /// Use PostgreSQL instead of the embedded SQLite database (postgres://user@host/db).
    #[arg(long, env = "CANDOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    fn choice(&self) -> Result<StoreChoice, ConfigError> {
        StoreChoice::from_args(&self.data_dir, self.database_url.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal, console, API and (unless --no-jobs) the job runner.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DbArgs),
    /// Manage customer tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage tenant users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage provider operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Manage API clients (app registrations) of a tenant.
    #[command(subcommand, name = "api-client")]
    ApiClient(ApiClientCommand),
    /// Manage operator clients: machine credentials for the operator API (monitoring
    /// systems and tools that declare and update issues).
    #[command(subcommand, name = "operator-client")]
    OperatorClient(OperatorClientCommand),
    /// Search, export and verify the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Load the catalog, topology and placements in bulk.
    #[command(subcommand)]
    Topology(TopologyCommand),
    /// Customer Lockbox: list and decide requests (as Get-/Set-AccessToCustomerDataRequest),
    /// verify decision signatures, configure workloads.
    #[command(subcommand)]
    Lockbox(crate::lockbox_cli::LockboxCommand),
    /// Run a demo mailbox service that asks Candor's Lockbox `authorize` before every
    /// operation an engineer attempts (see the README's Lockbox walk-through).
    #[command(name = "demo-workload")]
    DemoWorkload(DemoWorkloadArgs),
    /// Candor's signing keys: list them, or rotate the token or audit key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The backup status site: static HTML, JSON and Atom that any web server can serve
    /// while Candor itself is down. `serve` keeps it up to date on its own.
    #[command(subcommand, name = "status-site")]
    StatusSite(StatusSiteCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys of one purpose, oldest first, with when each was retired.
    List {
        /// token (access and Lockbox grant tokens) or audit (checkpoints, Lockbox decisions).
        #[arg(long, default_value = "token")]
        purpose: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Put a new key in place and retire the one in use. Running instances sign with a new
    /// token key within a minute; a new audit key from their next start (restart them one
    /// at a time). A retired token key still verifies for 24 hours; audit keys for good.
    Rotate {
        /// token or audit.
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatusSiteCommand {
    /// Build the site from the database now and publish it atomically.
    Publish {
        /// Where to publish [default: <data-dir>/status-site]; serve its `current/`.
        #[arg(long, env = "CANDOR_STATUS_SITE_DIR")]
        dir: Option<PathBuf>,
        /// Also publish to an S3-compatible bucket, s3://bucket/prefix (credentials and
        /// endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT,
        /// AWS_ALLOW_HTTP).
        #[arg(long, env = "CANDOR_STATUS_SITE_BUCKET")]
        bucket: Option<String>,
        /// The URL the feeds' links point to.
        #[arg(
            long,
            env = "CANDOR_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
pub struct DemoWorkloadArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Candor's URL.
    #[arg(long, env = "CANDOR_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The service's operator client id (DataPlaneService role). Without it, the demo
    /// world's data-plane client from <data-dir>/demo-credentials.json is used.
    #[arg(long, env = "CANDOR_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Its secret; prefer the environment variable.
    #[arg(long, env = "CANDOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Where `candor serve --demo` wrote its credentials.
    #[arg(long, env = "CANDOR_DATA_DIR", default_value = "./candor-data")]
    pub data_dir: PathBuf,
}

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
    /// Seconds a crashed instance's claimed work waits before another takes it over
    /// [default: 300; at least 15].
    #[arg(long, env = "CANDOR_LEASE_SECONDS", value_parser = clap::value_parser!(u32).range(15..=86400))]
    pub lease_seconds: Option<u32>,
    /// SQLite's page cache for the writer connection, in MiB; each of the 8 reader
    /// connections gets a quarter [default: 64]. Memory grows into these caches as the
    /// database grows, then levels off. Ignored on PostgreSQL.
    #[arg(long, env = "CANDOR_SQLITE_CACHE_MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub sqlite_cache_mib: Option<u32>,
    /// A TOML configuration file (keys: listen, data-dir, database-url, public-url,
    /// secure-cookies, trust-forwarded-for, no-jobs, graph-requests-per-minute,
    /// graph-requests-per-hour, smtp-url, mail-from, status-site-dir, status-site-bucket,
    /// allow-private-webhooks, delivery-attempts, lease-seconds, sqlite-cache-mib). Flags
    /// and environment win.
    #[arg(long, env = "CANDOR_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a customer tenant.
    Create {
        #[arg(long)]
        name: String,
        /// Home region code, e.g. eu-west.
        #[arg(long)]
        region: String,
        /// Default language: en, nl, fr, zh-TW or ko.
        #[arg(long, default_value = "en")]
        language: String,
        /// IANA time zone, e.g. Europe/Amsterdam.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tenants, by name.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to a tenant. Without --password-stdin a strong password is generated
    /// and printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: GlobalAdministrator, CustomerLockboxAccessApprover,
        /// ServiceSupportAdministrator, MessageCenterReader, AuditReader.
        #[arg(long, default_value = "")]
        roles: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List a tenant's users.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add a provider operator.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: IncidentManager, SupportEngineer, SupportManager,
        /// DataPlaneService; ProviderAdmin only with --break-glass.
        #[arg(long)]
        roles: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Allow privileged roles (ProviderAdmin) as standing roles: the very first
        /// Provider Admin, or recovery. Loudly audited; everyone else gets privileged
        /// roles through an approved elevation.
        #[arg(long)]
        break_glass: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List operators.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiClientCommand {
    /// Register an API client; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: ServiceHealth.Read.All, ServiceMessage.Read.All,
        /// AuditLog.Read.All, Lockbox.ReadWrite.All.
        #[arg(long)]
        permissions: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API client: no new tokens, and issued ones stop working within a minute.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Import services, regions, scale units, components and placements from a JSON or
    /// CSV file. Everything is checked first; any problem is reported with its line and
    /// nothing is written. Existing items with the same id are updated.
    Import {
        /// The file (.json, or CSV with the header kind,id,name,parent,services).
        file: PathBuf,
        /// Check the file and report what it would change, without writing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorClientCommand {
    /// Register an operator client; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated operator roles, e.g. IncidentManager or DataPlaneService.
        #[arg(long)]
        roles: String,
        /// Allow a privileged role (ProviderAdmin) held standing, for automation such as a
        /// topology sync. Loudly audited.
        #[arg(long)]
        break_glass: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an operator client.
    Revoke {
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AuditFilter {
    /// Start (inclusive): 2026-11-01 or an RFC 3339 time. Required.
    #[arg(long)]
    pub from: Option<String>,
    /// End (exclusive). Required.
    #[arg(long)]
    pub to: Option<String>,
    /// The tenant whose log to read (id); without it, the operator realm's log.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Comma-separated activities.
    #[arg(long)]
    pub activities: Option<String>,
    /// Comma-separated users.
    #[arg(long)]
    pub users: Option<String>,
    #[arg(long)]
    pub item: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search records, newest first.
    Search {
        #[command(flatten)]
        filter: AuditFilter,
        /// Records per page (1-500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Export every matching record as CSV or JSON.
    Export {
        #[command(flatten)]
        filter: AuditFilter,
        #[arg(long, value_enum, default_value_t = ExportArg::Csv)]
        format: ExportArg,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Prove every chain (or one tenant's) unaltered: exits non-zero naming the first
    /// bad record.
    Verify {
        /// Only this tenant's chain (id).
        #[arg(long)]
        tenant: Option<String>,
        /// Only the operator realm's chain.
        #[arg(long, conflicts_with = "tenant")]
        operator: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Sign a checkpoint for every chain that grew since its last one.
    Checkpoint {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportArg {
    Csv,
    Json,
}

/// An error that ends a command: usage problems exit 2, everything else 1.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Usage(e.0)
    }
}

/// The one place the application layer's errors become exit codes: what the caller can
/// put right (a value, a missing thing, a conflict, a refused step) exits 2, the rest 1.
impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(inner) => CliError::Failed(format!("{inner:#}")),
            AppError::Invalid(_)
            | AppError::Refused(_)
            | AppError::Conflict(_)
            | AppError::NotFound(_) => CliError::Usage(e.to_string()),
            AppError::Unauthenticated(_) | AppError::Forbidden(_) | AppError::Unavailable(_) => {
                CliError::Failed(e.to_string())
            }
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(format!("{e:#}"))
    }
}

impl From<candor_domain::store::StoreError> for CliError {
    fn from(e: candor_domain::store::StoreError) -> Self {
        CliError::from(AppError::from(e))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

type CliResult = Result<ExitCode, CliError>;

pub(crate) async fn core_for(db: &DbArgs) -> Result<Core, CliError> {
    let choice = db.choice()?;
    let store = config::open_store(&choice).await?;
    Ok(Core::new(store, Arc::new(SystemClock)).await?)
}

fn parse_tenant(s: &str) -> Result<TenantId, CliError> {
    s.parse()
        .map_err(|e: candor_domain::IdParseError| CliError::Usage(format!("--tenant: {e}")))
}

pub(crate) fn split_csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn read_password(from_stdin: bool) -> Result<(String, bool), CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        candor_domain::identity::check_password_policy(&pw)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok((pw, false))
    } else {
        Ok((format!("pw-{}", candor_app::secrets::random_token()), true))
    }
}

pub async fn run(cli: Cli) -> CliResult {
    let system = Actor::System;
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            let choice = db.choice()?;
            let store = config::open_store(&choice).await?;
            for (version, name) in store.applied_migrations().await? {
                println!("{version:>4}  {name}");
            }
            println!("{} is up to date.", choice.describe());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::Create {
            name,
            region,
            language,
            time_zone,
            db,
        }) => {
            let core = core_for(&db).await?;
            let tenant = identity::create_tenant(
                &core,
                &system,
                None,
                identity::TenantInput {
                    name,
                    home_region: region,
                    default_language: language,
                    time_zone,
                    is_demo: false,
                },
            )
            .await?;
            println!("Created tenant {} ({})", tenant.name, tenant.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::List { json, db }) => {
            let core = core_for(&db).await?;
            let mut after = None;
            let mut out = std::io::stdout().lock();
            if !json {
                writeln!(
                    out,
                    "{:<36}  {:<28}  {:<10}  {:<5}  TIME ZONE",
                    "ID", "NAME", "REGION", "LANG"
                )?;
            }
            loop {
                let page = core.store.list_tenants(after.clone(), 500).await?;
                for t in &page {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(t).unwrap_or_default())?;
                    } else {
                        writeln!(
                            out,
                            "{:<36}  {:<28}  {:<10}  {:<5}  {}",
                            t.id, t.name, t.home_region, t.default_language, t.time_zone
                        )?;
                    }
                }
                match page.last() {
                    Some(t) if page.len() == 500 => after = Some((t.name.clone(), t.id)),
                    _ => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            name,
            roles,
            password_stdin,
            db,
        }) => {
            let tenant = parse_tenant(&tenant)?;
            let (password, generated) = read_password(password_stdin)?;
            let core = core_for(&db).await?;
            let user = identity::create_user(
                &core,
                &system,
                None,
                tenant,
                identity::UserInput {
                    email,
                    display_name: name,
                    password: password.clone(),
                    roles: split_csv(&roles),
                    language: None,
                },
            )
            .await?;
            println!(
                "Created user {} ({}) with roles [{}]",
                user.email,
                user.id,
                user.roles.names().join(", ")
            );
            if generated {
                println!("Password (shown once): {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::List { tenant, json, db }) => {
            let tenant = parse_tenant(&tenant)?;
            let core = core_for(&db).await?;
            if core.store.get_tenant(tenant).await?.is_none() {
                return Err(CliError::Usage(format!("no tenant with id {tenant}")));
            }
            for u in core.store.list_users(tenant).await? {
                if json {
                    println!("{}", serde_json::to_string(&u).unwrap_or_default());
                } else {
                    println!("{}  {:<40}  {}", u.id, u.email, u.roles.names().join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(OperatorCommand::Create {
            email,
            name,
            roles,
            password_stdin,
            break_glass,
            db,
        }) => {
            if break_glass {
                eprintln!(
                    "WARNING: creating a BREAK-GLASS operator with standing privileged roles. \
This bypasses elevation and is recorded as Add-BreakGlassOperator in the operator audit log. \
Use it only for the very first Provider Admin or to recover access."
                );
            }
            let (password, generated) = read_password(password_stdin)?;
            let core = core_for(&db).await?;
            let op = identity::create_operator(
                &core,
                &system,
                None,
                identity::OperatorInput {
                    email,
                    display_name: name,
                    password: password.clone(),
                    roles: split_csv(&roles),
                    break_glass,
                },
            )
            .await?;
            println!(
                "Created operator {} ({}) with roles [{}]",
                op.email,
                op.id,
                op.roles.names().join(", ")
            );
            if generated {
                println!("Password (shown once): {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(OperatorCommand::List { json, db }) => {
            let core = core_for(&db).await?;
            for o in core.store.list_operators().await? {
                if json {
                    println!("{}", serde_json::to_string(&o).unwrap_or_default());
                } else {
                    println!("{}  {:<40}  {}", o.id, o.email, o.roles.names().join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiClient(ApiClientCommand::Create {
            tenant,
            name,
            permissions,
            db,
        }) => {
            let tenant = parse_tenant(&tenant)?;
            let core = core_for(&db).await?;
            let issued = identity::create_api_client(
                &core,
                &system,
                None,
                tenant,
                &name,
                &split_csv(&permissions),
            )
            .await?;
            println!("client_id:     {}", issued.client.id);
            println!("client_secret: {}", issued.secret);
            println!(
                "permissions:   {}",
                issued.client.permissions.names().join(", ")
            );
            println!("The secret is shown only now; Candor keeps only its hash.");
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiClient(ApiClientCommand::Revoke {
            tenant,
            client_id,
            db,
        }) => {
            let tenant = parse_tenant(&tenant)?;
            let client_id: ApiClientId =
                client_id
                    .parse()
                    .map_err(|e: candor_domain::IdParseError| {
                        CliError::Usage(format!("--client-id: {e}"))
                    })?;
            let core = core_for(&db).await?;
            let client =
                identity::revoke_api_client(&core, &system, None, tenant, client_id).await?;
            println!(
                "Revoked {} ({}) at {}",
                client.display_name,
                client.id,
                client.revoked_at.map(rfc3339).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::OperatorClient(OperatorClientCommand::Create {
            name,
            roles,
            break_glass,
            db,
        }) => {
            let core = core_for(&db).await?;
            let roles = split_csv(&roles);
            let (client, secret) = if break_glass {
                eprintln!(
                    "WARNING: creating a BREAK-GLASS operator client with standing privileged roles; recorded in the operator audit log."
                );
                identity::create_break_glass_operator_client(&core, &system, None, &name, &roles)
                    .await?
            } else {
                identity::create_operator_client(&core, &system, None, &name, &roles).await?
            };
            println!("client_id:     {}", client.id);
            println!("client_secret: {secret}");
            println!("roles:         {}", client.roles.names().join(", "));
            println!("The secret is shown only now; Candor keeps only its hash.");
            Ok(ExitCode::SUCCESS)
        }
        Command::OperatorClient(OperatorClientCommand::Revoke { client_id, db }) => {
            let id: ApiClientId = client_id
                .parse()
                .map_err(|e: candor_domain::IdParseError| {
                    CliError::Usage(format!("--client-id: {e}"))
                })?;
            let core = core_for(&db).await?;
            let client = identity::revoke_operator_client(&core, &system, None, id).await?;
            println!("Revoked {} ({})", client.display_name, client.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::List { purpose, db }) => {
            let core = core_for(&db).await?;
            let keys = candor_app::keys::list(&core, &system, &purpose).await?;
            println!("{:<28} {:<26} retired", "key id", "created");
            for k in keys {
                println!(
                    "{:<28} {:<26} {}",
                    k.key_id,
                    rfc3339(k.created_at),
                    k.retired_at
                        .map(rfc3339)
                        .unwrap_or_else(|| "(in use)".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { purpose, db }) => {
            let core = core_for(&db).await?;
            let done = candor_app::keys::rotate(&core, &system, None, &purpose).await?;
            println!(
                "{} key {} is in use; {} is retired.",
                purpose.trim(),
                done.key_id,
                done.retired.as_deref().unwrap_or("nothing")
            );
            if purpose.trim().eq_ignore_ascii_case("token") {
                println!("Running instances sign with it within a minute; no restart needed.");
            } else {
                println!("Restart every Candor instance, one at a time, to sign with it.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => audit(cmd).await,
        Command::Lockbox(cmd) => crate::lockbox_cli::run(cmd).await,
        Command::DemoWorkload(args) => demo_workload(args).await,
        Command::StatusSite(StatusSiteCommand::Publish {
            dir,
            bucket,
            public_url,
            db,
        }) => {
            let bucket = bucket
                .map(|b| candor_delivery::site::Bucket::open(&b, &[]))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--bucket: {e}")))?;
            let dir = dir.unwrap_or_else(|| crate::server::status_site_dir(&db.data_dir));
            let core = core_for(&db).await?;
            let status = candor_app::public::public_status(&core).await?;
            let files = candor_app::status_page::site_files(&status, &public_url)?;
            let stamp = format!("{:020}", status.generated.unix_timestamp_nanos().max(0));
            let release = candor_delivery::site::publish_dir(&dir, &stamp, &files)
                .map_err(|e| CliError::Failed(format!("publishing to {}: {e}", dir.display())))?;
            println!(
                "Published {} files ({} broad issues) to {}",
                files.len(),
                status.issues.len(),
                release.display()
            );
            println!(
                "Serve {} with any web server.",
                dir.join("current").display()
            );
            if let Some(bucket) = bucket {
                let n = bucket
                    .publish(&files)
                    .await
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                println!("Published {n} files to {}", bucket.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Topology(TopologyCommand::Import { file, dry_run, db }) => {
            import_topology(&file, dry_run, &db).await
        }
    }
}

fn filter_input(f: &AuditFilter) -> Result<(Option<TenantId>, AuditQueryInput), CliError> {
    let time = |flag: &str, v: &Option<String>| -> Result<_, CliError> {
        match v {
            None => Ok(None),
            Some(s) => parse_time(s).map(Some).ok_or_else(|| {
                CliError::Usage(format!(
                    "--{flag} `{s}` is not a date (2026-11-01) or an RFC 3339 time"
                ))
            }),
        }
    };
    let tenant = f.tenant.as_deref().map(parse_tenant).transpose()?;
    Ok((
        tenant,
        AuditQueryInput {
            from: time("from", &f.from)?,
            to: time("to", &f.to)?,
            activities: f.activities.iter().cloned().collect(),
            users: f.users.iter().cloned().collect(),
            item: f.item.clone(),
            cursor: None,
            limit: None,
        },
    ))
}

fn chain_of(tenant: Option<TenantId>) -> AuditChain {
    tenant.map_or(AuditChain::Operator, AuditChain::Tenant)
}

async fn audit(cmd: AuditCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        AuditCommand::Search {
            filter,
            limit,
            cursor,
            json,
            db,
        } => {
            let (tenant, mut input) = filter_input(&filter)?;
            input.limit = Some(limit);
            input.cursor = cursor;
            let core = core_for(&db).await?;
            let page = audit_service::search(&core, &system, chain_of(tenant), input).await?;
            let mut out = std::io::stdout().lock();
            for r in &page.items {
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&candor_app::audit::AuditRecordView::from(r))
                            .unwrap_or_default()
                    )?;
                } else {
                    writeln!(
                        out,
                        "{}  {:<15}  {:<32}  {:<22}  {}",
                        rfc3339(r.occurred_at),
                        r.ip_address.as_deref().unwrap_or("-"),
                        r.actor,
                        r.activity,
                        r.item.as_deref().unwrap_or("")
                    )?;
                }
            }
            if let Some(c) = page.next_cursor {
                eprintln!("More records: add --cursor {c}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            filter,
            format,
            output,
            db,
        } => {
            let (tenant, input) = filter_input(&filter)?;
            let format = match format {
                ExportArg::Csv => ExportFormat::Csv,
                ExportArg::Json => ExportFormat::Json,
            };
            let core = core_for(&db).await?;
            let mut stream =
                audit_service::export(&core, &system, None, chain_of(tenant), input, format)
                    .await?;
            let mut sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            while let Some(chunk) = stream.next().await {
                sink.write_all(&chunk?)?;
            }
            sink.flush()?;
            if let Some(path) = output {
                eprintln!("Exported to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            tenant,
            operator,
            db,
        } => {
            let only = match (tenant.as_deref().map(parse_tenant).transpose()?, operator) {
                (Some(t), _) => Some(AuditChain::Tenant(t)),
                (None, true) => Some(AuditChain::Operator),
                (None, false) => None,
            };
            let core = core_for(&db).await?;
            let reports = audit_service::verify(&core, only, |chain, n| {
                if n % 100_000 == 0 {
                    eprintln!("  {chain}: {n} records checked…");
                }
            })
            .await?;
            let mut bad = 0;
            for r in &reports {
                match &r.fault {
                    None => println!(
                        "ok    {}: {} records, {} signed checkpoints",
                        r.chain, r.records, r.checkpoints
                    ),
                    Some(f) => {
                        bad += 1;
                        println!("FAIL  {}: {f}", r.chain);
                    }
                }
            }
            if reports.is_empty() {
                println!("No audit records yet.");
            }
            if bad > 0 {
                eprintln!("{bad} chain(s) failed verification.");
                Ok(ExitCode::from(1))
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        AuditCommand::Checkpoint { db } => {
            let core = core_for(&db).await?;
            let n = audit_service::checkpoint_all(&core).await?;
            println!("Signed {n} checkpoint(s).");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import_topology(file: &std::path::Path, dry_run: bool, db: &DbArgs) -> CliResult {
    use candor_app::topology::{import_file, ImportFailure};
    let started = std::time::Instant::now();
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    eprintln!("Reading {} ({} bytes)…", file.display(), text.len());
    let core = core_for(db).await?;
    let name = file.display().to_string();
    let result = import_file(&core, &Actor::System, None, &name, &text, dry_run, |p| {
        eprintln!("  {p}")
    })
    .await;
    match result {
        Ok(counts) if dry_run => {
            println!("The file is valid: {counts}. Nothing was written (--dry-run).");
            Ok(ExitCode::SUCCESS)
        }
        Ok(counts) => {
            println!(
                "Imported {counts} in {:.1} s.",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportFailure::Problems(problems)) => {
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            let more = if problems.len() >= candor_app::topology_file::MAX_REPORTED {
                " (showing the first ones)"
            } else {
                ""
            };
            Err(CliError::Usage(format!(
                "{} problem(s){more}; nothing was imported",
                problems.len()
            )))
        }
        Err(ImportFailure::Refused(e)) => Err(e.into()),
    }
}

async fn demo_workload(args: DemoWorkloadArgs) -> CliResult {
    let listen = config::parse_listen(&args.listen)?;
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(CliError::Usage(format!(
            "--url `{}` must start with http:// or https://",
            args.url
        )));
    }
    let (client_id, client_secret) = match (args.client_id, args.client_secret) {
        (Some(id), Some(secret)) => (id, secret),
        (Some(_), None) => {
            return Err(CliError::Usage(
                "give the client's secret in CANDOR_CLIENT_SECRET (or --client-secret)".into(),
            ))
        }
        (None, _) => {
            let path = crate::demo::credentials_path(&args.data_dir);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::Usage(format!(
                    "no --client-id given and the demo credentials at {} cannot be read ({e}); run `candor serve --demo` first or pass the credentials",
                    path.display()
                ))
            })?;
            let creds: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("{} is not valid JSON: {e}", path.display()))
            })?;
            let client = &creds["dataPlaneClient"];
            match (client["clientId"].as_str(), client["clientSecret"].as_str()) {
                (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
                _ => {
                    return Err(CliError::Usage(format!(
                        "{} has no dataPlaneClient; pass --client-id and CANDOR_CLIENT_SECRET",
                        path.display()
                    )))
                }
            }
        }
    };
    crate::demo_workload::run(
        listen,
        crate::demo_workload::WorkloadSettings {
            candor_url: args.url,
            client_id,
            client_secret,
        },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

fn positive(key: &str, n: u32) -> Result<u32, CliError> {
    if n == 0 {
        return Err(CliError::Usage(format!("{key} must be at least 1")));
    }
    Ok(n)
}

async fn serve(args: ServeArgs) -> CliResult {
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
    let lease_seconds = args
        .lease_seconds
        .or(file.lease_seconds)
        .unwrap_or(server::DEFAULT_LEASE_SECONDS);
    if !(15..=86400).contains(&lease_seconds) {
        return Err(CliError::Usage(
            "lease-seconds must be between 15 and 86400".into(),
        ));
    }
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
    let settings = ServeSettings {
        status_site_bucket,
        allow_private_webhooks: args.allow_private_webhooks
            || file.allow_private_webhooks.unwrap_or(false),
        delivery_attempts: delivery_attempts as i32,
        lease: time::Duration::seconds(i64::from(lease_seconds)),
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
