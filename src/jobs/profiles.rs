//! The profile worker: fetches customers' profiles from the Instagram and Messenger User
//! Profile APIs (`GET /{IGSID|PSID}?fields=..`) for the jobs [`crate::db::profile_jobs`]
//! schedules on first contact and at most daily afterwards.
//!
//! Calls go one channel bucket at a time ([`crate::outbound::rate_limit::READS_PER_SECOND`])
//! and Meta's answers decide what follows:
//! - a profile: stored ([`crate::inbox::profiles::apply`]), the job done until the next refresh;
//! - a missing permission, no consent, no such user or a user who is unavailable: the job
//!   is stopped, and that customer is never asked about again;
//! - a temporary failure (throttling, 5xx, network): retried with backoff (honouring the
//!   wait Meta asks for, which also pauses the channel's reads), given up for the day after
//!   [`MAX_ATTEMPTS`];
//! - anything else (an expired token, a disabled channel): given up until the next refresh.

use std::time::Duration;

use tokio::sync::watch;

use super::WorkerConfig;
use super::backoff::Backoff;
use crate::crypto::aad;
use crate::db::channels::{self, Channel};
use crate::db::customers;
use crate::db::enums::ChannelStatus;
use crate::db::profile_jobs::{self, ClaimedJob};
use crate::inbox::profiles::{self, Profile};
use crate::outbound::graph::{GraphError, PermanentKind};
use crate::outbound::rate_limit::READS_PER_SECOND;
use crate::state::AppState;

/// Jobs claimed at once.
pub const BATCH_SIZE: i64 = 20;
/// Lease of a claimed job (a read times out after 15 s; the rate limit may wait).
pub const LEASE: Duration = Duration::from_secs(120);
/// Attempts before a temporarily failing fetch is given up for the day.
pub const MAX_ATTEMPTS: i32 = 6;
/// Retry schedule of temporary failures.
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(30),
    cap: Duration::from_secs(3600),
};

/// What became of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The profile was stored.
    Fetched,
    /// Never ask again for this customer.
    Stopped(String),
    /// Try again after the delay.
    Retry(Duration, String),
    /// Give up until the next refresh.
    GaveUp(String),
}

/// Runs the profile worker as `worker` until `stop` turns true.
pub async fn run(state: AppState, worker: WorkerConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let notified = state.wakeups().profiles.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let handled = match run_once(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "profile worker could not claim work");
                0
            }
        };
        if handled == 0 {
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(worker.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Claims and processes one batch; how many jobs it handled (tests drain the queue
/// with it).
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let jobs = {
        let mut conn = state.system_conn().await?;
        profile_jobs::claim(&mut conn, BATCH_SIZE, LEASE).await?
    };
    let count = jobs.len();
    let outcomes = futures_util::future::join_all(jobs.iter().map(|job| process(state, job))).await;
    let mut conn = state.system_conn().await?;
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|e| {
            if job.attempts >= MAX_ATTEMPTS {
                Outcome::GaveUp(format!("{e:#}"))
            } else {
                Outcome::Retry(BACKOFF.delay(attempt_number(job)), format!("{e:#}"))
            }
        });
        match &outcome {
            Outcome::Fetched => profile_jobs::fetched(&mut conn, job.id).await?,
            Outcome::Stopped(error) => {
                tracing::info!(identity.id = %job.identity_id, error = %error, "Meta refused the customer's profile; not asking again");
                profile_jobs::stop(&mut conn, job.id, error).await?;
            }
            Outcome::Retry(delay, error) => {
                profile_jobs::retry(&mut conn, job.id, *delay, error).await?;
            }
            Outcome::GaveUp(error) => {
                tracing::info!(identity.id = %job.identity_id, error = %error, "customer profile not fetched; trying again on a later message");
                profile_jobs::give_up(&mut conn, job.id, error).await?;
            }
        }
    }
    Ok(count)
}

/// Fetches and stores one profile.
async fn process(state: &AppState, job: &ClaimedJob) -> anyhow::Result<Outcome> {
    let (channel, identity) = {
        let mut conn = state.system_conn().await?;
        let channel = channels::get(&mut conn, job.channel_id).await?;
        let identity = customers::identities_by_ids(&mut conn, &[job.identity_id]).await?;
        (channel, identity.into_iter().next())
    };
    let Some(identity) = identity else {
        return Ok(Outcome::GaveUp("the customer no longer exists".into()));
    };
    if let Some(reason) = unusable(&channel) {
        return Ok(Outcome::GaveUp(reason.into()));
    }
    let Some(fields) = Profile::fields(channel.platform) else {
        return Ok(Outcome::Stopped("the platform has no profile API".into()));
    };
    let token = state
        .secrets()
        .open(
            &channel.access_token_enc,
            &aad(channel.id.0, "access_token"),
        )
        .map_err(|_| anyhow::anyhow!("the channel's access token cannot be read"))?;
    state
        .read_limits()
        .acquire(channel.id, READS_PER_SECOND)
        .await;
    let answer = state
        .graph()
        .get(&token, &identity.external_id, None, &[("fields", fields)])
        .await;
    let outcome = match answer {
        Ok(body) => {
            let profile = Profile::parse(channel.platform, &body);
            let mut conn = state.system_conn().await?;
            state.publish(profiles::apply(&mut conn, identity.id, &profile).await?);
            Outcome::Fetched
        }
        Err(error) => judge(state, &channel, job, error),
    };
    Ok(outcome)
}

/// Why a channel's profiles cannot be fetched now.
fn unusable(channel: &Channel) -> Option<&'static str> {
    if channel.deleted_at.is_some() || channel.status == ChannelStatus::Disabled {
        Some("the channel is disabled")
    } else if channel.status == ChannelStatus::NeedsReauth {
        Some("the channel needs to be reconnected")
    } else {
        None
    }
}

/// What to do after Meta's error.
fn judge(state: &AppState, channel: &Channel, job: &ClaimedJob, error: GraphError) -> Outcome {
    match error {
        GraphError::Permanent {
            kind:
                PermanentKind::Permission
                | PermanentKind::UserUnavailable
                | PermanentKind::InvalidRequest
                | PermanentKind::Blocked,
            reason,
            ..
        } => Outcome::Stopped(reason),
        GraphError::Permanent { reason, .. } => Outcome::GaveUp(reason),
        GraphError::Transient {
            message,
            retry_after,
            ..
        } => {
            if let Some(wait) = retry_after {
                state.read_limits().pause(channel.id, wait);
            }
            if job.attempts >= MAX_ATTEMPTS {
                Outcome::GaveUp(message)
            } else {
                let delay = BACKOFF
                    .delay(attempt_number(job))
                    .max(retry_after.unwrap_or_default());
                Outcome::Retry(delay, message)
            }
        }
        GraphError::Ambiguous { message } => {
            Outcome::Retry(BACKOFF.delay(attempt_number(job)), message)
        }
    }
}

fn attempt_number(job: &ClaimedJob) -> u32 {
    u32::try_from(job.attempts).unwrap_or(1)
}
