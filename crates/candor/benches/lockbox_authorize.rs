//! `POST /api/v1/lockbox/authorize` under load (SQLite, release build): decisions per
//! second and latency percentiles with 10,000 active grants, against a bare axum server
//! answering the same JSON, measured in the same run with the same client. Only the
//! ratio is comparable across runs (the machine is shared).
//!
//! ```sh
//! cargo bench -p candor --bench lockbox_authorize
//! LOCKBOX_BENCH_GRANTS=10000 LOCKBOX_BENCH_SECONDS=5 LOCKBOX_BENCH_CLIENTS=16
//! LOCKBOX_BENCH_STORE=postgres   # the multi-instance store: its grant cache is on
//!                                 # while it hears announcements and reads the Lockbox
//!                                 # generation, as `serve` does
//! LOCKBOX_BENCH_CACHE=off         # with PostgreSQL: neither, so every decision reads
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use candor_app::{identity, Core};
use candor_domain::clock::SystemClock;
use candor_domain::identity::Actor;
use candor_domain::lockbox::{LockboxRequest, LockboxRequestId, LockboxStatus, Workload};
use candor_domain::store::Store;
use candor_domain::OperatorId;
use candor_web::WebConfig;
use rand::{Rng, SeedableRng};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the load sees: requests per second and latency percentiles (microseconds).
struct Measured {
    per_second: f64,
    p50: u64,
    p99: u64,
    max: u64,
}

/// `clients` concurrent keep-alive connections POSTing for `seconds`; each request body
/// is drawn from `bodies`.
async fn load(
    url: &str,
    token: &str,
    bodies: Arc<Vec<String>>,
    clients: usize,
    seconds: u64,
) -> Measured {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder().build().unwrap();
        let url = url.to_owned();
        let auth = format!("Bearer {token}");
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            let mut rng = rand::rngs::StdRng::from_entropy();
            while Instant::now() < deadline {
                let body = bodies[rng.gen_range(0..bodies.len())].clone();
                let started = Instant::now();
                let res = client
                    .post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{url}");
                let bytes = res.bytes().await.unwrap();
                latencies.push(started.elapsed().as_micros() as u64);
                assert!(bytes.starts_with(b"{\"decision\":\"allow\""));
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Measured {
        per_second: all.len() as f64 / elapsed,
        p50: at(0.50),
        p99: at(0.99),
        max: *all.last().unwrap_or(&0),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let grants = env_usize("LOCKBOX_BENCH_GRANTS", 10_000);
    let seconds = env_usize("LOCKBOX_BENCH_SECONDS", 5) as u64;
    let clients = env_usize("LOCKBOX_BENCH_CLIENTS", 16);
    let tenants = 100.min(grants.max(1));
    let engineers = grants.div_ceil(tenants);
    println!(
        "Lockbox authorize ({grants} active grants: {engineers} engineers x {tenants} tenants; {clients} clients, {seconds} s per measurement)"
    );

    // SQLite by default (the grant cache is on); LOCKBOX_BENCH_STORE=postgres for a fresh
    // database on CANDOR_TEST_POSTGRES_URL's server (no cache: a read per decision).
    let dir = tempfile::tempdir().unwrap();
    let mut _pg_guard = None;
    let store: Arc<dyn Store> = if std::env::var("LOCKBOX_BENCH_STORE").as_deref() == Ok("postgres")
    {
        let db = candor_store_tests::harness::PostgresTestDb::create()
            .await
            .expect("a PostgreSQL server (CANDOR_TEST_POSTGRES_URL)");
        let store = db.store();
        _pg_guard = Some(db);
        store
    } else {
        Arc::new(
            candor_store_sqlite::SqliteStore::open(&dir.path().join("candor.db"))
                .await
                .unwrap(),
        )
    };
    println!("  store: {}", store.backend());
    let core = Arc::new(Core::new(store, Arc::new(SystemClock)).await.unwrap());
    // As `serve` does: hear the other instances and read the Lockbox generation, which
    // is what lets an instance among several keep grants in memory.
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    if std::env::var("LOCKBOX_BENCH_CACHE").as_deref() != Ok("off") {
        tokio::spawn(core.clone().hear_announcements(stop.clone()));
        tokio::spawn(core.clone().watch_grants(stop.clone()));
        let waiting = Instant::now();
        while !core.grants.enabled() && waiting.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "  grant cache: {}",
        if core.grants.enabled() { "on" } else { "off" }
    );
    let system = Actor::System;
    let started = Instant::now();
    core.store
        .put_workload(
            &Workload {
                name: "Exchange Online".into(),
                operations: vec!["Get-Mailbox".into(), "Export-MailboxDiagnosticLogs".into()],
            },
            vec![],
        )
        .await
        .unwrap();
    let mut tenant_ids = Vec::new();
    for i in 0..tenants {
        let t = identity::create_tenant(
            &core,
            &system,
            None,
            identity::TenantInput {
                name: format!("Tenant {i:04}"),
                home_region: "eu-west".into(),
                default_language: candor_domain::language::Language::English,
                time_zone: "Europe/Amsterdam".into(),
                is_demo: false,
            },
        )
        .await
        .unwrap();
        tenant_ids.push(t.id);
    }
    // Active grants as the state machine leaves them (filed, approved internally with
    // Lockbox off): written straight to the store, since only reading them is measured.
    let now = core.clock.now();
    // Grants work only for engineers who exist and are enabled.
    let mut engineer_ids: Vec<OperatorId> = Vec::with_capacity(engineers);
    for n in 0..engineers {
        let id = OperatorId::generate();
        core.store
            .create_operator(
                id,
                candor_domain::identity::NewOperator {
                    email: candor_domain::identity::EmailAddress::parse(&format!(
                        "engineer{n}@provider.example"
                    ))
                    .unwrap(),
                    display_name: candor_domain::identity::DisplayName::parse(&format!(
                        "Engineer {n}"
                    ))
                    .unwrap(),
                    password_hash: "not-used-by-the-bench".into(),
                    roles: [candor_domain::identity::OperatorRole::SupportEngineer]
                        .into_iter()
                        .collect(),
                },
                now,
                candor_domain::audit::NewAuditRecord::new(
                    candor_domain::audit::AuditChain::Operator,
                    now,
                    "system",
                    candor_domain::audit::ActorKind::System,
                    "Add-Operator",
                ),
            )
            .await
            .unwrap();
        engineer_ids.push(id);
    }
    let mut bodies = Vec::new();
    let mut made = 0;
    'outer: for engineer in &engineer_ids {
        for tenant in &tenant_ids {
            if made == grants {
                break 'outer;
            }
            let request = LockboxRequest {
                id: LockboxRequestId::generate(),
                tenant: *tenant,
                workload: "Exchange Online".into(),
                operations: ["Get-Mailbox".to_owned()].into_iter().collect(),
                service_request: format!("SR-{made}"),
                justification: "Benchmark grant for a mailbox problem.".into(),
                duration: time::Duration::hours(4),
                requester: *engineer,
                requester_name: format!("engineer{made}"),
                created_at: now,
                needs_customer: false,
                status: LockboxStatus::AwaitingInternalApproval,
                internal_decision: None,
                pending_since: None,
                customer_decision: None,
                access_start: None,
                access_end: None,
                ended: None,
            };
            let approved = request
                .apply(
                    &candor_domain::lockbox::LockboxEvent::ApproveInternally {
                        by: OperatorId::generate(),
                        name: "manager".into(),
                    },
                    now,
                )
                .unwrap();
            core.store
                .create_lockbox_request(&approved, vec![], vec![])
                .await
                .unwrap();
            bodies.push(
                serde_json::json!({
                    "operator": engineer.to_string(),
                    "tenantId": tenant.to_string(),
                    "workload": "Exchange Online",
                    "operation": "Get-Mailbox",
                })
                .to_string(),
            );
            made += 1;
        }
    }
    eprintln!(
        "  {made} grants in {} tenants stored in {:.1} s",
        tenants,
        started.elapsed().as_secs_f64()
    );
    let (client, secret) = identity::create_operator_client(
        &core,
        &system,
        None,
        "Bench mailbox service",
        &["DataPlaneService".to_owned()],
    )
    .await
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = WebConfig {
        public_url: base.clone(),
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
            ("client_id", &client.id.to_string()),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let url = format!("{base}/api/v1/lockbox/authorize");
    let sample = http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(bodies[0].clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&sample).unwrap();
    assert_eq!(answer["decision"], "allow", "{answer}");

    // The baseline: bare axum answering the same bytes to the same POST.
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/authorize", bare_listener.local_addr().unwrap());
    let fixed = sample.clone();
    let bare = axum::Router::new().route(
        "/authorize",
        post(move |_body: axum::body::Bytes| {
            let fixed = fixed.clone();
            async move { ([("content-type", "application/json")], fixed) }
        }),
    );
    tokio::spawn(async move {
        axum::serve(bare_listener, bare).await.unwrap();
    });

    let bodies = Arc::new(bodies);
    // Warm both up, then measure alternately so noise hits both alike.
    let _ = load(&url, &token, bodies.clone(), clients, 1).await;
    let _ = load(&bare_url, &token, bodies.clone(), clients, 1).await;
    for round in 1..=2 {
        let candor = load(&url, &token, bodies.clone(), clients, seconds).await;
        let baseline = load(&bare_url, &token, bodies.clone(), clients, seconds).await;
        println!(
            "  round {round}: candor {:>7.0} decisions/s (p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms) | bare axum {:>7.0}/s (p50 {:.2} ms, p99 {:.2} ms) | ratio {:.2}",
            candor.per_second,
            candor.p50 as f64 / 1000.0,
            candor.p99 as f64 / 1000.0,
            candor.max as f64 / 1000.0,
            baseline.per_second,
            baseline.p50 as f64 / 1000.0,
            baseline.p99 as f64 / 1000.0,
            candor.per_second / baseline.per_second,
        );
    }
    // Latency without queueing: one client at a time.
    let candor = load(&url, &token, bodies.clone(), 1, seconds).await;
    let baseline = load(&bare_url, &token, bodies.clone(), 1, seconds).await;
    println!(
        "  one client: candor p50 {:.2} ms, p99 {:.2} ms ({:.0}/s) | bare axum p50 {:.2} ms, p99 {:.2} ms ({:.0}/s)",
        candor.p50 as f64 / 1000.0,
        candor.p99 as f64 / 1000.0,
        candor.per_second,
        baseline.p50 as f64 / 1000.0,
        baseline.p99 as f64 / 1000.0,
        baseline.per_second,
    );
}
