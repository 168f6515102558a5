use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use time::OffsetDateTime;

use super::{AuditChain, ChainHead};
use crate::time_util::rfc3339;

/// A signed statement "chain C had head H at seq S, as of time T".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub chain: String,
    pub seq: i64,
    pub head_hash: [u8; 32],
    pub created_at: OffsetDateTime,
    pub key_id: String,
    pub signature: Vec<u8>,
    /// The chain's Merkle tree head at `seq` records as a C2SP checkpoint, signed note
    /// (`note.rs`); none on checkpoints from before the tree, or while a chain's older
    /// records have not yet been caught up into it.
    pub note: Option<String>,
}

fn signed_bytes(chain: &str, seq: i64, hash: &[u8; 32], at: OffsetDateTime) -> Vec<u8> {
    format!(
        "candor.checkpoint.v1\n{chain}\n{seq}\n{}\n{}",
        hex::encode(hash),
        rfc3339(at)
    )
    .into_bytes()
}

impl Checkpoint {
    pub fn sign(
        chain: AuditChain,
        head: ChainHead,
        at: OffsetDateTime,
        key_id: &str,
        key: &SigningKey,
    ) -> Checkpoint {
        let chain = chain.key();
        let at = crate::time_util::truncate_to_micros(at);
        let sig = key.sign(&signed_bytes(&chain, head.seq, &head.hash, at));
        Checkpoint {
            chain,
            seq: head.seq,
            head_hash: head.hash,
            created_at: at,
            key_id: key_id.to_owned(),
            signature: sig.to_bytes().to_vec(),
            note: None,
        }
    }

    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), String> {
        let sig = Signature::from_slice(&self.signature)
            .map_err(|_| "the signature is not 64 bytes".to_owned())?;
        key.verify(
            &signed_bytes(&self.chain, self.seq, &self.head_hash, self.created_at),
            &sig,
        )
        .map_err(|_| "the signature does not verify".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_checkpoint_verifies_with_its_key_only() {
        let head = ChainHead {
            seq: 42,
            hash: [7; 32],
        };
        let cp = Checkpoint::sign(
            AuditChain::Operator,
            head,
            datetime!(2026-11-22 3:00 UTC),
            "k1",
            &key(1),
        );
        assert!(cp.verify_signature(&key(1).verifying_key()).is_ok());
        assert!(cp.verify_signature(&key(2).verifying_key()).is_err());
    }

    #[test]
    fn a_moved_checkpoint_does_not_verify() {
        let head = ChainHead {
            seq: 42,
            hash: [7; 32],
        };
        let mut cp = Checkpoint::sign(
            AuditChain::Operator,
            head,
            datetime!(2026-11-22 3:00 UTC),
            "k1",
            &key(1),
        );
        cp.seq = 41;
        assert!(cp.verify_signature(&key(1).verifying_key()).is_err());
    }
}

/// A witness a log accepts cosignatures from (C2SP `tlog-cosignature`), with the newest
/// cosignature it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditWitness {
    pub id: uuid::Uuid,
    pub chain: String,
    /// The witness's key name, e.g. `witness.example.com/w1`.
    pub name: String,
    pub key_id: u32,
    /// Its verifier key, `<name>+<id>+<base64 of 0x04 ‖ Ed25519 key>`.
    pub verifier_key: String,
    pub added_at: OffsetDateTime,
    pub cosigned: Option<Cosignature>,
}

/// A witness's cosignature of the log's checkpoint of `size` records: the signature
/// line it added to that checkpoint, and when Candor received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub size: u64,
    pub line: String,
    pub received_at: OffsetDateTime,
}
