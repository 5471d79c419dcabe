//! `Notification`.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::message::Message;
use super::ticket::Ticket;
use super::to_id;
use crate::db::enums::NotificationType;
use crate::db::notifications;
use crate::graphql::loaders::Loaders;

/// Something a user should look at; coalesced per ticket while unread.
pub struct Notification(pub notifications::Notification);

#[Object]
impl Notification {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    #[graphql(name = "type")]
    async fn notification_type(&self) -> Result<NotificationType> {
        Ok(self.0.type_)
    }

    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        let Some(id) = self.0.ticket_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(Ticket))
    }

    /// The latest message it is about.
    async fn message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let Some(id) = self.0.message_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(Message))
    }

    /// How many events were coalesced into it.
    async fn count(&self) -> i32 {
        self.0.count
    }

    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
