//! `candor operator-client`: machine credentials for the operator API.

use std::process::ExitCode;

use candor_app::identity;
use candor_domain::identity::Actor;
use candor_domain::ApiClientId;
use clap::Subcommand;

use super::{core_for, split_csv, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum OperatorClientCommand {
    /// Register an operator client; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated operator roles, e.g. IncidentManager or DataPlaneService.
        #[arg(long)]
        roles: String,
        /// Allow a privileged role (ProviderAdmin) held standing, for automation such as a
        /// topology sync. Loudly audited.
        #[arg(long)]
        break_glass: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an operator client.
    Revoke {
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: OperatorClientCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        OperatorClientCommand::Create {
            name,
            roles,
            break_glass,
            db,
        } => {
            let core = core_for(&db).await?;
            let roles = split_csv(&roles);
            let (client, secret) = if break_glass {
                eprintln!(
                    "WARNING: creating a BREAK-GLASS operator client with standing privileged roles; recorded in the operator audit log."
                );
                identity::create_break_glass_operator_client(&core, &system, None, &name, &roles)
                    .await?
            } else {
                identity::create_operator_client(&core, &system, None, &name, &roles).await?
            };
            println!("client_id:     {}", client.id);
            println!("client_secret: {secret}");
            println!("roles:         {}", client.roles.names().join(", "));
            println!("The secret is shown only now; Candor keeps only its hash.");
            Ok(ExitCode::SUCCESS)
        }
        OperatorClientCommand::Revoke { client_id, db } => {
            let id: ApiClientId = client_id
                .parse()
                .map_err(|e: candor_domain::IdParseError| {
                    CliError::Usage(format!("--client-id: {e}"))
                })?;
            let core = core_for(&db).await?;
            let client = identity::revoke_operator_client(&core, &system, None, id).await?;
            println!("Revoked {} ({})", client.display_name, client.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}
