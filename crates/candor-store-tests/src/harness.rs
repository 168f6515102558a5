//! Fresh stores for tests: a SQLite file in a temp directory, or a brand-new PostgreSQL
//! database on the local server (dropped again when the test ends, even on panic).

use std::sync::Arc;

use candor_domain::store::Store;
use candor_store_postgres::PostgresStore;
use candor_store_sqlite::SqliteStore;
use sqlx::Connection;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the PostgreSQL tests use: `CANDOR_TEST_POSTGRES_URL` or the local default.
pub fn postgres_admin_url() -> String {
    std::env::var("CANDOR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct SqliteTestDb {
    pub store: Arc<SqliteStore>,
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub async fn sqlite_store() -> SqliteTestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("candor.db");
    let store = SqliteStore::open(&path).await.expect("open SQLite store");
    SqliteTestDb {
        store: Arc::new(store),
        path,
        _dir: dir,
    }
}

/// A database created for one test on the local PostgreSQL server.
pub struct PostgresTestDb {
    pub store: Arc<PostgresStore>,
    pub url: String,
    name: String,
    admin_url: String,
}

impl PostgresTestDb {
    /// Creates an empty database (no migrations) and returns its URL, or `None` (with one
    /// line on stderr) when no server is reachable outside CI. Under `CI=true` an
    /// unreachable server fails the test instead of skipping it.
    pub async fn create_empty() -> Option<(String, String, String)> {
        let admin_url = postgres_admin_url();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                if in_ci() {
                    panic!(
                        "PostgreSQL at {admin_url} is required under CI=true but unreachable: {e}"
                    );
                }
                eprintln!("skipping PostgreSQL test: no server at {admin_url} ({e}); set CANDOR_TEST_POSTGRES_URL");
                return None;
            }
        };
        let name = format!("candor_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("CANDOR_TEST_POSTGRES_URL must end in /database"),
        };
        Some((url, name, admin_url))
    }

    pub async fn create() -> Option<PostgresTestDb> {
        let (url, name, admin_url) = Self::create_empty().await?;
        let store = PostgresStore::connect(&url)
            .await
            .expect("connect test database");
        Some(PostgresTestDb {
            store: Arc::new(store),
            url,
            name,
            admin_url,
        })
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Drops a test database, closing whatever connections are still open to it.
pub fn drop_database(admin_url: &str, name: &str) {
    let admin_url = admin_url.to_owned();
    let name = name.to_owned();
    // Runs on its own thread and runtime: Drop may be called inside (or outside) one.
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        });
    })
    .join();
}

impl Drop for PostgresTestDb {
    fn drop(&mut self) {
        drop_database(&self.admin_url, &self.name);
    }
}
