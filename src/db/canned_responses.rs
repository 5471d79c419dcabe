//! `canned_responses`: saved replies, org-wide or personal, each with a short code.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ids::{CannedResponseId, OrgId, UserId};
use super::schema::canned_responses;

/// A canned response row.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Queryable,
    Selectable,
    Insertable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = canned_responses)]
pub struct CannedResponse {
    /// Id.
    pub id: CannedResponseId,
    /// Owning org.
    pub org_id: OrgId,
    /// `None`: org-wide; else only this member sees and uses it.
    pub owner_id: Option<UserId>,
    /// What agents type to find it (`[a-z0-9_-]{1,32}`).
    pub short_code: String,
    /// The text, with `{{...}}` placeholders.
    pub body: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a canned response; `None` keeps a column.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = canned_responses)]
pub struct CannedChanges {
    /// New short code.
    pub short_code: Option<String>,
    /// New body.
    pub body: Option<String>,
}

/// The canned responses `user` may use in `org`: org-wide ones and their own, by code.
pub async fn visible_to(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Vec<CannedResponse>> {
    canned_responses::table
        .filter(canned_responses::org_id.eq(org))
        .filter(
            canned_responses::owner_id
                .is_null()
                .or(canned_responses::owner_id.eq(user)),
        )
        .order((canned_responses::short_code, canned_responses::id))
        .select(CannedResponse::as_select())
        .load(&mut conn)
        .await
}

/// One canned response `user` may use in `org`.
pub async fn find_visible(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    id: CannedResponseId,
) -> QueryResult<Option<CannedResponse>> {
    canned_responses::table
        .filter(canned_responses::id.eq(id))
        .filter(canned_responses::org_id.eq(org))
        .filter(
            canned_responses::owner_id
                .is_null()
                .or(canned_responses::owner_id.eq(user)),
        )
        .select(CannedResponse::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a canned response; `None` when its short code is taken in its scope.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &CannedResponse,
) -> QueryResult<Option<CannedResponse>> {
    diesel::insert_into(canned_responses::table)
        .values(row)
        .on_conflict_do_nothing()
        .returning(CannedResponse::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Changes a canned response; the row.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: CannedResponseId,
    changes: &CannedChanges,
) -> QueryResult<CannedResponse> {
    diesel::update(canned_responses::table.find(id))
        .set((changes, canned_responses::updated_at.eq(diesel::dsl::now)))
        .returning(CannedResponse::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a canned response.
pub async fn delete(conn: &mut AsyncPgConnection, id: CannedResponseId) -> QueryResult<()> {
    diesel::delete(canned_responses::table.find(id))
        .execute(conn)
        .await?;
    Ok(())
}
