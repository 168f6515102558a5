//! The C2SP `tlog-tiles` layout a Candor log is published in: `checkpoint`, hash tiles
//! at `tile/<L>/<N>[.p/<W>]` (height 8: 256 hashes of tree level `8·L`, each 32 bytes)
//! and entry bundles at `tile/entries/<N>[.p/<W>]` (the canonical bytes of leaves
//! `256·N …`, each prefixed by its length as a big-endian u16). The path arithmetic is
//! `tlog_tiles`' (Go's `sumdb/tlog`, whose paths carry the height, which C2SP fixes at 8).

use tlog_tiles::{stored_hash_index, Tile};

use crate::Failure;

/// A decimal number without leading zeros, as tile paths write levels and widths.
fn small_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || s.len() > 3 || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// More records than any log holds: tiles past it are refused.
pub const MAX_LEAVES: u64 = 1 << 62;

/// C2SP fixes the tile height at 8: a full tile has 256 hashes or entries.
pub const HEIGHT: u8 = 8;
pub const FULL: u32 = 1 << HEIGHT;

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Hashes of tree level `8·level`.
    Hashes { level: u8 },
    /// Leaves' entries (a record's canonical bytes).
    Entries,
}

/// One tile: `index` within its level, `width` hashes or entries (256 when full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TilePath {
    pub kind: TileKind,
    pub index: u64,
    pub width: u32,
}

fn bad_path(path: &str) -> Failure {
    Failure::Malformed(format!(
        "`{path}` is not a C2SP tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])"
    ))
}

impl TilePath {
    /// Parses a C2SP tile path; anything that is not one in its one canonical spelling
    /// is refused (so one tile has one path).
    pub fn parse(path: &str) -> Result<TilePath, Failure> {
        let bad = || bad_path(path);
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if kind == "entries" {
            TileKind::Entries
        } else {
            let level: u8 = small_number(kind).ok_or_else(bad)?;
            // 8 levels of 8 cover every tree of up to 2^64 leaves.
            if level > 7 {
                return Err(bad());
            }
            TileKind::Hashes { level }
        };
        let (digits, width) = match rest.split_once(".p/") {
            Some((digits, w)) => {
                let w: u32 = small_number(w).ok_or_else(bad)?;
                if !(1..FULL).contains(&w) {
                    return Err(bad());
                }
                (digits, w)
            }
            None => (rest, FULL),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = digits.split('/').collect();
        for (i, group) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let group = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = group.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(n))
                .ok_or_else(bad)?;
        }
        let tile = TilePath { kind, index, width };
        if tile.path() != path {
            return Err(bad());
        }
        // No log reaches 2^62 records; past that, stored hash indexes overflow.
        let level = match kind {
            TileKind::Hashes { level } => u32::from(level),
            TileKind::Entries => 0,
        };
        let end = tile.start().checked_add(u64::from(width)).ok_or_else(bad)?;
        if end > MAX_LEAVES >> (u32::from(HEIGHT) * level) {
            return Err(bad());
        }
        Ok(tile)
    }

    pub fn path(&self) -> String {
        let (level, data) = match self.kind {
            TileKind::Hashes { level } => (level, false),
            TileKind::Entries => (0, true),
        };
        let go = Tile::new(HEIGHT, level, self.index, self.width, data).path();
        let tail = go
            .strip_prefix(&format!("tile/{HEIGHT}/"))
            .unwrap_or_default();
        match tail.strip_prefix("data/") {
            Some(n) => format!("tile/entries/{n}"),
            None => format!("tile/{tail}"),
        }
    }

    /// The first leaf (entries) or node of its level (hashes) the tile holds.
    pub fn start(&self) -> u64 {
        self.index << HEIGHT
    }

    /// Whether a tree of `size` leaves has everything this tile holds.
    pub fn within(&self, size: u64) -> bool {
        let nodes = match self.kind {
            TileKind::Hashes { level } => size.checked_shr(u32::from(HEIGHT) * u32::from(level)),
            TileKind::Entries => Some(size),
        }
        .unwrap_or(0);
        self.start()
            .checked_add(u64::from(self.width))
            .is_some_and(|end| end <= nodes)
    }

    /// The stored hash indexes (in `tlog_tiles`' numbering) a hash tile holds, in order.
    pub fn stored_hash_indexes(&self) -> Vec<u64> {
        match self.kind {
            TileKind::Hashes { level } => (0..u64::from(self.width))
                .map(|i| stored_hash_index(HEIGHT * level, self.start() + i))
                .collect(),
            TileKind::Entries => Vec::new(),
        }
    }

    /// The level-0 hash tile of the same leaves as this entry bundle (their leaf hashes).
    pub fn hashes_of_leaves(&self) -> TilePath {
        TilePath {
            kind: TileKind::Hashes { level: 0 },
            ..*self
        }
    }

    /// The leaves an entry bundle holds.
    pub fn leaves(&self) -> std::ops::Range<u64> {
        self.start()..self.start() + u64::from(self.width)
    }
}

/// The hash tile of a tree of `size` that holds stored hash `index` (tlog_tiles'
/// numbering): a hash of a level between two tile levels is computed from the hashes
/// of the tile level under it, which one tile holds. None when the tree lacks it.
pub fn tile_of_hash(index: u64, size: u64) -> Option<TilePath> {
    if size > MAX_LEAVES || index >= stored_hash_index(0, size) {
        return None;
    }
    let t = Tile::from_index(HEIGHT, index).parent(0, size)?;
    Some(TilePath {
        kind: TileKind::Hashes { level: t.level() },
        index: t.level_index(),
        width: t.width(),
    })
}

/// Stored hash `index` of a tree of `size`, from the bytes of its `tile_of_hash` tile.
pub fn hash_from_tile(index: u64, size: u64, bytes: &[u8]) -> Result<tlog_tiles::Hash, Failure> {
    let bad = |why: &str| Failure::Record(format!("stored hash {index}: {why}"));
    let path = tile_of_hash(index, size).ok_or_else(|| bad("not in the tree"))?;
    if bytes.len() != path.width as usize * 32 {
        return Err(bad(&format!(
            "{} holds {} bytes, not {}",
            path.path(),
            bytes.len(),
            path.width as usize * 32
        )));
    }
    let TileKind::Hashes { level } = path.kind else {
        return Err(bad("not a hash tile"));
    };
    Tile::new(HEIGHT, level, path.index, path.width, false)
        .hash_at_index(bytes, index)
        .map_err(|e| bad(&e.to_string()))
}

/// The entry bundles that hold the leaves of a tree of `size`, in order: full ones, then
/// a partial one for the rest.
pub fn entry_bundles(size: u64) -> impl Iterator<Item = TilePath> {
    let full = size >> HEIGHT;
    let rest = (size & u64::from(FULL - 1)) as u32;
    (0..full)
        .map(|index| TilePath {
            kind: TileKind::Entries,
            index,
            width: FULL,
        })
        .chain((rest > 0).then_some(TilePath {
            kind: TileKind::Entries,
            index: full,
            width: rest,
        }))
}

/// Every tile (hashes and entries) that a tree of `new` leaves has and a tree of `old`
/// leaves did not have in that form: what to publish when a log grows from `old` to `new`.
pub fn new_tiles(old: u64, new: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    for t in Tile::new_tiles(HEIGHT, old, new) {
        let hashes = TilePath {
            kind: TileKind::Hashes { level: t.level() },
            index: t.level_index(),
            width: t.width(),
        };
        out.push(hashes);
        if t.level() == 0 {
            out.push(TilePath {
                kind: TileKind::Entries,
                ..hashes
            });
        }
    }
    out
}

/// An entry bundle of `entries`.
pub fn bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| {
            Failure::Malformed(format!(
                "an entry of {} bytes does not fit an entry bundle (at most 65535)",
                e.len()
            ))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// The entries of an entry bundle.
pub fn unbundle(bytes: &[u8]) -> Result<Vec<&[u8]>, Failure> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| Failure::Malformed("an entry bundle ends inside a length".into()))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(Failure::Malformed(
                "an entry bundle ends inside an entry".into(),
            ));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_are_c2sp_paths() {
        for (path, kind, index, width) in [
            ("tile/0/000", TileKind::Hashes { level: 0 }, 0, 256),
            (
                "tile/0/x001/234.p/7",
                TileKind::Hashes { level: 0 },
                1234,
                7,
            ),
            ("tile/2/001", TileKind::Hashes { level: 2 }, 1, 256),
            ("tile/entries/005.p/255", TileKind::Entries, 5, 255),
            (
                "tile/entries/x123/x456/789",
                TileKind::Entries,
                123_456_789,
                256,
            ),
        ] {
            let t = TilePath::parse(path).unwrap();
            assert_eq!((t.kind, t.index, t.width), (kind, index, width), "{path}");
            assert_eq!(t.path(), path);
        }
        for bad in [
            "tile/8/0/000",
            "tile/0/0",
            "tile/entries/000.p/0",
            "tile/entries/000.p/256",
            "tile/data/000",
            "tile/8/000",
            "tile/0/1000",
            "checkpoint",
            "tile/0/x000/001",
            "tile/64/000",
            "tile/00/000",
            "tile/0/000.p/",
            "tile/0/x1000/000",
            "tile/entries/x018/x446/x744/x073/x709/x551/616",
            "tile/0/000/",
            "tile/0/0a0",
            "tile/6/234.p/42",
            "tile/7/001",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_path_parses_or_is_refused_and_a_tile_round_trips(
            junk in "tile/[0-9a-z./x]{0,40}",
            level in 0u8..8,
            index in 0u64..u64::MAX,
            width in 1u32..=256,
            entries in proptest::bool::ANY,
        ) {
            if let Ok(t) = TilePath::parse(&junk) {
                // Every tile that parses names hashes that can be numbered.
                let _ = t.stored_hash_indexes();
            }
            let kind = if entries { TileKind::Entries } else { TileKind::Hashes { level } };
            let shift = 8 * u32::from(if entries { 0 } else { level });
            let cap = MAX_LEAVES >> shift;
            let index = index % (cap / 256).max(1);
            let width = width.min(u32::try_from(cap).unwrap_or(u32::MAX));
            let tile = TilePath { kind, index, width };
            proptest::prop_assert_eq!(TilePath::parse(&tile.path()).unwrap(), tile);
            let _ = tile.stored_hash_indexes();
        }
    }

    #[test]
    fn a_tile_is_within_a_tree_that_has_all_it_holds() {
        let t = TilePath::parse("tile/0/001.p/4").unwrap();
        assert!(!t.within(259));
        assert!(t.within(260));
        let t = TilePath::parse("tile/1/000.p/2").unwrap();
        assert!(!t.within(511));
        assert!(t.within(512));
        let e = TilePath::parse("tile/entries/000").unwrap();
        assert!(e.within(256) && !e.within(255));
    }

    #[test]
    fn the_bundles_of_a_tree_cover_its_leaves_once() {
        for size in [0u64, 1, 255, 256, 257, 1000] {
            let covered: Vec<u64> = entry_bundles(size).flat_map(|t| t.leaves()).collect();
            assert_eq!(covered, (0..size).collect::<Vec<_>>(), "{size}");
        }
        let grown = new_tiles(250, 600);
        let paths: Vec<String> = grown.iter().map(TilePath::path).collect();
        for want in [
            "tile/0/000",
            "tile/entries/000",
            "tile/0/001",
            "tile/entries/001",
            "tile/0/002.p/88",
            "tile/entries/002.p/88",
            "tile/1/000.p/2",
        ] {
            assert!(paths.contains(&want.to_owned()), "{want} in {paths:?}");
        }
    }

    #[test]
    fn a_bundle_round_trips_and_a_cut_one_is_refused() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"hello"];
        let b = bundle(entries.iter().copied()).unwrap();
        assert_eq!(unbundle(&b).unwrap(), entries);
        assert!(unbundle(&b[..b.len() - 1]).is_err());
        assert!(unbundle(&[0]).is_err());
        assert!(bundle([vec![0u8; 70_000].as_slice()]).is_err());
    }
}
