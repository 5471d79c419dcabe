//! `Customer` and `CustomerIdentity`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::channel::Channel;
use super::label::Label;
use super::ticket::{self, Ticket};
use super::to_id;
use crate::db::enums::{NameSource, Platform};
use crate::db::{customers, tickets};
use crate::graphql::connection::{complexity, page_query};
use crate::graphql::flat::{Flat, RowFields, out, text};
use crate::graphql::loaders::{IdentitiesOf, LabelsOfCustomer, Loaders};

/// Someone who wrote to the org, on one or more channels.
pub struct Customer(pub customers::Customer);

#[Object]
impl Customer {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Who set `name`: the platform (kept current) or an agent (never overwritten).
    async fn name_source(&self) -> NameSource {
        self.0.name_source
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }

    /// Blocked customers' messages are kept but reopen and notify nothing, and replies
    /// to them are refused.
    async fn blocked(&self) -> bool {
        self.0.blocked_at.is_some()
    }

    async fn blocked_at(&self) -> Option<DateTime<Utc>> {
        self.0.blocked_at
    }

    async fn labels(&self, ctx: &Context<'_>) -> Result<Vec<Label>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(LabelsOfCustomer(self.0.id))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Label).collect())
    }

    /// Who the customer is on each channel.
    async fn identities(&self, ctx: &Context<'_>) -> Result<Vec<Flat<CustomerIdentity>>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(IdentitiesOf(self.0.id))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|i| Flat(CustomerIdentity(i)))
            .collect())
    }

    /// The customer's tickets, most recently active first.
    #[graphql(complexity = "complexity(first, None, child_complexity)")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Flat<Ticket>>> {
        let filter = tickets::TicketFilter {
            customer_id: Some(self.0.id),
            ..Default::default()
        };
        // Boxed: every field of a customer is resolved in a future the size of its
        // largest field's, which this page's would be.
        let page = page_query(first, after, None, None, false)?;
        Box::pin(ticket::page(ctx, self.0.org_id, &filter, page)).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A customer's identity on one channel.
pub struct CustomerIdentity(pub customers::Identity);

#[Object]
impl CustomerIdentity {
    async fn platform(&self) -> Result<Platform> {
        Ok(self.0.platform)
    }

    /// IGSID, PSID, WhatsApp id or business-scoped user id.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }

    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }

    /// Profile picture from the platform's profile API (the URL expires after days).
    async fn profile_pic_url(&self) -> Option<&str> {
        self.0.profile_pic_url.as_deref()
    }

    /// Whether the platform verified the account (Instagram).
    async fn is_verified(&self) -> Option<bool> {
        self.0.is_verified
    }

    /// Followers (Instagram).
    async fn follower_count(&self) -> Option<i64> {
        self.0.follower_count
    }

    /// When the platform's profile API last answered for this identity.
    async fn profile_fetched_at(&self) -> Option<DateTime<Utc>> {
        self.0.profile_fetched_at
    }

    async fn channel(&self, ctx: &Context<'_>) -> Result<Flat<Channel>> {
        let channel = ctx.data::<Loaders>()?.load_one(self.0.channel_id).await?;
        channel
            .map(|c| Flat(Channel(c)))
            .ok_or_else(|| "channel not found".into())
    }
}

impl RowFields for Customer {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let c = &self.0;
        Some(match name {
            "id" => out(&to_id(c.id)),
            "name" => text(c.name.as_deref()),
            "nameSource" => out(&c.name_source),
            "avatarUrl" => text(c.avatar_url.as_deref()),
            "notes" => text(c.notes.as_deref()),
            "blocked" => out(&c.blocked_at.is_some()),
            "blockedAt" => out(&c.blocked_at),
            "createdAt" => out(&c.created_at),
            _ => return None,
        })
    }
}

impl RowFields for CustomerIdentity {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let i = &self.0;
        Some(match name {
            "platform" => out(&i.platform),
            "externalId" => text(Some(&i.external_id)),
            "username" => text(i.username.as_deref()),
            "displayName" => text(i.display_name.as_deref()),
            "profilePicUrl" => text(i.profile_pic_url.as_deref()),
            "isVerified" => out(&i.is_verified),
            "followerCount" => out(&i.follower_count),
            "profileFetchedAt" => out(&i.profile_fetched_at),
            _ => return None,
        })
    }
}
