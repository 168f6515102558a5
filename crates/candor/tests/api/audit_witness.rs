//! Witnesses co-sign a log's checkpoints and tenants require them; records past
//! retention lose their bodies but not their proofs.

use candor_domain::audit::{ActorKind, AuditChain, NewAuditRecord};
use serde_json::{json, Value};

use crate::audit::{candor_said, log_keys, round, verify, verify_published};
use crate::common::TestApp;

/// Appends `n` records to tenant A's log, now.
async fn grow(app: &TestApp, n: usize) -> Vec<candor_domain::audit::AuditRecord> {
    let more = (0..n)
        .map(|i| {
            NewAuditRecord::new(
                AuditChain::Tenant(app.world.a.id),
                app.core.clock.now(),
                "system",
                ActorKind::System,
                "Test-Filler",
            )
            .item(format!("filler {i}"))
        })
        .collect();
    app.core.store.append_audit(more).await.unwrap()
}

/// `candor witness init`: the verifier key it prints.
fn witness_key(dir: &std::path::Path, name: &str) -> (String, String) {
    let file = dir.join(format!("{}.key", name.replace('/', "_")));
    let file = file.display().to_string();
    let (ok, out) = candor_said(&["witness", "init", "--name", name, "--key", &file]);
    assert!(ok, "{out}");
    let vkey = out.lines().last().unwrap().trim().to_owned();
    assert!(vkey.starts_with(&format!("{name}+")), "{out}");
    (file, vkey)
}

/// A GET with a bearer token, answered in JSON.
async fn bearer_json(app: &TestApp, path: &str, token: &str) -> Value {
    app.http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post_note(app: &TestApp, note: &str) -> reqwest::Response {
    app.http()
        .post(app.url("/api/v1/audit/log/cosignatures"))
        .header("content-type", "text/plain")
        .body(note.to_owned())
        .send()
        .await
        .unwrap()
}

async fn a_witness_cosigns_and_a_tenant_requires_it(app: TestApp) {
    use candor::jobs::JobRunner;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let runner = JobRunner::new(app.core.clone()).with_status_site(site.clone(), app.base.clone());
    grow(&app, 5).await;
    round(&app, &runner).await;
    let token = app.token(&app.world.a.all).await;
    let keys = log_keys(&app, &token).await;
    let log_key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let published = site.join(keys["publishedAt"].as_str().unwrap().trim_end_matches('/'));
    let tiles = published.display().to_string();
    let (w1_file, w1) = witness_key(dir.path(), "witness.example/w1");
    let (_, stranger) = witness_key(dir.path(), "witness.example/stranger");

    // The tenant names its witness; the same key twice, or a log's key, is refused.
    let add = |vkey: String| {
        let (app, token) = (&app, &token);
        async move {
            app.http()
                .post(app.url("/api/v1/audit/witnesses"))
                .bearer_auth(token)
                .json(&json!({"verifierKey": vkey}))
                .send()
                .await
                .unwrap()
        }
    };
    let res = add(w1.clone()).await;
    assert_eq!(res.status(), 201);
    let witness: Value = res.json().await.unwrap();
    assert_eq!(witness["name"], "witness.example/w1");
    assert_eq!(add(w1.clone()).await.status(), 409);
    let res = add(log_key.clone()).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("log's key"));

    // Nobody has co-signed yet: a tenant who requires the witness refuses the log.
    let state = dir.path().join("state.json").display().to_string();
    let require = |extra: &[&str]| {
        let mut args = vec![
            "verify", "--tiles", &tiles, "--key", &log_key, "--state", &state,
        ];
        args.extend_from_slice(extra);
        candor_said(&args)
    };
    let (ok, out) = require(&["--require-witness", &w1]);
    assert!(!ok && out.contains("no checkpoint co-signed"), "{out}");

    // The witness watches the API, co-signs, and hands the cosignature back.
    let wstate = dir.path().join("witness.json").display().to_string();
    let witness_run = |source: &[&str]| {
        let mut args = vec![
            "witness",
            "--log-key",
            &log_key,
            "--key",
            &w1_file,
            "--state",
            &wstate,
            "--once",
        ];
        args.extend_from_slice(source);
        candor_said(&args)
    };
    let (ok, out) = witness_run(&["--log", &app.base, "--token", &token]);
    assert!(
        ok && out.contains("first sight") && out.contains("co-signed"),
        "{out}"
    );
    let note = app
        .http()
        .get(app.url("/api/v1/audit/log/checkpoint"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: Value = bearer_json(&app, "/api/v1/audit/witnesses", &token).await;
    assert!(
        note.contains("\n— witness.example/w1 "),
        "{note} {listed} {out}"
    );
    let size = candor_app::audit::note_size(&note).unwrap();
    assert_eq!(listed[0]["cosignedSize"], size);

    // Published with the cosignature (naming the witness recorded a change, so the
    // latest checkpoint is newer); now the tenant's requirement is met.
    app.clock.advance(time::Duration::seconds(10));
    round(&app, &runner).await;
    let published_note = std::fs::read_to_string(published.join("checkpoint.cosigned")).unwrap();
    assert!(
        published_note.contains("— witness.example/w1 ")
            && published_note.contains(&format!("\n{size}\n")),
        "{published_note}"
    );
    let (ok, out) = require(&["--require-witness", &w1]);
    assert!(
        ok && out.contains("co-signed by 1 of the witnesses"),
        "{out}"
    );
    // A witness the log never had is not there; a quorum of two is not met by one.
    let (ok, out) = require(&["--require-witness", &stranger]);
    assert!(!ok, "{out}");
    let (ok, out) = require(&[
        "--require-witness",
        &w1,
        "--require-witness",
        &stranger,
        "--witness-quorum",
        "2",
    ]);
    assert!(!ok, "{out}");

    // The log grows: its latest checkpoint is not co-signed yet, so the newest that is
    // is checked; then the witness, reading only the published tiles, catches up.
    grow(&app, 300).await;
    app.clock.advance(time::Duration::seconds(10));
    round(&app, &runner).await;
    let (ok, out) = require(&["--require-witness", &w1]);
    assert!(ok && out.contains("checked instead of the latest"), "{out}");
    let (ok, out) = witness_run(&["--tiles", &tiles, "--submit", &app.base]);
    assert!(ok && out.contains("co-signed"), "{out}");
    app.clock.advance(time::Duration::seconds(10));
    round(&app, &runner).await;
    let (ok, out) = require(&["--require-witness", &w1]);
    assert!(
        ok && out.contains("co-signed by 1 of the witnesses"),
        "{out}"
    );
    assert!(out.contains("the log only grew"), "{out}");

    // Cosignatures that are not the witness's, or of a checkpoint the log never
    // signed, are refused; unknown witnesses' lines are not kept.
    let latest = std::fs::read_to_string(published.join("checkpoint")).unwrap();
    let forged = latest.replacen("— witness.example/w1 ", "— witness.example/w1 AAAA", 1);
    let res = post_note(&app, &forged).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let latest_size = candor_app::audit::note_size(&latest).unwrap();
    let moved = latest.replacen(&format!("\n{latest_size}\n"), "\n999999\n", 1);
    assert_eq!(post_note(&app, &moved).await.status(), 404);
    let res = post_note(&app, "not a checkpoint").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some(), "{body}");

    // A log that shows the witness another history is never co-signed again.
    let mut seen: Value = serde_json::from_str(&std::fs::read_to_string(&wstate).unwrap()).unwrap();
    let origin = keys["origin"].as_str().unwrap().to_owned();
    seen["logs"][&origin] =
        json!({"size": 3, "root": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="});
    std::fs::write(&wstate, seen.to_string()).unwrap();
    let (ok, out) = witness_run(&["--tiles", &tiles, "--submit", &app.base]);
    assert!(!ok && out.contains("history was rewritten"), "{out}");

    // Removed, the witness's cosignatures are no longer taken.
    let id = witness["id"].as_str().unwrap();
    let res = app
        .http()
        .delete(app.url(&format!("/api/v1/audit/witnesses/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(post_note(&app, &latest).await.status(), 400);
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
}

async fn records_past_retention_keep_their_proofs(app: TestApp) {
    use candor::jobs::JobRunner;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let runner = JobRunner::new(app.core.clone()).with_status_site(site.clone(), app.base.clone());
    let old = grow(&app, 20).await;
    round(&app, &runner).await;
    let tenant = app.world.a.id;

    // Only a Provider Administrator sets it, within a month and a century.
    let admin = crate::operator_api::client(&app, &["ProviderAdmin"]).await;
    let token = app.token(&app.world.a.all).await;
    let put = |who: String, days: Value| {
        let app = &app;
        async move {
            app.http()
                .put(app.url(&format!("/api/v1/operator/audit-retention/{tenant}")))
                .bearer_auth(who)
                .json(&json!({ "days": days }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(put(token.clone(), json!(30)).await.status(), 403);
    let res = put(admin.clone(), json!(7)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("30"));
    assert_eq!(put(admin.clone(), json!(30)).await.status(), 200);
    let seen: Value = bearer_json(&app, "/api/v1/audit/retention", &token).await;
    assert_eq!(seen["days"], 30);

    // A proof of an old record, and what the tenant verified, before its time is up.
    let state = dir.path().join("state.json");
    let keys = log_keys(&app, &token).await;
    let log_key = keys["keys"][0]["verifierKey"].as_str().unwrap().to_owned();
    let tiles = site
        .join(keys["publishedAt"].as_str().unwrap().trim_end_matches('/'))
        .display()
        .to_string();
    let (ok, out) = verify_published(&tiles, &log_key, &state);
    assert!(ok, "{out}");
    let proof = |id: String| {
        let (app, token) = (&app, &token);
        async move { bearer_json(app, &format!("/api/v1/audit/records/{id}/proof"), token).await }
    };
    let before = proof(old[3].id.to_string()).await;

    // A month and a day later the old records lose their bodies.
    app.clock.advance(time::Duration::days(31));
    let token = app.token(&app.world.a.all).await;
    grow(&app, 2).await;
    let pruned = candor_app::audit_retention::prune_due(&app.core)
        .await
        .unwrap();
    assert!(pruned >= 20, "{pruned}");
    let kept = app
        .core
        .store
        .audit_record(&AuditChain::Tenant(tenant).key(), old[3].id)
        .await
        .unwrap()
        .unwrap();
    assert!(kept.pruned && kept.activity.is_empty() && kept.details == "{}");
    round(&app, &runner).await;

    // The search says so, and finds only what is left.
    let start = (app.core.clock.now() - time::Duration::days(60)).date();
    let end = (app.core.clock.now() + time::Duration::days(1)).date();
    let page: Value = bearer_json(
        &app,
        &format!("/api/v1/audit/records?start={start}&end={end}&limit=500"),
        &token,
    )
    .await;
    assert_eq!(page["pastRetention"]["days"], 30, "{page}");
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|r| r["activity"] != ""), "{page}");
    assert!(!items.iter().any(|r| r["id"] == old[3].id.to_string()));
    // The portal's search says it too, in the reader's language.
    let browser = app
        .sign_in(
            &app.world
                .a
                .user(candor_domain::identity::TenantRole::AuditReader)
                .email,
            false,
        )
        .await;
    let html = browser
        .get(app.url(&format!("/portal/audit?start={start}&end={end}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<p class=\"notice\">Records from before")
            && html.contains("retention of 30 days"),
        "{html}"
    );

    // Its proof still verifies: the same leaf, in the same tree as before.
    let size = before["treeSize"].as_u64().unwrap();
    let after: Value = bearer_json(
        &app,
        &format!("/api/v1/audit/records/{}/proof?size={size}", old[3].id),
        &token,
    )
    .await;
    assert_eq!(after["leafHash"], before["leafHash"]);
    assert_eq!(after["rootHash"], before["rootHash"]);
    assert_eq!(after["inclusionPath"], before["inclusionPath"]);
    // The chain inside the database, the published tiles and the API's tiles all
    // still verify, and the log only grew.
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    let (ok, out) = verify_published(&tiles, &log_key, &state);
    assert!(ok, "{out}");
    assert!(
        out.contains("past the log's retention") && out.contains("the log only grew"),
        "{out}"
    );
    let (ok, out) = candor_said(&[
        "verify",
        "--log",
        &app.base,
        "--full",
        "--token",
        &token,
        "--key",
        &log_key,
        "--state",
        &dir.path().join("state2.json").display().to_string(),
    ]);
    assert!(ok && out.contains("past the log's retention"), "{out}");

    // Lifted, nothing more is pruned.
    candor_app::audit_retention::set(
        &app.core,
        &candor_domain::identity::Actor::System,
        AuditChain::Tenant(tenant),
        None,
        None,
    )
    .await
    .unwrap();
    app.clock.advance(time::Duration::days(400));
    assert_eq!(
        candor_app::audit_retention::prune_due(&app.core)
            .await
            .unwrap(),
        0
    );
}

/// Anyone may hand in a cosigned checkpoint, but not without end from one address.
async fn cosignatures_from_one_address_are_throttled(app: TestApp) {
    // The allowance refills as the minute goes on (one every 200 ms): some more pass
    // while these are sent, none past twice the limit.
    let limit = candor_web::api::audit_log::COSIGNATURES_PER_MINUTE;
    let mut passed = 0;
    let res = loop {
        let res = post_note(&app, "not a checkpoint").await;
        if res.status() != 400 || passed > 2 * limit {
            break res;
        }
        passed += 1;
    };
    assert!(passed >= limit, "{passed}");
    assert_eq!(res.status(), 429, "after {passed}");
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cosigned checkpoints a minute")),
        "{body}"
    );
}

crate::both!(
    a_witness_cosigns_and_a_tenant_requires_it,
    records_past_retention_keep_their_proofs,
    cosignatures_from_one_address_are_throttled,
);
