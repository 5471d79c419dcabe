//! Agent actions on tickets that need no Meta call: status, priority, assignment,
//! labels (one ticket or up to [`BULK_LIMIT`] at once), snoozing and read position. Each
//! change appends its live events in the same transaction.

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use crate::db::enums::{EventKind, NotificationType, TicketPriority, TicketStatus};
use crate::db::ids::{LabelId, OrgId, TeamId, TicketId, UserId};
use crate::db::tickets::{self, Ticket, TicketChanges};
use crate::db::{labels, notifications, orgs, teams};
use crate::error::{AppError, AppResult};
use crate::inbox::assignment;
use crate::inbox::outbox::{Committed, Outbox};

/// What an agent changes on a ticket; `None` keeps the value.
#[derive(Debug, Default, Clone)]
pub struct TicketUpdate {
    /// New status (SNOOZED only through [`snooze`], which needs a time).
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<TicketPriority>,
    /// New assignee; `Some(None)` unassigns.
    pub assignee: Option<Option<UserId>>,
    /// New team; `Some(None)` removes it.
    pub team: Option<Option<TeamId>>,
}

/// Most tickets one bulk update may change.
pub const BULK_LIMIT: usize = 100;

/// What a bulk update changes on every ticket it names; `None` keeps the value.
#[derive(Debug, Default, Clone)]
pub struct BulkUpdate {
    /// Status, priority, assignee and team.
    pub fields: TicketUpdate,
    /// Labels to set.
    pub add_labels: Vec<LabelId>,
    /// Labels to remove.
    pub remove_labels: Vec<LabelId>,
}

/// The column changes of `update`: a status change also clears the snooze and sets or
/// clears `resolved_at`.
fn changes_of(update: &TicketUpdate) -> AppResult<TicketChanges> {
    if update.status == Some(TicketStatus::Snoozed) {
        return Err(AppError::bad_input(
            "a ticket is snoozed with snoozeTicket, which needs a time",
        ));
    }
    Ok(TicketChanges {
        status: update.status,
        priority: update.priority,
        assignee_id: update.assignee,
        team_id: update.team,
        snoozed_until: update.status.map(|_| None),
        resolved_at: update
            .status
            .map(|s| (s == TicketStatus::Resolved).then(Utc::now)),
    })
}

/// Applies `update` to a ticket of `org` on behalf of `actor` (see [`update_many`]).
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
    actor: UserId,
    update: TicketUpdate,
) -> AppResult<Committed<Ticket>> {
    let bulk = BulkUpdate {
        fields: update,
        ..Default::default()
    };
    let mut committed = update_many(conn, org, &[id], actor, bulk).await?;
    let ticket = committed.value.pop().ok_or(AppError::NotFound)?;
    Ok(Committed {
        value: ticket,
        events: committed.events,
        new_jobs: committed.new_jobs,
    })
}

/// Applies one change to up to [`BULK_LIMIT`] tickets of `org`, all or nothing, in one
/// transaction: any id that is not a ticket (or label) of `org` is NOT_FOUND and changes
/// nothing. An assignee must belong to a ticket's team when both are set
/// (`BAD_USER_INPUT` otherwise); moving a ticket to a team its assignee is not in
/// unassigns it. The teams concerned then auto-assign. Returns the tickets in the order
/// asked.
pub async fn update_many(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[TicketId],
    actor: UserId,
    update: BulkUpdate,
) -> AppResult<Committed<Vec<Ticket>>> {
    if ids.len() > BULK_LIMIT {
        return Err(AppError::bad_input(format!(
            "at most {BULK_LIMIT} tickets can be updated at once"
        )));
    }
    let changes = changes_of(&update.fields)?;
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    conn.transaction(async |conn| {
        if let Some(Some(assignee)) = update.fields.assignee
            && orgs::membership(conn, org, assignee).await?.is_none()
        {
            return Err(AppError::bad_input("assignee must be a member of the org"));
        }
        super::labels::check_owned(conn, org, &update.add_labels).await?;
        super::labels::check_owned(conn, org, &update.remove_labels).await?;
        let before = tickets::lock_many(conn, org, &sorted).await?;
        if before.len() != sorted.len() {
            return Err(AppError::NotFound);
        }
        if let Some(Some(team)) = update.fields.team
            && teams::find(conn, org, team).await?.is_none()
        {
            return Err(AppError::NotFound);
        }
        // Tickets whose kept assignee is not in their new team lose the assignee.
        let mut keep = Vec::with_capacity(before.len());
        let mut unassign = Vec::new();
        for ticket in &before {
            let team = update.fields.team.unwrap_or(ticket.team_id);
            let assignee = update.fields.assignee.unwrap_or(ticket.assignee_id);
            if let (Some(team), Some(user)) = (team, assignee)
                && !teams::is_member(conn, team, user).await?
            {
                if update.fields.assignee.is_some() {
                    return Err(AppError::bad_input(
                        "the assignee must be a member of the ticket's team",
                    ));
                }
                unassign.push(ticket.id);
            } else {
                keep.push(ticket.id);
            }
        }
        let mut updated = Vec::with_capacity(before.len());
        if !keep.is_empty() {
            updated.extend(tickets::update_many(conn, org, &keep, &changes).await?);
        }
        if !unassign.is_empty() {
            let changes = TicketChanges {
                assignee_id: Some(None),
                ..changes
            };
            updated.extend(tickets::update_many(conn, org, &unassign, &changes).await?);
        }
        labels::set_on_tickets(
            conn,
            org,
            &sorted,
            &update.add_labels,
            &update.remove_labels,
        )
        .await?;
        let mut outbox = Outbox::default();
        for ticket in &updated {
            outbox.ticket_row(EventKind::TicketUpdated, ticket);
            let was = before.iter().find(|b| b.id == ticket.id);
            if let Some(assignee) = ticket.assignee_id
                && was.and_then(|b| b.assignee_id) != Some(assignee)
                && assignee != actor
            {
                notify_assigned(conn, &mut outbox, ticket, assignee).await?;
            }
        }
        let touched = before.iter().chain(&updated).filter_map(|t| t.team_id);
        if !assignment::fill_all(conn, org, touched, &mut outbox)
            .await?
            .is_empty()
        {
            updated = tickets::find_many(conn, &sorted).await?;
        }
        let mut in_order = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = updated.iter().find(|t| t.id == *id) {
                in_order.push(t.clone());
            }
        }
        Ok(outbox.commit(conn, in_order).await?)
    })
    .await
}

/// Longest snooze.
const MAX_SNOOZE: Duration = Duration::days(366);

/// Snoozes a ticket of `org` until `until` (in the future, at most a year away): it
/// reopens then ([`wake_due`]), or as soon as the customer writes.
pub async fn snooze(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
    until: DateTime<Utc>,
) -> AppResult<Committed<Ticket>> {
    let now = Utc::now();
    if until <= now || until > now + MAX_SNOOZE {
        return Err(AppError::bad_input(
            "until must be in the future and at most a year away",
        ));
    }
    conn.transaction(async |conn| {
        let changes = TicketChanges {
            status: Some(TicketStatus::Snoozed),
            snoozed_until: Some(Some(until)),
            resolved_at: Some(None),
            ..Default::default()
        };
        let ticket = tickets::update(conn, org, id, &changes)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.ticket_row(EventKind::TicketUpdated, &ticket);
        Ok(outbox.commit(conn, ticket).await?)
    })
    .await
}

/// Reopens up to `limit` snoozed tickets whose time has come, in one transaction. Each
/// is woken exactly once however many workers run this at the same time: the rows are
/// claimed with `SKIP LOCKED` and the update re-checks the SNOOZED status.
pub async fn wake_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> diesel::QueryResult<Committed<Vec<Ticket>>> {
    conn.transaction(async |conn| {
        let woken = tickets::wake_due(conn, limit).await?;
        let mut outbox = Outbox::default();
        for ticket in &woken {
            outbox.ticket_row(EventKind::TicketUpdated, ticket);
        }
        outbox.commit(conn, woken).await
    })
    .await
}

/// Gives `assignee` an ASSIGNED notification for `ticket`.
pub(crate) async fn notify_assigned(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    ticket: &Ticket,
    assignee: UserId,
) -> diesel::QueryResult<()> {
    let notification = notifications::bump(
        conn,
        ticket.org_id,
        assignee,
        NotificationType::Assigned,
        ticket.id,
        None,
    )
    .await?;
    outbox.notification(
        ticket.org_id,
        EventKind::NotificationAdded,
        assignee,
        notification,
        Some(ticket.id),
    );
    Ok(())
}

/// Marks everything in a ticket of `org` read for `user`.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
    user: UserId,
) -> AppResult<Ticket> {
    let ticket = tickets::find(conn, org, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tickets::mark_read(conn, &ticket, user).await?;
    Ok(ticket)
}
