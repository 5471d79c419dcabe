//! The delivery-status order of outbound messages: statuses never move backwards.
//!
//! `QUEUED < SENT < DELIVERED < READ`. `FAILED` ends a message that had not been
//! delivered yet; a later success for the same message (Meta sometimes reports a failure
//! and then a delivery) overrides it, but a failure never overrides a delivery or read.

use crate::webhooks::meta::DeliveryStatus;

fn rank(status: &str) -> Option<u8> {
    match status {
        "QUEUED" => Some(0),
        "SENT" => Some(1),
        "DELIVERED" => Some(2),
        "READ" => Some(3),
        _ => None,
    }
}

/// The database spelling of a platform status.
pub fn as_db(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Sent => "SENT",
        DeliveryStatus::Delivered => "DELIVERED",
        DeliveryStatus::Read => "READ",
        DeliveryStatus::Failed => "FAILED",
    }
}

/// The status a message at `current` moves to when `update` arrives, or `None` when
/// the update is stale and must be ignored.
pub fn advance(current: &str, update: &str) -> Option<&'static str> {
    let next = match update {
        "FAILED" => matches!(current, "QUEUED" | "SENT").then_some("FAILED"),
        _ => {
            let new_rank = rank(update)?;
            let moves = current == "FAILED" || rank(current).is_some_and(|r| new_rank > r);
            moves.then_some(match new_rank {
                0 => "QUEUED",
                1 => "SENT",
                2 => "DELIVERED",
                _ => "READ",
            })
        }
    };
    next.filter(|n| *n != current)
}

#[cfg(test)]
mod tests {
    use super::advance;

    #[test]
    fn statuses_only_move_forward() {
        assert_eq!(advance("SENT", "DELIVERED"), Some("DELIVERED"));
        assert_eq!(advance("QUEUED", "READ"), Some("READ"));
        assert_eq!(advance("READ", "DELIVERED"), None);
        assert_eq!(advance("DELIVERED", "SENT"), None);
        assert_eq!(advance("READ", "READ"), None);
    }

    #[test]
    fn failure_ends_undelivered_messages_only() {
        assert_eq!(advance("SENT", "FAILED"), Some("FAILED"));
        assert_eq!(advance("QUEUED", "FAILED"), Some("FAILED"));
        assert_eq!(advance("DELIVERED", "FAILED"), None);
        assert_eq!(advance("READ", "FAILED"), None);
        assert_eq!(advance("FAILED", "DELIVERED"), Some("DELIVERED"));
        assert_eq!(advance("FAILED", "FAILED"), None);
    }

    #[test]
    fn inbound_messages_never_change_status() {
        assert_eq!(advance("RECEIVED", "READ"), None);
        assert_eq!(advance("RECEIVED", "FAILED"), None);
    }
}
