//! Secrets at rest: AES-256-GCM with a random 96-bit nonce and associated data binding a
//! ciphertext to its owner and field, so a value copied to another row or column fails to
//! decrypt. Stored layout: `version (1 byte) || nonce (12) || ciphertext || tag (16)`.
//!
//! Also keyed fingerprints (HMAC-SHA256 under a key derived from `SECRET_KEY`) for
//! comparing secrets without decrypting them.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{KeyInit as _, Mac};
use sha2::Sha256;

const KEY_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// A secret could not be decrypted: wrong key, tampered bytes or moved ciphertext.
#[derive(Debug, thiserror::Error)]
#[error("secret cannot be decrypted")]
pub struct DecryptError;

/// Encrypts and decrypts secrets at rest.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
}

impl SecretBox {
    /// A box under the 32-byte `SECRET_KEY`.
    pub fn new(key: &[u8; 32]) -> Self {
        let mut mac = <hmac::Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        mac.update(b"delightchat fingerprint key");
        Self {
            cipher: Aes256Gcm::new(key.into()),
            fingerprint_key: mac.finalize().into_bytes().into(),
        }
    }

    /// Encrypts `plaintext`, bound to `aad` (e.g. `channel_id || "access_token"`).
    pub fn seal(&self, plaintext: &str, aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad,
        };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(KEY_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value produced by [`SecretBox::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<String, DecryptError> {
        let (&version, rest) = sealed.split_first().ok_or(DecryptError)?;
        if version != KEY_VERSION || rest.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| DecryptError)?;
        let plaintext = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plaintext).map_err(|_| DecryptError)
    }

    /// A stable keyed fingerprint of a secret: equal secrets give equal fingerprints,
    /// and the fingerprint reveals nothing without `SECRET_KEY`.
    pub fn fingerprint(&self, secret: &str) -> Vec<u8> {
        let mut mac = <hmac::Hmac<Sha256>>::new_from_slice(&self.fingerprint_key)
            .unwrap_or_else(|_| unreachable!());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Associated data binding a secret to its owner row and field.
pub fn aad(owner: uuid::Uuid, field: &str) -> Vec<u8> {
    let mut aad = owner.as_bytes().to_vec();
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// A hint safe to show: the last four characters, e.g. `••••a1b2`.
pub fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if secret.chars().count() <= 8 {
        "••••".to_owned()
    } else {
        format!("••••{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_box() -> SecretBox {
        SecretBox::new(&[7u8; 32])
    }

    #[test]
    fn round_trips_with_the_same_associated_data() {
        let b = secret_box();
        let sealed = b.seal("EAAG-token", b"ch1access_token");
        assert!(!String::from_utf8_lossy(&sealed).contains("EAAG-token"));
        assert_eq!(b.open(&sealed, b"ch1access_token").unwrap(), "EAAG-token");
    }

    #[test]
    fn moved_or_tampered_ciphertext_fails() {
        let b = secret_box();
        let sealed = b.seal("secret", b"ch1app_secret");
        assert!(b.open(&sealed, b"ch2app_secret").is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(b.open(&flipped, b"ch1app_secret").is_err());
        assert!(
            SecretBox::new(&[8u8; 32])
                .open(&sealed, b"ch1app_secret")
                .is_err()
        );
        assert!(b.open(&[], b"x").is_err());
    }

    #[test]
    fn same_plaintext_gets_fresh_nonces() {
        let b = secret_box();
        assert_ne!(b.seal("x", b"a"), b.seal("x", b"a"));
    }

    #[test]
    fn fingerprints_are_stable_and_keyed() {
        let b = secret_box();
        assert_eq!(b.fingerprint("s1"), b.fingerprint("s1"));
        assert_ne!(b.fingerprint("s1"), b.fingerprint("s2"));
        assert_ne!(
            b.fingerprint("s1"),
            SecretBox::new(&[9u8; 32]).fingerprint("s1")
        );
    }

    #[test]
    fn hints_show_only_the_tail() {
        assert_eq!(hint("EAAGabcdefgh1234"), "••••1234");
        assert_eq!(hint("short"), "••••");
    }
}
