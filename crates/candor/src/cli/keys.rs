//! `candor keys`: list and rotate Candor's signing keys.

use std::process::ExitCode;

use candor_domain::identity::Actor;
use candor_domain::time_util::rfc3339;
use clap::Subcommand;

use super::{core_for, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys of one purpose, oldest first, with when each was retired.
    List {
        /// token (access and Lockbox grant tokens) or audit (checkpoints, Lockbox decisions).
        #[arg(long, default_value = "token")]
        purpose: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Put a new key in place and retire the one in use. Running instances sign with a new
    /// token key within a minute; a new audit key from their next start (restart them one
    /// at a time). A retired token key still verifies for 24 hours; audit keys for good.
    Rotate {
        /// token or audit.
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: KeysCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        KeysCommand::List { purpose, db } => {
            let core = core_for(&db).await?;
            let keys = candor_app::keys::list(&core, &system, candor_app::keys::purpose(&purpose)?)
                .await?;
            println!("{:<28} {:<26} retired", "key id", "created");
            for k in keys {
                println!(
                    "{:<28} {:<26} {}",
                    k.key_id,
                    rfc3339(k.created_at),
                    k.retired_at
                        .map(rfc3339)
                        .unwrap_or_else(|| "(in use)".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate { purpose, db } => {
            let core = core_for(&db).await?;
            let done = candor_app::keys::rotate(
                &core,
                &system,
                None,
                candor_app::keys::purpose(&purpose)?,
            )
            .await?;
            println!(
                "{} key {} is in use; {} is retired.",
                purpose.trim(),
                done.key_id,
                done.retired.as_deref().unwrap_or("nothing")
            );
            if purpose.trim().eq_ignore_ascii_case("token") {
                println!("Running instances sign with it within a minute; no restart needed.");
            } else {
                println!("Restart every Candor instance, one at a time, to sign with it.");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
