//! `orgs` and `memberships`: tenants and who belongs to them with which role.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::{Availability, Role};
use super::ids::{OrgId, UserId};
use super::schema::{memberships, org_event_seqs, orgs};

/// An organisation (tenant).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs)]
pub struct Org {
    /// Id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user's membership in an org.
#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = memberships)]
pub struct Membership {
    /// The org.
    pub org_id: OrgId,
    /// The member.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub created_at: DateTime<Utc>,
    /// Whether they take work now.
    pub availability: Availability,
    /// When their availability last changed.
    pub availability_changed_at: DateTime<Utc>,
}

/// Creates an org (with its event counter row).
pub async fn insert(conn: &mut AsyncPgConnection, org: &Org) -> QueryResult<()> {
    diesel::insert_into(orgs::table)
        .values(org)
        .execute(conn)
        .await?;
    diesel::insert_into(org_event_seqs::table)
        .values(org_event_seqs::org_id.eq(org.id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Loads orgs by id.
pub async fn find_many(mut conn: &AsyncPgConnection, ids: &[OrgId]) -> QueryResult<Vec<Org>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    orgs::table
        .filter(orgs::id.eq_any(ids))
        .select(Org::as_select())
        .load(&mut conn)
        .await
}

/// Adds `user` to `org` with `role`; `false` when they already were a member.
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(memberships::table)
        .values((
            memberships::org_id.eq(org),
            memberships::user_id.eq(user),
            memberships::role.eq(role),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The membership of `user` in `org`, if any.
pub async fn membership(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Option<Membership>> {
    memberships::table
        .find((org, user))
        .select(Membership::as_select())
        .first(conn)
        .await
        .optional()
}

/// Every membership of `user`, oldest first.
pub async fn memberships_of_user(
    mut conn: &AsyncPgConnection,
    user: UserId,
) -> QueryResult<Vec<Membership>> {
    memberships::table
        .filter(memberships::user_id.eq(user))
        .order((memberships::created_at, memberships::org_id))
        .select(Membership::as_select())
        .load(&mut conn)
        .await
}

/// Every member of `org`, oldest first.
pub async fn members(mut conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Membership>> {
    memberships::table
        .filter(memberships::org_id.eq(org))
        .order((memberships::created_at, memberships::user_id))
        .select(Membership::as_select())
        .load(&mut conn)
        .await
}

/// Ids of every member of each of `orgs` (one query; an org without members is absent).
pub async fn member_ids_of(
    conn: &mut AsyncPgConnection,
    orgs: &[OrgId],
) -> QueryResult<HashMap<OrgId, Vec<UserId>>> {
    if orgs.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(OrgId, UserId)> = memberships::table
        .filter(memberships::org_id.eq_any(orgs))
        .order((memberships::org_id, memberships::user_id))
        .select((memberships::org_id, memberships::user_id))
        .load(conn)
        .await?;
    let mut members: HashMap<OrgId, Vec<UserId>> = HashMap::new();
    for (org, user) in rows {
        members.entry(org).or_default().push(user);
    }
    Ok(members)
}

/// Locks `org`'s row until the end of the transaction: membership changes that must keep
/// an invariant over all members (at least one ADMIN) take it first, so they run one at
/// a time per org. `FOR NO KEY UPDATE` leaves alone the transactions that merely insert
/// rows referencing the org.
pub async fn lock(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<()> {
    orgs::table
        .find(org)
        .select(orgs::id)
        .for_no_key_update()
        .first::<OrgId>(conn)
        .await?;
    Ok(())
}

/// How many ADMINs `org` has.
pub async fn admin_count(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::org_id.eq(org))
        .filter(memberships::role.eq(Role::Admin))
        .count()
        .get_result(conn)
        .await
}

/// Sets `user`'s role in `org`; the updated membership, if they are a member.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> QueryResult<Option<Membership>> {
    diesel::update(memberships::table.find((org, user)))
        .set(memberships::role.eq(role))
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Sets `user`'s availability in `org`; the updated membership, if they are a member.
pub async fn set_availability(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    availability: Availability,
) -> QueryResult<Option<Membership>> {
    diesel::update(memberships::table.find((org, user)))
        .set((
            memberships::availability.eq(availability),
            memberships::availability_changed_at.eq(diesel::dsl::now),
        ))
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Removes `user` from `org` (their team memberships go with it); the removed
/// membership, if they were a member.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Option<Membership>> {
    diesel::delete(memberships::table.find((org, user)))
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
        .optional()
}
/// Every member of `org` with their (lower-cased) email.
pub async fn member_emails(
    conn: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Vec<(UserId, String)>> {
    use super::schema::users;
    memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(org))
        .order(memberships::user_id)
        .select((memberships::user_id, users::email))
        .load(conn)
        .await
}
