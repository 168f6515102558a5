//! `candor audit`: search, export, verify and checkpoint the audit chains.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use candor_app::audit::{self as audit_service, ExportFormat};
use candor_domain::audit::{AuditChain, AuditQueryInput};
use candor_domain::identity::Actor;
use candor_domain::time_util::{parse_time, rfc3339};
use candor_domain::TenantId;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;

use super::{core_for, parse_tenant, CliError, CliResult, DbArgs};

#[derive(Debug, Clone, Args)]
pub struct AuditFilter {
    /// Start (inclusive): 2026-11-01 or an RFC 3339 time. Required.
    #[arg(long)]
    pub from: Option<String>,
    /// End (exclusive). Required.
    #[arg(long)]
    pub to: Option<String>,
    /// The tenant whose log to read (id); without it, the operator realm's log.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Comma-separated activities.
    #[arg(long)]
    pub activities: Option<String>,
    /// Comma-separated users.
    #[arg(long)]
    pub users: Option<String>,
    #[arg(long)]
    pub item: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search records, newest first.
    Search {
        #[command(flatten)]
        filter: AuditFilter,
        /// Records per page (1-500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Export every matching record as CSV or JSON.
    Export {
        #[command(flatten)]
        filter: AuditFilter,
        #[arg(long, value_enum, default_value_t = ExportArg::Csv)]
        format: ExportArg,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Prove every chain (or one tenant's) unaltered: exits non-zero naming the first
    /// bad record.
    Verify {
        /// Only this tenant's chain (id).
        #[arg(long)]
        tenant: Option<String>,
        /// Only the operator realm's chain.
        #[arg(long, conflicts_with = "tenant")]
        operator: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Sign a checkpoint for every chain that grew since its last one.
    Checkpoint {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportArg {
    Csv,
    Json,
}

fn filter_input(f: &AuditFilter) -> Result<(Option<TenantId>, AuditQueryInput), CliError> {
    let time = |flag: &str, v: &Option<String>| -> Result<_, CliError> {
        match v {
            None => Ok(None),
            Some(s) => parse_time(s).map(Some).ok_or_else(|| {
                CliError::Usage(format!(
                    "--{flag} `{s}` is not a date (2026-11-01) or an RFC 3339 time"
                ))
            }),
        }
    };
    let tenant = f.tenant.as_deref().map(parse_tenant).transpose()?;
    Ok((
        tenant,
        AuditQueryInput {
            from: time("from", &f.from)?,
            to: time("to", &f.to)?,
            activities: f.activities.iter().cloned().collect(),
            users: f.users.iter().cloned().collect(),
            item: f.item.clone(),
            cursor: None,
            limit: None,
        },
    ))
}

fn chain_of(tenant: Option<TenantId>) -> AuditChain {
    tenant.map_or(AuditChain::Operator, AuditChain::Tenant)
}

pub(super) async fn audit(cmd: AuditCommand) -> CliResult {
    let system = Actor::System;
    match cmd {
        AuditCommand::Search {
            filter,
            limit,
            cursor,
            json,
            db,
        } => {
            let (tenant, mut input) = filter_input(&filter)?;
            input.limit = Some(limit);
            input.cursor = cursor;
            let core = core_for(&db).await?;
            let page = audit_service::search(&core, &system, chain_of(tenant), input).await?;
            let mut out = std::io::stdout().lock();
            for r in &page.items {
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&candor_app::audit::AuditRecordView::from(r))
                            .unwrap_or_default()
                    )?;
                } else {
                    writeln!(
                        out,
                        "{}  {:<15}  {:<32}  {:<22}  {}",
                        rfc3339(r.occurred_at),
                        r.ip_address.as_deref().unwrap_or("-"),
                        r.actor,
                        r.activity,
                        r.item.as_deref().unwrap_or("")
                    )?;
                }
            }
            if let Some(c) = page.next_cursor {
                eprintln!("More records: add --cursor {c}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            filter,
            format,
            output,
            db,
        } => {
            let (tenant, input) = filter_input(&filter)?;
            let format = match format {
                ExportArg::Csv => ExportFormat::Csv,
                ExportArg::Json => ExportFormat::Json,
            };
            let core = core_for(&db).await?;
            let mut stream =
                audit_service::export(&core, &system, None, chain_of(tenant), input, format)
                    .await?;
            let mut sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            while let Some(chunk) = stream.next().await {
                sink.write_all(&chunk?)?;
            }
            sink.flush()?;
            if let Some(path) = output {
                eprintln!("Exported to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            tenant,
            operator,
            db,
        } => {
            let only = match (tenant.as_deref().map(parse_tenant).transpose()?, operator) {
                (Some(t), _) => Some(AuditChain::Tenant(t)),
                (None, true) => Some(AuditChain::Operator),
                (None, false) => None,
            };
            let core = core_for(&db).await?;
            let reports = audit_service::verify(&core, only, |chain, n| {
                if n % 100_000 == 0 {
                    eprintln!("  {chain}: {n} records checked…");
                }
            })
            .await?;
            let mut bad = 0;
            for r in &reports {
                match &r.fault {
                    None => println!(
                        "ok    {}: {} records, {} signed checkpoints",
                        r.chain, r.records, r.checkpoints
                    ),
                    Some(f) => {
                        bad += 1;
                        println!("FAIL  {}: {f}", r.chain);
                    }
                }
            }
            if reports.is_empty() {
                println!("No audit records yet.");
            }
            if bad > 0 {
                eprintln!("{bad} chain(s) failed verification.");
                Ok(ExitCode::from(1))
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        AuditCommand::Checkpoint { db } => {
            let core = core_for(&db).await?;
            let n = audit_service::checkpoint_all(&core).await?;
            println!("Signed {n} checkpoint(s).");
            Ok(ExitCode::SUCCESS)
        }
    }
}
