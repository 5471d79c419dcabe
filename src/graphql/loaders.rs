//! Request-scoped loaders: one batched query per kind of row per scheduling turn, so an
//! inbox page of 50 tickets with customers, channels, assignees and last messages costs a
//! constant number of queries. Keys are ids already scoped to the caller's org by the
//! query that produced them; nothing is cached beyond the request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use crate::db::ids::{
    ChannelId, CustomerId, MessageId, NotificationId, OrgId, TeamId, TicketId, UserId,
};

use crate::db::{
    channels, customers, labels, messages, notifications, orgs, teams, templates, tickets, users,
};
use crate::error::AppError;
use crate::graphql::batcher::Batcher;
use crate::graphql::context::RequestContext;
use crate::graphql::prefetch::{EarlyPages, EarlyTickets};
use crate::graphql::reads::{ReadConn, Reads};

/// Loads rows for one request.
pub struct DbLoader {
    viewer: Option<UserId>,
    reads: Reads,
    early_pages: EarlyPages,
    early_tickets: EarlyTickets,
}

/// The request's loader. Its cache lives as long as the request, so a row reached twice
/// in one response (a channel of a ticket and of an identity) is fetched once.
pub type Loaders = Batcher<DbLoader>;

/// A loader for a request by `viewer`. Loads batch without waiting for a timer (see
/// [`Batcher`]), and pages prefetch their rows in batches anyway ([`super::prefetch`]).
pub fn loaders(request: &RequestContext) -> Loaders {
    Batcher::new(DbLoader {
        viewer: request.viewer.map(|v| v.user_id),
        reads: request.reads.clone(),
        early_pages: EarlyPages::default(),
        early_tickets: EarlyTickets::default(),
    })
}

/// Key: identities of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentitiesOf(pub CustomerId);
/// Key: attachments of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttachmentsOf(pub MessageId);
/// Key: current reactions on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReactionsOf(pub MessageId);
/// Key: members of a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembersOf(pub TeamId);
/// Key: labels of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsOfTicket(pub TicketId);
/// Key: labels of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsOfCustomer(pub CustomerId);
/// Key: the WhatsApp templates of a channel (all statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplatesOf(pub ChannelId);
/// Key: how many inbound messages of a ticket the viewer has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadCountOf(pub TicketId);

type LoadResult<K, V> = Result<HashMap<K, V>, async_graphql::Error>;

impl DbLoader {
    /// Pages of messages read ahead of their field ([`super::prefetch::ticket_alongside`]).
    pub fn early_pages(&self) -> &EarlyPages {
        &self.early_pages
    }

    /// Pages of tickets read ahead of their field ([`super::prefetch::tickets_alongside`]).
    pub fn early_tickets(&self) -> &EarlyTickets {
        &self.early_tickets
    }

    /// A connection that sees what the request may read ([`Reads`]).
    async fn conn(&self) -> Result<ReadConn, async_graphql::Error> {
        Ok(self.reads.conn().await.map_err(AppError::from)?)
    }

    /// The channels a page of tickets shows: the tickets' own (`ids`) and those of their
    /// customers' identities, in one query (see [`channels::find_for_tickets`]).
    pub async fn channels_for_tickets(
        &self,
        ids: &[ChannelId],
        customers: &[CustomerId],
    ) -> LoadResult<ChannelId, channels::Channel> {
        let rows = channels::find_for_tickets(&**self.conn().await?, ids, customers)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

fn db_error(e: diesel::result::Error) -> async_graphql::Error {
    AppError::from(e).into()
}

/// Groups rows into a map of vectors by a key, with an (empty) entry for every requested
/// key so that "nothing" is cached too and not asked for again.
pub(super) fn group<K: std::hash::Hash + Eq + Copy, V>(
    keys: &[K],
    rows: Vec<V>,
    key: impl Fn(&V) -> K,
) -> HashMap<K, Vec<V>> {
    let mut map: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

macro_rules! by_id_loader {
    ($key:ty, $row:ty, $find:path) => {
        impl Loader<$key> for DbLoader {
            type Value = $row;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[$key]) -> LoadResult<$key, $row> {
                let rows = $find(&**self.conn().await?, keys).await.map_err(db_error)?;
                Ok(rows.into_iter().map(|r| (r.id, r)).collect())
            }
        }
    };
}

by_id_loader!(OrgId, orgs::Org, orgs::find_many);
by_id_loader!(UserId, users::User, users::find_many);
by_id_loader!(ChannelId, channels::Channel, channels::find_many);
by_id_loader!(CustomerId, customers::Customer, customers::find_many);
by_id_loader!(TicketId, tickets::Ticket, tickets::find_many);
by_id_loader!(TeamId, teams::Team, teams::find_many);
by_id_loader!(MessageId, messages::Message, messages::find_many);
by_id_loader!(
    NotificationId,
    notifications::Notification,
    notifications::find_many
);

impl Loader<IdentitiesOf> for DbLoader {
    type Value = Vec<customers::Identity>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[IdentitiesOf]) -> LoadResult<IdentitiesOf, Self::Value> {
        let ids: Vec<CustomerId> = keys.iter().map(|k| k.0).collect();
        let rows = customers::identities_of(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        Ok(group(keys, rows, |r| IdentitiesOf(r.customer_id)))
    }
}

impl Loader<MembersOf> for DbLoader {
    type Value = Vec<teams::TeamMember>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[MembersOf]) -> LoadResult<MembersOf, Self::Value> {
        let ids: Vec<TeamId> = keys.iter().map(|k| k.0).collect();
        let rows = teams::members_of(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        Ok(group(keys, rows, |r| MembersOf(r.team_id)))
    }
}

impl Loader<AttachmentsOf> for DbLoader {
    type Value = Vec<messages::Attachment>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[AttachmentsOf]) -> LoadResult<AttachmentsOf, Self::Value> {
        let ids: Vec<MessageId> = keys.iter().map(|k| k.0).collect();
        let rows = messages::attachments_of(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        Ok(group(keys, rows, |r| AttachmentsOf(r.message_id)))
    }
}

impl Loader<ReactionsOf> for DbLoader {
    type Value = Vec<messages::Reaction>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ReactionsOf]) -> LoadResult<ReactionsOf, Self::Value> {
        let ids: Vec<MessageId> = keys.iter().map(|k| k.0).collect();
        let rows = messages::reactions_of(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        Ok(group(keys, rows, |r| ReactionsOf(r.message_id)))
    }
}

impl Loader<ReadCountOf> for DbLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ReadCountOf]) -> LoadResult<ReadCountOf, i64> {
        let Some(viewer) = self.viewer else {
            return Ok(keys.iter().map(|k| (*k, 0)).collect());
        };
        let ids: Vec<TicketId> = keys.iter().map(|k| k.0).collect();
        let rows = tickets::read_counts(&**self.conn().await?, viewer, &ids)
            .await
            .map_err(db_error)?;
        let read: HashMap<TicketId, i64> = rows.into_iter().collect();
        // Every key gets a value (0 = nothing read) so the answer is cached.
        Ok(keys
            .iter()
            .map(|k| (*k, read.get(&k.0).copied().unwrap_or(0)))
            .collect())
    }
}

impl Loader<LabelsOfTicket> for DbLoader {
    type Value = Vec<labels::Label>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[LabelsOfTicket]) -> LoadResult<LabelsOfTicket, Self::Value> {
        let ids: Vec<TicketId> = keys.iter().map(|k| k.0).collect();
        let rows = labels::of_tickets(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        let grouped = group(keys, rows, |(t, _)| LabelsOfTicket(*t));
        Ok(grouped
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|(_, l)| l).collect()))
            .collect())
    }
}

impl Loader<LabelsOfCustomer> for DbLoader {
    type Value = Vec<labels::Label>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[LabelsOfCustomer]) -> LoadResult<LabelsOfCustomer, Self::Value> {
        let ids: Vec<CustomerId> = keys.iter().map(|k| k.0).collect();
        let rows = labels::of_customers(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        let grouped = group(keys, rows, |(c, _)| LabelsOfCustomer(*c));
        Ok(grouped
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|(_, l)| l).collect()))
            .collect())
    }
}

impl Loader<TemplatesOf> for DbLoader {
    type Value = Vec<templates::Template>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TemplatesOf]) -> LoadResult<TemplatesOf, Self::Value> {
        let ids: Vec<ChannelId> = keys.iter().map(|k| k.0).collect();
        let rows = templates::list_of(&**self.conn().await?, &ids)
            .await
            .map_err(db_error)?;
        Ok(group(keys, rows, |r| TemplatesOf(r.channel_id)))
    }
}
