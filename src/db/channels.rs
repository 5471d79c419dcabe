//! `channels`: connected Meta accounts. Secret columns hold ciphertext only (see
//! [`crate::crypto`]); deleted channels are kept (soft delete) so their history stays.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::{ChannelStatus, Platform};
use super::ids::{ChannelId, CustomerId, OrgId, TeamId, TicketId};
use super::schema::channels;

/// A channel row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = channels)]
pub struct Channel {
    /// Id (also part of the webhook URL).
    pub id: ChannelId,
    /// Owning org.
    pub org_id: OrgId,
    /// The platform.
    pub platform: Platform,
    /// Display name.
    pub name: String,
    /// IG account id, Page id or WhatsApp phone number id; webhook entries route by it.
    pub external_account_id: String,
    /// Encrypted access token.
    pub access_token_enc: Vec<u8>,
    /// Masked hint of the access token, safe to show.
    pub access_token_hint: String,
    /// Encrypted app secret.
    pub app_secret_enc: Vec<u8>,
    /// Keyed fingerprint of the app secret.
    pub app_secret_fingerprint: Vec<u8>,
    /// Encrypted webhook verify token.
    pub verify_token_enc: Vec<u8>,
    /// Whether it can send and receive.
    pub status: ChannelStatus,
    /// Why the status is not `ACTIVE` (e.g. Meta's token error).
    pub status_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// May reply up to 7 days after the customer's last message with the HUMAN_AGENT
    /// tag (needs Meta's approval of the app).
    pub human_agent_enabled: bool,
    /// Team that new tickets of the channel go to.
    pub default_team_id: Option<TeamId>,
    /// WhatsApp: the WhatsApp Business Account (WABA) id the phone number belongs to
    /// (templates are synced from it; template webhooks route by it).
    pub business_account_id: Option<String>,
}

impl Channel {
    /// The path Meta posts this channel's webhooks to (prefixed with the public origin).
    pub fn webhook_path(&self) -> String {
        format!("/webhook/{}", self.id)
    }
}

#[cfg(test)]
impl Channel {
    /// An active channel of `platform` on account `account`, with empty secrets, for unit
    /// tests that need a row.
    pub fn for_tests(platform: Platform, account: &str) -> Self {
        let now = Utc::now();
        Channel {
            id: ChannelId::new(),
            org_id: OrgId::new(),
            platform,
            name: "test channel".into(),
            external_account_id: account.into(),
            access_token_enc: Vec::new(),
            access_token_hint: String::new(),
            app_secret_enc: Vec::new(),
            app_secret_fingerprint: Vec::new(),
            verify_token_enc: Vec::new(),
            status: ChannelStatus::Active,
            status_reason: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            human_agent_enabled: false,
            default_team_id: None,
            business_account_id: None,
        }
    }
}

/// Columns an update may change; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = channels)]
pub struct ChannelChanges {
    /// New name.
    pub name: Option<String>,
    /// New encrypted access token.
    pub access_token_enc: Option<Vec<u8>>,
    /// Its hint.
    pub access_token_hint: Option<String>,
    /// New encrypted app secret.
    pub app_secret_enc: Option<Vec<u8>>,
    /// Its fingerprint.
    pub app_secret_fingerprint: Option<Vec<u8>>,
    /// New encrypted verify token.
    pub verify_token_enc: Option<Vec<u8>>,
    /// New status.
    pub status: Option<ChannelStatus>,
    /// New status reason (`Some(None)` clears it).
    pub status_reason: Option<Option<String>>,
    /// New HUMAN_AGENT permission.
    pub human_agent_enabled: Option<bool>,
    /// New default team (`Some(None)` clears it).
    pub default_team_id: Option<Option<TeamId>>,
    /// New WhatsApp Business Account id.
    pub business_account_id: Option<String>,
}

/// Inserts a channel; `Ok(false)` when another live channel already has this account.
pub async fn insert(conn: &mut AsyncPgConnection, channel: &Channel) -> QueryResult<bool> {
    let n = diesel::insert_into(channels::table)
        .values(channel)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// A live channel of `org`.
pub async fn find(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    id: ChannelId,
) -> QueryResult<Option<Channel>> {
    channels::table
        .filter(channels::id.eq(id))
        .filter(channels::org_id.eq(org))
        .filter(channels::deleted_at.is_null())
        .select(Channel::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// A channel by id, live or deleted, whatever its org (workers act on ids they stored).
pub async fn get(conn: &mut AsyncPgConnection, id: ChannelId) -> QueryResult<Channel> {
    channels::table
        .find(id)
        .select(Channel::as_select())
        .first(conn)
        .await
}

/// A live channel by id, whatever its org (the webhook path knows no org).
pub async fn find_live(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
) -> QueryResult<Option<Channel>> {
    channels::table
        .filter(channels::id.eq(id))
        .filter(channels::deleted_at.is_null())
        .select(Channel::as_select())
        .first(conn)
        .await
        .optional()
}

/// Live channels by platform and account id (the webhook routing key), or by WhatsApp
/// Business Account id (template webhooks name only that).
pub async fn find_by_accounts(
    conn: &mut AsyncPgConnection,
    platform: Platform,
    account_ids: &[String],
) -> QueryResult<Vec<Channel>> {
    channels::table
        .filter(channels::platform.eq(platform))
        .filter(
            channels::external_account_id
                .eq_any(account_ids)
                .or(channels::business_account_id.eq_any(account_ids)),
        )
        .filter(channels::deleted_at.is_null())
        .select(Channel::as_select())
        .load(conn)
        .await
}

/// Channels by id, deleted ones included (old tickets still show their channel).
pub async fn find_many(
    mut conn: &AsyncPgConnection,
    ids: &[ChannelId],
) -> QueryResult<Vec<Channel>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    channels::table
        .filter(channels::id.eq_any(ids))
        .select(Channel::as_select())
        .load(&mut conn)
        .await
}

/// Channels by id, and the channels of these customers' identities, deleted ones included:
/// everything a page of tickets shows of channels, in one query.
pub async fn find_for_tickets(
    mut conn: &AsyncPgConnection,
    ids: &[ChannelId],
    customers: &[CustomerId],
) -> QueryResult<Vec<Channel>> {
    use crate::db::schema::customer_identities;
    if ids.is_empty() && customers.is_empty() {
        return Ok(Vec::new());
    }
    let of_customers = customer_identities::table
        .filter(customer_identities::customer_id.eq_any(customers))
        .select(customer_identities::channel_id);
    channels::table
        .filter(
            channels::id
                .eq_any(ids)
                .or(channels::id.eq_any(of_customers)),
        )
        .select(Channel::as_select())
        .load(&mut conn)
        .await
}

/// Live channels of `org`, oldest first.
pub async fn list(mut conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Channel>> {
    channels::table
        .filter(channels::org_id.eq(org))
        .filter(channels::deleted_at.is_null())
        .order((channels::created_at, channels::id))
        .select(Channel::as_select())
        .load(&mut conn)
        .await
}

/// Applies `changes` to a live channel of `org`; the updated row, if it exists.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: ChannelId,
    changes: &ChannelChanges,
) -> QueryResult<Option<Channel>> {
    diesel::update(channels::table)
        .filter(channels::id.eq(id))
        .filter(channels::org_id.eq(org))
        .filter(channels::deleted_at.is_null())
        .set((changes, channels::updated_at.eq(diesel::dsl::now)))
        .returning(Channel::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Soft-deletes a live channel of `org`; `false` if there was none.
pub async fn soft_delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: ChannelId,
) -> QueryResult<bool> {
    let n = diesel::update(channels::table)
        .filter(channels::id.eq(id))
        .filter(channels::org_id.eq(org))
        .filter(channels::deleted_at.is_null())
        .set((
            channels::deleted_at.eq(diesel::dsl::now),
            channels::status.eq(ChannelStatus::Disabled),
            channels::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Marks a channel as needing re-authorisation (Meta rejected its token).
pub async fn mark_needs_reauth(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    reason: &str,
) -> QueryResult<bool> {
    let n = diesel::update(channels::table.find(id))
        .filter(channels::status.eq(ChannelStatus::Active))
        .set((
            channels::status.eq(ChannelStatus::NeedsReauth),
            channels::status_reason.eq(reason),
            channels::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The channel of ticket `ticket`, and whether the ticket's customer is blocked, in one
/// query by the ticket's id (what a reply's checks need; it needs no earlier read of the
/// ticket, so it can go out with the ticket's lock).
pub async fn of_ticket_with_blocked(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
) -> QueryResult<Option<(Channel, bool)>> {
    use super::schema::{customers, tickets};
    channels::table
        .inner_join(tickets::table.on(tickets::channel_id.eq(channels::id)))
        .filter(tickets::id.eq(ticket))
        .select((
            Channel::as_select(),
            diesel::dsl::exists(
                customers::table
                    .filter(customers::id.eq(tickets::customer_id))
                    .filter(customers::blocked_at.is_not_null()),
            ),
        ))
        .first(&mut conn)
        .await
        .optional()
}
