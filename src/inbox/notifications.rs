//! Reading notifications, with live events so every open dashboard of the user updates.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use crate::db::enums::EventKind;
use crate::db::ids::{NotificationId, OrgId, UserId};
use crate::db::notifications::{self, Notification};
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{Committed, Outbox};

/// Marks one notification (`Some(id)`) or all unread ones (`None`) of `user` in `org`
/// read. Returns the notifications concerned; a single id that is not the user's is
/// `NOT_FOUND`.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    id: Option<NotificationId>,
) -> AppResult<Committed<Vec<Notification>>> {
    conn.transaction(async |conn| {
        let rows = match id {
            Some(id) => vec![
                notifications::mark_read(conn, org, user, id)
                    .await?
                    .ok_or(AppError::NotFound)?,
            ],
            None => notifications::mark_all_read(conn, org, user).await?,
        };
        let mut outbox = Outbox::default();
        for row in &rows {
            outbox.notification(
                org,
                EventKind::NotificationRead,
                user,
                row.id,
                row.ticket_id,
            );
        }
        Ok(outbox.commit(conn, rows).await?)
    })
    .await
}
