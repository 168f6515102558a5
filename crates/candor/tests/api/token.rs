//! `POST /oauth2/v2.0/token` and bearer authentication.

use base64::Engine;
use candor_domain::identity::{Actor, ApiPermission};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::Value;
use time::Duration;

use crate::common::TestApp;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

async fn a_token_verifies_offline_against_the_jwks(app: TestApp) {
    let token = app
        .token(app.world.a.app(ApiPermission::AuditLogReadAll))
        .await;
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let x: [u8; 32] = b64(key["x"].as_str().unwrap()).try_into().unwrap();
    let verifying = VerifyingKey::from_bytes(&x).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], key["kid"]);
    let sig = Signature::from_slice(&b64(parts[2])).unwrap();
    verifying
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .unwrap();
    let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    assert_eq!(claims["tid"], app.world.a.id.to_string());
    assert_eq!(claims["roles"], serde_json::json!(["AuditLog.Read.All"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["iss"], app.base);
}

async fn the_token_endpoint_refuses_what_it_cannot_honour(app: TestApp) {
    let c = &app.world.a.all;
    let post = |form: Vec<(&'static str, String)>| {
        let http = app.http();
        let url = app.url("/oauth2/v2.0/token");
        async move { http.post(url).form(&form).send().await.unwrap() }
    };
    let cases = [
        (
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", c.client_id.clone()),
                ("client_secret", "wrong".to_owned()),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", "not-a-uuid".to_owned()),
                ("client_secret", "x".to_owned()),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password".to_owned()),
                ("client_id", c.client_id.clone()),
                ("client_secret", c.secret.clone()),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("client_id", c.client_id.clone()),
                ("client_secret", c.secret.clone()),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", c.client_id.clone()),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", c.client_id.clone()),
                ("client_secret", c.secret.clone()),
                ("scope", "Mail.Read".to_owned()),
            ],
            400,
            "invalid_scope",
        ),
    ];
    for (form, status, error) in cases {
        let res = post(form).await;
        assert_eq!(res.status(), status);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(!body["error_description"].as_str().unwrap().is_empty());
    }
    let json = app
        .http()
        .post(app.url("/oauth2/v2.0/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    // HTTP Basic client authentication works too.
    let basic = app
        .http()
        .post(app.url("/oauth2/v2.0/token"))
        .basic_auth(&c.client_id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    // Both outcomes are in the tenant's audit log.
    let activities = app
        .activities(candor_domain::audit::AuditChain::Tenant(app.world.a.id))
        .await;
    assert!(activities.iter().any(|a| a == "Refuse-AccessToken"));
    assert!(activities.iter().any(|a| a == "Issue-AccessToken"));
}

async fn an_expired_token_is_refused(app: TestApp) {
    let token = app.token(&app.world.a.all).await;
    let me = || {
        app.http()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);
    app.clock.advance(Duration::minutes(61));
    let res = me().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

async fn a_revoked_clients_tokens_stop_working(app: TestApp) {
    let c = &app.world.a.all;
    let token = app.token(c).await;
    let me = || {
        app.http()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);
    candor_app::identity::revoke_api_client(
        &app.core,
        &Actor::System,
        None,
        app.world.a.id,
        c.client_id.parse().unwrap(),
    )
    .await
    .unwrap();
    // Another instance would trust its cache for at most a minute.
    app.clock.advance(Duration::seconds(61));
    let res = me().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    let again = app
        .http()
        .post(app.url("/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
}

async fn a_forged_or_malformed_token_is_refused(app: TestApp) {
    let token = app.token(&app.world.a.all).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Claim another tenant without re-signing.
    let mut claims: Value = serde_json::from_slice(&b64(&parts[1])).unwrap();
    claims["tid"] = Value::String(app.world.b.id.to_string());
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");
    for (header, expect) in [
        (format!("Bearer {forged}"), "not valid"),
        ("Bearer not.a.jwt".to_owned(), "not valid"),
        ("Basic Zm9vOmJhcg==".to_owned(), "Bearer"),
    ] {
        let res = app
            .http()
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(expect),
            "{body}"
        );
    }
}

/// A client id that asks for tokens far more often than any client needs is refused
/// with 429 and a Retry-After, whether or not its secret is right; other clients are not.
async fn the_token_endpoint_throttles_a_client_that_keeps_asking(app: TestApp) {
    let c = &app.world.a.all;
    let http = app.http();
    let ask = |id: String, secret: String| {
        let http = http.clone();
        let url = app.url("/oauth2/v2.0/token");
        async move {
            http.post(url)
                .form(&[
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let limit = candor_web::TOKEN_REQUESTS_PER_MINUTE as usize;
    let mut statuses = Vec::new();
    for _ in 0..limit {
        statuses.push(ask(c.client_id.clone(), "wrong".into()).await.status());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let refused = ask(c.client_id.clone(), c.secret.clone()).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    // Another client, from the same address, still gets its token.
    let other = &app.world.b.all;
    let ok = ask(other.client_id.clone(), other.secret.clone()).await;
    assert_eq!(ok.status(), 200);
}

crate::both!(
    the_token_endpoint_throttles_a_client_that_keeps_asking,
    a_token_verifies_offline_against_the_jwks,
    the_token_endpoint_refuses_what_it_cannot_honour,
    an_expired_token_is_refused,
    a_revoked_clients_tokens_stop_working,
    a_forged_or_malformed_token_is_refused,
);
