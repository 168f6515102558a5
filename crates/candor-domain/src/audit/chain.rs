use sha2::{Digest, Sha256};

use super::{AuditRecord, ChainHead, NewAuditRecord};
use crate::time_util::{rfc3339, truncate_to_micros};
use crate::AuditRecordId;

/// JSON text with object keys sorted and no insignificant whitespace. `serde_json`
/// keeps maps in a `BTreeMap` (no `preserve_order`), so serializing a `Value` sorts keys.
pub fn canonical_json(value: &serde_json::Value) -> String {
    value.to_string()
}

/// The canonical encoding of a record: every field length-prefixed, in a fixed order, so
/// no two different records encode the same way. Written once, in `candor-verify`, the
/// crate tenants check the log with.
pub fn canonical_bytes(r: &AuditRecord) -> Vec<u8> {
    let tenant = r.tenant_id.map(|t| t.to_string());
    let date = rfc3339(r.occurred_at);
    candor_verify::record::canonical_bytes(&candor_verify::record::Fields {
        id: r.id.0.as_bytes(),
        chain: &r.chain,
        seq: r.seq,
        tenant_id: tenant.as_deref(),
        date: &date,
        actor: &r.actor,
        actor_kind: r.actor_kind.as_str(),
        ip_address: r.ip_address.as_deref(),
        activity: &r.activity,
        item: r.item.as_deref(),
        details: &r.details,
        prev_hash: &r.prev_hash,
    })
}

pub fn record_hash(r: &AuditRecord) -> [u8; 32] {
    Sha256::digest(canonical_bytes(r)).into()
}

/// Turns a new record into the next link after `head`, returning the new head.
pub fn seal(new: NewAuditRecord, id: AuditRecordId, head: ChainHead) -> (AuditRecord, ChainHead) {
    let (record, next, _) = seal_with_leaf(new, id, head);
    (record, next)
}

/// As `seal`, also returning the record's Merkle leaf hash, from the same canonical bytes
/// (encoded once: the append path seals thousands of records per commit).
pub fn seal_with_leaf(
    new: NewAuditRecord,
    id: AuditRecordId,
    head: ChainHead,
) -> (AuditRecord, ChainHead, super::tree::TreeHash) {
    let record = AuditRecord {
        id,
        chain: new.chain.key(),
        seq: head.seq + 1,
        tenant_id: new.chain.tenant_id(),
        occurred_at: truncate_to_micros(new.occurred_at),
        actor: new.actor,
        actor_kind: new.actor_kind,
        ip_address: new.ip_address,
        activity: new.activity,
        item: new.item,
        details: canonical_json(&new.details),
        prev_hash: head.hash,
        hash: [0; 32],
        tree_hashes: Vec::new(),
        pruned: false,
    };
    link(record, head)
}

/// Moves a sealed record to follow `head` instead of the head it was sealed after: same
/// id and contents, new place. A record sealed ahead of its commit, onto a head another
/// writer has since moved, is resealed this way.
pub fn reseal_with_leaf(
    record: AuditRecord,
    head: ChainHead,
) -> (AuditRecord, ChainHead, super::tree::TreeHash) {
    link(record, head)
}

fn link(
    mut record: AuditRecord,
    head: ChainHead,
) -> (AuditRecord, ChainHead, super::tree::TreeHash) {
    record.seq = head.seq + 1;
    record.prev_hash = head.hash;
    record.tree_hashes = Vec::new();
    let mut bytes = canonical_bytes(&record);
    if bytes.len() > MAX_ENTRY {
        fit_entry(&mut record);
        bytes = canonical_bytes(&record);
    }
    record.hash = Sha256::digest(&bytes).into();
    let next = ChainHead {
        seq: record.seq,
        hash: record.hash,
    };
    (record, next, tlog_tiles::record_hash(&bytes))
}

/// The largest record, encoded: a C2SP entry bundle prefixes each entry with a 16-bit
/// length, so every record must stay below 64 KiB to be published.
pub const MAX_ENTRY: usize = 60_000;

/// Makes an oversized record fit: its details are replaced by their size and SHA-256
/// (what they were can still be matched against a copy), its item cut to 2,000
/// characters. Audit details are ids and short values; this is a guard, not a format.
fn fit_entry(record: &mut AuditRecord) {
    let digest = hex::encode(Sha256::digest(record.details.as_bytes()));
    record.details = canonical_json(&serde_json::json!({
        "omitted": {"bytes": record.details.len(), "sha256": digest}
    }));
    if let Some(item) = record.item.as_mut() {
        if item.chars().count() > 2_000 {
            *item = item.chars().take(2_000).collect();
        }
    }
}

/// What is wrong with a chain, naming the first bad record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainFault {
    #[error("record {id} (seq {seq}) was altered: its contents do not match its hash")]
    Altered { id: AuditRecordId, seq: i64 },
    #[error("record {id} (seq {seq}) does not follow seq {expected_prev_seq}: a record before it was removed or one was inserted")]
    Broken {
        id: AuditRecordId,
        seq: i64,
        expected_prev_seq: i64,
    },
    #[error("record {id} (seq {seq}) does not link to the hash of the record before it: a record was inserted or removed")]
    Unlinked { id: AuditRecordId, seq: i64 },
    #[error("the chain ends at seq {found} but its recorded head is seq {expected}: records at the end were removed")]
    Truncated { expected: i64, found: i64 },
    #[error("the chain's recorded head (seq {seq}) does not match its last record: the last records were rewritten")]
    HeadMismatch { seq: i64 },
    #[error("checkpoint at seq {seq}: {problem}")]
    Checkpoint { seq: i64, problem: String },
    #[error("record {id} (seq {seq}) carries Merkle tree hashes that are not its own: the tree was altered")]
    TreeAltered { id: AuditRecordId, seq: i64 },
    #[error("the chain's Merkle tree ({found} records, root {found_root}) is not the tree of its records ({expected} records, root {expected_root})")]
    TreeMismatch {
        expected: u64,
        expected_root: String,
        found: u64,
        found_root: String,
    },
}

/// Walks a chain record by record (in seq order) without holding it in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: ChainHead,
    seen: u64,
    /// The Merkle tree of the records seen so far, rebuilt from their leaves.
    tree: super::tree::Frontier,
    /// Tree sizes whose roots to remember (the recorded tree's, every checkpoint's), and
    /// each root once the walk reached it.
    tree_pins: std::collections::BTreeMap<u64, Option<super::tree::TreeHash>>,
    /// Hash of every record whose seq a checkpoint pins, filled in as records stream by.
    pinned: std::collections::BTreeMap<i64, Option<[u8; 32]>>,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self {
            head: ChainHead::GENESIS,
            seen: 0,
            tree: super::tree::Frontier::empty(),
            tree_pins: Default::default(),
            pinned: Default::default(),
        }
    }

    /// Asks the verifier to remember the hash at `seq`, to compare with a checkpoint.
    pub fn pin(&mut self, seq: i64) {
        self.pinned.entry(seq).or_insert(None);
    }

    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainFault> {
        if r.seq != self.head.seq + 1 {
            return Err(ChainFault::Broken {
                id: r.id,
                seq: r.seq,
                expected_prev_seq: self.head.seq,
            });
        }
        if r.prev_hash != self.head.hash {
            return Err(ChainFault::Unlinked {
                id: r.id,
                seq: r.seq,
            });
        }
        // A record past retention has no body to hash: its hash is taken as stored (the
        // next record's link and the tree's root, which checkpoints sign, still hold it),
        // and its leaf is the one stored with it.
        if r.pruned {
            if r.tree_hashes.is_empty() {
                return Err(ChainFault::Altered {
                    id: r.id,
                    seq: r.seq,
                });
            }
        } else if record_hash(r) != r.hash {
            return Err(ChainFault::Altered {
                id: r.id,
                seq: r.seq,
            });
        }
        let tree_hashes: Vec<[u8; 32]> = self
            .tree
            .append(super::tree::leaf_hash(r))
            .into_iter()
            .map(|h| h.0)
            .collect();
        // A record an older Candor wrote has none until its chain's next append.
        if !r.tree_hashes.is_empty() && r.tree_hashes != tree_hashes {
            return Err(ChainFault::TreeAltered {
                id: r.id,
                seq: r.seq,
            });
        }
        if let Some(root @ None) = self.tree_pins.get_mut(&self.tree.size()) {
            *root = Some(self.tree.root());
        }
        if let Some(slot) = self.pinned.get_mut(&r.seq) {
            *slot = Some(r.hash);
        }
        self.head = ChainHead {
            seq: r.seq,
            hash: r.hash,
        };
        self.seen += 1;
        Ok(())
    }

    pub fn records_seen(&self) -> u64 {
        self.seen
    }

    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// The Merkle tree of the records seen.
    pub fn tree(&self) -> &super::tree::Frontier {
        &self.tree
    }

    /// Asks the verifier to remember the tree's root when it has `size` records (the size
    /// the store recorded for it, which trails the chain only where an older Candor wrote
    /// the last records and nothing was appended since).
    pub fn pin_tree(&mut self, size: u64) {
        let root = (size == 0).then(|| self.tree.root());
        self.tree_pins.entry(size).or_insert(root);
    }

    /// The root of the tree of `size` records, if `size` was pinned and the walk got there.
    pub fn pinned_root(&self, size: u64) -> Option<super::tree::TreeHash> {
        self.tree_pins.get(&size).copied().flatten()
    }

    /// Compares the tree of the records walked with the tree the store recorded.
    pub fn finish_tree(&self, recorded: &super::tree::Frontier) -> Result<(), ChainFault> {
        let walked = match self.pinned_root(recorded.size()) {
            Some(root) => Some(root),
            None if recorded.size() == self.tree.size() => Some(self.tree.root()),
            None => None,
        };
        if walked == Some(recorded.root()) {
            return Ok(());
        }
        Err(ChainFault::TreeMismatch {
            expected: self.tree.size(),
            expected_root: hex::encode(self.tree.root().0),
            found: recorded.size(),
            found_root: hex::encode(recorded.root().0),
        })
    }

    /// The hash seen at a pinned seq, if the chain reached it.
    pub fn pinned_hash(&self, seq: i64) -> Option<[u8; 32]> {
        self.pinned.get(&seq).copied().flatten()
    }

    /// Compares the end of the walk with the head the store recorded.
    pub fn finish(&self, recorded_head: ChainHead) -> Result<(), ChainFault> {
        if self.head.seq < recorded_head.seq {
            return Err(ChainFault::Truncated {
                expected: recorded_head.seq,
                found: self.head.seq,
            });
        }
        if self.head != recorded_head {
            return Err(ChainFault::HeadMismatch {
                seq: recorded_head.seq,
            });
        }
        Ok(())
    }
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{ActorKind, AuditChain};
    use crate::TenantId;
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;

    fn build_chain(n: usize) -> Vec<AuditRecord> {
        let chain = AuditChain::Tenant(TenantId::generate());
        let mut head = ChainHead::GENESIS;
        (0..n)
            .map(|i| {
                let new = NewAuditRecord::new(
                    chain,
                    datetime!(2026-11-01 0:00 UTC) + time::Duration::seconds(i as i64),
                    format!("user{i}@contoso.example"),
                    ActorKind::TenantUser,
                    "UserLoggedIn",
                )
                .details(json!({"b": i, "a": "x"}));
                let (r, h) = seal(new, AuditRecordId::generate(), head);
                head = h;
                r
            })
            .collect()
    }

    fn verify(records: &[AuditRecord], head: ChainHead) -> Result<(), ChainFault> {
        let mut v = ChainVerifier::new();
        for r in records {
            v.push(r)?;
        }
        v.finish(head)
    }

    fn head_of(records: &[AuditRecord]) -> ChainHead {
        records.last().map_or(ChainHead::GENESIS, |r| ChainHead {
            seq: r.seq,
            hash: r.hash,
        })
    }

    /// The chain as a store seals it: each record with its tree hashes.
    fn build_tree_chain(n: usize) -> (Vec<AuditRecord>, crate::audit::ChainTip) {
        let chain = AuditChain::Tenant(TenantId::generate());
        let mut tip = crate::audit::ChainTip::default();
        let records = (0..n)
            .map(|i| {
                let new = NewAuditRecord::new(
                    chain,
                    datetime!(2026-11-01 0:00 UTC) + time::Duration::seconds(i as i64),
                    "op@provider.example",
                    ActorKind::Operator,
                    "Set-AccessToCustomerDataRequest",
                );
                tip.seal(new, AuditRecordId::generate())
            })
            .collect();
        (records, tip)
    }

    #[test]
    fn a_record_whose_tree_hashes_were_changed_is_caught() {
        let (mut records, tip) = build_tree_chain(12);
        let mut v = ChainVerifier::new();
        for r in &records {
            v.push(r).unwrap();
        }
        v.finish(tip.head).unwrap();
        v.finish_tree(&tip.tree).unwrap();
        records[7].tree_hashes[0][3] ^= 1;
        let mut v = ChainVerifier::new();
        let fault = records.iter().find_map(|r| v.push(r).err());
        assert!(
            matches!(fault, Some(ChainFault::TreeAltered { seq: 8, .. })),
            "{fault:?}"
        );
    }

    #[test]
    fn records_past_retention_still_verify_but_not_a_changed_leaf() {
        let (mut records, tip) = build_tree_chain(12);
        let leaf_before = crate::audit::tree::leaf_hash(&records[2]);
        for r in records.iter_mut().take(5) {
            r.pruned = true;
            r.actor.clear();
            r.activity.clear();
            r.details = "{}".into();
        }
        assert_eq!(crate::audit::tree::leaf_hash(&records[2]), leaf_before);
        let mut v = ChainVerifier::new();
        for r in &records {
            v.push(r).unwrap();
        }
        v.finish(tip.head).unwrap();
        v.finish_tree(&tip.tree).unwrap();
        // A pruned record's kept leaf is still held by the tree.
        records[3].tree_hashes[0][0] ^= 1;
        let mut v = ChainVerifier::new();
        let fault = records.iter().find_map(|r| v.push(r).err());
        assert!(
            matches!(fault, Some(ChainFault::TreeAltered { seq: 4, .. })),
            "{fault:?}"
        );
        // A pruned record that lost its tree hashes too is not taken on trust.
        let (mut records, _) = build_tree_chain(3);
        records[0].pruned = true;
        records[0].tree_hashes.clear();
        assert!(matches!(
            ChainVerifier::new().push(&records[0]),
            Err(ChainFault::Altered { seq: 1, .. })
        ));
    }

    #[test]
    fn a_recorded_tree_that_is_not_the_records_tree_is_caught() {
        let (records, _) = build_tree_chain(9);
        let (_, other) = build_tree_chain(9);
        let mut v = ChainVerifier::new();
        for r in &records {
            v.push(r).unwrap();
        }
        assert!(matches!(
            v.finish_tree(&other.tree),
            Err(ChainFault::TreeMismatch { .. })
        ));
        // A tree that trails the chain (older records not yet caught up) is compared at
        // its own size.
        let (_, head5) = build_tree_chain(0);
        let mut v = ChainVerifier::new();
        let mut tip5 = head5;
        for r in records.iter().take(5) {
            tip5.catch_up(r);
        }
        v.pin_tree(5);
        for r in &records {
            v.push(r).unwrap();
        }
        v.finish_tree(&tip5.tree).unwrap();
    }

    #[test]
    fn an_oversized_record_still_fits_an_entry_bundle() {
        let big = "x".repeat(100_000);
        let new = NewAuditRecord::new(
            AuditChain::Operator,
            time::OffsetDateTime::UNIX_EPOCH,
            "system",
            ActorKind::System,
            "Add-Thing",
        )
        .item(big.clone())
        .details(json!({ "body": big }));
        let (record, _) = seal(new, AuditRecordId::generate(), ChainHead::GENESIS);
        let bytes = canonical_bytes(&record);
        assert!(bytes.len() <= MAX_ENTRY, "{}", bytes.len());
        assert!(record.details.contains("\"omitted\""), "{}", record.details);
        assert_eq!(record.hash, record_hash(&record));
    }

    #[test]
    fn details_are_canonical() {
        let records = build_chain(1);
        assert_eq!(records[0].details, r#"{"a":"x","b":0}"#);
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let records = build_chain(20);
        assert_eq!(verify(&records, head_of(&records)), Ok(()));
    }

    #[test]
    fn an_altered_activity_is_found() {
        let mut records = build_chain(10);
        let head = head_of(&records);
        records[4].activity = "Nothing-To-See".into();
        assert_eq!(
            verify(&records, head),
            Err(ChainFault::Altered {
                id: records[4].id,
                seq: 5
            })
        );
    }

    #[test]
    fn a_removed_record_is_found_at_its_successor() {
        let mut records = build_chain(10);
        let head = head_of(&records);
        let removed = records.remove(3);
        assert_eq!(removed.seq, 4);
        assert!(matches!(
            verify(&records, head),
            Err(ChainFault::Broken { seq: 5, .. })
        ));
    }

    #[test]
    fn an_inserted_record_is_found() {
        let mut records = build_chain(10);
        let head = head_of(&records);
        let mut forged = records[5].clone();
        forged.id = AuditRecordId::generate();
        forged.activity = "Forged".into();
        forged.hash = record_hash(&forged);
        records.insert(6, forged.clone());
        assert!(matches!(
            verify(&records, head),
            Err(ChainFault::Broken { seq: 6, .. })
        ));
    }

    #[test]
    fn a_removed_tail_is_found_against_the_head() {
        let mut records = build_chain(10);
        let head = head_of(&records);
        records.truncate(8);
        assert_eq!(
            verify(&records, head),
            Err(ChainFault::Truncated {
                expected: 10,
                found: 8
            })
        );
    }

    #[test]
    fn a_rewritten_chain_does_not_match_the_recorded_head() {
        let records = build_chain(5);
        let other = build_chain(5);
        assert!(matches!(
            verify(&other, head_of(&records)),
            Err(ChainFault::HeadMismatch { .. })
        ));
    }

    proptest! {
        /// A record sealed onto one tip and resealed onto another is exactly the record
        /// sealed onto the second in the first place, and the chain it ends verifies.
        #[test]
        fn resealing_equals_sealing_there(first in 0usize..20, second in 0usize..20, big in any::<bool>()) {
            let (_, mut tip_a) = build_tree_chain(first);
            let (_, before_b) = build_tree_chain(second);
            let chain = AuditChain::Tenant(TenantId::generate());
            let body = if big { "x".repeat(70_000) } else { "short".into() };
            let new = NewAuditRecord::new(
                chain,
                datetime!(2026-11-02 0:00 UTC),
                "op@provider.example",
                ActorKind::Operator,
                "Set-AccessToCustomerDataRequest",
            )
            .details(json!({ "body": body }));
            let id = AuditRecordId::generate();
            let (mut direct_tip, mut resealed_tip) = (before_b.clone(), before_b);
            let direct = direct_tip.seal(new.clone(), id);
            let moved = tip_a.seal(new, id);
            let resealed = resealed_tip.reseal(moved);
            prop_assert_eq!(&resealed, &direct);
            prop_assert_eq!(resealed_tip, direct_tip);
            prop_assert_eq!(resealed.hash, record_hash(&resealed));
        }

        /// Changing any single field of any single record is always detected.
        #[test]
        fn any_single_field_change_is_detected(n in 1usize..30, pick in any::<prop::sample::Index>(), field in 0u8..7) {
            let mut records = build_chain(n);
            let head = head_of(&records);
            let i = pick.index(n);
            let r = &mut records[i];
            match field {
                0 => r.actor.push('x'),
                1 => r.activity.push('x'),
                2 => r.item = Some(r.item.clone().unwrap_or_default() + "x"),
                3 => r.ip_address = Some("203.0.113.9".into()),
                4 => r.details = r#"{"a":"y"}"#.into(),
                5 => r.occurred_at += time::Duration::microseconds(1),
                _ => r.actor_kind = ActorKind::System,
            }
            prop_assert!(verify(&records, head).is_err());
        }
    }
}
