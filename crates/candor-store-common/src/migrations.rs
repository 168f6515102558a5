//! The schema, written once. Each migration is a template both stores render in their
//! own dialect, then hand to sqlx's migrator as they always did.
//!
//! A template is SQL with two additions:
//!
//! - `{{name}}` stands for the one word where the dialects differ: `uuid` (TEXT | UUID),
//!   `time` (INTEGER microseconds | TIMESTAMPTZ), `int` (INTEGER | BIGINT), `bool`
//!   (INTEGER | BOOLEAN), `false` / `true` (0 / 1 | FALSE / TRUE), `bytes` (BLOB | BYTEA)
//!   and `key` (`PRIMARY KEY NOT NULL`, which SQLite needs spelled out, | `PRIMARY KEY`);
//!   `{{sqlite text|postgres text}}` for anything else;
//! - a line starting `@sqlite ` or `@postgres ` exists only in that dialect.
//!
//! sqlx records a checksum of every applied migration's text and refuses to start when
//! it changes, so a template must render, byte for byte, what databases already hold:
//! the tests pin each rendering's checksum. A new migration is one new template.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// The two SQL dialects Candor's stores speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Every migration template, by file name (`<version>_<description>.sql`), in order.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "0001_foundation.sql",
        include_str!("../migrations/0001_foundation.sql"),
    ),
    (
        "0002_topology.sql",
        include_str!("../migrations/0002_topology.sql"),
    ),
    (
        "0003_issues.sql",
        include_str!("../migrations/0003_issues.sql"),
    ),
    (
        "0004_operator_api.sql",
        include_str!("../migrations/0004_operator_api.sql"),
    ),
    ("0005_pirs.sql", include_str!("../migrations/0005_pirs.sql")),
    (
        "0006_messages.sql",
        include_str!("../migrations/0006_messages.sql"),
    ),
    (
        "0007_lockbox.sql",
        include_str!("../migrations/0007_lockbox.sql"),
    ),
    (
        "0008_elevations.sql",
        include_str!("../migrations/0008_elevations.sql"),
    ),
    (
        "0009_lockbox_grant_lookup.sql",
        include_str!("../migrations/0009_lockbox_grant_lookup.sql"),
    ),
    (
        "0010_feed_tokens.sql",
        include_str!("../migrations/0010_feed_tokens.sql"),
    ),
    (
        "0011_contacts.sql",
        include_str!("../migrations/0011_contacts.sql"),
    ),
    (
        "0012_deliveries.sql",
        include_str!("../migrations/0012_deliveries.sql"),
    ),
    (
        "0013_push_subscriptions.sql",
        include_str!("../migrations/0013_push_subscriptions.sql"),
    ),
    (
        "0014_delivery_news.sql",
        include_str!("../migrations/0014_delivery_news.sql"),
    ),
    (
        "0015_delivery_realm.sql",
        include_str!("../migrations/0015_delivery_realm.sql"),
    ),
    (
        "0016_lanes.sql",
        include_str!("../migrations/0016_lanes.sql"),
    ),
    (
        "0017_issue_drafts.sql",
        include_str!("../migrations/0017_issue_drafts.sql"),
    ),
    (
        "0018_operator_push.sql",
        include_str!("../migrations/0018_operator_push.sql"),
    ),
    (
        "0019_audit_tree.sql",
        include_str!("../migrations/0019_audit_tree.sql"),
    ),
    (
        "0020_checkpoint_notes.sql",
        include_str!("../migrations/0020_checkpoint_notes.sql"),
    ),
    (
        "0021_audit_log_prefixes.sql",
        include_str!("../migrations/0021_audit_log_prefixes.sql"),
    ),
    (
        "0022_audit_witnesses_retention.sql",
        include_str!("../migrations/0022_audit_witnesses_retention.sql"),
    ),
    (
        "0023_maintenances.sql",
        include_str!("../migrations/0023_maintenances.sql"),
    ),
    (
        "0024_subscribers.sql",
        include_str!("../migrations/0024_subscribers.sql"),
    ),
    (
        "0025_lockbox_generation.sql",
        include_str!("../migrations/0025_lockbox_generation.sql"),
    ),
    (
        "0026_issue_components.sql",
        include_str!("../migrations/0026_issue_components.sql"),
    ),
];

fn word(name: &str, dialect: Dialect) -> Option<&'static str> {
    let (sqlite, postgres) = match name {
        "uuid" => ("TEXT", "UUID"),
        "time" => ("INTEGER", "TIMESTAMPTZ"),
        "int" => ("INTEGER", "BIGINT"),
        "bool" => ("INTEGER", "BOOLEAN"),
        "false" => ("0", "FALSE"),
        "true" => ("1", "TRUE"),
        "bytes" => ("BLOB", "BYTEA"),
        "key" => ("PRIMARY KEY NOT NULL", "PRIMARY KEY"),
        _ => return None,
    };
    Some(match dialect {
        Dialect::Sqlite => sqlite,
        Dialect::Postgres => postgres,
    })
}

/// Renders one template in `dialect`, or says what in it cannot be rendered.
pub fn render(template: &str, dialect: Dialect) -> Result<String, String> {
    let mut lines = Vec::new();
    for line in template.split('\n') {
        if let Some(rest) = line.strip_prefix("@sqlite ") {
            if dialect == Dialect::Sqlite {
                lines.push(rest);
            }
        } else if let Some(rest) = line.strip_prefix("@postgres ") {
            if dialect == Dialect::Postgres {
                lines.push(rest);
            }
        } else {
            lines.push(line);
        }
    }
    let text = lines.join("\n");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("an unclosed {{ at {:?}", &rest[start..]))?;
        let body = &after[..end];
        match body.split_once('|') {
            Some((sqlite, postgres)) => out.push_str(match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            }),
            None => out.push_str(
                word(body, dialect).ok_or_else(|| format!("no dialect word is named {body:?}"))?,
            ),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every migration rendered in `dialect`, versioned and described as sqlx would from the
/// file name.
pub fn migrations(dialect: Dialect) -> Result<Vec<Migration>, String> {
    TEMPLATES
        .iter()
        .map(|(file, template)| {
            let stem = file
                .strip_suffix(".sql")
                .ok_or_else(|| format!("{file}: a migration ends in .sql"))?;
            let (version, description) = stem.split_once('_').ok_or_else(|| {
                format!("{file}: a migration is named <version>_<description>.sql")
            })?;
            let version: i64 = version
                .parse()
                .map_err(|_| format!("{file}: {version:?} is not a version number"))?;
            let sql = render(template, dialect).map_err(|e| format!("{file}: {e}"))?;
            Ok(Migration::new(
                version,
                Cow::Owned(description.replace('_', " ")),
                MigrationType::Simple,
                Cow::Owned(sql),
                false,
            ))
        })
        .collect()
}

#[derive(Debug)]
struct Rendered(Dialect);

impl MigrationSource<'static> for Rendered {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { migrations(self.0).map_err(BoxDynError::from) })
    }
}

/// The migrator for `dialect`'s store.
pub async fn migrator(dialect: Dialect) -> Result<Migrator, String> {
    Migrator::new(Rendered(dialect))
        .await
        .map_err(|e| format!("reading the migrations: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-384 of each migration as the stores shipped it, in the `_sqlx_migrations` table
    /// of every database made since. Never change one: add a migration instead.
    const SQLITE: &[(&str, &str)] = &[
        ("0001_foundation.sql", "f58b634b11b7d8b1e7946b67420f20cf7ae470ef40934763889ca4a5118cd23e3bdc4265d40b441a6a2911e3ffb6ba04"),
        ("0002_topology.sql", "d3d80f83389e421f19b7cf5839fa5f15a33efe26ed3129bebddb0a84c883068943e189b9abef71d10c7ba3541abc8ec6"),
        ("0003_issues.sql", "db76317db37d766cd880bdbd6ad909cd89099a9a62c22fb783eec55e4cd22c7132addeae462a956ee639c87408769e16"),
        ("0004_operator_api.sql", "e8b3620d31ca22f06e6171c317bb7f2a4c5073e413a8562731c679c6dae8416f2c2d020dd2e462669c51559d65248164"),
        ("0005_pirs.sql", "3769d280c1e758ba15435eb6d4a57e5025e2ef6c20f320c2d4c567f0de9720a077fe66eed2b8debdf5af5b5db359540f"),
        ("0006_messages.sql", "7274a7d740a7d38c091fa8dafa994c1d3b5d3e4357c08ce4170a087f454c7fd08b99bcfb29281478858fc4fdb53ee133"),
        ("0007_lockbox.sql", "b8bb0e2cbf9cbb739cb90740fa4c23613764c3e35787e796c674991be6ec659e8ecadc9b1fe5448df8f10c3bcc47c825"),
        ("0008_elevations.sql", "3a24bc1a7df9c2de832b6632f0b4c11a70085e3a05b65c35d9d6e573b6b9cea6caf8d627892ee251785c5e6d4d297b73"),
        ("0009_lockbox_grant_lookup.sql", "ef14db12ac3793df016478be13a61c9d1970c32b38fb97fa7df381ba9056b29d5172dbc83b93c157a31ca2e53ba5b5cf"),
        ("0010_feed_tokens.sql", "e8394acf3c53aa0895316445af7742385900c7a60f838bcd133c036f32ea90f7c7af85d5459b723483b18bc5128abe5a"),
        ("0011_contacts.sql", "6c45eb59882849451e9be3d5675a97f4f0844d1322d48ce4917d5009dff8320f505145855f9fa1bfd1220531c84dc374"),
        ("0012_deliveries.sql", "951491550f30e736ce4b9d155ecb9b1bc4648619253cebea7ebe851e2cbd759f8994d66b64e1e48f13392985835b4f81"),
        ("0013_push_subscriptions.sql", "56c9cf9878fe0de54a17b3128d68903605391d09b4138383e6e24f8c06d7ced93fcb2d6ce5cce6db8a6ab3c64b857e74"),
        ("0014_delivery_news.sql", "dce2b710e09343e53dd080bf6a7950e6243aee046ec094631096315c427fc0cabc0f86acee1f1cf4f852ffb7e475dc73"),
        ("0015_delivery_realm.sql", "fa71b4af0314cc410383b536e9618d61b7433604aa46fee38e6349f63e837f5536d8c6ea7a6eefb20c7e89a4c8439f24"),
        ("0016_lanes.sql", "f09aaca46a213b1feef41c932d30472fc9955b04ff953e303b8d5433ece087ac6c557298a4f03f7789f35f2c277ec5ec"),
        ("0017_issue_drafts.sql", "0754bd7672ad2f56a47f23cb1e1284aac7d03535b91f6749c2fbf452635454a9c812a0d9094c6cbabd6b43802806fa75"),
        ("0018_operator_push.sql", "46b53d1e98055304ab136fc71b7ccedaf01a535b1bacf9c774dea5e7f335fb15422b577f400f1d804076244b93806eb7"),
        ("0019_audit_tree.sql", "6ab06c8efde076427697b3266119aab074f3e3f5f1865324b90f82f9977d2d7101c9c220b8b894d4466104e2a1ea140f"),
        ("0020_checkpoint_notes.sql", "851ea9b61e2add45a3ad11486136e2e4361ec80caa54dfb36f87654d4dc416f5ee4c1a1601ae73aa3cd04d67b568fe8d"),
        ("0021_audit_log_prefixes.sql", "4820c015da33f4f5fd7f9b67cc0f1f6bbbbc881da3fa32e0a979a8bc6806ae0e85abbcac07e8d03326dd5ec772aa13d0"),
        ("0022_audit_witnesses_retention.sql", "37505be21e6ca3cc33bfdbd51ec212f18b8f954a4f66c1b6f8b1f474769b272cf61b15537cc9395451e18703dc9edbbb"),
        ("0023_maintenances.sql", "38f6ded49c8b147b46b8d49a9ad77d7e05e380cb38c3366e823620fc1a2b1831b65391b83eac470c4bf9a2f742546223"),
        ("0024_subscribers.sql", "8ad9b697bd37692b4970b223bf05c9dc3602d9e4a6532e6d6a95503a4e30128b3871d50e99b9e3c2702bce3c6b138514"),
        ("0025_lockbox_generation.sql", "4571f9c22c932078211d2642451f0adf8649a9b0b46eb88645a2a11ba73efd3f4bd822d9e05851e9bf235e5f4845ccc9"),
        ("0026_issue_components.sql", "50fed98c3c4e481fd80e9286d4df2a607a8827a19dc12f9ce9fa7dafd5a68228fef42a42d532527dbfdb172d00871905"),
    ];
    const POSTGRES: &[(&str, &str)] = &[
        ("0001_foundation.sql", "e43fa967dc0f961b74828bb9d45a97c14af338ffb2cd598ea0a141492fff2e5dd051b3ff61efd686970af886cc5b9bd6"),
        ("0002_topology.sql", "99dcc135926375f5990fe52c82f9d2dc74d92ddd0f54c4d6ae0606a23bdf7f6e2df431dc565426f399776e7c94941ec5"),
        ("0003_issues.sql", "44788a2f37756c8cae242587612d7482111255b98ece376c306b4b94a53a22d991306933a498d5cdf6c9e5e4a8113dfd"),
        ("0004_operator_api.sql", "d954e0d4f6d6d8b303eacfe7cad4e0cd53ebb7e8014c39f7f59c5be0885b9190e80979757e3493e94e4b98e6a79f9ef7"),
        ("0005_pirs.sql", "47a19f12caf879c8318dbd6e0749aa217ba7d59cadfbf6b61a031b3f8ca5f5a1bfa3b2e4fe535adb923daf0914b239f0"),
        ("0006_messages.sql", "8a0c84da630b344e538dba54b5fc786ce7896434410196ad48cf629356de024b14e6dfc4a69d02f5d03e3d46b7ff3829"),
        ("0007_lockbox.sql", "ee672cadc8a7afbb5da683d2fb45f2fb728ee4eed6fc56733c585a7ae692c7f3a43323762774e0b38c66a1771c3cb37d"),
        ("0008_elevations.sql", "b861bb32b1861be7288c3d1998f438fe571cd19a3b32a6ad8af181a978b792a8a57435c89a22802e909a6c6d00bd387e"),
        ("0009_lockbox_grant_lookup.sql", "ef14db12ac3793df016478be13a61c9d1970c32b38fb97fa7df381ba9056b29d5172dbc83b93c157a31ca2e53ba5b5cf"),
        ("0010_feed_tokens.sql", "95479e66437b50a9e1541f8a68eef64189b9e76e8f8af770e052efa574a0a98961371d32cf9fc443cf06544607a5cdba"),
        ("0011_contacts.sql", "644ad4c793ec57fb737bd99f2bdf5c53915767928174f99ce61402642321e7ce7896bf7f724a97530b401e218a60ec67"),
        ("0012_deliveries.sql", "e4928880c4d9582dff67627253a452bb613f0dbef4c9aa4d171d5fc25eda6d1248de61b24919ec29f8bafb4f11b4058a"),
        ("0013_push_subscriptions.sql", "a8c8267fc719f9fdc71ac950c415f288aab16c944de655d7cf29b15e29ab80d8e1a858f76a3709c301d858b18bb70a82"),
        ("0014_delivery_news.sql", "14ff806e34a420678d2d66f8ca408f749a701c48a86c125ae375b5da03c2fc482744d7b3be0f1391ecb79618c0ced19f"),
        ("0015_delivery_realm.sql", "fa71b4af0314cc410383b536e9618d61b7433604aa46fee38e6349f63e837f5536d8c6ea7a6eefb20c7e89a4c8439f24"),
        ("0016_lanes.sql", "f09aaca46a213b1feef41c932d30472fc9955b04ff953e303b8d5433ece087ac6c557298a4f03f7789f35f2c277ec5ec"),
        ("0017_issue_drafts.sql", "e629ca05c2bda6467cdd11c9bc95c7c07358a4480d2633342fd0ff29b6fa10790ce01f3f0a2296a830c0fc10d55886de"),
        ("0018_operator_push.sql", "bf7ca7ea129818b45f931e7594925c0d62d4671f33f3ec23aba2323d1544e5edf9fb9ddb4999e0232517d453abb9d413"),
        ("0019_audit_tree.sql", "547658493fe559e7fa18443717dc187d956118ccd5804e4ed7c12921122bc05d65bab641c94d087c42df2f3d927af612"),
        ("0020_checkpoint_notes.sql", "851ea9b61e2add45a3ad11486136e2e4361ec80caa54dfb36f87654d4dc416f5ee4c1a1601ae73aa3cd04d67b568fe8d"),
        ("0021_audit_log_prefixes.sql", "4820c015da33f4f5fd7f9b67cc0f1f6bbbbc881da3fa32e0a979a8bc6806ae0e85abbcac07e8d03326dd5ec772aa13d0"),
        ("0022_audit_witnesses_retention.sql", "b199c4cea338e3277adc324bb440fe9f22d5e42b1b6b9e796deafb04e90b02d5012e7c9ac81a985b30ddea7e7ae33ea6"),
        ("0023_maintenances.sql", "b5b8f393a57ba5b2f939f3453272a67a130d890b5a0de3110bb1b43a0012197c6c64924a53ea7b7b5c72235a75e781a9"),
        ("0024_subscribers.sql", "6021870194237c19fbcba1c65fb6c452baf270518c76e289e54ff4e0de8ad1f2652ef084a71174498e0f1006cf00da39"),
        ("0025_lockbox_generation.sql", "a956a2c69b2456d7126c49dd415f85ce519d6675193234aeaf06d6bbea5141d7f408f44177e38aa06b56ba474523231a"),
        ("0026_issue_components.sql", "8ef591dc1ade1498b63c2a3b2dfdf06f0e2d9392dbdaad492e22c61e10a119a49ea513c260901514a0eaa7bca9a8b7e8"),
    ];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn pinned(dialect: Dialect, expected: &[(&str, &str)]) {
        let rendered = migrations(dialect).unwrap();
        assert!(rendered.len() >= expected.len(), "a migration was removed");
        for ((file, checksum), m) in expected.iter().zip(&rendered) {
            assert_eq!(
                &hex(&m.checksum),
                checksum,
                "{dialect:?} {file} no longer renders what databases already applied"
            );
        }
    }

    #[test]
    fn sqlite_renders_what_databases_already_applied() {
        pinned(Dialect::Sqlite, SQLITE);
    }

    #[test]
    fn postgres_renders_what_databases_already_applied() {
        pinned(Dialect::Postgres, POSTGRES);
    }

    #[test]
    fn every_template_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<&str> = TEMPLATES.iter().map(|(f, _)| *f).collect();
        assert_eq!(files, listed);
        let versions: Vec<i64> = migrations(Dialect::Sqlite)
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(
            migrations(Dialect::Postgres).unwrap()[2].description,
            "issues",
            "described as sqlx describes a file"
        );
    }

    #[test]
    fn words_and_alternatives_render_per_dialect() {
        let t = "CREATE TABLE t (\n    id {{uuid}} {{key}},\n    at {{time}} {{NOT NULL|NULL}}\n@sqlite ) STRICT;\n@postgres );\n";
        assert_eq!(
            render(t, Dialect::Sqlite).unwrap(),
            "CREATE TABLE t (\n    id TEXT PRIMARY KEY NOT NULL,\n    at INTEGER NOT NULL\n) STRICT;\n"
        );
        assert_eq!(
            render(t, Dialect::Postgres).unwrap(),
            "CREATE TABLE t (\n    id UUID PRIMARY KEY,\n    at TIMESTAMPTZ NULL\n);\n"
        );
    }

    #[test]
    fn a_broken_template_is_refused_with_the_reason() {
        assert!(render("a {{uuid", Dialect::Sqlite)
            .unwrap_err()
            .contains("unclosed"));
        assert!(render("a {{serial}}", Dialect::Postgres)
            .unwrap_err()
            .contains("\"serial\""));
    }
}
