//! `customers` and `customer_identities`: people who wrote to an org and who they are on
//! each channel.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::channel_keys::with_channel_keys;
use super::enums::{NameSource, Platform};
use super::ids::{ChannelId, CustomerId, OrgId, TicketId, UserId};
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::{customer_identities, customers, tickets};
use crate::db::prepared::PrepareOnce as _;

/// A customer row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = customers)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Owning org.
    pub org_id: OrgId,
    /// Display name, when known.
    pub name: Option<String>,
    /// Avatar URL, when known.
    pub avatar_url: Option<String>,
    /// Agents' notes.
    pub notes: Option<String>,
    /// First contact.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When an agent blocked the customer (their messages are kept but reopen and
    /// notify nothing, and replies are refused).
    pub blocked_at: Option<DateTime<Utc>>,
    /// Who blocked them.
    pub blocked_by: Option<UserId>,
    /// Who set `name`.
    pub name_source: NameSource,
}

/// A customer's identity on one channel.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = customer_identities)]
pub struct Identity {
    /// Id.
    pub id: Uuid,
    /// Owning org.
    pub org_id: OrgId,
    /// The customer.
    pub customer_id: CustomerId,
    /// The channel.
    pub channel_id: ChannelId,
    /// Platform of the channel.
    pub platform: Platform,
    /// IGSID / PSID / wa_id / business-scoped user id.
    pub external_id: String,
    /// Handle, when known.
    pub username: Option<String>,
    /// Name shown by the platform, when known.
    pub display_name: Option<String>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Meta's time of the event that reported `username`.
    pub username_seen_at: Option<DateTime<Utc>>,
    /// Meta's time of the event that reported `display_name`.
    pub display_name_seen_at: Option<DateTime<Utc>>,
    /// Profile picture URL from the profile API (expires after a few days).
    pub profile_pic_url: Option<String>,
    /// Whether the platform verified the account (Instagram).
    pub is_verified: Option<bool>,
    /// Followers (Instagram).
    pub follower_count: Option<i64>,
    /// When the profile API last answered for this identity.
    pub profile_fetched_at: Option<DateTime<Utc>>,
}

/// Filters of the customer list.
#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    /// Only customers with an identity on this platform.
    pub platform: Option<Platform>,
    /// Case-insensitive substring of the name or of an identity's username / name.
    pub search: Option<String>,
    /// Only blocked (`true`) or only unblocked (`false`) customers.
    pub blocked: Option<bool>,
}

/// A page of `org`'s customers, newest first.
pub async fn list(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    filter: &CustomerFilter,
    page: &PageQuery,
) -> QueryResult<PageRows<Customer>> {
    let mut query = customers::table
        .filter(customers::org_id.eq(org))
        .select(Customer::as_select())
        .order((customers::created_at.desc(), customers::id.desc()))
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(platform) = filter.platform {
        query = query.filter(diesel::dsl::exists(
            customer_identities::table
                .filter(customer_identities::customer_id.eq(customers::id))
                .filter(customer_identities::platform.eq(platform)),
        ));
    }
    match filter.blocked {
        Some(true) => query = query.filter(customers::blocked_at.is_not_null()),
        Some(false) => query = query.filter(customers::blocked_at.is_null()),
        None => {}
    }
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", escape_like(search));
        query = query.filter(
            customers::name
                .ilike(pattern.clone())
                .or(diesel::dsl::exists(
                    customer_identities::table
                        .filter(customer_identities::customer_id.eq(customers::id))
                        .filter(
                            customer_identities::username
                                .ilike(pattern.clone())
                                .or(customer_identities::display_name.ilike(pattern)),
                        ),
                )),
        );
    }
    if let Some(Keyset { at, id }) = page.cursor {
        query = query.filter(
            customers::created_at.lt(at).or(customers::created_at
                .eq(at)
                .and(customers::id.lt(CustomerId(id)))),
        );
    }
    Ok(PageRows::from_fetched(query.load(&mut conn).await?, page))
}

/// A customer of `org`.
pub async fn find(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    id: CustomerId,
) -> QueryResult<Option<Customer>> {
    customers::table
        .filter(customers::id.eq(id))
        .filter(customers::org_id.eq(org))
        .select(Customer::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Customers by id.
pub async fn find_many(
    mut conn: &AsyncPgConnection,
    ids: &[CustomerId],
) -> QueryResult<Vec<Customer>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    customers::table
        .filter(customers::id.eq_any(ids))
        .select(Customer::as_select())
        .load(&mut conn)
        .await
}

/// The customer of ticket `ticket`, found by the ticket's id, so that it can be read in
/// the same round as the ticket itself.
pub async fn of_ticket(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
) -> QueryResult<Option<Customer>> {
    customers::table
        .filter(
            customers::id.eq_any(
                tickets::table
                    .filter(tickets::id.eq(ticket))
                    .select(tickets::customer_id),
            ),
        )
        .select(Customer::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Identities of these customers, oldest first.
pub async fn identities_of(
    mut conn: &AsyncPgConnection,
    ids: &[CustomerId],
) -> QueryResult<Vec<Identity>> {
    customer_identities::table
        .filter(customer_identities::customer_id.eq_any(ids))
        .order((customer_identities::created_at, customer_identities::id))
        .select(Identity::as_select())
        .load(&mut conn)
        .await
}

/// Escapes `%`, `_` and `\` so user input matches literally inside `LIKE`.
pub fn escape_like(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The identity of `external_id` on `channel`, if that person wrote before.
pub async fn find_identity(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
) -> QueryResult<Option<Identity>> {
    customer_identities::table
        .filter(customer_identities::channel_id.eq(channel))
        .filter(customer_identities::external_id.eq(external_id))
        .select(Identity::as_select())
        .first(conn)
        .await
        .optional()
}

/// The identities of these `(channel, external id)` pairs that exist, looked up pair by
/// pair ([`with_channel_keys`]).
pub async fn find_identities(
    conn: &mut AsyncPgConnection,
    pairs: &[(ChannelId, &str)],
) -> QueryResult<Vec<Identity>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    with_channel_keys(
        "SELECT i.* FROM customer_identities i \
         JOIN unnest($1::uuid[], $2::text[]) AS w(channel_id, external_id) \
           ON i.channel_id = w.channel_id AND i.external_id = w.external_id",
        pairs.iter().copied(),
    )
    .prepared()
    .load(conn)
    .await
}

/// Creates customers with their first identities (first contact).
pub async fn insert_many_with_identities(
    conn: &mut AsyncPgConnection,
    customers: &[Customer],
    identities: &[Identity],
) -> QueryResult<()> {
    if customers.is_empty() {
        return Ok(());
    }
    diesel::insert_into(customers::table)
        .values(customers)
        .execute(conn)
        .await?;
    diesel::insert_into(customer_identities::table)
        .values(identities)
        .execute(conn)
        .await?;
    Ok(())
}

/// An identity's profile fields, each with Meta's time of the event that reported it.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = customer_identities, treat_none_as_null = true)]
pub struct Profile<'a> {
    /// Handle.
    pub username: Option<&'a str>,
    /// When it was reported.
    pub username_seen_at: Option<DateTime<Utc>>,
    /// Display name.
    pub display_name: Option<&'a str>,
    /// When it was reported.
    pub display_name_seen_at: Option<DateTime<Utc>>,
}

/// Replaces an identity's profile.
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    identity: Uuid,
    profile: &Profile<'_>,
) -> QueryResult<()> {
    diesel::update(customer_identities::table.find(identity))
        .set(profile)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whom replies on each of these tickets go to: the ticket's customer's platform id on
/// the ticket's channel (their first identity there).
pub async fn recipients_of_tickets(
    conn: &mut AsyncPgConnection,
    tickets: &[super::ids::TicketId],
) -> QueryResult<Vec<(super::ids::TicketId, String)>> {
    use super::schema::tickets as t;
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    customer_identities::table
        .inner_join(
            t::table.on(t::customer_id
                .eq(customer_identities::customer_id)
                .and(t::channel_id.eq(customer_identities::channel_id))),
        )
        .filter(t::id.eq_any(tickets))
        .order((t::id, customer_identities::created_at.desc()))
        .select((t::id, customer_identities::external_id))
        .load(conn)
        .await
}

/// The identity of `customer` on `channel` (whom to send replies to).
pub async fn identity_on(
    conn: &mut AsyncPgConnection,
    customer: CustomerId,
    channel: ChannelId,
) -> QueryResult<Option<Identity>> {
    customer_identities::table
        .filter(customer_identities::customer_id.eq(customer))
        .filter(customer_identities::channel_id.eq(channel))
        .order(customer_identities::created_at)
        .select(Identity::as_select())
        .first(conn)
        .await
        .optional()
}

/// Follows a change of the name the platform shows for a customer (`before` to `after`),
/// unless an agent named the customer or someone gave them another name meanwhile; whether
/// the name changed.
pub async fn rename_if_unedited(
    conn: &mut AsyncPgConnection,
    id: CustomerId,
    before: Option<&str>,
    after: Option<&str>,
) -> QueryResult<bool> {
    let Some(after) = after else {
        return Ok(false);
    };
    let unedited = customers::name_source.eq(NameSource::Platform).and(
        customers::name
            .is_null()
            .or(customers::name.nullable().eq(before)),
    );
    let changed = diesel::update(customers::table.find(id))
        .filter(unedited)
        .filter(customers::name.is_distinct_from(after))
        .set((
            customers::name.eq(after),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(changed > 0)
}

/// What the profile API said about an identity, written over what it said before.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = customer_identities)]
pub struct FetchedProfile<'a> {
    /// Handle (kept when the API gave none).
    pub username: Option<&'a str>,
    /// When it was reported.
    pub username_seen_at: Option<DateTime<Utc>>,
    /// Name (kept when the API gave none).
    pub display_name: Option<&'a str>,
    /// When it was reported.
    pub display_name_seen_at: Option<DateTime<Utc>>,
    /// Profile picture URL.
    pub profile_pic_url: Option<Option<&'a str>>,
    /// Verified account.
    pub is_verified: Option<Option<bool>>,
    /// Followers.
    pub follower_count: Option<Option<i64>>,
    /// When the API answered.
    pub profile_fetched_at: DateTime<Utc>,
}

/// Identities by id.
pub async fn identities_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<Identity>> {
    customer_identities::table
        .filter(customer_identities::id.eq_any(ids))
        .select(Identity::as_select())
        .load(conn)
        .await
}

/// An identity, locked for update.
pub async fn identity_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Identity>> {
    customer_identities::table
        .find(id)
        .for_update()
        .select(Identity::as_select())
        .first(conn)
        .await
        .optional()
}

/// Writes a fetched profile onto an identity.
pub async fn store_fetched_profile(
    conn: &mut AsyncPgConnection,
    identity: Uuid,
    profile: &FetchedProfile<'_>,
) -> QueryResult<()> {
    diesel::update(customer_identities::table.find(identity))
        .set(profile)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the customer's avatar from the platform (no-op when unchanged); whether it changed.
pub async fn set_avatar(
    conn: &mut AsyncPgConnection,
    id: CustomerId,
    url: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(customers::table.find(id))
        .filter(customers::avatar_url.is_distinct_from(url))
        .set((
            customers::avatar_url.eq(url),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(changed > 0)
}

/// Gives the customer a name chosen by an agent (`Some`) or hands naming back to the
/// platform (`None`: the platform's name for them now, `fallback`).
pub async fn set_name(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: CustomerId,
    name: Option<&str>,
    fallback: Option<&str>,
) -> QueryResult<Option<Customer>> {
    let (name, source) = match name {
        Some(name) => (Some(name), NameSource::Agent),
        None => (fallback, NameSource::Platform),
    };
    diesel::update(customers::table.find(id))
        .filter(customers::org_id.eq(org))
        .set((
            customers::name.eq(name),
            customers::name_source.eq(source),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Customer::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Blocks (`Some(user)`) or unblocks (`None`) a customer of `org`; the row, if it exists.
pub async fn set_blocked(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: CustomerId,
    by: Option<UserId>,
) -> QueryResult<Option<Customer>> {
    let at = by.map(|_| Utc::now());
    diesel::update(customers::table)
        .filter(customers::id.eq(id))
        .filter(customers::org_id.eq(org))
        .set((
            customers::blocked_at.eq(at),
            customers::blocked_by.eq(by),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Customer::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The ids of a customer's tickets.
pub async fn ticket_ids(
    conn: &mut AsyncPgConnection,
    id: CustomerId,
) -> QueryResult<Vec<super::ids::TicketId>> {
    use super::schema::tickets as t;
    t::table
        .filter(t::customer_id.eq(id))
        .select(t::id)
        .load(conn)
        .await
}

/// Which of these customers are blocked.
pub async fn blocked_among(
    conn: &mut AsyncPgConnection,
    ids: &[CustomerId],
) -> QueryResult<Vec<CustomerId>> {
    customers::table
        .filter(customers::id.eq_any(ids))
        .filter(customers::blocked_at.is_not_null())
        .select(customers::id)
        .load(conn)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
