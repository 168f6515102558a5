//! Statuspage's `GET /api/v2/summary.json` served by Candor (issue 18), against a bare
//! axum server returning the same bytes, measured in the same run with the same client
//! (only the ratio is comparable across runs). The page has 100 services and 90 days of
//! history: 180 broad issues spread over the days (each resolved a few hours later),
//! five of them still active, and two planned maintenances.
//!
//!     cargo bench -p candor --bench statuspage
//!     STATUSPAGE_BENCH_SECONDS=5 STATUSPAGE_BENCH_CLIENTS=16 cargo bench -p candor --bench statuspage

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use candor_app::health::{NewIssueInput, PostInput, UpdateInput};
use candor_app::Core;
use candor_domain::clock::{Clock, ManualClock};
use candor_domain::health::{
    Component, ComponentId, IssuePrefix, Region, ScaleUnit, ScaleUnitId, Scope, Service, ServiceId,
    Status, TopologyChanges,
};
use candor_domain::identity::{Actor, OperatorRole, RegionCode};
use candor_web::WebConfig;
use time::Duration;

const SERVICES: usize = 100;
const DAYS: i64 = 90;
const ISSUES_PER_DAY: usize = 2;

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn prefix(n: usize) -> String {
    let a = (b'A' + (n / 26) as u8) as char;
    let b = (b'A' + (n % 26) as u8) as char;
    format!("{a}{b}")
}

async fn world(core: &Core, clock: &ManualClock) -> anyhow::Result<()> {
    let region = RegionCode::parse("eu-west")?;
    let su = ScaleUnitId::parse("eu-west-su1")?;
    let services: Vec<Service> = (0..SERVICES)
        .map(|n| {
            Ok(Service {
                id: ServiceId::parse(&format!("Service{n:03}"))?,
                display_name: format!("Service {n:03}"),
                issue_prefix: IssuePrefix::parse(&prefix(n))?,
                features: Vec::new(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let components = services
        .iter()
        .map(|s| {
            Ok(Component {
                id: ComponentId::parse(&format!("eu-west-su1-{}", s.id.as_str().to_lowercase()))?,
                scale_unit: su.clone(),
                services: [s.id.clone()].into_iter().collect(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    candor_app::topology::apply(
        core,
        &Actor::System,
        None,
        &TopologyChanges {
            tenants: vec![],
            services: services.clone(),
            regions: vec![Region {
                code: region.clone(),
                display_name: "Europe West".into(),
            }],
            scale_units: vec![ScaleUnit {
                id: su,
                region: region.clone(),
            }],
            components,
            placements: vec![],
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let manager = candor_app::identity::create_operator(
        core,
        &Actor::System,
        None,
        candor_app::identity::OperatorInput {
            email: "im@provider.example".into(),
            display_name: "Incident Manager".into(),
            password: "a long bench password 1".into(),
            roles: [OperatorRole::IncidentManager].into_iter().collect(),
            break_glass: false,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let actor = Actor::Operator {
        operator_id: manager.id,
        email: manager.email.to_string(),
        roles: [OperatorRole::IncidentManager].into_iter().collect(),
    };
    let now = clock.now();
    let total = DAYS as usize * ISSUES_PER_DAY;
    for n in 0..total {
        // Spread over the 90 days, a few hours each; the last five still active.
        clock.set(
            now - Duration::days(DAYS) + Duration::hours(n as i64 * 24 / ISSUES_PER_DAY as i64),
        );
        let service = &services[(n * 7) % SERVICES];
        let input = NewIssueInput {
            service: service.id.to_string(),
            title: format!("Requests to {} fail", service.display_name),
            impact_description: "Some requests fail.".into(),
            status: Some(Status::ServiceDegradation),
            scope: Scope {
                regions: [region.clone()].into_iter().collect(),
                ..Default::default()
            },
            post: PostInput {
                body_html: "<p>We are looking into it.</p>".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let (issue, _) = candor_app::health::create_issue(core, &actor, None, input)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if n + 5 < total {
            clock.advance(Duration::hours(3));
            candor_app::health::update_issue(
                core,
                &actor,
                None,
                issue.id,
                UpdateInput {
                    status: Some(Status::ServiceRestored),
                    post: Some(PostInput {
                        body_html: "<p>Fixed.</p>".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    clock.set(now);
    for (n, hours) in [(1, 2), (2, 30)] {
        candor_app::maintenance::schedule(
            core,
            &actor,
            None,
            candor_app::maintenance::NewMaintenanceInput {
                services: vec![services[n].id.to_string()],
                scope: Scope::default(),
                text: [(
                    candor_domain::language::Language::English,
                    (
                        "Database upgrade".to_owned(),
                        "Requests may be slow.".to_owned(),
                    ),
                )]
                .into(),
                start: now + Duration::hours(hours),
                end: now + Duration::hours(hours + 2),
                impact: candor_domain::health::maintenance::ExpectedImpact::Degraded,
                reminder_minutes: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// Requests per second from `clients` concurrent keep-alive connections for `seconds`.
async fn load(url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + StdDuration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder().build()?;
        let url = url.to_owned();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let res = client.get(&url).send().await?;
                anyhow::ensure!(res.status() == 200, "{url}: {}", res.status());
                let _ = res.bytes().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(());
    }
    let seconds = env_u64("STATUSPAGE_BENCH_SECONDS", 5);
    let clients = env_u64("STATUSPAGE_BENCH_CLIENTS", 16) as usize;
    let dir = tempfile::tempdir()?;
    let store =
        Arc::new(candor_store_sqlite::SqliteStore::open(&dir.path().join("candor.db")).await?);
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let core = Arc::new(Core::new(store, dyn_clock).await?);
    let started = Instant::now();
    world(&core, &clock).await?;
    println!(
        "Statuspage summary.json ({SERVICES} services, {} issues over {DAYS} days; world built in {:.1} s; {clients} clients, {seconds} s per measurement)",
        DAYS as usize * ISSUES_PER_DAY,
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = WebConfig {
        public_url: base.clone(),
        ..WebConfig::default()
    };
    let (router, _) = candor_web::app(core.clone(), config).map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::spawn(async move {
        let _ = candor_web::serve(listener, router, std::future::pending()).await;
    });
    let url = format!("{base}/api/v2/summary.json");
    let body = reqwest::get(&url).await?.bytes().await?;
    let parsed: serde_json::Value = serde_json::from_slice(&body).context("summary.json")?;
    anyhow::ensure!(
        parsed["components"].as_array().map_or(0, Vec::len) == SERVICES,
        "every service is a component"
    );
    println!(
        "  response: {} components, {} unresolved incidents, {} maintenances, {} bytes",
        SERVICES,
        parsed["incidents"].as_array().map_or(0, Vec::len),
        parsed["scheduled_maintenances"]
            .as_array()
            .map_or(0, Vec::len),
        body.len()
    );

    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare = format!("http://{}/api/v2/summary.json", bare_listener.local_addr()?);
    let bytes = body.clone();
    let bare_router = axum::Router::new().route(
        "/api/v2/summary.json",
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
        let baseline = load(&bare, clients, seconds).await?;
        let candor = load(&url, clients, seconds).await?;
        let ratio = candor / baseline;
        println!(
            "  round {round}: bare axum {baseline:>9.0} req/s   Candor {candor:>9.0} req/s   ratio {ratio:.2}"
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("  median ratio {:.2} (aim >= 0.5)", ratios[1]);
    Ok(())
}
