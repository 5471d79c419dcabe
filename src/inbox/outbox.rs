//! Collects the live events of one transaction and appends them to the `events` outbox as
//! the transaction's last step (so the per-org seq lock is held briefly and always taken
//! last). Domain operations return them in a [`Committed`]; the edge that called the
//! operation (a resolver or a worker) publishes them on the bus after commit.

use std::collections::{HashMap, HashSet};

use diesel_async::AsyncPgConnection;

use crate::db::enums::EventKind;
use crate::db::events::{self, Event, NewEvent, Snapshot, Subject};
use crate::db::ids::{MessageId, NotificationId, OrgId, TeamId, TicketId, UserId};
use crate::db::messages::{self, Message};
use crate::db::notifications::{self, Notification};
use crate::db::orgs::Membership;
use crate::db::teams::Team;
use crate::db::tickets::{self, Ticket};

/// What a domain operation produced, and the live events it committed with it. The caller
/// publishes the events once the transaction has committed (never before: a subscriber
/// must not see a change that could still roll back).
#[derive(Debug)]
#[must_use = "publish the committed events"]
pub struct Committed<T> {
    /// The operation's result.
    pub value: T,
    /// Events appended to the outbox in the same transaction.
    pub events: Vec<Event>,
}

impl<T> Committed<T> {
    /// A result with no live events.
    pub fn quiet(value: T) -> Self {
        Committed {
            value,
            events: Vec::new(),
        }
    }

    /// The same events with the result turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Committed<U> {
        Committed {
            value: f(self.value),
            events: self.events,
        }
    }
}

/// Events waiting for the end of their transaction.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Vec<(OrgId, NewEvent)>,
    queued: HashSet<(OrgId, NewEvent)>,
    /// Rows the transaction already holds in their final state (their snapshots need no
    /// query); an event queued by id alone means its row may have changed since, and
    /// forgets it.
    known_tickets: HashMap<TicketId, Ticket>,
    known_messages: HashMap<MessageId, Message>,
    /// Member and team events always carry their rows (a removed row cannot be loaded).
    members: HashMap<(OrgId, UserId), Membership>,
    teams: HashMap<TeamId, Team>,
}

impl Outbox {
    /// Queues an event (an identical event already queued is not repeated).
    pub fn push(&mut self, org: OrgId, event: NewEvent) {
        if self.queued.insert((org, event.clone())) {
            self.pending.push((org, event));
        }
    }

    /// Queues the events of `other` (work that committed inside a savepoint).
    pub fn absorb(&mut self, other: Outbox) {
        for (org, event) in other.pending {
            self.push(org, event);
        }
        self.known_tickets.extend(other.known_tickets);
        self.known_messages.extend(other.known_messages);
        self.members.extend(other.members);
        self.teams.extend(other.teams);
    }

    /// Queues a member event about `member` as it now is (or was, before a removal).
    pub fn member_row(&mut self, kind: EventKind, member: &Membership) {
        self.members
            .insert((member.org_id, member.user_id), member.clone());
        self.push(
            member.org_id,
            NewEvent {
                kind,
                ticket_id: None,
                message_id: None,
                notification_id: None,
                user_id: None,
                subject: Some(Subject::Member(member.user_id)),
            },
        );
    }

    /// Queues a team event about `team` as it now is (or was, before a deletion).
    pub fn team_row(&mut self, kind: EventKind, team: &Team) {
        self.teams.insert(team.id, team.clone());
        self.push(
            team.org_id,
            NewEvent {
                kind,
                ticket_id: None,
                message_id: None,
                notification_id: None,
                user_id: None,
                subject: Some(Subject::Team(team.id)),
            },
        );
    }

    /// Queues a ticket event about `ticket` as it now is (its snapshot needs no query).
    pub fn ticket_row(&mut self, kind: EventKind, ticket: &Ticket) {
        self.ticket(ticket.org_id, kind, ticket.id);
        self.known_tickets.insert(ticket.id, ticket.clone());
    }

    /// Queues a message event about `message` as it now is (its snapshot needs no query).
    pub fn message_row(&mut self, kind: EventKind, message: &Message) {
        self.message(message.org_id, kind, message.ticket_id, message.id);
        self.known_messages.insert(message.id, message.clone());
    }

    /// Queues a ticket event.
    pub fn ticket(&mut self, org: OrgId, kind: EventKind, ticket: TicketId) {
        self.known_tickets.remove(&ticket);
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: Some(ticket),
                message_id: None,
                notification_id: None,
                user_id: None,
                subject: None,
            },
        );
    }

    /// Queues a message event.
    pub fn message(&mut self, org: OrgId, kind: EventKind, ticket: TicketId, message: MessageId) {
        self.known_messages.remove(&message);
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: Some(ticket),
                message_id: Some(message),
                notification_id: None,
                user_id: None,
                subject: None,
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
                subject: None,
            },
        );
    }

    /// [`Outbox::flush`], with the operation's result.
    pub async fn commit<T>(
        &mut self,
        conn: &mut AsyncPgConnection,
        value: T,
    ) -> diesel::QueryResult<Committed<T>> {
        let events = self.flush(conn).await?;
        Ok(Committed { value, events })
    }

    /// Appends the queued events, org by org in a fixed order, each with a snapshot of
    /// the rows it is about; call it last in the transaction. Returns the stored events
    /// to publish after commit.
    pub async fn flush(&mut self, conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<Event>> {
        let mut pending = std::mem::take(&mut self.pending);
        self.queued.clear();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Rows::load(
            conn,
            &pending,
            std::mem::take(&mut self.known_tickets),
            std::mem::take(&mut self.known_messages),
        )
        .await?;
        rows.members = std::mem::take(&mut self.members);
        rows.teams = std::mem::take(&mut self.teams);
        // Stable sort keeps each org's events in the order they happened.
        pending.sort_by_key(|(org, _)| *org);
        let mut stored = Vec::with_capacity(pending.len());
        for chunk in pending.chunk_by(|a, b| a.0 == b.0) {
            let org = chunk[0].0;
            let new: Vec<(NewEvent, serde_json::Value)> = chunk
                .iter()
                .map(|(org, e)| (e.clone(), rows.snapshot(*org, e)))
                .collect();
            stored.extend(events::append(conn, org, &new).await?);
        }
        Ok(stored)
    }
}

/// The rows the pending events are about, loaded once per flush (those not already known).
struct Rows {
    tickets: HashMap<TicketId, Ticket>,
    messages: HashMap<MessageId, Message>,
    notifications: HashMap<NotificationId, Notification>,
    members: HashMap<(OrgId, UserId), Membership>,
    teams: HashMap<TeamId, Team>,
}

impl Rows {
    async fn load(
        conn: &mut AsyncPgConnection,
        pending: &[(OrgId, NewEvent)],
        mut tickets: HashMap<TicketId, Ticket>,
        mut messages: HashMap<MessageId, Message>,
    ) -> diesel::QueryResult<Self> {
        let ids = |f: fn(&NewEvent) -> Option<uuid::Uuid>| -> Vec<uuid::Uuid> {
            let mut ids: Vec<_> = pending.iter().filter_map(|(_, e)| f(e)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let ticket_ids: Vec<TicketId> = ids(|e| e.ticket_id.map(|t| t.0))
            .into_iter()
            .map(TicketId)
            .filter(|id| !tickets.contains_key(id))
            .collect();
        let message_ids: Vec<MessageId> = ids(|e| e.message_id.map(|m| m.0))
            .into_iter()
            .map(MessageId)
            .filter(|id| !messages.contains_key(id))
            .collect();
        tickets.extend(
            tickets::find_many(conn, &ticket_ids)
                .await?
                .into_iter()
                .map(|t| (t.id, t)),
        );
        messages.extend(
            messages::find_many(conn, &message_ids)
                .await?
                .into_iter()
                .map(|m| (m.id, m)),
        );
        let notification_ids: Vec<NotificationId> = ids(|e| e.notification_id.map(|n| n.0))
            .into_iter()
            .map(NotificationId)
            .collect();
        Ok(Self {
            tickets,
            messages,
            notifications: notifications::find_many(conn, &notification_ids)
                .await?
                .into_iter()
                .map(|n| (n.id, n))
                .collect(),
            members: HashMap::new(),
            teams: HashMap::new(),
        })
    }

    fn snapshot(&self, org: OrgId, event: &NewEvent) -> serde_json::Value {
        let snapshot = Snapshot {
            ticket: event
                .ticket_id
                .and_then(|id| self.tickets.get(&id).cloned()),
            message: event
                .message_id
                .and_then(|id| self.messages.get(&id).cloned()),
            notification: event
                .notification_id
                .and_then(|id| self.notifications.get(&id).cloned()),
            member: match event.subject {
                Some(Subject::Member(user)) => self.members.get(&(org, user)).cloned(),
                _ => None,
            },
            team: match event.subject {
                Some(Subject::Team(team)) => self.teams.get(&team).cloned(),
                _ => None,
            },
        };
        serde_json::to_value(snapshot).unwrap_or_default()
    }
}
