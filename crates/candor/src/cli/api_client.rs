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
    /// Register an API client; its secret is printed once and never stored. With
    /// --file, one per row of a CSV file (header `tenant,name,permissions`, the
    /// permissions separated by spaces or semicolons): every row is checked first and
    /// nothing is created if one is wrong; the clients are printed as CSV
    /// (`tenant,name,client_id,client_secret,permissions`).
    Create {
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        tenant: Option<String>,
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        name: Option<String>,
        /// Comma-separated: ServiceHealth.Read.All, ServiceMessage.Read.All,
        /// AuditLog.Read.All, AuditLog.Witnesses.ReadWrite, Lockbox.ReadWrite.All,
        /// ServiceHealth.Notifications.ReadWrite.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        permissions: Option<String>,
        /// A CSV file of clients to create, for onboarding many tenants at once.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
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
            file: Some(file),
            db,
            ..
        } => create_from_file(&file, &db).await,
        ApiClientCommand::Create {
            tenant,
            name,
            permissions,
            db,
            ..
        } => {
            let (Some(tenant), Some(name), Some(permissions)) = (tenant, name, permissions) else {
                return Err(CliError::Usage(
                    "give --tenant, --name and --permissions, or --file".into(),
                ));
            };
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

/// One row of a bulk file, as read.
struct Row {
    line: u64,
    tenant: candor_domain::TenantId,
    name: String,
    permissions: Vec<String>,
}

/// Reads every row, checks each as creating it would, and creates them only if all are
/// good. Problems are listed with their line numbers.
async fn create_from_file(path: &std::path::Path, db: &DbArgs) -> CliResult {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{}: the header must name the columns tenant, name and permissions",
                    path.display()
                ))
            })
    };
    let (t, n, p) = (column("tenant")?, column("name")?, column("permissions")?);
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "line {}: {e}",
                    e.position().map_or(0, |p| p.line())
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or_default().to_owned();
        match field(t).parse::<candor_domain::TenantId>() {
            Ok(tenant) => rows.push(Row {
                line,
                tenant,
                name: field(n),
                permissions: field(p)
                    .split([' ', ';'])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            Err(e) => problems.push(format!("line {line}: tenant: {e}")),
        }
    }
    if rows.is_empty() && problems.is_empty() {
        return Err(CliError::Usage(format!(
            "{} has no clients to create",
            path.display()
        )));
    }
    let core = core_for(db).await?;
    let system = Actor::System;
    for row in &rows {
        if let Err(e) =
            identity::check_api_client(&core, &system, row.tenant, &row.name, &row.permissions)
                .await
        {
            problems.push(format!("line {}: {e}", row.line));
        }
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Err(CliError::Usage(format!(
            "{} has {} problem(s); no client was created",
            path.display(),
            problems.len()
        )));
    }
    let mut out = csv::Writer::from_writer(std::io::stdout());
    let write = |e: csv::Error| CliError::Usage(format!("cannot write the clients: {e}"));
    out.write_record([
        "tenant",
        "name",
        "client_id",
        "client_secret",
        "permissions",
    ])
    .map_err(write)?;
    for (i, row) in rows.iter().enumerate() {
        let issued = identity::create_api_client(
            &core,
            &system,
            None,
            row.tenant,
            &row.name,
            &row.permissions,
        )
        .await?;
        out.write_record([
            row.tenant.to_string(),
            issued.client.display_name.to_string(),
            issued.client.id.to_string(),
            issued.secret,
            issued.client.permissions.names().join(" "),
        ])
        .map_err(write)?;
        if (i + 1) % 100 == 0 {
            eprintln!("{} of {} clients created", i + 1, rows.len());
        }
    }
    out.flush()
        .map_err(|e| CliError::Usage(format!("cannot write the clients: {e}")))?;
    eprintln!(
        "{} clients created; their secrets are shown only in this output",
        rows.len()
    );
    Ok(ExitCode::SUCCESS)
}
