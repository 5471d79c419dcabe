//! `createChannel`, `updateChannel`, `deleteChannel` (ADMIN only). A new or rotated access
//! token is checked with Meta to belong to the channel's account first.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use crate::db::channels;
use crate::db::enums::Platform;
use crate::db::enums::Role;
use crate::db::ids::{ChannelId, TeamId};
use crate::error::{AppError, AppResult};
use crate::graphql::context::org_call;
use crate::graphql::types::channel::Channel;
use crate::graphql::types::{maybe_id, parse_id};
use crate::inbox::channels::{self as channel_ops, ChannelUpdate, NewChannel};
use crate::outbound::graph::ownership::{self, OwnershipError};
use crate::state::AppState;

/// A Meta account to connect.
#[derive(InputObject)]
pub struct CreateChannelInput {
    /// Which platform.
    platform: Platform,
    /// Display name.
    #[graphql(validator(max_length = 200))]
    name: String,
    /// IG account id, Page id or WhatsApp phone number id.
    #[graphql(validator(max_length = 100))]
    external_account_id: String,
    /// Graph API access token (stored encrypted, never returned).
    #[graphql(validator(max_length = 4096))]
    access_token: String,
    /// Meta app secret (stored encrypted, never returned).
    #[graphql(validator(max_length = 4096))]
    app_secret: String,
    /// The verify token you enter at Meta.
    #[graphql(validator(max_length = 4096))]
    verify_token: String,
    /// Whether replies up to 7 days after the customer's last message may use Meta's
    /// HUMAN_AGENT tag (Instagram and Messenger; the Meta app must be approved for it).
    #[graphql(default)]
    human_agent_enabled: bool,
    /// Team that new tickets of the channel go to.
    default_team_id: Option<ID>,
    /// WhatsApp: the WhatsApp Business Account id of the phone number (its message
    /// templates are synced on connect).
    #[graphql(validator(max_length = 100))]
    business_account_id: Option<String>,
}

/// Changes to a channel; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateChannelInput {
    /// New name.
    #[graphql(validator(max_length = 200))]
    name: Option<String>,
    /// New access token (re-activates a channel that needed re-authorisation).
    #[graphql(validator(max_length = 4096))]
    access_token: Option<String>,
    /// New app secret.
    #[graphql(validator(max_length = 4096))]
    app_secret: Option<String>,
    /// New verify token.
    #[graphql(validator(max_length = 4096))]
    verify_token: Option<String>,
    /// Turn the channel on or off.
    enabled: Option<bool>,
    /// Allow or forbid the HUMAN_AGENT tag.
    human_agent_enabled: Option<bool>,
    /// Team that new tickets of the channel go to; null clears it.
    default_team_id: MaybeUndefined<ID>,
    /// WhatsApp: set the WhatsApp Business Account id (templates are synced again).
    #[graphql(validator(max_length = 100))]
    business_account_id: Option<String>,
}

/// Refuses a token that is not `account`'s, before anything is stored (see
/// [`ownership`]): a tenant cannot claim another business's account.
async fn verify_owner(
    state: &AppState,
    platform: Platform,
    account: &str,
    token: &str,
) -> AppResult<()> {
    if !state.config().verify_channel_ownership {
        tracing::info!(%platform, "channel ownership not verified (local sandbox)");
        return Ok(());
    }
    ownership::verify(state.graph(), platform, account, token.trim())
        .await
        .map_err(|e| match e {
            OwnershipError::Unreachable(_) => AppError::RetryLater {
                message: e.to_string(),
                retry_after: VERIFY_RETRY_AFTER,
            },
            OwnershipError::NotTheAccount(_) | OwnershipError::Refused(_) => {
                AppError::bad_input(e.to_string())
            }
        })
}

/// When to try connecting again after Meta could not be asked.
const VERIFY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Channel management.
#[derive(Default)]
pub struct ChannelMutation;

#[Object]
impl ChannelMutation {
    /// Connects a Meta account.
    async fn create_channel(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: CreateChannelInput,
    ) -> Result<Channel> {
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let account = channel_ops::account_id(&input.external_account_id)?;
        verify_owner(call.state, input.platform, account, &input.access_token).await?;
        let new = NewChannel {
            platform: input.platform,
            name: input.name,
            external_account_id: input.external_account_id,
            access_token: input.access_token,
            app_secret: input.app_secret,
            verify_token: input.verify_token,
            human_agent_enabled: input.human_agent_enabled,
            default_team: input
                .default_team_id
                .map(|t| parse_id(&t, TeamId::parse))
                .transpose()?,
            business_account_id: input.business_account_id,
        };
        let channel =
            channel_ops::create(&mut call.conn, call.state.secrets(), call.org, new).await?;
        if channel.business_account_id.is_some() {
            sync_on_connect(call.state, &channel).await;
        }
        Ok(Channel(channel))
    }

    /// Renames a channel, rotates its secrets or turns it on or off.
    async fn update_channel(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateChannelInput,
    ) -> Result<Channel> {
        let id = parse_id(&id, ChannelId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        if let Some(token) = &input.access_token {
            let channel = channels::find(&call.conn, call.org, id)
                .await
                .map_err(AppError::from)?
                .ok_or(AppError::NotFound)?;
            verify_owner(
                call.state,
                channel.platform,
                &channel.external_account_id,
                token,
            )
            .await?;
        }
        let update = ChannelUpdate {
            name: input.name,
            access_token: input.access_token,
            app_secret: input.app_secret,
            verify_token: input.verify_token,
            enabled: input.enabled,
            human_agent_enabled: input.human_agent_enabled,
            default_team: maybe_id(input.default_team_id, TeamId::parse)?,
            business_account_id: input.business_account_id,
        };
        let resync = update.business_account_id.is_some();
        let channel =
            channel_ops::update(&mut call.conn, call.state.secrets(), call.org, id, update).await?;
        if resync && channel.business_account_id.is_some() {
            sync_on_connect(call.state, &channel).await;
        }
        Ok(Channel(channel))
    }

    /// Disconnects a channel. Its conversations stay readable; its webhooks stop.
    async fn delete_channel(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<bool> {
        let id = parse_id(&id, ChannelId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        if channels::soft_delete(&mut call.conn, call.org, id)
            .await
            .map_err(AppError::from)?
        {
            Ok(true)
        } else {
            Err(AppError::NotFound.into())
        }
    }
}

/// Syncs a WhatsApp channel's templates once it is connected; a failure is only logged
/// (`syncTemplates` retries on demand).
async fn sync_on_connect(state: &crate::state::AppState, channel: &channels::Channel) {
    if let Err(e) = crate::jobs::templates::sync(state, channel.id).await {
        tracing::warn!(channel.id = %channel.id, error = ?e, "syncing WhatsApp templates on connect failed");
    }
}
