//! The command line: helpful on success, one clear line and exit code 2 on bad input,
//! and nothing written when input is bad.

use std::process::{Command, Output};

fn candor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_cli_manages_tenants_users_and_clients_and_refuses_bad_input_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let help = candor(&["--help"]);
    assert!(help.status.success());
    let (out, _) = text(&help);
    for command in [
        "serve",
        "migrate",
        "tenant",
        "user",
        "operator",
        "api-client",
        "audit",
    ] {
        assert!(out.contains(command), "--help lists {command}");
    }

    let migrated = candor(&["migrate", "--data-dir", data]);
    assert!(migrated.status.success(), "{:?}", text(&migrated));
    assert!(text(&migrated).0.contains("foundation"));

    // Bad input: exit code 2, one line, nothing created.
    for (args, needle) in [
        (
            vec![
                "tenant",
                "create",
                "--data-dir",
                data,
                "--name",
                "Contoso",
                "--region",
                "EU West",
            ],
            "region",
        ),
        (
            vec![
                "tenant",
                "create",
                "--data-dir",
                data,
                "--name",
                "Contoso",
                "--region",
                "eu-west",
                "--time-zone",
                "Mars/Base",
            ],
            "time zone",
        ),
        (
            vec![
                "tenant",
                "create",
                "--data-dir",
                data,
                "--name",
                "Contoso",
                "--region",
                "eu-west",
                "--language",
                "de",
            ],
            "language",
        ),
        (
            vec!["user", "list", "--data-dir", data, "--tenant", "nope"],
            "tenant id",
        ),
        (
            vec!["audit", "search", "--data-dir", data, "--to", "2026-12-01"],
            "start date is required",
        ),
        (
            vec![
                "audit",
                "search",
                "--data-dir",
                data,
                "--from",
                "2026-12-01",
                "--to",
                "2026-11-01",
            ],
            "after the start",
        ),
        (
            vec!["serve", "--data-dir", data, "--listen", "not-an-address"],
            "--listen",
        ),
        (
            vec![
                "serve",
                "--data-dir",
                data,
                "--database-url",
                "mysql://root:hunter2@db/candor",
            ],
            "not supported",
        ),
        (vec!["tenant", "frobnicate"], "unrecognized subcommand"),
    ] {
        let o = candor(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "secrets never echoed: {err}");
        if !args.contains(&"frobnicate") {
            assert_eq!(
                err.trim().lines().count(),
                1,
                "{args:?}: one line, got {err}"
            );
        }
    }
    let listed = candor(&["tenant", "list", "--data-dir", data, "--json"]);
    assert!(text(&listed).0.trim().is_empty(), "nothing half-written");

    let created = candor(&[
        "tenant",
        "create",
        "--data-dir",
        data,
        "--name",
        "Contoso",
        "--region",
        "eu-west",
        "--language",
        "nl",
        "--time-zone",
        "Europe/Amsterdam",
    ]);
    assert!(created.status.success(), "{:?}", text(&created));
    let listed = candor(&["tenant", "list", "--data-dir", data, "--json"]);
    let tenant: serde_json::Value =
        serde_json::from_str(text(&listed).0.lines().next().unwrap()).unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    assert_eq!(tenant["name"], "Contoso");

    let user = candor(&[
        "user",
        "create",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--email",
        "ada@contoso.example",
        "--name",
        "Ada",
        "--roles",
        "GlobalAdministrator,AuditReader",
    ]);
    let (out, err) = text(&user);
    assert!(user.status.success(), "{err}");
    assert!(out.contains("Password (shown once)"));
    let dup = candor(&[
        "user",
        "create",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--email",
        "ADA@contoso.example",
        "--name",
        "Ada again",
    ]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(text(&dup).1.contains("already in use"));

    let client = candor(&[
        "api-client",
        "create",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--name",
        "Dashboard",
        "--permissions",
        "ServiceHealth.Read.All",
    ]);
    let (out, _) = text(&client);
    assert!(client.status.success());
    let client_id = out
        .lines()
        .find_map(|l| l.strip_prefix("client_id:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(out.contains("client_secret: cs_"));
    let bad = candor(&[
        "api-client",
        "create",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--name",
        "x",
        "--permissions",
        "Mail.Send",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).1.contains("Mail.Send"));
    let revoked = candor(&[
        "api-client",
        "revoke",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--client-id",
        &client_id,
    ]);
    assert!(revoked.status.success(), "{:?}", text(&revoked));

    // Many clients from a file: every row checked first, nothing made if one is wrong.
    let file = dir.path().join("clients.csv");
    std::fs::write(
        &file,
        format!(
            "tenant,name,permissions\n{tenant_id},Status sync,ServiceHealth.Read.All;ServiceHealth.Notifications.ReadWrite\n{tenant_id},Bad,Mail.Send\nnot-a-tenant,Worse,ServiceHealth.Read.All\n"
        ),
    )
    .unwrap();
    let bulk = |file: &std::path::Path| {
        candor(&[
            "api-client",
            "create",
            "--data-dir",
            data,
            "--file",
            file.to_str().unwrap(),
        ])
    };
    let refused = bulk(&file);
    assert_eq!(refused.status.code(), Some(2));
    let (out, err) = text(&refused);
    assert!(out.is_empty(), "nothing created: {out}");
    assert!(err.contains("line 3") && err.contains("Mail.Send"), "{err}");
    assert!(err.contains("line 4") && err.contains("tenant"), "{err}");
    assert!(err.contains("no client was created"), "{err}");
    std::fs::write(
        &file,
        format!(
            "tenant,name,permissions\n{tenant_id},Status sync,ServiceHealth.Read.All;ServiceHealth.Notifications.ReadWrite\n{tenant_id},Audit export,AuditLog.Read.All\n"
        ),
    )
    .unwrap();
    let made = bulk(&file);
    let (out, err) = text(&made);
    assert!(made.status.success(), "{err}");
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(&rows[0][1], "Status sync");
    assert!(rows[0][3].starts_with("cs_"));
    assert!(rows[0][4].contains("ServiceHealth.Notifications.ReadWrite"));
    let both = candor(&[
        "api-client",
        "create",
        "--data-dir",
        data,
        "--file",
        file.to_str().unwrap(),
        "--name",
        "x",
    ]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "--file or the single-client flags"
    );

    // A standing privileged role only with --break-glass, loudly.
    let create_admin = |extra: &[&str]| {
        let mut args = vec![
            "operator",
            "create",
            "--data-dir",
            data,
            "--email",
            "ops@provider.example",
            "--name",
            "Ops",
            "--roles",
            "ProviderAdmin",
        ];
        args.extend_from_slice(extra);
        candor(&args)
    };
    let refused = create_admin(&[]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(
        text(&refused).1.contains("--break-glass"),
        "{:?}",
        text(&refused)
    );
    let op = create_admin(&["--break-glass"]);
    assert!(op.status.success(), "{:?}", text(&op));
    assert!(text(&op).1.contains("BREAK-GLASS"), "{:?}", text(&op));

    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (
        (today - time::Duration::days(1)).to_string(),
        (today + time::Duration::days(2)).to_string(),
    );
    let search = candor(&[
        "audit",
        "search",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--from",
        &from,
        "--to",
        &to,
        "--json",
    ]);
    let (out, _) = text(&search);
    let activities: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["activity"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        activities,
        [
            "Add-ApiClient",
            "Add-ApiClient",
            "Revoke-ApiClient",
            "Add-ApiClient",
            "Add-User",
            "Add-Tenant"
        ]
    );

    let export = dir.path().join("audit.csv");
    let exported = candor(&[
        "audit",
        "export",
        "--data-dir",
        data,
        "--tenant",
        &tenant_id,
        "--from",
        &from,
        "--to",
        &to,
        "--output",
        export.to_str().unwrap(),
    ]);
    assert!(exported.status.success());
    assert_eq!(
        std::fs::read_to_string(&export).unwrap().lines().count(),
        1 + 7,
        "header + 6 records + the export itself"
    );

    let cp = candor(&["audit", "checkpoint", "--data-dir", data]);
    assert!(
        text(&cp).0.contains("Signed 2 checkpoint(s)"),
        "{:?}",
        text(&cp)
    );
    let verified = candor(&["audit", "verify", "--data-dir", data]);
    let (out, _) = text(&verified);
    assert!(verified.status.success(), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok")).count(), 2);
}

/// The page cache size is checked before anything starts, from a flag or the file.
#[test]
fn a_sqlite_cache_size_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let o = candor(&["serve", "--data-dir", data, "--sqlite-cache-mib", "0"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--sqlite-cache-mib") && err.contains("1..=4096"),
        "{err}"
    );
    for (line, needle) in [
        (
            "sqlite-cache-mib = 0",
            "sqlite-cache-mib must be between 1 and 4096",
        ),
        (
            "sqlite-cache-mib = 5000",
            "sqlite-cache-mib must be between 1 and 4096",
        ),
        ("sqlite-cache-mib = \"lots\"", "sqlite-cache-mib"),
    ] {
        let config = dir.path().join("candor.toml");
        std::fs::write(&config, format!("{line}\n")).unwrap();
        let args = [
            "serve",
            "--data-dir",
            data,
            "--config",
            config.to_str().unwrap(),
        ];
        let o = candor(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(needle), "{line}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{line}: one line, got {err}");
    }
    assert!(
        !dir.path().join("candor.db").exists(),
        "nothing is created when the configuration is refused"
    );
}

#[test]
fn topology_imports_all_or_nothing_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let created = candor(&[
        "tenant",
        "create",
        "--data-dir",
        data,
        "--name",
        "Contoso",
        "--region",
        "eu-west",
    ]);
    assert!(created.status.success());
    let listed = candor(&["tenant", "list", "--data-dir", data, "--json"]);
    let tenant: serde_json::Value =
        serde_json::from_str(text(&listed).0.lines().next().unwrap()).unwrap();
    let tenant_id = tenant["id"].as_str().unwrap();

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("kind,id,name,parent,services\nregion,eu-west,Europe West,,\nscale_unit,eu-west-su1,,eu-west,\ncomponent,EU MBX,,eu-west-su1,Exchange\nplacement,{tenant_id},,eu-west-su1-mbx01,\nservice,Exchange,Exchange Online,ex,\n")).unwrap();
    let out = candor(&[
        "topology",
        "import",
        bad.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 4") && err.contains("EU MBX"), "{err}");
    assert!(err.contains("line 6") && err.contains("prefix"), "{err}");
    assert!(err.contains("nothing was imported"));

    let good = dir.path().join("topology.json");
    std::fs::write(&good, serde_json::json!({
        "services": [{"id": "Exchange", "displayName": "Exchange Online", "issuePrefix": "EX",
                      "features": [{"featureGroup": "E-Mail and calendar access", "name": "Sign-in"}]}],
        "regions": [{"code": "eu-west", "displayName": "Europe West"}],
        "scaleUnits": [{"id": "eu-west-su1", "region": "eu-west"}],
        "components": [{"id": "eu-west-su1-mbx01", "scaleUnit": "eu-west-su1", "services": ["Exchange"]}],
        "placements": [{"tenant": tenant_id, "component": "eu-west-su1-mbx01"}]
    }).to_string()).unwrap();
    let dry = candor(&[
        "topology",
        "import",
        good.to_str().unwrap(),
        "--dry-run",
        "--data-dir",
        data,
    ]);
    assert!(dry.status.success(), "{:?}", text(&dry));
    assert!(text(&dry).0.contains("1 placements"));
    let out = candor(&[
        "topology",
        "import",
        good.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("Imported 0 tenants, 1 services"));

    let unknown = dir.path().join("unknown.json");
    std::fs::write(&unknown, serde_json::json!({"placements": [{"tenant": "0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6a", "component": "eu-west-su1-mbx01"}]}).to_string()).unwrap();
    let out = candor(&[
        "topology",
        "import",
        unknown.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("does not exist"));
}

#[test]
fn maintenance_is_listed_and_a_bad_limit_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let help = candor(&["maintenance", "list", "--help"]);
    assert!(help.status.success());
    assert!(text(&help).0.contains("operator API"), "{:?}", text(&help));
    let empty = candor(&["maintenance", "list", "--data-dir", data]);
    assert!(empty.status.success(), "{:?}", text(&empty));
    assert!(text(&empty).1.contains("no planned maintenance"));
    let bad = candor(&["maintenance", "list", "--data-dir", data, "--limit", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{:?}", text(&bad));
    assert!(text(&bad).1.contains("--limit"), "{:?}", text(&bad));
    let bad = candor(&[
        "maintenance",
        "list",
        "--data-dir",
        data,
        "--state",
        "sunny",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{:?}", text(&bad));
}

/// The subscribe form's limits are checked before anything starts, from a flag or the
/// file.
#[test]
fn subscribe_limits_out_of_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let o = candor(&[
        "serve",
        "--data-dir",
        data,
        "--subscribe-emails-per-address",
        "0",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--subscribe-emails-per-address") && err.contains("1..=100"),
        "{err}"
    );
    for (line, needle) in [
        (
            "subscribe-unconfirmed-per-ip = 0",
            "subscribe-unconfirmed-per-ip must be between 1 and 10000",
        ),
        (
            "subscribe-emails-per-address = 1000",
            "subscribe-emails-per-address must be between 1 and 100",
        ),
        (
            "fanout-part-tenants = 5",
            "fanout-part-tenants must be between 10 and 10000000",
        ),
    ] {
        let config = dir.path().join("candor.toml");
        std::fs::write(&config, format!("{line}\n")).unwrap();
        let o = candor(&[
            "serve",
            "--data-dir",
            data,
            "--config",
            config.to_str().unwrap(),
        ]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(needle), "{line}: {err}");
    }
}
