//! Agent actions on tickets that need no Meta call: status, priority, assignment and
//! read position. Each change appends its live events in the same transaction.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use crate::db::enums::{EventKind, NotificationType, TicketPriority, TicketStatus};
use crate::db::ids::{OrgId, TeamId, TicketId, UserId};
use crate::db::tickets::{self, Ticket, TicketChanges};
use crate::db::{notifications, orgs, teams};
use crate::error::{AppError, AppResult};
use crate::inbox::assignment;
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
    /// New team; `Some(None)` removes it.
    pub team: Option<Option<TeamId>>,
}

/// Applies `update` to a ticket of `org` on behalf of `actor`. An assignee must belong
/// to the ticket's team when both are set (`BAD_USER_INPUT` otherwise); moving a ticket to
/// a team its assignee is not in unassigns it. The teams concerned then auto-assign.
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
        let before = tickets::find_for_update(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if let Some(Some(team)) = update.team
            && teams::find(conn, org, team).await?.is_none()
        {
            return Err(AppError::NotFound);
        }
        let team = update.team.unwrap_or(before.team_id);
        let mut assignee = update.assignee;
        if let (Some(team), Some(user)) = (team, assignee.unwrap_or(before.assignee_id))
            && !teams::is_member(conn, team, user).await?
        {
            if assignee.is_some() {
                return Err(AppError::bad_input(
                    "the assignee must be a member of the ticket's team",
                ));
            }
            assignee = Some(None);
        }
        let changes = TicketChanges {
            status: update.status,
            priority: update.priority,
            assignee_id: assignee,
            team_id: update.team,
        };
        let mut ticket = tickets::update(conn, org, id, &changes)
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
        let teams = before.team_id.into_iter().chain(ticket.team_id);
        if !assignment::fill_all(conn, org, teams, &mut outbox)
            .await?
            .is_empty()
        {
            ticket = tickets::get(conn, id).await?;
        }
        Ok(outbox.commit(conn, ticket).await?)
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
