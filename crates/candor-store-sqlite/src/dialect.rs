//! How SQLite differs, for the statements written once for both databases
//! (`candor-store-common/shared/`): each name here has a PostgreSQL twin in
//! `candor-store-postgres/src/dialect.rs` with the same signature shape.

use candor_domain::time_util::to_unix_micros;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use uuid::Uuid;

/// The database, for `QueryBuilder<Db>`.
pub(crate) type Db = sqlx::Sqlite;

/// A connection of this database (inside a transaction, say).
pub(crate) type DbConnection = sqlx::SqliteConnection;

/// A row of this database.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;

/// How a claim of the next due row locks it. SQLite has one writer: a claim cannot race another.
pub(crate) const CLAIM_LOCK: &str = "";

/// Rows per multi-row insert of up to three columns: SQLite allows 999 bound parameters a statement in older builds; three a row fit.
pub(crate) const ROWS_PER_INSERT: usize = 300;

/// The store the shared statements are compiled into.
pub(crate) type Store = crate::SqliteStore;

/// Ids are stored as TEXT.
pub(crate) fn key(id: Uuid) -> String {
    id.to_string()
}

/// Times are stored as INTEGER microseconds since the epoch (SQLite has no time type).
pub(crate) fn at(t: OffsetDateTime) -> i64 {
    to_unix_micros(t)
}

impl crate::SqliteStore {
    /// Writes go through the one writer connection (no SQLITE_BUSY lock upgrades).
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Reads go to the pool of readers, beside the writer (WAL).
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}
