//! Meta Graph API client for agents' outbound replies.
//!
//! One [`GraphClient::send`] call performs exactly one HTTP request to one of:
//!
//! - the Instagram / Messenger Send API, `POST /{version}/{account_id}/messages`
//!   (direct messages and private replies to comments),
//! - the Instagram comment replies edge, `POST /{version}/{comment_id}/replies`,
//! - the WhatsApp Cloud API, `POST /{version}/{phone_number_id}/messages`.
//!
//! The access token travels only in the `Authorization: Bearer` header, never in the URL,
//! and never appears in errors or logs. The answer is classified by the pure function
//! [`classify`] into a [`Sent`] or a [`GraphError`] that tells the outbound worker whether to
//! retry later ([`GraphError::Transient`]), give up with a sentence for the agent
//! ([`GraphError::Permanent`]), or reconcile with echoes / status webhooks before any resend
//! ([`GraphError::Ambiguous`]). This module never retries by itself.
//!
//! One file per job:
//! - `client`: the HTTP transport ([`GraphClient`]: timeouts, URL building, token
//!   redaction, transport failures);
//! - `request`: what is sent ([`SendRequest`] and its JSON bodies) and where the created
//!   message's id sits in the answer ([`SuccessShape`]);
//! - `errors`: Meta's error-code table ([`classify`], [`GraphError`], [`PermanentKind`]);
//! - `ownership`: whether a token belongs to the account a channel names (one or two
//!   reads with [`GraphClient::read`]).

/// A Graph API answer recorded in `tests/fixtures/graph/`.
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/graph/",
            $name
        ))
    };
}

mod client;
mod errors;
pub mod ownership;
mod request;

pub use client::GraphClient;
pub use errors::{GraphError, LOCAL_ERROR_CODE, PermanentKind, UNREACHABLE, classify};
pub use request::{Content, MessagingType, Recipient, SendRequest, Sent, SuccessShape};
