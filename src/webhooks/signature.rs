//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the exact received bytes with the
//! app secret, compared in constant time. Pure: no IO.
//!
//! Only `sha256=` followed by 64 hex digits is accepted. Meta sends lowercase hex;
//! uppercase is accepted too since it encodes the same digest (the comparison is on the
//! decoded bytes, still constant-time).

use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing signature header")]
    Missing,
    /// The header is not `sha256=<64 hex digits>` (e.g. a `sha1=` value).
    #[error("malformed signature header")]
    Malformed,
    /// Well-formed, but not the HMAC of this body with this secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies `header` (the raw header value, if any) against `body` and `secret`.
pub fn verify(header: Option<&[u8]>, body: &[u8], secret: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = decode_hex_32(hex_digest).ok_or(SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body` signed with `secret`.
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn decode_hex_32(hex_digest: &[u8]) -> Option<[u8; 32]> {
    if hex_digest.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";

    #[test]
    fn github_published_test_vector_verifies() {
        // From GitHub's "Validating webhook deliveries" documentation.
        let header = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(verify(Some(header), BODY, SECRET), Ok(()));
        assert_eq!(sign(BODY, SECRET).as_bytes(), header);
    }

    #[test]
    fn rejects_missing_malformed_and_mismatched_signatures() {
        let good = sign(BODY, SECRET);
        assert_eq!(verify(None, BODY, SECRET), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(b"sha1=0123"), BODY, SECRET),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(b"sha256=zz"), BODY, SECRET),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                Some(good.trim_start_matches("sha256=").as_bytes()),
                BODY,
                SECRET
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(good.as_bytes()), b"Hello, World?", SECRET),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(good.as_bytes()), BODY, b"another secret"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(good.as_bytes()), b"", SECRET),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn signature_covers_the_exact_escaped_bytes() {
        // Meta escapes non-ASCII as \uXXXX; the same text re-serialized differs.
        let escaped = br#"{"text":"Ol\u00e1 \u2764\ufe0f","url":"https:\/\/x"}"#;
        let reserialized =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(escaped).unwrap())
                .unwrap();
        let header = sign(escaped, SECRET);
        assert_eq!(verify(Some(header.as_bytes()), escaped, SECRET), Ok(()));
        assert_eq!(
            verify(Some(header.as_bytes()), &reserialized, SECRET),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn uppercase_hex_of_the_right_digest_is_accepted() {
        let upper = format!(
            "sha256={}",
            sign(BODY, SECRET)
                .trim_start_matches("sha256=")
                .to_uppercase()
        );
        assert_eq!(verify(Some(upper.as_bytes()), BODY, SECRET), Ok(()));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_only_the_true_signature_passes(body: Vec<u8>, header: Vec<u8>) {
            let forged = verify(Some(&header), &body, SECRET);
            let genuine = sign(&body, SECRET);
            proptest::prop_assert!(forged.is_err() || header.eq_ignore_ascii_case(genuine.as_bytes()));
            proptest::prop_assert_eq!(verify(Some(genuine.as_bytes()), &body, SECRET), Ok(()));
        }
    }
}
