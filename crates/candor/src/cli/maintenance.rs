//! `candor maintenance list`: planned maintenance as the operator console knows it, read
//! from the database directly (for the operator on the server, and for scripts).

use std::process::ExitCode;

use candor_domain::health::maintenance::{MaintenanceState, ScheduledMaintenance};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use clap::{Subcommand, ValueEnum};

use super::{CliError, DbArgs};

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// List planned maintenance, latest window first: id, state, window, expected
    /// impact, services, title. Schedule and change it with the operator API
    /// (`POST /api/v1/operator/maintenances`).
    List {
        /// Only maintenance in this state.
        #[arg(long, value_enum, ignore_case = true)]
        state: Option<StateArg>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Scheduled,
    InProgress,
    Completed,
    Cancelled,
}

impl StateArg {
    fn state(self) -> MaintenanceState {
        match self {
            StateArg::Scheduled => MaintenanceState::Scheduled,
            StateArg::InProgress => MaintenanceState::InProgress,
            StateArg::Completed => MaintenanceState::Completed,
            StateArg::Cancelled => MaintenanceState::Cancelled,
        }
    }
}

fn line(m: &ScheduledMaintenance) -> String {
    let (title, _) = m.text_in(Language::English);
    let services: Vec<&str> = m.maintenance.services.iter().map(|s| s.as_str()).collect();
    format!(
        "{:<9} {:<11} {} – {}  {:<11} {:<24} {}",
        m.id,
        m.maintenance.state.as_str(),
        rfc3339(m.maintenance.window.start),
        rfc3339(m.maintenance.window.end),
        m.maintenance.impact.as_str(),
        services.join(","),
        title
    )
}

fn json_line(m: &ScheduledMaintenance) -> serde_json::Value {
    let (title, _) = m.text_in(Language::English);
    serde_json::json!({
        "id": m.id.as_str(),
        "messageId": m.message.as_str(),
        "state": m.maintenance.state.as_str(),
        "startDateTime": rfc3339(m.maintenance.window.start),
        "endDateTime": rfc3339(m.maintenance.window.end),
        "expectedImpact": m.maintenance.impact.as_str(),
        "services": m.maintenance.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "isBroad": m.broad,
        "title": title,
    })
}

pub async fn run(cmd: MaintenanceCommand) -> Result<ExitCode, CliError> {
    match cmd {
        MaintenanceCommand::List {
            state,
            limit,
            json,
            db,
        } => {
            if limit == 0 || limit > candor_app::maintenance::MAX_LISTED {
                return Err(CliError::Usage(format!(
                    "--limit must be between 1 and {}",
                    candor_app::maintenance::MAX_LISTED
                )));
            }
            // Reading needs no signing key: the store alone, so this works from any host
            // that reaches the database.
            let store = crate::config::open_store(&db.choice()?)
                .await
                .map_err(|e| CliError::Failed(format!("{e:#}")))?;
            let all = store
                .list_maintenances(limit)
                .await
                .map_err(candor_app::error::AppError::from)?;
            let shown: Vec<&ScheduledMaintenance> = all
                .iter()
                .filter(|m| state.is_none_or(|s| m.maintenance.state == s.state()))
                .collect();
            if json {
                for m in &shown {
                    println!("{}", json_line(m));
                }
            } else if shown.is_empty() {
                eprintln!("no planned maintenance");
            } else {
                for m in &shown {
                    println!("{}", line(m));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
