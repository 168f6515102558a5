//! The audit log: search, paging, export, and `candor audit verify` catching every kind of
//! tampering (edit, delete, insert) on both databases.

use std::process::Command;

use candor_domain::audit::{seal, AuditChain, ChainHead};
use candor_domain::identity::TenantRole;
use candor_domain::time_util::to_unix_micros;
use candor_domain::AuditRecordId;
use serde_json::Value;

use crate::common::{DbGuard, TestApp};

const RANGE: &str = "start=2026-11-01&end=2026-12-01";

async fn search_pages_newest_first_and_refuses_bad_ranges(app: TestApp) {
    let token = app.token(&app.world.a.all).await;
    let get = |q: String| {
        let http = app.http();
        let url = app.url(&format!("/api/v1/audit/records?{q}"));
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{RANGE}&limit=4&cursor={c}"),
            None => format!("{RANGE}&limit=4"),
        };
        let res = get(q).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        for r in body["items"].as_array().unwrap() {
            seen.push(r["seq"].as_i64().unwrap());
        }
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let n = seen.len() as i64;
    assert!(
        n >= 10,
        "tenant creation, users and clients are all recorded"
    );
    assert_eq!(
        seen,
        (1..=n).rev().collect::<Vec<_>>(),
        "newest first, nothing skipped or repeated"
    );

    let filtered: Value = get(format!("{RANGE}&activities=Add-User&users=SYSTEM"))
        .await
        .json()
        .await
        .unwrap();
    let items = filtered["items"].as_array().unwrap();
    assert_eq!(items.len(), TenantRole::ALL.len());
    assert!(items
        .iter()
        .all(|r| r["activity"] == "Add-User" && r["user"] == "system"));

    for (q, field) in [
        ("end=2026-12-01".to_owned(), "start"),
        ("start=2026-11-01".to_owned(), "end"),
        ("start=2026-12-01&end=2026-11-01".to_owned(), "end"),
        ("start=yesterday&end=2026-11-01".to_owned(), "start"),
        (format!("{RANGE}&cursor=abc"), "cursor"),
        (format!("{RANGE}&limit=lots"), "query string"),
    ] {
        let res = get(q.clone()).await;
        assert_eq!(res.status(), 400, "{q}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{q}: {body}"
        );
    }
}

async fn exports_stream_every_matching_record(app: TestApp) {
    let token = app.token(&app.world.a.all).await;
    let export = |format: &'static str| {
        let http = app.http();
        let url = app.url(&format!(
            "/api/v1/audit/records/export?{RANGE}&format={format}"
        ));
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let res = export("json").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".json"));
    let records: Vec<Value> = res.json().await.unwrap();
    assert!(records.len() >= 10);
    assert_eq!(
        records[0]["activity"], "Export-AuditLog",
        "the export records itself first"
    );
    let res = export("csv").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>()[..5],
        ["Date", "IPAddress", "User", "ActorKind", "Activity"]
    );
    assert_eq!(
        reader.records().count(),
        records.len() + 1,
        "the CSV export is recorded too"
    );
    let res = export("xml").await;
    assert_eq!(res.status(), 400);

    // The portal's export link works for an Audit Reader.
    let browser = app
        .sign_in(&app.world.a.user(TenantRole::AuditReader).email, false)
        .await;
    let page = browser
        .get(app.url("/portal/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("UserLoggedIn"),
        "first visit shows the last seven days"
    );
    let res = browser
        .get(app.url(&format!("/portal/audit/export?{RANGE}&format=csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

fn candor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the candor binary: whether it succeeded, and all it printed.
pub(crate) fn candor_said(args: &[&str]) -> (bool, String) {
    let out = candor(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The caller's log's origin, keys and where it is published.
pub(crate) async fn log_keys(app: &TestApp, token: &str) -> Value {
    app.http()
        .get(app.url("/api/v1/audit/keys"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn db_args(app: &TestApp) -> Vec<String> {
    match &app.db {
        DbGuard::Sqlite(db) => vec![
            "--data-dir".into(),
            db.path.parent().unwrap().display().to_string(),
        ],
        DbGuard::Postgres(db) => crate::common::postgres_cli_args(&db.url),
    }
}

pub(crate) fn verify(app: &TestApp) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    let db = db_args(app);
    args.extend(db.iter().map(String::as_str));
    candor_said(&args)
}

async fn sql(app: &TestApp, statement: &str) {
    match &app.db {
        DbGuard::Sqlite(db) => {
            sqlx::query(statement)
                .execute(db.store.pool())
                .await
                .unwrap();
        }
        DbGuard::Postgres(db) => {
            sqlx::query(statement)
                .execute(db.store.pool())
                .await
                .unwrap();
        }
    }
}

async fn checkpoint(app: &TestApp) {
    let n = candor_app::audit::checkpoint_all(&app.core).await.unwrap();
    assert!(n >= 3);
}

async fn an_edited_record_is_found(app: TestApp) {
    checkpoint(&app).await;
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.contains("signed checkpoints"), "{out}");
    let chain = AuditChain::Tenant(app.world.a.id).key();
    let records = app
        .core
        .store
        .audit_chain_records(&chain, 0, 100)
        .await
        .unwrap();
    let target = &records[2];
    sql(&app, &format!("UPDATE audit_records SET activity = 'Nothing-To-See' WHERE chain = '{chain}' AND seq = 3")).await;
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(
        out.contains(&target.id.to_string()) && out.contains("altered"),
        "{out}"
    );
}

async fn a_deleted_record_is_found(app: TestApp) {
    let chain = AuditChain::Tenant(app.world.a.id).key();
    let records = app
        .core
        .store
        .audit_chain_records(&chain, 0, 100)
        .await
        .unwrap();
    sql(
        &app,
        &format!("DELETE FROM audit_records WHERE chain = '{chain}' AND seq = 4"),
    )
    .await;
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(
        out.contains(&records[4].id.to_string()),
        "names the record after the gap: {out}"
    );
    // Removing the newest records is caught against the recorded head and checkpoints.
    let b = AuditChain::Tenant(app.world.b.id).key();
    checkpoint(&app).await;
    sql(
        &app,
        &format!("DELETE FROM audit_records WHERE chain = '{b}' AND seq > 5"),
    )
    .await;
    let (_, out) = verify(&app);
    assert!(out.contains("records at the end were removed"), "{out}");
}

async fn an_inserted_record_is_found(app: TestApp) {
    let chain = AuditChain::Tenant(app.world.a.id);
    let key = chain.key();
    let records = app
        .core
        .store
        .audit_chain_records(&key, 0, 100)
        .await
        .unwrap();
    // A forger who knows the algorithm writes a perfectly linked record after seq 2
    // and renumbers the rest to make room.
    let after = &records[1];
    let forged_new = candor_domain::audit::NewAuditRecord::new(
        chain,
        after.occurred_at,
        "mallory@contoso.example",
        candor_domain::audit::ActorKind::TenantUser,
        "Set-UserRoles",
    );
    let (forged, _) = seal(
        forged_new,
        AuditRecordId::generate(),
        ChainHead {
            seq: after.seq,
            hash: after.hash,
        },
    );
    sql(
        &app,
        &format!("UPDATE audit_records SET seq = seq + 1000000 WHERE chain = '{key}' AND seq > 2"),
    )
    .await;
    sql(&app, &format!("UPDATE audit_records SET seq = seq - 1000000 + 1 WHERE chain = '{key}' AND seq > 1000000")).await;
    let (prev, hash) = (hex(&forged.prev_hash), hex(&forged.hash));
    let statement = match &app.db {
        DbGuard::Sqlite(_) => format!(
            "INSERT INTO audit_records (chain, seq, id, tenant_id, occurred_at, actor, actor_kind, ip_address, activity, item, details, prev_hash, hash)
             VALUES ('{key}', 3, '{}', '{}', {}, '{}', 'tenantUser', NULL, 'Set-UserRoles', NULL, '{{}}', X'{prev}', X'{hash}')",
            forged.id, app.world.a.id, to_unix_micros(forged.occurred_at), forged.actor
        ),
        DbGuard::Postgres(_) => format!(
            "INSERT INTO audit_records (chain, seq, id, tenant_id, occurred_at, actor, actor_kind, ip_address, activity, item, details, prev_hash, hash)
             VALUES ('{key}', 3, '{}', '{}', to_timestamp({}::double precision / 1000000), '{}', 'tenantUser', NULL, 'Set-UserRoles', NULL, '{{}}', '\\x{prev}', '\\x{hash}')",
            forged.id, app.world.a.id, to_unix_micros(forged.occurred_at), forged.actor
        ),
    };
    sql(&app, &statement).await;
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(
        out.contains(&records[2].id.to_string()),
        "names the first record that no longer links: {out}"
    );
    // Verifying another tenant alone still passes.
    let mut args = vec![
        "audit".to_owned(),
        "verify".to_owned(),
        "--tenant".to_owned(),
        app.world.b.id.to_string(),
    ];
    args.extend(db_args(&app));
    let out = candor(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn unb64(v: &Value) -> candor_domain::audit::tree::TreeHash {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    candor_domain::audit::tree::TreeHash(bytes.try_into().unwrap())
}

fn path_of(v: &Value) -> Vec<candor_domain::audit::tree::TreeHash> {
    v.as_array().unwrap().iter().map(unb64).collect()
}

async fn each_record_is_proved_in_the_log_and_the_log_only_grew(app: TestApp) {
    use candor_domain::audit::tree;
    let token = app.token(&app.world.a.all).await;
    let get = |q: String| {
        let http = app.http();
        let url = app.url(&q);
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let page: Value = get(format!("/api/v1/audit/records?{RANGE}&limit=500"))
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap().clone();
    let n = items.len() as u64;
    assert!(n >= 10);
    let stored = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.a.id).key(), 0, 1000)
        .await
        .unwrap();
    for item in &items {
        let leaf = item["leafIndex"].as_u64().unwrap();
        assert_eq!(leaf, item["seq"].as_u64().unwrap() - 1);
        // The leaf hash the API gives is the record's own.
        let record = &stored[leaf as usize];
        assert_eq!(unb64(&item["leafHash"]), tree::leaf_hash(record));
        for size in [leaf + 1, n] {
            let res = get(format!(
                "/api/v1/audit/records/{}/proof?size={size}",
                item["id"].as_str().unwrap()
            ))
            .await;
            assert_eq!(res.status(), 200);
            let proof: Value = res.json().await.unwrap();
            assert_eq!(proof["treeSize"], size);
            assert_eq!(proof["leafIndex"], leaf);
            tree::verify_inclusion(
                &path_of(&proof["inclusionPath"]),
                leaf,
                size,
                unb64(&proof["rootHash"]),
                tree::leaf_hash(record),
            )
            .unwrap();
        }
    }
    // Without a size: against the log as it is now.
    let latest: Value = get(format!(
        "/api/v1/audit/records/{}/proof",
        items[0]["id"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap();
    let now = latest["treeSize"].as_u64().unwrap();
    assert!(now >= n);
    // The log of half the records is a prefix of the log now.
    let half = n / 2;
    let older: Value = get(format!(
        "/api/v1/audit/records/{}/proof?size={half}",
        items[items.len() - 1]["id"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap();
    let res = get(format!("/api/v1/audit/consistency?from={half}")).await;
    assert_eq!(res.status(), 200);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["fromSize"], half);
    assert_eq!(c["fromRootHash"], older["rootHash"]);
    assert_eq!(c["toSize"], now);
    assert_eq!(c["toRootHash"], latest["rootHash"]);
    tree::verify_consistency(
        &path_of(&c["consistencyPath"]),
        half,
        unb64(&c["fromRootHash"]),
        now,
        unb64(&c["toRootHash"]),
    )
    .unwrap();
    // What cannot be proved is refused with the reason; another tenant's record is not
    // this log's.
    for (q, field) in [
        (
            format!("/api/v1/audit/consistency?from={}", now + 1),
            "from",
        ),
        (
            format!("/api/v1/audit/consistency?from=1&to={}", now + 5),
            "to",
        ),
        ("/api/v1/audit/consistency".to_owned(), "from"),
        ("/api/v1/audit/consistency?from=two".to_owned(), "from"),
        (
            format!(
                "/api/v1/audit/records/{}/proof?size={}",
                items[0]["id"].as_str().unwrap(),
                now + 1
            ),
            "size",
        ),
        (
            format!(
                "/api/v1/audit/records/{}/proof?size=1",
                items[0]["id"].as_str().unwrap()
            ),
            "size",
        ),
    ] {
        let res = get(q.clone()).await;
        assert_eq!(res.status(), 400, "{q}");
        let err: Value = res.json().await.unwrap();
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{q}: {err}"
        );
    }
    let theirs = app
        .core
        .store
        .audit_chain_records(&AuditChain::Tenant(app.world.b.id).key(), 0, 1)
        .await
        .unwrap();
    for id in [theirs[0].id.to_string(), "not-an-id".to_owned()] {
        let res = get(format!("/api/v1/audit/records/{id}/proof")).await;
        assert_eq!(res.status(), 404, "{id}");
    }
}

async fn a_rewritten_tree_hash_is_found(app: TestApp) {
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    let chain = AuditChain::Tenant(app.world.a.id).key();
    let records = app
        .core
        .store
        .audit_chain_records(&chain, 0, 100)
        .await
        .unwrap();
    let zeros = "00".repeat(32);
    let statement = match &app.db {
        DbGuard::Sqlite(_) => format!(
            "UPDATE audit_records SET tree_hashes = X'{zeros}' WHERE chain = '{chain}' AND seq = 5"
        ),
        DbGuard::Postgres(_) => format!(
            "UPDATE audit_records SET tree_hashes = '\\x{zeros}' WHERE chain = '{chain}' AND seq = 5"
        ),
    };
    sql(&app, &statement).await;
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(
        out.contains(&records[4].id.to_string()) && out.contains("tree"),
        "{out}"
    );
}

async fn checkpoints_are_signed_notes_a_tenant_verifies(app: TestApp) {
    checkpoint(&app).await;
    let token = app.token(&app.world.a.all).await;
    let get = |q: &str| {
        let http = app.http();
        let url = app.url(q);
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let keys: Value = get("/api/v1/audit/keys").await.json().await.unwrap();
    let origin = format!("candor.local/audit/{}", app.world.a.id);
    assert_eq!(keys["origin"], origin.as_str());
    let vkey = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    assert!(vkey.starts_with(&format!("{origin}+")), "{vkey}");
    assert_eq!(keys["keys"][0]["inUse"], true);

    let res = get("/api/v1/audit/log/checkpoint").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    // Checked with the C2SP libraries and nothing but what the API published.
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let note = signed_note::Note::from_bytes(text.as_bytes()).unwrap();
    let (verified, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    let head = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(head.origin(), origin);
    let size = head.size();
    assert!(size >= 10);
    // The signed root is the root every proof against that size gives.
    let c: Value = get(&format!("/api/v1/audit/consistency?from={size}&to={size}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unb64(&c["toRootHash"]).0, head.hash().0);
    // Another tenant's checkpoint is its own log's, under its own name.
    let other = app.token(&app.world.b.all).await;
    let theirs = app
        .http()
        .get(app.url("/api/v1/audit/log/checkpoint"))
        .bearer_auth(other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(theirs.starts_with(&format!("candor.local/audit/{}\n", app.world.b.id)));

    // A checkpoint note changed in the database no longer verifies.
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    let chain = AuditChain::Tenant(app.world.a.id).key();
    sql(&app, &format!("UPDATE audit_checkpoints SET note = replace(note, 'candor.local', 'candor.evil') WHERE chain = '{chain}'")).await;
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.contains("signed tree head"), "{out}");
}

/// `candor verify` run by the tenant: nothing but Candor's published answers and the key.
fn tenant_verify(
    app: &TestApp,
    key: &str,
    token: &str,
    state: &std::path::Path,
    records: Option<&std::path::Path>,
) -> (bool, String) {
    let mut args = vec![
        "verify".to_owned(),
        "--log".to_owned(),
        app.base.clone(),
        "--key".to_owned(),
        key.to_owned(),
        "--token".to_owned(),
        token.to_owned(),
        "--state".to_owned(),
        state.display().to_string(),
    ];
    if let Some(r) = records {
        args.push("--records".into());
        args.push(r.display().to_string());
    }
    candor_said(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

async fn a_tenant_verifies_its_log_with_candor_verify(app: TestApp) {
    checkpoint(&app).await;
    let token = app.token(&app.world.a.all).await;
    let http = app.http();
    let keys = log_keys(&app, &token).await;
    let key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let body = http
        .get(app.url(&format!("/api/v1/audit/records/export?{RANGE}&format=json")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&export, &body).unwrap();
    let exported: Vec<Value> = serde_json::from_str(&body).unwrap();
    let state = dir.path().join("state.json");

    // First look: the checkpoint verifies, every exported record is in it.
    let (ok, out) = tenant_verify(&app, &key, &token, &state, Some(&export));
    assert!(ok, "{out}");
    assert!(out.contains("ok    checkpoint of"), "{out}");
    // The export's newest records (the token it used, the export itself) came after the
    // checkpoint: they wait for the next one, and are said to.
    let covered = exported
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap() <= 12)
        .count();
    assert!(covered >= 10);
    assert!(
        out.contains("exported records are in the signed tree") && !out.contains("FAIL"),
        "{out}"
    );
    assert!(out.contains("newer than the latest checkpoint"), "{out}");
    assert!(state.exists());

    // The log grows; the next look proves it only grew.
    identity_change(&app).await;
    candor_app::audit::checkpoint_all(&app.core).await.unwrap();
    let (ok, out) = tenant_verify(&app, &key, &token, &state, None);
    assert!(ok, "{out}");
    assert!(out.contains("the log only grew"), "{out}");

    // A record changed after it was exported is not in the signed tree.
    let mut forged = exported.clone();
    let last = forged.len() - 1;
    forged[last]["activity"] = Value::String("Nothing-To-See".into());
    let forged_file = dir.path().join("forged.json");
    std::fs::write(&forged_file, serde_json::to_string(&forged).unwrap()).unwrap();
    let (ok, out) = tenant_verify(&app, &key, &token, &state, Some(&forged_file));
    assert!(!ok);
    assert!(
        out.contains(forged[last]["id"].as_str().unwrap())
            && out.contains("not in the signed tree"),
        "{out}"
    );

    // What this tenant saw before differs from what the log shows now for that size: a
    // fork, named; the state file keeps what was seen.
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let origin = keys["origin"].as_str().unwrap();
    let size = seen["logs"][origin]["size"].as_u64().unwrap();
    let forked = serde_json::json!({"logs": {origin: {"size": size, "root": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}});
    std::fs::write(&state, forked.to_string()).unwrap();
    let (ok, out) = tenant_verify(&app, &key, &token, &state, None);
    assert!(!ok);
    assert!(out.contains("FORK"), "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&state).unwrap()).unwrap(),
        forked
    );
    // A log that shows fewer records than were seen has lost some.
    let longer = serde_json::json!({"logs": {origin: {"size": size + 1000, "root": seen["logs"][origin]["root"]}}});
    std::fs::write(&state, longer.to_string()).unwrap();
    let (ok, out) = tenant_verify(&app, &key, &token, &state, None);
    assert!(!ok);
    assert!(out.contains("shrank"), "{out}");
    // Another log's key, or a key of the right log made by someone else, is refused.
    let other_key = candor_domain::audit::note::verifier_key(
        origin,
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    );
    let (ok, out) = tenant_verify(&app, &other_key, &token, &dir.path().join("new.json"), None);
    assert!(!ok);
    assert!(
        out.contains("no signature on the checkpoint verifies"),
        "{out}"
    );
}

/// `candor verify --full`: the tenant reads every record from the log's tiles.
fn tenant_verify_full(
    app: &TestApp,
    key: &str,
    token: &str,
    state: &std::path::Path,
) -> (bool, String) {
    candor_said(&[
        "verify",
        "--log",
        &app.base,
        "--full",
        "--key",
        key,
        "--token",
        token,
        "--state",
        &state.display().to_string(),
    ])
}

async fn a_log_rewritten_in_the_database_is_caught_from_its_tiles(app: TestApp) {
    // Enough records for a full entry bundle and a level-1 hash tile.
    for _ in 0..3 {
        app.core
            .store
            .append_audit(
                (0..100)
                    .map(|i| {
                        candor_domain::audit::NewAuditRecord::new(
                            AuditChain::Tenant(app.world.a.id),
                            app.core.clock.now(),
                            "system",
                            candor_domain::audit::ActorKind::System,
                            "Test-Filler",
                        )
                        .details(serde_json::json!({ "n": i }))
                    })
                    .collect(),
            )
            .await
            .unwrap();
    }
    checkpoint(&app).await;
    let token = app.token(&app.world.a.all).await;
    let http = app.http();
    let keys = log_keys(&app, &token).await;
    let key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    // The tiles are C2SP tiles: a full level-0 tile is 256 hashes, and a bundle's
    // entries hash to them.
    let get = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        let url = app.url(&path);
        async move {
            let res = http.get(url).bearer_auth(token).send().await.unwrap();
            (res.status(), res.bytes().await.unwrap().to_vec())
        }
    };
    let (status, hashes) = get("/api/v1/audit/log/tile/0/000".into()).await;
    assert_eq!(status, 200);
    assert_eq!(hashes.len(), 256 * 32);
    let (_, bundle) = get("/api/v1/audit/log/tile/entries/000".into()).await;
    let entries = candor_verify::tiles::unbundle(&bundle).unwrap();
    assert_eq!(entries.len(), 256);
    assert_eq!(
        tlog_tiles::record_hash(entries[7]).0.as_slice(),
        &hashes[7 * 32..8 * 32]
    );
    let (status, _) = get("/api/v1/audit/log/tile/0/009".into()).await;
    assert_eq!(status, 404, "a tile the log does not have yet");
    let (status, body) = get("/api/v1/audit/log/tile/9/000/extra".into()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    let (ok, out) = tenant_verify_full(&app, &key, &token, &state);
    assert!(ok, "{out}");
    assert!(out.contains("records read from the tiles"), "{out}");

    // Someone with the database but not the key file rewrites the tenant's history from
    // its third record on, re-hashing the chain and the tree so that `candor audit
    // verify` would have nothing to compare with but the checkpoints.
    let chain = AuditChain::Tenant(app.world.a.id).key();
    let records = app
        .core
        .store
        .audit_chain_records(&chain, 0, 10_000)
        .await
        .unwrap();
    sql(
        &app,
        &format!("DELETE FROM audit_records WHERE chain = '{chain}'"),
    )
    .await;
    sql(
        &app,
        &format!("DELETE FROM audit_chain_heads WHERE chain = '{chain}'"),
    )
    .await;
    let rewritten: Vec<_> = records
        .iter()
        .map(|r| candor_domain::audit::NewAuditRecord {
            chain: AuditChain::Tenant(app.world.a.id),
            occurred_at: r.occurred_at,
            actor: r.actor.clone(),
            actor_kind: r.actor_kind,
            ip_address: r.ip_address.clone(),
            activity: if r.seq == 3 {
                "Nothing-To-See".into()
            } else {
                r.activity.clone()
            },
            item: r.item.clone(),
            details: serde_json::from_str(&r.details).unwrap(),
        })
        .collect();
    app.core.store.append_audit(rewritten).await.unwrap();

    // The checkpoint served is still the one signed before: the entries no longer make
    // its root, nor the root the tenant saw.
    let (ok, out) = tenant_verify_full(&app, &key, &token, &state);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the entries were changed after they were signed"),
        "{out}"
    );
    assert!(out.contains("history was rewritten"), "{out}");
    // Signing a new checkpoint over the rewritten log takes the key file; one signed with
    // any other key does not verify with the tenant's key.
    let forged = candor_domain::audit::note::sign_checkpoint(
        keys["origin"].as_str().unwrap(),
        records.len() as u64,
        app.core.store.audit_tree(&chain).await.unwrap().root(),
        &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    )
    .unwrap();
    sql(
        &app,
        &format!("UPDATE audit_checkpoints SET note = '{forged}' WHERE chain = '{chain}'"),
    )
    .await;
    let (ok, out) = tenant_verify_full(&app, &key, &token, &state);
    assert!(!ok, "{out}");
    assert!(
        out.contains("no signature on the checkpoint verifies"),
        "{out}"
    );
}

/// Checks a published log with Go's own C2SP code (tests/interop/c2sp_verify.go). CI
/// installs Go and golang.org/x/mod from Debian; elsewhere a machine without them skips
/// this one check, and says so.
fn go_verifies(dir: &str, key: &str) -> Option<(bool, String)> {
    let program = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/c2sp_verify.go"
    );
    let gopath = "/usr/share/gocode";
    let have_go = Command::new("go").arg("version").output().is_ok()
        && std::path::Path::new(gopath)
            .join("src/golang.org/x/mod/sumdb/note")
            .exists();
    if !have_go {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs Go and golang-golang-x-mod-dev for the interoperability check"
        );
        eprintln!("skipping the Go interoperability check: no go or golang.org/x/mod here");
        return None;
    }
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new("go")
        .args(["run", program, dir, key])
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", cache.path())
        .env("GOFLAGS", "")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text))
}

/// Schedules this moment's periodic jobs and runs every job due.
pub(crate) async fn round(app: &TestApp, runner: &candor::jobs::JobRunner) {
    runner
        .schedule_periodic(app.core.clock.now())
        .await
        .unwrap();
    while runner.run_one().await.unwrap().is_some() {}
}

/// `candor verify --tiles`: nothing but the published copy and the key.
pub(crate) fn verify_published(where_: &str, key: &str, state: &std::path::Path) -> (bool, String) {
    candor_said(&[
        "verify",
        "--tiles",
        where_,
        "--key",
        key,
        "--state",
        &state.display().to_string(),
    ])
}

async fn a_log_is_published_beside_the_status_site_and_verifies_from_there(app: TestApp) {
    use candor::jobs::JobRunner;
    let site = tempfile::tempdir().unwrap();
    let mut bucket = crate::drills::DrillBucket::new();
    bucket.up().await;
    let runner = JobRunner::new(app.core.clone())
        .with_bucket(bucket.open())
        .with_status_site(site.path().to_owned(), app.base.clone());
    round(&app, &runner).await;

    // The tenant is told where its log is, and the prefix says nothing about whose it is.
    let token = app.token(&app.world.a.all).await;
    let keys = log_keys(&app, &token).await;
    let published = keys["publishedAt"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let prefix = published.strip_prefix("log/").unwrap();
    assert!(
        prefix.len() >= 40 && !prefix.contains(&app.world.a.id.to_string()),
        "{prefix}"
    );
    let key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let keys_file = std::fs::read_to_string(site.path().join(&published).join("keys")).unwrap();
    assert!(keys_file.contains(&key), "{keys_file}");
    assert!(
        site.path().join("log/operator/checkpoint").exists(),
        "the operator realm's log is public"
    );

    // Read from the directory, through the site's current release.
    app.clock.advance(time::Duration::minutes(1));
    round(&app, &runner).await;
    let dir = site.path().join("current").join(&published);
    let dir = dir.display().to_string();
    let state = site.path().join("state.json");
    let (ok, out) = verify_published(&dir, &key, &state);
    assert!(ok, "{out}");
    assert!(out.contains("records read from the tiles"), "{out}");

    // An independent implementation agrees: Go's sumdb/note and sumdb/tlog.
    if let Some((ok, text)) = go_verifies(&dir, &key) {
        assert!(
            ok && text.contains("every inclusion proof verify"),
            "{text}"
        );
    }

    // And from the bucket, over HTTP.
    let url = format!("{}/drill-bucket/site/{published}", bucket.endpoint);
    let (ok, out) = verify_published(&url, &key, &site.path().join("state2.json"));
    assert!(ok, "{out}");

    // The log grows; the next round extends both copies, and they only grew.
    let more = (0..3)
        .map(|_| {
            candor_domain::audit::NewAuditRecord::new(
                AuditChain::Tenant(app.world.a.id),
                app.core.clock.now(),
                "system",
                candor_domain::audit::ActorKind::System,
                "Test-Filler",
            )
        })
        .collect();
    app.core.store.append_audit(more).await.unwrap();
    app.clock.advance(time::Duration::seconds(10));
    round(&app, &runner).await;
    let (ok, out) = verify_published(&dir, &key, &state);
    assert!(ok, "{out}");
    assert!(out.contains("the log only grew"), "{out}");
    let (ok, out) = verify_published(&url, &key, &site.path().join("state2.json"));
    assert!(ok, "{out}");
    assert!(out.contains("the log only grew"), "{out}");

    // A published tile changed afterwards is caught.
    let note = std::fs::read_to_string(site.path().join(&published).join("checkpoint")).unwrap();
    let size = candor_app::audit::note_size(&note).unwrap();
    assert!(size < 256, "{size}");
    let first = site
        .path()
        .join(&published)
        .join(format!("tile/entries/000.p/{size}"));
    let mut bytes = std::fs::read(&first).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    std::fs::write(&first, bytes).unwrap();
    let (ok, out) = verify_published(&dir, &key, &state);
    assert!(!ok, "{out}");
    if let Some((ok, text)) = go_verifies(&dir, &key) {
        assert!(!ok && text.contains("is not in the signed tree"), "{text}");
    }
}

/// Something the tenant's log records.
async fn identity_change(app: &TestApp) {
    candor_app::identity::create_user(
        &app.core,
        &candor_domain::identity::Actor::System,
        None,
        app.world.a.id,
        candor_app::identity::UserInput {
            email: "new.person@contoso.example".into(),
            display_name: "New Person".into(),
            password: "a long and proper password".into(),
            roles: [TenantRole::AuditReader].into_iter().collect(),
            language: None,
        },
    )
    .await
    .unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

crate::both!(
    search_pages_newest_first_and_refuses_bad_ranges,
    exports_stream_every_matching_record,
    an_edited_record_is_found,
    a_deleted_record_is_found,
    an_inserted_record_is_found,
    each_record_is_proved_in_the_log_and_the_log_only_grew,
    a_rewritten_tree_hash_is_found,
    checkpoints_are_signed_notes_a_tenant_verifies,
    a_tenant_verifies_its_log_with_candor_verify,
    a_log_rewritten_in_the_database_is_caught_from_its_tiles,
    a_log_is_published_beside_the_status_site_and_verifies_from_there,
);
