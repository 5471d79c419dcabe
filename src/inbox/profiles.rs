//! Customer profiles from the platforms' User Profile APIs (Instagram: name, username,
//! picture, verified flag, follower count; Messenger: first and last name, picture),
//! and names agents give customers.
//!
//! A fetched profile updates the identity, follows the platform's name on the customer
//! unless an agent named them ([`crate::db::enums::NameSource`]), sets the avatar, and
//! tells dashboards through a `TICKET_UPDATED` event per ticket of the customer.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::Value;
use uuid::Uuid;

use super::outbox::{Committed, Outbox};
use crate::db::customers::{self, Customer, FetchedProfile};
use crate::db::enums::{EventKind, Platform};
use crate::db::ids::{CustomerId, OrgId};
use crate::error::{AppError, AppResult};

/// Longest name an agent may give a customer.
const NAME_CHARS: usize = 200;

/// A profile as the platform's User Profile API returned it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Full name.
    pub name: Option<String>,
    /// Handle (Instagram).
    pub username: Option<String>,
    /// Picture URL (expires after a few days).
    pub picture: Option<String>,
    /// Verified account (Instagram).
    pub verified: Option<bool>,
    /// Followers (Instagram).
    pub followers: Option<i64>,
}

impl Profile {
    /// The `fields` to ask the User Profile API of `platform` for; `None` when the
    /// platform has no such API (WhatsApp names come with webhooks).
    pub fn fields(platform: Platform) -> Option<&'static str> {
        match platform {
            Platform::Instagram => {
                Some("name,username,profile_pic,is_verified_user,follower_count")
            }
            Platform::Messenger => Some("first_name,last_name,profile_pic"),
            Platform::WhatsApp => None,
        }
    }

    /// Reads the API's answer for `platform`: Instagram
    /// `{name, username, profile_pic, is_verified_user, follower_count}`, Messenger
    /// `{first_name, last_name, profile_pic}`.
    pub fn parse(platform: Platform, body: &Value) -> Self {
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| t.chars().take(NAME_CHARS).collect::<String>())
        };
        match platform {
            Platform::Messenger => {
                let parts: Vec<String> = [text("first_name"), text("last_name")]
                    .into_iter()
                    .flatten()
                    .collect();
                Profile {
                    name: (!parts.is_empty()).then(|| parts.join(" ")),
                    picture: text_url(body, "profile_pic"),
                    ..Profile::default()
                }
            }
            _ => Profile {
                name: text("name"),
                username: text("username"),
                picture: text_url(body, "profile_pic"),
                verified: body.get("is_verified_user").and_then(Value::as_bool),
                followers: body.get("follower_count").and_then(Value::as_i64),
            },
        }
    }
}

/// An https URL field, or nothing.
fn text_url(body: &Value, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|url| url.starts_with("https://") && url.len() <= 2048)
        .map(str::to_owned)
}

/// Stores a fetched profile of identity `identity` (gone identities are ignored).
pub async fn apply(
    conn: &mut AsyncPgConnection,
    identity: Uuid,
    profile: &Profile,
) -> diesel::QueryResult<Committed<()>> {
    conn.transaction(async |conn| {
        let Some(stored) = customers::identity_for_update(conn, identity).await? else {
            return Ok(Committed::quiet(()));
        };
        let now = Utc::now();
        let seen = |value: &Option<String>, at| value.as_ref().map(|_| now).or(at);
        let fetched = FetchedProfile {
            username: profile.username.as_deref().or(stored.username.as_deref()),
            username_seen_at: seen(&profile.username, stored.username_seen_at),
            display_name: profile.name.as_deref().or(stored.display_name.as_deref()),
            display_name_seen_at: seen(&profile.name, stored.display_name_seen_at),
            profile_pic_url: Some(profile.picture.as_deref()),
            is_verified: Some(profile.verified),
            follower_count: Some(profile.followers),
            profile_fetched_at: now,
        };
        customers::store_fetched_profile(conn, stored.id, &fetched).await?;
        let before = stored
            .display_name
            .as_deref()
            .or(stored.username.as_deref());
        let after = fetched.display_name.or(fetched.username);
        let renamed =
            customers::rename_if_unedited(conn, stored.customer_id, before, after).await?;
        let pictured = match &profile.picture {
            Some(url) => customers::set_avatar(conn, stored.customer_id, url).await?,
            None => false,
        };
        let mut outbox = Outbox::default();
        if renamed || pictured {
            customer_changed(conn, &mut outbox, stored.org_id, stored.customer_id).await?;
        }
        outbox.commit(conn, ()).await
    })
    .await
}

/// An agent names a customer (`Some`: never overwritten by the platform afterwards) or
/// hands naming back to the platform (`None`).
pub async fn rename(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: CustomerId,
    name: Option<String>,
) -> AppResult<Committed<Customer>> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_CHARS)
    {
        return Err(AppError::bad_input(format!(
            "a customer's name is at most {NAME_CHARS} characters"
        )));
    }
    conn.transaction(async |conn| {
        let identities = customers::identities_of(conn, &[id]).await?;
        let fallback = identities
            .iter()
            .find_map(|i| i.display_name.as_deref().or(i.username.as_deref()));
        let customer = customers::set_name(conn, org, id, name.as_deref(), fallback)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        customer_changed(conn, &mut outbox, org, id).await?;
        Ok(outbox.commit(conn, customer).await?)
    })
    .await
}

/// Queues a `TICKET_UPDATED` event for each ticket of the customer (dashboards show the
/// customer through their tickets).
async fn customer_changed(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    org: OrgId,
    customer: CustomerId,
) -> diesel::QueryResult<()> {
    for ticket in customers::ticket_ids(conn, customer).await? {
        outbox.ticket(org, EventKind::TicketUpdated, ticket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messenger_names_join_first_and_last() {
        let p = Profile::parse(
            Platform::Messenger,
            &json!({"first_name": "Peter", "last_name": "Chang", "profile_pic": "https://x.test/p.jpg", "id": "1"}),
        );
        assert_eq!(p.name.as_deref(), Some("Peter Chang"));
        assert_eq!(p.picture.as_deref(), Some("https://x.test/p.jpg"));
    }

    #[test]
    fn instagram_fields_are_read_and_bad_urls_dropped() {
        let p = Profile::parse(
            Platform::Instagram,
            &json!({"name": " Lena ", "username": "lena.bakes", "profile_pic": "javascript:alert(1)",
                    "is_verified_user": true, "follower_count": 1234}),
        );
        assert_eq!(p.name.as_deref(), Some("Lena"));
        assert_eq!(p.username.as_deref(), Some("lena.bakes"));
        assert_eq!(p.picture, None);
        assert_eq!((p.verified, p.followers), (Some(true), Some(1234)));
    }
}
