//! What `candor verify` reads from a provider it does not trust, and what Candor's tile
//! route parses from any caller: tile paths, entry bundles, records' canonical bytes,
//! checkpoints, Lockbox decisions, witness keys and cosigned checkpoints (which anyone
//! may post to Candor), and hash tiles a consistency proof is read from. Any bytes are either read or refused with an error,
//! never a panic; a path that parses prints back as itself.
#![no_main]

use candor_domain::audit::tiles::{self, TileKind, TilePath};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "candor.local/audit/operator+8ab135ea+AW56HN0psLeP0Tr0xVmP7/TvKpcWbjym8uT7/M2AUFvx";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(tile) = TilePath::parse(text) {
            assert_eq!(tile.path(), text);
            let _ = tile.within(u64::MAX);
            if let TileKind::Hashes { .. } = tile.kind {
                assert_eq!(tile.stored_hash_indexes().len(), tile.width as usize);
            }
        }
        let _ = candor_verify::verify_checkpoint(text, KEY);
        let _ = candor_verify::lockbox::parse_requests(text);
        let _ = candor_verify::lockbox::raw_key(text);
        let _ = candor_verify::key_name(text);
        if let Ok(key) = candor_verify::witness::WitnessKey::parse(text) {
            assert_eq!(
                candor_verify::witness::WitnessKey::parse(&key.to_vkey()).ok(),
                Some(key)
            );
        }
        let _ = candor_verify::witness::WitnessSigner::parse(text);
        let _ = candor_verify::witness::note_text(text);
        if let Ok(witness) = candor_verify::witness::WitnessSigner::new("witness.example/w1", [1; 32]) {
            let _ = candor_verify::witness::cosignatures(text, &[witness.public().clone()]);
        }
    }
    // A stored hash read from a hash tile, as a witness builds a consistency proof.
    if let Some((numbers, tile)) = data.split_first_chunk::<16>() {
        let index = u64::from_le_bytes(numbers[..8].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(numbers[8..].try_into().unwrap_or_default());
        let _ = tiles::tile_of_hash(index, size);
        let _ = tiles::hash_from_tile(index, size, tile);
        let (old, new) = (index % (1 << 40), size % (1 << 40));
        let _ = candor_verify::consistency_tiles(old.min(new), old.max(new));
    }
    if let Ok(entries) = tiles::unbundle(data) {
        for e in &entries {
            let _ = candor_verify::record::decode(e);
        }
        let width = entries.len().clamp(1, 256) as u32;
        let tile = TilePath {
            kind: TileKind::Entries,
            index: 0,
            width,
        };
        let mut rebuild = candor_verify::Rebuild::new("candor.local/audit/operator", Some(3));
        let _ = rebuild.push(&tile, data, Some(data));
    }
    let _ = candor_verify::record::decode(data);
});
