//! Service health benchmarks (release build):
//!
//! * `graph`: authenticated `GET /v1.0/admin/serviceAnnouncement/issues` throughput in a
//!   100,000-tenant world, against a bare axum server returning the same bytes, measured
//!   in the same run with the same client (only the ratio is comparable across runs).
//! * `affected`: who a region-wide incident affects in a 1,000,000-tenant world: the pure
//!   targeting function over every placement in memory, the store's impact preview, the
//!   same preview from the placement index Candor keeps in memory, and declaring the
//!   incident (which stores the affected set), with their time and memory. SQLite, or
//!   PostgreSQL with `AFFECTED_BENCH_STORE=postgres` (and `CANDOR_TEST_POSTGRES_URL`).
//!
//! Run with:
//!
//! ```sh
//! cargo bench -p candor --bench service_health   # both
//! HEALTH_BENCH=graph cargo bench -p candor --bench service_health
//! HEALTH_BENCH=affected AFFECTED_BENCH_STORE=postgres cargo bench -p candor --bench service_health
//! GRAPH_BENCH_TENANTS=100000 GRAPH_BENCH_SECONDS=5 AFFECTED_BENCH_TENANTS=1000000
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candor_app::health::{self as health, NewIssueInput, PostInput, UpdateInput};
use candor_app::{identity, topology, topology_file, Core};
use candor_domain::clock::SystemClock;
use candor_domain::health::{affected_tenants, scope_components, Scope, ServiceId, TopologyIndex};
use candor_domain::identity::{Actor, RegionCode};
use candor_domain::store::Store;
use candor_web::WebConfig;

const REGIONS: [(&str, &str, &str, &str); 3] = [
    ("eu-west", "Europe West", "nl", "Europe/Amsterdam"),
    ("us-east", "US East", "en", "America/New_York"),
    ("apac-east", "Asia Pacific East", "ko", "Asia/Seoul"),
];
const SCALE_UNITS: usize = 20;
const DATABASES: usize = 50;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same world as `scripts/gen_topology.py`: tenants in three regions, each on one
/// mailbox database and one SharePoint farm.
fn topology_csv(tenants: usize) -> (String, Vec<uuid::Uuid>) {
    let mut out = String::with_capacity(tenants * 220);
    out.push_str("kind,id,name,parent,services,language,time_zone\n");
    out.push_str("service,Exchange,Exchange Online,EX,,,\n");
    out.push_str("feature,Exchange,Sign-in,E-Mail and calendar access,,,\n");
    out.push_str("service,SharePoint,SharePoint Online,SP,,,\n");
    for (code, name, _, _) in REGIONS {
        let _ = writeln!(out, "region,{code},{name},,,,");
        for s in 0..SCALE_UNITS {
            let _ = writeln!(out, "scale_unit,{code}-su{s},,{code},,,");
            for d in 0..DATABASES {
                let _ = writeln!(
                    out,
                    "component,{code}-su{s}-mbx{d},,{code}-su{s},Exchange,,"
                );
            }
            let _ = writeln!(out, "component,{code}-su{s}-spo,,{code}-su{s},SharePoint,,");
        }
    }
    let mut ids = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let (code, _, lang, tz) = REGIONS[i % 3];
        let s = (i / 3) % SCALE_UNITS;
        let d = (i / (3 * SCALE_UNITS)) % DATABASES;
        let id = uuid::Uuid::from_u128(0x1234_5678_1234_5678_1234_5678_0000_0000 + i as u128);
        ids.push(id);
        let _ = writeln!(out, "tenant,{id},Tenant {i:07},{code},,{lang},{tz}");
        let _ = writeln!(out, "placement,{id},,{code}-su{s}-mbx{d},,,");
        let _ = writeln!(out, "placement,{id},,{code}-su{s}-spo,,,");
    }
    (out, ids)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn world(tenants: usize) -> (Arc<Core>, tempfile::TempDir, String, Vec<uuid::Uuid>) {
    let dir = tempfile::tempdir().unwrap();
    let store = candor_store_sqlite::SqliteStore::open(&dir.path().join("candor.db"))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let (core, csv, ids) = world_on(store, tenants).await;
    (core, dir, csv, ids)
}

/// The world of `tenants` tenants imported into `store`.
async fn world_on(store: Arc<dyn Store>, tenants: usize) -> (Arc<Core>, String, Vec<uuid::Uuid>) {
    let core = Arc::new(Core::new(store, Arc::new(SystemClock)).await.unwrap());
    let started = Instant::now();
    let (csv, ids) = topology_csv(tenants);
    topology::import_file(
        &core,
        &Actor::System,
        None,
        "world.csv",
        &csv,
        false,
        |_| {},
    )
    .await
    .unwrap();
    eprintln!(
        "  world: {tenants} tenants, {} placements, imported in {:.1} s",
        tenants * 2,
        started.elapsed().as_secs_f64()
    );
    (core, csv, ids)
}

fn region_scope(code: &str) -> Scope {
    Scope {
        regions: [RegionCode::parse(code).unwrap()].into_iter().collect(),
        ..Default::default()
    }
}

fn incident(title: &str, scope: Scope) -> NewIssueInput {
    NewIssueInput {
        service: "Exchange".into(),
        classification: candor_domain::health::Classification::Incident,
        feature: Some("Sign-in".into()),
        feature_group: Some("E-Mail and calendar access".into()),
        title: title.into(),
        impact_description: "Users may be unable to open their mailboxes.".into(),
        scope,
        post: PostInput {
            body_html:
                "<p>We're investigating reports of users unable to open their mailboxes.</p>".into(),
            translations: [(
                candor_domain::language::Language::Dutch,
                "<p>We onderzoeken meldingen.</p>".to_owned(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Requests per second from `clients` concurrent keep-alive connections for `seconds`.
async fn load(url: &str, token: &str, clients: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder().build().unwrap();
        let url = url.to_owned();
        let auth = format!("Bearer {token}");
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let res = client
                    .get(&url)
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{url}");
                let _ = res.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn graph_bench() {
    let tenants = env_usize("GRAPH_BENCH_TENANTS", 100_000);
    let seconds = env_usize("GRAPH_BENCH_SECONDS", 5) as u64;
    let clients = env_usize("GRAPH_BENCH_CLIENTS", 16);
    println!("Graph issues throughput ({tenants} tenants, {clients} clients, {seconds} s per measurement)");
    let (core, _dir, _, ids) = world(tenants).await;
    let system = Actor::System;
    // Ten issues reach the first tenant: region-wide, per scale unit and per database,
    // each with three posts; five more elsewhere.
    let mut scopes = Vec::new();
    for i in 0..10 {
        scopes.push(match i % 3 {
            0 => region_scope("eu-west"),
            1 => Scope {
                scale_units: [candor_domain::health::ScaleUnitId::parse("eu-west-su0").unwrap()]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            _ => Scope {
                components: [
                    candor_domain::health::ComponentId::parse("eu-west-su0-mbx0").unwrap(),
                ]
                .into_iter()
                .collect(),
                ..Default::default()
            },
        });
    }
    for _ in 0..5 {
        scopes.push(region_scope("us-east"));
    }
    let started = Instant::now();
    for (i, scope) in scopes.into_iter().enumerate() {
        let (issue, _) = health::create_issue(
            &core,
            &system,
            None,
            incident(&format!("Mailbox access issue {i}"), scope),
        )
        .await
        .unwrap();
        for status in [
            candor_domain::health::Status::ServiceDegradation,
            candor_domain::health::Status::RestoringService,
        ] {
            health::update_issue(
                &core,
                &system,
                None,
                issue.id.clone(),
                UpdateInput {
                    status: Some(status),
                    post: Some(PostInput {
                        body_html: "<p>We've identified the cause and are rerouting traffic.</p>"
                            .into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    }
    eprintln!(
        "  15 issues declared in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tenant = candor_domain::TenantId(ids[0]);
    let issued = identity::create_api_client(
        &core,
        &system,
        None,
        tenant,
        "Bench dashboard",
        &["ServiceHealth.Read.All".to_owned()],
    )
    .await
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = WebConfig {
        public_url: base.clone(),
        graph_requests_per_minute: u32::MAX,
        graph_requests_per_hour: u32::MAX,
        ..WebConfig::default()
    };
    let (router, _) = candor_web::app(core.clone(), config).unwrap();
    tokio::spawn(async move {
        let _ = candor_web::serve(listener, router, std::future::pending()).await;
    });
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &issued.client.id.to_string()),
            ("client_secret", &issued.secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let url = format!("{base}/v1.0/admin/serviceAnnouncement/issues");
    let body = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let count = parsed["value"].as_array().map_or(0, Vec::len);
    assert_eq!(count, 10, "the first tenant sees its ten issues");
    eprintln!("  response: {count} issues, {} bytes", body.len());

    // The baseline: a bare axum server answering the same path with the same bytes.
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare = format!(
        "http://{}/v1.0/admin/serviceAnnouncement/issues",
        bare_listener.local_addr().unwrap()
    );
    let bytes = body.clone();
    let bare_router = axum::Router::new().route(
        "/v1.0/admin/serviceAnnouncement/issues",
        axum::routing::get(move || {
            let bytes = bytes.clone();
            async move { ([("content-type", "application/json")], bytes) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(bare_listener, bare_router).await;
    });

    let mut ratios = Vec::new();
    for round in 1..=3 {
        let baseline = load(&bare, &token, clients, seconds).await;
        let candor = load(&url, &token, clients, seconds).await;
        let ratio = candor / baseline;
        println!(
            "  round {round}: bare axum {baseline:>9.0} req/s   Candor {candor:>9.0} req/s   ratio {ratio:.2}"
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("  median ratio {:.2} (aim >= 0.5)", ratios[1]);
}

async fn affected_bench() {
    let tenants = env_usize("AFFECTED_BENCH_TENANTS", 1_000_000);
    println!("Affected tenants of a region-wide incident ({tenants} tenants)");
    let rss_start = rss_mib();
    let on_postgres = std::env::var("AFFECTED_BENCH_STORE").is_ok_and(|s| s == "postgres");
    let mut _keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let (core, csv) = if on_postgres {
        let db = candor_store_tests::harness::PostgresTestDb::create()
            .await
            .expect("AFFECTED_BENCH_STORE=postgres needs CANDOR_TEST_POSTGRES_URL");
        let (core, csv, _) = world_on(db.store(), tenants).await;
        _keep.push(Box::new(db));
        (core, csv)
    } else {
        let (core, dir, csv, _) = world(tenants).await;
        _keep.push(Box::new(dir));
        (core, csv)
    };
    println!(
        "  store: {}",
        if on_postgres { "PostgreSQL" } else { "SQLite" }
    );
    // The pure targeting function, over every placement held in memory.
    let changes = topology_file::parse("world.csv", &csv, |_| {}).unwrap();
    drop(csv);
    let regions: Vec<RegionCode> = changes.regions.iter().map(|r| r.code.clone()).collect();
    let index = TopologyIndex::new(&regions, &changes.scale_units, &changes.components);
    let exchange = ServiceId::parse("Exchange").unwrap();
    let scope = region_scope("eu-west");
    let before = rss_mib();
    let started = Instant::now();
    let affected = affected_tenants(&scope, &exchange, &index, &changes.placements);
    let pure = started.elapsed();
    let pure_rss = rss_mib() - before;
    println!(
        "  in memory: {} of {} placements scanned, {} tenants affected in {:.0} ms (+{:.0} MiB for the set; {:.0} MiB for the placements)",
        changes.placements.len(),
        changes.placements.len(),
        affected.len(),
        pure.as_secs_f64() * 1000.0,
        pure_rss,
        before - rss_start
    );
    drop(changes);

    // What Candor does: the preview the operator sees, then declaring the incident,
    // which computes and stores the affected set in the database.
    let covered: Vec<_> = scope_components(&scope, &exchange, &index)
        .into_iter()
        .collect();
    let started = Instant::now();
    let preview = core.store.preview_impact(&covered, &[], 200).await.unwrap();
    let from_store = started.elapsed();
    println!(
        "  impact preview (store): {} tenants counted per region in {:.0} ms",
        preview.total,
        from_store.as_secs_f64() * 1000.0
    );
    // The same preview from the placement index in memory, as `candor serve` keeps it.
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let before = rss_mib();
    let started = Instant::now();
    tokio::spawn(core.clone().hear_announcements(stop.clone()));
    tokio::spawn(core.clone().keep_placement_index(stop.clone()));
    while core.placements.get().is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "  placement index built (at start, and after a topology change) in {:.1} s, +{:.0} MiB RSS",
        started.elapsed().as_secs_f64(),
        rss_mib() - before
    );
    let mut runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let indexed = candor_app::placements::preview(&core, &covered, &[], 200)
            .await
            .unwrap();
        runs.push(started.elapsed());
        assert_eq!(indexed.total, preview.total);
        assert_eq!(indexed.by_region, preview.by_region);
        assert_eq!(indexed.tenants.len(), preview.tenants.len());
    }
    runs.sort();
    println!(
        "  impact preview (index): {} tenants in {:.0} ms (median of 5; {:.3} of the store's time; aim < 200 ms)",
        preview.total,
        runs[2].as_secs_f64() * 1000.0,
        runs[2].as_secs_f64() / from_store.as_secs_f64()
    );
    let before = rss_mib();
    let started = Instant::now();
    let (_, stored) = health::create_issue(
        &core,
        &Actor::System,
        None,
        incident("Region-wide mailbox outage", scope),
    )
    .await
    .unwrap();
    println!(
        "  declare the incident (store, affected set written): {stored} tenants in {:.0} ms (+{:.0} MiB RSS)",
        started.elapsed().as_secs_f64() * 1000.0,
        rss_mib() - before
    );
    assert_eq!(stored as usize, affected.len());
    assert_eq!(preview.total as usize, affected.len());
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let which = std::env::var("HEALTH_BENCH").unwrap_or_else(|_| "all".into());
    if which == "all" || which == "graph" {
        graph_bench().await;
    }
    if which == "all" || which == "affected" {
        affected_bench().await;
    }
}
