//! Recording what happened to sends, many at once: the outcomes of the sends that finished
//! meanwhile are written in one transaction (one commit for all of them), and accepted
//! sends, the bulk, are recorded set-based: their platform ids and statuses in one
//! statement, their jobs removed in another. Every write checks that the job's lease is
//! still the one that sent it.
//!
//! If a batch cannot commit (a deadlock, one bad row), its outcomes are recorded one by one,
//! so a failure never holds up the others; an outcome that still cannot be recorded is
//! left to the lease, whose expiry makes another attempt reconcile.

use std::time::Duration;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::graph::Sent;
use crate::db::channels;
use crate::db::enums::{EventKind, MessageStatus};
use crate::db::ids::{ChannelId, MessageId};
use crate::db::messages;
use crate::db::outbound_jobs::{self, ClaimedJob};
use crate::db::tickets;
use crate::inbox::facts;
use crate::inbox::ingest;
use crate::inbox::outbox::Outbox;
use crate::inbox::status;
use crate::inbox::updates;
use crate::state::AppState;

/// What to do with a job after looking at it and, maybe, sending it.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Meta accepted it.
    Sent(Sent),
    /// Our records already show it went out (an echo confirmed it).
    AlreadySent,
    /// Try again in this long; `uncertain` when this attempt may have reached Meta.
    Retry {
        /// When.
        delay: Duration,
        /// Why.
        error: String,
        /// This attempt may have reached Meta.
        uncertain: bool,
    },
    /// Give up.
    Failed {
        /// Meta's error code, if Meta gave one.
        code: Option<i64>,
        /// A reason the agent can act on.
        reason: String,
    },
}

/// Records `outcomes` in one transaction, or one by one if that fails.
pub(super) async fn record_all(state: &AppState, outcomes: Vec<(ClaimedJob, Outcome)>) {
    if outcomes.is_empty() {
        return;
    }
    let together = match state.system_conn().await {
        Ok(mut conn) => record_in_one_transaction(&mut conn, &outcomes).await,
        Err(e) => Err(e.into()),
    };
    match together {
        Ok(committed) => {
            state.publish(committed);
        }
        Err(e) if outcomes.len() == 1 => {
            // The lease runs out and another attempt reconciles.
            tracing::error!(job.id = outcomes[0].0.id, error = %e, "recording a send outcome failed");
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = outcomes.len(), "recording send outcomes together failed; recording them one by one");
            for outcome in outcomes {
                Box::pin(record_all(state, vec![outcome])).await;
            }
        }
    }
}

async fn record_in_one_transaction(
    conn: &mut AsyncPgConnection,
    outcomes: &[(ClaimedJob, Outcome)],
) -> anyhow::Result<crate::inbox::outbox::Committed<()>> {
    let committed = conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            let sent: Vec<(&ClaimedJob, &str)> = outcomes
                .iter()
                .filter_map(|(job, outcome)| match outcome {
                    Outcome::Sent(sent) => Some((job, sent.external_id.as_str())),
                    _ => None,
                })
                .collect();
            record_sent_many(conn, &sent, &mut outbox).await?;
            for (job, outcome) in outcomes {
                record_other(conn, job, outcome, &mut outbox).await?;
            }
            outbox.commit(conn, ()).await
        })
        .await?;
    Ok(committed)
}

/// Records an outcome other than an accepted send.
async fn record_other(
    conn: &mut AsyncPgConnection,
    job: &ClaimedJob,
    outcome: &Outcome,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    match outcome {
        Outcome::Sent(_) => {}
        Outcome::AlreadySent => {
            outbound_jobs::remove_done(conn, &[job]).await?;
        }
        Outcome::Retry {
            delay,
            error,
            uncertain,
        } => {
            outbound_jobs::retry_later(conn, job.id, job.lease_id, *delay, error, *uncertain)
                .await?;
        }
        Outcome::Failed { code, reason } => {
            if outbound_jobs::fail(conn, job.id, job.lease_id, reason).await? {
                fail_message(conn, job, *code, reason, outbox).await?;
            }
        }
    }
    Ok(())
}

/// Records Meta's ids on accepted sends. Under the ids' locks (see
/// [`crate::inbox::ingest`]): the usual case (a queued message, no echo raced ahead) takes
/// one statement for every message and one for every job; the rest (an early echo stored
/// as a twin, a message that moved on) go through [`record_sent`] one by one. Facts kept
/// for the ids are applied.
async fn record_sent_many(
    conn: &mut AsyncPgConnection,
    sent: &[(&ClaimedJob, &str)],
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if sent.is_empty() {
        return Ok(());
    }
    let keys: Vec<(ChannelId, &str)> = sent.iter().map(|(j, e)| (j.channel_id, *e)).collect();
    ingest::lock_message_keys(conn, &keys).await?;
    let taken: Vec<(ChannelId, String, MessageId)> =
        messages::ids_by_external_ids(conn, &keys).await?;
    let has_twin = |job: &ClaimedJob, external_id: &str| {
        taken
            .iter()
            .any(|(c, e, id)| *c == job.channel_id && e == external_id && *id != job.message_id)
    };
    let (twins, plain): (Vec<_>, Vec<_>) = sent.iter().partition(|(j, e)| has_twin(j, e));
    let ids: Vec<(MessageId, &str)> = plain.iter().map(|(j, e)| (j.message_id, *e)).collect();
    let recorded = messages::record_platform_ids(conn, &ids).await?;
    for message in &recorded {
        outbox.message_row(EventKind::MessageUpdated, message);
    }
    let done: Vec<&ClaimedJob> = plain
        .iter()
        .filter(|(j, _)| recorded.iter().any(|m| m.id == j.message_id))
        .map(|(j, _)| *j)
        .collect();
    outbound_jobs::remove_done(conn, &done).await?;
    // Only the recorded ids: the others take their facts in `record_sent`.
    let recorded_keys: Vec<(ChannelId, &str)> = recorded
        .iter()
        .filter_map(|m| Some((m.channel_id, m.external_id.as_deref()?)))
        .collect();
    let mut waiting = facts::take_many(conn, &recorded_keys).await?;
    for message in &recorded {
        let Some(external_id) = message.external_id.clone() else {
            continue;
        };
        if let Some(kept) = waiting.remove(&(message.channel_id, external_id)) {
            let channel = channels::get(conn, message.channel_id).await?;
            facts::apply_all(conn, &channel, message, kept, outbox).await?;
        }
    }
    let rest: Vec<(&ClaimedJob, &str)> = twins
        .into_iter()
        .chain(
            plain
                .into_iter()
                .filter(|(j, _)| !done.iter().any(|d| d.id == j.id)),
        )
        .collect();
    for (job, external_id) in &rest {
        record_sent(conn, job, external_id, outbox).await?;
    }
    let rest_jobs: Vec<&ClaimedJob> = rest.iter().map(|(j, _)| *j).collect();
    outbound_jobs::remove_done(conn, &rest_jobs).await?;
    Ok(())
}

/// Records Meta's id on one send, under the id's lock. What raced ahead is folded in: a
/// message an early echo created for the same id is merged into ours (its status and
/// reactions carried over), and facts kept for the id (statuses, reads, reactions) are
/// applied.
async fn record_sent(
    conn: &mut AsyncPgConnection,
    job: &ClaimedJob,
    external_id: &str,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    ingest::lock_message_ids(conn, job.channel_id, &[external_id]).await?;
    let message = messages::get(conn, job.message_id).await?;
    let mut carried = MessageStatus::Sent;
    let twin = messages::id_by_external_id(conn, job.channel_id, external_id).await?;
    if twin.is_some_and(|twin| twin != message.id) {
        // Merging rewrites the ticket's summary: lock the ticket before any message row
        // (the lock order of `inbox::ingest`).
        tickets::lock(conn, message.ticket_id).await?;
    }
    if let Some(twin) = messages::find_by_external_id(conn, job.channel_id, external_id).await?
        && twin.id != message.id
    {
        // The echo beat us and was recorded as a message typed outside the inbox.
        carried = status::advance(carried, twin.status).unwrap_or(carried);
        messages::move_reactions(conn, twin.id, message.id).await?;
        messages::delete(conn, twin.id).await?;
        outbox.message(
            twin.org_id,
            EventKind::MessageUpdated,
            twin.ticket_id,
            twin.id,
        );
        updates::refresh_summary(conn, message.ticket_id, outbox).await?;
        tracing::info!(message.id = %message.id, "merged an early echo into the sent message");
    }
    let message = match message.external_id {
        Some(_) => message,
        None => updates::take_platform_id(conn, &message, external_id, outbox).await?,
    };
    updates::advance(conn, &message, carried, None, outbox).await?;
    Ok(())
}

async fn fail_message(
    conn: &mut AsyncPgConnection,
    job: &ClaimedJob,
    code: Option<i64>,
    reason: &str,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let message = messages::get(conn, job.message_id).await?;
    updates::advance(
        conn,
        &message,
        MessageStatus::Failed,
        Some((code, Some(reason.to_owned()))),
        outbox,
    )
    .await?;
    tracing::warn!(message.id = %message.id, code, "reply failed: {reason}");
    Ok(())
}
