//! Checkpoints in the C2SP formats: a chain's tree head as a `tlog-checkpoint` (origin,
//! size, base64 root), signed as a C2SP `signed-note` with Ed25519. Each chain is its own
//! log with its own origin, `<instance>/audit/<tenant id>` or `<instance>/audit/operator`,
//! and the log's key name is its origin (as witnesses expect), so one Ed25519 key signs
//! every chain under as many names. The formats are the `tlog_tiles` and `signed_note`
//! crates'; what is Candor's own is the naming.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Signer, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::Checkpoint as TreeHead;

use super::tree::TreeHash;
use super::AuditChain;

/// The origin line of a chain's checkpoints: `instance` (a schema-less URL naming the
/// Candor installation, e.g. `status.example.com`) then `/audit/` and the chain.
pub fn origin(instance: &str, chain: AuditChain) -> String {
    let instance = instance.trim().trim_end_matches('/');
    match chain {
        AuditChain::Tenant(t) => format!("{instance}/audit/{t}"),
        AuditChain::Operator => format!("{instance}/audit/operator"),
    }
}

/// Whether `instance` can name logs: C2SP key names have no spaces and no `+`.
pub fn instance_is_valid(instance: &str) -> bool {
    let i = instance.trim();
    !i.is_empty()
        && !i.contains("://")
        && signed_note::is_key_name_valid(&format!("{i}/audit/operator"))
}

/// The public key encoding signed notes hash into key ids: 0x01 (Ed25519) ‖ key.
fn encoded(key: &VerifyingKey) -> Vec<u8> {
    let mut v = vec![0x01];
    v.extend_from_slice(key.as_bytes());
    v
}

/// The verifier key of `origin`'s log signed by `key`, as C2SP writes it
/// (`<name>+<key id>+<base64>`): what a tenant gives `candor verify`, or a witness.
pub fn verifier_key(origin: &str, key: &VerifyingKey) -> String {
    signed_note::new_ed25519_verifier_key(origin, key)
}

/// The key id a signed note's signature line carries for `origin` and `key`.
pub fn key_id(origin: &str, key: &VerifyingKey) -> u32 {
    signed_note::key_id(origin, &encoded(key))
}

struct LogSigner<'a> {
    name: &'a str,
    key: &'a SigningKey,
}

impl Signer for LogSigner<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn key_id(&self) -> u32 {
        key_id(self.name, &self.key.verifying_key())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// What is wrong with a checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the origin `{0}` cannot name a log (no spaces or `+`)")]
    BadOrigin(String),
    #[error("not a C2SP checkpoint: {0}")]
    Malformed(String),
    #[error("the checkpoint is for log `{found}`, not `{expected}`")]
    WrongLog { expected: String, found: String },
    #[error("no signature on the checkpoint verifies with the log's key")]
    Unsigned,
}

/// Signs the tree head (`size`, `root`) of `origin`'s log: the checkpoint's text and the
/// log's signature line, as a signed note.
pub fn sign_checkpoint(
    origin: &str,
    size: u64,
    root: TreeHash,
    key: &SigningKey,
) -> Result<String, NoteError> {
    if !signed_note::is_key_name_valid(origin) {
        return Err(NoteError::BadOrigin(origin.to_owned()));
    }
    let head =
        TreeHead::new(origin, size, root, "").map_err(|e| NoteError::Malformed(e.to_string()))?;
    let mut note =
        Note::new(&head.to_bytes(), &[]).map_err(|e| NoteError::Malformed(e.to_string()))?;
    note.add_sigs(&[&LogSigner { name: origin, key }])
        .map_err(|e| NoteError::Malformed(e.to_string()))?;
    String::from_utf8(note.to_bytes()).map_err(|e| NoteError::Malformed(e.to_string()))
}

/// A checkpoint that verified: its log, size and root.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: TreeHash,
}

/// Verifies a checkpoint note of `origin`'s log against any of `keys` (every audit key
/// the provider has published: a rotation keeps the old ones).
pub fn verify_checkpoint(
    note: &str,
    origin: &str,
    keys: &[VerifyingKey],
) -> Result<VerifiedCheckpoint, NoteError> {
    let verifiers: Vec<Box<dyn Verifier>> = keys
        .iter()
        .filter_map(|k| StandardVerifier::new(&verifier_key(origin, k)).ok())
        .map(|v| Box::new(v) as Box<dyn Verifier>)
        .collect();
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| NoteError::Malformed(e.to_string()))?;
    let (verified, _) = parsed
        .verify(&VerifierList::new(verifiers))
        .map_err(|_| NoteError::Unsigned)?;
    if verified.is_empty() {
        return Err(NoteError::Unsigned);
    }
    let head =
        TreeHead::from_bytes(parsed.text()).map_err(|e| NoteError::Malformed(e.to_string()))?;
    if head.origin() != origin {
        return Err(NoteError::WrongLog {
            expected: origin.to_owned(),
            found: head.origin().to_owned(),
        });
    }
    Ok(VerifiedCheckpoint {
        origin: head.origin().to_owned(),
        size: head.size(),
        root: *head.hash(),
    })
}

/// Base64 of a hash, as checkpoints write roots.
pub fn b64(h: &TreeHash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::TenantId;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_checkpoint_is_a_c2sp_signed_note() {
        let t = TenantId(uuid::Uuid::nil());
        let origin = origin("status.example.com", AuditChain::Tenant(t));
        assert_eq!(
            origin,
            "status.example.com/audit/00000000-0000-0000-0000-000000000000"
        );
        let root = TreeHash([7; 32]);
        let note = sign_checkpoint(&origin, 42, root, &key(1)).unwrap();
        let mut lines = note.lines();
        assert_eq!(lines.next(), Some(origin.as_str()));
        assert_eq!(lines.next(), Some("42"));
        assert_eq!(lines.next(), Some(b64(&root).as_str()));
        assert_eq!(lines.next(), Some(""));
        let sig = lines.next().unwrap();
        assert!(sig.starts_with(&format!("— {origin} ")), "{sig}");
        let ok = verify_checkpoint(&note, &origin, &[key(1).verifying_key()]).unwrap();
        assert_eq!((ok.size, ok.root), (42, root));
        // Any of the published keys will do; a stranger's will not.
        assert!(verify_checkpoint(
            &note,
            &origin,
            &[key(9).verifying_key(), key(1).verifying_key()]
        )
        .is_ok());
        assert_eq!(
            verify_checkpoint(&note, &origin, &[key(2).verifying_key()]),
            Err(NoteError::Unsigned)
        );
    }

    #[test]
    fn a_changed_or_moved_checkpoint_does_not_verify() {
        let a = origin(
            "candor.example",
            AuditChain::Tenant(TenantId(uuid::Uuid::nil())),
        );
        let note = sign_checkpoint(&a, 42, TreeHash([7; 32]), &key(1)).unwrap();
        let grown = note.replacen("\n42\n", "\n43\n", 1);
        assert!(verify_checkpoint(&grown, &a, &[key(1).verifying_key()]).is_err());
        // Another tenant's log: its key name differs, so the signature is not for it.
        let b = origin("candor.example", AuditChain::Operator);
        assert!(verify_checkpoint(&note, &b, &[key(1).verifying_key()]).is_err());
        assert!(sign_checkpoint("has space/audit/x", 1, TreeHash([0; 32]), &key(1)).is_err());
        assert!(!instance_is_valid("https://candor.example"));
        assert!(!instance_is_valid("a+b"));
        assert!(instance_is_valid("candor.example:8443/tenant-logs"));
    }
}
