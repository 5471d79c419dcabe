//! Short-lived access tokens: HS256 JWTs with `sub`, `iss`, `aud`, `iat`, `exp`, header
//! `typ: at+jwt` and `kid`. The algorithm is pinned (no `alg: none`, no RS/HS confusion),
//! and a token of any other type (e.g. a refresh token) is rejected.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use uuid::Uuid;

use crate::db::ids::UserId;

const ISSUER: &str = "delightchat";
const AUDIENCE: &str = "delightchat-api";
const TOKEN_TYPE: &str = "at+jwt";
const KEY_ID: &str = "v1";
const LEEWAY_SECS: u64 = 30;

/// Why a token was refused; clients only ever see "not authenticated".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad header, algorithm, type or key id.
    #[error("token header rejected")]
    Header,
    /// Bad signature, claims or expiry.
    #[error("token rejected: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// `sub` is not a user id.
    #[error("token subject is not a user id")]
    Subject,
}

impl TokenError {
    /// Whether the token is genuine (signature, type, issuer and audience all check
    /// out) and only its lifetime is over. A forged token never reaches the expiry
    /// check: jsonwebtoken verifies the signature first.
    pub fn is_expiry(&self) -> bool {
        matches!(self, TokenError::Invalid(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature)
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// The session (refresh-token family) the token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// A verified access token.
#[derive(Debug, Clone, Copy)]
pub struct AccessToken {
    /// Who it was issued to.
    pub user_id: UserId,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
    /// The session it belongs to (its refresh-token family), when it names one.
    pub session: Option<Uuid>,
}

/// Issues and verifies access tokens with one HS256 key.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
}

impl JwtKeys {
    /// Keys from `JWT_SECRET` with tokens living `ttl`.
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15)),
        }
    }

    /// A fresh token for `user`, outside any session (tools and benchmarks).
    pub fn issue(&self, user: UserId) -> (String, DateTime<Utc>) {
        self.issue_at(user, None, Utc::now())
    }

    /// A fresh token for `user` in `session` (a refresh-token family): revoking the
    /// session also stops the token.
    pub fn issue_for_session(&self, user: UserId, session: Uuid) -> (String, DateTime<Utc>) {
        self.issue_at(user, Some(session), Utc::now())
    }

    fn issue_at(
        &self,
        user: UserId,
        session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            sid: session.map(|s| s.to_string()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.into());
        header.kid = Some(KEY_ID.into());
        // Encoding HS256 with an in-memory key cannot fail.
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default();
        (token, expires_at)
    }

    /// Verifies signature, algorithm, type, key id, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<AccessToken, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::HS256
            || header.typ.as_deref() != Some(TOKEN_TYPE)
            || header.kid.as_deref() != Some(KEY_ID)
        {
            return Err(TokenError::Header);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let user_id = UserId::parse(&data.claims.sub).ok_or(TokenError::Subject)?;
        let expires_at = DateTime::from_timestamp(data.claims.exp, 0).ok_or(TokenError::Subject)?;
        let session = match data.claims.sid.as_deref() {
            None => None,
            Some(sid) => Some(Uuid::parse_str(sid).map_err(|_| TokenError::Subject)?),
        };
        Ok(AccessToken {
            user_id,
            expires_at,
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use std::time::Duration;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[1u8; 32], Duration::from_secs(900))
    }

    fn forge(header: serde_json::Value, claims: serde_json::Value, secret: &[u8]) -> String {
        use hmac::{KeyInit, Mac};
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    }

    fn claims(exp_offset: i64) -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({"sub": UserId::new().to_string(), "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + exp_offset})
    }

    fn good_header() -> serde_json::Value {
        serde_json::json!({"alg": "HS256", "typ": TOKEN_TYPE, "kid": KEY_ID})
    }

    #[test]
    fn issued_tokens_verify() {
        let user = UserId::new();
        let (token, _) = keys().issue(user);
        assert_eq!(keys().verify(&token).unwrap().user_id, user);
        let session = Uuid::new_v4();
        let (token, _) = keys().issue_for_session(user, session);
        let verified = keys().verify(&token).unwrap();
        assert_eq!((verified.user_id, verified.session), (user, Some(session)));
    }

    #[test]
    fn forged_hand_built_token_with_right_key_verifies() {
        // Guards the forging helper used by the negative tests below.
        assert!(
            keys()
                .verify(&forge(good_header(), claims(600), &[1u8; 32]))
                .is_ok()
        );
    }

    #[test]
    fn rejects_every_malformed_token() {
        let k = keys();
        let cases = [
            (
                "alg none",
                forge(
                    serde_json::json!({"alg": "none", "typ": TOKEN_TYPE, "kid": KEY_ID}),
                    claims(600),
                    &[1u8; 32],
                ),
            ),
            ("wrong key", forge(good_header(), claims(600), &[2u8; 32])),
            (
                "rs256 header",
                forge(
                    serde_json::json!({"alg": "RS256", "typ": TOKEN_TYPE, "kid": KEY_ID}),
                    claims(600),
                    &[1u8; 32],
                ),
            ),
            ("expired", forge(good_header(), claims(-3600), &[1u8; 32])),
            (
                "expired and forged",
                forge(good_header(), claims(-3600), &[2u8; 32]),
            ),
            (
                "unknown kid",
                forge(
                    serde_json::json!({"alg": "HS256", "typ": TOKEN_TYPE, "kid": "v9"}),
                    claims(600),
                    &[1u8; 32],
                ),
            ),
            (
                "wrong typ",
                forge(
                    serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": KEY_ID}),
                    claims(600),
                    &[1u8; 32],
                ),
            ),
            ("garbage", "not.a.jwt".to_owned()),
        ];
        for (name, token) in cases {
            let error = k.verify(&token).unwrap_err();
            assert_eq!(error.is_expiry(), name == "expired", "{name}: {error}");
        }
        let mut no_exp = claims(600);
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(k.verify(&forge(good_header(), no_exp, &[1u8; 32])).is_err());
        let mut wrong_aud = claims(600);
        wrong_aud["aud"] = "other".into();
        assert!(
            k.verify(&forge(good_header(), wrong_aud, &[1u8; 32]))
                .is_err()
        );
        let mut wrong_iss = claims(600);
        wrong_iss["iss"] = "other".into();
        assert!(
            k.verify(&forge(good_header(), wrong_iss, &[1u8; 32]))
                .is_err()
        );
    }
}
