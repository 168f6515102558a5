// The audit log: appends with their chain heads, search, checkpoints, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/audit.rs` and
// `candor-store-postgres/src/audit.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use candor_domain::audit::tree::{self, Frontier, TreeHash};
use candor_domain::audit::{AuditQuery, AuditRecord, ChainTip, Checkpoint, NewAuditRecord};
use candor_domain::store::{AuditStore, StoreError, StoreResult};
use candor_domain::AuditRecordId;
use candor_store_common::{Ahead, Committed, Group, HeadRow, Slot};
use sqlx::QueryBuilder;

use crate::dialect::{
    at, encode_audit_records, insert_audit_records, key, lock_chain_heads, push_any,
    write_chain_heads, Db, DbConnection, Store, AUDIT_ROWS_PER_INSERT as ROWS_PER_INSERT,
};

use crate::{db_error, rows};

use candor_store_common::{packed, AUDIT_RECORD_COLS as RECORD_COLS};

/// Seals `records` onto their chains and inserts them, inside the caller's transaction.
/// Chain heads are read (and on PostgreSQL locked) and written in the same transaction,
/// so every chain stays linear, and each record's Merkle tree hashes go in with it.
pub(crate) async fn append_in_tx(
    conn: &mut DbConnection,
    records: Vec<NewAuditRecord>,
) -> StoreResult<Vec<AuditRecord>> {
    Ok(append_group_in_tx(conn, Group::of_new(records))
        .await?
        .records)
}

/// As `append_in_tx`, for a group some of whose chains were sealed ahead: such a chain's
/// records go in as sealed when its stored head is the tip they were sealed onto, and are
/// sealed again from the stored head when it is not (another writer moved it, or the
/// commit they were sealed behind failed).
pub(crate) async fn append_group_in_tx(
    conn: &mut DbConnection,
    group: Group,
) -> StoreResult<Committed> {
    let Group { slots, mut ahead } = group;
    let mut stored: BTreeMap<String, ChainTip> = BTreeMap::new();
    for slot in &slots {
        match slot {
            Slot::Sealed(r) => {
                if !stored.contains_key(&r.chain) {
                    stored.insert(r.chain.clone(), ChainTip::default());
                }
            }
            Slot::New(n) => {
                let chain = n.chain.key();
                // A chain with a record left unsealed is sealed here, all of it.
                ahead.remove(&chain);
                stored.entry(chain).or_default();
            }
        }
    }
    let chains: Vec<String> = stored.keys().cloned().collect();
    lock_chain_heads(conn, &chains, &mut stored).await?;
    ahead.retain(|chain, a| stored.get(chain) == Some(&a.from));
    let mut tips: BTreeMap<String, ChainTip> = stored
        .into_iter()
        .filter(|(chain, _)| !ahead.contains_key(chain))
        .collect();
    for (chain, tip) in tips.iter_mut() {
        if tip.tree.size() < tip.head.seq as u64 {
            catch_up_tree(conn, chain, tip).await?;
        }
    }
    // Sealing and encoding are CPU work and the insert is the database's: each chunk is
    // sealed and encoded while the one before it is being inserted.
    let mut records = Vec::with_capacity(slots.len());
    let mut slots = slots.into_iter();
    let mut chunk = seal_chunk(&mut slots, &ahead, &mut tips);
    let mut encoded = encode_audit_records(&chunk)?;
    while !chunk.is_empty() {
        let (inserted, (next, next_encoded)) =
            tokio::join!(insert_audit_records(conn, encoded), async {
                let next = seal_chunk(&mut slots, &ahead, &mut tips);
                let next_encoded = encode_audit_records(&next);
                (next, next_encoded)
            });
        inserted?;
        records.append(&mut chunk);
        chunk = next;
        encoded = next_encoded?;
    }
    let heads: Vec<(&str, &ChainTip)> = tips
        .iter()
        .chain(ahead.iter().map(|(chain, a)| (chain, &a.to)))
        .map(|(chain, tip)| (chain.as_str(), tip))
        .collect();
    write_chain_heads(conn, &heads).await?;
    Ok(Committed {
        records,
        sealed_in_commit: tips,
    })
}

/// The next chunk of a group's records as they are inserted: sealed ahead and checked,
/// or sealed now onto their chains' stored tips.
fn seal_chunk(
    slots: &mut impl Iterator<Item = Slot>,
    ahead: &HashMap<String, Ahead>,
    tips: &mut BTreeMap<String, ChainTip>,
) -> Vec<AuditRecord> {
    slots
        .take(ROWS_PER_INSERT)
        .map(|slot| match slot {
            Slot::Sealed(r) if ahead.contains_key(&r.chain) => r,
            Slot::Sealed(r) => tips.entry(r.chain.clone()).or_default().reseal(r),
            Slot::New(new) => tips
                .entry(new.chain.key())
                .or_default()
                .seal(new, AuditRecordId::generate()),
        })
        .collect()
}

/// Records appended before their chain had a tree (an older Candor) get their tree
/// hashes now, in order, before anything new is appended after them.
async fn catch_up_tree(
    conn: &mut DbConnection,
    chain: &str,
    tip: &mut ChainTip,
) -> StoreResult<()> {
    const PAGE: i64 = 1000;
    while tip.tree.size() < tip.head.seq as u64 {
        let after = tip.tree.size() as i64;
        let page: Vec<AuditRecord> = sqlx::query(&format!(
            "SELECT {RECORD_COLS}, pruned FROM audit_records WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(chain)
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::audit_record)
        .collect::<StoreResult<_>>()?;
        if page.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "chain {chain} ends at seq {after} but its head says {}",
                tip.head.seq
            )));
        }
        for r in page {
            if r.seq != tip.tree.size() as i64 + 1 {
                return Err(StoreError::Corrupt(format!(
                    "chain {chain} has no record at seq {}",
                    tip.tree.size() + 1
                )));
            }
            let hashes = tip.catch_up(&r);
            sqlx::query("UPDATE audit_records SET tree_hashes = $1 WHERE chain = $2 AND seq = $3")
                .bind(packed(&hashes))
                .bind(chain)
                .bind(r.seq)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
        }
    }
    Ok(())
}

#[async_trait]
impl AuditStore for Store {
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> StoreResult<Vec<AuditRecord>> {
        self.appends.append(records).await
    }

    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {RECORD_COLS}, pruned FROM audit_records WHERE chain = "
        ));
        qb.push_bind(q.chain.key())
            .push(" AND occurred_at >= ")
            .push_bind(at(q.from))
            .push(" AND occurred_at < ")
            .push_bind(at(q.to))
            // Past retention a record has no body left to find.
            .push(" AND pruned = ")
            .push_bind(false);
        if let Some(before) = q.before_seq {
            qb.push(" AND seq < ").push_bind(before);
        }
        if !q.activities.is_empty() {
            qb.push(" AND activity");
            push_any(&mut qb, q.activities.clone());
        }
        if !q.users.is_empty() {
            qb.push(" AND lower(actor)");
            push_any(&mut qb, q.users.clone());
        }
        if let Some(item) = &q.item {
            qb.push(" AND item = ").push_bind(item);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(q.limit) + 1);
        qb.build()
            .fetch_all(self.reader())
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
            "SELECT {RECORD_COLS}, pruned FROM audit_records WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(chain)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::audit_record)
        .collect()
    }

    async fn audit_tips(&self) -> StoreResult<Vec<(String, ChainTip)>> {
        let rows: Vec<HeadRow> = sqlx::query_as(
            "SELECT chain, seq, hash, tree_size, frontier FROM audit_chain_heads
             WHERE seq > 0 ORDER BY chain",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(candor_store_common::tip_of).collect()
    }

    async fn audit_tips_unsealed(&self) -> StoreResult<Vec<(String, ChainTip)>> {
        let rows: Vec<HeadRow> = sqlx::query_as(
            "SELECT h.chain, h.seq, h.hash, h.tree_size, h.frontier FROM audit_chain_heads h
             WHERE h.seq > COALESCE(
                 (SELECT MAX(c.seq) FROM audit_checkpoints c WHERE c.chain = h.chain), 0)
             ORDER BY h.chain",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(candor_store_common::tip_of).collect()
    }

    async fn audit_log_prefix(&self, chain: &str, candidate: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO audit_log_prefixes (chain, prefix) VALUES ($1, $2)
             ON CONFLICT (chain) DO NOTHING",
        )
        .bind(chain)
        .bind(candidate)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        sqlx::query_scalar("SELECT prefix FROM audit_log_prefixes WHERE chain = $1")
            .bind(chain)
            .fetch_one(self.writer())
            .await
            .map_err(db_error)
    }

    async fn audit_record(
        &self,
        chain: &str,
        id: AuditRecordId,
    ) -> StoreResult<Option<AuditRecord>> {
        // No index by id (with one, appends ran about a fifth slower): a record's id is a
        // UUIDv7 whose time is when it was sealed, which is within moments of when it
        // happened, so the chain's time index finds it; a record written on another clock
        // (the demo's replayed history) is found by reading its chain.
        if let Some((secs, nanos)) = id.0.get_timestamp().map(|t| t.to_unix()) {
            let sealed = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
                .ok();
            if let Some(sealed) = sealed {
                let window = time::Duration::minutes(10);
                let near = sqlx::query(&format!(
                    "SELECT {RECORD_COLS}, pruned FROM audit_records WHERE chain = $1
                     AND occurred_at >= $2 AND occurred_at <= $3 AND id = $4"
                ))
                .bind(chain)
                .bind(at(sealed - window))
                .bind(at(sealed + window))
                .bind(key(id.0))
                .fetch_optional(self.reader())
                .await
                .map_err(db_error)?;
                if let Some(row) = near {
                    return rows::audit_record(&row).map(Some);
                }
            }
        }
        sqlx::query(&format!(
            "SELECT {RECORD_COLS}, pruned FROM audit_records WHERE chain = $1 AND id = $2"
        ))
        .bind(chain)
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::audit_record(&r))
        .transpose()
    }

    async fn audit_tree(&self, chain: &str) -> StoreResult<Frontier> {
        let row: Option<HeadRow> = sqlx::query_as(
            "SELECT chain, seq, hash, tree_size, frontier FROM audit_chain_heads WHERE chain = $1",
        )
        .bind(chain)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        match row {
            Some(row) => Ok(candor_store_common::tip_of(row)?.1.tree),
            None => Ok(Frontier::empty()),
        }
    }

    async fn audit_tree_hashes(
        &self,
        chain: &str,
        indexes: &[u64],
    ) -> StoreResult<HashMap<u64, TreeHash>> {
        let mut wanted: BTreeMap<i64, Vec<(u64, usize)>> = BTreeMap::new();
        for i in indexes {
            let (seq, at) = tree::locate(*i);
            wanted.entry(seq).or_default().push((*i, at));
        }
        let mut found = HashMap::new();
        let seqs: Vec<i64> = wanted.keys().copied().collect();
        for group in seqs.chunks(500) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("SELECT seq, tree_hashes FROM audit_records WHERE chain = ");
            qb.push_bind(chain).push(" AND seq IN (");
            let mut sep = qb.separated(", ");
            for s in group {
                sep.push_bind(*s);
            }
            qb.push(")");
            let rows: Vec<(i64, Option<Vec<u8>>)> = qb
                .build_query_as()
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
            for (seq, packed) in rows {
                let packed = packed.unwrap_or_default();
                for (index, at) in wanted.get(&seq).into_iter().flatten() {
                    if let Some(bytes) = packed.get(at * 32..(at + 1) * 32) {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(bytes);
                        found.insert(*index, TreeHash(h));
                    }
                }
            }
        }
        Ok(found)
    }

    async fn insert_checkpoint(&self, cp: &Checkpoint) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (chain, seq, head_hash, created_at, key_id, signature, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain, seq) DO NOTHING",
        )
        .bind(&cp.chain)
        .bind(cp.seq)
        .bind(cp.head_hash.as_slice())
        .bind(at(cp.created_at))
        .bind(&cp.key_id)
        .bind(&cp.signature)
        .bind(&cp.note)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_checkpoints(&self, chain: &str) -> StoreResult<Vec<Checkpoint>> {
        sqlx::query(
            "SELECT chain, seq, head_hash, created_at, key_id, signature, note
             FROM audit_checkpoints WHERE chain = $1 ORDER BY seq",
        )
        .bind(chain)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::checkpoint)
        .collect()
    }

    async fn latest_checkpoint(&self, chain: &str) -> StoreResult<Option<Checkpoint>> {
        sqlx::query(
            "SELECT chain, seq, head_hash, created_at, key_id, signature, note
             FROM audit_checkpoints WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| rows::checkpoint(&r))
        .transpose()
    }

    async fn checkpoint_note_at(&self, chain: &str, size: u64) -> StoreResult<Option<String>> {
        // No log holds more than i64::MAX records: a larger size matches nothing.
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let note: Option<Option<String>> = sqlx::query_scalar(
            "SELECT note FROM audit_checkpoints WHERE chain = $1 AND seq = $2 AND note IS NOT NULL
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(chain)
        .bind(size)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(note.flatten())
    }

    async fn add_audit_witness(&self, w: &candor_domain::audit::AuditWitness) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO audit_witnesses (id, chain, name, key_id, verifier_key, added_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, name, key_id) DO NOTHING",
        )
        .bind(key(w.id))
        .bind(&w.chain)
        .bind(&w.name)
        .bind(i64::from(w.key_id))
        .bind(&w.verifier_key)
        .bind(at(w.added_at))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn audit_witnesses(
        &self,
        chain: &str,
    ) -> StoreResult<Vec<candor_domain::audit::AuditWitness>> {
        sqlx::query(
            "SELECT id, chain, name, key_id, verifier_key, added_at, cosigned_size, cosignature,
                    cosigned_at
             FROM audit_witnesses WHERE chain = $1 ORDER BY added_at, name",
        )
        .bind(chain)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::audit_witness)
        .collect()
    }

    async fn remove_audit_witness(&self, chain: &str, id: uuid::Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM audit_witnesses WHERE chain = $1 AND id = $2")
            .bind(chain)
            .bind(key(id))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_cosignature(
        &self,
        chain: &str,
        witness: uuid::Uuid,
        c: &candor_domain::audit::Cosignature,
    ) -> StoreResult<()> {
        let size = i64::try_from(c.size).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE audit_witnesses SET cosigned_size = $1, cosignature = $2, cosigned_at = $3
             WHERE chain = $4 AND id = $5 AND (cosigned_size IS NULL OR cosigned_size <= $1)",
        )
        .bind(size)
        .bind(&c.line)
        .bind(at(c.received_at))
        .bind(chain)
        .bind(key(witness))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn cosigned_sizes(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT chain, MAX(cosigned_size) FROM audit_witnesses
             WHERE cosigned_size IS NOT NULL GROUP BY chain ORDER BY chain",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(chain, size)| (chain, u64::try_from(size).unwrap_or(0)))
            .collect())
    }

    async fn set_audit_retention(&self, chain: &str, days: Option<u32>) -> StoreResult<()> {
        match days {
            Some(days) => sqlx::query(
                "INSERT INTO audit_retention (chain, days) VALUES ($1, $2)
                 ON CONFLICT (chain) DO UPDATE SET days = excluded.days",
            )
            .bind(chain)
            .bind(i64::from(days)),
            None => sqlx::query("DELETE FROM audit_retention WHERE chain = $1").bind(chain),
        }
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn audit_retention(&self, chain: &str) -> StoreResult<Option<u32>> {
        let days: Option<i64> =
            sqlx::query_scalar("SELECT days FROM audit_retention WHERE chain = $1")
                .bind(chain)
                .fetch_optional(self.reader())
                .await
                .map_err(db_error)?;
        days.map(|d| {
            u32::try_from(d).map_err(|e| StoreError::Corrupt(format!("audit_retention.days: {e}")))
        })
        .transpose()
    }

    async fn audit_retentions(&self) -> StoreResult<Vec<(String, u32)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT chain, days FROM audit_retention ORDER BY chain")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(chain, days)| {
                u32::try_from(days)
                    .map(|d| (chain, d))
                    .map_err(|e| StoreError::Corrupt(format!("audit_retention.days: {e}")))
            })
            .collect()
    }

    async fn prune_audit_records(
        &self,
        chain: &str,
        before: time::OffsetDateTime,
        limit: u32,
    ) -> StoreResult<u64> {
        // Oldest first, by seq (the chain's order), so what remains is always a suffix.
        let done = sqlx::query(
            "UPDATE audit_records
             SET actor = '', ip_address = NULL, activity = '', item = NULL, details = '{}',
                 pruned = $1
             WHERE chain = $2 AND seq IN (
                 SELECT seq FROM audit_records
                 WHERE chain = $2 AND occurred_at < $3 AND pruned = $4
                 ORDER BY seq LIMIT $5)",
        )
        .bind(true)
        .bind(chain)
        .bind(at(before))
        .bind(false)
        .bind(i64::from(limit))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
