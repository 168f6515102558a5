//! Managing the catalog and topology through the operator API and the console: the same
//! files as `candor topology import`, checked completely, applied all or nothing.

use candor_domain::identity::{OperatorRole, TenantRole};
use serde_json::{json, Value};

use crate::common::TestApp;

fn good_file(tenant: &str) -> Value {
    json!({
        "services": [{"id": "Exchange", "displayName": "Exchange Online", "issuePrefix": "EX",
                      "features": [{"featureGroup": "E-Mail and calendar access", "name": "Sign-in"}]}],
        "regions": [{"code": "eu-west", "displayName": "Europe West"}],
        "scaleUnits": [{"id": "eu-west-su1", "region": "eu-west"}],
        "components": [{"id": "eu-west-su1-mbx01", "scaleUnit": "eu-west-su1", "services": ["Exchange"]}],
        "placements": [{"tenant": tenant, "component": "eu-west-su1-mbx01"}]
    })
}

async fn the_operator_api_reads_and_imports_topology(app: TestApp) {
    let admin = crate::operator_api::client(&app, &[OperatorRole::ProviderAdmin.as_str()]).await;
    let http = app.http();
    let get = || {
        http.get(app.url("/api/v1/operator/topology"))
            .bearer_auth(&admin)
            .send()
    };
    let empty: Value = get().await.unwrap().json().await.unwrap();
    assert_eq!(empty["services"], json!([]));
    assert_eq!(empty["tenants"], 2);

    // Problems are listed with their lines, and nothing changes.
    let csv = "kind,id,name,parent,services\nregion,eu-west,Europe West,,\ncomponent,EU MBX,,eu-west-su1,Exchange\nservice,Exchange,Exchange Online,ex,\n";
    let res = http
        .post(app.url("/api/v1/operator/topology"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_topology");
    let problems = err["error"]["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p["at"] == "line 3"), "{problems:?}");
    assert!(problems.iter().any(|p| p["at"] == "line 4"), "{problems:?}");
    let after: Value = get().await.unwrap().json().await.unwrap();
    assert_eq!(after["regions"], json!([]), "nothing was applied");

    // A dry run checks; a real run applies.
    let file = good_file(&app.world.a.id.to_string());
    let res = http
        .post(app.url("/api/v1/operator/topology?dryRun=true"))
        .bearer_auth(&admin)
        .json(&file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dry: Value = res.json().await.unwrap();
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["counts"]["placements"], 1);
    assert_eq!(
        get().await.unwrap().json::<Value>().await.unwrap()["placements"],
        0
    );
    let res = http
        .post(app.url("/api/v1/operator/topology"))
        .bearer_auth(&admin)
        .json(&file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let now: Value = get().await.unwrap().json().await.unwrap();
    assert_eq!(now["placements"], 1);
    assert_eq!(now["services"][0]["displayName"], "Exchange Online");
    assert!(app
        .activities(candor_domain::audit::AuditChain::Operator)
        .await
        .contains(&"Set-Topology".to_owned()));

    // Unknown tenants are named; other roles and tenant apps are refused.
    let mut unknown = good_file("0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6a");
    unknown["services"] = json!([]);
    let res = http
        .post(app.url("/api/v1/operator/topology"))
        .bearer_auth(&admin)
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("does not exist"));
    let im = crate::operator_api::client(&app, &[OperatorRole::IncidentManager.as_str()]).await;
    for token in [im, app.token(&app.world.a.all).await] {
        let res = http
            .post(app.url("/api/v1/operator/topology"))
            .bearer_auth(&token)
            .json(&file)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let res = http
            .get(app.url("/api/v1/operator/topology"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
}

async fn the_console_checks_and_imports_topology_files(app: TestApp) {
    let admin = app
        .world
        .operator(OperatorRole::ProviderAdmin)
        .email
        .clone();
    let console = app.sign_in(&admin, true).await;
    let page = console
        .get(app.url("/console/topology"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = app.csrf(&console, "/console/topology").await;
    let upload = |name: &'static str, body: String, dry: bool| {
        let mut form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::text(body).file_name(name));
        if dry {
            form = form.text("dry_run", "1");
        }
        console
            .post(app.url(&format!("/console/topology?csrf={csrf}")))
            .multipart(form)
            .send()
    };
    let res = upload(
        "bad.csv",
        "kind,id,name,parent,services\nregion,EU WEST,x,,\n".into(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("line 2"), "the problem names its line");
    let file = good_file(&app.world.a.id.to_string()).to_string();
    let res = upload("topology.json", file.clone(), true).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("1 placements"));
    assert_eq!(
        app.core.store.count_placements().await.unwrap(),
        0,
        "a check changes nothing"
    );
    let res = upload("topology.json", file, false).await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("eu-west-su1-mbx01"));
    assert_eq!(app.core.store.count_placements().await.unwrap(), 1);

    // Incident managers and tenant admins cannot reach the page.
    let im = app
        .world
        .operator(OperatorRole::IncidentManager)
        .email
        .clone();
    let theirs = app.sign_in(&im, true).await;
    assert_eq!(
        theirs
            .get(app.url("/console/topology"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let ga = app
        .world
        .a
        .user(TenantRole::GlobalAdministrator)
        .email
        .clone();
    let tenant = app.sign_in(&ga, false).await;
    let status = tenant
        .get(app.url("/console/topology"))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status == 403 || status == 303, "{status}");
}

crate::both!(
    the_operator_api_reads_and_imports_topology,
    the_console_checks_and_imports_topology_files,
);
