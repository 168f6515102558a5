//! `candor verify`: a tenant checks its audit log from what Candor published and the
//! verifier key it was given, trusting nothing else the provider says. It fetches the
//! latest checkpoint and verifies its signature; proves it consistent with the
//! checkpoint this tenant saw last (a state file), so a rewritten or forked log is caught;
//! proves each record of an export included, from the record's own fields; then
//! remembers the new checkpoint. Every check is printed; any failure exits 1.

use std::path::PathBuf;
use std::process::ExitCode;

use candor_verify::record::Exported;
use candor_verify::state::State;
use candor_verify::{check_consistency, check_inclusion, unb64, verify_checkpoint};
use clap::Args;
use serde_json::Value;

use super::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Candor's base URL, e.g. https://status.example.com.
    #[arg(long)]
    pub log: String,
    /// The log's C2SP verifier key (`<origin>+<id>+<key>`), as the provider gave it to
    /// you (GET /api/v1/audit/keys once, then kept): the one thing this trusts.
    #[arg(long, env = "CANDOR_VERIFY_KEY")]
    pub key: String,
    /// A bearer token with AuditLog.Read.All (or give --client-id and --client-secret).
    #[arg(long, env = "CANDOR_VERIFY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// An API client of your tenant with AuditLog.Read.All.
    #[arg(long, env = "CANDOR_CLIENT_ID")]
    pub client_id: Option<String>,
    #[arg(long, env = "CANDOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Where the last checkpoint you saw is kept (created on the first run).
    #[arg(long, default_value = "candor-verify-state.json")]
    pub state: PathBuf,
    /// A JSON export of records (GET /api/v1/audit/records/export?format=json) to prove
    /// included in the log.
    #[arg(long)]
    pub records: Option<PathBuf>,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> Result<reqwest::Response, CliError> {
        let url = format!("{}{path}", self.base);
        let res = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| CliError::Failed(format!("GET {url}: {e}")))?;
        if !res.status().is_success() {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            return Err(CliError::Failed(format!(
                "GET {url}: {status} {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        Ok(res)
    }

    async fn json(&self, path: &str) -> Result<Value, CliError> {
        self.get(path)
            .await?
            .json()
            .await
            .map_err(|e| CliError::Failed(format!("GET {path}: not JSON: {e}")))
    }
}

async fn token(args: &VerifyArgs, http: &reqwest::Client, base: &str) -> Result<String, CliError> {
    if let Some(t) = args.token.as_deref().filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_owned());
    }
    let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
        return Err(CliError::Usage(
            "give --token, or --client-id and --client-secret of an API client with AuditLog.Read.All".into(),
        ));
    };
    let res = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .map_err(|e| CliError::Failed(format!("token request: {e}")))?;
    let body: Value = res
        .json()
        .await
        .map_err(|e| CliError::Failed(format!("token request: {e}")))?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Failed(format!("no token: {body}")))
}

fn hashes(v: &Value) -> Result<Vec<candor_verify::TreeHash>, candor_verify::Failure> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|h| unb64(h.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// The tenant a log is of, from its origin (`…/audit/<tenant>`); none for the operator
/// realm's.
fn tenant_of(origin: &str) -> Option<String> {
    origin
        .rsplit_once("/audit/")
        .map(|(_, t)| t.to_owned())
        .filter(|t| t != "operator")
}

pub(super) async fn run(args: VerifyArgs) -> CliResult {
    let base = args.log.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let name = candor_verify::key_name(&args.key).map_err(|e| CliError::Usage(e.to_string()))?;
    let api = Api {
        token: token(&args, &http, &base).await?,
        http,
        base,
    };
    let mut failures = Vec::new();

    // 1. The latest checkpoint, signed by the key you hold.
    let note = api
        .get("/api/v1/audit/log/checkpoint")
        .await?
        .text()
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let head = match verify_checkpoint(&note, &args.key) {
        Ok(head) => {
            println!(
                "ok    checkpoint of {}: {} records, root {}, signed by the key for {name}",
                head.origin,
                head.size,
                head.root_b64()
            );
            head
        }
        Err(e) => {
            println!("FAIL  checkpoint: {e}");
            return Ok(ExitCode::from(1));
        }
    };

    // 2. Consistent with the last checkpoint you saw.
    let mut state = match std::fs::read_to_string(&args.state) {
        Ok(text) => State::parse(&text)
            .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(CliError::Failed(format!("{}: {e}", args.state.display()))),
    };
    match state
        .last(&head.origin)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?
    {
        None => println!(
            "note  no earlier checkpoint of this log in {}: this one is remembered",
            args.state.display()
        ),
        Some(last) => {
            let path = if last.size > 0 && last.size < head.size {
                let proof = api
                    .json(&format!(
                        "/api/v1/audit/consistency?from={}&to={}",
                        last.size, head.size
                    ))
                    .await?;
                hashes(&proof["consistencyPath"]).map_err(|e| CliError::Failed(e.to_string()))?
            } else {
                Vec::new()
            };
            // The roots are yours and the signed note's, never the proof's own words.
            match check_consistency(&last, &head, &path) {
                Ok(()) => println!(
                    "ok    consistent with the checkpoint you saw last ({} records): the log only grew",
                    last.size
                ),
                Err(e) => {
                    println!("FAIL  {e}");
                    failures.push(e.to_string());
                }
            }
        }
    }

    // 3. Every exported record is a leaf of the signed tree.
    if let Some(file) = &args.records {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
        let records: Vec<Exported> = serde_json::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "{}: not a JSON export of audit records: {e}",
                file.display()
            ))
        })?;
        let tenant = tenant_of(&head.origin);
        let (mut included, mut newer) = (0, 0);
        for r in &records {
            let index = match r.leaf_index() {
                Ok(i) if i >= head.size => {
                    // Appended after the latest checkpoint: the next one will cover it.
                    newer += 1;
                    continue;
                }
                Ok(i) => i,
                Err(e) => {
                    println!("FAIL  {e}");
                    failures.push(e.to_string());
                    continue;
                }
            };
            let checked = async {
                let leaf = r.leaf_hash(tenant.as_deref())?;
                let proof = api
                    .json(&format!(
                        "/api/v1/audit/records/{}/proof?size={}",
                        r.id, head.size
                    ))
                    .await
                    .map_err(|e| {
                        candor_verify::Failure::Record(match e {
                            CliError::Failed(m) | CliError::Usage(m) => m,
                        })
                    })?;
                check_inclusion(&r.id, leaf, index, &head, &hashes(&proof["inclusionPath"])?)
            }
            .await;
            match checked {
                Ok(()) => included += 1,
                Err(e) => {
                    println!("FAIL  {e}");
                    failures.push(e.to_string());
                }
            }
        }
        let covered = records.len() - newer;
        println!(
            "{}  {included} of {covered} exported records are in the signed tree, as exported",
            if included == covered { "ok  " } else { "FAIL" },
        );
        if newer > 0 {
            println!(
                "note  {newer} exported record(s) are newer than the latest checkpoint; run again after the next one (hourly) to check them"
            );
        }
    }

    if failures.is_empty() {
        state.remember(&head);
        std::fs::write(&args.state, state.to_text())
            .map_err(|e| CliError::Failed(format!("{}: {e}", args.state.display())))?;
        println!(
            "Everything checked verifies; {} remembers this checkpoint.",
            args.state.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} check(s) failed; {} keeps the checkpoint you saw before.",
            failures.len(),
            args.state.display()
        );
        Ok(ExitCode::from(1))
    }
}
