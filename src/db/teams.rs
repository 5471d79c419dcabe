//! `teams` and `team_members`: how an org divides its inbox, and what auto-assignment
//! reads (who can take a ticket, how loaded they are, which tickets wait).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::{Availability, TicketStatus};
use super::ids::{OrgId, TeamId, TicketId, UserId};
use super::schema::{memberships, team_members, teams, tickets};

/// A team row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = teams)]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Owning org.
    pub org_id: OrgId,
    /// Display name (unique per org, ignoring case).
    pub name: String,
    /// New and reopened tickets are assigned round-robin to ONLINE members.
    pub auto_assign: bool,
    /// Open tickets a member may hold in this team (unless overridden for them).
    pub max_open_tickets: i32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A member of a team.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = team_members)]
pub struct TeamMember {
    /// The team.
    pub team_id: TeamId,
    /// The member.
    pub user_id: UserId,
    /// Their org.
    pub org_id: OrgId,
    /// Their own cap on open tickets in this team (else the team's).
    pub max_open_tickets: Option<i32>,
    /// When auto-assignment last gave them a ticket.
    pub last_assigned_at: Option<DateTime<Utc>>,
    /// When they joined the team.
    pub created_at: DateTime<Utc>,
}

/// Team settings to change; `None` keeps a value.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = teams)]
pub struct TeamChanges {
    /// New name.
    pub name: Option<String>,
    /// Auto-assignment on or off.
    pub auto_assign: Option<bool>,
    /// New default capacity.
    pub max_open_tickets: Option<i32>,
}

/// Inserts a team; `false` when the org already has a team of that name.
pub async fn insert(conn: &mut AsyncPgConnection, team: &Team) -> QueryResult<bool> {
    let n = diesel::insert_into(teams::table)
        .values(team)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// A team of `org`.
pub async fn find(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    id: TeamId,
) -> QueryResult<Option<Team>> {
    teams::table
        .filter(teams::id.eq(id))
        .filter(teams::org_id.eq(org))
        .select(Team::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// A team of `org`, locked until the end of the transaction: auto-assignment for the
/// team runs one transaction at a time, so no member is counted twice. The lock is
/// `FOR NO KEY UPDATE`, which does not wait for the key-share locks that rows referencing
/// the team take (a ticket moved into the team in the same or another transaction).
pub async fn lock(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
) -> QueryResult<Option<Team>> {
    teams::table
        .filter(teams::id.eq(id))
        .filter(teams::org_id.eq(org))
        .for_no_key_update()
        .select(Team::as_select())
        .first(conn)
        .await
        .optional()
}

/// Teams by id.
pub async fn find_many(mut conn: &AsyncPgConnection, ids: &[TeamId]) -> QueryResult<Vec<Team>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    teams::table
        .filter(teams::id.eq_any(ids))
        .select(Team::as_select())
        .load(&mut conn)
        .await
}

/// Every team of `org`, by name.
pub async fn list(mut conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Team>> {
    teams::table
        .filter(teams::org_id.eq(org))
        .order((teams::name, teams::id))
        .select(Team::as_select())
        .load(&mut conn)
        .await
}

/// Changes a team of `org`; the updated row (`Ok(None)` when it does not exist).
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
    changes: &TeamChanges,
) -> QueryResult<Option<Team>> {
    diesel::update(teams::table)
        .filter(teams::id.eq(id))
        .filter(teams::org_id.eq(org))
        .set((changes, teams::updated_at.eq(diesel::dsl::now)))
        .returning(Team::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a team of `org` (its tickets keep their assignees and lose the team); the
/// deleted row.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
) -> QueryResult<Option<Team>> {
    diesel::delete(teams::table)
        .filter(teams::id.eq(id))
        .filter(teams::org_id.eq(org))
        .returning(Team::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Adds `user` (a member of the team's org) to a team, or changes their capacity
/// override if they already belong to it.
pub async fn upsert_member(
    conn: &mut AsyncPgConnection,
    team: &Team,
    user: UserId,
    max_open_tickets: Option<i32>,
) -> QueryResult<()> {
    diesel::insert_into(team_members::table)
        .values((
            team_members::team_id.eq(team.id),
            team_members::user_id.eq(user),
            team_members::org_id.eq(team.org_id),
            team_members::max_open_tickets.eq(max_open_tickets),
        ))
        .on_conflict((team_members::team_id, team_members::user_id))
        .do_update()
        .set(team_members::max_open_tickets.eq(max_open_tickets))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes `user` from a team; `false` when they were not in it.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    team: TeamId,
    user: UserId,
) -> QueryResult<bool> {
    let n = diesel::delete(team_members::table.find((team, user)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Whether `user` belongs to `team`.
pub async fn is_member(
    conn: &mut AsyncPgConnection,
    team: TeamId,
    user: UserId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(team_members::table.find((team, user))))
        .get_result(conn)
        .await
}

/// The members of these teams, oldest first.
pub async fn members_of(
    mut conn: &AsyncPgConnection,
    teams: &[TeamId],
) -> QueryResult<Vec<TeamMember>> {
    team_members::table
        .filter(team_members::team_id.eq_any(teams))
        .order((team_members::created_at, team_members::user_id))
        .select(TeamMember::as_select())
        .load(&mut conn)
        .await
}

/// Ids of the teams of `org` that `user` belongs to, in id order.
pub async fn team_ids_of_user(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Vec<TeamId>> {
    team_members::table
        .filter(team_members::org_id.eq(org))
        .filter(team_members::user_id.eq(user))
        .order(team_members::team_id)
        .select(team_members::team_id)
        .load(conn)
        .await
}

/// A member who may take tickets of a team now, with their load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The member.
    pub user_id: UserId,
    /// How many open tickets they may hold in the team.
    pub capacity: i64,
    /// How many they hold (OPEN or PENDING, assigned to them, in the team).
    pub open: i64,
    /// When auto-assignment last gave them one.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// A member, their capacity override, last assignment and open tickets.
type CandidateRow = (UserId, Option<i32>, Option<DateTime<Utc>>, Option<i64>);

/// The ONLINE members of `team` with their capacity and load. Read it after locking the
/// team ([`lock`]) so the counts include every assignment committed before.
pub async fn candidates(conn: &mut AsyncPgConnection, team: &Team) -> QueryResult<Vec<Candidate>> {
    let open = tickets::table
        .filter(tickets::org_id.eq(team.org_id))
        .filter(tickets::team_id.eq(team.id))
        .filter(tickets::assignee_id.eq(team_members::user_id.nullable()))
        .filter(tickets::status.eq_any([TicketStatus::Open, TicketStatus::Pending]))
        .count()
        .single_value();
    let rows: Vec<CandidateRow> = team_members::table
        .inner_join(
            memberships::table.on(memberships::org_id
                .eq(team_members::org_id)
                .and(memberships::user_id.eq(team_members::user_id))),
        )
        .filter(team_members::team_id.eq(team.id))
        .filter(memberships::availability.eq(Availability::Online))
        .select((
            team_members::user_id,
            team_members::max_open_tickets,
            team_members::last_assigned_at,
            open,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, cap, last_assigned_at, open)| Candidate {
            user_id,
            capacity: i64::from(cap.unwrap_or(team.max_open_tickets)),
            open: open.unwrap_or(0),
            last_assigned_at,
        })
        .collect())
}

/// Up to `limit` OPEN, unassigned tickets of `team`, oldest first, locked; tickets
/// another transaction holds are skipped (it will assign them or leave them waiting).
pub async fn waiting_tickets(
    conn: &mut AsyncPgConnection,
    team: &Team,
    limit: i64,
) -> QueryResult<Vec<TicketId>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    tickets::table
        .filter(tickets::org_id.eq(team.org_id))
        .filter(tickets::team_id.eq(team.id))
        .filter(tickets::assignee_id.is_null())
        .filter(tickets::status.eq(TicketStatus::Open))
        .order((tickets::created_at, tickets::id))
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(tickets::id)
        .load(conn)
        .await
}

/// Records when auto-assignment last gave `user` a ticket of `team`.
pub async fn mark_assigned(
    conn: &mut AsyncPgConnection,
    team: TeamId,
    user: UserId,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(team_members::table.find((team, user)))
        .set(team_members::last_assigned_at.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}
