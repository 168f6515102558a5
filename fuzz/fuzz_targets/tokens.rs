//! Bearer tokens as callers send them: any text is either a valid Candor token or refused
//! with an error, never a panic; and no change to a genuine token's header, claims or
//! signature makes it verify as someone else.
#![no_main]

use std::sync::OnceLock;

use candor_domain::identity::ApiClient;
use candor_domain::{ApiClientId, TenantId};
use candor_app::keys::Keys;
use candor_web::auth::token::TokenService;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

struct Fixture {
    service: TokenService,
    genuine: String,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let now = OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("a time");
        let keys = Keys::ephemeral(now).expect("keys");
        let service = TokenService::new(&keys, "https://candor.example".into()).expect("service");
        let client = ApiClient {
            id: ApiClientId::generate(),
            tenant_id: TenantId::generate(),
            display_name: "Fuzz".into(),
            secret_hash: String::new(),
            permissions: std::iter::empty().collect(),
            created_at: now,
            revoked_at: None,
        };
        let genuine = service.issue(&client, now).expect("a token");
        Fixture {
            service,
            genuine,
            now,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Arbitrary text.
    let _ = f.service.verify(text, f.now);
    // The genuine token with the input spliced into one of its three parts.
    let parts: Vec<&str> = f.genuine.split('.').collect();
    let genuine = f.service.verify(&f.genuine, f.now).expect("the genuine token verifies");
    for i in 0..parts.len() {
        let mut changed = parts.clone();
        changed[i] = text;
        let forged = changed.join(".");
        if forged == f.genuine {
            continue;
        }
        if let Ok(claims) = f.service.verify(&forged, f.now) {
            // Only another spelling of the same signed content may pass.
            assert_eq!(claims, genuine, "a changed token verified with other claims");
        }
    }
});
