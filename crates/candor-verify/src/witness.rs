//! Witness cosignatures in the C2SP `tlog-cosignature` form (`cosignature/v1`, Ed25519):
//! a witness that checked a checkpoint consistent with everything it saw of the log
//! before adds a signature line to the checkpoint; a tenant who requires that witness
//! refuses a checkpoint without it, so a provider that shows the tenant a history it
//! did not show the witness (a split view) is caught.
//!
//! The note format is the `signed_note` crate's; what it lacks is the cosignature
//! algorithm (signature type 0x04: the signed message is `cosignature/v1`, a `time`
//! line, then the checkpoint's text; the signature is the time, big-endian, followed by
//! the Ed25519 signature), which is written here against its `Signer`/`Verifier` traits.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Signer, Verifier, VerifierList, Verifiers as _};

use crate::Failure;

/// The signature type byte of an Ed25519 cosignature/v1 key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// A witness's public key, as a C2SP verifier key `<name>+<id>+base64(0x04 ‖ key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub id: u32,
    pub key: VerifyingKey,
}

fn encoded(key: &VerifyingKey) -> Vec<u8> {
    let mut v = vec![ALG_COSIGNATURE_V1];
    v.extend_from_slice(key.as_bytes());
    v
}

impl WitnessKey {
    pub fn new(name: &str, key: VerifyingKey) -> Result<WitnessKey, Failure> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Failure::BadKey(format!(
                "`{name}` cannot name a witness (no spaces or `+`)"
            )));
        }
        Ok(WitnessKey {
            name: name.to_owned(),
            id: signed_note::key_id(name, &encoded(&key)),
            key,
        })
    }

    /// Parses a witness verifier key (`<name>+<8 hex digits>+<base64>`, type 0x04).
    pub fn parse(vkey: &str) -> Result<WitnessKey, Failure> {
        let bad = |why: &str| {
            Failure::BadKey(format!(
                "`{}` is not a witness key ({why}); it looks like <name>+<8 hex digits>+<base64 of 0x04 and the Ed25519 key>",
                vkey.chars().take(120).collect::<String>()
            ))
        };
        let vkey = vkey.trim();
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("three parts joined by `+`"));
        };
        if id.len() != 8 {
            return Err(bad("the id is 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the id is 8 hex digits"))?;
        let key = STANDARD.decode(key).map_err(|_| bad("the key is base64"))?;
        match key.split_first() {
            Some((&ALG_COSIGNATURE_V1, raw)) => {
                let raw: [u8; 32] = raw.try_into().map_err(|_| bad("a 32-byte Ed25519 key"))?;
                let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("a valid Ed25519 key"))?;
                let parsed = WitnessKey::new(name, key)?;
                if parsed.id != id {
                    return Err(bad("its id is not the hash of its name and key"));
                }
                Ok(parsed)
            }
            Some((0x01, _)) => Err(bad(
                "it is a log's key (type 0x01), not a cosigner's (type 0x04)",
            )),
            _ => Err(bad("its type is not 0x04, Ed25519 cosignature/v1")),
        }
    }

    /// The verifier key text.
    pub fn to_vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            STANDARD.encode(encoded(&self.key))
        )
    }
}

/// The message a cosignature/v1 signs: the header, the time, then the checkpoint text.
fn signed_message(time: u64, text: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {time}\n").into_bytes();
    msg.extend_from_slice(text);
    msg
}

/// A witness's secret key and name, in the `PRIVATE+KEY+<name>+<id>+<base64>` form the
/// C2SP tools write signer keys in (type 0x04 ‖ the 32-byte seed).
pub struct WitnessSigner {
    public: WitnessKey,
    secret: SigningKey,
}

impl WitnessSigner {
    pub fn new(name: &str, seed: [u8; 32]) -> Result<WitnessSigner, Failure> {
        let secret = SigningKey::from_bytes(&seed);
        Ok(WitnessSigner {
            public: WitnessKey::new(name, secret.verifying_key())?,
            secret,
        })
    }

    pub fn public(&self) -> &WitnessKey {
        &self.public
    }

    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.secret.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.public.name,
            self.public.id,
            STANDARD.encode(raw)
        )
    }

    pub fn parse(skey: &str) -> Result<WitnessSigner, Failure> {
        let bad = |why: &str| Failure::BadKey(format!("not a witness secret key file: {why}"));
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("it does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("it is not PRIVATE+KEY+<name>+<id>+<key>"));
        };
        let raw = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ALG_COSIGNATURE_V1, seed)) => seed
                .try_into()
                .map_err(|_| bad("the key is not 32 bytes"))?,
            _ => return Err(bad("its type is not 0x04, Ed25519 cosignature/v1")),
        };
        let signer = WitnessSigner::new(name, seed)?;
        if format!("{:08x}", signer.public.id) != id {
            return Err(bad("its id is not the hash of its name and key"));
        }
        Ok(signer)
    }

    /// Adds this witness's cosignature, made at `time` (seconds since the epoch), to a
    /// checkpoint note; the note's other signatures are kept, an older cosignature by
    /// this witness is replaced.
    pub fn cosign(&self, note: &str, time: u64) -> Result<String, Failure> {
        let mut parsed =
            Note::from_bytes(note.as_bytes()).map_err(|e| Failure::Malformed(e.to_string()))?;
        let signer = TimedSigner { of: self, time };
        parsed
            .add_sigs(&[&signer])
            .map_err(|e| Failure::Malformed(e.to_string()))?;
        String::from_utf8(parsed.to_bytes()).map_err(|e| Failure::Malformed(e.to_string()))
    }
}

struct TimedSigner<'a> {
    of: &'a WitnessSigner,
    time: u64,
}

impl Signer for TimedSigner<'_> {
    fn name(&self) -> &str {
        &self.of.public.name
    }
    fn key_id(&self) -> u32 {
        self.of.public.id
    }
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut sig = self.time.to_be_bytes().to_vec();
        sig.extend_from_slice(
            &self
                .of
                .secret
                .sign(&signed_message(self.time, text))
                .to_bytes(),
        );
        Ok(sig)
    }
}

/// Checks cosignature/v1 signatures by one witness key.
struct CosignatureVerifier(WitnessKey);

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn key_id(&self) -> u32 {
        self.0.id
    }
    fn verify(&self, text: &[u8], sig: &[u8]) -> bool {
        let Some((time, sig)) = split_cosignature(sig) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.0
            .key
            .verify_strict(&signed_message(time, text), &sig)
            .is_ok()
    }
}

/// A cosignature's time and Ed25519 signature (none when it is not 8 + 64 bytes or the
/// time is past 2^63 − 1).
fn split_cosignature(sig: &[u8]) -> Option<(u64, &[u8])> {
    if sig.len() != 8 + 64 {
        return None;
    }
    let (time, sig) = sig.split_at(8);
    let time = u64::from_be_bytes(time.try_into().ok()?);
    (time <= i64::MAX as u64).then_some((time, sig))
}

/// A cosignature that verified: whose, and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub witness: String,
    pub id: u32,
    pub time: u64,
    /// The note's signature line, as written (`— <name> <base64>`).
    pub line: String,
}

/// The cosignatures on `note` by any of `witnesses`, each checked. A signature line of a
/// listed witness that does not verify is a failure (someone forged or damaged it);
/// lines of other keys (the log's own, witnesses not listed) are passed over.
pub fn cosignatures(note: &str, witnesses: &[WitnessKey]) -> Result<Vec<Cosigned>, Failure> {
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| Failure::Malformed(e.to_string()))?;
    let list = VerifierList::new(
        witnesses
            .iter()
            .map(|w| Box::new(CosignatureVerifier(w.clone())) as Box<dyn Verifier>)
            .collect(),
    );
    // `Note::verify` needs at least one verified signature and stops at the first bad
    // one; each line is checked here on its own instead, to say whose is bad.
    let mut found = Vec::new();
    for line in note
        .rsplit_once("\n\n")
        .map_or("", |(_, sigs)| sigs)
        .lines()
    {
        let Ok(sig) = signed_note::Signature::from_bytes(line.as_bytes()) else {
            continue;
        };
        let Ok(verifier) = list.verifier(sig.name(), sig.id()) else {
            continue;
        };
        if !verifier.verify(parsed.text(), sig.signature()) {
            return Err(Failure::Unsigned(format!(
                "witness {} (the cosignature on the checkpoint is not its signature of this checkpoint)",
                sig.name()
            )));
        }
        if found
            .iter()
            .any(|c: &Cosigned| c.witness == sig.name() && c.id == sig.id())
        {
            continue;
        }
        let time = split_cosignature(sig.signature()).map_or(0, |(t, _)| t);
        found.push(Cosigned {
            witness: sig.name().to_owned(),
            id: sig.id(),
            time,
            line: line.to_owned(),
        });
    }
    Ok(found)
}

/// The checkpoint's text (the signed part), without its signature lines.
pub fn note_text(note: &str) -> Result<String, Failure> {
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| Failure::Malformed(e.to_string()))?;
    String::from_utf8(parsed.text().to_vec()).map_err(|e| Failure::Malformed(e.to_string()))
}

/// `note` with `lines` (signature lines) appended, each once.
pub fn with_lines(note: &str, lines: &[String]) -> String {
    let mut out = note.to_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for line in lines {
        let line = line.trim_end();
        if !out.lines().any(|l| l == line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn a_cosignature_is_checked_against_the_cosignature_v1_message() {
        let w = WitnessSigner::new("witness.example.com/w1", [3; 32]).unwrap();
        let cosigned = w.cosign(NOTE, 1_679_315_147).unwrap();
        assert!(cosigned.starts_with(NOTE), "the log's line is kept");
        let found = cosignatures(&cosigned, &[w.public().clone()]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].time, 1_679_315_147);
        assert!(found[0].line.starts_with("— witness.example.com/w1 "));

        // The signature is over `cosignature/v1`, the time and the text, by the key.
        let raw = STANDARD
            .decode(found[0].line.rsplit_once(' ').unwrap().1)
            .unwrap();
        assert_eq!(&raw[..4], &w.public().id.to_be_bytes());
        assert_eq!(&raw[4..12], &1_679_315_147u64.to_be_bytes());
        let msg = format!(
            "cosignature/v1\ntime 1679315147\n{}",
            note_text(NOTE).unwrap()
        );
        let sig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
        assert!(w.public().key.verify_strict(msg.as_bytes(), &sig).is_ok());

        // Another witness's key finds nothing; a changed time or size fails.
        let other = WitnessSigner::new("witness.example.com/w2", [4; 32]).unwrap();
        assert!(cosignatures(&cosigned, &[other.public().clone()])
            .unwrap()
            .is_empty());
        let moved = cosigned.replacen("20852163", "20852164", 1);
        assert!(cosignatures(&moved, &[w.public().clone()]).is_err());
    }

    #[test]
    fn a_cosignature_made_by_another_implementation_verifies() {
        // Made with Python's `cryptography` from the C2SP text alone (the seed of
        // fuzz/seeds/audit_log/cosigned_note): key id, time and signed message agree.
        let vkey = "witness.example/w1+0ad7d35e+BIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
        let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n— witness.example/w1 CtfTXgAAAABkGFDL0l0pFwTk9MykvW0AWQ7aj3wlQOPdkH/U6S+pa35ceaScuEzSwKfIeJ7i4Fxp8hH+ardr70qwEBhCA4/FskmwAg==\n";
        let key = WitnessKey::parse(vkey).unwrap();
        assert_eq!(key.to_vkey(), vkey);
        assert_eq!(
            WitnessSigner::new("witness.example/w1", [1; 32])
                .unwrap()
                .public(),
            &key
        );
        let found = cosignatures(note, &[key]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].time, 1_679_315_147);
    }

    #[test]
    fn keys_round_trip_and_the_key_id_is_the_c2sp_one() {
        let w = WitnessSigner::new("witness.example.com/w1", [3; 32]).unwrap();
        let vkey = w.public().to_vkey();
        assert_eq!(WitnessKey::parse(&vkey).unwrap(), *w.public());
        let mut tagged = vec![0x04];
        tagged.extend_from_slice(w.public().key.as_bytes());
        assert_eq!(
            w.public().id,
            signed_note::key_id("witness.example.com/w1", &tagged)
        );
        let back = WitnessSigner::parse(&w.to_skey()).unwrap();
        assert_eq!(back.public(), w.public());
        // A log's (type 0x01) key is refused with a reason; so is a wrong id.
        let log_key = signed_note::new_ed25519_verifier_key("log.example", &w.public().key);
        assert!(WitnessKey::parse(&log_key)
            .unwrap_err()
            .to_string()
            .contains("log's key"));
        let wrong_id = vkey.replacen(&format!("+{:08x}+", w.public().id), "+00000000+", 1);
        assert!(WitnessKey::parse(&wrong_id).is_err());
        assert!(WitnessSigner::parse("PRIVATE+KEY+x+00000000+AAAA").is_err());
    }

    #[test]
    fn a_forged_cosignature_by_a_listed_witness_is_a_failure() {
        let w = WitnessSigner::new("w.example", [3; 32]).unwrap();
        let forger = WitnessSigner::new("w.example", [5; 32]).unwrap();
        // Same name, other key: another id, so it is not taken for the witness's.
        let forged = forger.cosign(NOTE, 7).unwrap();
        assert!(cosignatures(&forged, &[w.public().clone()])
            .unwrap()
            .is_empty());
        // The witness's id on a signature its key did not make is named.
        let good = w.cosign(NOTE, 7).unwrap();
        let line = good.lines().last().unwrap();
        let mut raw = STANDARD.decode(line.rsplit_once(' ').unwrap().1).unwrap();
        raw[20] ^= 1;
        let bad = format!("{}— w.example {}\n", NOTE, STANDARD.encode(&raw));
        assert!(cosignatures(&bad, &[w.public().clone()])
            .unwrap_err()
            .to_string()
            .contains("witness w.example"));
        assert_eq!(with_lines(NOTE, &[line.to_owned()]), good);
        assert_eq!(with_lines(&good, &[line.to_owned()]), good);
    }
}
