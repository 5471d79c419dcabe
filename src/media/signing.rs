//! Short-lived signed URLs of stored media: `/media/{id}?exp=<unix s>&sig=<hex>`, where
//! `sig` is an HMAC-SHA256 over the id, the owning org and the expiry, under a key
//! derived from `SECRET_KEY`. Whoever holds the URL may fetch the file until it
//! expires; nothing else opens it.

use hmac::{KeyInit as _, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::db::ids::{MediaId, OrgId};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Signs and checks media URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl UrlSigner {
    /// A signer keyed from the server's 32-byte secret.
    pub fn new(secret_key: &[u8; 32]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret_key).unwrap_or_else(|_| unreachable!());
        mac.update(b"delightchat media url key");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, id: MediaId, org: OrgId, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{}.{}.{expires}", id.0, org.0).as_bytes());
        mac
    }

    /// The path and query of `id` (of `org`) valid until `expires` (unix seconds).
    pub fn path(&self, id: MediaId, org: OrgId, expires: i64) -> String {
        let sig = hex::encode(self.mac(id, org, expires).finalize().into_bytes());
        format!("/media/{}?exp={expires}&sig={sig}", id.0)
    }

    /// Whether `sig` signs `id` of `org` until `expires`, and `now` is before then.
    pub fn verify(&self, id: MediaId, org: OrgId, expires: i64, sig: &str, now: i64) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        let expected = self.mac(id, org, expires).finalize().into_bytes();
        let valid: bool = expected.as_slice().ct_eq(&sig).into();
        valid && now < expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_id_org_and_expiry() {
        let signer = UrlSigner::new(&[7; 32]);
        let (id, org) = (MediaId::new(), OrgId::new());
        let path = signer.path(id, org, 1000);
        let sig = path.rsplit("sig=").next().unwrap();
        assert!(signer.verify(id, org, 1000, sig, 999));
        assert!(!signer.verify(id, org, 1000, sig, 1000), "expired");
        assert!(!signer.verify(id, org, 2000, sig, 999), "expiry changed");
        assert!(
            !signer.verify(id, OrgId::new(), 1000, sig, 999),
            "other org"
        );
        assert!(
            !signer.verify(MediaId::new(), org, 1000, sig, 999),
            "other id"
        );
        assert!(
            !UrlSigner::new(&[8; 32]).verify(id, org, 1000, sig, 999),
            "other key"
        );
    }
}
