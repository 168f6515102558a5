//! `candor verify`: a tenant checks its audit log from what Candor published and the
//! verifier key it was given, trusting nothing else the provider says. It fetches the
//! latest checkpoint and verifies its signature; proves it consistent with the
//! checkpoint this tenant saw last (a state file), so a rewritten or forked log is caught;
//! proves each record of an export included, from the record's own fields; then
//! remembers the new checkpoint. Every check is printed; any failure exits 1.
//!
//! From the published tiles (`--tiles`, or `--full` against the API) it reads every
//! record instead of asking for proofs: each entry must be a record of this log at its
//! place, linked to the one before, and together they must make the signed root and, at
//! the size seen last, the root seen then.

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
    /// Candor's base URL, e.g. https://status.example.com: the log is read through the
    /// API, with a token.
    #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
    pub log: Option<String>,
    /// Where the log is published in the C2SP tlog-tiles layout (the directory or URL
    /// holding `checkpoint` and `tile/`, e.g. the backup status site's
    /// `log/<your prefix>`): every record is read from its entry bundles. Needs no token.
    #[arg(long)]
    pub tiles: Option<String>,
    /// With --log: read every record from the API's tiles and rebuild the tree, instead
    /// of asking for proofs.
    #[arg(long)]
    pub full: bool,
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
    /// Lockbox requests as the API gives them (GET /api/v1/lockbox/requests/{id}, or a
    /// list): each decision's signature is checked with your key, and, reading the whole
    /// log (--tiles or --full), that the decision's audit record carries it.
    #[arg(long)]
    pub lockbox: Option<PathBuf>,
    /// A witness's C2SP verifier key (`<name>+<id>+<key>`, type 0x04): a checkpoint is
    /// trusted only with this witness's valid cosignature (give it several times for
    /// several witnesses; see --witness-quorum). When the latest checkpoint is not yet
    /// co-signed, the newest one that is (`checkpoint.cosigned`) is checked instead.
    #[arg(long = "require-witness", value_name = "VKEY")]
    pub require_witness: Vec<String>,
    /// How many of the --require-witness witnesses must have co-signed (default 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub witness_quorum: u32,
}

/// Where the log is read from.
pub(super) enum Source {
    /// Candor's API, with a bearer token.
    Api {
        http: reqwest::Client,
        base: String,
        token: String,
    },
    /// A published copy over HTTP(S).
    Http { http: reqwest::Client, base: String },
    /// A published copy on disk.
    Dir(PathBuf),
}

/// A bearer token, or an API client's id and secret to get one with.
pub(super) type Credentials<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

impl Source {
    /// Candor's API at `log` (with a token got from `credentials`), or the published copy
    /// at `tiles` (a URL or a directory).
    pub(super) async fn of(
        log: Option<&str>,
        tiles: Option<&str>,
        credentials: Credentials<'_>,
        http: reqwest::Client,
    ) -> Result<Source, CliError> {
        Ok(match (log, tiles) {
            (Some(log), _) => {
                let base = log.trim_end_matches('/').to_owned();
                Source::Api {
                    token: api_token(credentials, &http, &base).await?,
                    http,
                    base,
                }
            }
            (None, Some(t)) if t.starts_with("http://") || t.starts_with("https://") => {
                Source::Http {
                    http,
                    base: t.trim_end_matches('/').to_owned(),
                }
            }
            (None, Some(dir)) => Source::Dir(PathBuf::from(dir)),
            (None, None) => {
                return Err(CliError::Usage(
                    "give --log (Candor's URL) or --tiles (where the log is published)".into(),
                ))
            }
        })
    }

    pub(super) async fn get(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let (http, url, token) = match self {
            Source::Dir(dir) => {
                let file = dir.join(path);
                return std::fs::read(&file)
                    .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())));
            }
            Source::Api { http, base, token } => (http, format!("{base}{path}"), Some(token)),
            Source::Http { http, base } => (http, format!("{base}/{path}"), None),
        };
        let mut req = http.get(&url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req
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
        res.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| CliError::Failed(format!("GET {url}: {e}")))
    }

    /// A file of the published log (`checkpoint`, `tile/…`).
    pub(super) async fn log_file(&self, rel: &str) -> Result<Vec<u8>, CliError> {
        match self {
            Source::Api { .. } => self.get(&format!("/api/v1/audit/log/{rel}")).await,
            _ => self.get(rel).await,
        }
    }

    async fn json(&self, path: &str) -> Result<Value, CliError> {
        if !matches!(self, Source::Api { .. }) {
            return Err(CliError::Usage(
                "proofs come from the API: give --log, or read everything with --tiles".into(),
            ));
        }
        serde_json::from_slice(&self.get(path).await?)
            .map_err(|e| CliError::Failed(format!("GET {path}: not JSON: {e}")))
    }
}

/// A bearer token: the one given, or one issued to the API client given.
async fn api_token(
    (token, client_id, client_secret): Credentials<'_>,
    http: &reqwest::Client,
    base: &str,
) -> Result<String, CliError> {
    if let Some(t) = token.filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_owned());
    }
    let (Some(id), Some(secret)) = (client_id, client_secret) else {
        return Err(CliError::Usage(
            "give --token, or --client-id and --client-secret of an API client with AuditLog.Read.All".into(),
        ));
    };
    let res = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
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

/// The checkpoint to trust when witnesses are required: the latest if enough of them
/// co-signed it, else the newest that enough co-signed. None (after saying why) when
/// there is none.
async fn witnessed(
    args: &VerifyArgs,
    source: &Source,
    latest: &str,
    head: candor_verify::TreeHead,
) -> Result<Option<candor_verify::TreeHead>, CliError> {
    use candor_verify::witness::{cosignatures, WitnessKey};
    let witnesses: Vec<WitnessKey> = args
        .require_witness
        .iter()
        .map(|k| WitnessKey::parse(k))
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::Usage(format!("--require-witness: {e}")))?;
    let quorum = args.witness_quorum as usize;
    if quorum > witnesses.len() {
        return Err(CliError::Usage(format!(
            "--witness-quorum {quorum} is more than the {} witness(es) given",
            witnesses.len()
        )));
    }
    let names = |found: &[candor_verify::witness::Cosigned]| {
        found
            .iter()
            .map(|c| c.witness.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match cosignatures(latest, &witnesses) {
        Ok(found) if found.len() >= quorum => {
            println!(
                "ok    co-signed by {} of the witnesses you require ({})",
                found.len(),
                names(&found)
            );
            return Ok(Some(head));
        }
        Ok(found) => println!(
            "note  the latest checkpoint ({} records) has {} of the {quorum} cosignature(s) you require; checking the newest co-signed one",
            head.size,
            found.len()
        ),
        Err(e) => {
            println!("FAIL  the latest checkpoint: {e}");
            return Ok(None);
        }
    }
    let cosigned = match source.log_file("checkpoint.cosigned").await {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| CliError::Failed("checkpoint.cosigned is not text".into()))?,
        Err(CliError::Failed(e) | CliError::Usage(e)) => {
            println!("FAIL  no checkpoint co-signed by the witnesses you require: {e}");
            return Ok(None);
        }
    };
    let older = match verify_checkpoint(&cosigned, &args.key) {
        Ok(h) => h,
        Err(e) => {
            println!("FAIL  checkpoint.cosigned: {e}");
            return Ok(None);
        }
    };
    match cosignatures(&cosigned, &witnesses) {
        Ok(found) if found.len() >= quorum && older.size <= head.size => {
            println!(
                "ok    checkpoint of {} records, co-signed by {} of the witnesses you require ({}): checked instead of the latest",
                older.size,
                found.len(),
                names(&found)
            );
            Ok(Some(older))
        }
        Ok(found) if found.len() >= quorum => {
            println!(
                "FAIL  the co-signed checkpoint ({} records) is larger than the latest ({} records)",
                older.size, head.size
            );
            Ok(None)
        }
        Ok(found) => {
            println!(
                "FAIL  no checkpoint of this log is co-signed by {quorum} of the witnesses you require (the newest co-signed one has {}: {})",
                found.len(),
                names(&found)
            );
            Ok(None)
        }
        Err(e) => {
            println!("FAIL  checkpoint.cosigned: {e}");
            Ok(None)
        }
    }
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
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let name = candor_verify::key_name(&args.key).map_err(|e| CliError::Usage(e.to_string()))?;
    let credentials = (
        args.token.as_deref(),
        args.client_id.as_deref(),
        args.client_secret.as_deref(),
    );
    let api = Source::of(
        args.log.as_deref(),
        args.tiles.as_deref(),
        credentials,
        http,
    )
    .await?;
    // Reading the published tiles means reading every record.
    let full = args.full || !matches!(api, Source::Api { .. });
    let mut failures = Vec::new();

    // 1. The latest checkpoint, signed by the key you hold.
    let note = String::from_utf8(api.log_file("checkpoint").await?)
        .map_err(|_| CliError::Failed("the checkpoint is not text".into()))?;
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
    let head = if args.require_witness.is_empty() {
        head
    } else {
        match witnessed(&args, &api, &note, head).await? {
            Some(head) => head,
            None => return Ok(ExitCode::from(1)),
        }
    };

    // 2. Consistent with the last checkpoint you saw.
    let state = match std::fs::read_to_string(&args.state) {
        Ok(text) => State::parse(&text)
            .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(CliError::Failed(format!("{}: {e}", args.state.display()))),
    };
    let last = state
        .last(&head.origin)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?;
    let requests = match &args.lockbox {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            candor_verify::lockbox::parse_requests(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
        }
        None => Vec::new(),
    };
    if !requests.is_empty() {
        check_signatures(&args.key, &requests, &mut failures)?;
    }
    if full {
        let watch: Vec<uuid::Uuid> = requests
            .iter()
            .flat_map(|r| r.decisions())
            .filter_map(|(_, d)| d.audit_record_id.as_deref())
            .filter_map(|id| uuid::Uuid::parse_str(id).ok())
            .collect();
        let rebuilt = rebuild(&api, &head, last.as_ref(), &watch, &mut failures).await?;
        if !requests.is_empty() {
            check_decision_records(&requests, &rebuilt, &head, &mut failures);
        }
        if let Some(file) = &args.records {
            check_exported(
                file,
                &head,
                |r, index, leaf| {
                    if rebuilt.leaves.get(index as usize) == Some(&leaf) {
                        Ok(())
                    } else {
                        Err(candor_verify::Failure::NotIncluded {
                            id: r.id.clone(),
                            index,
                            size: head.size,
                        })
                    }
                },
                &mut failures,
            )?;
        }
        return finish(&args, state, &head, &failures);
    }
    if !requests.is_empty() {
        println!("note  run with --full (or --tiles) to also find each decision's audit record in the log");
    }
    match last {
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
        let records = read_export(file)?;
        let tenant = tenant_of(&head.origin);
        let (mut included, mut newer) = (0, 0);
        for r in &records {
            let index = match r.leaf_index() {
                Ok(i) if i >= head.size => {
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
        report_included(included, records.len() - newer, newer);
    }

    finish(&args, state, &head, &failures)
}

/// Each Lockbox decision signed with the key you hold, over a form naming its request.
fn check_signatures(
    verifier_key: &str,
    requests: &[candor_verify::lockbox::RequestView],
    failures: &mut Vec<String>,
) -> Result<(), CliError> {
    let key = candor_verify::lockbox::raw_key(verifier_key)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let (mut good, mut all) = (0, 0);
    for r in requests {
        for (step, d) in r.decisions() {
            all += 1;
            match candor_verify::lockbox::check_decision(r, step, d, &key) {
                Ok(()) => good += 1,
                Err(e) => {
                    println!("FAIL  {e}");
                    failures.push(e.to_string());
                }
            }
        }
    }
    println!(
        "{}  {good} of {all} Lockbox decisions are signed with your key over what they decided",
        if good == all { "ok  " } else { "FAIL" }
    );
    Ok(())
}

/// Each decision's audit record is in the log, where the decision says, with the same
/// signature.
fn check_decision_records(
    requests: &[candor_verify::lockbox::RequestView],
    rebuilt: &candor_verify::Rebuild,
    head: &candor_verify::TreeHead,
    failures: &mut Vec<String>,
) {
    let (mut good, mut all, mut newer) = (0, 0, 0);
    for r in requests {
        for (step, d) in r.decisions() {
            let Some(id) = d.audit_record_id.as_deref() else {
                continue;
            };
            all += 1;
            let found = uuid::Uuid::parse_str(id)
                .ok()
                .and_then(|id| rebuilt.watched(&id));
            let problem = match found {
                None if d.leaf_index.is_some_and(|i| i >= head.size) => {
                    newer += 1;
                    continue;
                }
                None => Some("is not in the log".to_owned()),
                Some((index, _)) if d.leaf_index.is_some_and(|i| i != *index) => {
                    Some(format!("is leaf {index}, not the one the request names"))
                }
                Some((_, record)) => {
                    let details: serde_json::Value =
                        serde_json::from_str(&record.details).unwrap_or_default();
                    (details["Signature"]["Value"].as_str() != d.signature.as_deref())
                        .then(|| "carries another signature than the decision".to_owned())
                }
            };
            match problem {
                None => good += 1,
                Some(p) => {
                    let e = format!(
                        "request {} ({step} decision): its audit record {id} {p}",
                        r.id
                    );
                    println!("FAIL  {e}");
                    failures.push(e);
                }
            }
        }
    }
    println!(
        "{}  {good} of {} Lockbox decisions are in the log as their audit records, with the same signature",
        if good + newer == all { "ok  " } else { "FAIL" },
        all - newer
    );
    if newer > 0 {
        println!("note  {newer} decision(s) are newer than the latest checkpoint; run again after the next one");
    }
}

fn read_export(file: &std::path::Path) -> Result<Vec<Exported>, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{}: not a JSON export of audit records: {e}",
            file.display()
        ))
    })
}

fn report_included(included: usize, covered: usize, newer: usize) {
    println!(
        "{}  {included} of {covered} exported records are in the signed tree, as exported",
        if included == covered { "ok  " } else { "FAIL" },
    );
    if newer > 0 {
        println!(
            "note  {newer} exported record(s) are newer than the latest checkpoint; run again after the next one to check them"
        );
    }
}

/// Checks each exported record against the leaves read from the tiles.
fn check_exported(
    file: &std::path::Path,
    head: &candor_verify::TreeHead,
    check: impl Fn(&Exported, u64, candor_verify::TreeHash) -> Result<(), candor_verify::Failure>,
    failures: &mut Vec<String>,
) -> Result<(), CliError> {
    let records = read_export(file)?;
    let tenant = tenant_of(&head.origin);
    let (mut included, mut newer) = (0, 0);
    for r in &records {
        let checked = r.leaf_index().and_then(|index| {
            if index >= head.size {
                return Ok(false);
            }
            check(r, index, r.leaf_hash(tenant.as_deref())?).map(|()| true)
        });
        match checked {
            Ok(true) => included += 1,
            Ok(false) => newer += 1,
            Err(e) => {
                println!("FAIL  {e}");
                failures.push(e.to_string());
            }
        }
    }
    report_included(included, records.len() - newer, newer);
    Ok(())
}

/// Reads every entry bundle of the signed tree and rebuilds it (see `Rebuild`).
async fn rebuild(
    source: &Source,
    head: &candor_verify::TreeHead,
    last: Option<&candor_verify::TreeHead>,
    watch: &[uuid::Uuid],
    failures: &mut Vec<String>,
) -> Result<candor_verify::Rebuild, CliError> {
    let mut rebuilt = candor_verify::Rebuild::new(&head.origin, last.map(|l| l.size));
    for id in watch {
        rebuilt.watch(*id);
    }
    let mut fail = |e: String| {
        println!("FAIL  {e}");
        failures.push(e);
    };
    let started = std::time::Instant::now();
    let mut last_progress = started;
    for tile in candor_verify::tiles::entry_bundles(head.size) {
        let bytes = source.log_file(&tile.path()).await?;
        // Records past retention are empty entries: their leaves come from the hash tile.
        let pruned =
            candor_verify::tiles::unbundle(&bytes).is_ok_and(|e| e.iter().any(|e| e.is_empty()));
        let hashes = if pruned {
            Some(source.log_file(&tile.hashes_of_leaves().path()).await?)
        } else {
            None
        };
        if let Err(e) = rebuilt.push(&tile, &bytes, hashes.as_deref()) {
            fail(e.to_string());
            return Ok(rebuilt);
        }
        if last_progress.elapsed() > std::time::Duration::from_secs(2) {
            last_progress = std::time::Instant::now();
            eprintln!("… {} of {} records read", rebuilt.size(), head.size);
        }
    }
    match rebuilt.finish(head) {
        Ok(()) => {
            println!(
                "ok    all {} records read from the tiles: each is a record of this log at its place, linked to the one before, and together they make the signed root ({:.1} s)",
                head.size,
                started.elapsed().as_secs_f64()
            );
            if rebuilt.pruned > 0 {
                println!(
                    "note  {} of them are past the log's retention: their contents were deleted, their leaf hashes (from the hash tiles) are in the signed root",
                    rebuilt.pruned
                );
            }
        }
        Err(e) => fail(e.to_string()),
    }
    match last {
        None => println!(
            "note  no earlier checkpoint of this log in the state file: this one is remembered"
        ),
        Some(last) if last.size > head.size => fail(
            candor_verify::Failure::Shrank {
                from: last.size,
                to: head.size,
            }
            .to_string(),
        ),
        Some(last) => match rebuilt.pinned_root() {
            Some(root) if root == last.root => println!(
                "ok    the first {} records still make the root you saw last: the log only grew",
                last.size
            ),
            _ => fail(
                candor_verify::Failure::Inconsistent {
                    from: last.size,
                    from_root: last.root_b64(),
                    to: head.size,
                }
                .to_string(),
            ),
        },
    }
    Ok(rebuilt)
}

fn finish(
    args: &VerifyArgs,
    mut state: State,
    head: &candor_verify::TreeHead,
    failures: &[String],
) -> CliResult {
    if failures.is_empty() {
        state.remember(head);
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
