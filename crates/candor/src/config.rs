//! Where configuration comes from: flags, then `CANDOR_*` environment variables (both via
//! clap), then an optional TOML file, then defaults. Bad values are refused with one
//! clear line before anything is written.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candor_domain::store::Store;
use candor_store_postgres::PostgresStore;
use candor_store_sqlite::{PageCache, SqliteStore};
use serde::Deserialize;

/// The configuration file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub secure_cookies: Option<bool>,
    pub trust_forwarded_for: Option<bool>,
    pub log_format: Option<String>,
    pub no_jobs: Option<bool>,
    pub graph_requests_per_minute: Option<u32>,
    pub graph_requests_per_hour: Option<u32>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub status_site_dir: Option<PathBuf>,
    pub status_site_bucket: Option<String>,
    pub allow_private_webhooks: Option<bool>,
    pub delivery_attempts: Option<u32>,
    pub subscribe_unconfirmed_per_ip: Option<u32>,
    pub fanout_part_tenants: Option<u32>,
    pub subscribe_emails_per_address: Option<u32>,
    pub lease_seconds: Option<u32>,
    pub checkpoint_interval: Option<u32>,
    pub email_deadline_seconds: Option<u32>,
    pub webhook_deadline_seconds: Option<u32>,
    pub sqlite_cache_mib: Option<u32>,
    pub duty_incident_managers: Option<Vec<String>>,
    pub overdue_reminder_minutes: Option<u32>,
    pub operator_webhook_url: Option<String>,
    pub operator_webhook_secret: Option<String>,
    pub log_origin: Option<String>,
    pub signing_key_file: Option<PathBuf>,
}

/// A log origin as given, checked: a schema-less URL with no spaces or `+`.
pub fn log_origin(given: &str) -> Result<String, ConfigError> {
    let origin = given.trim().trim_end_matches('/');
    if candor_domain::audit::note::instance_is_valid(origin) {
        Ok(origin.to_owned())
    } else {
        Err(ConfigError(format!(
            "--log-origin: `{}` cannot name audit logs; give a schema-less URL without spaces or `+`, such as status.example.com",
            given.chars().take(80).collect::<String>()
        )))
    }
}

/// A configuration problem: reported in one line, exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        ConfigError(format!(
            "config file {}: {}",
            path.display(),
            e.to_string().lines().collect::<Vec<_>>().join(" ")
        ))
    })
}

pub fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        ConfigError(format!(
            "--listen `{s}` is not an address such as 127.0.0.1:8080 or [::]:8080"
        ))
    })
}

/// Which database to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The embedded default: `<data-dir>/candor.db`.
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreChoice {
    pub fn from_args(
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> Result<StoreChoice, ConfigError> {
        match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(StoreChoice::Sqlite(data_dir.join("candor.db"))),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(StoreChoice::Postgres(u.to_owned()))
            }
            Some(u) if u.starts_with("sqlite:") => {
                let path = u.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                if path.is_empty() {
                    return Err(ConfigError("--database-url sqlite: needs a file path, e.g. sqlite:///var/lib/candor/candor.db".into()));
                }
                Ok(StoreChoice::Sqlite(PathBuf::from(path)))
            }
            Some(u) => Err(ConfigError(format!(
                "--database-url `{}` is not supported; use postgres://user@host:5432/db (or leave it out for the embedded SQLite database)",
                redact_url(u)
            ))),
        }
    }

    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Sqlite(p) => format!("SQLite at {}", p.display()),
            StoreChoice::Postgres(u) => format!("PostgreSQL at {}", redact_url(u)),
        }
    }
}

/// Replaces a URL's password with `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens (and migrates) the chosen store, creating the SQLite directory if needed.
pub async fn open_store(choice: &StoreChoice) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(choice, PageCache::default()).await
}

/// `open_store`, with SQLite's page caches of the given size (PostgreSQL has its own).
pub async fn open_store_with(
    choice: &StoreChoice,
    cache: PageCache,
) -> anyhow::Result<Arc<dyn Store>> {
    match choice {
        StoreChoice::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create data directory {}: {e}", dir.display())
                })?;
            }
            Ok(Arc::new(SqliteStore::open_with_cache(path, cache).await?))
        }
        StoreChoice::Postgres(url) => {
            Ok(Arc::new(PostgresStore::connect(url).await.map_err(
                |e| anyhow::anyhow!("{} ({})", e, redact_url(url)),
            )?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://candor:s3cret@db:5432/candor"),
            "postgres://candor:***@db:5432/candor"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }

    #[test]
    fn store_choice_follows_the_url_scheme() {
        let dir = Path::new("./candor-data");
        assert_eq!(
            StoreChoice::from_args(dir, None).unwrap(),
            StoreChoice::Sqlite(dir.join("candor.db"))
        );
        assert!(matches!(
            StoreChoice::from_args(dir, Some("postgres://x@y/z")),
            Ok(StoreChoice::Postgres(_))
        ));
        assert_eq!(
            StoreChoice::from_args(dir, Some("sqlite:///tmp/c.db")).unwrap(),
            StoreChoice::Sqlite(PathBuf::from("/tmp/c.db"))
        );
        let err = StoreChoice::from_args(dir, Some("mysql://u:pw@h/d")).unwrap_err();
        assert!(
            err.0.contains("not supported") && !err.0.contains("pw"),
            "{}",
            err.0
        );
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("candor.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9000\"\nlisten_port = 3\n").unwrap();
        let err = read_file(&p).unwrap_err();
        assert!(err.0.contains("listen_port"), "{}", err.0);
    }
}
