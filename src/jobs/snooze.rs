//! Wakes snoozed tickets whose time has come. Any number of workers (in one process or
//! several) may run it: each ticket is woken, and its TICKET_UPDATED event published,
//! exactly once ([`crate::inbox::tickets::wake_due`]).

use crate::state::AppState;

/// Tickets woken per transaction.
const BATCH: i64 = 200;

/// Wakes every due ticket, a batch at a time; how many were woken.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut conn = state.system_conn().await?;
        let woken = crate::inbox::tickets::wake_due(&mut conn, BATCH).await?;
        let n = state.publish(woken).len();
        total += n;
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}
