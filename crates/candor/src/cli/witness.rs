//! `candor witness`: an independent party (a tenant, an auditor, a second Candor
//! installation) watches a Candor audit log and co-signs its checkpoints in the C2SP
//! `tlog-cosignature` form. Each round it reads the latest checkpoint, checks it with
//! the log's key, proves it consistent with the last one it co-signed (from the log's
//! hash tiles alone), remembers it, co-signs it and hands the cosignature to Candor. A
//! log that shrank or forked is never co-signed: the witness says so and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use candor_verify::state::State;
use candor_verify::witness::WitnessSigner;
use candor_verify::{check_consistency_from_tiles, consistency_tiles, verify_checkpoint};
use clap::{Args, Subcommand};

use super::verify::Source;
use super::{CliError, CliResult};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WitnessArgs {
    #[command(subcommand)]
    pub command: Option<WitnessCommand>,
    /// Candor's base URL, e.g. https://status.example.com: the log is read through the
    /// API with a token (an app with AuditLog.Read.All), and cosignatures go back there.
    #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
    pub log: Option<String>,
    /// Where the log is published in the C2SP tlog-tiles layout (a directory or URL
    /// holding `checkpoint` and `tile/`): read with no token. Give --submit too.
    #[arg(long)]
    pub tiles: Option<String>,
    /// Candor's base URL to hand cosignatures to (default: --log).
    #[arg(long)]
    pub submit: Option<String>,
    /// The log's C2SP verifier key (`<origin>+<id>+<key>`), as its owner published it.
    #[arg(long, env = "CANDOR_WITNESS_LOG_KEY", required = true)]
    pub log_key: Option<String>,
    /// This witness's secret key file (made with `candor witness init`).
    #[arg(long, env = "CANDOR_WITNESS_KEY_FILE", required = true)]
    pub key: Option<PathBuf>,
    /// A bearer token with AuditLog.Read.All (or give --client-id and --client-secret).
    #[arg(long, env = "CANDOR_WITNESS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, env = "CANDOR_CLIENT_ID")]
    pub client_id: Option<String>,
    #[arg(long, env = "CANDOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// What this witness has seen of each log (created on the first round). Keep it:
    /// without it the witness trusts the next checkpoint it sees as the first.
    #[arg(long, default_value = "candor-witness-state.json")]
    pub state: PathBuf,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: u64,
    /// One round, then exit (0: co-signed or nothing new; 1: the log failed a check).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Make a witness key: writes the secret key file (mode 0600) and prints the
    /// verifier key to give the log's owner (POST /api/v1/audit/witnesses) and tenants
    /// (`candor verify --require-witness`).
    Init {
        /// The witness's name, a schema-less URL, e.g. witness.example.com/candor.
        #[arg(long)]
        name: String,
        /// Where to write the secret key (refuses to replace a file).
        #[arg(long)]
        key: PathBuf,
    },
}

pub(super) async fn run(args: WitnessArgs) -> CliResult {
    if let Some(WitnessCommand::Init { name, key }) = args.command {
        return init(&name, &key);
    }
    let (Some(log_key), Some(key_file)) = (args.log_key.as_deref(), args.key.as_deref()) else {
        return Err(CliError::Usage(
            "give --log-key (the log's verifier key) and --key (this witness's key file)".into(),
        ));
    };
    let text = std::fs::read_to_string(key_file)
        .map_err(|e| CliError::Usage(format!("{}: {e}", key_file.display())))?;
    let signer = WitnessSigner::parse(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}", key_file.display())))?;
    candor_verify::key_name(log_key).map_err(|e| CliError::Usage(format!("--log-key: {e}")))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let submit = args
        .submit
        .as_deref()
        .or(args.log.as_deref())
        .ok_or_else(|| CliError::Usage("with --tiles, give --submit (Candor's URL)".into()))?
        .trim_end_matches('/')
        .to_owned();
    let credentials = (
        args.token.as_deref(),
        args.client_id.as_deref(),
        args.client_secret.as_deref(),
    );
    let source = Source::of(
        args.log.as_deref(),
        args.tiles.as_deref(),
        credentials,
        http.clone(),
    )
    .await?;
    println!(
        "witness {} (key {:08x}) watching {}",
        signer.public().name,
        signer.public().id,
        candor_verify::key_name(log_key).unwrap_or_default()
    );
    loop {
        match round(&args, &source, &http, &submit, log_key, &signer).await {
            Ok(Round::Cosigned | Round::Unchanged) => {}
            Ok(Round::Refused) => return Ok(ExitCode::from(1)),
            // The log or the network may be down for a while: say so, try again.
            Err(CliError::Failed(e)) if !args.once => println!("error {e} (trying again)"),
            Err(e) => return Err(e),
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
}

fn init(name: &str, key: &std::path::Path) -> CliResult {
    if key.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; a witness key is never replaced",
            key.display()
        )));
    }
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let signer = WitnessSigner::new(name, seed).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(key)
        .map_err(|e| CliError::Failed(format!("{}: {e}", key.display())))?;
    std::io::Write::write_all(&mut file, format!("{}\n", signer.to_skey()).as_bytes())
        .map_err(|e| CliError::Failed(format!("{}: {e}", key.display())))?;
    println!("Wrote the witness key for {name} to {}.", key.display());
    println!("Verifier key (give it to the log's owner and to whoever trusts this witness):");
    println!("{}", signer.public().to_vkey());
    Ok(ExitCode::SUCCESS)
}

enum Round {
    Cosigned,
    Unchanged,
    /// The log failed a check: nothing was co-signed.
    Refused,
}

async fn round(
    args: &WitnessArgs,
    source: &Source,
    http: &reqwest::Client,
    submit: &str,
    log_key: &str,
    signer: &WitnessSigner,
) -> Result<Round, CliError> {
    let note = String::from_utf8(source.log_file("checkpoint").await?)
        .map_err(|_| CliError::Failed("the checkpoint is not text".into()))?;
    let head = match verify_checkpoint(&note, log_key) {
        Ok(h) => h,
        Err(e) => {
            println!("FAIL  checkpoint: {e}");
            return Ok(Round::Refused);
        }
    };
    let mut state = match std::fs::read_to_string(&args.state) {
        Ok(text) => State::parse(&text)
            .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(CliError::Failed(format!("{}: {e}", args.state.display()))),
    };
    let last = state
        .last(&head.origin)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.state.display())))?;
    match &last {
        None => println!(
            "note  first sight of {}: {} records, trusted as the start",
            head.origin, head.size
        ),
        Some(last) => {
            let mut tiles = std::collections::HashMap::new();
            for tile in consistency_tiles(last.size, head.size) {
                let path = tile.path();
                tiles.insert(path.clone(), source.log_file(&path).await?);
            }
            if let Err(e) = check_consistency_from_tiles(last, &head, &tiles) {
                println!("FAIL  {e}");
                println!("      nothing co-signed; the log's tenants should be told");
                return Ok(Round::Refused);
            }
        }
    }
    let unchanged = last.as_ref().is_some_and(|l| l.size == head.size);
    state.remember(&head);
    std::fs::write(&args.state, state.to_text())
        .map_err(|e| CliError::Failed(format!("{}: {e}", args.state.display())))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .as_secs();
    let cosigned = signer
        .cosign(&note, now)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let url = format!("{submit}/api/v1/audit/log/cosignatures");
    let res = http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(cosigned)
        .send()
        .await
        .map_err(|e| CliError::Failed(format!("POST {url}: {e}")))?;
    if !res.status().is_success() {
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        return Err(CliError::Failed(format!(
            "POST {url}: {status} {}",
            body.chars().take(300).collect::<String>()
        )));
    }
    println!(
        "ok    {}: {} records, consistent with what this witness saw before; co-signed",
        head.origin, head.size
    );
    Ok(if unchanged {
        Round::Unchanged
    } else {
        Round::Cosigned
    })
}
