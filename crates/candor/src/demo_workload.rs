//! `candor demo-workload`: a tiny stand-in for one of the provider's data-plane services
//! (an Exchange Online mailbox server) that asks Candor's `authorize` before every
//! operation an engineer attempts and reports each one it performs to `actions`. It shows
//! the enforcement point end to end: refused without a grant, allowed under one, refused
//! again once access ends or is revoked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// The workload this service is, and the operations it knows.
pub const WORKLOAD: &str = "Exchange Online";
pub const OPERATIONS: [&str; 3] = [
    "Get-Mailbox",
    "Get-MessageTrace",
    "Export-MailboxDiagnosticLogs",
];

/// Where Candor is and the service's own credentials (an operator client with the
/// DataPlaneService role).
#[derive(Debug, Clone)]
pub struct WorkloadSettings {
    pub candor_url: String,
    pub client_id: String,
    pub client_secret: String,
}

struct Inner {
    settings: WorkloadSettings,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Clone)]
pub struct Workload(Arc<Inner>);

/// Why an attempt did not go through.
#[derive(Debug)]
enum Failure {
    Candor(String),
    BadRequest(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Failure::Candor(m) => (StatusCode::BAD_GATEWAY, m),
            Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        };
        (status, Json(json!({"error": message}))).into_response()
    }
}

impl Workload {
    pub fn new(settings: WorkloadSettings) -> anyhow::Result<Workload> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Workload(Arc::new(Inner {
            settings,
            http,
            token: Mutex::new(None),
        })))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.settings.candor_url.trim_end_matches('/'))
    }

    /// An access token, reused until five minutes before it expires.
    async fn token(&self) -> Result<String, Failure> {
        let mut cached = self.0.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let res = self
            .0
            .http
            .post(self.url("/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.0.settings.client_id.as_str()),
                ("client_secret", self.0.settings.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| Failure::Candor(format!("cannot reach Candor: {e}")))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let Some(token) = body["access_token"].as_str() else {
            return Err(Failure::Candor(format!(
                "Candor refused the service's credentials ({status}): {}",
                body["error_description"]
                    .as_str()
                    .unwrap_or("no reason given")
            )));
        };
        let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
        *cached = Some((
            token.to_owned(),
            Instant::now() + Duration::from_secs(lifetime.saturating_sub(300)),
        ));
        Ok(token.to_owned())
    }

    async fn call(&self, path: &str, body: &Value) -> Result<(StatusCode, Value), Failure> {
        // A token Candor no longer accepts (expired by its clock, or the client's keys
        // rotated) is dropped and a fresh one fetched, once.
        for attempt in 0..2 {
            let token = self.token().await?;
            let res = self
                .0
                .http
                .post(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .map_err(|e| Failure::Candor(format!("cannot reach Candor: {e}")))?;
            let status = res.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                *self.0.token.lock().await = None;
                continue;
            }
            return Ok((status, res.json().await.unwrap_or(Value::Null)));
        }
        Err(Failure::Candor(
            "Candor keeps refusing the service's token".into(),
        ))
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(help))
            .route("/tenants/{tenant}/operations/{operation}", post(attempt))
            .with_state(self)
    }
}

async fn help() -> &'static str {
    "Candor demo mailbox service (Exchange Online).\n\n\
     POST /tenants/{tenant id}/operations/{operation} with JSON {\"operator\": \"<engineer email or id>\", \"mailbox\": \"<name>\"}\n\
     Operations: Get-Mailbox, Get-MessageTrace, Export-MailboxDiagnosticLogs.\n\
     Every attempt is checked with Candor's Lockbox authorize first; performed ones are reported to the tenant's audit log.\n"
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attempt {
    operator: String,
    mailbox: Option<String>,
}

/// What the pretend operation returns: made-up but plausible.
fn perform(operation: &str, mailbox: &str) -> Value {
    match operation {
        "Get-Mailbox" => json!({
            "DisplayName": mailbox,
            "RecipientTypeDetails": "UserMailbox",
            "ProhibitSendQuota": "99 GB",
            "LitigationHoldEnabled": false,
        }),
        "Get-MessageTrace" => json!({
            "Recipient": mailbox,
            "Messages": 42,
            "Delayed": 3,
        }),
        _ => json!({"Mailbox": mailbox, "DiagnosticLog": "collected"}),
    }
}

async fn attempt(
    State(workload): State<Workload>,
    Path((tenant, operation)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let attempt: Attempt = serde_json::from_slice(&body).map_err(|e| {
        Failure::BadRequest(format!(
            "send JSON {{\"operator\": \"...\", \"mailbox\": \"...\"}}: {e}"
        ))
    })?;
    let Some(operation) = OPERATIONS
        .iter()
        .find(|o| o.eq_ignore_ascii_case(&operation))
    else {
        return Err(Failure::BadRequest(format!(
            "this service knows {}",
            OPERATIONS.join(", ")
        )));
    };
    let mailbox = attempt.mailbox.unwrap_or_else(|| "Megan Bowen".to_owned());
    let question = json!({
        "operator": attempt.operator,
        "tenantId": tenant,
        "workload": WORKLOAD,
        "operation": operation,
    });
    let (status, answer) = workload
        .call("/api/v1/lockbox/authorize", &question)
        .await?;
    if !status.is_success() {
        return Err(Failure::Candor(format!(
            "Candor answered {status}: {}",
            answer["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
        )));
    }
    if answer["decision"] != "allow" {
        return Ok((
            StatusCode::FORBIDDEN,
            Json(json!({
                "refused": answer["reason"].as_str().unwrap_or("no covering Lockbox grant"),
            })),
        )
            .into_response());
    }
    let result = perform(operation, &mailbox);
    let mut report = question.clone();
    report["requestId"] = answer["requestId"].clone();
    report["target"] = json!(mailbox);
    let (status, recorded) = workload.call("/api/v1/lockbox/actions", &report).await?;
    if status != StatusCode::CREATED {
        return Err(Failure::Candor(format!(
            "the operation ran but Candor did not record it ({status}): {recorded}"
        )));
    }
    Ok(Json(json!({
        "result": result,
        "grant": answer["requestId"],
        "accessEnds": answer["accessEnd"],
    }))
    .into_response())
}

/// Runs the service until Ctrl-C.
pub async fn run(listen: std::net::SocketAddr, settings: WorkloadSettings) -> anyhow::Result<()> {
    let workload = Workload::new(settings)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    eprintln!(
        "Demo mailbox service on http://{} — try: curl -X POST http://{}/tenants/<tenant id>/operations/Get-Mailbox -H 'content-type: application/json' -d '{{\"operator\":\"engineer@provider.example\"}}'",
        listener.local_addr()?,
        listener.local_addr()?
    );
    axum::serve(listener, workload.router())
        .with_graceful_shutdown(crate::server::shutdown_signal())
        .await?;
    Ok(())
}
