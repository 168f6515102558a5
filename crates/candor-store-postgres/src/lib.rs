//! Candor's PostgreSQL store: what several Candor instances share behind a load
//! balancer. Chain heads are locked row by row (`FOR UPDATE`) so appends from different
//! instances stay linear, and jobs are claimed with `FOR UPDATE SKIP LOCKED` so
//! instances share the work without waiting on each other.

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

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use candor_domain::store::{Announcement, Announcements, Heard, Store, StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use std::str::FromStr;

pub struct PostgresStore {
    pool: PgPool,
    appends: candor_store_common::GroupCommitter,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the database.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(StdDuration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to PostgreSQL: {e}")))?;
        candor_store_common::migrations::migrator(
            candor_store_common::migrations::Dialect::Postgres,
        )
        .await
        .map_err(StoreError::Database)?
        .run(&pool)
        .await
        .map_err(|e| StoreError::Database(format!("migrating the PostgreSQL database: {e}")))?;
        let writer = pool.clone();
        let appends = candor_store_common::GroupCommitter::spawn(move |group| {
            let pool = writer.clone();
            async move {
                let mut tx = pool.begin().await.map_err(db_error)?;
                let committed = audit::append_group_in_tx(&mut tx, group).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(committed)
            }
        });
        Ok(Self { pool, appends })
    }

    /// The pool, for tests that tamper with rows on purpose.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// Several instances write to one PostgreSQL.
    fn sees_every_write(&self) -> bool {
        false
    }

    async fn announce(&self, what: Announcement) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ANNOUNCEMENTS_CHANNEL)
            .bind(what.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<Box<dyn Announcements>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(db_error)?;
        listener
            .listen(ANNOUNCEMENTS_CHANNEL)
            .await
            .map_err(db_error)?;
        Ok(Some(Box::new(PgAnnouncements(listener))))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn applied_migrations(&self) -> StoreResult<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
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

/// The `NOTIFY` channel instances announce changes on.
const ANNOUNCEMENTS_CHANNEL: &str = "candor_announcements";

struct PgAnnouncements(sqlx::postgres::PgListener);

#[async_trait]
impl Announcements for PgAnnouncements {
    async fn next(&mut self) -> StoreResult<Heard> {
        loop {
            // `None`: the connection was lost; the listener connects again on the next
            // call, and whatever was announced meanwhile is gone.
            match self.0.try_recv().await.map_err(db_error)? {
                None => return Ok(Heard::Gap),
                Some(n) => match Announcement::parse(n.payload()) {
                    Some(a) => return Ok(Heard::Changed(a)),
                    // From a newer version: this one has no view of it.
                    None => continue,
                },
            }
        }
    }
}

/// Maps a sqlx error into the domain's store error, turning uniqueness violations into
/// conflicts that name the constraint.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::unique(d.constraint()),
        _ => StoreError::Database(e.to_string()),
    }
}
