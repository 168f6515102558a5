//! `candor migrate`: bring the database up to date and list what is applied.

use std::process::ExitCode;

use crate::config;

use super::{CliResult, DbArgs};

pub(super) async fn run(db: DbArgs) -> CliResult {
    let choice = db.choice()?;
    let store = config::open_store(&choice).await?;
    for (version, name) in store.applied_migrations().await? {
        println!("{version:>4}  {name}");
    }
    println!("{} is up to date.", choice.describe());
    Ok(ExitCode::SUCCESS)
}
