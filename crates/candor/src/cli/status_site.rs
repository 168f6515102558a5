//! `candor status-site publish`: rebuild the backup status site by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use candor_domain::identity::Actor;
use clap::Subcommand;

use super::{core_for, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum StatusSiteCommand {
    /// Build the site from the database now and publish it atomically.
    Publish {
        /// Where to publish [default: <data-dir>/status-site]; serve its `current/`.
        #[arg(long, env = "CANDOR_STATUS_SITE_DIR")]
        dir: Option<PathBuf>,
        /// Also publish to an S3-compatible bucket, s3://bucket/prefix (credentials and
        /// endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT,
        /// AWS_ALLOW_HTTP).
        #[arg(long, env = "CANDOR_STATUS_SITE_BUCKET")]
        bucket: Option<String>,
        /// The URL the feeds' links point to.
        #[arg(
            long,
            env = "CANDOR_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: StatusSiteCommand) -> CliResult {
    let _system = Actor::System;
    match cmd {
        StatusSiteCommand::Publish {
            dir,
            bucket,
            public_url,
            db,
        } => {
            let bucket = bucket
                .map(|b| candor_delivery::site::Bucket::open(&b, &[]))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--bucket: {e}")))?;
            let dir = dir.unwrap_or_else(|| crate::server::status_site_dir(&db.data_dir));
            let core = core_for(&db).await?;
            let status = candor_app::public::public_status(&core).await?;
            let files = candor_app::status_page::site_files(&status, &public_url)?;
            let stamp = format!("{:020}", status.generated.unix_timestamp_nanos().max(0));
            let release = candor_delivery::site::publish_dir(&dir, &stamp, &files)
                .map_err(|e| CliError::Failed(format!("publishing to {}: {e}", dir.display())))?;
            println!(
                "Published {} files ({} broad issues) to {}",
                files.len(),
                status.issues.len(),
                release.display()
            );
            println!(
                "Serve {} with any web server.",
                dir.join("current").display()
            );
            if let Some(bucket) = bucket {
                let n = bucket
                    .publish(&files)
                    .await
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                println!("Published {n} files to {}", bucket.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
