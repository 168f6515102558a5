//! A record's leaf: its canonical bytes (every field length-prefixed, in a fixed order, so
//! no two different records encode the same way), hashed as RFC 9162 leaves are. Candor
//! hashes records with this very function; a tenant computes the same bytes from an
//! exported record.

use serde::Deserialize;

const DOMAIN_TAG: &[u8] = b"candor.audit.v1";

/// The fields a record's hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub id: &'a [u8; 16],
    /// The chain: the tenant id, or `operator`.
    pub chain: &'a str,
    pub seq: i64,
    pub tenant_id: Option<&'a str>,
    /// RFC 3339, UTC, microseconds (`2026-11-22T09:00:00.000000Z`).
    pub date: &'a str,
    pub actor: &'a str,
    pub actor_kind: &'a str,
    pub ip_address: Option<&'a str>,
    pub activity: &'a str,
    pub item: Option<&'a str>,
    /// Canonical JSON (object keys sorted, no insignificant whitespace).
    pub details: &'a str,
    pub prev_hash: &'a [u8; 32],
}

fn put(buf: &mut Vec<u8>, field: &[u8]) {
    buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
    buf.extend_from_slice(field);
}

fn put_opt(buf: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put(buf, s.as_bytes());
        }
    }
}

/// The canonical encoding of a record.
pub fn canonical_bytes(f: &Fields<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256 + f.details.len());
    put(&mut buf, DOMAIN_TAG);
    put(&mut buf, f.id);
    put(&mut buf, f.chain.as_bytes());
    put(&mut buf, &f.seq.to_be_bytes());
    put_opt(&mut buf, f.tenant_id);
    put(&mut buf, f.date.as_bytes());
    put(&mut buf, f.actor.as_bytes());
    put(&mut buf, f.actor_kind.as_bytes());
    put_opt(&mut buf, f.ip_address);
    put(&mut buf, f.activity.as_bytes());
    put_opt(&mut buf, f.item);
    put(&mut buf, f.details.as_bytes());
    put(&mut buf, f.prev_hash);
    buf
}

/// A record as its canonical bytes hold it: what an entry bundle carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub id: uuid::Uuid,
    pub chain: String,
    pub seq: i64,
    pub tenant_id: Option<String>,
    pub date: String,
    pub actor: String,
    pub actor_kind: String,
    pub ip_address: Option<String>,
    pub activity: String,
    pub item: Option<String>,
    pub details: String,
    pub prev_hash: [u8; 32],
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn field(&mut self) -> Result<&'a [u8], crate::Failure> {
        let cut = || crate::Failure::Malformed("an entry ends inside a field".into());
        let (len, rest) = self.0.split_first_chunk::<8>().ok_or_else(cut)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| cut())?;
        if rest.len() < len {
            return Err(cut());
        }
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn text(&mut self, what: &str) -> Result<String, crate::Failure> {
        String::from_utf8(self.field()?.to_vec())
            .map_err(|_| crate::Failure::Malformed(format!("an entry's {what} is not UTF-8")))
    }

    fn opt(&mut self, what: &str) -> Result<Option<String>, crate::Failure> {
        let (flag, rest) = self
            .0
            .split_first()
            .ok_or_else(|| crate::Failure::Malformed("an entry ends inside a field".into()))?;
        self.0 = rest;
        match flag {
            0 => Ok(None),
            1 => self.text(what).map(Some),
            _ => Err(crate::Failure::Malformed(format!(
                "an entry's {what} is neither present nor absent"
            ))),
        }
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], crate::Failure> {
        self.field()?
            .try_into()
            .map_err(|_| crate::Failure::Malformed(format!("an entry's {what} is not {N} bytes")))
    }
}

/// Reads a record back from its canonical bytes; anything else is refused.
pub fn decode(bytes: &[u8]) -> Result<Decoded, crate::Failure> {
    let mut r = Reader(bytes);
    if r.field()? != DOMAIN_TAG {
        return Err(crate::Failure::Malformed(
            "an entry is not a Candor audit record (wrong domain tag)".into(),
        ));
    }
    let decoded = Decoded {
        id: uuid::Uuid::from_bytes(r.fixed("id")?),
        chain: r.text("chain")?,
        seq: i64::from_be_bytes(r.fixed("seq")?),
        tenant_id: r.opt("tenant")?,
        date: r.text("date")?,
        actor: r.text("actor")?,
        actor_kind: r.text("actor kind")?,
        ip_address: r.opt("IP address")?,
        activity: r.text("activity")?,
        item: r.opt("item")?,
        details: r.text("details")?,
        prev_hash: r.fixed("previous hash")?,
    };
    if !r.0.is_empty() {
        return Err(crate::Failure::Malformed(
            "an entry has bytes after its last field".into(),
        ));
    }
    Ok(decoded)
}

/// A record as Candor's API and JSON export give it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    pub id: String,
    pub seq: i64,
    pub date: String,
    pub ip_address: Option<String>,
    pub user: String,
    pub actor_kind: String,
    pub activity: String,
    pub item: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
}

impl Exported {
    /// Its leaf index in the log's tree (record `seq` is leaf `seq − 1`); a record whose
    /// seq is not positive is no record of a log.
    pub fn leaf_index(&self) -> Result<u64, crate::Failure> {
        self.seq
            .checked_sub(1)
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| {
                crate::Failure::Record(format!(
                    "record {}: seq {} is not a place in a log",
                    self.id, self.seq
                ))
            })
    }

    /// Its leaf hash, computed from its fields, as a record of the log of `tenant` (a
    /// tenant id; `None` for the operator realm's log).
    pub fn leaf_hash(&self, tenant: Option<&str>) -> Result<tlog_tiles::Hash, crate::Failure> {
        let bad = |what: &str| crate::Failure::Record(format!("record {}: {what}", self.id));
        let id = uuid::Uuid::parse_str(&self.id).map_err(|_| bad("its id is not a UUID"))?;
        let prev: [u8; 32] = hex::decode(&self.prev_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("its prevHash is not 32 bytes of hex"))?;
        // serde_json sorts object keys (no `preserve_order`): this is the canonical text.
        let details = self.details.to_string();
        let fields = Fields {
            id: id.as_bytes(),
            chain: tenant.unwrap_or("operator"),
            seq: self.seq,
            tenant_id: tenant,
            date: &self.date,
            actor: &self.user,
            actor_kind: &self.actor_kind,
            ip_address: self.ip_address.as_deref(),
            activity: &self.activity,
            item: self.item.as_deref(),
            details: &details,
            prev_hash: &prev,
        };
        Ok(tlog_tiles::record_hash(&canonical_bytes(&fields)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exported(seq: i64) -> Exported {
        Exported {
            id: "01a244fc-3963-718c-bceb-319ce9a054f4".into(),
            seq,
            date: "2026-11-22T09:00:00.000000Z".into(),
            ip_address: None,
            user: "system".into(),
            actor_kind: "system".into(),
            activity: "Add-User".into(),
            item: None,
            details: serde_json::json!({"b": 1, "a": 2}),
            prev_hash: "00".repeat(32),
        }
    }

    #[test]
    fn a_record_without_a_place_in_a_log_is_refused_not_skipped() {
        assert_eq!(exported(1).leaf_index().unwrap(), 0);
        for seq in [0, -1, i64::MIN] {
            assert!(exported(seq).leaf_index().is_err(), "seq {seq}");
        }
    }

    #[test]
    fn an_entry_decodes_to_the_fields_it_encodes() {
        let id = uuid::Uuid::now_v7();
        let prev = [7u8; 32];
        let fields = Fields {
            id: id.as_bytes(),
            chain: "t1",
            seq: 42,
            tenant_id: Some("t1"),
            date: "2026-11-22T09:00:00.000000Z",
            actor: "a@b.example",
            actor_kind: "tenantUser",
            ip_address: None,
            activity: "Add-User",
            item: Some("x"),
            details: "{}",
            prev_hash: &prev,
        };
        let bytes = canonical_bytes(&fields);
        let d = decode(&bytes).unwrap();
        assert_eq!((d.id, d.seq, d.chain.as_str()), (id, 42, "t1"));
        assert_eq!(d.item.as_deref(), Some("x"));
        assert_eq!(d.ip_address, None);
        assert_eq!(d.prev_hash, prev);
        for cut in [0, 10, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn a_changed_field_changes_the_leaf() {
        let a = exported(3).leaf_hash(Some("t")).unwrap();
        let mut b = exported(3);
        b.activity = "Remove-User".into();
        assert_ne!(a, b.leaf_hash(Some("t")).unwrap());
        assert_ne!(
            a,
            exported(3).leaf_hash(None).unwrap(),
            "another log's record"
        );
        let mut bad = exported(3);
        bad.prev_hash = "zz".into();
        assert!(bad.leaf_hash(None).is_err());
    }
}
