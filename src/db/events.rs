//! `events` and `org_event_seqs`: the transactional outbox of live updates.
//!
//! [`append`] takes each org's next seqs by updating its counter row inside the caller's
//! transaction (all orgs of a transaction in one statement, locking their rows in org
//! order). The row locks are held until commit, so seq order is commit order within an
//! org and a reader never sees seq n+1 committed before seq n. Call it last in a
//! transaction (after every other lock) to keep the locks short and their order fixed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::canned_responses::CannedResponse;
use super::customers::Customer;
use super::enums::EventKind;
use super::ids::{
    CannedResponseId, CustomerId, LabelId, MessageId, NotificationId, OrgId, TeamId, TicketId,
    UserId,
};
use super::labels::Label;
use super::messages::Message;
use super::notifications::Notification;
use super::orgs::Membership;
use super::schema::{events, org_event_seqs};
use super::teams::Team;
use super::tickets::Ticket;
use crate::db::prepared::PrepareOnce as _;

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewEvent {
    /// What changed.
    pub kind: EventKind,
    /// The ticket concerned.
    pub ticket_id: Option<TicketId>,
    /// The message concerned.
    pub message_id: Option<MessageId>,
    /// The notification concerned.
    pub notification_id: Option<NotificationId>,
    /// For notification events: the only user allowed to see it.
    pub user_id: Option<UserId>,
    /// For events about something other than tickets, messages and notifications (the
    /// subject's row travels in the payload).
    pub subject: Option<Subject>,
}

/// What an event is about, when that is not a ticket, message or notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A label.
    Label(LabelId),
    /// A canned response.
    CannedResponse(CannedResponseId),
    /// A customer.
    Customer(CustomerId),
    /// A member of the org.
    Member(UserId),
    /// A team of the org.
    Team(TeamId),
}

/// A stored event.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = events)]
pub struct Event {
    /// Org.
    pub org_id: OrgId,
    /// Position in the org's stream (commit order, no gaps).
    pub seq: i64,
    /// What changed.
    pub kind: EventKind,
    /// Ticket concerned.
    pub ticket_id: Option<TicketId>,
    /// Message concerned.
    pub message_id: Option<MessageId>,
    /// Notification concerned.
    pub notification_id: Option<NotificationId>,
    /// Sole recipient of a notification event.
    pub user_id: Option<UserId>,
    /// Commit time (approximately).
    pub created_at: DateTime<Utc>,
    /// [`Snapshot`] of the rows concerned, as JSON.
    pub payload: serde_json::Value,
}

/// The rows an event is about, as they were when it committed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The ticket concerned.
    #[serde(default)]
    pub ticket: Option<Ticket>,
    /// The message concerned.
    #[serde(default)]
    pub message: Option<Message>,
    /// The notification concerned.
    #[serde(default)]
    pub notification: Option<Notification>,
    /// The membership concerned (as it was before a removal).
    #[serde(default)]
    pub member: Option<Membership>,
    /// The team concerned (as it was before a deletion).
    #[serde(default)]
    pub team: Option<Team>,
    /// The label concerned.
    #[serde(default)]
    pub label: Option<Label>,
    /// The canned response concerned.
    #[serde(default)]
    pub canned_response: Option<CannedResponse>,
    /// The customer concerned.
    #[serde(default)]
    pub customer: Option<Customer>,
}

impl Event {
    /// The snapshot carried by the event (empty if it cannot be read).
    pub fn snapshot(&self) -> Snapshot {
        serde::Deserialize::deserialize(&self.payload).unwrap_or_default()
    }
}

/// Where [`append`] put an event.
#[derive(QueryableByName)]
#[diesel(table_name = events)]
struct Numbered {
    org_id: OrgId,
    seq: i64,
    created_at: DateTime<Utc>,
}

/// Appends the events of one org: the counter row is updated by its primary key, so the
/// statement stays prepared with a generic plan that probes the index.
const APPEND_ONE_ORG: &str = "WITH counter AS (UPDATE org_event_seqs SET last_seq = last_seq + cardinality($1::uuid[]) \
                                   WHERE org_id = ($1::uuid[])[1] RETURNING org_id, last_seq) \
     INSERT INTO events (org_id, seq, kind, ticket_id, message_id, notification_id, user_id, created_at, payload) \
     SELECT counter.org_id, counter.last_seq - cardinality($1::uuid[]) + e.ord, \
            e.kind, e.ticket_id, e.message_id, e.notification_id, e.user_id, now(), e.payload \
     FROM counter, unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::json[]) \
          WITH ORDINALITY AS e(kind, ticket_id, message_id, notification_id, user_id, payload, ord) \
     RETURNING org_id, seq, created_at";

/// Appends the events of several orgs: locks their counter rows in org order (so
/// concurrent appends cannot deadlock), then numbers each org's events in the order given.
/// Planned at each call: a generic plan (an array bind counts as 10 rows) seq-scanned
/// `org_event_seqs` twice, which grows with the number of orgs.
const APPEND_MANY_ORGS: &str = "WITH e AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], \
                                     $5::uuid[], $6::uuid[], $7::json[]) \
                WITH ORDINALITY AS e(org_id, kind, ticket_id, message_id, notification_id, \
                                     user_id, payload, ord)), \
          counts AS (SELECT org_id, count(*) AS n FROM e GROUP BY org_id), \
          locked AS (SELECT s.org_id FROM org_event_seqs s \
                     WHERE s.org_id IN (SELECT org_id FROM counts) \
                     ORDER BY s.org_id FOR UPDATE), \
          counter AS (UPDATE org_event_seqs s SET last_seq = s.last_seq + c.n \
                      FROM counts c \
                      WHERE s.org_id = c.org_id AND s.org_id IN (SELECT org_id FROM locked) \
                      RETURNING s.org_id, s.last_seq, c.n) \
     INSERT INTO events (org_id, seq, kind, ticket_id, message_id, notification_id, user_id, created_at, payload) \
     SELECT e.org_id, \
            counter.last_seq - counter.n + row_number() OVER (PARTITION BY e.org_id ORDER BY e.ord), \
            e.kind, e.ticket_id, e.message_id, e.notification_id, e.user_id, now(), e.payload \
     FROM e JOIN counter ON counter.org_id = e.org_id \
     RETURNING org_id, seq, created_at";

/// Appends `new` (each with its org and payload) to the orgs' streams in the caller's
/// transaction, in one statement: it takes each org's next seqs from its counter row
/// (locking the rows in org order), numbering each org's events in the order given, and
/// inserts the rows. The stored events, by org then seq (built from `new` and the numbers
/// given to them: the payloads are not read back). An org without a counter row fails
/// the append, and with it the caller's transaction: that, not a foreign key, keeps
/// events to existing orgs.
pub async fn append(
    conn: &mut AsyncPgConnection,
    mut new: Vec<(OrgId, NewEvent, serde_json::Value)>,
) -> QueryResult<Vec<Event>> {
    use diesel::sql_types::{Array, Json, Nullable, Text, Uuid as SqlUuid};
    let Some(&(first, _, _)) = new.as_slice().first() else {
        return Ok(Vec::new());
    };
    let one_org = new.iter().all(|(org, _, _)| *org == first);
    let ids = |f: fn(&NewEvent) -> Option<uuid::Uuid>| -> Vec<Option<uuid::Uuid>> {
        new.iter().map(|(_, e, _)| f(e)).collect()
    };
    let query = diesel::sql_query(if one_org {
        APPEND_ONE_ORG
    } else {
        APPEND_MANY_ORGS
    })
    .bind::<Array<SqlUuid>, _>(new.iter().map(|(org, _, _)| org.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(new.iter().map(|(_, e, _)| e.kind).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(ids(|e| e.ticket_id.map(|id| id.0)))
    .bind::<Array<Nullable<SqlUuid>>, _>(ids(|e| e.message_id.map(|id| id.0)))
    .bind::<Array<Nullable<SqlUuid>>, _>(ids(|e| e.notification_id.map(|id| id.0)))
    .bind::<Array<Nullable<SqlUuid>>, _>(ids(|e| e.user_id.map(|id| id.0)))
    .bind::<Array<Json>, _>(new.iter().map(|(_, _, p)| p).collect::<Vec<_>>());
    let mut numbered: Vec<Numbered> = if one_org {
        query.prepared().load(conn).await?
    } else {
        query.load(conn).await?
    };
    if numbered.len() != new.len() {
        // An org has no counter row: nothing was appended for it, and the error rolls
        // back what was appended for the others.
        return Err(diesel::result::Error::NotFound);
    }
    // Each org's events were numbered in the order given: pair them up by org, in order
    // (a stable sort keeps each org's events in their order).
    numbered.sort_by_key(|n| (n.org_id, n.seq));
    new.sort_by_key(|(org, _, _)| *org);
    new.into_iter()
        .zip(numbered)
        .map(|((org_id, event, payload), n)| {
            (n.org_id == org_id)
                .then_some(Event {
                    org_id,
                    seq: n.seq,
                    kind: event.kind,
                    ticket_id: event.ticket_id,
                    message_id: event.message_id,
                    notification_id: event.notification_id,
                    user_id: event.user_id,
                    created_at: n.created_at,
                    payload,
                })
                .ok_or(diesel::result::Error::NotFound)
        })
        .collect()
}

/// Up to `limit` events of `org` with seq greater than `after`, in order.
pub async fn after(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    events::table
        .filter(events::org_id.eq(org))
        .filter(events::seq.gt(after))
        .order(events::seq)
        .limit(limit)
        .select(Event::as_select())
        .load(conn)
        .await
}

/// `(last_seq, pruned_through)` of `org`'s stream.
pub async fn watermarks(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<(i64, i64)> {
    org_event_seqs::table
        .find(org)
        .select((org_event_seqs::last_seq, org_event_seqs::pruned_through))
        .first(conn)
        .await
}

/// Deletes events created before `cutoff` and records per org how far the stream was
/// pruned, so a resume from a pruned seq can be told to refetch. Returns rows deleted.
pub async fn prune(conn: &mut AsyncPgConnection, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH gone AS (DELETE FROM events WHERE created_at < $1 RETURNING org_id, seq), \
              per_org AS (SELECT org_id, max(seq) AS through FROM gone GROUP BY org_id), \
              marked AS (UPDATE org_event_seqs s SET pruned_through = greatest(s.pruned_through, p.through) \
                         FROM per_org p WHERE s.org_id = p.org_id RETURNING 1) \
         SELECT count(*) AS n FROM gone",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .prepared()
    .get_result::<Count>(conn)
    .await
    .map(|c| usize::try_from(c.n).unwrap_or(0))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
