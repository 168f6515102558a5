//! `candor api-client`: a tenant's app credentials, created and revoked.

use std::process::ExitCode;

use candor_app::identity;
use candor_domain::identity::Actor;
use candor_domain::time_util::rfc3339;
use candor_domain::ApiClientId;
use clap::Subcommand;

use super::{core_for, parse_tenant, split_csv, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum ApiClientCommand {
    /// Register an API client; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: ServiceHealth.Read.All, ServiceMessage.Read.All,
        /// AuditLog.Read.All, Lockbox.ReadWrite.All.
        #[arg(long)]
        permissions: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API client: no new tokens, and issued ones stop working within a minute.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: ApiClientCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        ApiClientCommand::Create {
            tenant,
            name,
            permissions,
            db,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let core = core_for(&db).await?;
            let issued = identity::create_api_client(
                &core,
                &system,
                None,
                tenant,
                &name,
                &split_csv(&permissions),
            )
            .await?;
            println!("client_id:     {}", issued.client.id);
            println!("client_secret: {}", issued.secret);
            println!(
                "permissions:   {}",
                issued.client.permissions.names().join(", ")
            );
            println!("The secret is shown only now; Candor keeps only its hash.");
            Ok(ExitCode::SUCCESS)
        }
        ApiClientCommand::Revoke {
            tenant,
            client_id,
            db,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let client_id: ApiClientId =
                client_id
                    .parse()
                    .map_err(|e: candor_domain::IdParseError| {
                        CliError::Usage(format!("--client-id: {e}"))
                    })?;
            let core = core_for(&db).await?;
            let client =
                identity::revoke_api_client(&core, &system, None, tenant, client_id).await?;
            println!(
                "Revoked {} ({}) at {}",
                client.display_name,
                client.id,
                client.revoked_at.map(rfc3339).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
