//! Collects the live events of one transaction, appends them to the `events` outbox as
//! the transaction's last step (so the per-org seq lock is held briefly and always taken
//! last), and publishes them on the bus after commit.

use crate::db::events::{self, Event, EventKind, NewEvent};
use crate::db::ids::{MessageId, NotificationId, OrgId, TicketId, UserId};
use crate::state::AppState;
use diesel_async::AsyncPgConnection;

/// Events waiting for the end of their transaction.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Vec<(OrgId, NewEvent)>,
}

impl Outbox {
    /// Queues an event (an identical event already queued is not repeated).
    pub fn push(&mut self, org: OrgId, event: NewEvent) {
        if !self.pending.iter().any(|(o, e)| *o == org && *e == event) {
            self.pending.push((org, event));
        }
    }

    /// Queues a ticket event.
    pub fn ticket(&mut self, org: OrgId, kind: EventKind, ticket: TicketId) {
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: Some(ticket),
                message_id: None,
                notification_id: None,
                user_id: None,
            },
        );
    }

    /// Queues a message event.
    pub fn message(&mut self, org: OrgId, kind: EventKind, ticket: TicketId, message: MessageId) {
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: Some(ticket),
                message_id: Some(message),
                notification_id: None,
                user_id: None,
            },
        );
    }

    /// Queues a notification event, visible only to `user`.
    pub fn notification(
        &mut self,
        org: OrgId,
        kind: EventKind,
        user: UserId,
        notification: NotificationId,
        ticket: Option<TicketId>,
    ) {
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: ticket,
                message_id: None,
                notification_id: Some(notification),
                user_id: Some(user),
            },
        );
    }

    /// Appends the queued events, org by org in a fixed order; call it last in the
    /// transaction. Returns the stored events to publish after commit.
    pub async fn flush(&mut self, conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<Event>> {
        let mut pending = std::mem::take(&mut self.pending);
        // Stable sort keeps each org's events in the order they happened.
        pending.sort_by_key(|(org, _)| *org);
        let mut stored = Vec::with_capacity(pending.len());
        for chunk in pending.chunk_by(|a, b| a.0 == b.0) {
            let org = chunk[0].0;
            let new: Vec<NewEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
            stored.extend(events::append(conn, org, &new).await?);
        }
        Ok(stored)
    }
}

/// Publishes committed events to live subscribers (best effort: subscribers that miss
/// them catch up from the outbox).
pub fn publish(state: &AppState, events: Vec<Event>) {
    for event in events {
        state.bus().publish(event);
    }
}
