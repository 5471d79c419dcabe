//! Auto-assignment: a team's waiting tickets (OPEN, unassigned) go round-robin to its
//! ONLINE members, each under their capacity (the team's `max_open_tickets`, or their
//! own override).
//!
//! [`fill`] runs whenever work or room appears: a ticket is created, reopened or moved
//! into a team, a member comes ONLINE or joins, a ticket is resolved or unassigned, the
//! team's settings change. It locks the team's row first, so fills of one team run one at
//! a time across every worker and instance, and counts each member's open tickets after
//! taking the lock: no member is ever given more than their capacity. Each ticket goes to
//! the member with the fewest open tickets in the team, ties broken by who was assigned
//! longest ago, so nobody is skipped while someone else holds more. Waiting tickets held
//! by another transaction are skipped (that transaction fills the team itself). A
//! reopened ticket stays with its assignee while they are ONLINE in the team and within
//! capacity, and otherwise goes back to round-robin ([`release_reopened`]).

use chrono::{Duration, Utc};
use diesel_async::AsyncPgConnection;

use super::outbox::Outbox;
use super::tickets::notify_assigned;
use crate::db::enums::EventKind;
use crate::db::ids::{OrgId, TeamId, TicketId, UserId};
use crate::db::teams;
use crate::db::tickets::{self, Ticket, TicketChanges};

/// Assigns `org`'s team `team`'s waiting tickets to its free ONLINE members (when the
/// team auto-assigns); the assignments made, in order.
pub async fn fill(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    team: TeamId,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Vec<(TicketId, UserId)>> {
    let Some(team) = teams::lock(conn, org, team).await? else {
        return Ok(Vec::new());
    };
    if !team.auto_assign {
        return Ok(Vec::new());
    }
    let mut candidates = teams::candidates(conn, &team).await?;
    let room: i64 = candidates
        .iter()
        .map(|c| (c.capacity - c.open).max(0))
        .sum();
    let waiting = teams::waiting_tickets(conn, &team, room).await?;
    let now = Utc::now();
    let mut assigned = Vec::new();
    for (n, ticket) in waiting.into_iter().enumerate() {
        let Some(pick) = candidates
            .iter_mut()
            .filter(|c| c.open < c.capacity)
            .min_by_key(|c| (c.open, c.last_assigned_at, c.user_id))
        else {
            break;
        };
        // Distinct times keep the round-robin order within one fill.
        let at = now + Duration::microseconds(i64::try_from(n).unwrap_or(0));
        pick.open += 1;
        pick.last_assigned_at = Some(at);
        let user = pick.user_id;
        let changes = TicketChanges {
            assignee_id: Some(Some(user)),
            ..Default::default()
        };
        let Some(row) = tickets::update(conn, org, ticket, &changes).await? else {
            continue;
        };
        teams::mark_assigned(conn, team.id, user, at).await?;
        outbox.ticket_row(EventKind::TicketUpdated, &row);
        notify_assigned(conn, outbox, &row, user).await?;
        assigned.push((ticket, user));
    }
    if !assigned.is_empty() {
        tracing::info!(org.id = %org, team.id = %team.id, assigned = assigned.len(), "auto-assigned tickets");
    }
    Ok(assigned)
}

/// A ticket of an auto-assigning team that just reopened goes back to round-robin unless
/// its assignee is an ONLINE member of the team within capacity (counting this ticket);
/// `true` when it was unassigned (the caller then fills the team).
pub async fn release_reopened(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    outbox: &mut Outbox,
) -> diesel::QueryResult<bool> {
    let (Some(team), Some(assignee)) = (ticket.team_id, ticket.assignee_id) else {
        return Ok(false);
    };
    let Some(team) = teams::lock(conn, ticket.org_id, team).await? else {
        return Ok(false);
    };
    if !team.auto_assign {
        return Ok(false);
    }
    let keeps = teams::candidates(conn, &team)
        .await?
        .iter()
        .any(|c| c.user_id == assignee && c.open <= c.capacity);
    if keeps {
        return Ok(false);
    }
    let changes = TicketChanges {
        assignee_id: Some(None),
        ..Default::default()
    };
    if let Some(row) = tickets::update(conn, ticket.org_id, ticket.id, &changes).await? {
        outbox.ticket_row(EventKind::TicketUpdated, &row);
    }
    Ok(true)
}

/// [`fill`] for each of these teams, in id order (the lock order).
pub async fn fill_all(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    teams: impl IntoIterator<Item = TeamId>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Vec<(TicketId, UserId)>> {
    let mut teams: Vec<TeamId> = teams.into_iter().collect();
    teams.sort_unstable();
    teams.dedup();
    let mut assigned = Vec::new();
    for team in teams {
        assigned.extend(fill(conn, org, team, outbox).await?);
    }
    Ok(assigned)
}
