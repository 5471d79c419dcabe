//! `Channel`: a connected Meta account. Secrets are never readable: only whether an
//! access token is set, a masked hint, and the verify token for ADMINs.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::team::Team;
use super::template::WhatsAppTemplate;
use super::to_id;
use crate::crypto::aad;
use crate::db::channels;
use crate::db::enums::{ChannelStatus, Platform};
use crate::error::AppError;
use crate::graphql::context::{admin, state};
use crate::graphql::flat::{RowFields, out, text};
use crate::graphql::loaders::{Loaders, TemplatesOf};

/// A connected Instagram account, Facebook Page or WhatsApp number.
pub struct Channel(pub channels::Channel);

#[Object]
impl Channel {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn platform(&self) -> Result<Platform> {
        Ok(self.0.platform)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// IG account id, Page id or WhatsApp phone number id.
    async fn external_account_id(&self) -> &str {
        &self.0.external_account_id
    }

    /// WhatsApp: the WhatsApp Business Account id (templates are synced from it).
    async fn business_account_id(&self) -> Option<&str> {
        self.0.business_account_id.as_deref()
    }

    /// WhatsApp: the message templates as last synced (empty on other platforms).
    async fn templates(&self, ctx: &Context<'_>) -> Result<Vec<WhatsAppTemplate>> {
        if self.0.platform != Platform::WhatsApp {
            return Ok(Vec::new());
        }
        let rows = ctx
            .data::<Loaders>()?
            .load_one(TemplatesOf(self.0.id))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(WhatsAppTemplate)
            .collect())
    }

    async fn status(&self) -> Result<ChannelStatus> {
        Ok(self.0.status)
    }

    /// Why the channel is not ACTIVE (e.g. Meta rejected its token).
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }

    /// The path to configure as callback URL at Meta (prefix it with your public origin).
    async fn webhook_path(&self) -> String {
        self.0.webhook_path()
    }

    async fn has_access_token(&self) -> bool {
        !self.0.access_token_enc.is_empty()
    }

    /// Last characters of the access token, e.g. `••••a1b2`.
    async fn access_token_hint(&self) -> &str {
        &self.0.access_token_hint
    }

    /// The webhook verify token; ADMINs only.
    async fn verify_token(&self, ctx: &Context<'_>) -> Result<String> {
        admin(ctx, self.0.org_id).await?;
        let plain = state(ctx)?
            .secrets()
            .open(&self.0.verify_token_enc, &aad(self.0.id.0, "verify_token"))
            .map_err(AppError::internal)?;
        Ok(plain)
    }

    /// Whether replies may use the HUMAN_AGENT tag (7-day window).
    async fn human_agent_enabled(&self) -> bool {
        self.0.human_agent_enabled
    }

    /// The team new tickets of the channel go to.
    async fn default_team(&self, ctx: &Context<'_>) -> Result<Option<Team>> {
        let Some(id) = self.0.default_team_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<crate::graphql::loaders::Loaders>()?
            .load_one(id)
            .await?
            .map(Team))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Every field but `verifyToken` (ADMINs only), `templates` and `defaultTeam`.
impl RowFields for Channel {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let c = &self.0;
        Some(match name {
            "id" => out(&to_id(c.id)),
            "platform" => out(&c.platform),
            "name" => text(Some(&c.name)),
            "externalAccountId" => text(Some(&c.external_account_id)),
            "businessAccountId" => text(c.business_account_id.as_deref()),
            "status" => out(&c.status),
            "statusReason" => text(c.status_reason.as_deref()),
            "webhookPath" => out(&c.webhook_path()),
            "hasAccessToken" => out(&!c.access_token_enc.is_empty()),
            "accessTokenHint" => text(Some(&c.access_token_hint)),
            "humanAgentEnabled" => out(&c.human_agent_enabled),
            "createdAt" => out(&c.created_at),
            "updatedAt" => out(&c.updated_at),
            _ => return None,
        })
    }
}
