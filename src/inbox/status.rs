//! The delivery-status order of outbound messages: statuses never move backwards.
//!
//! `QUEUED < SENT < DELIVERED < READ`. `FAILED` ends a message that had not been
//! delivered yet; a later success for the same message (Meta sometimes reports a failure
//! and then a delivery) overrides it, but a failure never overrides a delivery or read.

use crate::db::enums::MessageStatus;

fn rank(status: MessageStatus) -> Option<u8> {
    match status {
        MessageStatus::Queued => Some(0),
        MessageStatus::Sent => Some(1),
        MessageStatus::Delivered => Some(2),
        MessageStatus::Read => Some(3),
        MessageStatus::Received | MessageStatus::Failed => None,
    }
}

/// The status a message at `current` moves to when `update` arrives, or `None` when
/// the update is stale and must be ignored.
pub fn advance(current: MessageStatus, update: MessageStatus) -> Option<MessageStatus> {
    let moves = match update {
        MessageStatus::Failed => matches!(current, MessageStatus::Queued | MessageStatus::Sent),
        _ => {
            let new_rank = rank(update)?;
            current == MessageStatus::Failed || rank(current).is_some_and(|r| new_rank > r)
        }
    };
    (moves && update != current).then_some(update)
}

#[cfg(test)]
mod tests {
    use super::advance;
    use crate::db::enums::MessageStatus::{Delivered, Failed, Queued, Read, Received, Sent};

    #[test]
    fn statuses_only_move_forward() {
        assert_eq!(advance(Sent, Delivered), Some(Delivered));
        assert_eq!(advance(Queued, Read), Some(Read));
        assert_eq!(advance(Read, Delivered), None);
        assert_eq!(advance(Delivered, Sent), None);
        assert_eq!(advance(Read, Read), None);
    }

    #[test]
    fn failure_ends_undelivered_messages_only() {
        assert_eq!(advance(Sent, Failed), Some(Failed));
        assert_eq!(advance(Queued, Failed), Some(Failed));
        assert_eq!(advance(Delivered, Failed), None);
        assert_eq!(advance(Read, Failed), None);
        assert_eq!(advance(Failed, Delivered), Some(Delivered));
        assert_eq!(advance(Failed, Failed), None);
    }

    #[test]
    fn inbound_messages_never_change_status() {
        assert_eq!(advance(Received, Read), None);
        assert_eq!(advance(Received, Failed), None);
    }
}
