//! What tenants give for webhooks and browser pushes, and what receivers check: endpoint
//! URLs, formats, topics, push subscription keys, and signature headers. Each line of the
//! input feeds one of them; any text is accepted or refused with an error, never a panic,
//! and a URL that passes the check is https with a host and no credentials.
#![no_main]

use candor_delivery::webhook;
use candor_domain::health::{PushSubscription, Topic, WebhookFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let url = lines.next().unwrap_or_default();
    for allow_private in [false, true] {
        if let Ok((parsed, host, _port)) = webhook::check_url(url, allow_private) {
            assert!(!host.is_empty());
            assert!(parsed.username().is_empty() && parsed.password().is_none());
            if !allow_private {
                assert_eq!(parsed.scheme(), "https");
            }
        }
    }
    let _ = lines.next().unwrap_or_default().parse::<WebhookFormat>();
    for topic in lines.next().unwrap_or_default().split(',') {
        let _ = topic.parse::<Topic>();
    }
    let endpoint = lines.next().unwrap_or_default();
    let p256dh = lines.next().unwrap_or_default();
    let auth = lines.next().unwrap_or_default();
    let _ = PushSubscription::check(endpoint, p256dh, auth);
    let header = lines.next().unwrap_or_default();
    let body = lines.next().unwrap_or_default();
    for now in [0, 1_795_000_000, i64::MIN, i64::MAX] {
        let _ = webhook::verify(header, "whsec_fuzz", body.as_bytes(), now);
    }
});
