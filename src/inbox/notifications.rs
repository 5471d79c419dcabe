//! Reading notifications, with live events so every open dashboard of the user updates.

use diesel_async::AsyncConnection as _;

use crate::db::events::EventKind;
use crate::db::ids::{NotificationId, OrgId, UserId};
use crate::db::notifications::{self, Notification};
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{self, Outbox};
use crate::state::AppState;

/// Marks one notification (`Some(id)`) or all unread ones (`None`) of `user` in `org`
/// read. Returns the notifications concerned; a single id that is not the user's is
/// `NOT_FOUND`.
pub async fn mark_read(
    state: &AppState,
    org: OrgId,
    user: UserId,
    id: Option<NotificationId>,
) -> AppResult<Vec<Notification>> {
    let mut conn = state.conn().await?;
    let (rows, events) = conn
        .transaction(async |conn| {
            let rows = match id {
                Some(id) => match notifications::mark_read(conn, org, user, id).await? {
                    Some(row) => vec![row],
                    None => return Ok(Err(AppError::NotFound)),
                },
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
            let events = outbox.flush(conn).await?;
            Ok::<_, diesel::result::Error>(Ok((rows, events)))
        })
        .await??;
    outbox::publish(state, events);
    Ok(rows)
}
