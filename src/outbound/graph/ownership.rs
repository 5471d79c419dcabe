//! Proof that an access token belongs to the Meta account a channel names, asked of the
//! Graph API before a channel is stored or its token replaced. Without it, a tenant could
//! claim another business's account id and receive its app-level deliveries.
//!
//! - Messenger: the token is a Page token, so `GET /me?fields=id` is the Page itself.
//! - Instagram: with Instagram Login, `GET /me?fields=id,user_id` is the professional
//!   account (`user_id` is the id webhooks carry); with a Page token (Facebook Login),
//!   `GET /me?fields=instagram_business_account` names the linked account.
//! - WhatsApp: `GET /{phone-number-id}?fields=id` answers only to a token of the business
//!   that owns the number.

use serde_json::Value;

use super::{GraphClient, GraphError};
use crate::db::enums::Platform;

/// Why a token was not accepted as the account's.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// Meta answered, and the token belongs to some other account.
    #[error("this access token does not belong to Meta account {0}")]
    NotTheAccount(String),
    /// Meta refused the token or the request.
    #[error("Meta refused the access token: {0}")]
    Refused(String),
    /// Meta could not be asked; try again.
    #[error("Meta could not be reached to verify the access token: {0}")]
    Unreachable(String),
}

impl From<GraphError> for OwnershipError {
    fn from(error: GraphError) -> Self {
        match error {
            GraphError::Permanent { reason, .. } => OwnershipError::Refused(reason),
            GraphError::Transient { message, .. } | GraphError::Ambiguous { message } => {
                OwnershipError::Unreachable(message)
            }
        }
    }
}

/// Checks that `token` is a token of `account` on `platform`.
pub async fn verify(
    graph: &GraphClient,
    platform: Platform,
    account: &str,
    token: &str,
) -> Result<(), OwnershipError> {
    let owned = match platform {
        Platform::Messenger => id_is(&graph.read(token, "me", "id").await?, account),
        Platform::WhatsApp => id_is(&graph.read(token, account, "id").await?, account),
        Platform::Instagram => match graph.read(token, "me", "id,user_id").await {
            Ok(me) if id_is(&me, account) || me["user_id"].as_str() == Some(account) => true,
            // A Page token (Facebook Login): the Page's linked Instagram account.
            _ => {
                let page = graph
                    .read(token, "me", "instagram_business_account")
                    .await?;
                id_is(&page["instagram_business_account"], account)
            }
        },
    };
    if owned {
        Ok(())
    } else {
        Err(OwnershipError::NotTheAccount(account.to_owned()))
    }
}

/// Whether `node` is the account (Graph ids are strings).
fn id_is(node: &Value, account: &str) -> bool {
    node["id"].as_str() == Some(account)
}
