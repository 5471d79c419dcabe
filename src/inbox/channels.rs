//! Connecting and changing channels: validation and encryption of their secrets.

use chrono::Utc;
use diesel_async::AsyncPgConnection;

use crate::crypto::{SecretBox, aad, hint};
use crate::db::channels::{self, Channel, ChannelChanges};
use crate::db::enums::{ChannelStatus, Platform};
use crate::db::ids::{ChannelId, OrgId, TeamId};
use crate::db::teams;
use crate::error::{AppError, AppResult};

/// What an admin supplies to connect a channel.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// The platform.
    pub platform: Platform,
    /// Display name.
    pub name: String,
    /// IG account id, Page id or phone number id.
    pub external_account_id: String,
    /// Graph API access token.
    pub access_token: String,
    /// Meta app secret (verifies webhook signatures).
    pub app_secret: String,
    /// Token Meta echoes in the webhook verification handshake.
    pub verify_token: String,
    /// May use the HUMAN_AGENT tag.
    pub human_agent_enabled: bool,
    /// Team that new tickets go to.
    pub default_team: Option<TeamId>,
    /// WhatsApp Business Account id (WhatsApp only).
    pub business_account_id: Option<String>,
}

/// Changes an admin may make; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    /// New name.
    pub name: Option<String>,
    /// New access token (also clears NEEDS_REAUTH).
    pub access_token: Option<String>,
    /// New app secret.
    pub app_secret: Option<String>,
    /// New verify token.
    pub verify_token: Option<String>,
    /// Enable (`true`) or disable (`false`) the channel.
    pub enabled: Option<bool>,
    /// Allow or forbid the HUMAN_AGENT tag.
    pub human_agent_enabled: Option<bool>,
    /// New default team (`Some(None)` clears it).
    pub default_team: Option<Option<TeamId>>,
    /// WhatsApp Business Account id (WhatsApp only).
    pub business_account_id: Option<String>,
}

/// The Meta account id of a channel to connect, trimmed, or why it cannot be one.
pub fn account_id(raw: &str) -> AppResult<&str> {
    let account = raw.trim();
    if account.is_empty()
        || account.len() > 100
        || !account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return Err(AppError::bad_input(
            "externalAccountId must be the numeric Meta account id",
        ));
    }
    Ok(account)
}

/// Validates and stores a new channel with its secrets sealed by `secrets`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    secrets: &SecretBox,
    org: OrgId,
    new: NewChannel,
) -> AppResult<Channel> {
    let name = crate::auth::non_blank("name", &new.name)?;
    let account = account_id(&new.external_account_id)?;
    let business_account_id = new
        .business_account_id
        .as_deref()
        .map(|id| waba_id(new.platform, id))
        .transpose()?
        .flatten();
    let access_token = secret("accessToken", &new.access_token)?;
    let app_secret = secret("appSecret", &new.app_secret)?;
    let verify_token = secret("verifyToken", &new.verify_token)?;
    check_team(conn, org, new.default_team).await?;
    let id = ChannelId::new();
    let now = Utc::now();
    let channel = Channel {
        id,
        org_id: org,
        platform: new.platform,
        name,
        external_account_id: account.to_owned(),
        access_token_enc: secrets.seal(access_token, &aad(id.0, "access_token")),
        access_token_hint: hint(access_token),
        app_secret_enc: secrets.seal(app_secret, &aad(id.0, "app_secret")),
        app_secret_fingerprint: secrets.fingerprint(app_secret),
        verify_token_enc: secrets.seal(verify_token, &aad(id.0, "verify_token")),
        status: ChannelStatus::Active,
        status_reason: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        human_agent_enabled: new.human_agent_enabled,
        default_team_id: new.default_team,
        business_account_id,
    };
    if !channels::insert(conn, &channel).await? {
        return Err(AppError::bad_input(
            "this Meta account is already connected to a channel",
        ));
    }
    tracing::info!(org.id = %org, channel.id = %id, platform = %new.platform, "connected channel {id}");
    Ok(channel)
}

/// Applies an admin's changes to a channel of `org`, sealing new secrets with `secrets`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    secrets: &SecretBox,
    org: OrgId,
    id: ChannelId,
    update: ChannelUpdate,
) -> AppResult<Channel> {
    let mut changes = ChannelChanges {
        name: update
            .name
            .as_deref()
            .map(|n| crate::auth::non_blank("name", n))
            .transpose()?,
        human_agent_enabled: update.human_agent_enabled,
        default_team_id: update.default_team,
        ..Default::default()
    };
    if let Some(team) = update.default_team {
        check_team(conn, org, team).await?;
    }
    if let Some(token) = &update.access_token {
        let token = secret("accessToken", token)?;
        changes.access_token_enc = Some(secrets.seal(token, &aad(id.0, "access_token")));
        changes.access_token_hint = Some(hint(token));
    }
    if let Some(app_secret) = &update.app_secret {
        let app_secret = secret("appSecret", app_secret)?;
        changes.app_secret_enc = Some(secrets.seal(app_secret, &aad(id.0, "app_secret")));
        changes.app_secret_fingerprint = Some(secrets.fingerprint(app_secret));
    }
    if let Some(verify) = &update.verify_token {
        changes.verify_token_enc =
            Some(secrets.seal(secret("verifyToken", verify)?, &aad(id.0, "verify_token")));
    }
    if let Some(id_text) = &update.business_account_id {
        let channel = channels::find(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        changes.business_account_id = waba_id(channel.platform, id_text)?;
    }
    match update.enabled {
        Some(false) => {
            changes.status = Some(ChannelStatus::Disabled);
            changes.status_reason = Some(Some("disabled by an admin".into()));
        }
        // A new token or an explicit enable re-activates a channel.
        Some(true) => {
            changes.status = Some(ChannelStatus::Active);
            changes.status_reason = Some(None);
        }
        None if update.access_token.is_some() => {
            changes.status = Some(ChannelStatus::Active);
            changes.status_reason = Some(None);
        }
        None => {}
    }
    channels::update(conn, org, id, &changes)
        .await?
        .ok_or(AppError::NotFound)
}

/// A team named as a channel's default must be one of `org`'s (else NOT_FOUND).
async fn check_team(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    team: Option<TeamId>,
) -> AppResult<()> {
    match team {
        Some(team) if teams::find(conn, org, team).await?.is_none() => Err(AppError::NotFound),
        _ => Ok(()),
    }
}

fn secret<'a>(field: &str, value: &'a str) -> AppResult<&'a str> {
    let value = value.trim();
    if value.is_empty() || value.len() > 4096 {
        Err(AppError::bad_input(format!(
            "{field} must be 1 to 4096 characters"
        )))
    } else {
        Ok(value)
    }
}

/// A WhatsApp Business Account id as given (`None` when blank), refused unless numeric
/// and on a WhatsApp channel.
fn waba_id(platform: Platform, id: &str) -> AppResult<Option<String>> {
    let id = id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let numeric = id.len() <= 100 && id.bytes().all(|b| b.is_ascii_digit());
    if platform != Platform::WhatsApp || !numeric {
        return Err(AppError::bad_input(
            "businessAccountId is the numeric WhatsApp Business Account id of a WhatsApp channel",
        ));
    }
    Ok(Some(id.to_owned()))
}
