//! Batch-loads what a page's selection will ask for, before its items resolve.
//!
//! The request's loader batches the keys that sibling fields ask for in one scheduling
//! turn ([`super::batcher`]), but only once those fields run, a round after their rows
//! arrived, and only for fields resolved in the same task. Prefetching a page's keys with
//! one direct loader call per kind (only for fields the client selected), as soon as the
//! page's rows are known, makes the number of queries of a page constant and sends them
//! together; the items' own `load_one` calls then hit the request cache.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Lookahead, Result, SelectionField, Value};

use diesel_async::AsyncPgConnection;

use crate::db::ids::{ChannelId, CustomerId, OrgId, TicketId};
use crate::db::page::{PageQuery, PageRows};
use crate::db::tickets::TicketFilter;
use crate::db::{customers, messages, tickets};
use crate::error::AppError;
use crate::graphql::connection::page_query;
use crate::graphql::loaders::{
    AttachmentsOf, DbLoader, IdentitiesOf, Loaders, ReactionsOf, ReadCountOf, group,
};
use crate::graphql::reads::ReadConn;

/// Prefetches for a page of tickets (selection `edges.node`).
pub async fn tickets(ctx: &Context<'_>, rows: &[tickets::Ticket]) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data::<Loaders>()?;
    let customer = node.field("customer");
    let identity_channels = customer.field("identities").field("channel");
    let customers = async {
        if !customer.exists() {
            return Ok(());
        }
        let ids: Vec<CustomerId> = rows.iter().map(|t| t.customer_id).collect();
        futures_util::try_join!(
            load(loaders, ids.clone()),
            load_if(
                loaders,
                customer.field("identities"),
                ids.into_iter().map(IdentitiesOf)
            ),
        )?;
        Ok::<_, async_graphql::Error>(())
    };
    // Channels in the same round: the tickets' own and those of the customers' identities
    // come from one query keyed by customer, so it need not wait for the identities.
    let channels = async {
        let ids: Vec<ChannelId> = if node.field("channel").exists() {
            unique(rows.iter().map(|t| t.channel_id))
        } else {
            Vec::new()
        };
        let customers: Vec<CustomerId> = if identity_channels.exists() {
            unique(rows.iter().map(|t| t.customer_id))
        } else {
            Vec::new()
        };
        if ids.is_empty() && customers.is_empty() {
            return Ok(());
        }
        let loaded = loaders
            .loader()
            .channels_for_tickets(&ids, &customers)
            .await?;
        loaders.feed_many(loaded);
        Ok::<_, async_graphql::Error>(())
    };
    futures_util::try_join!(
        customers,
        channels,
        load_if(
            loaders,
            node.field("assignee"),
            rows.iter().filter_map(|t| t.assignee_id)
        ),
        load_if(
            loaders,
            node.field("lastMessage"),
            rows.iter().filter_map(|t| t.last_message_id)
        ),
        load_if(
            loaders,
            node.field("unreadCount"),
            rows.iter().map(|t| ReadCountOf(t.id))
        ),
    )?;
    Ok(())
}

/// What a page of messages shows of each message (attachments, reactions, for the
/// fields the client selected), loaded by queries that select the page themselves
/// ([`messages::attachments_of_page`]), so they go out with the page query in one round.
pub struct MessageChildren {
    attachments: Option<Vec<messages::Attachment>>,
    reactions: Option<Vec<messages::Reaction>>,
}

/// Loads page `page` of `ticket`'s messages and their [`MessageChildren`] on `conn`, in
/// one round (`node`: the page's `edges.node` selection).
pub async fn message_page(
    node: Lookahead<'_>,
    conn: &AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> Result<(PageRows<messages::Message>, MessageChildren)> {
    Ok(futures_util::try_join!(
        async {
            messages::list(conn, ticket, page)
                .await
                .map_err(|e| AppError::from(e).into())
        },
        message_children(node, conn, ticket, page),
    )?)
}

/// Loads [`MessageChildren`] of page `page` of `ticket`'s messages, on `conn` beside the
/// page query itself.
async fn message_children(
    node: Lookahead<'_>,
    conn: &AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> Result<MessageChildren> {
    let (attachments, reactions) = futures_util::try_join!(
        async {
            if !node.field("attachments").exists() {
                return Ok(None);
            }
            messages::attachments_of_page(conn, ticket, page)
                .await
                .map(Some)
        },
        async {
            if !node.field("reactions").exists() {
                return Ok(None);
            }
            messages::reactions_of_page(conn, ticket, page)
                .await
                .map(Some)
        },
    )
    .map_err(AppError::from)?;
    Ok(MessageChildren {
        attachments,
        reactions,
    })
}

impl MessageChildren {
    /// Puts them in the request's cache, every message of the page `rows` included (a
    /// message without any is cached as such).
    pub async fn feed(self, ctx: &Context<'_>, rows: &[messages::Message]) -> Result<()> {
        let loaders = ctx.data::<Loaders>()?;
        if let Some(attachments) = self.attachments {
            let keys: Vec<AttachmentsOf> = rows.iter().map(|m| AttachmentsOf(m.id)).collect();
            let grouped = group(&keys, attachments, |a| AttachmentsOf(a.message_id));
            loaders.feed_many(grouped);
        }
        if let Some(reactions) = self.reactions {
            let keys: Vec<ReactionsOf> = rows.iter().map(|m| ReactionsOf(m.id)).collect();
            let grouped = group(&keys, reactions, |r| ReactionsOf(r.message_id));
            loaders.feed_many(grouped);
        }
        Ok(())
    }
}

/// Rows read ahead of the field that will ask for them, by what that field will ask
/// ([`ticket_alongside`], [`tickets_alongside`]): the field takes them instead of reading
/// them again, and a field that asks for something else reads for itself.
pub struct Early<K, V>(Mutex<Vec<(K, V)>>);

impl<K, V> Default for Early<K, V> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: PartialEq, V> Early<K, V> {
    fn put(&self, key: K, value: V) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key, value));
    }

    /// What was read early for `key`, if it was (and not taken yet).
    pub fn take(&self, key: &K) -> Option<V> {
        let mut early = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = early.iter().position(|(k, _)| k == key)?;
        Some(early.swap_remove(at).1)
    }
}

/// Pages of messages read in the same round as their ticket, for `Ticket.messages`.
pub type EarlyPages = Early<(TicketId, PageQuery), (PageRows<messages::Message>, MessageChildren)>;

/// Pages of an org's tickets read in the same round as the checkout's scoping, for
/// `Org.tickets`.
pub type EarlyTickets = Early<(OrgId, TicketFilter, PageQuery), PageRows<tickets::Ticket>>;

/// Reads page `page` of `org`'s tickets matching `filter` on `conn`, a connection being
/// scoped for the caller ([`crate::graphql::reads::Reads::access_with`]), and returns
/// what [`keep_early_tickets`] keeps once the caller is known to be a member of `org`.
/// A failure costs nothing but the early read: the field then reads, and reports, for
/// itself.
pub async fn tickets_alongside(
    conn: ReadConn,
    org: OrgId,
    filter: TicketFilter,
    page: PageQuery,
) -> Option<EarlyTicketPage> {
    let rows = tickets::list(&conn, org, &filter, &page).await.ok()?;
    Some(((org, filter, page), rows))
}

/// A page of tickets read by [`tickets_alongside`], with what it was read for.
pub type EarlyTicketPage = ((OrgId, TicketFilter, PageQuery), PageRows<tickets::Ticket>);

/// Keeps a page read by [`tickets_alongside`] for `Org.tickets` to take.
pub fn keep_early_tickets(ctx: &Context<'_>, (key, rows): EarlyTicketPage) {
    if let Ok(loaders) = ctx.data::<Loaders>() {
        loaders.loader().early_tickets().put(key, rows);
    }
}

/// Reads, on `conn` beside ticket `ticket` itself, what the ticket's selection will ask
/// for and what the ticket's id alone finds: its customer, and the page of its messages
/// (with their attachments and reactions) of a single `messages` selection. A
/// conversation page then reads in two rounds (the checkout's scoping, then everything)
/// instead of three. It reads nothing for a selection it cannot take plainly (several
/// `messages` selections, arguments the field will refuse), and a failure here costs
/// nothing but the early read: the fields then read, and report, for themselves.
pub async fn ticket_alongside(ctx: &Context<'_>, conn: &AsyncPgConnection, ticket: TicketId) {
    let Ok(loaders) = ctx.data::<Loaders>() else {
        return;
    };
    let selection = ctx.look_ahead();
    let customer = async {
        if !selection.field("customer").exists() {
            return;
        }
        if let Ok(Some(customer)) = customers::of_ticket(conn, ticket).await {
            loaders.feed_one(customer.id, customer);
        }
    };
    let page = async {
        let messages = selection.field("messages").selection_fields();
        let [field] = messages.as_slice() else {
            return;
        };
        let Some(page) = page_of_arguments(field) else {
            return;
        };
        let node = Lookahead::from(*field).field("edges").field("node");
        if let Ok((rows, children)) = message_page(node, conn, ticket, &page).await {
            loaders
                .loader()
                .early_pages()
                .put((ticket, page), (rows, children));
        }
    };
    futures_util::join!(customer, page);
}

/// The page a `messages(first, after, last, before)` selection asks for (its variables
/// resolved), if the field itself would accept its arguments.
fn page_of_arguments(field: &SelectionField<'_>) -> Option<PageQuery> {
    let (mut first, mut after, mut last, mut before) = (None, None, None, None);
    for (name, value) in field.arguments().ok()? {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("first", Value::Number(n)) => first = Some(i32::try_from(n.as_i64()?).ok()?),
            ("last", Value::Number(n)) => last = Some(i32::try_from(n.as_i64()?).ok()?),
            ("after", Value::String(cursor)) => after = Some(cursor),
            ("before", Value::String(cursor)) => before = Some(cursor),
            _ => return None,
        }
    }
    page_query(first, after, last, before, true).ok()
}

/// Prefetches for a page of messages (selection `edges.node`) what depends on its rows
/// (the rest comes with the page, `message_children`).
pub async fn messages(ctx: &Context<'_>, rows: &[messages::Message]) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data::<Loaders>()?;
    let author = node.field("author");
    futures_util::try_join!(
        load_if(
            loaders,
            node.field("replyTo"),
            rows.iter().filter_map(|m| m.reply_to_message_id)
        ),
        load_if(
            loaders,
            author.field("user"),
            rows.iter().filter_map(|m| m.author_user_id)
        ),
        load_if(
            loaders,
            author.field("customer"),
            rows.iter().filter_map(|m| m.author_customer_id)
        ),
    )?;
    Ok(())
}

type Loaded<K> = std::collections::HashMap<K, <DbLoader as Loader<K>>::Value>;

async fn load_if<K>(
    loaders: &Loaders,
    selected: Lookahead<'_>,
    keys: impl Iterator<Item = K>,
) -> Result<Loaded<K>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    DbLoader: Loader<K, Error = async_graphql::Error>,
{
    if selected.exists() {
        load(loaders, keys.collect()).await
    } else {
        Ok(Default::default())
    }
}

/// Loads `keys` with one query, straight from the loader (no batching window to wait
/// for), and puts the rows in the request's cache for the items' own `load_one` calls.
async fn load<K>(loaders: &Loaders, keys: Vec<K>) -> Result<Loaded<K>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    DbLoader: Loader<K, Error = async_graphql::Error>,
{
    let unique = unique(keys);
    if unique.is_empty() {
        return Ok(Default::default());
    }
    let loaded = loaders.loader().load(&unique).await?;
    loaders.feed_many(loaded.clone());
    Ok(loaded)
}

/// `keys` without repetitions.
fn unique<K: Hash + Eq>(keys: impl IntoIterator<Item = K>) -> Vec<K> {
    keys.into_iter()
        .collect::<HashSet<K>>()
        .into_iter()
        .collect()
}
