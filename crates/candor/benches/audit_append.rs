//! Audit append throughput: records/s durably committed through Candor's group commit,
//! against a baseline of raw batched INSERTs of the same rows into the same database,
//! measured in the same run (this machine is shared and noisy, so only the ratio means
//! much). SQLite always; PostgreSQL when CANDOR_TEST_POSTGRES_URL (or the local default)
//! answers.
//!
//!     cargo bench -p candor --bench audit_append            # 200,000 records per run
//!     AUDIT_BENCH_RECORDS=50000 cargo bench -p candor --bench audit_append

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use candor_domain::audit::{ActorKind, AuditChain, AuditRecord, ChainTip, NewAuditRecord};
use candor_domain::store::Store;
use candor_domain::time_util::to_unix_micros;
use candor_domain::{AuditRecordId, TenantId};
use candor_store_tests::harness::{sqlite_store, PostgresTestDb};
use futures::StreamExt;
use serde_json::json;
use sqlx::QueryBuilder;
use time::OffsetDateTime;

const COLS: &str = "chain, seq, id, tenant_id, occurred_at, actor, actor_kind, ip_address, activity, item, details, prev_hash, hash, tree_hashes";
/// Rows per baseline transaction: the most one group commit takes (MAX_GROUP_COMMIT).
const BASELINE_BATCH: usize = 4096;
/// Enough concurrent callers to fill group commits (Little's law: throughput x commit
/// latency): while one group of 4,096 commits, the next 4,096 wait to be gathered, as
/// requests queue on a busy server.
const CONCURRENT_CALLERS: usize = 8192;
/// Runs per store (the median is reported); AUDIT_BENCH_RUNS overrides.
const RUNS: usize = 5;
const CHAINS: usize = 100;

fn new_record(i: usize, tenants: &[TenantId]) -> NewAuditRecord {
    NewAuditRecord::new(
        AuditChain::Tenant(tenants[i % tenants.len()]),
        OffsetDateTime::now_utc(),
        format!("user{}@tenant{}.example", i % 97, i % tenants.len()),
        ActorKind::TenantUser,
        "UserLoggedIn",
    )
    .ip(Some("203.0.113.7".into()))
    .details(json!({"realm": "tenant"}))
}

/// The same rows, already sealed with their Merkle tree hashes, for the baseline (which
/// does no hashing, chaining, tree or head updates).
fn sealed_rows(n: usize, chain_prefix: &str) -> Vec<AuditRecord> {
    let tenants: Vec<TenantId> = (0..CHAINS).map(|_| TenantId::generate()).collect();
    let mut tips = vec![ChainTip::default(); CHAINS];
    (0..n)
        .map(|i| {
            let mut r = tips[i % CHAINS].seal(new_record(i, &tenants), AuditRecordId::generate());
            r.chain = format!("{chain_prefix}{}", r.chain);
            r
        })
        .collect()
}

fn packed(r: &AuditRecord) -> Vec<u8> {
    r.tree_hashes.iter().flatten().copied().collect()
}

async fn baseline_sqlite(pool: &sqlx::SqlitePool, rows: &[AuditRecord]) -> f64 {
    let started = Instant::now();
    for batch in rows.chunks(BASELINE_BATCH) {
        let mut tx = pool.begin().await.unwrap();
        for chunk in batch.chunks(500) {
            let mut qb: QueryBuilder<sqlx::Sqlite> =
                QueryBuilder::new(format!("INSERT INTO audit_records ({COLS}) "));
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
                    .push_bind(r.hash.as_slice())
                    .push_bind(packed(r));
            });
            qb.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

async fn baseline_postgres(pool: &sqlx::PgPool, rows: &[AuditRecord]) -> f64 {
    let started = Instant::now();
    for batch in rows.chunks(BASELINE_BATCH) {
        let mut tx = pool.begin().await.unwrap();
        for chunk in batch.chunks(1000) {
            let mut qb: QueryBuilder<sqlx::Postgres> =
                QueryBuilder::new(format!("INSERT INTO audit_records ({COLS}) "));
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(&r.chain)
                    .push_bind(r.seq)
                    .push_bind(r.id.0)
                    .push_bind(r.tenant_id.map(|t| t.0))
                    .push_bind(r.occurred_at)
                    .push_bind(&r.actor)
                    .push_bind(r.actor_kind.as_str())
                    .push_bind(&r.ip_address)
                    .push_bind(&r.activity)
                    .push_bind(&r.item)
                    .push_bind(&r.details)
                    .push_bind(r.prev_hash.as_slice())
                    .push_bind(r.hash.as_slice())
                    .push_bind(packed(r));
            });
            qb.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

/// Many concurrent callers, one record each, as sign-ins and API calls arrive.
async fn candor_appends(store: Arc<dyn Store>, n: usize) -> f64 {
    let tenants: Vec<TenantId> = (0..CHAINS).map(|_| TenantId::generate()).collect();
    let records: Vec<NewAuditRecord> = (0..n).map(|i| new_record(i, &tenants)).collect();
    let started = Instant::now();
    futures::stream::iter(records)
        .for_each_concurrent(CONCURRENT_CALLERS, |r| {
            let store = store.clone();
            async move {
                store.append_audit(vec![r]).await.unwrap();
            }
        })
        .await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(backend: &str, n: usize, baseline: Vec<f64>, candor: Vec<f64>) {
    let runs = baseline.len();
    let (b, c) = (median(baseline.clone()), median(candor.clone()));
    // Each Candor run follows its baseline run within a second or two: their ratio is the
    // least disturbed by this shared machine's slow spells, which last longer than that.
    let paired: Vec<f64> = baseline.iter().zip(&candor).map(|(b, c)| c / b).collect();
    println!("{backend}: {n} records per run, {runs} runs, medians");
    println!("  baseline (raw batched INSERT, {BASELINE_BATCH}/tx): {b:>10.0} records/s   runs {baseline:.0?}");
    println!("  candor append_audit ({CONCURRENT_CALLERS} callers): {c:>10.0} records/s   runs {candor:.0?}");
    println!("  ratio candor/baseline: {:.2}", c / b);
    println!(
        "  ratio run by run: median {:.2}   runs {paired:.2?}",
        median(paired.clone())
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::var("AUDIT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    // Quick mode for `cargo test --benches`-style smoke runs.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let runs: usize = std::env::var("AUDIT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
        .max(1);
    println!("audit append benchmark (durable commits: SQLite WAL synchronous=FULL, PostgreSQL fsync on)");
    {
        let db = sqlite_store().await;
        let (mut base, mut cand) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let rows = sealed_rows(n, &format!("baseline{run}-"));
            base.push(baseline_sqlite(db.store.pool(), &rows).await);
            cand.push(candor_appends(db.store.clone(), n).await);
        }
        report("SQLite", n, base, cand);
    }
    match PostgresTestDb::create().await {
        Some(db) => {
            let (mut base, mut cand) = (Vec::new(), Vec::new());
            let n = n / 2;
            for run in 0..runs {
                let rows = sealed_rows(n, &format!("baseline{run}-"));
                base.push(baseline_postgres(db.store.pool(), &rows).await);
                cand.push(candor_appends(db.store.clone(), n).await);
            }
            report("PostgreSQL", n, base, cand);
        }
        None => println!("PostgreSQL: skipped (no server)"),
    }
}
