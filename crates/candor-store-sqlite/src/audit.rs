use std::collections::BTreeMap;

use async_trait::async_trait;
use candor_domain::audit::{seal, AuditQuery, AuditRecord, ChainHead, Checkpoint, NewAuditRecord};
use candor_domain::store::{AuditStore, StoreError, StoreResult};
use candor_domain::time_util::to_unix_micros;
use candor_domain::AuditRecordId;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::{db_error, rows, SqliteStore};

const RECORD_COLS: &str = "chain, seq, id, tenant_id, occurred_at, actor, actor_kind, ip_address, activity, item, details, prev_hash, hash";
/// Rows per INSERT statement: 13 columns each, well inside SQLite's variable limit.
const ROWS_PER_INSERT: usize = 500;
/// Chains read or written per statement (three variables each for the upsert).
const HEADS_PER_STATEMENT: usize = 300;

/// Seals `records` onto their chains and inserts them, inside the caller's transaction.
/// Chain heads are read and written in the same transaction, so the chain stays linear.
pub(crate) async fn append_in_tx(
    conn: &mut SqliteConnection,
    records: Vec<NewAuditRecord>,
) -> StoreResult<Vec<AuditRecord>> {
    let mut heads: BTreeMap<String, ChainHead> = BTreeMap::new();
    for r in &records {
        heads.entry(r.chain.key()).or_insert(ChainHead::GENESIS);
    }
    // One statement per few hundred chains, not one per chain: a group commit touching
    // a hundred tenants must not pay a hundred round trips.
    let chains: Vec<String> = heads.keys().cloned().collect();
    for group in chains.chunks(HEADS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT chain, seq, hash FROM audit_chain_heads WHERE chain IN (");
        let mut sep = qb.separated(", ");
        for c in group {
            sep.push_bind(c);
        }
        qb.push(")");
        let rows: Vec<(String, i64, Vec<u8>)> = qb
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for (chain, seq, hash) in rows {
            let hash: [u8; 32] = hash.try_into().map_err(|_| {
                StoreError::Corrupt(format!("chain head of {chain} is not 32 bytes"))
            })?;
            heads.insert(chain, ChainHead { seq, hash });
        }
    }
    let mut sealed = Vec::with_capacity(records.len());
    for new in records {
        let key = new.chain.key();
        let head = heads.get(&key).copied().unwrap_or(ChainHead::GENESIS);
        let (record, next) = seal(new, AuditRecordId::generate(), head);
        heads.insert(key, next);
        sealed.push(record);
    }
    for chunk in sealed.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO audit_records ({RECORD_COLS}) "));
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(&r.chain)
                .push_bind(r.seq)
                .push_bind(r.id.to_string())
                .push_bind(r.tenant_id.map(|t| t.to_string()))
                .push_bind(to_unix_micros(r.occurred_at))
                .push_bind(&r.actor)
                .push_bind(r.actor_kind.as_str())
                .push_bind(&r.ip_address)
                .push_bind(&r.activity)
                .push_bind(&r.item)
                .push_bind(&r.details)
                .push_bind(r.prev_hash.as_slice())
                .push_bind(r.hash.as_slice());
        });
        qb.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    let heads: Vec<(String, ChainHead)> = heads.into_iter().collect();
    for group in heads.chunks(HEADS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO audit_chain_heads (chain, seq, hash) ");
        qb.push_values(group, |mut b, (chain, head)| {
            b.push_bind(chain)
                .push_bind(head.seq)
                .push_bind(head.hash.as_slice());
        });
        qb.push(" ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
        qb.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(sealed)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> StoreResult<Vec<AuditRecord>> {
        self.appends.append(records).await
    }

    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {RECORD_COLS} FROM audit_records WHERE chain = "
        ));
        qb.push_bind(q.chain.key())
            .push(" AND occurred_at >= ")
            .push_bind(to_unix_micros(q.from))
            .push(" AND occurred_at < ")
            .push_bind(to_unix_micros(q.to));
        if let Some(before) = q.before_seq {
            qb.push(" AND seq < ").push_bind(before);
        }
        if !q.activities.is_empty() {
            qb.push(" AND activity IN (");
            let mut sep = qb.separated(", ");
            for a in &q.activities {
                sep.push_bind(a);
            }
            qb.push(")");
        }
        if !q.users.is_empty() {
            qb.push(" AND lower(actor) IN (");
            let mut sep = qb.separated(", ");
            for u in &q.users {
                sep.push_bind(u);
            }
            qb.push(")");
        }
        if let Some(item) = &q.item {
            qb.push(" AND item = ").push_bind(item);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(q.limit) + 1);
        qb.build()
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?
            .iter()
            .map(rows::audit_record)
            .collect()
    }

    async fn audit_chain_records(
        &self,
        chain: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLS} FROM audit_records WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(chain)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::audit_record)
        .collect()
    }

    async fn audit_chain_heads(&self) -> StoreResult<Vec<(String, ChainHead)>> {
        let rows: Vec<(String, i64, Vec<u8>)> =
            sqlx::query_as("SELECT chain, seq, hash FROM audit_chain_heads ORDER BY chain")
                .fetch_all(&self.reader)
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(chain, seq, hash)| {
                let hash: [u8; 32] = hash.try_into().map_err(|_| {
                    StoreError::Corrupt(format!("chain head of {chain} is not 32 bytes"))
                })?;
                Ok((chain, ChainHead { seq, hash }))
            })
            .collect()
    }

    async fn insert_checkpoint(&self, cp: &Checkpoint) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (chain, seq, head_hash, created_at, key_id, signature)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chain, seq) DO NOTHING",
        )
        .bind(&cp.chain)
        .bind(cp.seq)
        .bind(cp.head_hash.as_slice())
        .bind(to_unix_micros(cp.created_at))
        .bind(&cp.key_id)
        .bind(&cp.signature)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_checkpoints(&self, chain: &str) -> StoreResult<Vec<Checkpoint>> {
        sqlx::query(
            "SELECT chain, seq, head_hash, created_at, key_id, signature
             FROM audit_checkpoints WHERE chain = ? ORDER BY seq",
        )
        .bind(chain)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::checkpoint)
        .collect()
    }

    async fn latest_checkpoint(&self, chain: &str) -> StoreResult<Option<Checkpoint>> {
        sqlx::query(
            "SELECT chain, seq, head_hash, created_at, key_id, signature
             FROM audit_checkpoints WHERE chain = ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?
        .map(|r| rows::checkpoint(&r))
        .transpose()
    }
}
