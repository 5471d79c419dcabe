//! Membership changes: removal, role, availability, and the sweep that sets members
//! OFFLINE once their last socket has been closed for a while. Changes that must keep at
//! least one ADMIN lock the org's row first, so two concurrent demotions cannot both
//! pass the check.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::assignment;
use super::outbox::{Committed, Outbox};
use crate::db::enums::{Availability, EventKind, Role};
use crate::db::ids::{OrgId, UserId};
use crate::db::orgs::{self, Membership};
use crate::db::{presence, teams, tickets};
use crate::error::{AppError, AppResult};

fn last_admin() -> AppError {
    AppError::bad_input("an org needs at least one ADMIN")
}

/// Removes `user` from `org`: their tickets there are unassigned (and go back to their
/// teams' auto-assignment), they leave the org's teams, and their requests and
/// subscriptions in the org are refused from now on. The last ADMIN cannot be removed.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> AppResult<Committed<Membership>> {
    conn.transaction(async |conn| {
        orgs::lock(conn, org).await?;
        let member = orgs::membership(conn, org, user)
            .await?
            .ok_or(AppError::NotFound)?;
        if member.role == Role::Admin && orgs::admin_count(conn, org).await? <= 1 {
            return Err(last_admin());
        }
        let mut outbox = Outbox::default();
        let released = tickets::unassign_all(conn, org, user).await?;
        for ticket in &released {
            outbox.ticket_row(EventKind::TicketUpdated, ticket);
        }
        let team_ids = teams::team_ids_of_user(conn, org, user).await?;
        orgs::remove_member(conn, org, user).await?;
        outbox.member_row(EventKind::MemberRemoved, &member);
        for team in teams::find_many(conn, &team_ids).await? {
            outbox.team_row(EventKind::TeamUpdated, &team);
        }
        let waiting = released.iter().filter_map(|t| t.team_id);
        assignment::fill_all(conn, org, waiting, &mut outbox).await?;
        tracing::info!(org.id = %org, user.id = %user, "removed member");
        Ok(outbox.commit(conn, member).await?)
    })
    .await
}

/// Gives `user` `role` in `org`, keeping at least one ADMIN.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> AppResult<Committed<Membership>> {
    conn.transaction(async |conn| {
        orgs::lock(conn, org).await?;
        let member = orgs::membership(conn, org, user)
            .await?
            .ok_or(AppError::NotFound)?;
        if member.role == Role::Admin
            && role != Role::Admin
            && orgs::admin_count(conn, org).await? <= 1
        {
            return Err(last_admin());
        }
        let member = orgs::set_role(conn, org, user, role)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.member_row(EventKind::MemberUpdated, &member);
        Ok(outbox.commit(conn, member).await?)
    })
    .await
}

/// Sets `user`'s availability in `org`; coming ONLINE takes waiting tickets of their
/// auto-assigning teams.
pub async fn set_availability(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    availability: Availability,
) -> AppResult<Committed<Membership>> {
    conn.transaction(async |conn| {
        let member = orgs::set_availability(conn, org, user, availability)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.member_row(EventKind::MemberUpdated, &member);
        if availability == Availability::Online {
            let teams = teams::team_ids_of_user(conn, org, user).await?;
            assignment::fill_all(conn, org, teams, &mut outbox).await?;
        }
        Ok(outbox.commit(conn, member).await?)
    })
    .await
}

/// Sets OFFLINE every ONLINE or BUSY member with no socket open since `offline_before`
/// (sockets of instances silent since `stale_before` do not count).
pub async fn sweep_offline(
    conn: &mut AsyncPgConnection,
    offline_before: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> diesel::QueryResult<Committed<Vec<Membership>>> {
    conn.transaction(async |conn| {
        let gone = presence::sweep(conn, offline_before, stale_before).await?;
        let mut outbox = Outbox::default();
        for member in &gone {
            outbox.member_row(EventKind::MemberUpdated, member);
        }
        if !gone.is_empty() {
            tracing::info!(
                members = gone.len(),
                "members set OFFLINE after their sockets closed"
            );
        }
        outbox.commit(conn, gone).await
    })
    .await
}
