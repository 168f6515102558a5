//! `candor topology import`: apply a topology file, all or nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use candor_domain::identity::Actor;
use clap::Subcommand;

use super::{core_for, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Import services, regions, scale units, components and placements from a JSON or
    /// CSV file. Everything is checked first; any problem is reported with its line and
    /// nothing is written. Existing items with the same id are updated.
    Import {
        /// The file (.json, or CSV with the header kind,id,name,parent,services).
        file: PathBuf,
        /// Check the file and report what it would change, without writing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn import_topology(
    file: &std::path::Path,
    dry_run: bool,
    db: &DbArgs,
) -> CliResult {
    use candor_app::topology::{import_file, ImportFailure};
    let started = std::time::Instant::now();
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    eprintln!("Reading {} ({} bytes)…", file.display(), text.len());
    let core = core_for(db).await?;
    let name = file.display().to_string();
    let result = import_file(&core, &Actor::System, None, &name, &text, dry_run, |p| {
        eprintln!("  {p}")
    })
    .await;
    match result {
        Ok(counts) if dry_run => {
            println!("The file is valid: {counts}. Nothing was written (--dry-run).");
            Ok(ExitCode::SUCCESS)
        }
        Ok(counts) => {
            println!(
                "Imported {counts} in {:.1} s.",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportFailure::Problems(problems)) => {
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            let more = if problems.len() >= candor_app::topology_file::MAX_REPORTED {
                " (showing the first ones)"
            } else {
                ""
            };
            Err(CliError::Usage(format!(
                "{} problem(s){more}; nothing was imported",
                problems.len()
            )))
        }
        Err(ImportFailure::Refused(e)) => Err(e.into()),
    }
}
