//! Relay's global object identification: the `Node` interface and `Query.node(id:)` /
//! `Query.nodes(ids:)`.
//!
//! Ids are the same UUID strings as everywhere else in the API, so no client breaks; the
//! kind of a bare id is found with one UNION query over the tables, already scoped to
//! what the caller may see ([`crate::db::nodes`]), then the rows come through the
//! request's loader. An id of another org, a deleted channel, someone else's
//! notification, a made-up id and a malformed one all resolve to `null`, alike.

use std::collections::HashMap;

use async_graphql::{Context, ID, Interface, Result};

use super::context::{conn, member_org, viewer};
use super::loaders::Loaders;
use super::types::channel::Channel;
use super::types::customer::Customer;
use super::types::message::Message;
use super::types::notification::Notification;
use super::types::org::Org;
use super::types::team::Team;
use super::types::ticket::Ticket;
use crate::db::ids::{ChannelId, CustomerId, MessageId, NotificationId, OrgId, TeamId, TicketId};
use crate::db::nodes::{self, NodeKind};
use crate::error::AppError;

/// Most ids one `nodes` call may ask for.
pub const MAX_NODES: usize = 100;

/// An object with a global id: fetch it again with `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's id (a UUID)."))]
pub enum Node {
    /// An org.
    Org(Org),
    /// A channel.
    Channel(Channel),
    /// A customer.
    Customer(Customer),
    /// A ticket.
    Ticket(Ticket),
    /// A message.
    Message(Message),
    /// A notification.
    Notification(Notification),
    /// A team.
    Team(Team),
}

/// The objects behind `ids`, in the same order, `None` where the caller may not see one.
pub async fn resolve(ctx: &Context<'_>, ids: &[ID]) -> Result<Vec<Option<Node>>> {
    if ids.len() > MAX_NODES {
        return Err(AppError::bad_input(format!("at most {MAX_NODES} ids per call")).into());
    }
    let user = viewer(ctx)?.user_id;
    let parsed: Vec<Option<uuid::Uuid>> = ids
        .iter()
        .map(|id| uuid::Uuid::parse_str(id.as_str().trim()).ok())
        .collect();
    let wanted: Vec<uuid::Uuid> = parsed.iter().flatten().copied().collect();
    let found = {
        let conn = conn(ctx).await?;
        nodes::find_visible(&conn, user, &wanted)
            .await
            .map_err(AppError::from)?
    };
    let of_kind = |kind: NodeKind| -> Vec<uuid::Uuid> {
        found
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.id)
            .collect()
    };
    let loaders = ctx.data::<Loaders>()?;
    let mut objects: HashMap<uuid::Uuid, Node> = HashMap::new();
    for id in of_kind(NodeKind::Org) {
        if let Ok(org) = member_org(ctx, OrgId(id)).await {
            objects.insert(id, Node::Org(org));
        }
    }
    let (channels, customers, tickets, messages, notifications, teams) = futures_util::try_join!(
        loaders.load_many(of_kind(NodeKind::Channel).into_iter().map(ChannelId)),
        loaders.load_many(of_kind(NodeKind::Customer).into_iter().map(CustomerId)),
        loaders.load_many(of_kind(NodeKind::Ticket).into_iter().map(TicketId)),
        loaders.load_many(of_kind(NodeKind::Message).into_iter().map(MessageId)),
        loaders.load_many(
            of_kind(NodeKind::Notification)
                .into_iter()
                .map(NotificationId)
        ),
        loaders.load_many(of_kind(NodeKind::Team).into_iter().map(TeamId)),
    )?;
    objects.extend(
        channels
            .into_iter()
            .map(|(id, row)| (id.0, Node::Channel(Channel(row)))),
    );
    objects.extend(
        customers
            .into_iter()
            .map(|(id, row)| (id.0, Node::Customer(Customer(row)))),
    );
    objects.extend(
        tickets
            .into_iter()
            .map(|(id, row)| (id.0, Node::Ticket(Ticket(row)))),
    );
    objects.extend(
        messages
            .into_iter()
            .map(|(id, row)| (id.0, Node::Message(Message(row)))),
    );
    objects.extend(
        notifications
            .into_iter()
            .map(|(id, row)| (id.0, Node::Notification(Notification(row)))),
    );
    objects.extend(
        teams
            .into_iter()
            .map(|(id, row)| (id.0, Node::Team(Team(row)))),
    );
    Ok(parsed
        .into_iter()
        .map(|id| id.and_then(|id| objects.remove(&id)))
        .collect())
}
