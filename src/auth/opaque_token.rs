//! Opaque bearer secrets (refresh tokens, invitation links): 256 random bits behind a
//! prefix that names their kind, stored only as SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Characters of the base64url body of 32 random bytes.
const BODY_LEN: usize = 43;

/// A fresh token of kind `prefix` (like `"rt_"`).
pub fn generate(prefix: &str) -> String {
    let secret: [u8; 32] = rand::random();
    format!("{prefix}{}", B64.encode(secret))
}

/// SHA-256 of a well-formed token of kind `prefix`; `None` for anything that cannot be
/// one (so garbage is never looked up).
pub fn digest(prefix: &str, token: &str) -> Option<Vec<u8>> {
    let body = token.strip_prefix(prefix)?;
    (body.len() == BODY_LEN && B64.decode(body).is_ok())
        .then(|| Sha256::digest(token.as_bytes()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_of_the_kind_are_digested() {
        assert!(digest("rt_", "eyJhbGciOiJIUzI1NiJ9.e30.x").is_none());
        assert!(digest("rt_", "rt_short").is_none());
        let token = generate("rt_");
        assert!(digest("rt_", &token).is_some());
        assert!(digest("inv_", &token).is_none());
        assert_ne!(generate("rt_"), token);
    }
}
