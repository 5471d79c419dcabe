//! Agent actions on tickets that need no Meta call: status, priority, assignment and
//! read position. Each change appends its live events in the same transaction.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use crate::db::events::EventKind;
use crate::db::ids::{OrgId, TicketId, UserId};
use crate::db::tickets::{self, Ticket, TicketChanges};
use crate::db::{notifications, orgs};
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{self, Outbox};
use crate::state::AppState;

/// What an agent changes on a ticket; `None` keeps the value.
#[derive(Debug, Default, Clone)]
pub struct TicketUpdate {
    /// New status (`OPEN`, `PENDING`, `RESOLVED`, `SNOOZED`).
    pub status: Option<&'static str>,
    /// New priority.
    pub priority: Option<&'static str>,
    /// New assignee; `Some(None)` unassigns.
    pub assignee: Option<Option<UserId>>,
}

/// Applies `update` to a ticket of `org` on behalf of `actor`.
pub async fn update(
    state: &AppState,
    org: OrgId,
    id: TicketId,
    actor: UserId,
    update: TicketUpdate,
) -> AppResult<Ticket> {
    let mut conn = state.conn().await?;
    let (ticket, events) = conn
        .transaction(async |conn| {
            if let Some(Some(assignee)) = update.assignee
                && orgs::membership(conn, org, assignee).await?.is_none()
            {
                return Ok(Err(AppError::bad_input(
                    "assignee must be a member of the org",
                )));
            }
            let before = match tickets::find(conn, org, id).await? {
                Some(t) => t,
                None => return Ok(Err(AppError::NotFound)),
            };
            let changes = TicketChanges {
                status: update.status.map(str::to_owned),
                priority: update.priority.map(str::to_owned),
                assignee_id: update.assignee,
            };
            let Some(ticket) = tickets::update(conn, org, id, &changes).await? else {
                return Ok(Err(AppError::NotFound));
            };
            let mut outbox = Outbox::default();
            outbox.ticket(org, EventKind::TicketUpdated, id);
            if let Some(assignee) = ticket.assignee_id
                && before.assignee_id != Some(assignee)
                && assignee != actor
            {
                notify_assigned(conn, &mut outbox, &ticket, assignee).await?;
            }
            let events = outbox.flush(conn).await?;
            Ok::<_, diesel::result::Error>(Ok((ticket, events)))
        })
        .await??;
    outbox::publish(state, events);
    Ok(ticket)
}

async fn notify_assigned(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    ticket: &Ticket,
    assignee: UserId,
) -> diesel::QueryResult<()> {
    let notification =
        notifications::bump(conn, ticket.org_id, assignee, "ASSIGNED", ticket.id, None).await?;
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
    state: &AppState,
    org: OrgId,
    id: TicketId,
    user: UserId,
) -> AppResult<Ticket> {
    let mut conn = state.conn().await?;
    let ticket = tickets::find(&mut conn, org, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tickets::mark_read(&mut conn, &ticket, user).await?;
    Ok(ticket)
}
