//! `Label` and `CannedResponse`: an org's tags and saved replies.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::to_id;
use crate::db::{canned_responses, labels};

/// A tag an org puts on tickets and customers.
pub struct Label(pub labels::Label);

#[Object]
impl Label {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// `#rrggbb`.
    async fn colour(&self) -> &str {
        &self.0.colour
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A saved reply. Placeholders `{{customer.name}}`, `{{agent.name}}` and
/// `{{ticket.id}}` are filled in on the server when it is sent.
pub struct CannedResponse(pub canned_responses::CannedResponse);

#[Object]
impl CannedResponse {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What agents type to find it.
    async fn short_code(&self) -> &str {
        &self.0.short_code
    }

    /// The text, placeholders unrendered.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Only its owner sees and uses a personal response; org-wide ones are for everyone.
    async fn personal(&self) -> bool {
        self.0.owner_id.is_some()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
