//! Key rotation: `candor keys rotate` puts a new token or audit key in place; a restarted
//! server signs with it, still accepts tokens signed before, publishes both keys; old
//! checkpoints still verify; and a running instance picks up a new token key from the
//! store, at once when a token signed with it arrives (otherwise within a minute).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use candor_app::identity::{self, TenantInput};
use candor_app::keys::Keys;
use candor_app::Core;
use candor_domain::clock::SystemClock;
use candor_domain::identity::Actor;
use candor_web::auth::token::TokenService;
use serde_json::Value;

use crate::common::TestApp;

fn candor(args: &[&str], data: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A running server, stopped (SIGTERM) when dropped, also when a test fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

async fn serve(data: &std::path::Path) -> (Server, String) {
    let (child, base) = crate::common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_candor"))
            // One issuer across restarts, as behind a fixed address.
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-jobs",
                "--public-url",
                "http://candor.test",
            ])
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::null()),
        &data.join("serve.log"),
    )
    .await;
    (Server(child), base)
}

fn stop(server: Server) {
    drop(server);
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    crate::cluster::token(http, base, id, secret).await
}

async fn me(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An embedded database in `data` as an older Candor made it (its audit key in the
/// store), with one tenant.
async fn older_candor_with_a_tenant(
    data: &std::path::Path,
) -> (
    Arc<candor_store_sqlite::SqliteStore>,
    Core,
    candor_domain::identity::Tenant,
) {
    let store = Arc::new(
        candor_store_sqlite::SqliteStore::open(&data.join("candor.db"))
            .await
            .unwrap(),
    );
    let core = Core::new(store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let tenant = identity::create_tenant(
        &core,
        &Actor::System,
        None,
        TenantInput {
            name: "Contoso".into(),
            home_region: "eu-west".into(),
            default_language: candor_domain::language::Language::English,
            time_zone: "UTC".into(),
            is_demo: false,
        },
    )
    .await
    .unwrap();
    (store, core, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_take_over_at_restart_and_old_tokens_and_checkpoints_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (store, core, tenant) = older_candor_with_a_tenant(data).await;
    let app = identity::create_api_client(
        &core,
        &Actor::System,
        None,
        tenant.id,
        "Dashboard",
        &["ServiceHealth.Read.All".into()],
    )
    .await
    .unwrap();
    drop(core);
    store.close().await;
    let (id, secret) = (app.client.id.to_string(), app.secret.clone());
    let http = reqwest::Client::new();

    let (server, base) = serve(data).await;
    let before = token(&http, &base, &id, &secret).await;
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    stop(server);
    let (ok, out) = candor(&["audit", "checkpoint"], data);
    assert!(ok, "{out}");

    let (ok, out) = candor(&["keys", "rotate", "--purpose", "token"], data);
    assert!(ok, "{out}");
    assert!(out.contains(&kid(&before)), "names the retired key: {out}");
    let (ok, out) = candor(&["keys", "rotate", "--purpose", "audit"], data);
    assert!(ok, "{out}");
    let (ok, out) = candor(&["keys", "rotate", "--purpose", "vapid"], data);
    assert!(!ok);
    assert!(out.contains("bound to it"), "{out}");
    let (ok, out) = candor(&["keys", "list", "--purpose", "token"], data);
    assert!(
        ok && out.contains("(in use)") && out.contains(&kid(&before)),
        "{out}"
    );

    let (server, base) = serve(data).await;
    let after = token(&http, &base, &id, &secret).await;
    assert_ne!(kid(&after), kid(&before), "signed with the new key");
    assert_eq!(me(&http, &base, &after).await, 200);
    assert_eq!(
        me(&http, &base, &before).await,
        200,
        "a token signed before the rotation still works"
    );
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![kid(&after).as_str(), kid(&before).as_str()]);
    stop(server);

    // The checkpoint signed with the old audit key verifies, and so does a new one.
    let (ok, out) = candor(&["audit", "checkpoint"], data);
    assert!(ok, "{out}");
    let (ok, out) = candor(&["audit", "verify"], data);
    assert!(ok, "{out}");
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (
        (today - time::Duration::days(1)).to_string(),
        (today + time::Duration::days(2)).to_string(),
    );
    let (ok, out) = candor(
        &[
            "audit",
            "search",
            "--activities",
            "Set-SigningKey",
            "--from",
            &from,
            "--to",
            &to,
        ],
        data,
    );
    assert!(ok && out.matches("Set-SigningKey").count() >= 2, "{out}");
}

/// Length of the audit key secret the database holds (0: none).
async fn audit_secret_in_database(data: &std::path::Path) -> i64 {
    let store = candor_store_sqlite::SqliteStore::open(&data.join("candor.db"))
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(SUM(length(secret)), 0) FROM signing_keys WHERE purpose = 'audit'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_key_is_kept_in_its_file_never_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_file = dir.path().join("secrets").join("signing.key");
    let key_arg = key_file.display().to_string();
    std::fs::create_dir_all(&data).unwrap();
    // What an older Candor left: the audit key's secret in the database.
    let (store, core, _) = older_candor_with_a_tenant(&data).await;
    let old_key = core.keys.audit.key_id.clone();
    candor_app::audit::checkpoint_all(&core).await.unwrap();
    drop(core);
    store.close().await;
    assert_eq!(audit_secret_in_database(&data).await, 32);

    // This version moves it to the key file, readable by its owner only, and the
    // database forgets it; what it signed before still verifies.
    let (ok, out) = candor(&["audit", "verify", "--signing-key-file", &key_arg], &data);
    assert!(ok, "{out}");
    assert_eq!(audit_secret_in_database(&data).await, 0);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains(&old_key), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, out) = candor(
        &["audit", "checkpoint", "--signing-key-file", &key_arg],
        &data,
    );
    assert!(ok, "{out}");

    // Without the file there is no key to sign with, and Candor says where it is.
    let (ok, out) = candor(&["audit", "checkpoint"], &data);
    assert!(!ok);
    assert!(
        out.contains("kept outside") && out.contains(&old_key),
        "{out}"
    );
    // Another key file is not this installation's.
    let other = dir.path().join("other.key");
    let (ok, out) = candor(
        &["keys", "init", "--out", &other.display().to_string()],
        &data,
    );
    assert!(ok, "{out}");
    let (ok, out) = candor(
        &[
            "audit",
            "checkpoint",
            "--signing-key-file",
            &other.display().to_string(),
        ],
        &data,
    );
    assert!(!ok);
    assert!(out.contains("another installation"), "{out}");
    // A key file is never replaced by init.
    let (ok, out) = candor(&["keys", "init", "--out", &key_arg], &data);
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");
    // The key's text may come through the environment instead.
    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .env("CANDOR_SIGNING_KEY", &text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A rotation writes a new key file, keeps the old one beside it, and the database
    // again holds no secret, only both public keys.
    let (ok, out) = candor(
        &[
            "keys",
            "rotate",
            "--purpose",
            "audit",
            "--signing-key-file",
            &key_arg,
        ],
        &data,
    );
    assert!(ok, "{out}");
    assert!(key_file
        .with_extension(format!("retired-{old_key}"))
        .exists());
    assert_eq!(audit_secret_in_database(&data).await, 0);
    let (ok, out) = candor(
        &["audit", "checkpoint", "--signing-key-file", &key_arg],
        &data,
    );
    assert!(ok, "{out}");
    let (ok, out) = candor(&["audit", "verify", "--signing-key-file", &key_arg], &data);
    assert!(ok, "{out}");
}

/// Rolling restarts: an instance still on the old keys accepts a token another instance
/// signed with the new key, learning the key from the store.
async fn an_instance_learns_a_rotated_token_key(app: TestApp) {
    let done = candor_app::keys::rotate(
        &app.core,
        &Actor::System,
        None,
        candor_domain::store::KeyPurpose::Token,
    )
    .await
    .unwrap();
    let restarted = Keys::load(app.core.store.as_ref(), app.core.clock.now(), None)
        .await
        .unwrap();
    assert_eq!(restarted.token.key_id, done.key_id);
    let other = TokenService::new(&restarted, app.base.clone()).unwrap();
    let client = app
        .core
        .store
        .get_api_client(app.world.a.all.client_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let signed_elsewhere = other.issue(&client, app.core.clock.now()).unwrap();
    assert_eq!(kid(&signed_elsewhere), done.key_id);
    let res = app
        .http()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&signed_elsewhere)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Having read the keys again, this instance also signs with the new key, and
    // publishes both.
    assert_eq!(app.state.tokens.signing_key_id(), done.key_id);
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        vec![done.key_id.as_str(), done.retired.as_deref().unwrap()]
    );
    // A token signed by a key nobody has is refused, and says why.
    let forged = {
        let keys = Keys::ephemeral(app.core.clock.now()).unwrap();
        TokenService::new(&keys, app.base.clone())
            .unwrap()
            .issue(&client, app.core.clock.now())
            .unwrap()
    };
    let res = app
        .http()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key Candor does not know"),
        "{body}"
    );
}

crate::both!(an_instance_learns_a_rotated_token_key);
