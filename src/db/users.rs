//! `users`: people who sign in (agents and admins).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ids::UserId;
use super::schema::users;

/// A user account. `password_hash` is an argon2id PHC string and never leaves the server.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Lower-cased email, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id hash.
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Inserts a user; `Ok(false)` when the email is taken.
pub async fn insert(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<bool> {
    let n = diesel::insert_into(users::table)
        .values(user)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The user with this (lower-cased) email.
pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user with this id.
pub async fn find(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Users by id (missing ids are simply absent).
pub async fn find_many(mut conn: &AsyncPgConnection, ids: &[UserId]) -> QueryResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(&mut conn)
        .await
}

/// Replaces `user`'s password hash.
pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    user: UserId,
    hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(user))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await?;
    Ok(())
}
