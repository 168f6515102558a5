//! The short form of the multi-instance run (`benches/failover.rs` is the long one):
//! three `candor serve` instances on one PostgreSQL behind HAProxy under mixed load, one
//! killed with SIGKILL part way and started again. Clients see no error (HAProxy retries
//! reads and keyed writes on another instance; a keyed write the killed instance had
//! claimed is answered 409 "retry shortly" and succeeds when retried), no delivery is
//! lost, and what comes twice comes with the same id.

use std::sync::Arc;

use candor_app::Core;
use candor_domain::clock::SystemClock;

#[path = "../support/failover.rs"]
pub(crate) mod run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_haproxy_lose_nothing_when_one_is_killed() {
    let Some(haproxy) = run::haproxy() else {
        return;
    };
    let Some(db) = candor_store_tests::harness::PostgresTestDb::create().await else {
        return;
    };
    let core = Core::new(db.store(), Arc::new(SystemClock)).await.unwrap();
    let settings = run::Settings {
        tenants: 200,
        seconds: 16,
        kill_at: 4,
        down_for: 2,
        readers: 4,
        posts_per_second: 2,
    };
    let outcome = run::run(core, &db.url, &settings, &haproxy).await;
    eprintln!("{}", outcome.report());

    assert_eq!(
        outcome.errors(),
        0,
        "clients saw errors:\n{}",
        outcome.report()
    );
    assert_eq!(outcome.lost, 0, "deliveries lost");
    assert_eq!(outcome.unexpected, 0, "deliveries nobody owed");
    assert!(
        outcome.posts >= 5,
        "the writer posted all along: {}",
        outcome.posts
    );
    assert_eq!(
        outcome.per_instance.len(),
        3,
        "all three instances served: {:?}",
        outcome.per_instance
    );
    assert!(
        outcome.restarted_served > 0,
        "the restarted instance is back in the balancer's rotation"
    );
    // A delivery is sent again only if the killed instance had it in flight: at most
    // its webhook lanes' worth, each at most once more.
    let lanes = candor::deliveries::DeliverySettings::default()
        .lanes
        .webhook
        .concurrency;
    assert!(
        outcome.repeated <= lanes && outcome.most_repeats <= 2,
        "{} ids repeated, one {} times (lanes: {lanes})",
        outcome.repeated,
        outcome.most_repeats
    );
}
