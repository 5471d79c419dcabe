//! `whatsapp_templates`: a WhatsApp channel's message templates as last synced from Meta
//! (or updated by a `message_template_status_update` webhook).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::enums::TemplateStatus;
use super::ids::{ChannelId, OrgId};
use super::schema::{channels, whatsapp_templates};

/// A template row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = whatsapp_templates)]
pub struct Template {
    /// Id.
    pub id: Uuid,
    /// Owning org.
    pub org_id: OrgId,
    /// The WhatsApp channel.
    pub channel_id: ChannelId,
    /// Meta's template id.
    pub external_id: Option<String>,
    /// Name (unique per language).
    pub name: String,
    /// Language code, e.g. `en_US`.
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: String,
    /// Meta's review status.
    pub status: TemplateStatus,
    /// Meta's reason for a rejection, pause or disabling.
    pub status_reason: Option<String>,
    /// Meta's components, as sent.
    pub components: serde_json::Value,
    /// When Meta last told us about it.
    pub synced_at: DateTime<Utc>,
}

/// Replaces the channel's templates with `templates` (a full sync): upserts each by name
/// and language, deletes the ones Meta no longer lists.
pub async fn replace_all(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    templates: &[Template],
) -> QueryResult<()> {
    use diesel::upsert::excluded;
    let keys: Vec<String> = templates
        .iter()
        .map(|t| format!("{}\u{1f}{}", t.name, t.language))
        .collect();
    diesel::delete(
        whatsapp_templates::table
            .filter(whatsapp_templates::channel_id.eq(channel))
            .filter(diesel::dsl::not(
                whatsapp_templates::name
                    .concat("\u{1f}")
                    .concat(whatsapp_templates::language)
                    .eq_any(keys),
            )),
    )
    .execute(conn)
    .await?;
    for chunk in templates.chunks(500) {
        diesel::insert_into(whatsapp_templates::table)
            .values(chunk)
            .on_conflict((
                whatsapp_templates::channel_id,
                whatsapp_templates::name,
                whatsapp_templates::language,
            ))
            .do_update()
            .set((
                whatsapp_templates::external_id.eq(excluded(whatsapp_templates::external_id)),
                whatsapp_templates::category.eq(excluded(whatsapp_templates::category)),
                whatsapp_templates::status.eq(excluded(whatsapp_templates::status)),
                whatsapp_templates::status_reason.eq(excluded(whatsapp_templates::status_reason)),
                whatsapp_templates::components.eq(excluded(whatsapp_templates::components)),
                whatsapp_templates::synced_at.eq(excluded(whatsapp_templates::synced_at)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The channel's templates by name, then language.
pub async fn list(conn: &mut AsyncPgConnection, channel: ChannelId) -> QueryResult<Vec<Template>> {
    list_of(conn, &[channel]).await
}

/// The templates of several channels in one query, by name, then language.
pub async fn list_of(
    mut conn: &AsyncPgConnection,
    channels: &[ChannelId],
) -> QueryResult<Vec<Template>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::channel_id.eq_any(channels))
        .order((whatsapp_templates::name, whatsapp_templates::language))
        .select(Template::as_select())
        .load(&mut conn)
        .await
}

/// One template of the channel.
pub async fn find(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    name: &str,
    language: &str,
) -> QueryResult<Option<Template>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::channel_id.eq(channel))
        .filter(whatsapp_templates::name.eq(name))
        .filter(whatsapp_templates::language.eq(language))
        .select(Template::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sets the status of a template (by Meta's id, else name and language) on every channel
/// of the WhatsApp Business Account `waba`; how many rows changed.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    waba: &str,
    external_id: Option<&str>,
    name: &str,
    language: &str,
    status: TemplateStatus,
    reason: Option<&str>,
) -> QueryResult<usize> {
    let channels = channels::table
        .filter(channels::business_account_id.eq(waba))
        .select(channels::id);
    let same = whatsapp_templates::name
        .eq(name)
        .and(whatsapp_templates::language.eq(language));
    let target = whatsapp_templates::table
        .filter(whatsapp_templates::channel_id.eq_any(channels))
        .into_boxed();
    let target = match external_id {
        Some(id) => target.filter(whatsapp_templates::external_id.eq(id).or(same)),
        None => target.filter(same),
    };
    let ids: Vec<Uuid> = target.select(whatsapp_templates::id).load(conn).await?;
    diesel::update(whatsapp_templates::table.filter(whatsapp_templates::id.eq_any(ids)))
        .set((
            whatsapp_templates::status.eq(status),
            whatsapp_templates::status_reason.eq(reason),
            whatsapp_templates::synced_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}
