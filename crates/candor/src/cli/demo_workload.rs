//! `candor demo-workload`: the stand-in data-plane service of the Lockbox story.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{self};

use super::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct DemoWorkloadArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Candor's URL.
    #[arg(long, env = "CANDOR_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The service's operator client id (DataPlaneService role). Without it, the demo
    /// world's data-plane client from <data-dir>/demo-credentials.json is used.
    #[arg(long, env = "CANDOR_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Its secret; prefer the environment variable.
    #[arg(long, env = "CANDOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Where `candor serve --demo` wrote its credentials.
    #[arg(long, env = "CANDOR_DATA_DIR", default_value = "./candor-data")]
    pub data_dir: PathBuf,
}

pub(super) async fn demo_workload(args: DemoWorkloadArgs) -> CliResult {
    let listen = config::parse_listen(&args.listen)?;
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(CliError::Usage(format!(
            "--url `{}` must start with http:// or https://",
            args.url
        )));
    }
    let (client_id, client_secret) = match (args.client_id, args.client_secret) {
        (Some(id), Some(secret)) => (id, secret),
        (Some(_), None) => {
            return Err(CliError::Usage(
                "give the client's secret in CANDOR_CLIENT_SECRET (or --client-secret)".into(),
            ))
        }
        (None, _) => {
            let path = crate::demo::credentials_path(&args.data_dir);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::Usage(format!(
                    "no --client-id given and the demo credentials at {} cannot be read ({e}); run `candor serve --demo` first or pass the credentials",
                    path.display()
                ))
            })?;
            let creds: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("{} is not valid JSON: {e}", path.display()))
            })?;
            let client = &creds["dataPlaneClient"];
            match (client["clientId"].as_str(), client["clientSecret"].as_str()) {
                (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
                _ => {
                    return Err(CliError::Usage(format!(
                        "{} has no dataPlaneClient; pass --client-id and CANDOR_CLIENT_SECRET",
                        path.display()
                    )))
                }
            }
        }
    };
    crate::demo_workload::run(
        listen,
        crate::demo_workload::WorkloadSettings {
            candor_url: args.url,
            client_id,
            client_secret,
        },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
