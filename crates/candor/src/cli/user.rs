//! `candor user`: create and list a tenant's users.

use std::process::ExitCode;

use candor_app::identity;
use candor_domain::identity::Actor;
use clap::Subcommand;

use super::{core_for, parse_tenant, read_password, split_csv, CliError, CliResult, DbArgs};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to a tenant. Without --password-stdin a strong password is generated
    /// and printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: GlobalAdministrator, CustomerLockboxAccessApprover,
        /// ServiceSupportAdministrator, MessageCenterReader, AuditReader.
        #[arg(long, default_value = "")]
        roles: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List a tenant's users.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(super) async fn run(cmd: UserCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        UserCommand::Create {
            tenant,
            email,
            name,
            roles,
            password_stdin,
            db,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let (password, generated) = read_password(password_stdin)?;
            let core = core_for(&db).await?;
            let user = identity::create_user(
                &core,
                &system,
                None,
                tenant,
                identity::UserInput {
                    email,
                    display_name: name,
                    password: password.clone(),
                    roles: candor_app::words::roles(&split_csv(&roles))?,
                    language: None,
                },
            )
            .await?;
            println!(
                "Created user {} ({}) with roles [{}]",
                user.email,
                user.id,
                user.roles.names().join(", ")
            );
            if generated {
                println!("Password (shown once): {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { tenant, json, db } => {
            let tenant = parse_tenant(&tenant)?;
            let core = core_for(&db).await?;
            if core.store.get_tenant(tenant).await?.is_none() {
                return Err(CliError::Usage(format!("no tenant with id {tenant}")));
            }
            for u in core.store.list_users(tenant).await? {
                if json {
                    println!("{}", serde_json::to_string(&u).unwrap_or_default());
                } else {
                    println!("{}  {:<40}  {}", u.id, u.email, u.roles.names().join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
