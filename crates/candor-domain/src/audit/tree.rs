//! Each audit chain is also an RFC 9162 Merkle tree: leaf `i` is the canonical bytes of
//! the record with seq `i + 1` (domain-tagged, as the hash chain hashes them), interior
//! nodes as RFC 9162 §2.1.1. The tree arithmetic, proofs and their checks are the
//! `tlog_tiles` crate's (a port of Go's `sumdb/tlog`); what is Candor's own is where the
//! hashes live and how an append finds the few it needs without reading the tree.
//!
//! Storage. `tlog_tiles` numbers every hash a tree stores (its *stored hash index*); the
//! hashes stored when leaf `n` is appended are the leaf's own hash followed by the root
//! of every subtree that leaf completes, at consecutive indexes. Candor keeps those with
//! the record they were computed for (`AuditRecord::tree_hashes`), written in the same
//! statement as the record, so the tree can never be behind the chain. Appending needs
//! only the roots of the complete subtrees to its left (the *frontier*, at most 64
//! hashes), which the chain head carries.

use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, split_stored_hash_index,
    stored_hash_index, tree_hash, Hash,
};

use super::{canonical_bytes, AuditRecord};

pub use tlog_tiles::{Hash as TreeHash, EMPTY_HASH};

/// The leaf hash of a record: SHA-256(0x00 ‖ canonical bytes); for a record past
/// retention, whose body is gone, the leaf hash stored with it.
pub fn leaf_hash(record: &AuditRecord) -> Hash {
    match record.tree_hashes.first() {
        Some(leaf) if record.pruned => Hash(*leaf),
        _ => record_hash(&canonical_bytes(record)),
    }
}

/// What is wrong with a tree or a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("a tree of {size} records has no record {index}")]
    NoSuchLeaf { index: u64, size: u64 },
    #[error("a tree cannot be proved consistent with a larger one ({from} > {to})")]
    Shrinks { from: u64, to: u64 },
    #[error("the tree has {have} records, fewer than the {asked} asked for")]
    TooLarge { asked: u64, have: u64 },
    #[error(transparent)]
    BadFrontier(#[from] candor_verify::tree::BadFrontier),
    #[error("stored hash {0} is missing")]
    Missing(u64),
    #[error("the proof does not verify")]
    Invalid,
}

pub use candor_verify::tree::Frontier;

/// Where a stored hash lives: the seq of the record it was stored with, and its place
/// among that record's tree hashes.
pub fn locate(index: u64) -> (i64, usize) {
    let (level, n) = split_stored_hash_index(index);
    // Level `level`'s hash number `n` is completed by leaf (n + 1) · 2^level − 1.
    let leaf = ((n + 1) << level) - 1;
    (leaf as i64 + 1, usize::from(level))
}

pub use candor_verify::tree::StoredHashes;
use candor_verify::tree::Wishlist;

fn check_leaf(index: u64, size: u64) -> Result<(), TreeError> {
    if index >= size {
        return Err(TreeError::NoSuchLeaf { index, size });
    }
    Ok(())
}

/// The stored hashes an inclusion proof of leaf `index` in the tree of `size` needs,
/// with the root of that tree.
pub fn inclusion_needs(index: u64, size: u64) -> Result<Vec<u64>, TreeError> {
    check_leaf(index, size)?;
    let wish = Wishlist::default();
    prove_record(size, index, &wish).map_err(|_| TreeError::Invalid)?;
    tree_hash(size, &wish).map_err(|_| TreeError::Invalid)?;
    Ok(wish.into_sorted())
}

/// The stored hashes a consistency proof from `from` to `to` needs, with both roots.
pub fn consistency_needs(from: u64, to: u64) -> Result<Vec<u64>, TreeError> {
    if from > to {
        return Err(TreeError::Shrinks { from, to });
    }
    let wish = Wishlist::default();
    if from > 0 {
        prove_tree(to, from, &wish).map_err(|_| TreeError::Invalid)?;
    }
    tree_hash(from, &wish).map_err(|_| TreeError::Invalid)?;
    tree_hash(to, &wish).map_err(|_| TreeError::Invalid)?;
    Ok(wish.into_sorted())
}

/// An inclusion proof: leaf `index` is in the tree of `size` leaves whose root is `root`.
#[derive(Debug, Clone, PartialEq)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub root: Hash,
    pub path: Vec<Hash>,
}

/// A consistency proof: the tree of `from` leaves is a prefix of the tree of `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: Hash,
    pub to_root: Hash,
    pub path: Vec<Hash>,
}

fn missing(e: tlog_tiles::Error) -> TreeError {
    match e {
        tlog_tiles::Error::IndexesNotInTree => TreeError::Missing(0),
        _ => TreeError::Invalid,
    }
}

/// Proves leaf `index` in the tree of `size`, from the hashes `inclusion_needs` named.
pub fn prove_inclusion(
    index: u64,
    size: u64,
    hashes: &StoredHashes<'_>,
) -> Result<InclusionProof, TreeError> {
    check_leaf(index, size)?;
    let path = prove_record(size, index, hashes).map_err(missing)?;
    let root = tree_hash(size, hashes).map_err(missing)?;
    Ok(InclusionProof {
        index,
        size,
        root,
        path,
    })
}

/// Proves the tree of `from` a prefix of the tree of `to`, from the hashes
/// `consistency_needs` named.
pub fn prove_consistency(
    from: u64,
    to: u64,
    hashes: &StoredHashes<'_>,
) -> Result<ConsistencyProof, TreeError> {
    if from > to {
        return Err(TreeError::Shrinks { from, to });
    }
    let path = if from == 0 {
        Vec::new()
    } else {
        prove_tree(to, from, hashes).map_err(missing)?
    };
    Ok(ConsistencyProof {
        from,
        to,
        from_root: tree_hash(from, hashes).map_err(missing)?,
        to_root: tree_hash(to, hashes).map_err(missing)?,
        path,
    })
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    path: &[Hash],
    index: u64,
    size: u64,
    root: Hash,
    leaf: Hash,
) -> Result<(), TreeError> {
    check_leaf(index, size)?;
    check_record(&path.to_vec(), size, root, index, leaf).map_err(|_| TreeError::Invalid)
}

/// Checks that the tree of `from` leaves with root `from_root` is a prefix of the tree of
/// `to` leaves with root `to_root`.
pub fn verify_consistency(
    path: &[Hash],
    from: u64,
    from_root: Hash,
    to: u64,
    to_root: Hash,
) -> Result<(), TreeError> {
    if from > to {
        return Err(TreeError::Shrinks { from, to });
    }
    if from == 0 {
        return Ok(());
    }
    if from == to {
        return if from_root == to_root && path.is_empty() {
            Ok(())
        } else {
            Err(TreeError::Invalid)
        };
    }
    check_tree(&path.to_vec(), to, to_root, from, from_root).map_err(|_| TreeError::Invalid)
}

/// The stored index of the first hash kept with leaf `n` (the leaf's own).
pub fn first_index_of_leaf(n: u64) -> u64 {
    stored_hash_index(0, n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn leaf(i: u64) -> Hash {
        record_hash(&i.to_be_bytes())
    }

    /// Builds a tree of `n` leaves the way the store does: each leaf's hashes kept at
    /// consecutive indexes from its first.
    fn build(n: u64) -> (Frontier, HashMap<u64, Hash>) {
        let mut f = Frontier::empty();
        let mut stored = HashMap::new();
        for i in 0..n {
            let first = first_index_of_leaf(i);
            for (k, h) in f.append(leaf(i)).into_iter().enumerate() {
                stored.insert(first + k as u64, h);
                assert_eq!(locate(first + k as u64), (i as i64 + 1, k));
            }
        }
        (f, stored)
    }

    /// RFC 9162 §2.1.1, written out directly, as an independent reference: split at the
    /// largest power of two below the size.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_HASH,
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                tlog_tiles::node_hash(reference_root(&leaves[..k]), reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_frontier_root_is_the_rfc_root() {
        for n in 0..70u64 {
            let (f, stored) = build(n);
            let leaves: Vec<Hash> = (0..n).map(leaf).collect();
            assert_eq!(f.root(), reference_root(&leaves), "size {n}");
            assert_eq!(
                f.root(),
                tree_hash(n, &StoredHashes(&stored)).unwrap(),
                "size {n}"
            );
        }
    }

    #[test]
    fn an_append_stores_what_tlog_stores() {
        let (_, stored) = build(0);
        let mut stored = stored;
        let mut f = Frontier::empty();
        for i in 0..300u64 {
            let ours = f.append(leaf(i));
            let theirs =
                tlog_tiles::stored_hashes_for_record_hash(i, leaf(i), &StoredHashes(&stored))
                    .unwrap();
            assert_eq!(ours, theirs, "leaf {i}");
            let first = first_index_of_leaf(i);
            for (k, h) in ours.into_iter().enumerate() {
                stored.insert(first + k as u64, h);
            }
        }
    }

    #[test]
    fn a_frontier_survives_storage() {
        let (f, _) = build(37);
        let back = Frontier::from_parts(37, &f.roots_bytes()).unwrap();
        assert_eq!(back, f);
        // 39 leaves have four complete subtrees, 37 three.
        assert!(Frontier::from_parts(39, &f.roots_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn every_leaf_is_proved_in_every_later_tree(n in 1u64..300, i in 0u64..300, extra in 0u64..50) {
            let i = i % n;
            let size = n + extra;
            let (_, stored) = build(size);
            let needs = inclusion_needs(i, n).unwrap();
            let only: HashMap<u64, Hash> = needs.iter().map(|k| (*k, stored[k])).collect();
            let proof = prove_inclusion(i, n, &StoredHashes(&only)).unwrap();
            prop_assert!(verify_inclusion(&proof.path, i, n, proof.root, leaf(i)).is_ok());
            prop_assert!(verify_inclusion(&proof.path, i, n, proof.root, leaf(i + 1)).is_err());
        }

        #[test]
        fn every_tree_is_consistent_with_every_later_one(from in 0u64..300, more in 0u64..300) {
            let to = from + more;
            let (_, stored) = build(to);
            let needs = consistency_needs(from, to).unwrap();
            let only: HashMap<u64, Hash> = needs.iter().map(|k| (*k, stored[k])).collect();
            let proof = prove_consistency(from, to, &StoredHashes(&only)).unwrap();
            prop_assert!(verify_consistency(&proof.path, from, proof.from_root, to, proof.to_root).is_ok());
            if from > 0 && from < to {
                let mut forked = proof.from_root;
                forked.0[0] ^= 1;
                prop_assert!(verify_consistency(&proof.path, from, forked, to, proof.to_root).is_err());
            }
        }
    }
}
