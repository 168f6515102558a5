//! Lockbox decisions as the API shows them (`GET /api/v1/lockbox/requests/{id}`): each
//! decision is signed with the audit key over a text naming the request, the tenant, the
//! access granted and the decision; the tenant checks the signature with the key it holds
//! for its log, and (reading the log) that the decision's audit record carries the same
//! signature.

use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::Deserialize;

use crate::Failure;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    pub by: String,
    pub signing_key_id: Option<String>,
    pub signature: Option<String>,
    pub signed_form: Option<String>,
    pub audit_record_id: Option<String>,
    pub leaf_index: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    pub id: String,
    pub tenant_id: String,
    pub internal_decision: Option<DecisionView>,
    pub customer_decision: Option<DecisionView>,
    pub ended: Option<DecisionView>,
}

impl RequestView {
    /// Its decisions, by the step the signed form names.
    pub fn decisions(&self) -> Vec<(&'static str, &DecisionView)> {
        [
            ("internal", &self.internal_decision),
            ("customer", &self.customer_decision),
            ("end", &self.ended),
        ]
        .into_iter()
        .filter_map(|(step, d)| d.as_ref().map(|d| (step, d)))
        .collect()
    }
}

/// Requests from a file: one request, a list of them, or a page (`{"value": [...]}`).
pub fn parse_requests(text: &str) -> Result<Vec<RequestView>, Failure> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(Box<RequestView>),
        Many(Vec<RequestView>),
        Page { value: Vec<RequestView> },
    }
    let shape: Shape = serde_json::from_str(text).map_err(|e| {
        Failure::Malformed(format!("not Lockbox requests as the API gives them: {e}"))
    })?;
    Ok(match shape {
        Shape::One(r) => vec![*r],
        Shape::Many(v) | Shape::Page { value: v } => v,
    })
}

/// The Ed25519 key inside a C2SP verifier key (`<name>+<hash>+<base64 of 0x01 ‖ key>`).
pub fn raw_key(verifier_key: &str) -> Result<VerifyingKey, Failure> {
    let bad = |why: &str| Failure::BadKey(why.to_owned());
    // The name and the key hash contain no `+`; the base64 key may.
    let encoded = verifier_key
        .splitn(3, '+')
        .nth(2)
        .ok_or_else(|| bad("no key in it"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| bad("its key is not base64"))?;
    match bytes.split_first() {
        Some((1, key)) => {
            let key: [u8; 32] = key.try_into().map_err(|_| bad("not 32 bytes"))?;
            VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 key"))
        }
        _ => Err(bad("not an Ed25519 key (algorithm 1)")),
    }
}

/// Checks one decision: signed by `key` over its signed form, and the signed form is of
/// this request, this tenant, this step and this decider (so a signature cannot be
/// moved to another decision).
pub fn check_decision(
    request: &RequestView,
    step: &str,
    decision: &DecisionView,
    key: &VerifyingKey,
) -> Result<(), Failure> {
    let fail =
        |why: String| Failure::Record(format!("request {} ({step} decision): {why}", request.id));
    let (Some(signature), Some(form)) = (&decision.signature, &decision.signed_form) else {
        return Err(fail("it is not signed".into()));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| fail("its signature is not base64".into()))?;
    let signature =
        Signature::from_slice(&bytes).map_err(|_| fail("its signature is not Ed25519".into()))?;
    key.verify(form.as_bytes(), &signature)
        .map_err(|_| fail("its signature does not verify with your key".into()))?;
    let line = |name: &str| {
        form.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_owned()
    };
    for (name, want) in [
        ("id", request.id.as_str()),
        ("tenant", request.tenant_id.as_str()),
        ("step", step),
        ("by", decision.by.as_str()),
    ] {
        let signed = line(name);
        if signed != want {
            return Err(fail(format!(
                "what was signed says {name} `{signed}`, the request says `{want}`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn signed(key: &SigningKey, form: &str) -> DecisionView {
        DecisionView {
            by: "ann@contoso.example".into(),
            signing_key_id: Some("k".into()),
            signature: Some(
                base64::engine::general_purpose::STANDARD
                    .encode(key.sign(form.as_bytes()).to_bytes()),
            ),
            signed_form: Some(form.into()),
            audit_record_id: None,
            leaf_index: None,
        }
    }

    #[test]
    fn a_decision_verifies_only_for_its_own_request_and_key() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let form = "candor-lockbox-decision-v1\nid=r1\ntenant=t1\nstep=customer\noutcome=Approve\nby=ann@contoso.example\n";
        let request = RequestView {
            id: "r1".into(),
            tenant_id: "t1".into(),
            internal_decision: None,
            customer_decision: Some(signed(&key, form)),
            ended: None,
        };
        let d = request.customer_decision.as_ref().unwrap();
        assert!(check_decision(&request, "customer", d, &key.verifying_key()).is_ok());
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(check_decision(&request, "customer", d, &other).is_err());
        assert!(check_decision(&request, "internal", d, &key.verifying_key()).is_err());
        let moved = RequestView {
            id: "r2".into(),
            ..request.clone()
        };
        assert!(check_decision(&moved, "customer", d, &key.verifying_key()).is_err());
        let mut edited = d.clone();
        edited.signed_form = Some(form.replace("Approve", "Deny"));
        assert!(check_decision(&request, "customer", &edited, &key.verifying_key()).is_err());
    }

    #[test]
    fn the_key_comes_out_of_a_verifier_key() {
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let mut raw = vec![1u8];
        raw.extend_from_slice(key.as_bytes());
        let vkey = format!(
            "log+01020304+{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        assert_eq!(raw_key(&vkey).unwrap(), key);
        // Base64 has `+` in it for some keys: the key is everything after the hash.
        for seed in 0..64u8 {
            let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
            let mut raw = vec![1u8];
            raw.extend_from_slice(key.as_bytes());
            let vkey = format!(
                "log+01020304+{}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            );
            assert_eq!(raw_key(&vkey).unwrap(), key, "{vkey}");
        }
        assert!(raw_key("log+01020304+AAAA").is_err());
        // Made elsewhere (Python's `cryptography`, the C2SP key hash by hand) from the
        // seed [5; 32]: the same name, hash and key.
        let made =
            "candor.local/audit/operator+8ab135ea+AW56HN0psLeP0Tr0xVmP7/TvKpcWbjym8uT7/M2AUFvx";
        assert_eq!(
            raw_key(made).unwrap(),
            SigningKey::from_bytes(&[5; 32]).verifying_key()
        );
        assert_eq!(
            crate::key_name(made).unwrap(),
            "candor.local/audit/operator"
        );
        let ours = signed_note::StandardVerifier::new(made).unwrap();
        assert_eq!(
            signed_note::Verifier::name(&ours),
            "candor.local/audit/operator"
        );
    }
}
