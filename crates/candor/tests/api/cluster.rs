//! Two `candor serve` processes on one PostgreSQL database, as behind a load balancer:
//! an issue published through one is on the other's Graph API and dashboard within a
//! second (the other hears it through `LISTEN/NOTIFY`, its views would otherwise be
//! kept for 30 s); the fan-out's deliveries are shared and each is made; killing one
//! instance with SIGKILL in the middle leaves the other to finish; periodic tasks run
//! once per period for the cluster.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candor_app::identity::{self, UserInput};
use candor_app::Core;
use candor_domain::clock::SystemClock;
use candor_domain::health::{delivery_id, delivery_key, Channel};
use candor_domain::identity::Actor;
use serde_json::{json, Value};

use crate::common::{csrf_of, PASSWORD};
use crate::crash::{slow_receiver, wait_for};

const TENANTS: usize = 400;

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `candor serve` and waits for it to say where it listens. Its log goes to `log`.
fn start(name: &str, args: &[String], log: &std::path::Path) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("serve")
        .args(args)
        .env("CANDOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let name = name.to_owned();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "[{name}] {line}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                if let Some(t) = tx.take() {
                    let _ = t.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("candor serve says where it listens");
    Instance { child, base }
}

pub(crate) async fn token(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
) -> String {
    let res = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn graph_issue_ids(http: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let res = http
        .get(format!("{base}/v1.0/admin/serviceAnnouncement/issues"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_hear_each_others_changes() {
    let Some(db) = candor_store_tests::harness::PostgresTestDb::create().await else {
        return;
    };
    let (hook, seen) = slow_receiver().await;

    // The world: tenants on ten mailbox databases, each with a webhook endpoint; the
    // first tenant has an app that reads service health and a person on the dashboard.
    let core = Core::new(db.store(), Arc::new(SystemClock)).await.unwrap();
    let (tenants, endpoints) = crate::crash::tenants_with_webhooks(&core, TENANTS, &hook).await;
    let reader = identity::create_api_client(
        &core,
        &Actor::System,
        None,
        tenants[0],
        "Dashboard",
        &["ServiceHealth.Read.All".into()],
    )
    .await
    .unwrap();
    identity::create_user(
        &core,
        &Actor::System,
        None,
        tenants[0],
        UserInput {
            email: "support@tenant0.example".into(),
            display_name: "Support".into(),
            password: PASSWORD.into(),
            roles: candor_app::words::roles(&["ServiceSupportAdministrator".to_owned()]).unwrap(),
            language: None,
        },
    )
    .await
    .unwrap();
    // The person who owns what monitoring declares.
    identity::create_operator(
        &core,
        &Actor::System,
        None,
        identity::OperatorInput {
            email: "im@provider.example".into(),
            display_name: "Incident manager".into(),
            password: PASSWORD.into(),
            roles: [candor_domain::identity::OperatorRole::IncidentManager]
                .into_iter()
                .collect(),
            break_glass: false,
        },
    )
    .await
    .unwrap();
    let (monitoring, monitoring_secret) = identity::create_operator_client(
        &core,
        &Actor::System,
        None,
        "Monitoring",
        &["IncidentManager".into()],
    )
    .await
    .unwrap();
    drop(core);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cluster.log");
    let args = |name: &str| -> Vec<String> {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        [
            "--listen",
            "127.0.0.1:0",
            "--allow-private-webhooks",
            "--lease-seconds",
            "15",
            "--database-url",
            &db.url,
            "--data-dir",
            &data.display().to_string(),
            // Every instance signs with the one audit key, kept outside the database.
            "--signing-key-file",
            &dir.path().join("signing.key").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let started = time::OffsetDateTime::now_utc();
    let mut one = start("one", &args("one"), &log);
    let two = start("two", &args("two"), &log);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Instance two serves the tenant's issue list from its in-memory view.
    let reader_token = token(
        &http,
        &two.base,
        &reader.client.id.to_string(),
        &reader.secret,
    )
    .await;
    assert!(graph_issue_ids(&http, &two.base, &reader_token)
        .await
        .is_empty());
    assert!(graph_issue_ids(&http, &two.base, &reader_token)
        .await
        .is_empty());
    let page = http
        .get(format!("{}/signin", two.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed_in = http
        .post(format!("{}/signin", two.base))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", "support@tenant0.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);

    // Both instances listen for each other's announcements.
    for instance in [&one, &two] {
        let base = instance.base.clone();
        let started = Instant::now();
        loop {
            let ready: Value = http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if ready["hearsOtherInstances"] == true {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{base} does not hear other instances: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Published through instance one.
    let monitoring_token = token(
        &http,
        &one.base,
        &monitoring.id.to_string(),
        &monitoring_secret,
    )
    .await;
    // Instance two's view is fresh from just now: only an announcement can make it show
    // the issue within the second (a heard view lives 30 s).
    assert!(graph_issue_ids(&http, &two.base, &reader_token)
        .await
        .is_empty());
    let res = http
        .post(format!("{}/api/v1/operator/issues", one.base))
        .bearer_auth(&monitoring_token)
        .json(&json!({
            "service": "Exchange Online",
            "classification": "incident",
            "title": "Mail delays across Europe West",
            "impactDescription": "Mail may arrive late.",
            "scope": {"regions": ["eu-west"]},
            "post": {"content": "<p>We're investigating.</p>"},
            "owner": "im@provider.example"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let published = Instant::now();
    let issue: Value = res.json().await.unwrap();
    let issue_id = issue["id"].as_str().unwrap().to_owned();
    assert_eq!(issue["affectedTenants"], TENANTS);

    // On instance two's API and dashboard within a second.
    loop {
        if graph_issue_ids(&http, &two.base, &reader_token)
            .await
            .contains(&issue_id)
        {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "instance two's API did not show the issue within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let api_lag = published.elapsed();
    loop {
        let dashboard = http
            .get(format!("{}/portal/health", two.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if dashboard.contains("Mail delays across Europe West") {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "instance two's dashboard did not show the issue within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dashboard_lag = published.elapsed();

    // Both instances deliver; one dies part way through and the other finishes.
    wait_for("the first deliveries", Duration::from_secs(60), || {
        seen.lock().unwrap().len() >= TENANTS / 5
    })
    .await;
    one.child.kill().unwrap();
    one.child.wait().unwrap();
    let at_kill = seen.lock().unwrap().len();
    wait_for(
        "every delivery, from the surviving instance",
        Duration::from_secs(120),
        || seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len() >= TENANTS,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let finished = time::OffsetDateTime::now_utc();

    let change = format!("issue:{issue_id}:post:1");
    let expected: BTreeSet<String> = endpoints
        .iter()
        .map(|e| delivery_id(&delivery_key(&change, &e.to_string(), Channel::Webhook)))
        .collect();
    let got = seen.lock().unwrap().clone();
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &got {
        *counts.entry(id).or_default() += 1;
    }
    let repeated = counts.values().filter(|n| **n > 1).count();
    assert!(at_kill < TENANTS, "the kill must land before the end");
    assert_eq!(distinct, expected, "every delivery, and nothing else");
    assert!(
        repeated
            <= candor::deliveries::DeliverySettings::default()
                .lanes
                .webhook
                .concurrency,
        "only what the killed instance had in flight may come again ({repeated})"
    );

    // Periodic tasks: one job per period for the cluster, each run once, although both
    // instances schedule them every few seconds.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
        "SELECT kind, dedupe_key, attempts, status FROM jobs \
         WHERE kind IN ('health.watchdog', 'lockbox.deadlines', 'status_site.publish') \
         ORDER BY kind, dedupe_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let minutes = ((finished - started).whole_seconds() / 60 + 2) as usize;
    // The watchdog's period is 10 s.
    let watchdog_periods = ((finished - started).whole_seconds() / 10 + 2) as usize;
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for (kind, key, attempts, status) in &rows {
        *per_kind.entry(kind.as_str()).or_default() += 1;
        assert!(*attempts <= 2, "{key} ran {attempts} times ({status})");
    }
    for (kind, periods) in [
        ("health.watchdog", watchdog_periods),
        ("lockbox.deadlines", minutes),
    ] {
        let n = per_kind.get(kind).copied().unwrap_or(0);
        assert!(
            (1..=periods).contains(&n),
            "{kind}: {n} jobs over at most {periods} periods: {rows:?}"
        );
    }
    eprintln!(
        "cluster: issue on instance two's API after {api_lag:?}, dashboard after {dashboard_lag:?}; \
         {} deliveries, kill after {at_kill}, {repeated} repeated; periodic jobs {per_kind:?}",
        got.len()
    );
    drop(two);
}
