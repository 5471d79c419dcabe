//! The background workers of one process: the inbound processor loops, the outbound
//! sender, the profile fetcher, the media copier, the pruner, the snooze waker and the
//! cross-process listener. `serve` runs them beside the HTTP server unless `--no-workers`;
//! `worker` runs only them.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::jobs::{WorkerConfig, listener};
use crate::state::AppState;

/// Inbound processor loops per process.
pub const INBOUND_WORKERS: usize = 4;
/// How often old live events are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the background workers until `shutdown` resolves, then lets each finish the
/// delivery in hand.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let worker = WorkerConfig::for_this_process();
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    state.wakeups().handoff.enable();
    tasks.spawn(listener::listen(
        state.config().database_url.clone(),
        state.wakeups_handle(),
        stop.clone(),
    ));
    for _ in 0..INBOUND_WORKERS {
        tasks.spawn(inbound_loop(state.clone(), worker.clone(), stop.clone()));
    }
    tasks.spawn(prune_loop(state.clone(), stop.clone()));
    tasks.spawn(presence_loop(state.clone(), stop.clone()));
    tasks.spawn(snooze_loop(state.clone(), worker.clone(), stop.clone()));
    tasks.spawn(crate::outbound::sender::run(
        state.clone(),
        worker.clone(),
        stop.clone(),
    ));
    tasks.spawn(crate::jobs::profiles::run(
        state.clone(),
        worker.clone(),
        stop.clone(),
    ));
    tasks.spawn(crate::media::job::run(
        state.clone(),
        worker.clone(),
        stop.clone(),
    ));
    tracing::info!(
        inbound = INBOUND_WORKERS,
        worker.id = %worker.id,
        "background workers started"
    );
    shutdown.await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    tracing::info!("background workers stopped");
    Ok(())
}

/// Sets members OFFLINE once their last socket has been closed long enough; concurrent
/// sweepers are harmless.
async fn presence_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = (state.config().agent_offline_after / 4)
        .clamp(Duration::from_secs(1), crate::presence::HEARTBEAT);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = crate::presence::sweep(&state).await {
            tracing::warn!(error = %e, "presence sweep failed");
        }
    }
}

/// Deletes live events older than their retention, and facts that waited longer than
/// theirs for a message that never came; concurrent pruners are harmless.
async fn prune_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let retention = chrono::Duration::from_std(state.config().event_retention)
            .unwrap_or(chrono::Duration::days(7));
        state.ip_limit().forget_idle();
        let cutoff = chrono::Utc::now() - retention;
        let pending_retention = chrono::Duration::from_std(state.config().pending_fact_retention)
            .unwrap_or(chrono::Duration::days(7));
        let pruned = match state.system_conn().await {
            Ok(mut conn) => async {
                let facts_cutoff = chrono::Utc::now() - pending_retention;
                crate::db::pending_facts::prune(&mut conn, facts_cutoff).await?;
                crate::db::events::prune(&mut conn, cutoff).await
            }
            .await
            .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                events = n,
                "pruned {n} live events older than the retention"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning live events failed"),
        }
    }
}

/// Reopens snoozed tickets when their time comes, checking every poll interval.
async fn snooze_loop(state: AppState, worker: WorkerConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match crate::jobs::snooze::run_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tickets = n, "woke {n} snoozed tickets"),
            Err(e) => tracing::warn!(error = %e, "waking snoozed tickets failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(worker.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn inbound_loop(state: AppState, worker: WorkerConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        // Register interest before looking for work, so a wake-up sent while we query
        // is not lost.
        let notified = state.wakeups().inbound.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let handled = match crate::webhooks::processor::run_once(&state, &worker).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "inbound worker could not claim work");
                0
            }
        };
        if handled == 0 {
            // A queue scan put off while the handoff is in use comes due before the poll.
            let wait = match state.wakeups().handoff.scan_wait() {
                Duration::ZERO => worker.poll_interval,
                put_off => put_off.min(worker.poll_interval),
            };
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
