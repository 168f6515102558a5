//! `candor operator`: create and list operators (people on the provider side).

use std::process::ExitCode;

use candor_app::identity;
use candor_domain::identity::Actor;
use clap::Subcommand;

use super::{core_for, read_password, split_csv, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add a provider operator.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: IncidentManager, SupportEngineer, SupportManager,
        /// DataPlaneService; ProviderAdmin only with --break-glass.
        #[arg(long)]
        roles: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Allow privileged roles (ProviderAdmin) as standing roles: the very first
        /// Provider Admin, or recovery. Loudly audited; everyone else gets privileged
        /// roles through an approved elevation.
        #[arg(long)]
        break_glass: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List operators.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: OperatorCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        OperatorCommand::Create {
            email,
            name,
            roles,
            password_stdin,
            break_glass,
            db,
        } => {
            if break_glass {
                eprintln!(
                    "WARNING: creating a BREAK-GLASS operator with standing privileged roles. \
This bypasses elevation and is recorded as Add-BreakGlassOperator in the operator audit log. \
Use it only for the very first Provider Admin or to recover access."
                );
            }
            let (password, generated) = read_password(password_stdin)?;
            let core = core_for(&db).await?;
            let op = identity::create_operator(
                &core,
                &system,
                None,
                identity::OperatorInput {
                    email,
                    display_name: name,
                    password: password.clone(),
                    roles: candor_app::words::roles(&split_csv(&roles))?,
                    break_glass,
                },
            )
            .await?;
            println!(
                "Created operator {} ({}) with roles [{}]",
                op.email,
                op.id,
                op.roles.names().join(", ")
            );
            if generated {
                println!("Password (shown once): {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::List { json, db } => {
            let core = core_for(&db).await?;
            for o in core.store.list_operators().await? {
                if json {
                    println!("{}", serde_json::to_string(&o).unwrap_or_default());
                } else {
                    println!("{}  {:<40}  {}", o.id, o.email, o.roles.names().join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
