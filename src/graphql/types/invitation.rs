//! `Invitation`: an open invitation to join an org, as its ADMINs see it.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::to_id;
use crate::db::enums::Role;
use crate::db::invitations;

/// An invitation to join the org.
pub struct Invitation(pub invitations::Invitation);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The invited email.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The role given on acceptance.
    async fn role(&self) -> Role {
        self.0.role
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// After this, the link no longer works.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}
