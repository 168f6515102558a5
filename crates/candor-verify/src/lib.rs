//! Checks a Candor audit log with nothing but what the provider published and the
//! public key the tenant was given: a checkpoint (C2SP signed note) verifies with the
//! key; a newer checkpoint is consistent with the one the tenant saw last (kept in a
//! small state file, so a log that was rewritten or forked is caught the next time the
//! tenant looks); each exported record is a leaf of the signed tree.
//!
//! No I/O, no server dependencies: the `candor verify` command fetches what this crate
//! checks. The record encoding here is the one Candor itself hashes
//! (`candor-domain` calls `record::canonical_bytes`), so a record is checked from its
//! exported fields, never from a hash the provider states.

pub mod lockbox;
pub mod record;
pub mod state;
pub mod tiles;
pub mod tree;
pub mod witness;

use base64::Engine as _;
use signed_note::{Note, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

pub use tlog_tiles::Hash as TreeHash;

/// What failed, in words a tenant can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the verifier key is not a C2SP Ed25519 verifier key: {0}")]
    BadKey(String),
    #[error("the checkpoint is not a C2SP signed note: {0}")]
    Malformed(String),
    #[error("no signature on the checkpoint verifies with the key for {0}")]
    Unsigned(String),
    #[error("the checkpoint is for log `{found}`, but the key is for `{expected}`")]
    WrongLog { expected: String, found: String },
    #[error("FORK: the log showed {size} records with root {first} before and now shows root {second} for the same size")]
    Fork {
        size: u64,
        first: String,
        second: String,
    },
    #[error("the log shrank from {from} to {to} records")]
    Shrank { from: u64, to: u64 },
    #[error("the log of {from} records (root {from_root}) is not a prefix of the log of {to} records: the consistency proof fails, so history was rewritten")]
    Inconsistent {
        from: u64,
        from_root: String,
        to: u64,
    },
    #[error("record {id} (leaf {index}) is not in the signed tree of {size} records")]
    NotIncluded { id: String, index: u64, size: u64 },
    #[error("{0}")]
    Record(String),
}

/// A checkpoint that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl TreeHead {
    pub fn root_b64(&self) -> String {
        b64(&self.root)
    }
}

pub fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

pub fn unb64(s: &str) -> Result<Hash, Failure> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| Failure::Malformed(format!("`{s}` is not a base64 hash")))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Failure::Malformed(format!("`{s}` is not a 32-byte hash")))?;
    Ok(Hash(bytes))
}

/// The log name a verifier key is for (`<name>+<id>+<key>`).
pub fn key_name(verifier_key: &str) -> Result<String, Failure> {
    StandardVerifier::new(verifier_key)
        .map(|v| v.name().to_owned())
        .map_err(|e| Failure::BadKey(e.to_string()))
}

/// Verifies a checkpoint note with the log's verifier key: the note must carry a valid
/// signature by that key, and name the key's log in its origin line.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<TreeHead, Failure> {
    let verifier =
        StandardVerifier::new(verifier_key).map_err(|e| Failure::BadKey(e.to_string()))?;
    let name = verifier.name().to_owned();
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| Failure::Malformed(e.to_string()))?;
    let list = VerifierList::new(vec![Box::new(verifier) as Box<dyn Verifier>]);
    let (verified, _) = parsed
        .verify(&list)
        .map_err(|_| Failure::Unsigned(name.clone()))?;
    if verified.is_empty() {
        return Err(Failure::Unsigned(name));
    }
    let head =
        Checkpoint::from_bytes(parsed.text()).map_err(|e| Failure::Malformed(e.to_string()))?;
    if head.origin() != name {
        return Err(Failure::WrongLog {
            expected: name,
            found: head.origin().to_owned(),
        });
    }
    Ok(TreeHead {
        origin: head.origin().to_owned(),
        size: head.size(),
        root: *head.hash(),
    })
}

/// Checks that `new` extends `old` (both verified checkpoints of one log) with the
/// consistency `path` the log gave (RFC 9162 §2.1.4).
pub fn check_consistency(old: &TreeHead, new: &TreeHead, path: &[Hash]) -> Result<(), Failure> {
    if new.size < old.size {
        return Err(Failure::Shrank {
            from: old.size,
            to: new.size,
        });
    }
    if new.size == old.size {
        return if new.root == old.root {
            Ok(())
        } else {
            Err(Failure::Fork {
                size: old.size,
                first: old.root_b64(),
                second: new.root_b64(),
            })
        };
    }
    if old.size == 0 {
        return Ok(());
    }
    tlog_tiles::check_tree(&path.to_vec(), new.size, new.root, old.size, old.root).map_err(|_| {
        Failure::Inconsistent {
            from: old.size,
            from_root: old.root_b64(),
            to: new.size,
        }
    })
}

/// The hash tiles a consistency proof from `old` to `new` records is read from (by a
/// witness or verifier that has only the published tiles).
pub fn consistency_tiles(old: u64, new: u64) -> Vec<tiles::TilePath> {
    let wish = tree::Wishlist::default();
    if old > 0 && old < new && new <= tiles::MAX_LEAVES {
        let _ = tlog_tiles::prove_tree(new, old, &wish);
    }
    let mut out: Vec<tiles::TilePath> = wish
        .into_sorted()
        .into_iter()
        .filter_map(|i| tiles::tile_of_hash(i, new))
        .collect();
    out.sort_by_key(|t| t.path());
    out.dedup();
    out
}

/// Checks that `new` extends `old` from the hash tiles of `new`'s tree (as
/// `consistency_tiles` named them, by path): the proof is built from them and checked
/// against both signed roots, so tiles that lie only make it fail.
pub fn check_consistency_from_tiles(
    old: &TreeHead,
    new: &TreeHead,
    tiles: &std::collections::HashMap<String, Vec<u8>>,
) -> Result<(), Failure> {
    let path = if old.size > 0 && old.size < new.size {
        let wish = tree::Wishlist::default();
        let _ = tlog_tiles::prove_tree(new.size, old.size, &wish);
        let mut hashes = std::collections::HashMap::new();
        for index in wish.into_sorted() {
            let tile = tiles::tile_of_hash(index, new.size).ok_or_else(|| {
                Failure::Record(format!("stored hash {index} is not in the tree"))
            })?;
            let bytes = tiles
                .get(&tile.path())
                .ok_or_else(|| Failure::Record(format!("{} was not read", tile.path())))?;
            hashes.insert(index, tiles::hash_from_tile(index, new.size, bytes)?);
        }
        tlog_tiles::prove_tree(new.size, old.size, &tree::StoredHashes(&hashes))
            .map_err(|e| Failure::Record(format!("the tiles make no consistency proof: {e}")))?
    } else {
        Vec::new()
    };
    check_consistency(old, new, &path)
}

/// Checks that `leaf` is leaf `index` of the tree `head` signed, with the inclusion
/// `path` the log gave (RFC 9162 §2.1.3).
pub fn check_inclusion(
    id: &str,
    leaf: Hash,
    index: u64,
    head: &TreeHead,
    path: &[Hash],
) -> Result<(), Failure> {
    let fail = || Failure::NotIncluded {
        id: id.to_owned(),
        index,
        size: head.size,
    };
    if index >= head.size {
        return Err(fail());
    }
    tlog_tiles::check_record(&path.to_vec(), head.size, head.root, index, leaf).map_err(|_| fail())
}

/// Rebuilds a log from its published entries, bundle by bundle, in constant memory but
/// for one leaf hash per record: each entry must be a record of this log at its place,
/// linked to the one before, and the tree of all of them must have the signed root.
pub struct Rebuild {
    chain: String,
    frontier: tree::Frontier,
    prev_hash: Option<[u8; 32]>,
    pin: Option<u64>,
    pinned: Option<Hash>,
    /// Every leaf hash so far, by leaf index, to check exported records against.
    pub leaves: Vec<Hash>,
    /// Records past retention read (empty entries, leaves from the hash tiles).
    pub pruned: u64,
    /// Records to keep when read (Lockbox decisions' records), with their leaf index.
    watched: std::collections::HashMap<uuid::Uuid, Option<(u64, record::Decoded)>>,
}

impl Rebuild {
    /// For the log named by `origin`; the root at size `pin` (the checkpoint seen last)
    /// is kept on the way.
    pub fn new(origin: &str, pin: Option<u64>) -> Rebuild {
        let chain = origin
            .rsplit_once("/audit/")
            .map_or("", |(_, c)| c)
            .to_owned();
        Rebuild {
            chain,
            frontier: tree::Frontier::empty(),
            prev_hash: None,
            pin,
            pinned: (pin == Some(0)).then_some(tlog_tiles::EMPTY_HASH),
            leaves: Vec::new(),
            pruned: 0,
            watched: Default::default(),
        }
    }

    /// Keeps record `id` when it is read.
    pub fn watch(&mut self, id: uuid::Uuid) {
        self.watched.entry(id).or_insert(None);
    }

    /// A watched record, with its leaf index, if it was read.
    pub fn watched(&self, id: &uuid::Uuid) -> Option<&(u64, record::Decoded)> {
        self.watched.get(id).and_then(Option::as_ref)
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Adds the next entry bundle. `hashes` is the level-0 hash tile of the same leaves,
    /// needed when the bundle holds records past retention (empty entries: their bodies
    /// were deleted, their leaf hashes kept); a leaf read from it that is not the log's
    /// makes the signed root come out wrong, so it is checked like every other.
    pub fn push(
        &mut self,
        tile: &tiles::TilePath,
        bundle: &[u8],
        hashes: Option<&[u8]>,
    ) -> Result<(), Failure> {
        use sha2::Digest as _;
        let entries = tiles::unbundle(bundle)
            .map_err(|e| Failure::Record(format!("{}: {e}", tile.path())))?;
        if tile.start() != self.size() || entries.len() != tile.width as usize {
            return Err(Failure::Record(format!(
                "{} holds {} entries from leaf {}, not the {} expected from leaf {}",
                tile.path(),
                entries.len(),
                tile.start(),
                tile.width,
                self.size()
            )));
        }
        for (k, entry) in entries.into_iter().enumerate() {
            let index = self.size();
            let bad = |what: String| Failure::Record(format!("leaf {index}: {what}"));
            if entry.is_empty() {
                let leaf = hashes
                    .and_then(|h| h.get(k * 32..(k + 1) * 32))
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "past retention, and its leaf hash is not in tile/0/{} as read",
                            tile.path().trim_start_matches("tile/entries/")
                        ))
                    })?;
                // The next record links to a hash nobody can recompute now.
                self.prev_hash = None;
                self.pruned += 1;
                self.frontier.append(Hash(leaf));
                self.leaves.push(Hash(leaf));
                if Some(self.size()) == self.pin {
                    self.pinned = Some(self.frontier.root());
                }
                continue;
            }
            let record = record::decode(entry).map_err(|e| bad(e.to_string()))?;
            if record.chain != self.chain {
                return Err(bad(format!(
                    "record {} is of log `{}`, not this one",
                    record.id, record.chain
                )));
            }
            if u64::try_from(record.seq).ok() != Some(index + 1) {
                return Err(bad(format!(
                    "record {} says it is record {}, not {}",
                    record.id,
                    record.seq,
                    index + 1
                )));
            }
            if let Some(prev) = self.prev_hash {
                if prev != record.prev_hash {
                    return Err(bad(format!(
                        "record {} does not link to the record before it",
                        record.id
                    )));
                }
            }
            if let Some(slot) = self.watched.get_mut(&record.id) {
                *slot = Some((index, record.clone()));
            }
            self.prev_hash = Some(sha2::Sha256::digest(entry).into());
            let leaf = tlog_tiles::record_hash(entry);
            self.frontier.append(leaf);
            self.leaves.push(leaf);
            if Some(self.size()) == self.pin {
                self.pinned = Some(self.frontier.root());
            }
        }
        Ok(())
    }

    /// The root of the tree when it had the pinned size, if it got there.
    pub fn pinned_root(&self) -> Option<Hash> {
        self.pinned
    }

    /// Checks that the entries make the tree `head` signed.
    pub fn finish(&self, head: &TreeHead) -> Result<(), Failure> {
        if self.size() != head.size || self.frontier.root() != head.root {
            return Err(Failure::Record(format!(
                "the published entries make a tree of {} records with root {}, not the signed {} records with root {}: the entries were changed after they were signed",
                self.size(),
                b64(&self.frontier.root()),
                head.size,
                head.root_b64()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every stored hash of a tree of `n` leaves, by index.
    fn stored(n: u64) -> std::collections::HashMap<u64, Hash> {
        let mut all = std::collections::HashMap::new();
        for i in 0..n {
            let leaf = tlog_tiles::record_hash(&i.to_be_bytes());
            let new = tlog_tiles::stored_hashes_for_record_hash(i, leaf, &tree::StoredHashes(&all))
                .unwrap();
            let first = tlog_tiles::stored_hash_index(0, i);
            for (k, h) in new.into_iter().enumerate() {
                all.insert(first + k as u64, h);
            }
        }
        all
    }

    #[test]
    fn consistency_is_proved_from_the_hash_tiles_alone() {
        let n = 1000;
        let all = stored(n);
        let head = |size| TreeHead {
            origin: "log".into(),
            size,
            root: tlog_tiles::tree_hash(size, &tree::StoredHashes(&all)).unwrap(),
        };
        for old in [1, 37, 255, 256, 257, 999] {
            let tiles: std::collections::HashMap<String, Vec<u8>> = consistency_tiles(old, n)
                .into_iter()
                .map(|t| {
                    let bytes = t
                        .stored_hash_indexes()
                        .iter()
                        .flat_map(|i| all[i].0)
                        .collect();
                    (t.path(), bytes)
                })
                .collect();
            assert!(!tiles.is_empty());
            check_consistency_from_tiles(&head(old), &head(n), &tiles).unwrap();
            // Another history of `old` records is not a prefix of this one.
            let forked = TreeHead {
                root: Hash([9; 32]),
                ..head(old)
            };
            assert!(matches!(
                check_consistency_from_tiles(&forked, &head(n), &tiles),
                Err(Failure::Inconsistent { .. })
            ));
            // A tile that lies makes the proof fail, never pass.
            let mut lying = tiles.clone();
            for bytes in lying.values_mut() {
                bytes[0] ^= 1;
            }
            assert!(check_consistency_from_tiles(&head(old), &head(n), &lying).is_err());
        }
        assert!(consistency_tiles(5, 5).is_empty());
        assert!(check_consistency_from_tiles(&head(0), &head(n), &Default::default()).is_ok());
    }

    #[test]
    fn a_fork_and_a_shrink_are_named() {
        let head = |size, b| TreeHead {
            origin: "log".into(),
            size,
            root: Hash([b; 32]),
        };
        assert!(matches!(
            check_consistency(&head(5, 1), &head(5, 2), &[]),
            Err(Failure::Fork { size: 5, .. })
        ));
        assert!(matches!(
            check_consistency(&head(5, 1), &head(4, 1), &[]),
            Err(Failure::Shrank { from: 5, to: 4 })
        ));
        assert!(check_consistency(&head(5, 1), &head(5, 1), &[]).is_ok());
        assert!(matches!(
            check_consistency(&head(5, 1), &head(6, 1), &[]),
            Err(Failure::Inconsistent { .. })
        ));
    }
}
