//! Teams: creating, changing and deleting them, and who belongs to them. Every change
//! is a TEAM_* live event; changes that make room (auto-assignment switched on, a higher
//! capacity, a new member) let the team's waiting tickets be assigned at once.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::assignment;
use super::outbox::{Committed, Outbox};
use crate::db::enums::EventKind;
use crate::db::ids::{OrgId, TeamId, UserId};
use crate::db::orgs;
use crate::db::teams::{self, Team, TeamChanges};
use crate::error::{AppError, AppResult};

/// Largest capacity a team or member may be given.
pub const MAX_CAPACITY: i32 = 10_000;

/// Settings of a team; `None` keeps a value (or takes the default on creation).
#[derive(Debug, Clone, Default)]
pub struct TeamSettings {
    /// Name (1 to 200 characters, unique in the org ignoring case).
    pub name: Option<String>,
    /// Auto-assignment on or off.
    pub auto_assign: Option<bool>,
    /// Open tickets each member may hold in the team.
    pub max_open_tickets: Option<i32>,
}

fn capacity(value: Option<i32>) -> AppResult<Option<i32>> {
    match value {
        Some(n) if !(0..=MAX_CAPACITY).contains(&n) => Err(AppError::bad_input(format!(
            "maxOpenTickets must be 0 to {MAX_CAPACITY}"
        ))),
        _ => Ok(value),
    }
}

fn name_taken() -> AppError {
    AppError::bad_input("the org already has a team of this name")
}

/// Creates a team in `org`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    settings: TeamSettings,
) -> AppResult<Committed<Team>> {
    let name = crate::auth::non_blank("name", settings.name.as_deref().unwrap_or(""))?;
    let now = Utc::now();
    let team = Team {
        id: TeamId::new(),
        org_id: org,
        name,
        auto_assign: settings.auto_assign.unwrap_or(false),
        max_open_tickets: capacity(settings.max_open_tickets)?.unwrap_or(10),
        created_at: now,
        updated_at: now,
    };
    conn.transaction(async |conn| {
        if !teams::insert(conn, &team).await? {
            return Err(name_taken());
        }
        let mut outbox = Outbox::default();
        outbox.team_row(EventKind::TeamCreated, &team);
        Ok(outbox.commit(conn, team.clone()).await?)
    })
    .await
}

/// Changes a team's name or settings.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
    settings: TeamSettings,
) -> AppResult<Committed<Team>> {
    let changes = TeamChanges {
        name: settings
            .name
            .as_deref()
            .map(|n| crate::auth::non_blank("name", n))
            .transpose()?,
        auto_assign: settings.auto_assign,
        max_open_tickets: capacity(settings.max_open_tickets)?,
    };
    conn.transaction(async |conn| {
        if let Some(name) = &changes.name
            && teams::list(conn, org)
                .await?
                .iter()
                .any(|t| t.id != id && t.name.to_lowercase() == name.to_lowercase())
        {
            return Err(name_taken());
        }
        let team = match teams::update(conn, org, id, &changes).await {
            // A concurrent rename took the name between the check and the update.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => return Err(name_taken()),
            updated => updated?.ok_or(AppError::NotFound)?,
        };
        let mut outbox = Outbox::default();
        outbox.team_row(EventKind::TeamUpdated, &team);
        assignment::fill(conn, org, id, &mut outbox).await?;
        Ok(outbox.commit(conn, team).await?)
    })
    .await
}

/// Deletes a team: its tickets keep their assignees and lose the team, and channels that
/// named it as their default no longer do.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
) -> AppResult<Committed<Team>> {
    conn.transaction(async |conn| {
        let team = teams::delete(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.team_row(EventKind::TeamDeleted, &team);
        Ok(outbox.commit(conn, team).await?)
    })
    .await
}

/// Adds a member of `org` to a team (or changes their capacity override when already
/// in it); they may take its waiting tickets at once.
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
    user: UserId,
    max_open_tickets: Option<i32>,
) -> AppResult<Committed<Team>> {
    let max_open_tickets = capacity(max_open_tickets)?;
    conn.transaction(async |conn| {
        let team = teams::find(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if orgs::membership(conn, org, user).await?.is_none() {
            return Err(AppError::NotFound);
        }
        teams::upsert_member(conn, &team, user, max_open_tickets).await?;
        let mut outbox = Outbox::default();
        outbox.team_row(EventKind::TeamUpdated, &team);
        assignment::fill(conn, org, id, &mut outbox).await?;
        Ok(outbox.commit(conn, team).await?)
    })
    .await
}

/// Removes a member from a team; their tickets of the team stay theirs.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TeamId,
    user: UserId,
) -> AppResult<Committed<Team>> {
    conn.transaction(async |conn| {
        let team = teams::find(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !teams::remove_member(conn, id, user).await? {
            return Err(AppError::NotFound);
        }
        let mut outbox = Outbox::default();
        outbox.team_row(EventKind::TeamUpdated, &team);
        Ok(outbox.commit(conn, team).await?)
    })
    .await
}
