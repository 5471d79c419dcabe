//! Agent actions on tickets that need no Meta call: status, priority, assignment and
//! read position. Each change appends its live events in the same transaction.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use crate::db::enums::{EventKind, NotificationType, TicketPriority, TicketStatus};
use crate::db::ids::{OrgId, TicketId, UserId};
use crate::db::tickets::{self, Ticket, TicketChanges};
use crate::db::{notifications, orgs};
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{Committed, Outbox};

/// What an agent changes on a ticket; `None` keeps the value.
#[derive(Debug, Default, Clone)]
pub struct TicketUpdate {
    /// New status.
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<TicketPriority>,
    /// New assignee; `Some(None)` unassigns.
    pub assignee: Option<Option<UserId>>,
}

/// Applies `update` to a ticket of `org` on behalf of `actor`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
    actor: UserId,
    update: TicketUpdate,
) -> AppResult<Committed<Ticket>> {
    conn.transaction(async |conn| {
        if let Some(Some(assignee)) = update.assignee
            && orgs::membership(conn, org, assignee).await?.is_none()
        {
            return Err(AppError::bad_input("assignee must be a member of the org"));
        }
        let before = tickets::find(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let changes = TicketChanges {
            status: update.status,
            priority: update.priority,
            assignee_id: update.assignee,
        };
        let ticket = tickets::update(conn, org, id, &changes)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.ticket(org, EventKind::TicketUpdated, id);
        if let Some(assignee) = ticket.assignee_id
            && before.assignee_id != Some(assignee)
            && assignee != actor
        {
            notify_assigned(conn, &mut outbox, &ticket, assignee).await?;
        }
        Ok(outbox.commit(conn, ticket).await?)
    })
    .await
}

async fn notify_assigned(
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
