//! Seeded, reproducible crash rounds: `candor serve` is killed with SIGKILL at points a
//! seeded generator picks, while it fans out an incident to hundreds of webhooks, records
//! Lockbox deadlines (requests expiring, access ending, one grant running out during the
//! rounds) and appends audit records for engineers' actions that a data-plane service
//! reports without pause. After every kill, and after a last run that finishes the work:
//!
//! * `candor audit verify` passes;
//! * no grant is usable past its end (the enforcement point denies it);
//! * every delivery is made (every expected id reached the receiver, nothing else did);
//! * no request is stuck: each has its deadline ahead or its end recorded;
//! * every audit log published beside the status site verifies from its tiles
//!   (`candor verify --tiles`) and is consistent with the checkpoint published before
//!   the kill (each log's state file is kept across the rounds).
//!
//! `CANDOR_CRASH_SEED` picks the kill points (the default is fixed, so CI repeats the
//! same run); `CANDOR_CRASH_ROUNDS` how many kills (default 5). A failure names the seed.

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candor_app::health;
use candor_app::lockbox::{self as lockbox, Decision, NewRequestInput};
use candor_app::{identity, Core};
use candor_domain::clock::{Clock, ManualClock, SystemClock};
use candor_domain::health::{delivery_id, delivery_key, Channel};
use candor_domain::identity::{Actor, TenantRole};
use candor_domain::lockbox::Workload;
use candor_domain::store::Store;
use candor_domain::TenantId;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::Backend;
use crate::crash::{paced_receiver, wait_for};

const TENANTS: usize = 1_000;
const DEFAULT_SEED: u64 = 20_261_201;

/// splitmix64: small, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// Lockbox requests in each state the rounds must move on, by id.
#[derive(Default)]
struct Requests {
    /// Waiting for the tenant since 13 hours ago: expired an hour ago, not yet recorded.
    expired: Vec<(String, TenantId)>,
    /// Access ended an hour ago, not yet recorded.
    ended: Vec<(String, TenantId)>,
    /// Access that ends during the rounds, and when.
    ending: Vec<(String, TenantId, OffsetDateTime)>,
    /// Access that lasts beyond the test, used to report actions.
    active: Option<(String, TenantId)>,
}

struct World {
    deliveries: BTreeSet<String>,
    requests: Requests,
    engineer: String,
    data_plane: (String, String),
}

/// Tenants with webhooks and an incident reaching them all; Lockbox requests filed and
/// decided on a clock set in the past, so their deadlines fall due now or soon.
async fn world(store: Arc<dyn Store>, hook: &str, ending_at: OffsetDateTime) -> World {
    let now = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(now - time::Duration::hours(13)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let core = Core::new(store.clone(), dyn_clock).await.unwrap();
    let system = Actor::System;
    let (tenants, endpoints) = crate::crash::tenants_with_webhooks(&core, TENANTS, hook).await;

    // Lockbox: a workload, the engineer and manager, an approver per tenant used.
    store
        .put_workload(
            &Workload {
                name: "Exchange Online".into(),
                operations: vec!["Get-Mailbox".into()],
            },
            vec![],
        )
        .await
        .unwrap();
    let operator = |email: &str, role: &str| identity::OperatorInput {
        email: email.into(),
        display_name: email.into(),
        password: crate::common::PASSWORD.into(),
        roles: candor_app::words::roles(&[role.to_owned()]).unwrap(),
        break_glass: false,
    };
    let engineer_email = "engineer@provider.example";
    let engineer = identity::create_operator(
        &core,
        &system,
        None,
        operator(engineer_email, "SupportEngineer"),
    )
    .await
    .unwrap();
    let manager = identity::create_operator(
        &core,
        &system,
        None,
        operator("manager@provider.example", "SupportManager"),
    )
    .await
    .unwrap();
    let engineer_actor = Actor::Operator {
        operator_id: engineer.id,
        email: engineer_email.into(),
        roles: [candor_domain::identity::OperatorRole::SupportEngineer]
            .into_iter()
            .collect(),
    };
    let manager_actor = Actor::Operator {
        operator_id: manager.id,
        email: "manager@provider.example".into(),
        roles: [candor_domain::identity::OperatorRole::SupportManager]
            .into_iter()
            .collect(),
    };
    let mut approvers = HashMap::new();
    for (i, t) in tenants.iter().take(40).enumerate() {
        lockbox::set_enabled(&core, &system, None, *t, true)
            .await
            .unwrap();
        let u = identity::create_user(
            &core,
            &system,
            None,
            *t,
            identity::UserInput {
                email: format!("approver{i}@tenant{i}.example"),
                display_name: "Approver".into(),
                password: crate::common::PASSWORD.into(),
                roles: candor_app::words::roles(&["CustomerLockboxAccessApprover".to_owned()])
                    .unwrap(),
                language: None,
            },
        )
        .await
        .unwrap();
        approvers.insert(
            *t,
            Actor::TenantUser {
                tenant_id: *t,
                user_id: u.id,
                email: u.email.to_string(),
                roles: [TenantRole::CustomerLockboxAccessApprover]
                    .into_iter()
                    .collect(),
            },
        );
    }
    let file = |tenant: TenantId, minutes: i64| {
        let core = &core;
        let engineer_actor = engineer_actor.clone();
        let manager_actor = manager_actor.clone();
        async move {
            let r = lockbox::file_request(
                core,
                &engineer_actor,
                None,
                NewRequestInput {
                    tenant,
                    workload: "Exchange Online".into(),
                    operations: vec!["Get-Mailbox".into()],
                    service_request: format!("SR-{}", uuid::Uuid::new_v4().simple()),
                    justification: "A mailbox does not open in any client.".into(),
                    duration_minutes: minutes,
                },
            )
            .await
            .unwrap();
            let id = r.id;
            lockbox::decide_internally(core, &manager_actor, None, id, true, None)
                .await
                .unwrap();
            id
        }
    };
    let mut requests = Requests::default();
    // 13 hours ago: left waiting.
    for t in &tenants[0..10] {
        requests.expired.push((file(*t, 60).await.to_string(), *t));
    }
    // 3 hours ago: approved for two hours.
    clock.set(now - time::Duration::hours(3));
    for t in &tenants[10..20] {
        let id = file(*t, 120).await;
        lockbox::decide(&core, &approvers[t], None, id, Decision::Approve, None)
            .await
            .unwrap();
        requests.ended.push((id.to_string(), *t));
    }
    // Approved for 15 minutes so that access ends at `ending_at`.
    clock.set(ending_at - time::Duration::minutes(15));
    for t in &tenants[20..25] {
        let id = file(*t, 15).await;
        lockbox::decide(&core, &approvers[t], None, id, Decision::Approve, None)
            .await
            .unwrap();
        requests.ending.push((id.to_string(), *t, ending_at));
    }
    // Now, for four hours.
    clock.set(OffsetDateTime::now_utc());
    let t = tenants[30];
    let id = file(t, 240).await;
    lockbox::decide(&core, &approvers[&t], None, id, Decision::Approve, None)
        .await
        .unwrap();
    requests.active = Some((id.to_string(), t));

    let (client, secret) = identity::create_operator_client(
        &core,
        &system,
        None,
        "Mailbox service",
        &["DataPlaneService".into()],
    )
    .await
    .unwrap();

    // The incident: queued, its fan-out waiting for the first run.
    let real = Core::new(store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let (issue, _) = health::create_issue(&real, &system, None, crate::crash::region_incident())
        .await
        .unwrap();
    let change = format!("issue:{}:post:1", issue.id);
    World {
        deliveries: endpoints
            .iter()
            .map(|e| delivery_id(&delivery_key(&change, &e.to_string(), Channel::Webhook)))
            .collect(),
        requests,
        engineer: engineer_email.into(),
        data_plane: (client.id.to_string(), secret),
    }
}

/// A running server; killed with SIGKILL when dropped, so a failing test leaves none.
struct Server(Child);

impl Server {
    /// SIGKILL, as a crash.
    fn crash(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, a graceful stop.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(args: &[String], log: &std::path::Path) -> (Server, String) {
    let (child, base) = crate::common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_candor"))
            .arg("serve")
            .args(args)
            .env("CANDOR_LOG", "warn")
            .stdout(Stdio::null()),
        log,
    )
    .await;
    (Server(child), base)
}

fn audit_verify(args: &[String]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Every log published under `site/log/`: it verifies from its tiles with the key it
/// was published with, and is consistent with what the previous call saw of it (its
/// state file in `states`). Returns how many logs were checked.
fn published_logs_verify(site: &std::path::Path, states: &std::path::Path, context: &str) -> usize {
    let Ok(logs) = std::fs::read_dir(site.join("log")) else {
        return 0;
    };
    let mut checked = 0;
    for log in logs {
        let log = log.unwrap().path();
        let Ok(keys) = std::fs::read_to_string(log.join("keys")) else {
            continue;
        };
        if !log.join("checkpoint").exists() {
            continue;
        }
        let key = keys.lines().next().unwrap_or_default();
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let out = Command::new(env!("CARGO_BIN_EXE_candor"))
            .args(["verify", "--tiles"])
            .arg(&log)
            .args(["--key", key, "--state"])
            .arg(states.join(format!("{name}.json")))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the published log {name} does not verify: {text} ({context})"
        );
        checked += 1;
    }
    checked
}

/// The recorded state of Lockbox requests, read beside the running server.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn status(&self, id: &str) -> String {
        match self {
            Db::Sqlite(p) => sqlx::query_scalar("SELECT status FROM lockbox_requests WHERE id = ?")
                .bind(id)
                .fetch_one(p)
                .await
                .unwrap(),
            Db::Postgres(p) => {
                sqlx::query_scalar("SELECT status FROM lockbox_requests WHERE id = $1::uuid")
                    .bind(id)
                    .fetch_one(p)
                    .await
                    .unwrap()
            }
        }
    }

    async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// How many `Get-Mailbox` actions the tenant's audit log holds.
fn count_audited(store_args: &[String], tenant: TenantId) -> u64 {
    let today = OffsetDateTime::now_utc().date();
    let from = (today - time::Duration::days(1)).to_string();
    let to = (today + time::Duration::days(2)).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args([
            "audit",
            "export",
            "--format",
            "json",
            "--activities",
            "Get-Mailbox",
        ])
        .args([
            "--tenant",
            &tenant.to_string(),
            "--from",
            &from,
            "--to",
            &to,
        ])
        .args(store_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    records.as_array().map_or(0, |r| r.len() as u64)
}

async fn decision(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    engineer: &str,
    tenant: TenantId,
) -> String {
    let res = http
        .post(format!("{base}/api/v1/lockbox/authorize"))
        .bearer_auth(token)
        .json(&json!({
            "operator": engineer,
            "tenantId": tenant.to_string(),
            "workload": "Exchange Online",
            "operation": "Get-Mailbox",
        }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["decision"]
        .as_str()
        .unwrap_or("no decision")
        .to_owned()
}

async fn rounds_of_sigkill_keep_every_invariant(backend: Backend) {
    let seed = std::env::var("CANDOR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let rounds: usize = std::env::var("CANDOR_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // About 100 deliveries a second: the fan-out outlasts the seeded rounds on SQLite.
    let (hook, seen) = paced_receiver(Duration::from_millis(10)).await;
    let mut store_args: Vec<String> = vec!["--data-dir".into(), dir.path().display().to_string()];
    let ending_at = OffsetDateTime::now_utc() + time::Duration::seconds(12);
    let mut _pg = None;
    let world = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("candor.db");
            let store = Arc::new(candor_store_sqlite::SqliteStore::open(&path).await.unwrap());
            let w = world(store.clone(), &hook, ending_at).await;
            store.close().await;
            w
        }
        Backend::Postgres => {
            let Some(db) = candor_store_tests::harness::PostgresTestDb::create().await else {
                return;
            };
            let w = world(db.store(), &hook, ending_at).await;
            store_args.push("--database-url".into());
            store_args.push(db.url.clone());
            _pg = Some(db);
            w
        }
    };
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--allow-private-webhooks",
        "--lease-seconds",
        "15",
        "--checkpoint-interval",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(store_args.iter().cloned());
    let site = dir.path().join("site");
    let states = dir.path().join("verify-states");
    std::fs::create_dir_all(&states).unwrap();
    args.push("--status-site-dir".into());
    args.push(site.display().to_string());
    let log = dir.path().join("serve.log");
    let http = reqwest::Client::new();
    let context = format!("{backend:?}, seed {seed} (rerun with CANDOR_CRASH_SEED={seed})");

    // Engineers' actions, reported without pause to whichever run is up: audit appends
    // in flight at every kill.
    let current: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let reported = Arc::new(AtomicU64::new(0));
    let reporter = {
        let (current, reported, http) = (current.clone(), reported.clone(), http.clone());
        let (engineer, (request, tenant)) = (
            world.engineer.clone(),
            world.requests.active.clone().unwrap(),
        );
        tokio::spawn(async move {
            loop {
                let target = current.lock().unwrap().clone();
                if let Some((base, token)) = target {
                    let res = http
                        .post(format!("{base}/api/v1/lockbox/actions"))
                        .bearer_auth(&token)
                        .json(&json!({
                            "operator": engineer,
                            "tenantId": tenant.to_string(),
                            "workload": "Exchange Online",
                            "operation": "Get-Mailbox",
                            "requestId": request,
                            "target": "ceo@tenant.example",
                        }))
                        .send()
                        .await;
                    if res.is_ok_and(|r| r.status().is_success()) {
                        reported.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };

    let mut kills = Vec::new();
    for round in 0..rounds {
        let (child, base) = start(&args, &log).await;
        let token =
            crate::cluster::token(&http, &base, &world.data_plane.0, &world.data_plane.1).await;
        *current.lock().unwrap() = Some((base.clone(), token.clone()));
        let delay = rng.between(300, 2500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // Past its end, a grant is refused, whether or not its end is recorded yet.
        for (_, tenant, end) in &world.requests.ending {
            if OffsetDateTime::now_utc() > *end + time::Duration::seconds(1) {
                let d = decision(&http, &base, &token, &world.engineer, *tenant).await;
                assert_eq!(d, "deny", "a grant was usable past its end ({context})");
            }
        }
        for (_, tenant) in &world.requests.ended {
            let d = decision(&http, &base, &token, &world.engineer, *tenant).await;
            assert_eq!(d, "deny", "a grant was usable past its end ({context})");
        }
        *current.lock().unwrap() = None;
        child.crash();
        let (ok, out) = audit_verify(&store_args);
        assert!(
            ok,
            "audit verify after kill {round} ({delay} ms): {out} ({context})"
        );
        published_logs_verify(&site, &states, &context);
        kills.push((
            delay,
            seen.lock().unwrap().len(),
            reported.load(Ordering::Relaxed),
        ));
    }

    // One more kill that surely lands in the middle of the fan-out, whatever the seed and
    // however fast this machine is: once this run has made 50 deliveries.
    let (child, base) = start(&args, &log).await;
    let token = crate::cluster::token(&http, &base, &world.data_plane.0, &world.data_plane.1).await;
    *current.lock().unwrap() = Some((base.clone(), token));
    let before = seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len();
    wait_for("deliveries to go on", Duration::from_secs(120), || {
        seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len() >= (before + 50).min(TENANTS)
    })
    .await;
    *current.lock().unwrap() = None;
    child.crash();
    let mid = seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len();
    assert!(
        mid < TENANTS,
        "the last kill must land before the fan-out ends ({mid} of {TENANTS}; {context})"
    );
    let (ok, out) = audit_verify(&store_args);
    assert!(
        ok,
        "audit verify after the mid fan-out kill: {out} ({context})"
    );
    kills.push((0, mid, reported.load(Ordering::Relaxed)));

    // The last run finishes the work: every delivery, every deadline recorded.
    let (child, base) = start(&args, &log).await;
    let token = crate::cluster::token(&http, &base, &world.data_plane.0, &world.data_plane.1).await;
    *current.lock().unwrap() = Some((base.clone(), token.clone()));
    wait_for(
        "every delivery after the last restart",
        Duration::from_secs(120),
        || seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len() >= TENANTS,
    )
    .await;
    // Read what is recorded while the run goes on (the embedded store read-only).
    let db = match &_pg {
        Some(pg) => Db::Postgres(sqlx::PgPool::connect(&pg.url).await.unwrap()),
        None => Db::Sqlite(
            sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join("candor.db"))
                    .read_only(true),
            )
            .await
            .unwrap(),
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut waiting = Vec::new();
        for (id, _) in &world.requests.expired {
            if db.status(id).await != "expired" {
                waiting.push(id.clone());
            }
        }
        let ended = world.requests.ended.iter().map(|(id, _)| id);
        for id in ended.chain(world.requests.ending.iter().map(|(id, _, _)| id)) {
            if db.status(id).await != "completed" {
                waiting.push(id.clone());
            }
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "requests stuck with their deadline past and nothing recorded: {waiting:?} ({context})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Past the end of every short grant: all refused; the long one still allowed.
    for (_, tenant, _) in &world.requests.ending {
        assert_eq!(
            decision(&http, &base, &token, &world.engineer, *tenant).await,
            "deny",
            "{context}"
        );
    }
    let (active_request, active_tenant) = world.requests.active.clone().unwrap();
    assert_eq!(
        decision(&http, &base, &token, &world.engineer, active_tenant).await,
        "allow",
        "{context}"
    );
    assert_eq!(db.status(&active_request).await, "approved");
    *current.lock().unwrap() = None;
    reporter.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A graceful stop this time.
    child.stop();
    db.close().await;

    let (ok, out) = audit_verify(&store_args);
    assert!(ok, "audit verify at the end: {out} ({context})");
    let logs = published_logs_verify(&site, &states, &context);
    assert!(
        logs >= 2,
        "the operator realm's log and the tenants' are published ({context})"
    );
    // The reported actions are in the tenant's log (at least those answered).
    let reported = reported.load(Ordering::Relaxed);
    assert!(reported > 0, "no action was reported ({context})");
    let (_, active_tenant) = world.requests.active.clone().unwrap();
    let audited = count_audited(&store_args, active_tenant);
    assert!(
        audited >= reported,
        "{reported} actions answered but {audited} audited ({context})"
    );
    let got = seen.lock().unwrap().clone();
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(
        distinct, world.deliveries,
        "every delivery, and nothing else ({context})"
    );
    eprintln!(
        "{context}: kills (ms after start, deliveries, actions reported) {kills:?}; \
         {} deliveries received ({} distinct), {} actions reported",
        got.len(),
        distinct.len(),
        reported
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rounds_of_sigkill_keep_every_invariant() {
    rounds_of_sigkill_keep_every_invariant(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rounds_of_sigkill_keep_every_invariant() {
    rounds_of_sigkill_keep_every_invariant(Backend::Postgres).await;
}
