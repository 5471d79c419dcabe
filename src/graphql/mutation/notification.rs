//! `markNotificationRead`, `markAllNotificationsRead`.

use async_graphql::{Context, ID, Object, Result};

use crate::db::enums::Role;
use crate::db::ids::NotificationId;
use crate::db::notifications;
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::notification::Notification;
use crate::graphql::types::parse_id;
use crate::inbox::notifications as notification_ops;

/// Reading notifications.
#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks one of the caller's notifications read.
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
    ) -> Result<Notification> {
        let id = parse_id(&id, NotificationId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let read =
            notification_ops::mark_read(&mut call.conn, call.org, call.user, Some(id)).await?;
        let row: Option<notifications::Notification> = call.state.publish(read).into_iter().next();
        Ok(Notification(row.ok_or(AppError::NotFound)?))
    }

    /// Marks all the caller's unread notifications in the org read; returns how many.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>, org_id: ID) -> Result<i32> {
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let read = notification_ops::mark_read(&mut call.conn, call.org, call.user, None).await?;
        Ok(i32::try_from(call.state.publish(read).len()).unwrap_or(i32::MAX))
    }
}
