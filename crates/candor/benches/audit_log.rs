//! The transparency log's two costs a tenant or a provider feels, each against a
//! baseline measured in the same run (this machine is shared and noisy):
//!
//! 1. Inclusion proofs per second, on the embedded store, for random records of a
//!    100,000-record tenant log: what `GET /api/v1/audit/records/{id}/proof` does (the
//!    stored hashes a proof needs, one query, the proof built) against reading one record
//!    by its place (`audit_chain_records`, one query).
//! 2. `candor verify --tiles` of a 1,000,000-record log published on disk: every entry
//!    bundle read, every record decoded, linked and hashed into the tree, the root checked
//!    against a signed checkpoint (`candor_verify::Rebuild`, what the command runs), with
//!    its time and the memory it holds; against reading the same files and hashing each
//!    entry once with SHA-256.
//!
//! Run it with `cargo bench -p candor --bench audit_log` (`AUDIT_LOG_RECORDS=200000` for
//! a smaller log).

use std::alloc::System;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use candor_domain::audit::tiles::{self, TileKind};
use candor_domain::audit::tree;
use candor_domain::audit::{
    canonical_bytes, note, ActorKind, AuditChain, ChainTip, NewAuditRecord,
};
use candor_domain::store::Store;
use candor_domain::{AuditRecordId, TenantId};
use candor_store_tests::harness::sqlite_store;
use rand::Rng;
use serde_json::json;
use sha2::Digest;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use time::OffsetDateTime;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PROOF_LOG: usize = 100_000;
const PROOFS: usize = 5_000;

fn record(chain: AuditChain, i: usize) -> NewAuditRecord {
    NewAuditRecord::new(
        chain,
        OffsetDateTime::now_utc(),
        format!("engineer{}@provider.example", i % 13),
        ActorKind::Operator,
        "Get-Mailbox",
    )
    .item(format!("request-{}", i % 1000))
    .details(json!({"target": "ceo@tenant.example", "n": i}))
}

async fn proofs() -> anyhow::Result<()> {
    let db = sqlite_store().await;
    let store: Arc<dyn Store> = db.store.clone();
    let chain = AuditChain::Tenant(TenantId::generate());
    let key = chain.key();
    let started = Instant::now();
    for batch in 0..PROOF_LOG / 5_000 {
        let records = (0..5_000)
            .map(|i| record(chain, batch * 5_000 + i))
            .collect();
        store.append_audit(records).await?;
    }
    println!(
        "inclusion proofs: a log of {PROOF_LOG} records appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let size = store.audit_tree(&key).await?.size();
    let mut rng = rand::thread_rng();
    let picks: Vec<u64> = (0..PROOFS).map(|_| rng.gen_range(0..size)).collect();

    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for &i in &picks {
            let got = store.audit_chain_records(&key, i as i64, 1).await?;
            anyhow::ensure!(got.len() == 1, "record {i} was not read");
        }
        let baseline = PROOFS as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for &i in &picks {
            let needs = tree::inclusion_needs(i, size)?;
            let hashes = store.audit_tree_hashes(&key, &needs).await?;
            let proof = tree::prove_inclusion(i, size, &tree::StoredHashes(&hashes))?;
            anyhow::ensure!(!proof.path.is_empty(), "an empty proof for leaf {i}");
        }
        let proofs = PROOFS as f64 / t.elapsed().as_secs_f64();
        runs.push((baseline, proofs));
    }
    runs.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
    let (baseline, proofs) = runs[1];
    println!("  baseline (one record read by its place): {baseline:>8.0}/s");
    println!("  inclusion proofs (hashes read, proof built): {proofs:>8.0}/s");
    println!(
        "  ratio proofs/baseline (median of 3): {:.2}",
        proofs / baseline
    );
    Ok(())
}

/// Writes a log of `n` records in the tlog-tiles layout under `dir`, with a checkpoint
/// signed by `key`. Returns the checkpoint and the verifier key.
fn publish(
    dir: &Path,
    n: usize,
    key: &ed25519_dalek::SigningKey,
) -> anyhow::Result<(String, String)> {
    let chain = AuditChain::Tenant(TenantId::generate());
    let origin = note::origin("bench.candor", chain);
    let mut tip = ChainTip::default();
    // Stored hashes in stored-index order: each append's are the next ones.
    let mut stored: Vec<[u8; 32]> = Vec::with_capacity(n * 2);
    let mut bundle: Vec<Vec<u8>> = Vec::with_capacity(256);
    let mut bundle_index = 0u64;
    let write = |rel: String, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
        Ok(())
    };
    for i in 0..n {
        let r = tip.seal(record(chain, i), AuditRecordId::generate());
        stored.extend(r.tree_hashes.iter().copied());
        bundle.push(canonical_bytes(&r));
        if bundle.len() == 256 || i + 1 == n {
            let t = tiles::TilePath {
                kind: TileKind::Entries,
                index: bundle_index,
                width: bundle.len() as u32,
            };
            write(t.path(), &tiles::bundle(bundle.iter().map(Vec::as_slice))?)?;
            bundle.clear();
            bundle_index += 1;
        }
    }
    for t in tiles::new_tiles(0, n as u64) {
        if let TileKind::Hashes { .. } = t.kind {
            let bytes: Vec<u8> = t
                .stored_hash_indexes()
                .iter()
                .flat_map(|i| stored[*i as usize])
                .collect();
            write(t.path(), &bytes)?;
        }
    }
    let checkpoint = note::sign_checkpoint(&origin, tip.tree.size(), tip.tree.root(), key)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    write("checkpoint".into(), checkpoint.as_bytes())?;
    Ok((
        checkpoint,
        note::verifier_key(&origin, &key.verifying_key()),
    ))
}

fn verify_from_tiles(dir: &Path, n: u64) -> anyhow::Result<()> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let t = Instant::now();
    let (_, vkey) = publish(dir, n as usize, &key)?;
    println!(
        "candor verify --tiles: a log of {n} records published in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let read = |rel: &str| std::fs::read(dir.join(rel));
    let mut runs = Vec::new();
    for _ in 0..3 {
        // Baseline: the same files read, each entry hashed once.
        let t = Instant::now();
        let mut sink = 0u8;
        for tile in tiles::entry_bundles(n) {
            for e in tiles::unbundle(&read(&tile.path())?)? {
                sink ^= sha2::Sha256::digest(e)[0];
            }
        }
        std::hint::black_box(sink);
        let baseline = t.elapsed().as_secs_f64();

        let region = Region::new(GLOBAL);
        let t = Instant::now();
        let text = String::from_utf8(read("checkpoint")?)?;
        let head = candor_verify::verify_checkpoint(&text, &vkey)?;
        let mut rebuilt = candor_verify::Rebuild::new(&head.origin, Some(n / 2));
        for tile in tiles::entry_bundles(head.size) {
            rebuilt.push(&tile, &read(&tile.path())?, None)?;
        }
        rebuilt.finish(&head)?;
        anyhow::ensure!(
            rebuilt.pinned_root().is_some(),
            "the root at half the size was not kept"
        );
        let verify = t.elapsed().as_secs_f64();
        let stats = region.change();
        let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
        drop(rebuilt);
        runs.push((baseline, verify, held));
    }
    runs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let (baseline, verify, held) = runs[1];
    println!("  baseline (files read, each entry SHA-256 once): {baseline:>6.2} s");
    println!(
        "  verify (checkpoint, every entry decoded, linked, leaf-hashed, tree rebuilt): {verify:>6.2} s, {:.0} records/s",
        n as f64 / verify
    );
    println!(
        "  memory held at the end: {:.1} MiB (one 32-byte leaf hash per record, kept to check exported records against)",
        held as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  ratio baseline/verify (median of 3): {:.2}",
        baseline / verify
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("AUDIT_LOG_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!("audit log benchmark (transparency log: proofs and verification from tiles)");
    proofs().await?;
    let dir = tempfile::tempdir()?;
    verify_from_tiles(dir.path(), n)
}
