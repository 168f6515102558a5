//! `candor tenant`: create and list tenants.

use std::io::Write;
use std::process::ExitCode;

use candor_app::identity;
use candor_domain::identity::Actor;
use clap::Subcommand;

use super::{core_for, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a customer tenant.
    Create {
        #[arg(long)]
        name: String,
        /// Home region code, e.g. eu-west.
        #[arg(long)]
        region: String,
        /// Default language: en, nl, fr, zh-TW or ko.
        #[arg(long, default_value = "en")]
        language: String,
        /// IANA time zone, e.g. Europe/Amsterdam.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tenants, by name.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: TenantCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        TenantCommand::Create {
            name,
            region,
            language,
            time_zone,
            db,
        } => {
            let core = core_for(&db).await?;
            let tenant = identity::create_tenant(
                &core,
                &system,
                None,
                identity::TenantInput {
                    name,
                    home_region: region,
                    default_language: candor_app::words::required_language("language", &language)?,
                    time_zone,
                    is_demo: false,
                },
            )
            .await?;
            println!("Created tenant {} ({})", tenant.name, tenant.id);
            Ok(ExitCode::SUCCESS)
        }
        TenantCommand::List { json, db } => {
            let core = core_for(&db).await?;
            let mut after = None;
            let mut out = std::io::stdout().lock();
            if !json {
                writeln!(
                    out,
                    "{:<36}  {:<28}  {:<10}  {:<5}  TIME ZONE",
                    "ID", "NAME", "REGION", "LANG"
                )?;
            }
            loop {
                let page = core.store.list_tenants(after.clone(), 500).await?;
                for t in &page {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(t).unwrap_or_default())?;
                    } else {
                        writeln!(
                            out,
                            "{:<36}  {:<28}  {:<10}  {:<5}  {}",
                            t.id, t.name, t.home_region, t.default_language, t.time_zone
                        )?;
                    }
                }
                match page.last() {
                    Some(t) if page.len() == 500 => after = Some((t.name.clone(), t.id)),
                    _ => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
