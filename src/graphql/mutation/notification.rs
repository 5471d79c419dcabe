//! `markNotificationRead`, `markAllNotificationsRead`.

use async_graphql::{Context, ID, Object, Result};

use crate::db::ids::{NotificationId, OrgId};
use crate::db::notifications;
use crate::error::AppError;
use crate::graphql::context::{member, state, viewer};
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
        let org = parse_id(&org_id, OrgId::parse)?;
        let id = parse_id(&id, NotificationId::parse)?;
        member(ctx, org).await?;
        let user = viewer(ctx)?.user_id;
        let state = state(ctx)?;
        let mut conn = state.conn().await?;
        let read = notification_ops::mark_read(&mut conn, org, user, Some(id)).await?;
        let row: Option<notifications::Notification> = state.publish(read).into_iter().next();
        Ok(Notification(row.ok_or(AppError::NotFound)?))
    }

    /// Marks all the caller's unread notifications in the org read; returns how many.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>, org_id: ID) -> Result<i32> {
        let org = parse_id(&org_id, OrgId::parse)?;
        member(ctx, org).await?;
        let user = viewer(ctx)?.user_id;
        let state = state(ctx)?;
        let mut conn = state.conn().await?;
        let read = notification_ops::mark_read(&mut conn, org, user, None).await?;
        Ok(i32::try_from(state.publish(read).len()).unwrap_or(i32::MAX))
    }
}
