//! Collects the live events of one transaction and appends them to the `events` outbox as
//! the transaction's last step (so the per-org seq lock is held briefly and always taken
//! last). Domain operations return them in a [`Committed`]; the edge that called the
//! operation (a resolver or a worker) publishes them on the bus after commit, and wakes
//! the workers of the jobs the transaction queued ([`NewJobs`]).

use std::collections::{HashMap, HashSet};

use diesel_async::AsyncPgConnection;

use crate::db::canned_responses::CannedResponse;
use crate::db::customers::Customer;
use crate::db::enums::EventKind;
use crate::db::events::{self, Event, NewEvent, Snapshot, Subject};
use crate::db::ids::{MessageId, NotificationId, OrgId, TicketId, UserId};
use crate::db::labels::Label;
use crate::db::messages::{self, Message};
use crate::db::notifications::{self, Notification};
use crate::db::orgs::Membership;
use crate::db::queue::NewJobs;
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
    /// The job tables the transaction added rows to.
    pub new_jobs: NewJobs,
}

impl<T> Committed<T> {
    /// A result with no live events.
    pub fn quiet(value: T) -> Self {
        Committed {
            value,
            events: Vec::new(),
            new_jobs: NewJobs::NONE,
        }
    }

    /// The same events with the result turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Committed<U> {
        Committed {
            value: f(self.value),
            events: self.events,
            new_jobs: self.new_jobs,
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
    /// Notifications the transaction deleted, as they were (they cannot be loaded).
    removed_notifications: HashMap<NotificationId, Notification>,
    /// Snapshots of the other rows events are about, as the operation left them (a
    /// removed row cannot be loaded, so these always travel with their events).
    subjects: HashMap<(OrgId, Subject), SubjectRow>,
    /// Job tables the transaction added rows to.
    new_jobs: NewJobs,
}

/// A row an event is about other than a ticket, message or notification.
#[derive(Debug, Clone)]
pub enum SubjectRow {
    /// A label.
    Label(Label),
    /// A canned response.
    CannedResponse(CannedResponse),
    /// A customer.
    Customer(Customer),
    /// A membership (a member of the org).
    Member(Membership),
    /// A team.
    Team(Team),
}

impl SubjectRow {
    fn key(&self) -> Subject {
        match self {
            SubjectRow::Label(l) => Subject::Label(l.id),
            SubjectRow::CannedResponse(c) => Subject::CannedResponse(c.id),
            SubjectRow::Customer(c) => Subject::Customer(c.id),
            SubjectRow::Member(m) => Subject::Member(m.user_id),
            SubjectRow::Team(t) => Subject::Team(t.id),
        }
    }
}

impl Outbox {
    /// Queues an event (an identical event already queued is not repeated).
    pub fn push(&mut self, org: OrgId, event: NewEvent) {
        if self.queued.insert((org, event.clone())) {
            self.pending.push((org, event));
        }
    }

    /// Records that the transaction added rows to the `jobs` tables (their workers are
    /// woken after the commit).
    pub fn queued(&mut self, jobs: NewJobs) {
        self.new_jobs.add(jobs);
    }

    /// Queues the events of `other` (work that committed inside a savepoint).
    pub fn absorb(&mut self, other: Outbox) {
        for (org, event) in other.pending {
            self.push(org, event);
        }
        self.new_jobs.add(other.new_jobs);
        self.known_tickets.extend(other.known_tickets);
        self.known_messages.extend(other.known_messages);
        self.removed_notifications
            .extend(other.removed_notifications);
        self.subjects.extend(other.subjects);
    }

    /// Queues a member event about `member` as it now is (or was, before a removal).
    pub fn member_row(&mut self, kind: EventKind, member: &Membership) {
        let row = SubjectRow::Member(member.clone());
        self.subject(member.org_id, kind, row, None);
    }

    /// Queues a team event about `team` as it now is (or was, before a deletion).
    pub fn team_row(&mut self, kind: EventKind, team: &Team) {
        self.subject(team.org_id, kind, SubjectRow::Team(team.clone()), None);
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

    /// Queues `NOTIFICATION_DELETED` about `row`, deleted by the transaction, as it was
    /// (for its owner only, like every notification event).
    pub fn notification_removed(&mut self, row: &Notification) {
        self.removed_notifications.insert(row.id, row.clone());
        self.notification(
            row.org_id,
            EventKind::NotificationDeleted,
            row.user_id,
            row.id,
            row.ticket_id,
        );
    }

    /// Queues an event about `row` as the operation left it (a deleted row as it was),
    /// visible to the whole org, or only to `user` when given.
    pub fn subject(&mut self, org: OrgId, kind: EventKind, row: SubjectRow, user: Option<UserId>) {
        let key = row.key();
        self.subjects.insert((org, key), row);
        self.push(
            org,
            NewEvent {
                kind,
                ticket_id: None,
                message_id: None,
                notification_id: None,
                user_id: user,
                subject: Some(key),
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
        Ok(Committed {
            value,
            events,
            new_jobs: std::mem::take(&mut self.new_jobs),
        })
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
            std::mem::take(&mut self.removed_notifications),
        )
        .await?;
        rows.subjects = std::mem::take(&mut self.subjects);
        // Stable sort keeps each org's events in the order they happened.
        pending.sort_by_key(|(org, _)| *org);
        let new: Vec<(OrgId, NewEvent, serde_json::Value)> = pending
            .iter()
            .map(|(org, e)| (*org, e.clone(), rows.snapshot(*org, e)))
            .collect();
        let stored = events::append(conn, new).await?;
        Ok(stored)
    }
}

/// The rows the pending events are about, loaded once per flush (those not already known).
struct Rows {
    tickets: HashMap<TicketId, Ticket>,
    messages: HashMap<MessageId, Message>,
    notifications: HashMap<NotificationId, Notification>,
    subjects: HashMap<(OrgId, Subject), SubjectRow>,
}

impl Rows {
    async fn load(
        conn: &mut AsyncPgConnection,
        pending: &[(OrgId, NewEvent)],
        mut tickets: HashMap<TicketId, Ticket>,
        mut messages: HashMap<MessageId, Message>,
        removed_notifications: HashMap<NotificationId, Notification>,
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
            .filter(|id| !removed_notifications.contains_key(id))
            .collect();
        let mut notifications = removed_notifications;
        notifications.extend(
            notifications::find_many(conn, &notification_ids)
                .await?
                .into_iter()
                .map(|n| (n.id, n)),
        );
        Ok(Self {
            tickets,
            messages,
            notifications,
            subjects: HashMap::new(),
        })
    }

    fn snapshot(&self, org: OrgId, event: &NewEvent) -> serde_json::Value {
        let subject = event.subject.and_then(|s| self.subjects.get(&(org, s)));
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
            member: match subject {
                Some(SubjectRow::Member(m)) => Some(m.clone()),
                _ => None,
            },
            team: match subject {
                Some(SubjectRow::Team(t)) => Some(t.clone()),
                _ => None,
            },
            label: match subject {
                Some(SubjectRow::Label(l)) => Some(l.clone()),
                _ => None,
            },
            canned_response: match subject {
                Some(SubjectRow::CannedResponse(c)) => Some(c.clone()),
                _ => None,
            },
            customer: match subject {
                Some(SubjectRow::Customer(c)) => Some(c.clone()),
                _ => None,
            },
        };
        serde_json::to_value(snapshot).unwrap_or_default()
    }
}
