//! The demo world: a fictional provider with an operator for each provider role and 50
//! customer tenants across three regions, each with a user for every tenant role and
//! one API client. Seeded only into an empty database, audited as `system`, and every
//! credential written to `<data-dir>/demo-credentials.json`.

use std::path::{Path, PathBuf};

use candor_app::identity::{self, OperatorInput, TenantInput, UserInput};
use candor_app::password;
use candor_app::secrets::random_token;
use candor_app::topology;
use candor_app::Core;
use candor_domain::audit::{activity, AuditChain, NewAuditRecord};
use candor_domain::health::{
    Classification, Component, ComponentId, Feature, IssuePrefix, Placement, Region, ScaleUnit,
    ScaleUnitId, Service, ServiceId, Status, TopologyChanges,
};
use candor_domain::identity::RegionCode;
use candor_domain::identity::{Actor, ApiPermission, OperatorRole, TenantRole};
use candor_domain::language::Language;
use serde::Serialize;
use serde_json::json;

pub const DEMO_TENANTS: usize = 50;

const NAMES: [&str; DEMO_TENANTS] = [
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Tailspin Toys",
    "Woodgrove Bank",
    "Litware",
    "Proseware",
    "Wide World Importers",
    "Alpine Ski House",
    "Coho Winery",
    "Fourth Coffee",
    "Lucerne Publishing",
    "Margie's Travel",
    "Relecloud",
    "Trey Research",
    "VanArsdel",
    "Wingtip Toys",
    "Humongous Insurance",
    "Blue Yonder Airlines",
    "City Power & Light",
    "Consolidated Messenger",
    "Graphic Design Institute",
    "School of Fine Art",
    "Southridge Video",
    "A. Datum",
    "Bellows College",
    "Best For You Organics",
    "Contoso Pharmaceuticals",
    "Fabrikam Residences",
    "First Up Consultants",
    "Lamna Healthcare",
    "Liberty Delightful Sweets",
    "Munson's Pickles",
    "Nod Publishers",
    "Northwind Logistics",
    "Olympia Cycles",
    "Pharma Ventures",
    "Purple Pineapple",
    "Refined Furniture",
    "Sample Manufacturing",
    "Tailwind Traders",
    "The Phone Company",
    "Trey Bakery",
    "Woodgrove Insurance",
    "Wingtip Airlines",
    "Zava Retail",
    "Adatum Robotics",
    "Lucerne Energy",
    "Relecloud Media",
];

/// The demo catalog: Graph id, display name, issue prefix, (feature group, features).
/// A feature group and its features.
type FeatureGroup = (&'static str, &'static [&'static str]);

const SERVICES: [(&str, &str, &str, &[FeatureGroup]); 6] = [
    (
        "Exchange",
        "Exchange Online",
        "EX",
        &[
            (
                "E-Mail and calendar access",
                &["E-Mail and calendar access", "Sign-in"],
            ),
            (
                "E-Mail timely delivery",
                &[
                    "Mailflow - delayed delivery from Internet",
                    "Mailflow - delayed delivery to Internet",
                ],
            ),
            (
                "Management and Provisioning",
                &["Tenant Administration (Provisioning, Remote PowerShell)"],
            ),
        ],
    ),
    (
        "SharePoint",
        "SharePoint Online",
        "SP",
        &[
            ("SharePoint Features", &["Sites and Pages", "Search"]),
            ("Management and Provisioning", &["Tenant Admin"]),
        ],
    ),
    (
        "OneDriveForBusiness",
        "OneDrive for Business",
        "OD",
        &[("OneDrive for Business", &["Sync", "Sharing"])],
    ),
    (
        "MicrosoftTeams",
        "Microsoft Teams",
        "TM",
        &[("Teams Components", &["Chat (Messaging)", "Meetings"])],
    ),
    (
        "OrgLiveID",
        "Identity Service",
        "ID",
        &[("Authentication", &["Sign-in"])],
    ),
    (
        "OSDPPlatform",
        "Microsoft 365 suite",
        "MO",
        &[("Portal", &["Access"]), ("Other", &["Other"])],
    ),
];

/// Components in every scale unit: suffix and the services they host.
const COMPONENTS: [(&str, &[&str]); 5] = [
    ("mbx01", &["Exchange"]),
    ("mbx02", &["Exchange"]),
    ("spo01", &["SharePoint", "OneDriveForBusiness"]),
    ("tms01", &["MicrosoftTeams"]),
    ("core01", &["OrgLiveID", "OSDPPlatform"]),
];

const SCALE_UNITS_PER_REGION: usize = 2;

/// Region, display name, time zones and languages tenants there commonly use.
const REGION_NAMES: [&str; 3] = ["Europe West", "US East", "Asia Pacific East"];

const REGIONS: [(&str, &[(&str, &str)]); 3] = [
    (
        "eu-west",
        &[
            ("Europe/Amsterdam", "nl"),
            ("Europe/Paris", "fr"),
            ("Europe/London", "en"),
        ],
    ),
    (
        "us-east",
        &[("America/New_York", "en"), ("America/Toronto", "fr")],
    ),
    (
        "apac-east",
        &[
            ("Asia/Taipei", "zh-TW"),
            ("Asia/Seoul", "ko"),
            ("Asia/Singapore", "en"),
        ],
    ),
];

const USERS: [(&str, &str, TenantRole); 5] = [
    ("admin", "Global Admin", TenantRole::GlobalAdministrator),
    (
        "approver",
        "Lockbox Approver",
        TenantRole::CustomerLockboxAccessApprover,
    ),
    (
        "support",
        "Service Support Admin",
        TenantRole::ServiceSupportAdministrator,
    ),
    (
        "messages",
        "Message Center Reader",
        TenantRole::MessageCenterReader,
    ),
    ("auditor", "Audit Reader", TenantRole::AuditReader),
];

const OPERATORS: [(&str, &str, OperatorRole); 4] = [
    ("admin", "Avery Admin", OperatorRole::ProviderAdmin),
    ("incidents", "Indra Incident", OperatorRole::IncidentManager),
    ("engineer", "Sam Support", OperatorRole::SupportEngineer),
    ("manager", "Morgan Manager", OperatorRole::SupportManager),
];

#[derive(Debug, Serialize)]
pub struct Credential {
    pub email: String,
    pub password: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoClient {
    pub client_id: String,
    pub client_secret: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoTenant {
    pub id: String,
    pub name: String,
    pub home_region: String,
    pub users: Vec<Credential>,
    pub api_client: DemoClient,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoCredentials {
    pub note: &'static str,
    pub portal_sign_in: String,
    pub console_sign_in: String,
    pub token_endpoint: String,
    pub operators: Vec<Credential>,
    /// The demo mailbox service's credentials (`candor demo-workload`).
    pub data_plane_client: DemoClient,
    pub tenants: Vec<DemoTenant>,
}

pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-credentials.json")
}

fn code<T>(
    parse: fn(&str) -> Result<T, candor_domain::identity::InvalidValue>,
    s: &str,
) -> anyhow::Result<T> {
    parse(s).map_err(|e| anyhow::anyhow!("demo topology: {e}"))
}

/// Services, regions, scale units and components of the demo provider.
fn demo_topology() -> anyhow::Result<TopologyChanges> {
    let mut changes = TopologyChanges::default();
    for (id, name, prefix, groups) in SERVICES {
        changes.services.push(Service {
            id: code(ServiceId::parse, id)?,
            display_name: name.to_owned(),
            issue_prefix: code(IssuePrefix::parse, prefix)?,
            features: groups
                .iter()
                .flat_map(|(group, features)| {
                    features.iter().map(move |f| Feature {
                        feature_group: (*group).to_owned(),
                        name: (*f).to_owned(),
                    })
                })
                .collect(),
        });
    }
    for ((region, _), name) in REGIONS.iter().zip(REGION_NAMES) {
        changes.regions.push(Region {
            code: code(RegionCode::parse, region)?,
            display_name: name.to_owned(),
        });
        for su in 1..=SCALE_UNITS_PER_REGION {
            let su_id = format!("{region}-su{su}");
            changes.scale_units.push(ScaleUnit {
                id: code(ScaleUnitId::parse, &su_id)?,
                region: code(RegionCode::parse, region)?,
            });
            for (suffix, services) in COMPONENTS {
                changes.components.push(Component {
                    id: code(ComponentId::parse, &format!("{su_id}-{suffix}"))?,
                    scale_unit: code(ScaleUnitId::parse, &su_id)?,
                    services: services
                        .iter()
                        .map(|s| code(ServiceId::parse, s))
                        .collect::<anyhow::Result<_>>()?,
                });
            }
        }
    }
    Ok(changes)
}

/// The components tenant number `i` lives on: one mailbox database, and the shared
/// components, in one scale unit of its home region.
fn demo_placements(i: usize, tenant: candor_domain::TenantId) -> anyhow::Result<Vec<Placement>> {
    let (region, _) = REGIONS[i % REGIONS.len()];
    let su = (i / REGIONS.len()) % SCALE_UNITS_PER_REGION + 1;
    let mailbox = if (i / (REGIONS.len() * SCALE_UNITS_PER_REGION)).is_multiple_of(2) {
        "mbx01"
    } else {
        "mbx02"
    };
    [mailbox, "spo01", "tms01", "core01"]
        .iter()
        .map(|suffix| {
            Ok(Placement {
                tenant_id: tenant,
                component: code(ComponentId::parse, &format!("{region}-su{su}-{suffix}"))?,
            })
        })
        .collect()
}

/// Issues so the dashboards show a living service: incidents and advisories in several
/// states, with translated posts, and one resolved incident with a published review.
/// The first demo tenant (in Europe) is affected by most of them.
/// Declares a demo issue as `system` and posts one update that moves it to `status`.
async fn declare(
    core: &Core,
    input: candor_app::health::NewIssueInput,
    status: Status,
    update: candor_app::health::PostInput,
) -> Result<candor_domain::health::Issue, candor_app::error::AppError> {
    use candor_app::health::{self as health, UpdateInput};
    let (issue, _) = health::create_issue(core, &Actor::System, None, input).await?;
    health::update_issue(
        core,
        &Actor::System,
        None,
        issue.id.clone(),
        UpdateInput {
            status: Some(status),
            post: Some(update),
            ..Default::default()
        },
    )
    .await
}

async fn seed_issues(core: &Core) -> Result<(), candor_app::error::AppError> {
    use candor_app::health::{self as health, NewIssueInput, PostInput};
    use candor_domain::health::{ScaleUnitId, Scope, ServiceId};
    let system = Actor::System;
    let post = |text: &str, nl: &str| PostInput {
        body_html: format!("<p>{text}</p>"),
        translations: [(Language::Dutch, format!("<p>{nl}</p>"))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let scale_unit = |id: &str| {
        ScaleUnitId::parse(id)
            .map(|s| [s].into_iter().collect())
            .unwrap_or_default()
    };
    declare(
        core,
        NewIssueInput {
            service: "Exchange".into(),
            classification: Classification::Incident,
            feature: Some("Mailflow - delayed delivery from Internet".into()),
            feature_group: Some("E-Mail timely delivery".into()),
            title: "Some users' inbound mail is delayed".into(),
            impact_description: "Users may see delays of up to an hour for mail sent from outside the organization.".into(),
            status: Some(Status::Investigating),
            scope: Scope { scale_units: scale_unit("eu-west-su1"), ..Default::default() },
            post: post(
                "We're investigating reports of delayed inbound mail on part of our European infrastructure.",
                "We onderzoeken meldingen van vertraagde inkomende e-mail op een deel van onze Europese infrastructuur.",
            ),
            ..Default::default()
        },
        Status::ServiceDegradation,
        post(
                "A queue on one mailbox database is backed up; we're rerouting mail to healthy servers.",
                "Een wachtrij op één postvakdatabase loopt achter; we leiden e-mail om naar gezonde servers.",
            ),
    )
    .await?;
    declare(
        core,
        NewIssueInput {
            service: "SharePoint".into(),
            classification: Classification::Advisory,
            feature: Some("Search".into()),
            feature_group: Some("SharePoint Features".into()),
            title: "Search results may be incomplete".into(),
            impact_description: "Recently added files may not appear in search results.".into(),
            scope: Scope {
                scale_units: scale_unit("us-east-su1"),
                ..Default::default()
            },
            post: post(
                "Indexing is behind on one farm.",
                "Het indexeren loopt achter op één farm.",
            ),
            ..Default::default()
        },
        Status::ServiceRestored,
        post(
            "Indexing has caught up; search results are complete.",
            "Het indexeren is bij; zoekresultaten zijn volledig.",
        ),
    )
    .await?;

    // A Teams advisory across Europe, still being worked on, told in three languages.
    declare(
        core,
        NewIssueInput {
            service: "MicrosoftTeams".into(),
            classification: Classification::Advisory,
            feature: Some("Meetings".into()),
            feature_group: Some("Teams Components".into()),
            title: "Meeting recordings may take longer to appear".into(),
            impact_description: "Recordings of meetings may take up to two hours to appear in chat.".into(),
            scope: Scope { regions: region_set("eu-west"), services: [ServiceId::from_trusted("MicrosoftTeams")].into_iter().collect(), ..Default::default() },
            post: PostInput {
                body_html: "<p>We're reviewing processing times for meeting recordings in Europe.</p>".into(),
                translations: [
                    (Language::Dutch, "<p>We onderzoeken de verwerkingstijd van vergaderopnamen in Europa.</p>".to_owned()),
                    (Language::French, "<p>Nous examinons les délais de traitement des enregistrements de réunions en Europe.</p>".to_owned()),
                ]
                .into_iter()
                .collect(),
                ..Default::default()
            },
            ..Default::default()
        },
        Status::RestoringService,
        post(
                "We've added processing capacity; the backlog is shrinking.",
                "We hebben verwerkingscapaciteit toegevoegd; de achterstand neemt af.",
            ),
    )
    .await?;

    // Yesterday's sign-in incident in Europe: resolved, with a published review.
    let now = core.clock.now();
    let signin = declare(
        core,
        NewIssueInput {
            service: "OrgLiveID".into(),
            classification: Classification::Incident,
            feature: Some("Sign-in".into()),
            feature_group: Some("Authentication".into()),
            title: "Users couldn't sign in to some services".into(),
            impact_description: "Users may have been unable to sign in to web apps.".into(),
            start: Some(now - time::Duration::hours(26)),
            scope: Scope {
                regions: region_set("eu-west"),
                ..Default::default()
            },
            post: post(
                "We're investigating sign-in failures in Europe.",
                "We onderzoeken aanmeldingsfouten in Europa.",
            ),
            ..Default::default()
        },
        Status::ServiceRestored,
        post(
            "We rolled back a configuration change and sign-ins succeed again.",
            "We hebben een configuratiewijziging teruggedraaid; aanmelden lukt weer.",
        ),
    )
    .await?;
    health::save_pir_draft(
        core,
        &system,
        None,
        signin.id.clone(),
        health::PirInput {
            user_impact: "<p>Users in Europe could not sign in to web apps for 47 minutes.</p>".into(),
            scope_of_impact: "<p>Tenants placed on the eu-west authentication components.</p>".into(),
            start: Some(now - time::Duration::hours(26)),
            end: Some(now - time::Duration::hours(25)),
            root_cause: "<p>A token-signing configuration change reached all eu-west scale units at once.</p>".into(),
            actions_taken: "<p>We rolled back the change and confirmed sign-ins recovered.</p>".into(),
            next_steps: "<p>Configuration changes now roll out one scale unit at a time, with automatic rollback.</p>".into(),
        },
    )
    .await?;
    health::publish_pir(core, &system, None, signin.id.clone()).await?;

    // A OneDrive incident in Asia that turned out not to be one.
    declare(
        core,
        NewIssueInput {
            service: "OneDriveForBusiness".into(),
            classification: Classification::Incident,
            feature: Some("Sync".into()),
            feature_group: Some("OneDrive for Business".into()),
            title: "Files may not sync".into(),
            impact_description: "Some users may see sync errors.".into(),
            scope: Scope {
                scale_units: scale_unit("apac-east-su2"),
                ..Default::default()
            },
            post: post(
                "We're looking into reports of sync errors.",
                "We bekijken meldingen van synchronisatiefouten.",
            ),
            ..Default::default()
        },
        Status::FalsePositive,
        post(
            "The errors came from a client update that users had paused; the service is healthy.",
            "De fouten kwamen van een gepauzeerde clientupdate; de service is in orde.",
        ),
    )
    .await?;
    Ok(())
}

/// Message Center messages of every category; the Exchange one carries an attachment.
async fn seed_messages(core: &Core) -> Result<(), candor_app::error::AppError> {
    use candor_app::messages::{self as messages, AttachmentUpload, NewMessageInput, TextInput};
    let system = Actor::System;
    let now = core.clock.now();
    let nl = |title: &str, body: &str| {
        [(
            Language::Dutch,
            TextInput {
                title: title.into(),
                body_html: format!("<p>{body}</p>"),
            },
        )]
        .into_iter()
        .collect()
    };
    messages::create_message(core, &system, None, NewMessageInput {
        title: "Retirement of Basic authentication for SMTP AUTH".into(),
        body_html: "<p>Basic authentication for SMTP AUTH ends on the date below. Move apps and devices that send mail to OAuth.</p><ul><li>Find affected connectors in the attached list.</li><li>Update or replace them before the deadline.</li></ul>".into(),
        translations: nl("Basisverificatie voor SMTP AUTH verdwijnt", "Basisverificatie voor SMTP AUTH stopt op de onderstaande datum. Zet apps en apparaten om naar OAuth."),
        category: candor_domain::health::Category::PlanForChange,
        severity: Some(candor_domain::health::Severity::High),
        services: vec!["Exchange".into()],
        tags: vec!["Retirement".into(), "Admin impact".into(), "Action required".into()],
        is_major_change: true,
        action_required_by: Some(now + time::Duration::days(90)),
        end: Some(now + time::Duration::days(120)),
        details: [("ExternalLink".to_owned(), "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission".to_owned())].into_iter().collect(),
        attachments: vec![AttachmentUpload {
            name: "affected-connectors.csv".into(),
            content_type: "text/csv".into(),
            bytes: b"connector,last used,sender
scanner-floor-2,2026-11-20,scanner@contoso.example
crm-notifications,2026-11-21,crm@contoso.example
".to_vec(),
        }],
        ..Default::default()
    })
    .await?;
    messages::create_message(
        core,
        &system,
        None,
        NewMessageInput {
            title: "Meeting recap now shows chapters".into(),
            body_html:
                "<p>Meeting recaps now divide recordings into chapters. No action is needed.</p>"
                    .into(),
            translations: nl(
                "Vergaderoverzicht toont nu hoofdstukken",
                "Vergaderoverzichten verdelen opnamen nu in hoofdstukken. U hoeft niets te doen.",
            ),
            category: candor_domain::health::Category::StayInformed,
            services: vec!["MicrosoftTeams".into()],
            tags: vec!["New feature".into(), "User impact".into()],
            ..Default::default()
        },
    )
    .await?;
    messages::create_message(core, &system, None, NewMessageInput {
        title: "Update the OneDrive sync app to avoid sync failures".into(),
        body_html: "<p>Sync app versions older than 24.0 will stop syncing. Update devices now to avoid interruptions.</p>".into(),
        translations: nl("Werk de OneDrive-synchronisatie-app bij", "Versies ouder dan 24.0 stoppen met synchroniseren. Werk apparaten nu bij."),
        category: candor_domain::health::Category::PreventOrFixIssue,
        severity: Some(candor_domain::health::Severity::Critical),
        services: vec!["OneDriveForBusiness".into(), "SharePoint".into()],
        tags: vec!["Action required".into(), "User impact".into()],
        action_required_by: Some(now + time::Duration::days(30)),
        audience: candor_domain::health::Audience {
            regions: region_set("eu-west"),
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// The demo's Lockbox workloads and their pre-approved operations.
pub const DEMO_WORKLOADS: [(&str, &[&str]); 3] = [
    (
        "Exchange Online",
        &[
            "Get-Mailbox",
            "Get-MessageTrace",
            "Export-MailboxDiagnosticLogs",
        ],
    ),
    (
        "SharePoint Online",
        &["Get-SPOSite", "Get-SPOUser", "Export-SPOSiteDiagnostics"],
    ),
    (
        "OneDrive for Business",
        &["Get-OneDriveUsage", "Restore-DeletedItem"],
    ),
];

/// Lockbox for the first tenant (on), with requests in every state. The history is
/// replayed on a clock that starts thirty hours ago, so expiry and the end of access
/// happen as they would; the deadline job then records them.
async fn seed_lockbox(
    core: &Core,
    operators: &[Actor],
    people: &[Actor],
) -> Result<(), candor_app::error::AppError> {
    use candor_app::lockbox::{self as lockbox, Decision, NewRequestInput};
    let system = Actor::System;
    for (name, ops) in DEMO_WORKLOADS {
        let ops: Vec<String> = ops.iter().map(|o| (*o).to_owned()).collect();
        lockbox::put_workload(core, &system, None, name, &ops).await?;
    }
    let role_of = |actors: &[Actor], wanted: &str| {
        actors
            .iter()
            .find(|a| match a {
                Actor::Operator { roles, .. } => roles.names().iter().any(|r| r == wanted),
                Actor::TenantUser { roles, .. } => roles.names().iter().any(|r| r == wanted),
                _ => false,
            })
            .cloned()
            .ok_or_else(|| {
                candor_app::error::AppError::Refused(format!("the demo has no {wanted}"))
            })
    };
    let engineer = role_of(operators, "SupportEngineer")?;
    let manager = role_of(operators, "SupportManager")?;
    let admin = role_of(people, "GlobalAdministrator")?;
    let approver = role_of(people, "CustomerLockboxAccessApprover")?;
    let tenant = admin
        .tenant_id()
        .ok_or_else(|| candor_app::error::AppError::Refused("no demo tenant".into()))?;

    let now = core.clock.now();
    let clock = std::sync::Arc::new(candor_domain::clock::ManualClock::new(
        now - time::Duration::hours(30),
    ));
    let mut past = core.on_clock(clock.clone());
    // History is replayed silently; only the request waiting now is mailed (below).
    past.send_notifications = false;
    let at = |t: time::OffsetDateTime| clock.set(t);
    let step = |d: time::Duration| clock.advance(d);
    let minutes = time::Duration::minutes;
    let ip = || Some("203.0.113.10".to_owned());
    lockbox::set_enabled(&past, &admin, ip(), tenant, true).await?;
    let file = |workload: &str, ops: &[&str], sr: &str, why: &str, minutes: i64| NewRequestInput {
        tenant,
        workload: workload.to_owned(),
        operations: ops.iter().map(|o| (*o).to_owned()).collect(),
        service_request: sr.to_owned(),
        justification: why.to_owned(),
        duration_minutes: minutes,
    };
    let approve_internally = |id: candor_domain::lockbox::LockboxRequestId| {
        let past = &past;
        let manager = manager.clone();
        async move { lockbox::decide_internally(past, &manager, None, id, true, None).await }
    };

    // Expired: reached the tenant, nobody decided within 12 hours.
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "Exchange Online",
            &["Get-MessageTrace"],
            "SR-2026-1001",
            "Messages from a partner domain are delayed by hours; need the trace.",
            60,
        ),
    )
    .await?;
    step(minutes(5));
    approve_internally(r.id).await?;
    // Denied by the tenant, with a comment.
    step(minutes(55));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "SharePoint Online",
            &["Get-SPOSite"],
            "SR-2026-1002",
            "Site collection storage quota reports are wrong.",
            120,
        ),
    )
    .await?;
    step(minutes(5));
    approve_internally(r.id).await?;
    step(minutes(30));
    lockbox::decide(
        &past,
        &approver,
        ip(),
        r.id,
        Decision::Deny,
        Some("We fixed the quota ourselves; no access needed.".into()),
    )
    .await?;
    // Denied internally.
    step(minutes(25));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "OneDrive for Business",
            &["Restore-DeletedItem"],
            "SR-2026-1003",
            "User asks to restore a folder deleted 100 days ago.",
            240,
        ),
    )
    .await?;
    step(minutes(10));
    lockbox::decide_internally(
        &past,
        &manager,
        None,
        r.id,
        false,
        Some("Past retention; restoring is not possible. Tell the customer.".into()),
    )
    .await?;
    // Completed: approved for an hour, which ran out.
    step(minutes(50));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "Exchange Online",
            &["Get-Mailbox", "Export-MailboxDiagnosticLogs"],
            "SR-2026-1004",
            "The CEO's mailbox will not open in Outlook; need the diagnostic logs.",
            60,
        ),
    )
    .await?;
    step(minutes(5));
    approve_internally(r.id).await?;
    step(minutes(20));
    lockbox::decide(
        &past,
        &admin,
        ip(),
        r.id,
        Decision::Approve,
        Some("Approved for the CEO mailbox case.".into()),
    )
    .await?;
    // Revoked after half an hour of a two-hour grant.
    at(now - time::Duration::hours(10));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "SharePoint Online",
            &["Get-SPOUser", "Export-SPOSiteDiagnostics"],
            "SR-2026-1005",
            "Permission inheritance breaks on the finance site.",
            120,
        ),
    )
    .await?;
    step(minutes(5));
    approve_internally(r.id).await?;
    step(minutes(15));
    lockbox::decide(&past, &approver, ip(), r.id, Decision::Approve, None).await?;
    step(minutes(30));
    lockbox::revoke(
        &past,
        &approver,
        ip(),
        r.id,
        Some("Our admin found the cause; ending access.".into()),
    )
    .await?;
    // Canceled by the engineer.
    at(now - time::Duration::hours(5));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "Exchange Online",
            &["Get-Mailbox"],
            "SR-2026-1006",
            "Shared mailbox permissions lost after migration.",
            30,
        ),
    )
    .await?;
    step(minutes(10));
    lockbox::decide(&past, &engineer, None, r.id, Decision::Cancel, None).await?;
    // Approved, access active now for three and a half more hours.
    at(now - time::Duration::minutes(40));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "Exchange Online",
            &["Get-Mailbox"],
            "SR-2026-1007",
            "Calendar items disappear for one user after sync.",
            240,
        ),
    )
    .await?;
    step(minutes(5));
    approve_internally(r.id).await?;
    step(minutes(5));
    lockbox::decide(
        &past,
        &approver,
        ip(),
        r.id,
        Decision::Approve,
        Some("Go ahead; mailbox of Megan only.".into()),
    )
    .await?;
    // Pending: waiting for the tenant; the approvers' emails are in the outbox.
    at(now - time::Duration::minutes(20));
    let r = lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "OneDrive for Business",
            &["Get-OneDriveUsage"],
            "SR-2026-1008",
            "Storage usage report does not match the files users see.",
            90,
        ),
    )
    .await?;
    step(minutes(5));
    let pending = approve_internally(r.id).await?;
    let notices = candor_app::lockbox_mail::notifications(
        core,
        candor_domain::lockbox::LockboxStatus::AwaitingInternalApproval,
        &pending,
    )
    .await?;
    core.store.queue_deliveries(&notices, now).await?;
    // Awaiting the provider's internal approval.
    at(now - time::Duration::minutes(5));
    lockbox::file_request(
        &past,
        &engineer,
        None,
        file(
            "Exchange Online",
            &["Get-MessageTrace"],
            "SR-2026-1009",
            "Outbound mail to one domain bounces intermittently.",
            45,
        ),
    )
    .await?;
    // What time decided (the expiry, the end of access), written down now.
    at(now);
    lockbox::record_deadlines(&past).await?;
    Ok(())
}

fn region_set(id: &str) -> std::collections::BTreeSet<RegionCode> {
    RegionCode::parse(id)
        .map(|r| [r].into_iter().collect())
        .unwrap_or_default()
}

fn slug(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            ' ' | '-' | '&' => Some('-'),
            _ => None,
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Seeds the demo world if the database has no tenants. Returns the credentials when it
/// seeded, `None` when the database already had data.
pub async fn seed_if_empty(
    core: &Core,
    data_dir: &Path,
    public_url: &str,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Option<DemoCredentials>> {
    if core.store.count_tenants().await? > 0 {
        return Ok(None);
    }
    let system = Actor::System;
    let err = |e: candor_app::error::AppError| anyhow::anyhow!("{e}");
    let operator_password = format!("op-{}", &random_token()[..16]);
    let user_password = format!("demo-{}", &random_token()[..16]);
    let operator_hash = password::hash(operator_password.clone())
        .await
        .map_err(err)?;
    let user_hash = password::hash(user_password.clone()).await.map_err(err)?;

    topology::apply(core, &system, None, &demo_topology()?)
        .await
        .map_err(err)?;

    let mut operators = Vec::new();
    let mut operator_actors = Vec::new();
    for (local, name, role) in OPERATORS {
        let email = format!("{local}@provider.example");
        let input = OperatorInput {
            email: email.clone(),
            display_name: name.to_owned(),
            password: operator_password.clone(),
            roles: [role].into_iter().collect(),
            // The demo's provider admin is the break-glass account every install starts
            // with; the other operators hold no privileged role.
            break_glass: candor_domain::elevation::is_privileged(role),
        };
        let created =
            identity::create_operator_hashed(core, &system, None, input, operator_hash.clone())
                .await
                .map_err(err)?;
        operator_actors.push(Actor::Operator {
            operator_id: created.id,
            email: email.clone(),
            roles: [role].into_iter().collect(),
        });
        operators.push(Credential {
            email,
            password: operator_password.clone(),
            roles: vec![role.as_str().to_owned()],
        });
    }

    let mut tenants = Vec::new();
    let mut first_tenant_people: Vec<Actor> = Vec::new();
    let mut placements = TopologyChanges::default();
    for (i, name) in NAMES.iter().enumerate() {
        let (region, zones) = REGIONS[i % REGIONS.len()];
        let (zone, lang) = zones[(i / REGIONS.len()) % zones.len()];
        let tenant = identity::create_tenant(
            core,
            &system,
            None,
            TenantInput {
                name: (*name).to_owned(),
                home_region: region.to_owned(),
                default_language: candor_app::words::required_language("language", lang)?,
                time_zone: zone.to_owned(),
                is_demo: true,
            },
        )
        .await
        .map_err(err)?;
        placements.placements.extend(demo_placements(i, tenant.id)?);
        let domain = format!("{}.example", slug(name));
        let mut users = Vec::new();
        for (local, display, role) in USERS {
            let email = format!("{local}@{domain}");
            let input = UserInput {
                email: email.clone(),
                display_name: format!("{display} ({name})"),
                password: user_password.clone(),
                roles: [role].into_iter().collect(),
                language: None,
            };
            let user = identity::create_user_hashed(
                core,
                &system,
                None,
                tenant.id,
                input,
                user_hash.clone(),
            )
            .await
            .map_err(err)?;
            if i == 0 {
                first_tenant_people.push(Actor::TenantUser {
                    tenant_id: tenant.id,
                    user_id: user.id,
                    email: email.clone(),
                    roles: [role].into_iter().collect(),
                });
            }
            users.push(Credential {
                email,
                password: user_password.clone(),
                roles: vec![role.as_str().to_owned()],
            });
        }
        let permissions: Vec<String> = ApiPermission::ALL
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        // The tenant's operations desk hears about everything, in the tenant's language:
        // the demo's published issues leave its mail in the outbox.
        candor_app::contacts::add(
            core,
            &system,
            None,
            tenant.id,
            candor_app::contacts::ContactInput {
                email: format!("noc@{domain}"),
                language: candor_app::words::required_language("language", lang)?,
                topics: candor_domain::health::Topic::ALL.iter().copied().collect(),
                services: Vec::new(),
            },
        )
        .await
        .map_err(err)?;
        let issued = identity::create_api_client(
            core,
            &system,
            None,
            tenant.id,
            "Demo dashboard",
            &permissions,
        )
        .await
        .map_err(err)?;
        tenants.push(DemoTenant {
            id: tenant.id.to_string(),
            name: (*name).to_owned(),
            home_region: region.to_owned(),
            users,
            api_client: DemoClient {
                client_id: issued.client.id.to_string(),
                client_secret: issued.secret,
                permissions,
            },
        });
        progress(i + 1, NAMES.len());
    }
    topology::apply(core, &system, None, &placements)
        .await
        .map_err(err)?;
    seed_issues(core).await.map_err(err)?;
    seed_messages(core).await.map_err(err)?;
    seed_lockbox(core, &operator_actors, &first_tenant_people)
        .await
        .map_err(err)?;
    let (plane, plane_secret) = identity::create_operator_client(
        core,
        &system,
        None,
        "Demo mailbox service",
        &[OperatorRole::DataPlaneService.as_str().to_owned()],
    )
    .await
    .map_err(err)?;
    let seeded = NewAuditRecord::new(
        AuditChain::Operator,
        core.clock.now(),
        "system",
        candor_domain::audit::ActorKind::System,
        activity::DEMO_SEEDED,
    )
    .details(json!({"tenants": tenants.len(), "operators": operators.len(), "placements": placements.placements.len()}));
    core.store.append_audit(vec![seeded]).await?;

    let base = public_url.trim_end_matches('/');
    let credentials = DemoCredentials {
        note: "Fictional demo data. Anyone with this file can sign in as these people: do not use the demo world for anything real.",
        portal_sign_in: format!("{base}/signin"),
        console_sign_in: format!("{base}/console/signin"),
        token_endpoint: format!("{base}/oauth2/v2.0/token"),
        operators,
        data_plane_client: DemoClient {
            client_id: plane.id.to_string(),
            client_secret: plane_secret,
            permissions: vec![OperatorRole::DataPlaneService.as_str().to_owned()],
        },
        tenants,
    };
    std::fs::create_dir_all(data_dir)?;
    let path = credentials_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&credentials)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Some(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_make_valid_domains() {
        assert_eq!(slug("Margie's Travel"), "margies-travel");
        assert_eq!(slug("City Power & Light"), "city-power-light");
        assert_eq!(slug("A. Datum"), "a-datum");
    }

    #[test]
    fn the_demo_topology_is_consistent() {
        let mut changes = demo_topology().unwrap();
        for i in 0..DEMO_TENANTS {
            changes
                .placements
                .extend(demo_placements(i, candor_domain::TenantId::generate()).unwrap());
        }
        candor_domain::health::check_references(&changes, &Default::default()).unwrap();
        assert_eq!(changes.regions.len(), 3);
        assert_eq!(
            changes.components.len(),
            3 * SCALE_UNITS_PER_REGION * COMPONENTS.len()
        );
        assert_eq!(changes.placements.len(), DEMO_TENANTS * 4);
        // Every component of the demo hosts a tenant.
        let used: std::collections::BTreeSet<_> = changes
            .placements
            .iter()
            .map(|p| p.component.clone())
            .collect();
        assert_eq!(used.len(), changes.components.len());
    }

    #[test]
    fn demo_names_are_unique() {
        let mut names = NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DEMO_TENANTS);
    }
}
