//! Where new messages land, applied as a set: the customers and tickets a group of
//! events needs are found or created with a few statements whatever the group's size,
//! and customers' messages are stored, summarised and notified the same way.
//!
//! The outcome is the one [`super::ingest`] promises for any order of application: every
//! merge here is the set version of a per-message merge (the newest profile report per
//! field, the latest visible message per ticket, counts that add up, the latest message
//! per notification), so applying a group at once equals applying it one by one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::assignment;
use super::facts::{self, Fact};
use super::ingest::{self, Origin, attachment_rows, new_message, preview, with_flag};
use super::normalized::{Contact, InboundMessage, OwnComment, Thread};
use super::outbox::Outbox;
use super::profiles::Profile as FetchedProfile;
use super::updates::UNSENT_PREVIEW;
use crate::db::channels::Channel;
use crate::db::customers::{self, Customer, Identity, Profile};
use crate::db::enums::{
    AttachmentType, EventKind, FactKind, NameSource, NotificationType, TicketKind, TicketStatus,
};
use crate::db::ids::{ChannelId, CustomerId, MessageId, OrgId, TeamId, TicketId};
use crate::db::messages::{self, Message};
use crate::db::notifications::{self, Bump};
use crate::db::orgs;
use crate::db::pending_facts;
use crate::db::profile_jobs;
use crate::db::tickets::{self, Activity, NewTicket, Ticket};

/// A contact seen on a channel at Meta's time `at` (with whatever profile it carried).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sighting<'a> {
    /// The channel.
    pub channel: &'a Channel,
    /// Who.
    pub contact: &'a Contact,
    /// When, by Meta's clock.
    pub at: DateTime<Utc>,
}

/// A profile field after a report of `reported` at `at`: the report with the latest time
/// wins (equal times: the greater value), so the outcome does not depend on arrival order.
pub(super) fn newest<'a>(
    current: Option<&'a str>,
    seen_at: Option<DateTime<Utc>>,
    reported: Option<&'a str>,
    at: DateTime<Utc>,
) -> (Option<&'a str>, Option<DateTime<Utc>>) {
    match reported {
        Some(value) if seen_at.is_none_or(|seen| (at, value) > (seen, current.unwrap_or(""))) => {
            (Some(value), Some(at))
        }
        _ => (current, seen_at),
    }
}

/// The customers behind the sightings, created on first contact; each identity's profile
/// keeps the newest value reported per field. Keyed by channel and platform id.
pub(super) async fn customers_of(
    conn: &mut AsyncPgConnection,
    sightings: &[Sighting<'_>],
) -> diesel::QueryResult<HashMap<(ChannelId, String), CustomerId>> {
    let mut by_key: BTreeMap<(ChannelId, &str), Vec<Sighting<'_>>> = BTreeMap::new();
    for sighting in sightings {
        let key = (sighting.channel.id, sighting.contact.external_id.as_str());
        by_key.entry(key).or_default().push(*sighting);
    }
    let pairs: Vec<(ChannelId, &str)> = by_key.keys().copied().collect();
    let existing: HashMap<(ChannelId, String), Identity> = customers::find_identities(conn, &pairs)
        .await?
        .into_iter()
        .map(|i| ((i.channel_id, i.external_id.clone()), i))
        .collect();
    let mut found = HashMap::new();
    let (mut new_customers, mut new_identities) = (Vec::new(), Vec::new());
    for ((channel_id, external_id), seen) in &by_key {
        let stored = existing.get(&(*channel_id, (*external_id).to_owned()));
        let profile = seen.iter().fold(
            Profile {
                username: stored.and_then(|i| i.username.as_deref()),
                username_seen_at: stored.and_then(|i| i.username_seen_at),
                display_name: stored.and_then(|i| i.display_name.as_deref()),
                display_name_seen_at: stored.and_then(|i| i.display_name_seen_at),
            },
            |p, s| {
                let (username, username_seen_at) = newest(
                    p.username,
                    p.username_seen_at,
                    s.contact.username.as_deref(),
                    s.at,
                );
                let (display_name, display_name_seen_at) = newest(
                    p.display_name,
                    p.display_name_seen_at,
                    s.contact.display_name.as_deref(),
                    s.at,
                );
                Profile {
                    username,
                    username_seen_at,
                    display_name,
                    display_name_seen_at,
                }
            },
        );
        let name = profile.display_name.or(profile.username);
        match stored {
            Some(identity) => {
                // A report in the same second as the stored one may still change the value.
                let changed = profile.username_seen_at != identity.username_seen_at
                    || profile.display_name_seen_at != identity.display_name_seen_at
                    || profile.username != identity.username.as_deref()
                    || profile.display_name != identity.display_name.as_deref();
                if changed {
                    customers::update_profile(conn, identity.id, &profile).await?;
                    let before = identity
                        .display_name
                        .as_deref()
                        .or(identity.username.as_deref());
                    customers::rename_if_unedited(conn, identity.customer_id, before, name).await?;
                }
                found.insert(
                    (*channel_id, (*external_id).to_owned()),
                    identity.customer_id,
                );
            }
            None => {
                let channel = seen[0].channel;
                let now = Utc::now();
                let customer = Customer {
                    id: CustomerId::new(),
                    org_id: channel.org_id,
                    name: name.map(str::to_owned),
                    avatar_url: None,
                    notes: None,
                    created_at: now,
                    updated_at: now,
                    name_source: NameSource::Platform,
                    blocked_at: None,
                    blocked_by: None,
                };
                new_identities.push(Identity {
                    id: Uuid::new_v4(),
                    org_id: channel.org_id,
                    customer_id: customer.id,
                    channel_id: channel.id,
                    platform: channel.platform,
                    external_id: (*external_id).to_owned(),
                    username: profile.username.map(str::to_owned),
                    display_name: profile.display_name.map(str::to_owned),
                    created_at: now,
                    username_seen_at: profile.username_seen_at,
                    display_name_seen_at: profile.display_name_seen_at,
                    profile_pic_url: None,
                    is_verified: None,
                    follower_count: None,
                    profile_fetched_at: None,
                });
                found.insert((*channel_id, (*external_id).to_owned()), customer.id);
                tracing::info!(org.id = %channel.org_id, customer.id = %customer.id, "new customer {} on first contact", customer.id);
                new_customers.push(customer);
            }
        }
    }
    customers::insert_many_with_identities(conn, &new_customers, &new_identities).await?;
    Ok(found)
}

/// A conversation a message belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted<'a> {
    /// The channel.
    pub channel: &'a Channel,
    /// The customer.
    pub customer: CustomerId,
    /// The customer's platform id (a new direct conversation takes the read position
    /// they already reported).
    pub contact: &'a str,
    /// Direct conversation or comment thread.
    pub thread: &'a Thread,
    /// When the message that needs it was sent.
    pub at: DateTime<Utc>,
}

/// Key of a conversation: channel, customer, kind and thread key.
pub(super) type ThreadKey = (ChannelId, CustomerId, TicketKind, String);

/// The key of the conversation `wanted` names.
pub(super) fn thread_key(wanted: &Wanted<'_>) -> ThreadKey {
    let (kind, key) = match wanted.thread {
        Thread::Direct => (TicketKind::Direct, String::new()),
        Thread::Comment { media_id } => (TicketKind::Comment, media_id.clone()),
    };
    (wanted.channel.id, wanted.customer, kind, key)
}

/// The tickets of the wanted conversations, locked for update, created when missing
/// (`true` when created). Keyed by [`ThreadKey`].
pub(super) async fn tickets_of(
    conn: &mut AsyncPgConnection,
    wanted: &[Wanted<'_>],
    outbox: &mut Outbox,
) -> diesel::QueryResult<HashMap<ThreadKey, (Ticket, bool)>> {
    let mut pairs: Vec<(ChannelId, CustomerId)> =
        wanted.iter().map(|w| (w.channel.id, w.customer)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut found: HashMap<ThreadKey, (Ticket, bool)> =
        tickets::find_threads_for_update(conn, &pairs)
            .await?
            .into_iter()
            .map(|t| {
                (
                    (t.channel_id, t.customer_id, t.kind, t.thread_key.clone()),
                    (t, false),
                )
            })
            .collect();
    let mut missing: BTreeMap<ThreadKey, Wanted<'_>> = BTreeMap::new();
    for w in wanted {
        let key = thread_key(w);
        if found.contains_key(&key) {
            continue;
        }
        let first = missing.entry(key).or_insert(*w);
        if w.at < first.at {
            *first = *w;
        }
    }
    let new: Vec<NewTicket> = missing
        .iter()
        .map(|((_, customer, kind, key), w)| NewTicket {
            id: TicketId::new(),
            org_id: w.channel.org_id,
            channel_id: w.channel.id,
            customer_id: *customer,
            kind: *kind,
            thread_key: key.clone(),
            last_message_at: w.at,
            team_id: w.channel.default_team_id,
        })
        .collect();
    let created = tickets::insert_many(conn, &new).await?;
    let direct: Vec<(ChannelId, &str)> = missing
        .iter()
        .filter(|((_, _, kind, _), _)| *kind == TicketKind::Direct)
        .map(|(_, w)| (w.channel.id, w.contact))
        .collect();
    let watermarks = pending_facts::take_many(conn, &direct, &[FactKind::Watermark]).await?;
    for mut ticket in created {
        let key = (
            ticket.channel_id,
            ticket.customer_id,
            ticket.kind,
            ticket.thread_key.clone(),
        );
        if let Some(w) = missing.get(&key) {
            let kept = watermarks
                .iter()
                .filter(|f| f.channel_id == w.channel.id && f.external_id == w.contact)
                .filter_map(|f| facts::watermark_time(&f.payload))
                .max();
            if let Some(at) = kept {
                ticket.customer_read_at =
                    Some(super::updates::read_up_to(conn, w.channel, ticket.id, at, outbox).await?);
            }
        }
        found.insert(key, (ticket, true));
    }
    Ok(found)
}

/// The order of messages in a ticket's summary: visible before unsent, then by time,
/// then by platform id.
fn summary_rank(m: &Message) -> (bool, DateTime<Utc>, &str) {
    (
        !m.is_deleted,
        m.sent_at,
        m.external_id.as_deref().unwrap_or(""),
    )
}

/// Stores the customers' messages of a group as a set: customers, tickets, messages with
/// the facts that waited for them, linked replies, summaries, notifications and events.
pub(super) async fn customer_messages(
    conn: &mut AsyncPgConnection,
    messages: &[(&Channel, &InboundMessage)],
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let mut seen = HashSet::new();
    let messages: Vec<(&Channel, &InboundMessage)> = messages
        .iter()
        .filter(|(c, m)| seen.insert((c.id, m.external_id.as_str())))
        .copied()
        .collect();
    if messages.is_empty() {
        return Ok(());
    }
    let sightings: Vec<Sighting<'_>> = messages
        .iter()
        .map(|(channel, m)| Sighting {
            channel,
            contact: &m.customer,
            at: m.sent_at,
        })
        .collect();
    let customers = customers_of(conn, &sightings).await?;
    // Customers who wrote directly may be looked up in the platform's profile API.
    let profiled: Vec<(ChannelId, &str)> = messages
        .iter()
        .filter(|(c, m)| m.thread == Thread::Direct && FetchedProfile::fields(c.platform).is_some())
        .map(|(c, m)| (c.id, m.customer.external_id.as_str()))
        .collect();
    outbox.queued(profile_jobs::schedule(conn, &profiled).await?);
    let customer_of = |c: &Channel, m: &InboundMessage| {
        customers
            .get(&(c.id, m.customer.external_id.clone()))
            .copied()
            .ok_or(diesel::result::Error::NotFound)
    };
    let mut wanted = Vec::with_capacity(messages.len());
    for (channel, m) in &messages {
        wanted.push(Wanted {
            channel,
            customer: customer_of(channel, m)?,
            contact: &m.customer.external_id,
            thread: &m.thread,
            at: m.sent_at,
        });
    }
    let tickets = tickets_of(conn, &wanted, outbox).await?;

    // The rows, with replies resolved (also to messages of this very group) and the
    // facts that waited for them folded in.
    let keys: Vec<(ChannelId, &str)> = messages
        .iter()
        .map(|(c, m)| (c.id, m.external_id.as_str()))
        .collect();
    let mut waiting = facts::take_many(conn, &keys).await?;
    let replied_to: Vec<(ChannelId, &str)> = messages
        .iter()
        .filter_map(|(c, m)| Some((c.id, m.reply_to.as_deref()?)))
        .collect();
    let mut known: HashMap<(ChannelId, String), MessageId> =
        messages::ids_by_external_ids(conn, &replied_to)
            .await?
            .into_iter()
            .map(|(c, e, id)| ((c, e), id))
            .collect();
    let mut rows = Vec::with_capacity(messages.len());
    for (channel, m) in &messages {
        let (ticket, _) = &tickets[&thread_key(&Wanted {
            channel,
            customer: customer_of(channel, m)?,
            contact: &m.customer.external_id,
            thread: &m.thread,
            at: m.sent_at,
        })];
        let mut context = m.context.clone();
        if m.standby {
            context = with_flag(context, "standby");
        }
        let row = Message {
            author_customer_id: Some(ticket.customer_id),
            text: m.text.clone(),
            external_id: Some(m.external_id.clone()),
            reply_to_external_id: m.reply_to.clone(),
            context,
            sent_at: m.sent_at,
            ..new_message(channel, ticket, Origin::CUSTOMER, m.kind)
        };
        known.insert((channel.id, m.external_id.clone()), row.id);
        rows.push(row);
    }
    let mut attachments = Vec::with_capacity(rows.len());
    let mut later = Vec::with_capacity(rows.len());
    for (row, (channel, m)) in rows.iter_mut().zip(&messages) {
        row.reply_to_message_id = m
            .reply_to
            .as_ref()
            .and_then(|r| known.get(&(channel.id, r.clone())).copied());
        let mut kept = m.attachments.clone();
        let facts = waiting
            .remove(&(channel.id, m.external_id.clone()))
            .unwrap_or_default();
        later.push(facts::fold_into_new(row, &mut kept, facts.clone()));
        attachments.push((kept, facts));
    }

    let inserted: HashSet<MessageId> = messages::insert_many_if_new(conn, &rows)
        .await?
        .into_iter()
        .collect();
    let mut stored = Vec::with_capacity(inserted.len());
    let mut new_attachments = Vec::new();
    for (((row, (kept, taken)), later), (channel, m)) in
        rows.iter().zip(&attachments).zip(later).zip(&messages)
    {
        if inserted.contains(&row.id) {
            new_attachments.extend(attachment_rows(row.org_id, row.id, kept));
            let preview = if row.is_deleted {
                UNSENT_PREVIEW.to_owned()
            } else {
                let kinds: Vec<AttachmentType> = kept.iter().map(|a| a.kind).collect();
                preview(row.text.as_deref(), row.kind, &kinds)
            };
            stored.push(Stored {
                row,
                channel,
                preview,
                later,
            });
        } else if !taken.is_empty() {
            // A duplicate: facts kept meanwhile belong to the stored message.
            if let Some(existing) =
                messages::find_by_external_id(conn, channel.id, &m.external_id).await?
            {
                facts::apply_all(conn, channel, &existing, taken.clone(), outbox).await?;
            }
        }
    }
    if stored.is_empty() {
        return Ok(());
    }
    outbox.queued(messages::insert_attachments(conn, &new_attachments).await?);
    let linked: Vec<(ChannelId, &str, MessageId)> = stored
        .iter()
        .map(|s| {
            (
                s.channel.id,
                s.row.external_id.as_deref().unwrap_or(""),
                s.row.id,
            )
        })
        .collect();
    messages::link_waiting_replies(conn, &linked).await?;

    // Summaries, one per ticket.
    let mut by_ticket: BTreeMap<TicketId, Vec<&Stored<'_>>> = BTreeMap::new();
    for s in &stored {
        by_ticket.entry(s.row.ticket_id).or_default().push(s);
    }
    let activities: Vec<Activity<'_>> = by_ticket
        .iter()
        .filter_map(|(ticket, group)| {
            let best = group.iter().max_by_key(|s| summary_rank(s.row))?;
            let latest_at = group.iter().map(|s| s.row.sent_at).max()?;
            Some(Activity {
                ticket_id: *ticket,
                message_id: best.row.id,
                at: best.row.sent_at,
                external_id: best.row.external_id.as_deref(),
                deleted: best.row.is_deleted,
                preview: &best.preview,
                latest_at,
                inbound: group.len() as i64,
                latest_inbound_at: Some(latest_at),
            })
        })
        .collect();
    let mut updated = tickets::record_activities(conn, &activities).await?;
    let reopened: HashSet<TicketId> = tickets
        .values()
        .filter(|(t, _)| matches!(t.status, TicketStatus::Resolved | TicketStatus::Snoozed))
        .map(|(t, _)| t.id)
        .collect();
    auto_assign(conn, &mut updated, &reopened, outbox).await?;
    for ticket in &updated {
        let created = tickets
            .values()
            .any(|(t, created)| *created && t.id == ticket.id);
        let kind = if created {
            EventKind::TicketCreated
        } else {
            EventKind::TicketUpdated
        };
        outbox.ticket_row(kind, ticket);
    }
    for s in &stored {
        outbox.message_row(EventKind::MessageAdded, s.row);
    }

    // What waited for these messages and is applied once they are stored.
    for s in &stored {
        if !s.later.is_empty() {
            facts::apply_all(conn, s.channel, s.row, s.later.clone(), outbox).await?;
        }
    }
    let comment_keys: Vec<(ChannelId, &str)> = linked.iter().map(|(c, e, _)| (*c, *e)).collect();
    for reply in pending_facts::take_many(conn, &comment_keys, &[FactKind::Reply]).await? {
        let Some(s) = stored.iter().find(|s| s.channel.id == reply.channel_id) else {
            continue;
        };
        match serde_json::from_value::<OwnComment>(reply.payload) {
            Ok(reply) => ingest::own_comment(conn, s.channel, &reply, outbox).await?,
            Err(e) => tracing::warn!(error = %e, "unreadable waiting reply dropped"),
        }
    }

    notify(conn, &updated, &by_ticket, outbox).await
}

/// Lets the teams of new or reopened tickets that wait unassigned auto-assign them
/// (before notifying, so the new assignee is the one notified), and updates the rows. A
/// reopened ticket whose assignee cannot take it now waits too. Teams are locked in id
/// order, each once.
async fn auto_assign(
    conn: &mut AsyncPgConnection,
    updated: &mut [Ticket],
    reopened: &HashSet<TicketId>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let mut work: BTreeMap<TeamId, OrgId> = BTreeMap::new();
    for ticket in updated.iter() {
        if let Some(team) = ticket.team_id
            && ticket.status == TicketStatus::Open
            && (ticket.assignee_id.is_none() || reopened.contains(&ticket.id))
        {
            work.insert(team, ticket.org_id);
        }
    }
    for (team, org) in work {
        for ticket in updated.iter_mut() {
            if ticket.team_id == Some(team)
                && ticket.status == TicketStatus::Open
                && reopened.contains(&ticket.id)
                && assignment::release_reopened(conn, ticket, outbox).await?
            {
                ticket.assignee_id = None;
            }
        }
        for (ticket, user) in assignment::fill(conn, org, team, outbox).await? {
            if let Some(row) = updated.iter_mut().find(|t| t.id == ticket) {
                row.assignee_id = Some(user);
            }
        }
    }
    Ok(())
}

/// A customer's message stored by this group, with what its summary and later facts need.
struct Stored<'a> {
    row: &'a Message,
    channel: &'a Channel,
    preview: String,
    later: Vec<Fact>,
}

/// NEW_MESSAGE / NEW_COMMENT for each ticket's assignee, or for every member of the org
/// when unassigned (nobody for a blocked customer's messages): one notification per user and ticket, counting the new messages and
/// pointing at the latest of them.
async fn notify(
    conn: &mut AsyncPgConnection,
    tickets: &[Ticket],
    by_ticket: &BTreeMap<TicketId, Vec<&Stored<'_>>>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let mut bumps = Vec::new();
    let customers: Vec<CustomerId> = tickets.iter().map(|t| t.customer_id).collect();
    let blocked = customers::blocked_among(conn, &customers).await?;
    // Every member of an unassigned ticket's org is notified: one query for all orgs.
    let unassigned_orgs: BTreeSet<OrgId> = tickets
        .iter()
        .filter(|t| t.assignee_id.is_none() && by_ticket.contains_key(&t.id))
        .filter(|t| !blocked.contains(&t.customer_id))
        .map(|t| t.org_id)
        .collect();
    let unassigned_orgs: Vec<OrgId> = unassigned_orgs.into_iter().collect();
    let members = orgs::member_ids_of(conn, &unassigned_orgs).await?;
    for ticket in tickets {
        let Some(group) = by_ticket.get(&ticket.id) else {
            continue;
        };
        if blocked.contains(&ticket.customer_id) {
            continue;
        }
        let latest = group
            .iter()
            .map(|s| s.row)
            .max_by_key(|m| (m.sent_at, m.external_id.as_deref().unwrap_or("")));
        let recipients = match ticket.assignee_id {
            Some(assignee) => vec![assignee],
            None => members.get(&ticket.org_id).cloned().unwrap_or_default(),
        };
        let kind = match ticket.kind {
            TicketKind::Comment => NotificationType::NewComment,
            TicketKind::Direct => NotificationType::NewMessage,
        };
        for user in recipients {
            bumps.push(Bump {
                org_id: ticket.org_id,
                user_id: user,
                kind,
                ticket_id: ticket.id,
                message_id: latest.map(|m| m.id),
                count: i32::try_from(group.len()).unwrap_or(i32::MAX),
            });
        }
    }
    for (user, ticket, notification) in notifications::bump_batch(conn, &bumps).await? {
        let org = tickets
            .iter()
            .find(|t| t.id == ticket)
            .map(|t| t.org_id)
            .ok_or(diesel::result::Error::NotFound)?;
        outbox.notification(
            org,
            EventKind::NotificationAdded,
            user,
            notification,
            Some(ticket),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::newest;

    #[test]
    fn the_newest_profile_report_wins_in_any_order() {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
        let reports = [(Some("ana"), at(1)), (None, at(3)), (Some("ana_b"), at(2))];
        let fold = |order: &[(Option<&'static str>, DateTime<Utc>)]| {
            order
                .iter()
                .fold((None, None), |(value, seen), (reported, when)| {
                    newest(value, seen, *reported, *when)
                })
        };
        let mut reversed = reports;
        reversed.reverse();
        assert_eq!(fold(&reports), (Some("ana_b"), Some(at(2))));
        assert_eq!(fold(&reversed), fold(&reports));
        // Same time: the greater value wins, whichever came first.
        let tie = [(Some("a"), at(5)), (Some("b"), at(5))];
        let mut tie_reversed = tie;
        tie_reversed.reverse();
        assert_eq!(fold(&tie), fold(&tie_reversed));
    }
}
