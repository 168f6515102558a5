//! Three `candor serve` instances on one PostgreSQL behind HAProxy (Debian's package,
//! configured here) under a mixed load: readers on the Graph API, the portal dashboard
//! and the public status page, and a writer posting issue updates through the operator
//! API (each one a fan-out to every tenant's webhook). Part way through, one instance is
//! killed with SIGKILL and, a while later, started again on the same port.
//!
//! HAProxy retries what is safe to retry: every GET, and a POST that carries an
//! `Idempotency-Key` (the operator API answers a retry with the first answer). Anything
//! else is never retried by the balancer. What is measured: errors seen by the clients,
//! latency before, during and after the failover, and every webhook delivery the fan-outs
//! owe (lost, unexpected, repeated).
//!
//! Shared by the test `tests/api/failover.rs` (a short run) and the bench
//! `benches/failover.rs` (the long one), included by both with `#[path]`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candor_app::identity::{self, OperatorInput, UserInput};
use candor_app::{topology, Core};
use candor_delivery::webhook::DELIVERY_HEADER;
use candor_domain::health::{
    delivery_id, delivery_key, Channel, Subscription, WebhookEndpoint, WebhookEndpointId,
    WebhookFormat,
};
use candor_domain::identity::{Actor, OperatorRole};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";
const READER_EMAIL: &str = "support@tenant0.example";
const OWNER_EMAIL: &str = "im@provider.example";

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tenants, each with a webhook endpoint and all on the incident's region.
    pub tenants: usize,
    /// How long the load runs.
    pub seconds: u64,
    /// When the second instance is killed, counted from the start of the load.
    pub kill_at: u64,
    /// How long it stays down.
    pub down_for: u64,
    /// Concurrent readers.
    pub readers: usize,
    /// Issue updates posted a second.
    pub posts_per_second: u64,
}

/// What one kind of request saw.
#[derive(Debug, Default, Clone)]
pub struct Kind {
    /// (milliseconds since the load began, latency in microseconds, answered well).
    pub requests: Vec<(u64, u32, bool)>,
    pub errors: BTreeMap<String, u64>,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub kinds: BTreeMap<&'static str, Kind>,
    /// Requests per instance, as HAProxy says in `x-candor-instance`.
    pub per_instance: BTreeMap<String, u64>,
    /// Requests the restarted instance answered after its restart.
    pub restarted_served: u64,
    /// Posts answered only after the writer retried them with the same key.
    pub posts_retried: u64,
    /// Posts first answered 409 (their key claimed by a request the killed instance was
    /// running), not counted as errors: the claim is taken over after
    /// `IDEMPOTENCY_CLAIM_ABANDONED_AFTER` and the writer's retry then succeeds.
    pub posts_told_to_retry: u64,
    /// Milliseconds since the load began: the kill, the restart, the restarted
    /// instance ready again.
    pub killed_at_ms: u64,
    pub restarted_at_ms: u64,
    pub ready_again_ms: u64,
    pub posts: usize,
    pub expected_deliveries: usize,
    pub delivered: usize,
    pub lost: usize,
    pub unexpected: usize,
    /// Delivery ids seen more than once, and the most times one was seen.
    pub repeated: usize,
    pub most_repeats: usize,
    /// From the end of the load until the last owed delivery arrived.
    pub drained_after: Duration,
}

impl Outcome {
    /// Errors the clients saw on requests HAProxy may retry (GETs, keyed POSTs).
    pub fn errors(&self) -> u64 {
        self.kinds.values().flat_map(|k| k.errors.values()).sum()
    }

    /// A Markdown report: per kind and per phase (before the kill; from the kill until
    /// two seconds after the restarted instance is ready, long enough for the balancer to
    /// take it back; the rest), then the deliveries.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let rejoined = self.ready_again_ms + 2_000;
        let phases: [(&str, u64, u64); 3] = [
            ("before the kill", 0, self.killed_at_ms),
            ("down and rejoining", self.killed_at_ms, rejoined),
            ("after", rejoined, u64::MAX),
        ];
        let baseline = |from: u64, to: u64| {
            self.kinds
                .get("GET /healthz (baseline)")
                .map(|k| percentile(&latencies(k, from, to), 0.99))
                .unwrap_or(0.0)
        };
        let _ = writeln!(
            out,
            "| kind | phase | requests | errors | p50 ms | p99 ms | max ms | p99 / baseline p99 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for (name, kind) in &self.kinds {
            for (phase, from, to) in phases {
                let l = latencies(kind, from, to);
                let failed = kind
                    .requests
                    .iter()
                    .filter(|(at, _, ok)| *at >= from && *at < to && !ok)
                    .count();
                let base = baseline(from, to);
                let p99 = percentile(&l, 0.99);
                let _ = writeln!(
                    out,
                    "| {name} | {phase} | {} | {failed} | {:.1} | {p99:.1} | {:.1} | {} |",
                    l.len(),
                    percentile(&l, 0.5),
                    percentile(&l, 1.0),
                    if base > 0.0 {
                        format!("{:.1}", p99 / base)
                    } else {
                        "–".into()
                    }
                );
            }
            for (what, n) in &kind.errors {
                let _ = writeln!(out, "|   ↳ {what} | | | {n} | | | | |");
            }
        }
        let _ = writeln!(
            out,
            "\nkilled at {:.1} s, restarted at {:.1} s, ready again at {:.1} s; requests per instance {:?} ({} answered by the restarted one); {} posts, {} answered after the writer's retry with the same key ({} first told to retry by a 409)",
            self.killed_at_ms as f64 / 1000.0,
            self.restarted_at_ms as f64 / 1000.0,
            self.ready_again_ms as f64 / 1000.0,
            self.per_instance,
            self.restarted_served,
            self.posts,
            self.posts_retried,
            self.posts_told_to_retry,
        );
        let _ = writeln!(
            out,
            "deliveries: {} owed, {} delivered, {} lost, {} unexpected, {} ids repeated (at most {} times each), all in {:.1} s after the load ended",
            self.expected_deliveries,
            self.delivered,
            self.lost,
            self.unexpected,
            self.repeated,
            self.most_repeats,
            self.drained_after.as_secs_f64(),
        );
        out
    }
}

fn latencies(kind: &Kind, from: u64, to: u64) -> Vec<u32> {
    let mut l: Vec<u32> = kind
        .requests
        .iter()
        .filter(|(at, _, _)| *at >= from && *at < to)
        .map(|(_, micros, _)| *micros)
        .collect();
    l.sort_unstable();
    l
}

/// The `p` percentile of sorted microseconds, in milliseconds.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Debian's HAProxy, or `None` where it is not installed (then the caller skips, except
/// under CI, where it fails: `.ci/run` installs it).
pub fn haproxy() -> Option<PathBuf> {
    for candidate in [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ] {
        if Path::new(candidate).exists() {
            return Some(candidate.into());
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("HAProxy is required under CI=true (apt-get install haproxy)");
    }
    eprintln!("skipping: HAProxy is not installed (apt-get install haproxy)");
    None
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process killed (and reaped) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `candor serve` with `args` and waits until it says it listens. Its log is
/// appended to `log`, each line tagged with `name`.
fn serve(name: &str, args: &[String], log: &Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("serve")
        .args(args)
        .env("CANDOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("candor serve starts");
    let stderr = child.stderr.take().expect("its stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the cluster log");
    let tag = name.to_owned();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "[{tag}] {line}");
            if line.contains("listening on ") {
                if let Some(t) = tx.take() {
                    let _ = t.send(());
                }
            }
        }
    });
    let process = Process(child);
    if let Err(e) = rx.recv_timeout(Duration::from_secs(120)) {
        // Give the log's reader a moment to write the last lines.
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "candor serve ({name}) never said it listens ({e}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    process
}

/// HAProxy in front of `ports`, listening on `port`: health checks on `/readyz` every
/// 250 ms, retries (on another instance) of what may be retried.
fn balance(haproxy: &Path, dir: &Path, port: u16, ports: &[u16]) -> Process {
    let mut config = format!(
        "global
    maxconn 4096

defaults
    mode http
    timeout connect 300ms
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 502 503 504

frontend candor
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # Only what may be sent twice is: reads, and writes that carry an Idempotency-Key.
    http-request disable-l7-retry if !METH_GET !{{ req.hdr(idempotency-key) -m found }}
    http-response set-header x-candor-instance %s
    default-server inter 250ms fall 2 rise 2
"
    );
    for (i, p) in ports.iter().enumerate() {
        let _ = writeln!(config, "    server i{} 127.0.0.1:{p} check", i + 1);
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).expect("the HAProxy configuration is written");
    let child = Command::new(haproxy)
        .args(["-db", "-q", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("HAProxy starts");
    Process(child)
}

/// A receiver that answers every webhook at once and records its delivery id.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let store = store.clone();
            async move {
                let id = headers
                    .get(DELIVERY_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(mut seen) = store.lock() {
                    seen.push(id);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the receiver binds");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("the receiver's address")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

/// `count` tenants on ten mailbox databases of one Exchange scale unit in eu-west, each
/// with a webhook endpoint to `hook` that takes everything. Returns the tenants and their
/// endpoints. (The crash and cluster tests build their worlds with it too.)
pub async fn tenants_with_webhooks(
    core: &Core,
    count: usize,
    hook: &str,
) -> (Vec<candor_domain::TenantId>, Vec<WebhookEndpointId>) {
    let mut csv = String::from("kind,id,name,parent,services,language,time_zone\n");
    csv.push_str("service,Exchange,Exchange Online,EX,,,\n");
    csv.push_str("region,eu-west,Europe West,,,,\n");
    csv.push_str("scale_unit,eu-west-su0,,eu-west,,,\n");
    for d in 0..10 {
        let _ = writeln!(csv, "component,eu-west-su0-mbx{d},,eu-west-su0,Exchange,,");
    }
    let mut ids = Vec::new();
    for i in 0..count {
        let id = uuid::Uuid::new_v4();
        ids.push(candor_domain::TenantId(id));
        let _ = writeln!(csv, "tenant,{id},Tenant {i:05},eu-west,,en,UTC");
        let _ = writeln!(csv, "placement,{id},,eu-west-su0-mbx{},,,", i % 10);
    }
    topology::import_file(core, &Actor::System, None, "world.csv", &csv, false, |_| {})
        .await
        .expect("the world is imported");
    let mut endpoints = Vec::new();
    for tenant in &ids {
        let e = WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            tenant: *tenant,
            url: hook.to_owned(),
            format: WebhookFormat::Candor,
            secret: "whsec_test".into(),
            previous_secret: None,
            previous_until: None,
            subscription: Subscription::everything(),
            enabled: true,
            failures: 0,
            disabled_reason: None,
            created_at: core.clock.now(),
        };
        core.store
            .add_webhook(&e, vec![])
            .await
            .expect("a webhook endpoint");
        endpoints.push(e.id);
    }
    (ids, endpoints)
}

/// The world: `tenants` tenants with webhooks (`tenants_with_webhooks`); tenant 0 has a
/// Graph app and a person on the dashboard; the provider has an incident manager and a
/// monitoring client. Returns the endpoints, the app's and the monitoring client's
/// credentials.
async fn world(
    core: &Core,
    tenants: usize,
    hook: &str,
) -> (Vec<WebhookEndpointId>, (String, String), (String, String)) {
    let (ids, endpoints) = tenants_with_webhooks(core, tenants, hook).await;
    let app = identity::create_api_client(
        core,
        &Actor::System,
        None,
        ids[0],
        "Dashboard",
        &["ServiceHealth.Read.All".into()],
    )
    .await
    .expect("the tenant's app");
    identity::create_user(
        core,
        &Actor::System,
        None,
        ids[0],
        UserInput {
            email: READER_EMAIL.into(),
            display_name: "Support".into(),
            password: PASSWORD.into(),
            roles: candor_app::words::roles(&["ServiceSupportAdministrator".to_owned()])
                .expect("a role"),
            language: None,
        },
    )
    .await
    .expect("the tenant's reader");
    identity::create_operator(
        core,
        &Actor::System,
        None,
        OperatorInput {
            email: OWNER_EMAIL.into(),
            display_name: "Incident manager".into(),
            password: PASSWORD.into(),
            roles: [OperatorRole::IncidentManager].into_iter().collect(),
            break_glass: false,
        },
    )
    .await
    .expect("the incident manager");
    let (monitoring, secret) = identity::create_operator_client(
        core,
        &Actor::System,
        None,
        "Monitoring",
        &["IncidentManager".into()],
    )
    .await
    .expect("the monitoring client");
    (
        endpoints,
        (app.client.id.to_string(), app.secret),
        (monitoring.id.to_string(), secret),
    )
}

async fn token(http: &reqwest::Client, base: &str, (id, secret): &(String, String)) -> String {
    let res: Value = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .expect("the token endpoint answers")
        .json()
        .await
        .expect("a token response");
    res["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

type Shared = Arc<Mutex<Outcome>>;

/// Records one request in `outcome`.
fn record(
    outcome: &Shared,
    kind: &'static str,
    load_started: Instant,
    sent: Instant,
    result: Result<(u16, Option<String>), String>,
) {
    let at = sent.duration_since(load_started).as_millis() as u64;
    let micros = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
    let Ok(mut o) = outcome.lock() else { return };
    let (ok, error) = match &result {
        Ok((s, _)) if (200..300).contains(s) => (true, None),
        Ok((409, _)) if kind.starts_with("POST") => {
            // The killed instance had claimed this key: the API says "retry shortly",
            // as it is meant to, and the writer does.
            o.posts_told_to_retry += 1;
            (true, None)
        }
        Ok((s, _)) => (false, Some(format!("HTTP {s}"))),
        Err(e) => (false, Some(e.clone())),
    };
    if let Ok((_, Some(instance))) = &result {
        *o.per_instance.entry(instance.clone()).or_default() += 1;
        if instance == "i2" && o.restarted_at_ms > 0 && at >= o.restarted_at_ms {
            o.restarted_served += 1;
        }
    }
    let k = o.kinds.entry(kind).or_default();
    k.requests.push((at, micros, ok));
    if let Some(e) = error {
        *k.errors.entry(e).or_default() += 1;
    }
}

/// The status and instance of a response whose body has been read whole.
async fn answered(
    res: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, Option<String>), String> {
    let res = res.map_err(|e| format!("transport: {}", e.without_url()))?;
    let status = res.status().as_u16();
    let instance = res
        .headers()
        .get("x-candor-instance")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    res.bytes()
        .await
        .map_err(|e| format!("body: {}", e.without_url()))?;
    Ok((status, instance))
}

/// Waits until `url` answers 200.
async fn until_ready(http: &reqwest::Client, url: &str, within: Duration) {
    let started = Instant::now();
    loop {
        if let Ok(res) = http.get(url).send().await {
            if res.status() == 200 {
                return;
            }
        }
        assert!(
            started.elapsed() < within,
            "{url} was not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the whole thing against the empty PostgreSQL database at `db_url` (migrated by
/// `core`, whose store is on it).
pub async fn run(core: Core, db_url: &str, settings: &Settings, haproxy: &Path) -> Outcome {
    let (hook, seen) = receiver().await;
    let (endpoints, app, monitoring) = world(&core, settings.tenants, &hook).await;
    drop(core);

    let dir = tempfile::tempdir().expect("a scratch directory");
    let log = dir.path().join("cluster.log");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let front = free_port();
    let base = format!("http://127.0.0.1:{front}");
    let args = |i: usize| -> Vec<String> {
        let data = dir.path().join(format!("i{}", i + 1));
        std::fs::create_dir_all(&data).expect("a data directory");
        let listen = format!("127.0.0.1:{}", ports[i]);
        let key = dir.path().join("signing.key").display().to_string();
        let data = data.display().to_string();
        [
            "--listen",
            &listen,
            // Tokens name their issuer: every instance is the balancer's address.
            "--public-url",
            &base,
            "--allow-private-webhooks",
            "--lease-seconds",
            "15",
            "--graph-requests-per-minute",
            "10000000",
            "--graph-requests-per-hour",
            "100000000",
            "--database-url",
            db_url,
            "--data-dir",
            &data,
            "--signing-key-file",
            &key,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // One after the other: the first creates the signing key the others read.
    let mut instances: Vec<Option<Process>> = Vec::new();
    for i in 0..3 {
        instances.push(Some(serve(&format!("i{}", i + 1), &args(i), &log)));
    }
    let _haproxy = balance(haproxy, dir.path(), front, &ports);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("an HTTP client");
    until_ready(&http, &format!("{base}/readyz"), Duration::from_secs(60)).await;
    for port in &ports {
        until_ready(
            &http,
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
        )
        .await;
    }
    // Long enough for HAProxy to see all three up (rise 2 at 250 ms).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let app_token = token(&http, &base, &app).await;
    let op_token = token(&http, &base, &monitoring).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a browser");
    let page = browser
        .get(format!("{base}/signin"))
        .send()
        .await
        .expect("the sign-in page")
        .text()
        .await
        .expect("its text");
    let signed_in = browser
        .post(format!("{base}/signin"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", READER_EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("signing in");
    assert_eq!(signed_in.status(), 303, "the tenant's reader signs in");

    let declared = http
        .post(format!("{base}/api/v1/operator/issues"))
        .bearer_auth(&op_token)
        .header("idempotency-key", "failover-issue")
        .json(&json!({
            "service": "Exchange Online",
            "classification": "incident",
            "title": "Mail delays across Europe West",
            "impactDescription": "Mail may arrive late.",
            "scope": {"regions": ["eu-west"]},
            "post": {"content": "<p>We're investigating.</p>"},
            "owner": OWNER_EMAIL
        }))
        .send()
        .await
        .expect("declaring the issue");
    assert_eq!(declared.status(), 201, "the issue is declared");
    let issue: Value = declared.json().await.expect("the issue");
    let issue_id = issue["id"].as_str().expect("its id").to_owned();

    let outcome: Shared = Arc::default();
    let running = Arc::new(AtomicBool::new(true));
    let load_started = Instant::now();
    let mut tasks = Vec::new();
    const READS: [&str; 4] = [
        "GET Graph issues",
        "GET portal dashboard",
        "GET status page",
        "GET /healthz (baseline)",
    ];
    for r in 0..settings.readers {
        let (http, browser, base, app_token, outcome, running) = (
            http.clone(),
            browser.clone(),
            base.clone(),
            app_token.clone(),
            outcome.clone(),
            running.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = r;
            while running.load(Ordering::Relaxed) {
                let kind = READS[n % READS.len()];
                n += 1;
                let sent = Instant::now();
                let res = match kind {
                    "GET Graph issues" => {
                        http.get(format!("{base}/v1.0/admin/serviceAnnouncement/issues"))
                            .bearer_auth(&app_token)
                            .send()
                            .await
                    }
                    "GET portal dashboard" => {
                        browser.get(format!("{base}/portal/health")).send().await
                    }
                    "GET status page" => http.get(format!("{base}/status")).send().await,
                    _ => http.get(format!("{base}/healthz")).send().await,
                };
                record(&outcome, kind, load_started, sent, answered(res).await);
            }
        }));
    }
    if settings.posts_per_second > 0 {
        let (http, base, op_token, issue_id, outcome, running) = (
            http.clone(),
            base.clone(),
            op_token.clone(),
            issue_id.clone(),
            outcome.clone(),
            running.clone(),
        );
        let period = Duration::from_secs_f64(1.0 / settings.posts_per_second as f64);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let body = json!({"post": {"content": format!("<p>Update {n}: still looking into it.</p>")}});
                let key = format!("failover-post-{n}");
                let sent = Instant::now();
                let mut tries = 0u32;
                // What the client sees first is what counts; then it does what a client
                // of an idempotent API does: the same request with the same key, until
                // it is answered.
                loop {
                    let res = http
                        .post(format!("{base}/api/v1/operator/issues/{issue_id}/posts"))
                        .bearer_auth(&op_token)
                        .header("idempotency-key", &key)
                        .json(&body)
                        .send()
                        .await;
                    let result = answered(res).await;
                    let done = matches!(result, Ok((200, _)));
                    if tries == 0 {
                        record(
                            &outcome,
                            "POST issue update (API, fan-out)",
                            load_started,
                            sent,
                            result,
                        );
                    }
                    if done {
                        if tries > 0 {
                            if let Ok(mut o) = outcome.lock() {
                                o.posts_retried += 1;
                            }
                        }
                        break;
                    }
                    tries += 1;
                    assert!(
                        sent.elapsed() < Duration::from_secs(120),
                        "update {n} was never answered"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }));
    }

    // The kill, the restart on the same port, and the rest of the load.
    let kill_at = Duration::from_secs(settings.kill_at);
    tokio::time::sleep(kill_at.saturating_sub(load_started.elapsed())).await;
    let killed_at = load_started.elapsed();
    if let Some(mut victim) = instances[1].take() {
        // SIGKILL: no graceful stop, nothing flushed, leases left to run out.
        let _ = victim.0.kill();
        let _ = victim.0.wait();
    }
    if let Ok(mut o) = outcome.lock() {
        o.killed_at_ms = killed_at.as_millis() as u64;
    }
    tokio::time::sleep(Duration::from_secs(settings.down_for)).await;
    let restarted_at = load_started.elapsed();
    if let Ok(mut o) = outcome.lock() {
        o.restarted_at_ms = restarted_at.as_millis() as u64;
    }
    instances[1] = Some(serve("i2 (restarted)", &args(1), &log));
    until_ready(
        &http,
        &format!("http://127.0.0.1:{}/readyz", ports[1]),
        Duration::from_secs(60),
    )
    .await;
    let ready_again = load_started.elapsed();
    if let Ok(mut o) = outcome.lock() {
        o.ready_again_ms = ready_again.as_millis() as u64;
    }
    let total = Duration::from_secs(settings.seconds);
    tokio::time::sleep(total.saturating_sub(load_started.elapsed())).await;
    // However slow the restart was, the load lasts until the balancer has taken the
    // restarted instance back (or a minute more has passed).
    while outcome.lock().map(|o| o.restarted_served).unwrap_or(1) == 0
        && load_started.elapsed() < total + Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    let load_ended = Instant::now();

    // Every post's deliveries, to every endpoint.
    let pool = sqlx::PgPool::connect(db_url)
        .await
        .expect("a connection to read the posts");
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(seq AS BIGINT) FROM issue_posts WHERE issue_id = $1 ORDER BY seq",
    )
    .bind(&issue_id)
    .fetch_all(&pool)
    .await
    .expect("the issue's posts");
    pool.close().await;
    let expected: BTreeSet<String> = seqs
        .iter()
        .flat_map(|seq| {
            let change = format!("issue:{issue_id}:post:{seq}");
            endpoints
                .iter()
                .map(move |e| delivery_id(&delivery_key(&change, &e.to_string(), Channel::Webhook)))
        })
        .collect();
    let snapshot = || seen.lock().map(|s| s.clone()).unwrap_or_default();
    loop {
        let got: BTreeSet<String> = snapshot().into_iter().collect();
        if expected.is_subset(&got) {
            break;
        }
        assert!(
            load_ended.elapsed() < Duration::from_secs(180),
            "{} of {} deliveries still missing 180 s after the load ended (log: {})",
            expected.difference(&got).count(),
            expected.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_after = load_ended.elapsed();
    // Anything in flight at the kill is sent again once its lease runs out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = snapshot();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &got {
        *counts.entry(id).or_default() += 1;
    }
    let distinct: BTreeSet<String> = got.iter().cloned().collect();

    let mut outcome = std::mem::take(&mut *outcome.lock().expect("the outcome"));
    outcome.posts = seqs.len();
    outcome.expected_deliveries = expected.len();
    outcome.delivered = got.len();
    outcome.lost = expected.difference(&distinct).count();
    outcome.unexpected = distinct.difference(&expected).count();
    outcome.repeated = counts.values().filter(|n| **n > 1).count();
    outcome.most_repeats = counts.values().copied().max().unwrap_or(0);
    outcome.drained_after = drained_after;
    drop(instances);
    outcome
}
