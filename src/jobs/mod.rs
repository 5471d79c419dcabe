//! Background job plumbing shared by the inbound and outbound workers: wake-ups.

use tokio::sync::Notify;

/// Wakes idle workers of this process as soon as new work is committed.
#[derive(Default)]
pub struct Wakeups {
    /// New webhook deliveries stored.
    pub inbound: Notify,
    /// New outbound sends queued.
    pub outbound: Notify,
}

/// Runs the background workers until `shutdown` resolves.
pub async fn run_workers(
    state: crate::state::AppState,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let _ = &state;
    shutdown.await;
    Ok(())
}
