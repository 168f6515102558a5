//! Spawns Candor on a random loopback port with its own database (a SQLite file or a
//! fresh PostgreSQL database), a manual clock, and a small world of tenants, people and
//! API clients, then talks to it over real HTTP.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use candor_app::identity::{self, OperatorInput, TenantInput, UserInput};
use candor_app::password;
use candor_app::Core;
use candor_domain::clock::{Clock, ManualClock};
use candor_domain::identity::{Actor, ApiPermission, OperatorRole, TenantRole};
use candor_domain::store::Store;
use candor_domain::TenantId;
use candor_store_tests::harness::{sqlite_store, PostgresTestDb, SqliteTestDb};
use candor_web::{AppState, WebConfig};
use time::macros::datetime;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub enum DbGuard {
    Sqlite(SqliteTestDb),
    Postgres(PostgresTestDb),
}

pub struct TestApp {
    pub base: String,
    pub core: Arc<Core>,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub stop: CancellationToken,
    pub db: DbGuard,
    pub world: World,
}

#[derive(Clone)]
pub struct Person {
    pub email: String,
    pub id: String,
}

pub struct App {
    pub client_id: String,
    pub secret: String,
}

pub struct TenantFixture {
    pub id: TenantId,
    pub name: String,
    /// One user per tenant role, by role.
    pub users: Vec<(TenantRole, Person)>,
    /// One API client per permission, plus `all` with every permission.
    pub apps: Vec<(ApiPermission, App)>,
    pub all: App,
}

impl TenantFixture {
    pub fn user(&self, role: TenantRole) -> &Person {
        &self.users.iter().find(|(r, _)| *r == role).unwrap().1
    }

    pub fn app(&self, p: ApiPermission) -> &App {
        &self.apps.iter().find(|(q, _)| *q == p).unwrap().1
    }
}

pub struct World {
    pub a: TenantFixture,
    pub b: TenantFixture,
    pub operators: Vec<(OperatorRole, Person)>,
}

impl World {
    pub fn operator(&self, role: OperatorRole) -> &Person {
        &self.operators.iter().find(|(r, _)| *r == role).unwrap().1
    }
}

fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash_blocking(PASSWORD).unwrap())
        .clone()
}

async fn tenant(core: &Core, name: &str, lang: &str) -> TenantFixture {
    let t = identity::create_tenant(
        core,
        &Actor::System,
        None,
        TenantInput {
            name: name.into(),
            home_region: "eu-west".into(),
            default_language: candor_app::words::required_language("language", lang).unwrap(),
            time_zone: "Europe/Amsterdam".into(),
            is_demo: false,
        },
    )
    .await
    .unwrap();
    let slug = name.to_lowercase();
    let mut users = Vec::new();
    for role in TenantRole::ALL {
        let email = format!("{}@{slug}.example", role.as_str().to_lowercase());
        let u = identity::create_user_hashed(
            core,
            &Actor::System,
            None,
            t.id,
            UserInput {
                email: email.clone(),
                display_name: format!("{} of {name}", role.as_str()),
                password: PASSWORD.into(),
                roles: [*role].into_iter().collect(),
                language: None,
            },
            password_hash(),
        )
        .await
        .unwrap();
        users.push((
            *role,
            Person {
                email,
                id: u.id.to_string(),
            },
        ));
    }
    let mut apps = Vec::new();
    for p in ApiPermission::ALL {
        let issued = identity::create_api_client(
            core,
            &Actor::System,
            None,
            t.id,
            p.as_str(),
            &[p.as_str().into()],
        )
        .await
        .unwrap();
        apps.push((
            *p,
            App {
                client_id: issued.client.id.to_string(),
                secret: issued.secret,
            },
        ));
    }
    let all: Vec<String> = ApiPermission::ALL
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    let issued = identity::create_api_client(core, &Actor::System, None, t.id, "everything", &all)
        .await
        .unwrap();
    TenantFixture {
        id: t.id,
        name: name.into(),
        users,
        apps,
        all: App {
            client_id: issued.client.id.to_string(),
            secret: issued.secret,
        },
    }
}

pub async fn world(core: &Core) -> World {
    let a = tenant(core, "Contoso", "en").await;
    let b = tenant(core, "Fabrikam", "nl").await;
    let mut operators = Vec::new();
    for role in OperatorRole::ALL {
        let email = format!("{}@provider.example", role.as_str().to_lowercase());
        let o = identity::create_operator_hashed(
            core,
            &Actor::System,
            None,
            OperatorInput {
                email: email.clone(),
                display_name: format!("{} operator", role.as_str()),
                password: PASSWORD.into(),
                roles: [*role].into_iter().collect(),
                break_glass: candor_domain::elevation::is_privileged(*role),
            },
            password_hash(),
        )
        .await
        .unwrap();
        operators.push((
            *role,
            Person {
                email,
                id: o.id.to_string(),
            },
        ));
    }
    World { a, b, operators }
}

/// A store and core with nothing in them yet.
pub async fn bare_core(backend: Backend) -> Option<(Arc<Core>, Arc<ManualClock>, DbGuard)> {
    let (store, db) = open(backend).await?;
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 9:00 UTC)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    Some((
        Arc::new(Core::new(store, dyn_clock).await.unwrap()),
        clock,
        db,
    ))
}

async fn open(backend: Backend) -> Option<(Arc<dyn Store>, DbGuard)> {
    Some(match backend {
        Backend::Sqlite => {
            let db = sqlite_store().await;
            (db.store.clone() as Arc<dyn Store>, DbGuard::Sqlite(db))
        }
        Backend::Postgres => {
            let db = PostgresTestDb::create().await?;
            (db.store.clone() as Arc<dyn Store>, DbGuard::Postgres(db))
        }
    })
}

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_configured(backend, |_| {}).await
}

/// As `spawn`, with a change to the web configuration (e.g. lower limits).
pub async fn spawn_configured(
    backend: Backend,
    configure: impl FnOnce(&mut WebConfig),
) -> Option<TestApp> {
    let (core, clock, db) = bare_core(backend).await?;
    let world = world(&core).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    // As a provider sets it up: the world's Incident Manager is on duty.
    core.chase.set(candor_app::chase::ChaseSettings {
        duty: vec![candor_domain::identity::EmailAddress::parse(
            &world.operator(OperatorRole::IncidentManager).email,
        )
        .unwrap()],
        console_url: base.clone(),
        ..Default::default()
    });
    let mut config = WebConfig {
        public_url: base.clone(),
        ..WebConfig::default()
    };
    configure(&mut config);
    let (router, state) = candor_web::app(core.clone(), config).unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = candor_web::serve(listener, router, async move { s.cancelled().await }).await;
    });
    Some(TestApp {
        base,
        core,
        state,
        clock,
        stop,
        db,
        world,
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn token(&self, app: &App) -> String {
        let res = self
            .http()
            .post(self.url("/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &app.secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "token request failed");
        let body: serde_json::Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Signs in through the form (tenant portal or console) and returns the browser.
    pub async fn sign_in(&self, email: &str, console: bool) -> reqwest::Client {
        let browser = self.browser();
        let path = if console {
            "/console/signin"
        } else {
            "/signin"
        };
        let page = browser
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        let res = browser
            .post(self.url(path))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            303,
            "sign-in of {email} failed: {}",
            res.text().await.unwrap_or_default()
        );
        browser
    }

    /// The CSRF token on a page the browser can see.
    pub async fn csrf(&self, browser: &reqwest::Client, path: &str) -> String {
        let page = browser
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_of(&page)
    }

    pub async fn activities(&self, chain: candor_domain::audit::AuditChain) -> Vec<String> {
        self.core
            .store
            .audit_chain_records(&chain.key(), 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.activity)
            .collect()
    }
}

pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a CSRF field");
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// Runs an async test body against both backends.
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::common::spawn($crate::common::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::common::spawn($crate::common::Backend::Postgres).await else { return };
                    super::$name(app).await;
                }
            )+
        }
    };
}

/// Everything that carries mail in `serve`: the job runner (fan-outs, Lockbox mail) and
/// the delivery worker (news to contacts and webhooks), writing mail to a directory.
pub struct Mailroom {
    pub jobs: candor::jobs::JobRunner,
    pub deliveries: candor::deliveries::DeliveryRunner,
}

impl Mailroom {
    pub fn new(core: Arc<Core>, outbox: &std::path::Path, public_url: &str) -> Mailroom {
        let mailer = Arc::new(
            candor_delivery::email::Mailer::pickup(outbox.to_owned(), "Candor <candor@localhost>")
                .unwrap(),
        );
        Mailroom {
            jobs: candor::jobs::JobRunner::new(core.clone()).with_public_url(public_url.to_owned()),
            deliveries: candor::deliveries::DeliveryRunner::new(
                core,
                Some(mailer),
                candor::deliveries::DeliverySettings::default(),
            ),
        }
    }

    /// Runs jobs and deliveries until neither has anything due.
    pub async fn run(&self) -> candor::deliveries::BatchReport {
        let mut total = candor::deliveries::BatchReport::default();
        loop {
            let mut jobs = 0;
            while self.jobs.run_one().await.unwrap().is_some() {
                jobs += 1;
            }
            let r = self.deliveries.drain().await.unwrap();
            total.add(&r);
            if jobs == 0 && r.total() == 0 {
                return total;
            }
        }
    }
}

/// Spawns `serve` (a `candor serve` command, its arguments set) with its stderr appended
/// to `log`, and waits up to a minute for it to say where it listens. Only what it writes
/// after the spawn counts, so one log can hold several runs. Not `crash::wait_for`: on a
/// timeout this kills the child, which a panic alone would leave running.
// The child is handed to the caller, whose guard waits for it.
#[allow(clippy::zombie_processes)]
pub async fn spawn_logged(
    serve: &mut std::process::Command,
    log: &std::path::Path,
) -> (std::process::Child, String) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let from = std::fs::metadata(log).map_or(0, |m| m.len()) as usize;
    let mut child = serve.stderr(file).spawn().unwrap();
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(base) = text.get(from..).and_then(listening_address) {
            return (child, base);
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "candor serve did not start:\n{}",
                text.get(from..).unwrap_or(&text)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Where `candor serve` says it listens, from the text of its log. Only a finished line
/// counts: the log is read while the server writes it, and a line caught half-written
/// would give an address without its port.
pub fn listening_address(log: &str) -> Option<String> {
    let finished = &log[..log.rfind('\n').map_or(0, |end| end + 1)];
    finished
        .lines()
        .find_map(|line| line.split("listening on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

#[test]
fn a_half_written_line_gives_no_address() {
    let line = "Candor is listening on http://127.0.0.1:4321 (sign in at …/signin)\n";
    assert_eq!(listening_address(&line[..36]), None);
    assert_eq!(listening_address(&line[..line.len() - 1]), None);
    assert_eq!(
        listening_address(&format!("starting\n{line}")).as_deref(),
        Some("http://127.0.0.1:4321")
    );
}

/// What a CLI command run against a test's PostgreSQL database is given: the database,
/// and a key file of its own (outside the current directory) for the audit key, which
/// the first command moves there from the database the test's in-process core made.
pub fn postgres_cli_args(url: &str) -> Vec<String> {
    let name = url.rsplit('/').next().unwrap_or("candor");
    vec![
        "--database-url".into(),
        url.to_owned(),
        "--signing-key-file".into(),
        std::env::temp_dir()
            .join(format!("{name}.signing.key"))
            .display()
            .to_string(),
    ]
}
