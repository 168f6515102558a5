//! The `candor` command line. Every command that reads the database takes the same
//! `--data-dir` / `--database-url` as `serve`. Invalid arguments or configuration give
//! one clear line and exit code 2; nothing is written before all input is validated.

mod api_client;
mod audit;
mod demo_workload;
mod keys;
pub mod lockbox;
mod maintenance;
mod migrate;
mod operator;
mod operator_client;
mod serve;
mod status_site;
mod tenant;
mod topology;
mod user;
mod verify;
mod witness;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use candor_app::error::AppError;
use candor_app::Core;
use candor_domain::clock::SystemClock;
use candor_domain::TenantId;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError, StoreChoice};

pub use api_client::ApiClientCommand;
pub use audit::{AuditCommand, AuditFilter, ExportArg};
pub use demo_workload::DemoWorkloadArgs;
pub use keys::KeysCommand;
pub use operator::OperatorCommand;
pub use operator_client::OperatorClientCommand;
pub use serve::ServeArgs;
pub use status_site::StatusSiteCommand;
pub use tenant::TenantCommand;
pub use topology::TopologyCommand;
pub use user::UserCommand;

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
    /// The name of this installation in every audit log's checkpoints (their origin line
    /// is `<log-origin>/audit/<tenant>`), a schema-less URL such as status.example.com.
    /// Set it once, the same on every instance: tenants' verifiers know logs by it.
    #[arg(long, env = "CANDOR_LOG_ORIGIN", default_value = candor_app::DEFAULT_LOG_ORIGIN)]
    pub log_origin: String,
    /// The audit signing key's file (signs checkpoints and Lockbox decisions; never kept
    /// in the database). Default: <data-dir>/signing.key, made on first start. In
    /// production keep it outside the data directory; every instance needs the same one.
    /// CANDOR_SIGNING_KEY may hold the file's text instead.
    #[arg(long, env = "CANDOR_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
}

impl DbArgs {
    fn choice(&self) -> Result<StoreChoice, ConfigError> {
        StoreChoice::from_args(&self.data_dir, self.database_url.as_deref())
    }

    /// Where the audit signing key is: `CANDOR_SIGNING_KEY`'s text, the key file given,
    /// or `signing.key` in `data_dir`.
    pub(crate) fn audit_key(&self, data_dir: &std::path::Path) -> candor_app::keys::AuditKeySource {
        use candor_app::keys::AuditKeySource;
        match std::env::var("CANDOR_SIGNING_KEY") {
            Ok(text) if !text.trim().is_empty() => AuditKeySource::Text(text),
            _ => AuditKeySource::File(
                self.signing_key_file
                    .clone()
                    .unwrap_or_else(|| data_dir.join("signing.key")),
            ),
        }
    }

    /// The log origin, checked.
    pub(crate) fn log_origin(&self) -> Result<String, ConfigError> {
        config::log_origin(&self.log_origin)
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
    Lockbox(lockbox::LockboxCommand),
    /// Planned maintenance: list it (schedule and change it with the operator API).
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
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
    /// Check your tenant's audit log from what Candor published and the verifier key you
    /// hold: the latest checkpoint's signature, that the log only grew since the
    /// checkpoint you saw last, and that exported records are in it.
    Verify(verify::VerifyArgs),
    /// Witness an audit log: check each new checkpoint against everything seen before
    /// and co-sign it (C2SP tlog-cosignature), so tenants can require that an
    /// independent party saw the same history. `candor witness init` makes the key.
    Witness(witness::WitnessArgs),
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
            AppError::Unauthenticated(_)
            | AppError::Forbidden(_)
            | AppError::Unavailable(_)
            | AppError::TooMany { .. } => CliError::Failed(e.to_string()),
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

pub(crate) type CliResult = Result<ExitCode, CliError>;

pub(crate) async fn core_for(db: &DbArgs) -> Result<Core, CliError> {
    let choice = db.choice()?;
    let log_origin = db.log_origin()?;
    let store = config::open_store(&choice).await?;
    let mut core =
        Core::with_audit_key(store, Arc::new(SystemClock), &db.audit_key(&db.data_dir)).await?;
    core.log_origin = log_origin;
    Ok(core)
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

/// Runs one command; each group of commands is its own module with its own `run`.
pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(db) => migrate::run(db).await,
        Command::Tenant(cmd) => tenant::run(cmd).await,
        Command::User(cmd) => user::run(cmd).await,
        Command::Operator(cmd) => operator::run(cmd).await,
        Command::ApiClient(cmd) => api_client::run(cmd).await,
        Command::OperatorClient(cmd) => operator_client::run(cmd).await,
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Audit(cmd) => audit::audit(cmd).await,
        Command::Lockbox(cmd) => lockbox::run(cmd).await,
        Command::Maintenance(cmd) => maintenance::run(cmd).await,
        Command::DemoWorkload(args) => demo_workload::demo_workload(args).await,
        Command::StatusSite(cmd) => status_site::run(cmd).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Witness(args) => witness::run(args).await,
        Command::Topology(TopologyCommand::Import { file, dry_run, db }) => {
            topology::import_topology(&file, dry_run, &db).await
        }
    }
}
