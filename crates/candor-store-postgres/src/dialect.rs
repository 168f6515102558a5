//! How PostgreSQL differs, for the statements written once for both databases
//! (`candor-store-common/shared/`): each name here has a SQLite twin in
//! `candor-store-sqlite/src/dialect.rs` with the same signature shape.

use std::collections::BTreeMap;

use candor_domain::audit::{ChainHead, ChainTip};
use candor_domain::store::StoreResult;
use candor_domain::{ApiClientId, OperatorId, TenantId, UserId};
use candor_store_common::{tip_of, HeadRow};
use sqlx::postgres::{PgHasArrayType, PgRow};
use sqlx::QueryBuilder;
use sqlx::Row;
use sqlx::{PgPool, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

/// The database, for `QueryBuilder<Db>`.
pub(crate) type Db = sqlx::Postgres;

/// A connection of this database (inside a transaction, say).
pub(crate) type DbConnection = sqlx::PgConnection;

/// A row of this database.
pub(crate) type DbRow = sqlx::postgres::PgRow;

/// How a claim of the next due row locks it. Several instances claim at once: each skips rows another has locked.
pub(crate) const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// Rows per multi-row insert of up to three columns (the figure the PostgreSQL store
/// used before the statements were shared; not re-tuned).
pub(crate) const ROWS_PER_INSERT: usize = 1000;

/// Rows per delivery insert: 12 parameters each, well inside PostgreSQL's 65,535.
pub(crate) const DELIVERY_ROWS_PER_INSERT: usize = 1000;

/// The ids of the next due deliveries of one channel (`$3` now, `$4` the channel, `$5`
/// how many). Several instances claim at once: each skips the rows another has locked.
/// Each branch takes at most `$5` in index order before the two are merged: one
/// `WHERE … OR …` sorted every due delivery on every claim (141 ms for 200,000 due
/// against 0.5 ms), which made draining a queue of N deliveries cost N² / batch.
pub(crate) const DUE_DELIVERIES: &str = "WITH pending AS (
         SELECT id, run_at AS due FROM deliveries
         WHERE channel = $4 AND status = 'pending' AND run_at <= $3
         ORDER BY run_at LIMIT $5
         FOR UPDATE SKIP LOCKED),
     lapsed AS (
         SELECT id, lease_until AS due FROM deliveries
         WHERE channel = $4 AND status = 'sending' AND lease_until < $3
         ORDER BY lease_until LIMIT $5
         FOR UPDATE SKIP LOCKED)
     SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM lapsed) AS claimable
     ORDER BY due LIMIT $5";

/// The store the shared statements are compiled into.
pub(crate) type Store = crate::PostgresStore;

/// Ids are stored as UUID.
pub(crate) fn key(id: Uuid) -> Uuid {
    id
}

/// Times are stored as TIMESTAMPTZ.
pub(crate) fn at(t: OffsetDateTime) -> OffsetDateTime {
    t
}

/// A column as its Rust type.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r DbRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(crate::db_error)
}

/// A time column (TIMESTAMPTZ here).
pub(crate) fn time(row: &DbRow, col: &str) -> StoreResult<OffsetDateTime> {
    get(row, col)
}

pub(crate) fn opt_time(row: &DbRow, col: &str) -> StoreResult<Option<OffsetDateTime>> {
    get(row, col)
}

/// An id column (UUID here), made into its type by `make` (e.g. `TenantId`).
pub(crate) fn id<T>(row: &DbRow, col: &str, make: fn(Uuid) -> T) -> StoreResult<T> {
    get::<Uuid>(row, col).map(make)
}

pub(crate) fn opt_id<T>(row: &DbRow, col: &str, make: fn(Uuid) -> T) -> StoreResult<Option<T>> {
    Ok(get::<Option<Uuid>>(row, col)?.map(make))
}

/// Audit records per insert statement; the append seals the next this many while one
/// such statement runs.
pub(crate) const AUDIT_ROWS_PER_INSERT: usize = 1000;

/// A chunk of sealed audit records encoded for its insert: the fourteen column arrays,
/// already in PostgreSQL's wire format, so the next chunk is encoded while the one before
/// it is inserted.
pub(crate) struct AuditInsert {
    rows: usize,
    args: sqlx::postgres::PgArguments,
}

/// Encodes `records` for `insert_audit_records`: one array per column, in
/// `AUDIT_RECORD_COLS` order.
pub(crate) fn encode_audit_records(
    records: &[candor_domain::audit::AuditRecord],
) -> StoreResult<AuditInsert> {
    use sqlx::Arguments;
    let n = records.len();
    let mut chain = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut tenant = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    let mut actor = Vec::with_capacity(n);
    let mut actor_kind = Vec::with_capacity(n);
    let mut ip = Vec::with_capacity(n);
    let mut activity = Vec::with_capacity(n);
    let mut item = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    let mut prev_hash = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    let mut tree = Vec::with_capacity(n);
    for r in records {
        chain.push(r.chain.as_str());
        seq.push(r.seq);
        id.push(r.id.0);
        tenant.push(r.tenant_id.map(|t| t.0));
        occurred.push(r.occurred_at);
        actor.push(r.actor.as_str());
        actor_kind.push(r.actor_kind.as_str());
        ip.push(r.ip_address.as_deref());
        activity.push(r.activity.as_str());
        item.push(r.item.as_deref());
        details.push(r.details.as_str());
        prev_hash.push(r.prev_hash.as_slice());
        hash.push(r.hash.as_slice());
        tree.push(candor_store_common::packed(&r.tree_hashes));
    }
    let encoding =
        |e| candor_domain::store::StoreError::Database(format!("encoding audit records: {e}"));
    let mut args = sqlx::postgres::PgArguments::default();
    args.add(&chain).map_err(encoding)?;
    args.add(&seq).map_err(encoding)?;
    args.add(&id).map_err(encoding)?;
    args.add(&tenant).map_err(encoding)?;
    args.add(&occurred).map_err(encoding)?;
    args.add(&actor).map_err(encoding)?;
    args.add(&actor_kind).map_err(encoding)?;
    args.add(&ip).map_err(encoding)?;
    args.add(&activity).map_err(encoding)?;
    args.add(&item).map_err(encoding)?;
    args.add(&details).map_err(encoding)?;
    args.add(&prev_hash).map_err(encoding)?;
    args.add(&hash).map_err(encoding)?;
    args.add(&tree).map_err(encoding)?;
    Ok(AuditInsert { rows: n, args })
}

/// The audit insert's text, the same for every chunk, built once.
static AUDIT_INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO audit_records ({})
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::uuid[],
             $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::text[], $12::bytea[], $13::bytea[], $14::bytea[])",
        candor_store_common::AUDIT_RECORD_COLS
    )
});

/// Inserts an encoded chunk in one statement of fourteen arrays, one per column:
/// PostgreSQL parses and plans it once whatever the number of rows, where a multi-row
/// `VALUES` of the same rows carries fourteen parameters per row.
pub(crate) async fn insert_audit_records(
    conn: &mut DbConnection,
    insert: AuditInsert,
) -> StoreResult<()> {
    if insert.rows == 0 {
        return Ok(());
    }
    sqlx::query_with(&AUDIT_INSERT, insert.args)
        .execute(&mut *conn)
        .await
        .map_err(crate::db_error)?;
    Ok(())
}

/// Locks the heads of `chains` in chain order (so two writers never deadlock) for the rest
/// of the transaction, which keeps every chain linear across instances. A chain's first
/// append creates its head first; after that, one statement however many chains the
/// batch touches.
pub(crate) async fn lock_chain_heads(
    conn: &mut DbConnection,
    chains: &[String],
    tips: &mut BTreeMap<String, ChainTip>,
) -> StoreResult<()> {
    let mut found = lock_heads(conn, chains, tips).await?;
    if found < chains.len() {
        sqlx::query(
            "INSERT INTO audit_chain_heads (chain, seq, hash)
             SELECT c, 0, $2 FROM unnest($1::text[]) AS c
             ON CONFLICT (chain) DO NOTHING",
        )
        .bind(chains)
        .bind(ChainHead::GENESIS.hash.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(crate::db_error)?;
        found = lock_heads(conn, chains, tips).await?;
    }
    if found < chains.len() {
        return Err(candor_domain::store::StoreError::Corrupt(
            "an audit chain head vanished while it was being locked".into(),
        ));
    }
    Ok(())
}

/// Locks and reads the existing heads of `chains`, returning how many there are.
async fn lock_heads(
    conn: &mut DbConnection,
    chains: &[String],
    tips: &mut BTreeMap<String, ChainTip>,
) -> StoreResult<usize> {
    let rows: Vec<HeadRow> = sqlx::query_as(
        "SELECT chain, seq, hash, tree_size, frontier FROM audit_chain_heads
         WHERE chain = ANY($1) ORDER BY chain FOR UPDATE",
    )
    .bind(chains)
    .fetch_all(&mut *conn)
    .await
    .map_err(crate::db_error)?;
    let found = rows.len();
    for row in rows {
        let (chain, tip) = tip_of(row)?;
        tips.insert(chain, tip);
    }
    Ok(found)
}

/// Writes the tips after an append, in one statement.
pub(crate) async fn write_chain_heads(
    conn: &mut DbConnection,
    tips: &[(&str, &ChainTip)],
) -> StoreResult<()> {
    let mut chains = Vec::with_capacity(tips.len());
    let mut seqs = Vec::with_capacity(tips.len());
    let mut hashes = Vec::with_capacity(tips.len());
    let mut sizes = Vec::with_capacity(tips.len());
    let mut frontiers = Vec::with_capacity(tips.len());
    for &(chain, tip) in tips {
        chains.push(chain);
        seqs.push(tip.head.seq);
        hashes.push(tip.head.hash.to_vec());
        sizes.push(tip.tree.size() as i64);
        frontiers.push(tip.tree.roots_bytes());
    }
    sqlx::query(
        "UPDATE audit_chain_heads AS h SET seq = v.seq, hash = v.hash,
             tree_size = v.tree_size, frontier = v.frontier
         FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[])
             AS v(chain, seq, hash, tree_size, frontier)
         WHERE h.chain = v.chain",
    )
    .bind(&chains)
    .bind(&seqs)
    .bind(&hashes)
    .bind(&sizes)
    .bind(&frontiers)
    .execute(&mut *conn)
    .await
    .map_err(crate::db_error)?;
    Ok(())
}

/// A list bound as one parameter, for `each`: an array here.
pub(crate) fn list<K: InKey>(keys: &[K]) -> Vec<K::Bound> {
    keys.iter().map(InKey::bound).collect()
}

/// The rows of the array bound as parameter `$n`, one column `value`.
pub(crate) fn each(n: u8) -> String {
    format!("UNNEST(${n}) AS each(value)")
}

/// ` = ANY($n)` over `values`, one array parameter.
pub(crate) fn push_any(qb: &mut QueryBuilder<'_, Db>, values: Vec<String>) {
    qb.push(" = ANY(").push_bind(values).push(")");
}

impl crate::PostgresStore {
    /// One pool serves reads and writes; concurrent writers are PostgreSQL's to order.
    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction (the twin of SQLite's, which must say `BEGIN IMMEDIATE`).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        self.pool.begin().await
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }
}

/// A key compared with `= ANY($1)` (one array parameter, where SQLite chunks `IN` lists):
/// ids as UUID, names as TEXT.
pub(crate) trait InKey {
    type Bound: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + PgHasArrayType + Send;
    fn bound(&self) -> Self::Bound;
}

macro_rules! uuid_keys {
    ($($id:ty),*) => {$(
        impl InKey for $id {
            type Bound = Uuid;
            fn bound(&self) -> Uuid {
                self.0
            }
        }
    )*};
}
uuid_keys!(
    TenantId,
    UserId,
    OperatorId,
    ApiClientId,
    candor_domain::health::WebhookEndpointId,
    candor_domain::health::PushSubscriptionId
);

impl InKey for candor_domain::health::ComponentId {
    type Bound = String;
    fn bound(&self) -> String {
        self.as_str().to_owned()
    }
}

impl InKey for candor_domain::health::IssueId {
    type Bound = String;
    fn bound(&self) -> String {
        self.as_str().to_owned()
    }
}

impl InKey for candor_domain::health::MessageId {
    type Bound = String;
    fn bound(&self) -> String {
        self.as_str().to_owned()
    }
}

impl InKey for &str {
    type Bound = String;
    fn bound(&self) -> String {
        (*self).to_owned()
    }
}

impl InKey for String {
    type Bound = String;
    fn bound(&self) -> String {
        self.clone()
    }
}

impl crate::PostgresStore {
    /// Rows of `select` whose `column` is one of `keys`; `and` adds further conditions.
    pub(crate) async fn rows_where_in<K: InKey>(
        &self,
        select: &str,
        column: &str,
        keys: &[K],
        and: &str,
    ) -> candor_domain::store::StoreResult<Vec<PgRow>> {
        let bound: Vec<K::Bound> = keys.iter().map(InKey::bound).collect();
        sqlx::query(&format!("{select} WHERE {column} = ANY($1){and}"))
            .bind(bound)
            .fetch_all(&self.pool)
            .await
            .map_err(crate::db_error)
    }
}
