//! Candor's embedded store: one SQLite file in WAL mode. Writes go through a single
//! connection (SQLite has one writer anyway, and this avoids lock-upgrade deadlocks);
//! reads use a separate pool so they never wait behind a write. Audit records that
//! accompany no other change are group-committed: concurrent appends share one
//! transaction and one fsync.

mod audit;
mod contacts;
mod deliveries;
mod dialect;
mod elevations;
mod feeds;
mod identity;
mod issues;
mod jobs;
mod keys;
mod lockbox;
mod maintenances;
mod messages;
mod operator_api;
mod rows;
mod subscribers;
mod topology;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use candor_domain::store::{Announcement, Announcements, Store, StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

/// How much of the database each connection keeps in memory. Each cache fills as the
/// database is read and written, up to its size, and stays that full: resident memory
/// grows by up to `writer + READERS × reader` as the database grows, then levels off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCache {
    /// The writer's cache, in MiB; each reader connection gets a quarter (1 MiB at least).
    pub writer_mib: u32,
}

/// Reader connections: reads run side by side with each other and with the writer.
pub const READERS: u32 = 8;

impl PageCache {
    /// The default: 64 MiB for the writer, 16 MiB per reader.
    pub const DEFAULT_MIB: u32 = 64;

    fn writer_kib(self) -> u64 {
        u64::from(self.writer_mib.max(1)) * 1024
    }

    fn reader_kib(self) -> u64 {
        u64::from((self.writer_mib / 4).max(1)) * 1024
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache {
            writer_mib: Self::DEFAULT_MIB,
        }
    }
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    appends: candor_store_common::GroupCommitter,
}

impl SqliteStore {
    /// Rows of `select` whose `column` is one of `keys`, queried 500 keys at a time (well
    /// inside SQLite's limit on bound parameters); `and` adds further conditions.
    pub(crate) async fn rows_where_in<K: ToString>(
        &self,
        select: &str,
        column: &str,
        keys: &[K],
        and: &str,
    ) -> StoreResult<Vec<sqlx::sqlite::SqliteRow>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(500) {
            let mut q: sqlx::QueryBuilder<sqlx::Sqlite> =
                sqlx::QueryBuilder::new(format!("{select} WHERE {column} IN ("));
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(key.to_string());
            }
            q.push(")");
            q.push(and);
            rows.extend(q.build().fetch_all(&self.reader).await.map_err(db_error)?);
        }
        Ok(rows)
    }

    /// Opens (creating if missing) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_cache(path, PageCache::default()).await
    }

    /// `open`, with page caches of the given size.
    pub async fn open_with_cache(path: &Path, cache: PageCache) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(options, cache).await
    }

    /// Opens from a `sqlite:` URL (e.g. `sqlite:///var/lib/candor/candor.db`).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid SQLite URL: {e}")))?;
        Self::open_with(options, PageCache::default()).await
    }

    async fn open_with(options: SqliteConnectOptions, cache: PageCache) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when it returns. Group commit pays for it.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(StdDuration::from_secs(10))
            // Rows a connection's thread may run ahead of its reader: large reads (a
            // fan-out's contacts) are not handed over one small batch at a time.
            .row_buffer_size(1024);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(StdDuration::from_secs(30))
            // The writer updates the delivery queue's indexes, whose keys are random: a
            // large page cache keeps them in memory through a large fan-out.
            // Statement journals of large multi-row inserts stay in memory, not in a
            // temporary file.
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{}", cache.writer_kib()))
                    .pragma("temp_store", "memory"),
            )
            .await
            .map_err(db_error)?;
        candor_store_common::migrations::migrator(candor_store_common::migrations::Dialect::Sqlite)
            .await
            .map_err(StoreError::Database)?
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the SQLite database: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(StdDuration::from_secs(30))
            .connect_with(
                options
                    .read_only(true)
                    .pragma("cache_size", format!("-{}", cache.reader_kib())),
            )
            .await
            .map_err(db_error)?;
        let pool = writer.clone();
        let appends = candor_store_common::GroupCommitter::spawn(move |group| {
            let pool = pool.clone();
            async move {
                let mut tx = pool
                    .begin_with(dialect::BEGIN_WRITE)
                    .await
                    .map_err(db_error)?;
                let committed = audit::append_group_in_tx(&mut tx, group).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(committed)
            }
        });
        Ok(Self {
            writer,
            reader,
            appends,
        })
    }

    /// Writes a consistent copy of the database to `target` (`VACUUM INTO`).
    pub async fn backup_to(&self, target: &Path) -> StoreResult<()> {
        let target = target
            .to_str()
            .ok_or_else(|| StoreError::Database("backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The writer pool, for tests that tamper with rows on purpose.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// One serving process: `serve` holds a file lock beside the database, so a second
    /// instance on it is refused.
    fn sees_every_write(&self) -> bool {
        true
    }

    async fn announce(&self, _what: Announcement) -> StoreResult<()> {
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<Box<dyn Announcements>>> {
        Ok(None)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn applied_migrations(&self) -> StoreResult<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db_error)?,
                    r.try_get(1).map_err(db_error)?,
                ))
            })
            .collect()
    }
}

/// Maps a sqlx error into the domain's store error, turning uniqueness violations into
/// conflicts that name the constraint (as PostgreSQL names it: `unique_constraint`).
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::unique(unique_constraint(d.message()).as_deref())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// SQLite names no constraint, only its columns (`UNIQUE constraint failed: tenants.name`):
/// this names it as PostgreSQL does (`tenants_name`; `t.a, t.b` gives `t_a_b`), so both
/// stores report the same rule.
fn unique_constraint(message: &str) -> Option<String> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = None;
    let mut name = String::new();
    for column in columns.split(", ") {
        let (t, c) = column.split_once('.')?;
        if table.is_none() {
            table = Some(t);
            name.push_str(t);
        }
        name.push('_');
        name.push_str(c);
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_constraints_are_named_as_postgresql_names_them() {
        assert_eq!(
            unique_constraint("UNIQUE constraint failed: tenants.name").as_deref(),
            Some("tenants_name")
        );
        assert_eq!(
            unique_constraint("UNIQUE constraint failed: contacts.tenant_id, contacts.email")
                .as_deref(),
            Some("contacts_tenant_id_email")
        );
        assert_eq!(unique_constraint("NOT NULL constraint failed: x.y"), None);
    }

    /// A pool's page cache as SQLite reports it, in KiB (set negative: in KiB).
    async fn cache_kib(pool: &SqlitePool) -> i64 {
        let size: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(pool)
            .await
            .unwrap();
        -size
    }

    async fn caches_of(cache: Option<PageCache>) -> (i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("candor.db");
        let store = match cache {
            Some(c) => SqliteStore::open_with_cache(&path, c).await.unwrap(),
            None => SqliteStore::open(&path).await.unwrap(),
        };
        (
            cache_kib(&store.writer).await,
            cache_kib(&store.reader).await,
        )
    }

    #[tokio::test]
    async fn page_caches_are_sized_as_configured() {
        assert_eq!(caches_of(None).await, (64 * 1024, 16 * 1024));
        let eight = PageCache { writer_mib: 8 };
        assert_eq!(caches_of(Some(eight)).await, (8 * 1024, 2 * 1024));
        // A reader's quarter never rounds down to nothing.
        let one = PageCache { writer_mib: 1 };
        assert_eq!(caches_of(Some(one)).await, (1024, 1024));
    }
}
