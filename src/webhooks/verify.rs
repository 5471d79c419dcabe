//! The webhook verification handshake (`GET /webhook/{channelId}` and `GET /webhook`):
//! Meta sends `hub.mode=subscribe`, our verify token and a challenge; we echo the
//! challenge as plain text when the token matches.

use std::collections::HashMap;

use subtle::ConstantTimeEq as _;

/// The parsed query of a verification request.
#[derive(Debug, Default)]
pub struct Handshake {
    mode: Option<String>,
    verify_token: Option<String>,
    challenge: Option<String>,
}

impl Handshake {
    /// Reads `hub.mode`, `hub.verify_token` and `hub.challenge` (names kept verbatim).
    pub fn from_query(query: &HashMap<String, String>) -> Self {
        Self {
            mode: query.get("hub.mode").cloned(),
            verify_token: query.get("hub.verify_token").cloned(),
            challenge: query.get("hub.challenge").cloned(),
        }
    }

    /// The challenge to echo when the request is a subscribe with the `expected` token.
    pub fn answer(&self, expected: &str) -> Option<&str> {
        let token = self.verify_token.as_deref()?;
        let matches =
            !expected.is_empty() && bool::from(token.as_bytes().ct_eq(expected.as_bytes()));
        (self.mode.as_deref() == Some("subscribe") && matches).then_some(self.challenge.as_deref()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(pairs: &[(&str, &str)]) -> Handshake {
        Handshake::from_query(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn answers_only_a_subscribe_with_the_right_token() {
        let ok = handshake(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "tok"),
            ("hub.challenge", "42"),
        ]);
        assert_eq!(ok.answer("tok"), Some("42"));
        assert_eq!(ok.answer("other"), None);
        assert_eq!(ok.answer(""), None);
        let wrong_mode = handshake(&[
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", "tok"),
            ("hub.challenge", "42"),
        ]);
        assert_eq!(wrong_mode.answer("tok"), None);
        assert_eq!(handshake(&[]).answer("tok"), None);
    }
}
