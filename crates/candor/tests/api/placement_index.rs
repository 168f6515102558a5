//! The impact preview read from the placement index in memory agrees with the
//! database's own answer; a topology change is in the very next preview (from the
//! database while the index is rebuilt, then from the index); on PostgreSQL a second
//! instance hears the change and rebuilds its own index.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candor_app::{health, topology, Core};
use candor_domain::health::{scope_components, Scope};
use candor_domain::identity::{Actor, OperatorRole, RegionCode};
use candor_domain::store::ImpactPreview;
use tokio_util::sync::CancellationToken;

use crate::common::{Backend, DbGuard, TestApp};
use crate::health::{operator, place};

fn region() -> Scope {
    Scope {
        regions: [RegionCode::parse("eu-west").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// Until `core`'s index is current (built after the latest change it knows of).
async fn built(core: &Core) {
    let started = Instant::now();
    while core.placements.get().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the placement index was never built"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summary(p: &ImpactPreview) -> (i64, Vec<(String, i64)>, Vec<String>) {
    (
        p.total,
        p.by_region.clone(),
        p.tenants.iter().map(|t| t.name.clone()).collect(),
    )
}

/// What the database says the region reaches on Exchange.
async fn from_database(core: &Core) -> ImpactPreview {
    let cat = health::catalog(core).await.unwrap();
    let exchange = cat.find_service("Exchange Online").unwrap().id.clone();
    let covered: Vec<_> = scope_components(&region(), &exchange, &cat.index)
        .into_iter()
        .collect();
    core.store.preview_impact(&covered, &[], 200).await.unwrap()
}

/// `n` more tenants in eu-west on the Exchange mailbox database.
async fn more_tenants(core: &Core, n: usize, prefix: &str) {
    let mut csv = String::from("kind,id,name,parent,services,language,time_zone\n");
    for i in 0..n {
        let id = uuid::Uuid::new_v4();
        let _ = writeln!(csv, "tenant,{id},{prefix} {i:03},eu-west,,en,UTC");
        let _ = writeln!(csv, "placement,{id},,eu-west-su1-mbx01,,,");
    }
    topology::import_file(core, &Actor::System, None, "more.csv", &csv, false, |_| {})
        .await
        .unwrap();
}

async fn the_preview_from_memory_agrees_with_the_database(app: TestApp) {
    place(&app).await;
    more_tenants(&app.core, 40, "Adatum").await;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(app.core.clone().hear_announcements(stop.clone()));
    tokio::spawn(app.core.clone().keep_placement_index(stop.clone()));
    built(&app.core).await;
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["placementIndex"], true, "{ready}");
    let im = operator(&app, OperatorRole::IncidentManager);

    let from_memory = health::preview(&app.core, &im, "Exchange Online", &region())
        .await
        .unwrap();
    assert_eq!(
        summary(&from_memory),
        summary(&from_database(&app.core).await)
    );
    assert_eq!(from_memory.total, 41, "tenant A and the forty");

    // The change is in the next preview, before the index is rebuilt...
    more_tenants(&app.core, 5, "Aaron").await;
    let next = health::preview(&app.core, &im, "Exchange Online", &region())
        .await
        .unwrap();
    assert_eq!(next.total, 46);
    assert_eq!(next.tenants[0].name, "Aaron 000", "first by name");
    // ...and after.
    built(&app.core).await;
    let rebuilt = health::preview(&app.core, &im, "Exchange Online", &region())
        .await
        .unwrap();
    assert_eq!(summary(&rebuilt), summary(&next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_hears_the_change_and_rebuilds() {
    let Some(app) = crate::common::spawn(Backend::Postgres).await else {
        return;
    };
    let DbGuard::Postgres(db) = &app.db else {
        unreachable!()
    };
    place(&app).await;
    let store_b = Arc::new(
        candor_store_postgres::PostgresStore::connect(&db.url)
            .await
            .unwrap(),
    );
    let b = Arc::new(Core::new(store_b, app.clock.clone()).await.unwrap());
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    for core in [app.core.clone(), b.clone()] {
        tokio::spawn(core.clone().hear_announcements(stop.clone()));
        tokio::spawn(core.keep_placement_index(stop.clone()));
    }
    built(&b).await;
    let before = b.placements.get().unwrap().tenants();

    more_tenants(&app.core, 3, "Fabrikam").await;
    let started = Instant::now();
    loop {
        if b.placements
            .get()
            .is_some_and(|i| i.tenants() == before + 3)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "instance B never rebuilt its index with the new tenants"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let im = operator(&app, OperatorRole::IncidentManager);
    let on_b = health::preview(&b, &im, "Exchange Online", &region())
        .await
        .unwrap();
    assert_eq!(summary(&on_b), summary(&from_database(&b).await));
    assert_eq!(on_b.total, 4);
}

crate::both!(the_preview_from_memory_agrees_with_the_database);
