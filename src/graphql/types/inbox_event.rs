//! `InboxEvent`: one change in an org's inbox, with the rows it is about as they were
//! when it committed.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::customer::Customer;
use super::label::{CannedResponse, Label};
use super::message::Message;
use super::notification::Notification;
use super::team::Team;
use super::ticket::Ticket;
use super::user::Membership;
use crate::events::LiveEvent;
use crate::graphql::loaders::Loaders;

/// A change in the inbox.
pub struct InboxEvent(pub Arc<LiveEvent>);

#[Object]
impl InboxEvent {
    /// Position in the org's stream; pass it as `after` to resume.
    async fn seq(&self) -> String {
        self.0.event.seq.to_string()
    }

    /// `MESSAGE_ADDED`, `MESSAGE_UPDATED`, `TICKET_CREATED`, `TICKET_UPDATED`,
    /// `TICKET_DELETED` (joined into another by a customer merge; the ticket as it was),
    /// `NOTIFICATION_ADDED`, `NOTIFICATION_READ`, `NOTIFICATION_DELETED` (folded into
    /// another by a customer merge; the notification as it was), `MEMBER_ADDED`,
    /// `MEMBER_UPDATED`, `MEMBER_REMOVED`, `TEAM_CREATED`, `TEAM_UPDATED`, `TEAM_DELETED`,
    /// `LABEL_CHANGED`, `LABEL_DELETED`, `CUSTOMER_UPDATED`, `CUSTOMER_DELETED` (merged
    /// into another; the customer as it was), `CANNED_RESPONSE_CHANGED` or
    /// `CANNED_RESPONSE_DELETED`.
    async fn kind(&self) -> &str {
        self.0.event.kind.as_str()
    }

    /// When it committed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.event.created_at
    }

    /// The ticket concerned, as of the event (current if no snapshot was kept).
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        if let Some(ticket) = &self.0.snapshot.ticket {
            return Ok(Some(Ticket(ticket.clone())));
        }
        let Some(id) = self.0.event.ticket_id else {
            return Ok(None);
        };
        let ticket = ctx.data::<Loaders>()?.load_one(id).await?;
        Ok(ticket
            .filter(|t| t.org_id == self.0.event.org_id)
            .map(Ticket))
    }

    /// The message concerned, as of the event.
    async fn message(&self) -> Option<Message> {
        self.0.snapshot.message.clone().map(Message)
    }

    /// The member concerned (MEMBER_* events), as of the event.
    async fn member(&self) -> Option<Membership> {
        self.0.snapshot.member.clone().map(Membership)
    }

    /// The team concerned (TEAM_* events), as of the event.
    async fn team(&self) -> Option<Team> {
        self.0.snapshot.team.clone().map(Team)
    }

    /// The notification concerned, as of the event (only ever the subscriber's own).
    async fn notification(&self) -> Option<Notification> {
        self.0.snapshot.notification.clone().map(Notification)
    }

    /// The label concerned (as it was, for LABEL_DELETED).
    async fn label(&self) -> Option<Label> {
        self.0.snapshot.label.clone().map(Label)
    }

    /// The canned response concerned (personal ones only reach their owner).
    async fn canned_response(&self) -> Option<CannedResponse> {
        self.0.snapshot.canned_response.clone().map(CannedResponse)
    }

    /// The customer concerned.
    async fn customer(&self) -> Option<Customer> {
        self.0.snapshot.customer.clone().map(Customer)
    }
}
