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

    let op = candor(&[
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
    ]);
    assert!(op.status.success(), "{:?}", text(&op));

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
        1 + 5,
        "header + 4 records + the export itself"
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
