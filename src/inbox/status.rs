//! The delivery order of outbound messages: a message's status is the highest it has
//! been reported at, so the outcome is the same whatever order reports arrive in.
//!
//! `QUEUED < SENT < FAILED < DELIVERED < READ`. A failure overrides SENT (WhatsApp reports
//! `failed` after `sent` when a message turns out undeliverable) but not a delivery or a
//! read; a delivery or read reported after a failure overrides it (Meta sometimes reports
//! a failure and then the delivery). Inbound messages (RECEIVED) have no delivery status.

use crate::db::enums::MessageStatus;

/// A status's place in the delivery order (RECEIVED, outside it, is 0 like QUEUED).
pub fn rank(status: MessageStatus) -> u8 {
    match status {
        MessageStatus::Received | MessageStatus::Queued => 0,
        MessageStatus::Sent => 1,
        MessageStatus::Failed => 2,
        MessageStatus::Delivered => 3,
        MessageStatus::Read => 4,
    }
}

/// The status a message at `current` moves to when `update` arrives, or `None` when
/// the update is stale and must be ignored.
pub fn advance(current: MessageStatus, update: MessageStatus) -> Option<MessageStatus> {
    let outbound = current != MessageStatus::Received && update != MessageStatus::Received;
    (outbound && rank(update) > rank(current)).then_some(update)
}

#[cfg(test)]
mod tests {
    use super::advance;
    use crate::db::enums::MessageStatus::{self, Delivered, Failed, Queued, Read, Received, Sent};

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
        assert_eq!(advance(Failed, Sent), None);
        assert_eq!(advance(Failed, Failed), None);
    }

    #[test]
    fn inbound_messages_never_change_status() {
        assert_eq!(advance(Received, Read), None);
        assert_eq!(advance(Received, Failed), None);
    }

    #[test]
    fn any_order_of_reports_ends_at_the_same_status() {
        let reports = [Sent, Failed, Delivered, Read];
        let fold = |order: &[MessageStatus]| {
            order.iter().fold(Queued, |current, update| {
                advance(current, *update).unwrap_or(current)
            })
        };
        for subset in 1..16_u32 {
            let chosen: Vec<_> = (0..4)
                .filter(|i| subset & (1 << i) != 0)
                .map(|i| reports[i])
                .collect();
            let mut reversed = chosen.clone();
            reversed.reverse();
            assert_eq!(fold(&chosen), fold(&reversed), "{chosen:?}");
        }
    }
}
