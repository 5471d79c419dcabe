//! Facts about a message that may arrive before the message: unsends, edits, reactions,
//! reads (by message and by watermark) and delivery statuses.
//!
//! A fact about a message we have is applied at once ([`record`]). A fact about one we do
//! not have yet is kept in `pending_facts` under the channel and the platform id it names
//! ([`crate::db::pending_facts`]) and applied by [`settle`] in the transaction that stores
//! the message or records its platform id; unsends and edits are folded into a new row
//! before it is written ([`fold_into_new`]), so unsent content is never stored, even for a
//! moment. Both paths apply the same merges ([`super::updates`]), so a message ends the same
//! whether its facts came before or after it.
//!
//! The caller holds the advisory lock of the platform id ([`super::ingest`]'s lock order),
//! so a fact cannot be kept as pending while the message it names is being inserted.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use super::normalized::{Reaction, StatusUpdate};
use super::outbox::Outbox;
use super::updates;
use crate::db::channels::Channel;
use crate::db::enums::{FactKind, TicketKind};
use crate::db::ids::ChannelId;
use crate::db::messages::{self, Message};
use crate::db::pending_facts::{self, NewFact};
use crate::db::tickets;

/// A fact Meta reported about one message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Fact {
    /// The customer unsent it.
    Unsend,
    /// The customer changed its text.
    Edit {
        /// The new text.
        text: Option<String>,
        /// When, by Meta's clock.
        at: DateTime<Utc>,
    },
    /// A reaction was set or removed.
    Reaction(Reaction),
    /// The customer read it (and everything before it).
    Read {
        /// When, by Meta's clock.
        at: DateTime<Utc>,
    },
    /// A delivery status of one of our messages.
    Status(StatusUpdate),
}

/// Every kind of fact that names a message (watermarks name a customer).
const MESSAGE_FACTS: [FactKind; 5] = [
    FactKind::Unsend,
    FactKind::Edit,
    FactKind::Reaction,
    FactKind::Read,
    FactKind::Status,
];

impl Fact {
    fn kind(&self) -> FactKind {
        match self {
            Fact::Unsend => FactKind::Unsend,
            Fact::Edit { .. } => FactKind::Edit,
            Fact::Reaction(_) => FactKind::Reaction,
            Fact::Read { .. } => FactKind::Read,
            Fact::Status(_) => FactKind::Status,
        }
    }

    /// The key, precedence and time under which a pending fact is kept: one fact per
    /// message and kind (per reactor for reactions), the higher status or the later time
    /// winning.
    fn to_pending<'a>(&'a self, channel: ChannelId, external_id: &'a str) -> NewFact<'a> {
        let (reactor_id, rank, occurred_at) = match self {
            Fact::Unsend => ("", 0, DateTime::<Utc>::UNIX_EPOCH),
            Fact::Edit { at, .. } | Fact::Read { at } => ("", 0, *at),
            Fact::Reaction(r) => (r.customer_id.as_str(), 0, r.at),
            Fact::Status(s) => ("", i32::from(crate::inbox::status::rank(s.status)), s.at),
        };
        NewFact {
            channel_id: channel,
            external_id,
            kind: self.kind(),
            reactor_id,
            rank,
            occurred_at,
            payload: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// Applies `fact` to the message `external_id` of `channel`, or keeps it until that
/// message arrives.
pub async fn record(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: &str,
    fact: Fact,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    match messages::find_by_external_id(conn, channel.id, external_id).await? {
        Some(message) => apply(conn, channel, &message, fact, outbox).await,
        None => {
            pending_facts::keep(conn, &fact.to_pending(channel.id, external_id)).await?;
            tracing::debug!(channel.id = %channel.id, kind = %fact.kind(), "fact about a message not stored yet kept for later");
            Ok(())
        }
    }
}

/// Applies one fact to a stored message.
async fn apply(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    message: &Message,
    fact: Fact,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    match fact {
        Fact::Unsend => updates::unsend(conn, message, outbox).await,
        Fact::Edit { text, at } => updates::edit(conn, message, text.as_deref(), at, outbox).await,
        Fact::Reaction(reaction) => updates::react(conn, message, &reaction, outbox).await,
        Fact::Read { .. } => {
            updates::read_up_to(conn, channel, message.ticket_id, message.sent_at, outbox).await?;
            Ok(())
        }
        Fact::Status(status) => {
            let failure = (status.error_code, status.error_message);
            updates::advance(conn, message, status.status, Some(failure), outbox).await?;
            Ok(())
        }
    }
}

/// Takes the facts that were waiting for a message that is about to be stored.
pub async fn take_for(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
) -> diesel::QueryResult<Vec<Fact>> {
    let rows = pending_facts::take(conn, channel, external_id, &MESSAGE_FACTS).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| parse(row.kind, row.payload))
        .collect())
}

/// Takes the facts that waited for any of these `(channel, platform id)` pairs, in one
/// statement, grouped by pair.
pub async fn take_many(
    conn: &mut AsyncPgConnection,
    keys: &[(ChannelId, &str)],
) -> diesel::QueryResult<std::collections::HashMap<(ChannelId, String), Vec<Fact>>> {
    let mut waiting: std::collections::HashMap<(ChannelId, String), Vec<Fact>> =
        std::collections::HashMap::new();
    for fact in pending_facts::take_many(conn, keys, &MESSAGE_FACTS).await? {
        if let Some(parsed) = parse(fact.kind, fact.payload) {
            waiting
                .entry((fact.channel_id, fact.external_id))
                .or_default()
                .push(parsed);
        }
    }
    Ok(waiting)
}

/// A kept fact read back (an unreadable one is logged and dropped).
fn parse(kind: FactKind, payload: serde_json::Value) -> Option<Fact> {
    serde_json::from_value(payload)
        .inspect_err(
            |e| tracing::warn!(kind = %kind, error = %e, "unreadable pending fact dropped"),
        )
        .ok()
}

/// The time of a kept read watermark.
pub(super) fn watermark_time(payload: &serde_json::Value) -> Option<DateTime<Utc>> {
    serde_json::from_value(payload.get("at")?.clone()).ok()
}

/// Folds the unsend and edits among `facts` into a row not written yet (an unsent row
/// loses its content and its `attachments`); returns the facts still to apply once the
/// row is stored.
pub fn fold_into_new(
    row: &mut Message,
    attachments: &mut Vec<crate::inbox::normalized::Attachment>,
    facts: Vec<Fact>,
) -> Vec<Fact> {
    let mut later = Vec::new();
    for fact in facts {
        let changes = match &fact {
            Fact::Unsend => updates::unsend_changes(row),
            Fact::Edit { text, at } => updates::edit_changes(row, text.as_deref(), *at),
            Fact::Reaction(_) | Fact::Read { .. } | Fact::Status(_) => {
                later.push(fact);
                continue;
            }
        };
        if let Some(changes) = changes {
            changes.apply_to(row);
        }
    }
    if row.is_deleted {
        attachments.clear();
    }
    later
}

/// Applies to a freshly stored row the facts [`fold_into_new`] left.
pub async fn apply_all(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    message: &Message,
    facts: Vec<Fact>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let mut message = message.clone();
    for fact in facts {
        apply(conn, channel, &message, fact, outbox).await?;
        message = messages::get(conn, message.id).await?;
    }
    Ok(())
}

/// Applies the facts that were waiting for `message`'s platform id (it just got one).
pub async fn settle(
    conn: &mut AsyncPgConnection,
    message: &Message,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Message> {
    let Some(external_id) = &message.external_id else {
        return Ok(message.clone());
    };
    let facts = take_for(conn, message.channel_id, external_id).await?;
    if facts.is_empty() {
        return Ok(message.clone());
    }
    let channel = crate::db::channels::get(conn, message.channel_id).await?;
    apply_all(conn, &channel, message, facts, outbox).await?;
    messages::get(conn, message.id).await
}

/// The customer `customer_id` has read everything we sent on `channel` up to `at`: applied
/// to their direct conversation, or kept until it exists.
pub async fn record_watermark(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    customer_id: &str,
    at: DateTime<Utc>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let ticket = match crate::db::customers::find_identity(conn, channel.id, customer_id).await? {
        Some(identity) => {
            tickets::find_thread_for_update(
                conn,
                channel.id,
                identity.customer_id,
                TicketKind::Direct,
                "",
            )
            .await?
        }
        None => None,
    };
    match ticket {
        Some(ticket) => {
            updates::read_up_to(conn, channel, ticket.id, at, outbox).await?;
            Ok(())
        }
        None => {
            let fact = NewFact {
                channel_id: channel.id,
                external_id: customer_id,
                kind: FactKind::Watermark,
                reactor_id: "",
                rank: 0,
                occurred_at: at,
                payload: serde_json::json!({ "at": at }),
            };
            pending_facts::keep(conn, &fact).await
        }
    }
}
