//! The frontier of an RFC 9162 Merkle tree: the roots of its complete subtrees, largest
//! first. Enough to append the next leaf and to compute the root, so Candor appends with
//! it and a verifier rebuilds a whole log from its entries in constant memory.

use tlog_tiles::{node_hash, sub_tree_index, tree_hash, Hash, HashReader, EMPTY_HASH};

/// Hashes read by stored index from some storage, for the proof functions.
pub struct StoredHashes<'a>(pub &'a std::collections::HashMap<u64, Hash>);

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, wanted: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        wanted
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Records which hashes a proof function asks for (and answers with zeros): each of
/// them reads once, so a first dry run tells which hashes to fetch from storage.
#[derive(Default)]
pub struct Wishlist(std::cell::RefCell<Vec<u64>>);

impl HashReader for Wishlist {
    fn read_hashes(&self, wanted: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(wanted);
        Ok(vec![Hash([0; 32]); wanted.len()])
    }
}

impl Wishlist {
    /// Each index once, in order.
    pub fn into_sorted(self) -> Vec<u64> {
        let mut all = self.0.into_inner();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A stored frontier whose roots do not fit its size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the frontier of a tree of {size} records needs {expected} hashes, not {found}")]
pub struct BadFrontier {
    pub size: u64,
    pub expected: usize,
    pub found: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

/// Reads the hashes a frontier holds, by stored hash index (anything else is missing).
struct FrontierReader<'a> {
    indexes: Vec<u64>,
    roots: &'a [Hash],
}

impl HashReader for FrontierReader<'_> {
    fn read_hashes(&self, wanted: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        wanted
            .iter()
            .map(|i| {
                self.indexes
                    .iter()
                    .position(|x| x == i)
                    .map(|p| self.roots[p])
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// The stored indexes of the roots of the complete subtrees of a tree of `size` leaves.
fn root_indexes(size: u64) -> Vec<u64> {
    if size == 0 {
        return Vec::new();
    }
    sub_tree_index(0, size, Vec::new())
}

impl Frontier {
    pub fn empty() -> Self {
        Frontier::default()
    }

    /// The frontier as stored: its size and its roots, concatenated.
    pub fn from_parts(size: u64, roots: &[u8]) -> Result<Self, BadFrontier> {
        let expected = root_indexes(size).len();
        if roots.len() != expected * 32 {
            return Err(BadFrontier {
                size,
                expected,
                found: roots.len() / 32,
            });
        }
        let roots = roots
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect();
        Ok(Frontier { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots, concatenated, as the chain head stores them.
    pub fn roots_bytes(&self) -> Vec<u8> {
        self.roots.iter().flat_map(|h| h.0).collect()
    }

    fn reader(&self) -> FrontierReader<'_> {
        FrontierReader {
            indexes: root_indexes(self.size),
            roots: &self.roots,
        }
    }

    /// Appends a leaf; returns the hashes to store with it (its own, then the root of
    /// each subtree it completes), in stored-index order: what `tlog_tiles`'
    /// `stored_hashes_for_record_hash` gives (a test holds them to it), computed from the
    /// frontier alone, as a binary counter carries: each complete subtree to the left of
    /// the same size merges with the new one.
    pub fn append(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut stored = Vec::with_capacity(2);
        stored.push(leaf);
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            let Some(left) = self.roots.pop() else {
                break;
            };
            h = node_hash(left, h);
            stored.push(h);
            n >>= 1;
        }
        self.roots.push(h);
        self.size += 1;
        stored
    }

    /// The tree's root hash (the empty tree's for size 0).
    pub fn root(&self) -> Hash {
        tree_hash(self.size, &self.reader()).unwrap_or(EMPTY_HASH)
    }
}
