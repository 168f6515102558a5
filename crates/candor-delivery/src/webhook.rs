//! Webhook delivery: a versioned JSON payload (or Slack / Microsoft Teams shapes), signed
//! with HMAC-SHA256 over the timestamp and the body so receivers can verify it and refuse
//! replays, sent only to public addresses (no private, loopback or link-local targets
//! unless configuration allows them), with timeouts, and a clear line between failures
//! worth retrying and those that are not.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The header that carries `t=<unix seconds>,v1=<hex>[,v1=<hex>]`.
pub const SIGNATURE_HEADER: &str = "Candor-Signature";
/// The header that carries the delivery's stable id (the same on every retry).
pub const DELIVERY_HEADER: &str = "Candor-Delivery-Id";
/// How far a receiver should accept a signature's timestamp from its own clock.
pub const TOLERANCE_SECONDS: i64 = 300;
pub const SCHEMA_VERSION: &str = "1.0";
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What a webhook tells: the same facts whatever the shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// The delivery's stable id: receivers drop a second copy by it.
    pub id: String,
    /// e.g. `issue.posted`, `message.published`, `test`.
    pub event: String,
    pub tenant_id: String,
    pub occurred_date_time: String,
    pub title: String,
    /// Plain text, a few lines.
    pub text: String,
    /// Where to read more (the portal).
    pub url: Option<String>,
    /// The event's own fields (an issue as in the API, say).
    pub data: serde_json::Value,
}

/// The shapes an endpoint can ask for: Candor's own, Slack's or Microsoft Teams'.
pub use candor_domain::health::WebhookFormat;

/// The JSON body for `format`.
pub fn body(message: &WebhookMessage, format: WebhookFormat) -> serde_json::Value {
    let link = message
        .url
        .as_ref()
        .map(|u| format!("\n{u}"))
        .unwrap_or_default();
    match format {
        WebhookFormat::Candor => serde_json::json!({
            "schemaVersion": SCHEMA_VERSION,
            "id": message.id,
            "event": message.event,
            "tenantId": message.tenant_id,
            "occurredDateTime": message.occurred_date_time,
            "title": message.title,
            "text": message.text,
            "url": message.url,
            "data": message.data,
        }),
        WebhookFormat::Slack => serde_json::json!({
            "text": format!("*{}*\n{}{link}", message.title, message.text),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("{}{link}", message.text)}},
            ],
        }),
        WebhookFormat::Teams => serde_json::json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.title,
            "title": message.title,
            "text": format!("{}{link}", message.text),
        }),
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // A key of any length is accepted by HMAC, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// The signature header's value: one `v1` per secret, so a receiver still holding the
/// previous secret during a rotation's grace period can verify too.
pub fn signature(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut parts = vec![format!("t={timestamp}")];
    parts.extend(
        secrets
            .iter()
            .map(|s| format!("v1={}", mac(s, timestamp, body))),
    );
    parts.join(",")
}

/// What a receiver does: the signature must match `secret` and be within the tolerance of
/// `now` (older ones are replays).
pub fn verify(header: &str, secret: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let t = timestamp.ok_or("no timestamp")?;
    // abs_diff: a timestamp near i64::MIN must not overflow the subtraction.
    if now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err("the timestamp is too old or in the future (a replay?)");
    }
    // Compared in constant time by the MAC itself.
    let ok = candidates.iter().any(|c| {
        hex::decode(c).is_ok_and(|given| {
            let mut m = match HmacSha256::new_from_slice(secret.as_bytes()) {
                Ok(m) => m,
                Err(_) => return false,
            };
            m.update(t.to_string().as_bytes());
            m.update(b".");
            m.update(body);
            m.verify_slice(&given).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err("no signature matches")
    }
}

/// Addresses webhooks must not reach by default: they belong to the provider's own
/// network (or nobody's), and a tenant must not make Candor call them.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL or its target can never work (bad URL, private address, 4xx answer).
    #[error("{0}")]
    Permanent(String),
    /// Worth retrying later (timeouts, 5xx, 429, connection errors).
    #[error("{0}")]
    Retry(String),
}

/// Checks a webhook URL and resolves it: `https` (or `http` when private targets are
/// allowed, for tests and labs), a host, and only public addresses unless allowed.
/// Returns the host and the addresses to connect to, so the connection goes exactly
/// where the check looked (no second DNS answer).
pub async fn resolve(
    url: &str,
    allow_private: bool,
) -> Result<(reqwest::Url, String, Vec<SocketAddr>), WebhookError> {
    let (parsed, host, port) = check_url(url, allow_private)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| WebhookError::Retry(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(WebhookError::Retry(format!("{host} has no address")));
    }
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
            return Err(WebhookError::Permanent(format!(
                "{host} resolves to {}, a private or local address; webhooks go to public addresses only",
                bad.ip()
            )));
        }
    }
    Ok((parsed, host, addrs))
}

/// What `resolve` checks before asking DNS: the scheme, no credentials, a host; returns
/// the URL, its host and port. A host that is an address literal is checked here too.
pub fn check_url(
    url: &str,
    allow_private: bool,
) -> Result<(reqwest::Url, String, u16), WebhookError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| WebhookError::Permanent(format!("the webhook URL is not valid ({e})")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => {
            return Err(WebhookError::Permanent(format!(
                "webhook URLs must use https, not {other}"
            )))
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookError::Permanent(
            "put no credentials in the webhook URL; Candor signs each request instead".into(),
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| WebhookError::Permanent("the webhook URL names no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !allow_private && is_private(ip) {
            return Err(WebhookError::Permanent(format!(
                "{ip} is a private or local address; webhooks go to public addresses only"
            )));
        }
    }
    Ok((parsed, host, port))
}

/// Sends webhooks, keeping one HTTP client (and so its open connections) per target, so
/// a busy endpoint is not paying for a new connection on every delivery.
#[derive(Default)]
pub struct WebhookSender {
    allow_private: bool,
    clients:
        std::sync::Mutex<std::collections::HashMap<(String, Vec<SocketAddr>), reqwest::Client>>,
}

/// Targets kept at most; beyond that the cache starts afresh.
const MAX_CLIENTS: usize = 4096;

impl WebhookSender {
    /// `allow_private` lets webhooks reach private and loopback addresses (tests, labs).
    pub fn new(allow_private: bool) -> WebhookSender {
        WebhookSender {
            allow_private,
            clients: Default::default(),
        }
    }

    pub(crate) fn allows_private(&self) -> bool {
        self.allow_private
    }

    pub(crate) fn client(
        &self,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Result<reqwest::Client, WebhookError> {
        let key = (host.to_owned(), addrs.to_vec());
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| WebhookError::Retry("the HTTP client cache is unusable".into()))?;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(host, addrs)
            .build()
            .map_err(|e| WebhookError::Retry(format!("cannot set up HTTP: {e}")))?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Sends one webhook. `secrets` are the endpoint's current secret and, during a
    /// rotation's grace period, the previous one.
    pub async fn send(
        &self,
        url: &str,
        format: WebhookFormat,
        secrets: &[&str],
        message: &WebhookMessage,
        now_unix: i64,
    ) -> Result<u16, WebhookError> {
        let (parsed, host, addrs) = resolve(url, self.allow_private).await?;
        let client = self.client(&host, &addrs)?;
        let payload = serde_json::to_vec(&body(message, format))
            .map_err(|e| WebhookError::Permanent(format!("cannot encode the payload: {e}")))?;
        let res = client
            .post(parsed)
            .header("content-type", "application/json")
            .header("user-agent", "Candor-Webhook/1.0")
            .header(DELIVERY_HEADER, &message.id)
            .header(SIGNATURE_HEADER, signature(secrets, now_unix, &payload))
            .body(payload)
            .send()
            .await
            .map_err(|e| WebhookError::Retry(format!("{host}: {e}")))?;
        let status = res.status().as_u16();
        match status {
            200..=299 => Ok(status),
            408 | 425 | 429 => Err(WebhookError::Retry(format!("{host} answered {status}"))),
            300..=499 => Err(WebhookError::Permanent(format!(
                "{host} answered {status}; fix the endpoint"
            ))),
            _ => Err(WebhookError::Retry(format!("{host} answered {status}"))),
        }
    }
}

/// Sends one webhook with a fresh client (see `WebhookSender` for many).
pub async fn send(
    url: &str,
    format: WebhookFormat,
    secrets: &[&str],
    message: &WebhookMessage,
    now_unix: i64,
    allow_private: bool,
) -> Result<u16, WebhookError> {
    WebhookSender::new(allow_private)
        .send(url, format, secrets, message, now_unix)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message() -> WebhookMessage {
        WebhookMessage {
            id: "dlv-1".into(),
            event: "issue.posted".into(),
            tenant_id: "t-1".into(),
            occurred_date_time: "2026-11-22T09:00:00Z".into(),
            title: "Exchange Online: mail delays".into(),
            text: "We're investigating delays.".into(),
            url: Some("https://candor.example/portal/health/issues/EX1".into()),
            data: serde_json::json!({"id": "EX1"}),
        }
    }

    #[test]
    fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_time() {
        let body = br#"{"a":1}"#;
        let header = signature(&["new-secret", "old-secret"], 1_000, body);
        assert!(verify(&header, "new-secret", body, 1_010).is_ok());
        assert!(
            verify(&header, "old-secret", body, 1_010).is_ok(),
            "rotation grace"
        );
        assert!(verify(&header, "other", body, 1_010).is_err());
        assert!(
            verify(&header, "new-secret", br#"{"a":2}"#, 1_010).is_err(),
            "tampered"
        );
        assert!(
            verify(&header, "new-secret", body, 1_000 + TOLERANCE_SECONDS + 1).is_err(),
            "replayed"
        );
        assert!(verify("v1=00", "new-secret", body, 1_000).is_err());
    }

    /// Found while writing the fuzz target: a timestamp near i64::MIN overflowed the
    /// replay window's subtraction.
    #[test]
    fn extreme_timestamps_are_refused_not_a_panic() {
        for t in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let header = format!("t={t},v1=00");
            assert!(verify(&header, "s", b"{}", 1_700_000_000).is_err());
            assert!(verify(&header, "s", b"{}", i64::MIN).is_err());
        }
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        let ok = |u: &str, private: bool| check_url(u, private).is_ok();
        assert!(ok("https://hooks.example.com/candor", false));
        assert!(!ok("http://hooks.example.com/candor", false), "https only");
        assert!(
            ok("http://127.0.0.1:9/hook", true),
            "labs may use http and loopback"
        );
        assert!(!ok("https://127.0.0.1/hook", false), "loopback literal");
        assert!(!ok("https://[::1]/hook", false), "IPv6 loopback literal");
        assert!(!ok("https://10.1.2.3/hook", false), "private literal");
        assert!(
            !ok("https://user:pw@hooks.example.com/", false),
            "credentials"
        );
        assert!(!ok("not a url", false));
        assert!(!ok("file:///etc/passwd", true));
        let (_, host, port) = check_url("https://[2606:4700::1111]:8443/x", false).unwrap();
        assert_eq!((host.as_str(), port), ("2606:4700::1111", 8443));
    }

    #[test]
    fn formats_have_their_shapes() {
        let m = message();
        let candor = body(&m, WebhookFormat::Candor);
        assert_eq!(candor["schemaVersion"], SCHEMA_VERSION);
        assert_eq!(candor["id"], "dlv-1");
        let slack = body(&m, WebhookFormat::Slack);
        assert!(slack["text"].as_str().unwrap().contains("mail delays"));
        assert_eq!(slack["blocks"][0]["type"], "header");
        let teams = body(&m, WebhookFormat::Teams);
        assert_eq!(teams["@type"], "MessageCard");
        assert_eq!(
            "Teams".parse::<WebhookFormat>().unwrap(),
            WebhookFormat::Teams
        );
        assert!("carrier-pigeon".parse::<WebhookFormat>().is_err());
    }

    #[test]
    fn private_and_local_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_to_private_targets_or_without_https_are_refused() {
        for (url, needle) in [
            ("http://example.com/hook", "https"),
            ("https://127.0.0.1/hook", "private"),
            ("https://[::1]:8443/hook", "private"),
            ("https://user:pw@127.0.0.1/hook", "credentials"),
            ("not a url", "not valid"),
        ] {
            let e = resolve(url, false).await.unwrap_err();
            assert!(matches!(e, WebhookError::Permanent(_)), "{url}: {e}");
            assert!(e.to_string().contains(needle), "{url}: {e}");
        }
        assert!(resolve("http://127.0.0.1:9/hook", true).await.is_ok());
    }

    #[tokio::test]
    async fn a_local_receiver_gets_a_signed_request_and_answers_decide_retries() {
        use std::sync::{Arc, Mutex};
        /// What the receiver saw: signature header, delivery id, body.
        type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let store = seen.clone();
        let app = axum::Router::new().route(
            "/{status}",
            axum::routing::post(
                move |axum::extract::Path(status): axum::extract::Path<u16>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let store = store.clone();
                    async move {
                        store.lock().unwrap().push((
                            headers[SIGNATURE_HEADER].to_str().unwrap().to_owned(),
                            headers[DELIVERY_HEADER].to_str().unwrap().to_owned(),
                            body.to_vec(),
                        ));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let m = message();
        let now = 1_763_802_000;
        let ok = send(
            &format!("{base}/204"),
            WebhookFormat::Candor,
            &["s3cret"],
            &m,
            now,
            true,
        )
        .await
        .unwrap();
        assert_eq!(ok, 204);
        let (sig, id, body_bytes) = seen.lock().unwrap()[0].clone();
        assert_eq!(id, "dlv-1");
        assert!(verify(&sig, "s3cret", &body_bytes, now + 5).is_ok());
        let parsed: serde_json::Value = serde_json::from_slice(&body_bytes).unwrap();
        assert_eq!(parsed["event"], "issue.posted");
        let retry = send(
            &format!("{base}/503"),
            WebhookFormat::Slack,
            &["s"],
            &m,
            now,
            true,
        )
        .await;
        assert!(matches!(retry, Err(WebhookError::Retry(_))), "{retry:?}");
        let gone = send(
            &format!("{base}/410"),
            WebhookFormat::Teams,
            &["s"],
            &m,
            now,
            true,
        )
        .await;
        assert!(matches!(gone, Err(WebhookError::Permanent(_))), "{gone:?}");
        let refused = send(
            &format!("{base}/204"),
            WebhookFormat::Candor,
            &["s"],
            &m,
            now,
            false,
        )
        .await;
        assert!(
            matches!(refused, Err(WebhookError::Permanent(_))),
            "loopback refused by default"
        );
    }
}
