//! A delivery worker killed in the middle of a fan-out loses nothing and sends nothing
//! twice that the receiver cannot tell apart: `candor serve` runs as a real process, is
//! killed with SIGKILL twice (once early, while the fan-out may still be queueing, once
//! halfway through the deliveries), and after the last restart the receiver holds every
//! expected delivery id. Repeats are possible only for what was in flight at a kill, and
//! they carry the same id.

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candor_app::health::{self as health, NewIssueInput, PostInput};
use candor_app::Core;
use candor_delivery::webhook::DELIVERY_HEADER;
use candor_domain::clock::SystemClock;
use candor_domain::health::{delivery_id, delivery_key, Channel};
use candor_domain::identity::{Actor, RegionCode};
use candor_domain::store::Store;

use crate::common::Backend;

const TENANTS: usize = 600;

/// A receiver that takes its time (so the kill lands mid-way) and records every
/// delivery id it is given, repeats included. It answers one request at a time, 4 ms
/// each, after 40 ms of latency: about 250 a second however many the worker sends at
/// once, so the kills land part way through however fast the worker is.
pub(crate) async fn slow_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    paced_receiver(Duration::from_millis(4)).await
}

/// As `slow_receiver`, taking `each` per request (one at a time, after 40 ms of latency).
pub(crate) async fn paced_receiver(each: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let store = seen.clone();
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let store = store.clone();
            let gate = gate.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(40)).await;
                let _one_at_a_time = gate.lock().await;
                tokio::time::sleep(each).await;
                let id = headers
                    .get(DELIVERY_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                store.lock().unwrap().push(id);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

pub(crate) use crate::failover::run::tenants_with_webhooks;

/// The incident that reaches every tenant of `tenants_with_webhooks`'s world: all of
/// eu-west.
pub(crate) fn region_incident() -> NewIssueInput {
    NewIssueInput {
        service: "Exchange".into(),
        classification: candor_domain::health::Classification::Incident,
        title: "Mail delays across Europe West".into(),
        impact_description: "Mail may arrive late.".into(),
        scope: candor_domain::health::Scope {
            regions: [RegionCode::parse("eu-west").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        },
        post: PostInput {
            body_html: "<p>We're investigating.</p>".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Tenants on ten mailbox databases, each with a webhook endpoint; one region-wide
/// incident reaching them all. Returns the ids its deliveries must carry.
async fn world(store: Arc<dyn Store>, hook: &str) -> BTreeSet<String> {
    let core = Core::new(store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let endpoints = tenants_with_webhooks(&core, TENANTS, hook).await.1;
    let (issue, _) = health::create_issue(&core, &Actor::System, None, region_incident())
        .await
        .unwrap();
    let change = format!("issue:{}:post:1", issue.id);
    endpoints
        .iter()
        .map(|e| delivery_id(&delivery_key(&change, &e.to_string(), Channel::Webhook)))
        .collect()
}

fn serve(args: &[String], log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("serve")
        .args(args)
        .env("CANDOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

pub(crate) async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn a_killed_server_loses_no_delivery_and_repeats_only_ids(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (hook, seen) = slow_receiver().await;
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--allow-private-webhooks",
        "--lease-seconds",
        "15",
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(dir.path().display().to_string());
    let mut _pg = None;
    let expected = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("candor.db");
            let store = Arc::new(candor_store_sqlite::SqliteStore::open(&path).await.unwrap());
            let expected = world(store.clone(), &hook).await;
            store.close().await;
            expected
        }
        Backend::Postgres => {
            let Some(db) = candor_store_tests::harness::PostgresTestDb::create().await else {
                return;
            };
            let expected = world(db.store(), &hook).await;
            args.push("--database-url".into());
            args.push(db.url.clone());
            _pg = Some(db);
            expected
        }
    };
    assert_eq!(expected.len(), TENANTS);
    let log = dir.path().join("serve.log");

    // First kill: soon after the start, while the fan-out may be queueing.
    let mut first = serve(&args, &log);
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let at_first_kill = seen.lock().unwrap().len();

    // Second kill: part way through the deliveries.
    let mut second = serve(&args, &log);
    let target = at_first_kill + TENANTS / 4;
    wait_for(
        "deliveries after the first restart",
        Duration::from_secs(60),
        || seen.lock().unwrap().len() >= target.min(TENANTS - 1),
    )
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let at_second_kill = seen.lock().unwrap().len();

    // The last run finishes the work.
    let mut last = serve(&args, &log);
    wait_for(
        "every delivery after the last restart",
        Duration::from_secs(120),
        || seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len() >= TENANTS,
    )
    .await;
    // A little longer, to catch anything sent after the last one expected.
    tokio::time::sleep(Duration::from_millis(500)).await;
    last.kill().unwrap();
    last.wait().unwrap();

    let got = seen.lock().unwrap().clone();
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    let mut repeats: HashMap<&String, usize> = HashMap::new();
    for id in &got {
        *repeats.entry(id).or_default() += 1;
    }
    let repeated = repeats.values().filter(|n| **n > 1).count();
    eprintln!(
        "{backend:?}: {} deliveries expected; received {} ({} distinct) with kills after {at_first_kill} and {at_second_kill}; {repeated} ids came twice",
        expected.len(),
        got.len(),
        distinct.len()
    );
    assert!(
        at_second_kill < TENANTS,
        "the second kill must land before the end, or this proves nothing"
    );
    assert_eq!(distinct, expected, "every delivery, and nothing else");
    assert!(
        repeated
            <= 2 * candor::deliveries::DeliverySettings::default()
                .lanes
                .webhook
                .concurrency,
        "only deliveries in flight at a kill may come again ({repeated})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_server_loses_no_delivery_and_repeats_only_ids() {
    a_killed_server_loses_no_delivery_and_repeats_only_ids(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_server_loses_no_delivery_and_repeats_only_ids() {
    a_killed_server_loses_no_delivery_and_repeats_only_ids(Backend::Postgres).await;
}
