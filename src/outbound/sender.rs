//! The outbound worker: claims reply jobs with a lease, loads what the batch's sends need
//! with one query per kind of row, sends them through the Graph API under per-channel rate
//! limits (up to [`MAX_IN_FLIGHT`] at once), and hands each outcome to a recorder that
//! writes whatever finished meanwhile in one transaction (`super::record`), checking
//! that each job's lease is still its own.
//!
//! Outcomes: accepted -> SENT with Meta's id (the key later echoes, reads and statuses
//! match; a status that arrived first is applied, an echo-created duplicate merged);
//! transient -> retried with full-jitter backoff (2 s doubling to 5 min, honouring
//! Meta's requested wait) up to [`MAX_ATTEMPTS`]; permanent -> FAILED with Meta's code
//! and a reason for the agent (an invalid token also flags the channel); unknown (Meta
//! may have accepted it) -> wait [`RECONCILE_AFTER`] for an echo to confirm it, then
//! resend only where the platform would have echoed (Instagram, Messenger) and
//! otherwise fail with an explanation rather than risk a duplicate. Our own failures (the
//! database, a secret that no longer opens) count toward the attempt limit too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, watch};

use super::compose::{Outgoing, compose};
use super::graph::{GraphError, PermanentKind, UNREACHABLE};
use super::rate_limit;
use super::record::{Outcome, record_all};
use crate::config::AppEnv;
use crate::crypto::aad;
use crate::db::channels::{self, Channel};
use crate::db::customers;
use crate::db::enums::{ChannelStatus, MessageStatus, Platform};
use crate::db::ids::{ChannelId, MessageId, TicketId};
use crate::db::messages::{self, Attachment, Message};
use crate::db::outbound_jobs::{self, ClaimedJob};
use crate::jobs::WorkerConfig;
use crate::jobs::backoff::Backoff;
use crate::state::AppState;

/// Sends in flight per process.
pub const MAX_IN_FLIGHT: usize = 200;
/// Fewest jobs worth a claim query while other sends are in flight.
pub const MIN_CLAIM: usize = 20;
/// Jobs claimed per query.
pub const BATCH_SIZE: i64 = 100;
/// Outcomes recorded in one transaction at most.
const RECORD_BATCH: usize = 200;
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
    let (outcomes, received) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_loop(state.clone(), received));
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
            Ok((Vec::new(), Arc::default()))
        } else {
            claim(&state, &worker, free as i64).await
        };
        let (claimed, batch) = claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "outbound worker could not claim jobs");
            (Vec::new(), Arc::default())
        });
        let idle = claimed.is_empty();
        for job in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (state, batch, outcomes) = (state.clone(), batch.clone(), outcomes.clone());
            tasks.spawn(async move {
                let outcome = process(&state, &job, &batch).await;
                // The recorder outlives every send; a closed channel means shutdown, and
                // the lease then lets another attempt reconcile.
                let _ = outcomes.send((job, outcome));
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
    // Let sends in flight finish (each is bounded by the HTTP timeout), then their records.
    while tasks.join_next().await.is_some() {}
    drop(outcomes);
    let _ = recorder.await;
}

/// Records outcomes as they come, everything that finished meanwhile in one go.
async fn record_loop(
    state: AppState,
    mut received: mpsc::UnboundedReceiver<(ClaimedJob, Outcome)>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while received.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        record_all(&state, std::mem::take(&mut batch)).await;
    }
}

/// Claims and processes one batch as `worker`, waiting for every send and recording the
/// outcomes together; returns how many jobs it handled (tests and benchmarks drain queues
/// with it).
pub async fn run_once(state: &AppState, worker: &WorkerConfig) -> anyhow::Result<usize> {
    let (claimed, batch) = claim(state, worker, BATCH_SIZE).await?;
    let count = claimed.len();
    let outcomes =
        futures_util::future::join_all(claimed.iter().map(|job| process(state, job, &batch))).await;
    record_all(state, claimed.into_iter().zip(outcomes).collect()).await;
    Ok(count)
}

/// What a claimed batch's sends need from the database.
#[derive(Default)]
struct Batch {
    messages: HashMap<MessageId, Message>,
    channels: HashMap<ChannelId, Channel>,
    recipients: HashMap<TicketId, String>,
    attachments: HashMap<MessageId, Vec<Attachment>>,
}

/// Claims up to `limit` jobs and loads what their sends need, one query per kind of row.
async fn claim(
    state: &AppState,
    worker: &WorkerConfig,
    limit: i64,
) -> anyhow::Result<(Vec<ClaimedJob>, Arc<Batch>)> {
    let mut conn = state.system_conn().await?;
    let jobs = outbound_jobs::claim(&mut conn, limit, LEASE, &worker.id).await?;
    if jobs.is_empty() {
        return Ok((jobs, Arc::default()));
    }
    let message_ids: Vec<MessageId> = jobs.iter().map(|j| j.message_id).collect();
    let channel_ids: Vec<ChannelId> = jobs.iter().map(|j| j.channel_id).collect();
    let messages: HashMap<MessageId, Message> = messages::find_many(&conn, &message_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let channels = channels::find_many(&conn, &channel_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let ticket_ids: Vec<TicketId> = messages.values().map(|m| m.ticket_id).collect();
    let recipients = customers::recipients_of_tickets(&mut conn, &ticket_ids)
        .await?
        .into_iter()
        .collect();
    let mut attachments: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    for attachment in messages::attachments_of(&conn, &message_ids).await? {
        attachments
            .entry(attachment.message_id)
            .or_default()
            .push(attachment);
    }
    let batch = Batch {
        messages,
        channels,
        recipients,
        attachments,
    };
    Ok((jobs, Arc::new(batch)))
}

/// Looks at a job and, when it is due, sends it; what to record.
async fn process(state: &AppState, job: &ClaimedJob, batch: &Batch) -> Outcome {
    let outcome = match attempt(state, job, batch).await {
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
            delay: BACKOFF.delay(attempt_number(job)),
            error: format!("{e:#}"),
            uncertain: false,
        },
    };
    state.metrics().send_outcome(&outcome_label(&outcome));
    outcome
}

async fn attempt(state: &AppState, job: &ClaimedJob, batch: &Batch) -> anyhow::Result<Outcome> {
    let Some(message) = batch.messages.get(&job.message_id) else {
        return Ok(Outcome::Failed {
            code: None,
            reason: "the message no longer exists".into(),
        });
    };
    if message.external_id.is_some() || message.status != MessageStatus::Queued {
        return Ok(Outcome::AlreadySent);
    }
    let Some(channel) = batch.channels.get(&job.channel_id) else {
        return Ok(Outcome::Failed {
            code: None,
            reason: "the channel no longer exists".into(),
        });
    };
    if let Some(outcome) = reconcile(job, channel, message) {
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
    let mut attachments: Vec<Attachment> = batch
        .attachments
        .get(&message.id)
        .cloned()
        .unwrap_or_default();
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
    // Files from our storage: uploaded to WhatsApp and sent by media id; Instagram and
    // Messenger fetch a day-long signed public URL of our copy.
    for attachment in &mut attachments {
        let Some(object) = attachment.media_object_id else {
            continue;
        };
        if channel.platform == Platform::WhatsApp {
            let bytes = state
                .media_store()
                .get(&crate::media::storage_key(attachment.org_id, object))
                .await?;
            let content_type = attachment
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            let id = state
                .graph()
                .upload_whatsapp_media(&token, &channel.external_account_id, &content_type, bytes)
                .await
                .map_err(|reason| anyhow::anyhow!(reason))?;
            attachment.media_id = Some(id);
        } else {
            attachment.url = Some(crate::media::public_url(state, object, attachment.org_id));
        }
    }
    let out = Outgoing {
        channel,
        message,
        recipient: batch.recipients.get(&message.ticket_id).map(String::as_str),
        attachments: &attachments,
    };
    let request = match compose(&out) {
        Ok(request) => request,
        Err(reason) => return Ok(Outcome::Failed { code: None, reason }),
    };
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
                let mut conn = state.system_conn().await?;
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
