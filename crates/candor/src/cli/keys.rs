//! `candor keys`: list and rotate Candor's signing keys.

use std::process::ExitCode;

use candor_domain::identity::Actor;
use candor_domain::time_util::rfc3339;
use clap::Subcommand;

use super::{core_for, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new audit signing key file (mode 0600) and print its id and public key.
    /// Give it to every instance with --signing-key-file; the first to start registers
    /// its public key. Refuses to replace an existing file.
    Init {
        /// Where to write it (default: --signing-key-file, or <data-dir>/signing.key).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
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
        KeysCommand::Init { out, db } => {
            let path = match (out, db.audit_key(&db.data_dir)) {
                (Some(path), _) => path,
                (None, candor_app::keys::AuditKeySource::File(path)) => path,
                (None, candor_app::keys::AuditKeySource::Text(_)) => {
                    return Err(CliError::Usage(
                        "CANDOR_SIGNING_KEY already holds a key; name the new file with --out"
                            .into(),
                    ))
                }
            };
            if path.exists() {
                return Err(CliError::Usage(format!(
                    "{} already exists; a key file is never replaced (rotate with `candor keys rotate --purpose audit`)",
                    path.display()
                )));
            }
            let key = candor_app::keys::new_audit_key(time::OffsetDateTime::now_utc())
                .map_err(|e| CliError::Failed(e.to_string()))?;
            candor_app::keys::write_key_file(&path, &key)
                .map_err(|e| CliError::Failed(e.to_string()))?;
            println!(
                "Wrote the audit signing key {} to {}.",
                key.key_id,
                path.display()
            );
            println!("Public key (base64url): {}", key.public_b64url());
            println!("Keep the file secret and backed up; give it to every instance with --signing-key-file.");
            Ok(ExitCode::SUCCESS)
        }
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
            let which = candor_app::keys::purpose(&purpose)?;
            let core = core_for(&db).await?;
            let done = if which == candor_domain::store::KeyPurpose::Audit {
                let candor_app::keys::AuditKeySource::File(path) = db.audit_key(&db.data_dir)
                else {
                    return Err(CliError::Usage(
                        "the audit key comes from CANDOR_SIGNING_KEY: make a new key file with `candor keys init --out FILE`, then rotate with --signing-key-file pointing at the file in use".into(),
                    ));
                };
                let done = candor_app::keys::rotate_audit_key(&core, &system, None, &path).await?;
                println!(
                    "The new key is in {}; the old file is kept beside it as {}.",
                    path.display(),
                    path.with_extension(format!(
                        "retired-{}",
                        done.retired.as_deref().unwrap_or("unknown")
                    ))
                    .display()
                );
                done
            } else {
                candor_app::keys::rotate(&core, &system, None, which).await?
            };
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
