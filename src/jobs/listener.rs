//! Cross-process wake-ups: one dedicated connection `LISTEN`s to the job tables'
//! `NOTIFY`s (sent by every process's [`super::announce`] task after it queued work) and
//! wakes this process's idle workers.
//! If the connection drops it reconnects with backoff; workers keep polling meanwhile.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::Wakeups;
use crate::db::queue::NewJobs;

/// How often an idle listening connection is checked for life.
const HEALTH_CHECK: Duration = Duration::from_secs(15);

/// Listens until `stop` turns true.
pub async fn listen(database_url: String, wakeups: Arc<Wakeups>, mut stop: watch::Receiver<bool>) {
    let mut retry = Duration::from_millis(200);
    while !*stop.borrow() {
        match session(&database_url, &wakeups, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "job listener lost its connection; reconnecting");
                // Anything notified while we were away must still be seen.
                wakeups.wake_here(NewJobs::ALL);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = stop.changed() => return,
        }
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    url: &str,
    wakeups: &Wakeups,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let listen: String = NewJobs::ALL
        .tables()
        .map(|t| format!("LISTEN {t};"))
        .collect();
    conn.batch_execute(&listen).await?;
    tracing::debug!("job listener connected");
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.tick().await;
    loop {
        let notification = {
            let mut notifications = pin!(conn.notifications_stream());
            tokio::select! {
                n = notifications.next() => Some(n),
                _ = health.tick() => None,
                _ = stop.changed() => return Ok(()),
            }
        };
        match notification {
            // Announced by this process, whose workers were woken already.
            Some(Some(Ok(n))) if wakeups.announcements.sent_by_us(n.process_id) => {}
            Some(Some(Ok(n))) => wakeups.wake_here(NewJobs::of_table(&n.channel)),
            Some(Some(Err(e))) => return Err(e.into()),
            Some(None) => anyhow::bail!("notification stream ended"),
            None => conn.batch_execute("SELECT 1").await?,
        }
    }
}
