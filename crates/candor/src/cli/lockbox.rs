//! `candor lockbox`: the cmdlets' equivalents. `get` and `set` talk to a running Candor
//! over its API with an app's client credentials (an approver's tool needs no database
//! access); `verify`, `workload` and the rest run against the database, as the other
//! administrative commands do.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::{core_for, CliError, DbArgs};

#[derive(Debug, Subcommand)]
pub enum LockboxCommand {
    /// List Lockbox requests, or show one (Get-AccessToCustomerDataRequest).
    Get {
        /// Only requests in this status now.
        #[arg(long, value_enum, ignore_case = true)]
        status: Option<StatusArg>,
        /// Only requests filed after this date (2026-11-01) or RFC 3339 time.
        #[arg(long)]
        created_after: Option<String>,
        /// Show this one request, with who may approve it.
        #[arg(long)]
        request_id: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiTarget,
    },
    /// Approve or deny a pending request (Set-AccessToCustomerDataRequest), or revoke
    /// active access. Cancel is the engineer's, in the console.
    Set {
        #[arg(long)]
        request_id: String,
        #[arg(long, value_enum, ignore_case = true)]
        decision: DecisionArg,
        /// Why (at most 2000 characters); recorded with the decision.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        api: ApiTarget,
    },
    /// Check the Ed25519 signatures on a request's decisions against Candor's keys;
    /// exits non-zero if any decision is unsigned or its signature does not match.
    Verify {
        /// The request id.
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Add or change a workload and the operations engineers may ask for on it.
    Workload {
        /// e.g. "Exchange Online".
        #[arg(long)]
        name: String,
        /// Comma-separated pre-approved operations, e.g. Get-Mailbox,Export-MailboxDiagnosticLogs.
        #[arg(long)]
        operations: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the workloads and their operations.
    Workloads {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The statuses `--status` accepts (the cmdlet's words).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Approved,
    Denied,
    Expired,
    Canceled,
    Revoked,
    Completed,
    AwaitingInternalApproval,
    InternallyDenied,
}

impl StatusArg {
    fn api_word(self) -> &'static str {
        match self {
            StatusArg::Pending => "pending",
            StatusArg::Approved => "approved",
            StatusArg::Denied => "denied",
            StatusArg::Expired => "expired",
            StatusArg::Canceled => "canceled",
            StatusArg::Revoked => "revoked",
            StatusArg::Completed => "completed",
            StatusArg::AwaitingInternalApproval => "awaitingInternalApproval",
            StatusArg::InternallyDenied => "internallyDenied",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DecisionArg {
    Approve,
    Deny,
    /// The engineer's own step; refused with a pointer to the console.
    Cancel,
    /// End active access now.
    Revoke,
}

/// Where Candor is and which app credentials to use.
#[derive(Debug, Args)]
pub struct ApiTarget {
    /// Candor's URL.
    #[arg(long, env = "CANDOR_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The app's client id (an API client with Lockbox.ReadWrite.All, or an operator
    /// client).
    #[arg(long, env = "CANDOR_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The app's secret; prefer the environment variable to the command line.
    #[arg(long, env = "CANDOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn failed(what: &str, e: reqwest::Error) -> CliError {
    CliError::Failed(format!("{what}: {e}"))
}

/// Candor's error body, or the status when there is none.
async fn error_of(response: reqwest::Response) -> CliError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Candor answered {status}"));
    if status.is_client_error() && status.as_u16() != 401 && status.as_u16() != 403 {
        CliError::Usage(message)
    } else {
        CliError::Failed(message)
    }
}

impl Api {
    async fn connect(t: &ApiTarget) -> Result<Api, CliError> {
        let (Some(id), Some(secret)) = (t.client_id.as_deref(), t.client_secret.as_deref()) else {
            return Err(CliError::Usage(
                "give the app's credentials: --client-id and CANDOR_CLIENT_SECRET (or --client-secret)"
                    .into(),
            ));
        };
        let base = t.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::Usage(format!(
                "--url `{base}` must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| failed("could not set up HTTP", e))?;
        let response = http
            .post(format!("{base}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .map_err(|e| failed(&format!("could not reach Candor at {base}"), e))?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| failed("the token answer was not JSON", e))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| CliError::Failed("the token answer had no access_token".into()))?
            .to_owned();
        Ok(Api { http, base, token })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .map_err(|e| failed("the request failed", e))?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| failed("the answer was not JSON", e))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| failed("the request failed", e))?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| failed("the answer was not JSON", e))
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn print_row(r: &Value) {
    println!(
        "{:<36}  {:<24}  {:<22}  {:<20}  {:<16}  {}",
        text(&r["id"]),
        text(&r["status"]),
        text(&r["workload"]),
        text(&r["createdDateTime"]),
        text(&r["serviceRequest"]),
        text(&r["requester"]),
    );
}

fn print_detail(r: &Value) {
    let ops: Vec<&str> = r["operations"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!("Request:          {}", text(&r["id"]));
    println!("Status:           {}", text(&r["status"]));
    println!("Workload:         {}", text(&r["workload"]));
    println!("Operations:       {}", ops.join(", "));
    println!("Service request:  {}", text(&r["serviceRequest"]));
    println!("Justification:    {}", text(&r["justification"]));
    println!("Requester:        {}", text(&r["requester"]));
    println!("Duration:         {} minutes", r["durationMinutes"]);
    println!("Created:          {}", text(&r["createdDateTime"]));
    if let Some(d) = r["decisionDeadline"].as_str() {
        println!("Decide before:    {d}");
    }
    if let (Some(s), Some(e)) = (r["accessStart"].as_str(), r["accessEnd"].as_str()) {
        println!("Access:           {s} to {e}");
    }
    for (label, key) in [
        ("Internal:", "internalDecision"),
        ("Customer:", "customerDecision"),
        ("Ended:", "ended"),
    ] {
        let d = &r[key];
        if d.is_object() {
            println!(
                "{label:<17} {} at {}{}",
                text(&d["by"]),
                text(&d["dateTime"]),
                d["comment"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(approvers) = r["approvers"].as_array() {
        let names: Vec<&str> = approvers
            .iter()
            .filter_map(|a| a["email"].as_str())
            .collect();
        println!("May approve:      {}", names.join(", "));
    }
}

pub async fn run(cmd: LockboxCommand) -> Result<ExitCode, CliError> {
    match cmd {
        LockboxCommand::Get {
            status,
            created_after,
            request_id,
            json,
            api,
        } => {
            let api = Api::connect(&api).await?;
            if let Some(id) = request_id {
                let r = api
                    .get(&format!("/api/v1/lockbox/requests/{}", id.trim()), &[])
                    .await?;
                if json {
                    println!("{r}");
                } else {
                    print_detail(&r);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mut query: Vec<(&str, String)> = vec![("top", "200".into())];
            if let Some(s) = status {
                query.push(("status", s.api_word().into()));
            }
            if let Some(after) = created_after {
                query.push(("createdAfter", after));
            }
            if !json {
                println!(
                    "{:<36}  {:<24}  {:<22}  {:<20}  {:<16}  Requester",
                    "Id", "Status", "Workload", "Created", "Service request"
                );
            }
            let mut shown = 0usize;
            loop {
                let page = api.get("/api/v1/lockbox/requests", &query).await?;
                for r in page["value"].as_array().into_iter().flatten() {
                    shown += 1;
                    if json {
                        println!("{r}");
                    } else {
                        print_row(r);
                    }
                }
                match page["nextCursor"].as_str() {
                    Some(c) => {
                        query.retain(|(k, _)| *k != "cursor");
                        query.push(("cursor", c.to_owned()));
                    }
                    None => break,
                }
            }
            if !json {
                eprintln!("{shown} request(s)");
            }
            Ok(ExitCode::SUCCESS)
        }
        LockboxCommand::Set {
            request_id,
            decision,
            comment,
            api,
        } => {
            let api = Api::connect(&api).await?;
            let word = match decision {
                DecisionArg::Approve => "Approve",
                DecisionArg::Deny => "Deny",
                DecisionArg::Cancel => "Cancel",
                DecisionArg::Revoke => "Revoke",
            };
            let id = request_id.trim();
            let r = if word == "Revoke" {
                api.post(
                    &format!("/api/v1/lockbox/requests/{id}/revoke"),
                    &serde_json::json!({"comment": comment}),
                )
                .await?
            } else {
                api.post(
                    &format!("/api/v1/lockbox/requests/{id}/decision"),
                    &serde_json::json!({"decision": word, "comment": comment}),
                )
                .await?
            };
            println!("Request {} is now {}.", text(&r["id"]), text(&r["status"]));
            if let Some(end) = r["accessEnd"].as_str().filter(|_| word == "Approve") {
                println!("Access ends at {end} unless you revoke it sooner.");
            }
            Ok(ExitCode::SUCCESS)
        }
        LockboxCommand::Verify { id, db } => {
            let core = core_for(&db).await?;
            let (request, checks) =
                candor_app::lockbox::verify(&core, candor_app::ids::id(&id)?).await?;
            println!(
                "Request {} ({}, {} for {})",
                request.id, request.status, request.workload, request.tenant
            );
            if checks.is_empty() {
                println!("No decision has been taken yet; nothing to verify.");
                return Ok(ExitCode::SUCCESS);
            }
            let mut bad = 0;
            for c in &checks {
                let verdict = match &c.result {
                    Ok(()) => "signature OK".to_owned(),
                    Err(e) => {
                        bad += 1;
                        format!("FAILED: {e}")
                    }
                };
                println!(
                    "  {:<9} {:<8} by {} at {} (key {}): {verdict}",
                    c.step.as_str(),
                    c.outcome,
                    c.by,
                    candor_domain::time_util::rfc3339(c.at),
                    c.key_id.as_deref().unwrap_or("-"),
                );
            }
            if bad > 0 {
                return Err(CliError::Failed(format!(
                    "{bad} of {} decision(s) of request {} do not verify",
                    checks.len(),
                    request.id
                )));
            }
            println!("All {} decision(s) verify.", checks.len());
            Ok(ExitCode::SUCCESS)
        }
        LockboxCommand::Workload {
            name,
            operations,
            db,
        } => {
            let core = core_for(&db).await?;
            let ops = super::split_csv(&operations);
            let w = candor_app::lockbox::put_workload(
                &core,
                &candor_domain::identity::Actor::System,
                None,
                &name,
                &ops,
            )
            .await?;
            println!("{}: {}", w.name, w.operations.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        LockboxCommand::Workloads { db } => {
            let core = core_for(&db).await?;
            for w in core.store.list_workloads().await? {
                println!("{}: {}", w.name, w.operations.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
