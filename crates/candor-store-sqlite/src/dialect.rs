//! How SQLite differs, for the statements written once for both databases
//! (`candor-store-common/shared/`): each name here has a PostgreSQL twin in
//! `candor-store-postgres/src/dialect.rs` with the same signature shape.

use std::collections::BTreeMap;

use candor_domain::audit::ChainTip;
use candor_domain::store::StoreResult;
use candor_domain::time_util::{from_unix_micros, to_unix_micros};
use candor_store_common::{tip_of, HeadRow};
use sqlx::QueryBuilder;
use sqlx::Row;
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

/// Rows per multi-row insert of up to three columns (the figure the SQLite store used
/// before the statements were shared; not re-tuned).
pub(crate) const ROWS_PER_INSERT: usize = 300;

/// Rows per delivery insert: 12 parameters each, inside SQLite's limit of 32,766.
pub(crate) const DELIVERY_ROWS_PER_INSERT: usize = 2000;

/// The ids of the next due deliveries of one channel (`$3` now, `$4` the channel, `$5`
/// how many). Each branch takes at most `$5` in index order before the two are merged:
/// an `ORDER BY` over the whole `UNION ALL` sorted every due delivery in a temporary
/// b-tree on every claim, which made draining a queue of N deliveries cost N² / batch.
/// Deliveries being sent are few (a worker's window), so sorting those is cheap. The
/// one writer makes a claim race-free.
pub(crate) const DUE_DELIVERIES: &str = "SELECT id FROM (
         SELECT * FROM (
             SELECT id, run_at AS due FROM deliveries
             WHERE channel = $4 AND status = 'pending' AND run_at <= $3
             ORDER BY run_at LIMIT $5)
         UNION ALL
         SELECT * FROM (
             SELECT id, lease_until AS due FROM deliveries
             WHERE channel = $4 AND status = 'sending' AND lease_until < $3
             ORDER BY lease_until LIMIT $5))
     ORDER BY due LIMIT $5";

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

/// A column as its Rust type.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r DbRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(crate::db_error)
}

/// A time column (INTEGER microseconds here).
pub(crate) fn time(row: &DbRow, col: &str) -> StoreResult<OffsetDateTime> {
    Ok(from_unix_micros(get::<i64>(row, col)?))
}

pub(crate) fn opt_time(row: &DbRow, col: &str) -> StoreResult<Option<OffsetDateTime>> {
    Ok(get::<Option<i64>>(row, col)?.map(from_unix_micros))
}

/// An id column (TEXT here), made into its type by `make` (e.g. `TenantId`).
pub(crate) fn id<T>(row: &DbRow, col: &str, make: fn(Uuid) -> T) -> StoreResult<T> {
    let s: String = get(row, col)?;
    Uuid::parse_str(&s)
        .map(make)
        .map_err(|e| crate::rows::corrupt(col, e))
}

pub(crate) fn opt_id<T>(row: &DbRow, col: &str, make: fn(Uuid) -> T) -> StoreResult<Option<T>> {
    let s: Option<String> = get(row, col)?;
    s.map(|s| {
        Uuid::parse_str(&s)
            .map(make)
            .map_err(|e| crate::rows::corrupt(col, e))
    })
    .transpose()
}

/// Chain heads read (and written) per statement: five variables each for the upsert.
const HEADS_PER_STATEMENT: usize = 300;

/// Rows per audit record insert: 14 columns each.
pub(crate) const AUDIT_ROWS_PER_INSERT: usize = 500;

/// A chunk of sealed audit records encoded for its insert (at most
/// `AUDIT_ROWS_PER_INSERT`). Encoding owns its values, so the next chunk is encoded while
/// the one before it is inserted: the writer's thread does not wait for it.
pub(crate) struct AuditInsert {
    rows: usize,
    args: sqlx::sqlite::SqliteArguments<'static>,
}

/// Encodes `records` for `insert_audit_records`: fourteen values a row, in
/// `AUDIT_RECORD_COLS` order.
pub(crate) fn encode_audit_records(
    records: &[candor_domain::audit::AuditRecord],
) -> StoreResult<AuditInsert> {
    use sqlx::Arguments;
    let mut args = sqlx::sqlite::SqliteArguments::default();
    args.reserve(records.len() * 14, 0);
    let encoding =
        |e| candor_domain::store::StoreError::Database(format!("encoding an audit record: {e}"));
    for r in records {
        args.add(r.chain.clone()).map_err(encoding)?;
        args.add(r.seq).map_err(encoding)?;
        args.add(key(r.id.0)).map_err(encoding)?;
        args.add(r.tenant_id.map(|t| key(t.0))).map_err(encoding)?;
        args.add(at(r.occurred_at)).map_err(encoding)?;
        args.add(r.actor.clone()).map_err(encoding)?;
        args.add(r.actor_kind.as_str()).map_err(encoding)?;
        args.add(r.ip_address.clone()).map_err(encoding)?;
        args.add(r.activity.clone()).map_err(encoding)?;
        args.add(r.item.clone()).map_err(encoding)?;
        args.add(r.details.clone()).map_err(encoding)?;
        args.add(r.prev_hash.to_vec()).map_err(encoding)?;
        args.add(r.hash.to_vec()).map_err(encoding)?;
        args.add(candor_store_common::packed(&r.tree_hashes))
            .map_err(encoding)?;
    }
    Ok(AuditInsert {
        rows: records.len(),
        args,
    })
}

/// The insert of a full chunk (every chunk of a group but its last), built once: its
/// 500 rows of placeholders are 22 KB of text.
static FULL_AUDIT_INSERT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| audit_insert_sql(AUDIT_ROWS_PER_INSERT));

fn audit_insert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; 14].join(", "));
    format!(
        "INSERT INTO audit_records ({}) VALUES {}",
        candor_store_common::AUDIT_RECORD_COLS,
        vec![row; rows].join(", ")
    )
}

/// Inserts an encoded chunk: one multi-row `VALUES` statement (the same text for every
/// full chunk, so it is prepared once per connection).
pub(crate) async fn insert_audit_records(
    conn: &mut DbConnection,
    insert: AuditInsert,
) -> StoreResult<()> {
    if insert.rows == 0 {
        return Ok(());
    }
    let short;
    let sql: &str = if insert.rows == AUDIT_ROWS_PER_INSERT {
        &FULL_AUDIT_INSERT
    } else {
        short = audit_insert_sql(insert.rows);
        &short
    };
    sqlx::query_with(sql, insert.args)
        .execute(&mut *conn)
        .await
        .map_err(crate::db_error)?;
    Ok(())
}

/// Reads the tips of `chains` into `tips` (chains without one keep the genesis tip).
/// The one writer connection already serializes appends; a few hundred chains per
/// statement, so a group commit touching a hundred tenants is not a hundred round trips.
pub(crate) async fn lock_chain_heads(
    conn: &mut DbConnection,
    chains: &[String],
    tips: &mut BTreeMap<String, ChainTip>,
) -> StoreResult<()> {
    for group in chains.chunks(HEADS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT chain, seq, hash, tree_size, frontier FROM audit_chain_heads WHERE chain IN (",
        );
        let mut sep = qb.separated(", ");
        for c in group {
            sep.push_bind(c);
        }
        qb.push(")");
        let rows: Vec<HeadRow> = qb
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(crate::db_error)?;
        for row in rows {
            let (chain, tip) = tip_of(row)?;
            tips.insert(chain, tip);
        }
    }
    Ok(())
}

/// Writes the tips after an append, in the same transaction.
pub(crate) async fn write_chain_heads(
    conn: &mut DbConnection,
    tips: &[(&str, &ChainTip)],
) -> StoreResult<()> {
    for group in tips.chunks(HEADS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO audit_chain_heads (chain, seq, hash, tree_size, frontier) ",
        );
        qb.push_values(group, |mut b, (chain, tip)| {
            b.push_bind(chain)
                .push_bind(tip.head.seq)
                .push_bind(tip.head.hash.as_slice())
                .push_bind(tip.tree.size() as i64)
                .push_bind(tip.tree.roots_bytes());
        });
        qb.push(
            " ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                 tree_size = excluded.tree_size, frontier = excluded.frontier",
        );
        qb.build()
            .execute(&mut *conn)
            .await
            .map_err(crate::db_error)?;
    }
    Ok(())
}

/// A list bound as one parameter, for `each`: a JSON array of text here.
pub(crate) fn list<K: ToString>(keys: &[K]) -> String {
    let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
    serde_json::to_string(&texts).unwrap_or_else(|_| "[]".into())
}

/// The rows of the list bound as parameter `$n`, one column `value` (SQLite has no
/// arrays: `json_each` over the JSON text of `list`).
pub(crate) fn each(n: u8) -> String {
    format!("json_each(${n})")
}

/// ` IN (…)` over `values`, one bound parameter each.
pub(crate) fn push_any(qb: &mut QueryBuilder<'_, Db>, values: Vec<String>) {
    qb.push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v);
    }
    qb.push(")");
}

/// How a write transaction begins. Another process may write the same file (a CLI
/// command next to `candor serve`): a deferred transaction that read before writing
/// cannot take the write lock once that process has written since its read
/// (SQLITE_BUSY_SNAPSHOT, at once, whatever the busy timeout), and fails. `IMMEDIATE`
/// takes the lock at `BEGIN`, waiting out the other process's up to the busy timeout.
/// Within one process the one writer connection orders writes anyway, so it costs nothing.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

impl crate::SqliteStore {
    /// Writes go through the one writer connection (no SQLITE_BUSY lock upgrades).
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction on the writer connection, holding the file's write lock from
    /// its first statement (`BEGIN_WRITE`).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        self.writer.begin_with(BEGIN_WRITE).await
    }

    /// Reads go to the pool of readers, beside the writer (WAL).
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}
