//! Batch-loads what a page's selection will ask for, before its items resolve.
//!
//! DataLoaders batch the keys registered within a short window (a timer: a fixed delay on
//! every page, and on a slow machine the fields of 50 items may not all register in time,
//! splitting a page across several queries). Prefetching the page's keys with one direct
//! loader call per kind (only for fields the client selected) makes the number of queries
//! of a page constant and waits for no timer; the items' own `load_one` calls then hit
//! the request cache.

use std::collections::HashSet;
use std::hash::Hash;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Lookahead, Result};

use crate::db::ids::{ChannelId, CustomerId};
use crate::db::{messages, tickets};
use crate::graphql::loaders::{
    AttachmentsOf, DbLoader, IdentitiesOf, Loaders, ReactionsOf, ReadCountOf,
};

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
        loaders.feed_many(loaded).await;
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

/// Prefetches for a page of messages (selection `edges.node`).
pub async fn messages(ctx: &Context<'_>, rows: &[messages::Message]) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data::<Loaders>()?;
    let author = node.field("author");
    futures_util::try_join!(
        load_if(
            loaders,
            node.field("attachments"),
            rows.iter().map(|m| AttachmentsOf(m.id))
        ),
        load_if(
            loaders,
            node.field("reactions"),
            rows.iter().map(|m| ReactionsOf(m.id))
        ),
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
    loaders.feed_many(loaded.clone()).await;
    Ok(loaded)
}

/// `keys` without repetitions.
fn unique<K: Hash + Eq>(keys: impl IntoIterator<Item = K>) -> Vec<K> {
    keys.into_iter()
        .collect::<HashSet<K>>()
        .into_iter()
        .collect()
}
