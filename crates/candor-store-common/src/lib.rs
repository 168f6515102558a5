//! What both stores share: the schema (`migrations`, rendered per dialect), the
//! statements in `shared/` (which each store `include!`s over its own driver types), and
//! the audit group-commit writer (`group_commit`): appends that arrive while a commit is
//! in flight are gathered, sealed ahead and committed together, so one fsync serves many
//! records. Each store supplies only the function that commits one group in its own
//! dialect.

mod group_commit;
pub mod migrations;

pub use group_commit::{Ahead, Committed, Group, GroupCommitter, Slot, MAX_GROUP_COMMIT};

use candor_domain::audit::tree::Frontier;
use candor_domain::audit::{ChainHead, ChainTip};
use candor_domain::store::{StoreError, StoreResult};

/// The columns of `audit_records` a record is written with, in the order both stores
/// bind them.
pub const AUDIT_RECORD_COLS: &str = "chain, seq, id, tenant_id, occurred_at, actor, actor_kind, ip_address, activity, item, details, prev_hash, hash, tree_hashes";

/// The tree hashes of a record, as stored: concatenated.
pub fn packed(hashes: &[[u8; 32]]) -> Vec<u8> {
    hashes.iter().flatten().copied().collect()
}

/// A chain head as both stores read it: chain, seq, hash, tree size, frontier.
pub type HeadRow = (String, i64, Vec<u8>, i64, Option<Vec<u8>>);

/// The tip a stored chain head describes.
pub fn tip_of(row: HeadRow) -> StoreResult<(String, ChainTip)> {
    let (chain, seq, hash, tree_size, frontier) = row;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("chain head of {chain} is not 32 bytes")))?;
    let size = u64::try_from(tree_size)
        .map_err(|_| StoreError::Corrupt(format!("chain head of {chain}: negative tree size")))?;
    let tree = Frontier::from_parts(size, &frontier.unwrap_or_default())
        .map_err(|e| StoreError::Corrupt(format!("chain head of {chain}: {e}")))?;
    Ok((
        chain,
        ChainTip {
            head: ChainHead { seq, hash },
            tree,
        },
    ))
}

/// The statements both stores compile (`shared/`, `include!`d by each store crate), as
/// text, for the checks below.
#[cfg(test)]
const SHARED: &[(&str, &str)] = &[
    ("audit.rs", include_str!("../shared/audit.rs")),
    ("contacts.rs", include_str!("../shared/contacts.rs")),
    ("deliveries.rs", include_str!("../shared/deliveries.rs")),
    ("elevations.rs", include_str!("../shared/elevations.rs")),
    ("feeds.rs", include_str!("../shared/feeds.rs")),
    ("identity.rs", include_str!("../shared/identity.rs")),
    ("issues.rs", include_str!("../shared/issues.rs")),
    ("jobs.rs", include_str!("../shared/jobs.rs")),
    ("keys.rs", include_str!("../shared/keys.rs")),
    ("lockbox.rs", include_str!("../shared/lockbox.rs")),
    ("maintenances.rs", include_str!("../shared/maintenances.rs")),
    ("messages.rs", include_str!("../shared/messages.rs")),
    ("operator_api.rs", include_str!("../shared/operator_api.rs")),
    ("rows.rs", include_str!("../shared/rows.rs")),
    ("subscribers.rs", include_str!("../shared/subscribers.rs")),
    ("topology.rs", include_str!("../shared/topology.rs")),
];

#[cfg(test)]
mod shared_statements {
    use super::SHARED;

    /// The `$N` placeholders of each string literal, in order of appearance, and whether
    /// the literal interpolates text (`{…}`, which may bring placeholders of its own).
    fn placeholders(source: &str) -> Vec<(Vec<u32>, bool)> {
        let mut literals = Vec::new();
        let mut chars = source.chars().peekable();
        let mut in_literal = false;
        let mut current = Vec::new();
        let mut interpolates = false;
        while let Some(c) = chars.next() {
            match (in_literal, c) {
                (false, '"') => in_literal = true,
                (true, '\\') => {
                    chars.next();
                }
                (true, '"') => {
                    in_literal = false;
                    literals.push((std::mem::take(&mut current), interpolates));
                    interpolates = false;
                }
                (true, '{') => {
                    if chars.peek() == Some(&'{') {
                        chars.next();
                    } else {
                        interpolates = true;
                    }
                }
                (true, '$') => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        n.push(*d);
                        chars.next();
                    }
                    if let Ok(n) = n.parse() {
                        current.push(n);
                    }
                }
                _ => {}
            }
        }
        literals
    }

    /// SQLite numbers `$N` parameters by first appearance, PostgreSQL by N: the two
    /// agree only when each statement first uses them in order 1, 2, 3 … (reuse is fine).
    /// Where a literal interpolates text (`rows::reached_tenants`, `dialect::each`), the
    /// interpolated placeholders are not seen here, so its own need only ascend.
    #[test]
    fn every_shared_statement_numbers_its_placeholders_in_order() {
        let mut statements = 0;
        for (file, source) in SHARED {
            for (used, interpolates) in placeholders(source)
                .into_iter()
                .filter(|(p, _)| !p.is_empty())
            {
                statements += 1;
                let mut highest = match (interpolates, used.first()) {
                    (true, Some(first)) => first - 1,
                    _ => 0,
                };
                for n in &used {
                    assert!(
                        *n <= highest + 1,
                        "{file}: ${n} is used before ${} in a statement using {used:?}",
                        highest + 1
                    );
                    highest = highest.max(*n);
                }
            }
        }
        assert!(statements > 20, "only {statements} statements found");
    }

    #[test]
    fn the_check_sees_a_statement_out_of_order() {
        let found = placeholders(r#"x("SELECT a FROM t WHERE b = $2 AND c = $1")"#);
        assert_eq!(found, vec![(vec![2, 1], false)]);
        let found = placeholders(r#"x("SELECT a FROM ({reached}) WHERE b = $3 LIMIT {{n}}")"#);
        assert_eq!(found, vec![(vec![3], true)]);
    }

    /// A `?` placeholder would be SQLite's alone: PostgreSQL refuses it.
    #[test]
    fn no_shared_statement_uses_question_mark_placeholders() {
        for (file, source) in SHARED {
            for literal in source.split('"').skip(1).step_by(2) {
                let sql = ["SELECT", "INSERT", "UPDATE", "DELETE"]
                    .iter()
                    .any(|k| literal.contains(k));
                assert!(
                    !(sql && literal.contains('?')),
                    "{file}: a `?` placeholder in {literal:?}"
                );
            }
        }
    }

    /// Every file in `shared/` is checked (a new one must be listed in `SHARED`).
    #[test]
    fn every_shared_file_is_checked() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shared");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".rs"))
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = SHARED.iter().map(|(f, _)| *f).collect();
        assert_eq!(on_disk, listed);
    }
}
