//! The long form of the multi-instance run: three `candor serve` instances on one
//! PostgreSQL behind HAProxy (Debian's package, configured by the bench) under a sustained
//! mixed load (Graph API, portal dashboard, public status page, issue updates through the
//! operator API, each a fan-out to every tenant's webhook); one instance is killed with
//! SIGKILL part way and started again on the same port.
//!
//! Reported per kind of request and per phase (before the kill, the ten seconds after
//! it, the rest): requests, errors seen by the clients, p50/p99/max latency, and the p99
//! against `/healthz` through the same balancer in the same phase; then the deliveries
//! owed, lost, unexpected and repeated. The test `failover` in `tests/api` is the short
//! form of the same run.
//!
//! ```sh
//! CANDOR_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p candor --bench failover
//! ```
//!
//! Settings: `FAILOVER_SECONDS` (120), `FAILOVER_KILL_AT` (40), `FAILOVER_DOWN_FOR` (10),
//! `FAILOVER_READERS` (16), `FAILOVER_POSTS_PER_SECOND` (1), `FAILOVER_TENANTS` (2000).
//! Exits non-zero when a client saw an error or a delivery was lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use candor_app::Core;
use candor_domain::clock::SystemClock;

#[path = "../tests/support/failover.rs"]
mod run;

fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

#[tokio::main]
async fn main() {
    let Some(haproxy) = run::haproxy() else {
        std::process::exit(2);
    };
    let Some(db) = candor_store_tests::harness::PostgresTestDb::create().await else {
        eprintln!("set CANDOR_TEST_POSTGRES_URL to a PostgreSQL server this bench may create databases on");
        std::process::exit(2);
    };
    let settings = run::Settings {
        tenants: setting("FAILOVER_TENANTS", 2000) as usize,
        seconds: setting("FAILOVER_SECONDS", 120),
        kill_at: setting("FAILOVER_KILL_AT", 40),
        down_for: setting("FAILOVER_DOWN_FOR", 10),
        readers: setting("FAILOVER_READERS", 16) as usize,
        posts_per_second: setting("FAILOVER_POSTS_PER_SECOND", 1),
    };
    assert!(
        settings.kill_at + settings.down_for < settings.seconds,
        "the restart must come before the load ends: {settings:?}"
    );
    eprintln!("failover run: {settings:?}");
    let core = Core::new(db.store(), Arc::new(SystemClock)).await.unwrap();
    let outcome = run::run(core, &db.url, &settings, &haproxy).await;
    println!("{}", outcome.report());
    if outcome.errors() > 0 || outcome.lost > 0 || outcome.unexpected > 0 {
        std::process::exit(1);
    }
}
