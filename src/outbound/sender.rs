//! The outbound worker: claims reply jobs with a lease, sends them through the Graph API
//! under per-channel rate limits (up to [`MAX_IN_FLIGHT`] at once), and records the
//! outcome in a new transaction that checks the lease is still its own.
//!
//! Outcomes: accepted -> SENT with Meta's id (the key later echoes, reads and statuses
//! match; a status that arrived first is applied, an echo-created duplicate merged);
//! transient -> retried with full-jitter backoff (2 s doubling to 5 min, honouring
//! Meta's requested wait) up to [`MAX_ATTEMPTS`]; permanent -> FAILED with Meta's code
//! and a reason for the agent (an invalid token also flags the channel); unknown (Meta
//! may have accepted it) -> wait [`RECONCILE_AFTER`] for an echo to confirm it, then
//! resend only where the platform would have echoed (Instagram, Messenger) and
//! otherwise fail with an explanation rather than risk a duplicate.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel::OptionalExtension as _;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use tokio::sync::{Semaphore, watch};

use super::compose::{Outgoing, compose};
use super::graph::{GraphError, PermanentKind, Sent, UNREACHABLE};
use super::rate_limit;
use crate::config::AppEnv;
use crate::crypto::aad;
use crate::db::channels::{self, Channel};
use crate::db::enums::{ChannelStatus, EventKind, JobState, MessageStatus, Platform};
use crate::db::messages::{self, Message};
use crate::db::outbound_jobs::{self, ClaimedJob};
use crate::db::{customers, tickets};
use crate::inbox::ingest;
use crate::inbox::outbox::Outbox;
use crate::inbox::status;
use crate::inbox::updates;
use crate::jobs::WorkerConfig;
use crate::jobs::backoff::Backoff;
use crate::state::AppState;

/// Sends in flight per process.
pub const MAX_IN_FLIGHT: usize = 200;
/// Fewest jobs worth a claim query while other sends are in flight.
pub const MIN_CLAIM: usize = 20;
/// Jobs claimed per query.
pub const BATCH_SIZE: i64 = 100;
/// Lease of a claimed job (sends time out after 15 s).
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a transiently failing send is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long an uncertain send waits for an echo before it is resent or failed.
pub const RECONCILE_AFTER: Duration = Duration::from_secs(60);
/// Retry schedule of transient failures.
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    cap: Duration::from_secs(300),
};

/// Runs the outbound worker as `worker` until `stop` turns true.
pub async fn run(state: AppState, worker: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        while tasks.try_join_next().is_some() {}
        let notified = state.wakeups().outbound.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let free = permits.available_permits().min(BATCH_SIZE as usize);
        // While sends are in flight, wait until a worthwhile batch of permits is free:
        // claiming one job per finished send would make the claim query the bottleneck.
        let worthwhile = free >= MIN_CLAIM || tasks.is_empty();
        let claimed = if free == 0 || !worthwhile {
            Ok(Vec::new())
        } else {
            claim(&state, &worker, free as i64).await
        };
        let claimed = claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "outbound worker could not claim jobs");
            Vec::new()
        });
        let idle = claimed.is_empty();
        for job in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let state = state.clone();
            tasks.spawn(async move {
                process(&state, job).await;
                drop(permit);
            });
        }
        if idle {
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(worker.poll_interval) => {}
                _ = stop.changed() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
    }
    // Let sends in flight finish (each is bounded by the HTTP timeout).
    while tasks.join_next().await.is_some() {}
}

/// Claims and processes one batch as `worker`, waiting for every send; returns how many
/// jobs it handled (tests and benchmarks drain queues with it).
pub async fn run_once(state: &AppState, worker: &WorkerConfig) -> anyhow::Result<usize> {
    let claimed = claim(state, worker, BATCH_SIZE).await?;
    let count = claimed.len();
    futures_util::future::join_all(claimed.into_iter().map(|job| process(state, job))).await;
    Ok(count)
}

async fn claim(
    state: &AppState,
    worker: &WorkerConfig,
    limit: i64,
) -> anyhow::Result<Vec<ClaimedJob>> {
    let mut conn = state.conn().await?;
    Ok(outbound_jobs::claim(&mut conn, limit, LEASE, &worker.id).await?)
}

/// What to do with a job after looking at it and, maybe, sending it.
enum Outcome {
    /// Meta accepted it.
    Sent(Sent),
    /// Our records already show it went out (an echo confirmed it).
    AlreadySent,
    /// Try again in this long; `uncertain` when this attempt may have reached Meta.
    Retry {
        delay: Duration,
        error: String,
        uncertain: bool,
    },
    /// Give up.
    Failed { code: Option<i64>, reason: String },
}

async fn process(state: &AppState, job: ClaimedJob) {
    let outcome = match attempt(state, &job).await {
        Ok(outcome) => outcome,
        // Our own failures (the database, a secret that no longer opens) count toward the
        // attempt limit like Meta's, so a reply never retries forever.
        Err(e) if job.attempts >= MAX_ATTEMPTS => Outcome::Failed {
            code: None,
            reason: format!(
                "the reply could not be sent after {} attempts: {e:#}",
                job.attempts
            ),
        },
        Err(e) => Outcome::Retry {
            delay: BACKOFF.delay(attempt_number(&job)),
            error: format!("{e:#}"),
            uncertain: false,
        },
    };
    state.metrics().send_outcome(&outcome_label(&outcome));
    if let Err(e) = record(state, &job, outcome).await {
        // The lease runs out and another attempt reconciles.
        tracing::error!(job.id = job.id, error = %e, "recording a send outcome failed");
    }
}

async fn attempt(state: &AppState, job: &ClaimedJob) -> anyhow::Result<Outcome> {
    let mut conn = state.conn().await?;
    let Some(message) = messages::get(&mut conn, job.message_id).await.optional()? else {
        return Ok(Outcome::Failed {
            code: None,
            reason: "the message no longer exists".into(),
        });
    };
    if message.external_id.is_some() || message.status != MessageStatus::Queued {
        return Ok(Outcome::AlreadySent);
    }
    let Some(channel) = channels::get(&mut conn, job.channel_id).await.optional()? else {
        return Ok(Outcome::Failed {
            code: None,
            reason: "the channel no longer exists".into(),
        });
    };
    if let Some(outcome) = reconcile(job, &channel, &message) {
        return Ok(outcome);
    }
    if channel.deleted_at.is_some() || channel.status == ChannelStatus::Disabled {
        return Ok(Outcome::Failed {
            code: None,
            reason: "the channel was disabled before the message could be sent".into(),
        });
    }
    if channel.status == ChannelStatus::NeedsReauth {
        return Ok(Outcome::Failed {
            code: Some(190),
            reason: "the channel needs to be reconnected: Meta rejected its access token".into(),
        });
    }
    let ticket = tickets::get(&mut conn, message.ticket_id).await?;
    let identity = customers::identity_on(&mut conn, ticket.customer_id, channel.id).await?;
    let attachments = messages::attachments_of(&mut conn, &[message.id]).await?;
    drop(conn);
    let out = Outgoing {
        channel: &channel,
        message: &message,
        recipient: identity.as_ref().map(|i| i.external_id.as_str()),
        attachments: &attachments,
    };
    let request = match compose(&out) {
        Ok(request) => request,
        Err(reason) => return Ok(Outcome::Failed { code: None, reason }),
    };
    let token = state
        .secrets()
        .open(
            &channel.access_token_enc,
            &aad(channel.id.0, "access_token"),
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "the channel's access token cannot be read (the server's SECRET_KEY may have \
                 changed); reconnect the channel with a new token"
            )
        })?;
    state
        .send_limits()
        .acquire(channel.id, rate_limit::per_second(channel.platform))
        .await;
    let result = state.graph().send(&token, &request).await;
    Ok(match result {
        Ok(sent) => Outcome::Sent(sent),
        Err(GraphError::Transient {
            code,
            message,
            retry_after,
        }) => {
            let unreachable = message.starts_with(UNREACHABLE);
            if unreachable && state.config().app_env == AppEnv::Development {
                // Nothing to wait for on a laptop that cannot reach Meta: say so now.
                return Ok(Outcome::Failed {
                    code: None,
                    reason: UNREACHABLE_IN_DEVELOPMENT.into(),
                });
            }
            if job.attempts == 1 {
                tracing::warn!(channel.id = %channel.id, message.id = %job.message_id, error = %message, "sending a reply failed; retrying with backoff");
            }
            if let Some(wait) = retry_after {
                state.send_limits().pause(channel.id, wait);
            }
            if job.attempts >= MAX_ATTEMPTS {
                let reason = if unreachable {
                    UNREACHABLE_IN_PRODUCTION.to_owned()
                } else {
                    format!("Meta kept failing temporarily ({message}); retry later")
                };
                Outcome::Failed { code, reason }
            } else {
                let delay = BACKOFF
                    .delay(attempt_number(job))
                    .max(retry_after.unwrap_or_default());
                Outcome::Retry {
                    delay,
                    error: message,
                    uncertain: false,
                }
            }
        }
        Err(GraphError::Permanent {
            code, kind, reason, ..
        }) => {
            if kind == PermanentKind::TokenInvalid {
                let mut conn = state.conn().await?;
                if channels::mark_needs_reauth(&mut conn, channel.id, &reason).await? {
                    tracing::warn!(channel.id = %channel.id, "Meta rejected the channel's token; channel needs re-authorisation");
                }
            }
            Outcome::Failed {
                code: Some(code),
                reason,
            }
        }
        Err(GraphError::Ambiguous { message }) => Outcome::Retry {
            delay: RECONCILE_AFTER,
            error: message,
            uncertain: true,
        },
    })
}

/// For a job whose earlier attempt may have reached Meta and whose echo has not
/// confirmed it: wait out the reconcile period, then resend only where an echo would
/// have come, otherwise fail without risking a duplicate.
fn reconcile(job: &ClaimedJob, channel: &Channel, message: &Message) -> Option<Outcome> {
    let since = job.uncertain_since?;
    let waited = (Utc::now() - since).to_std().unwrap_or_default();
    if waited < RECONCILE_AFTER {
        return Some(Outcome::Retry {
            delay: RECONCILE_AFTER - waited,
            error: "waiting for Meta to confirm an earlier attempt".into(),
            uncertain: true,
        });
    }
    let echoes = channel.platform != Platform::WhatsApp;
    if echoes {
        tracing::info!(message.id = %message.id, "no echo confirmed an uncertain send; sending again");
        None
    } else {
        Some(Outcome::Failed {
            code: None,
            reason: "Meta did not confirm whether this message was delivered; check the conversation before retrying".into(),
        })
    }
}

/// Reason of a reply that could not reach Meta from a development server.
const UNREACHABLE_IN_DEVELOPMENT: &str = "Meta could not be reached from this development server. \
    To try replies locally, restart it with GRAPH_API_BASE_URL=sandbox, then retry the message.";

/// Reason of a reply that could not reach Meta after every retry.
const UNREACHABLE_IN_PRODUCTION: &str = "Meta could not be reached from the server (network or DNS \
    problem). Ask an administrator to check the server's connection to Meta, then retry the message.";

fn attempt_number(job: &ClaimedJob) -> u32 {
    u32::try_from(job.attempts).unwrap_or(1)
}

fn outcome_label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Sent(_) | Outcome::AlreadySent => "sent".into(),
        Outcome::Retry {
            uncertain: true, ..
        } => "uncertain".into(),
        Outcome::Retry { .. } => "retry".into(),
        Outcome::Failed {
            code: Some(code), ..
        } => format!("failed_{code}"),
        Outcome::Failed { code: None, .. } => "failed".into(),
    }
}

async fn record(state: &AppState, job: &ClaimedJob, outcome: Outcome) -> anyhow::Result<()> {
    let mut conn = state.conn().await?;
    let committed = conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            match outcome {
                Outcome::Sent(sent) => {
                    record_sent(conn, job, &sent.external_id, &mut outbox).await?;
                    outbound_jobs::finish(conn, job.id, job.lease_id, JobState::Done, None).await?;
                }
                Outcome::AlreadySent => {
                    outbound_jobs::finish(conn, job.id, job.lease_id, JobState::Done, None).await?;
                }
                Outcome::Retry {
                    delay,
                    error,
                    uncertain,
                } => {
                    outbound_jobs::retry_later(
                        conn,
                        job.id,
                        job.lease_id,
                        delay,
                        &error,
                        uncertain,
                    )
                    .await?;
                }
                Outcome::Failed { code, reason } => {
                    if outbound_jobs::finish(
                        conn,
                        job.id,
                        job.lease_id,
                        JobState::Failed,
                        Some(&reason),
                    )
                    .await?
                    {
                        fail_message(conn, job, code, &reason, &mut outbox).await?;
                    }
                }
            }
            outbox.commit(conn, ()).await
        })
        .await?;
    state.publish(committed);
    Ok(())
}

/// Records Meta's id on our message, under the id's lock (see [`crate::inbox::ingest`]).
/// What raced ahead is folded in: a message an early echo created for the same id is
/// merged into ours (its status and reactions carried over), and facts kept for the id
/// (statuses, reads, reactions) are applied.
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
