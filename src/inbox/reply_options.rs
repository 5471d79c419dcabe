//! What an agent can send on a ticket right now, and why not: the one decision behind
//! both `Ticket.replyOptions` and the refusals of `sendMessage` / `retryMessage`
//! ([`super::replies`]), so the dashboard never offers what the server then refuses.
//!
//! Order of the checks: the channel (deleted, disabled, needs re-authorisation), the
//! customer (blocked), then the platform's window. Direct conversations: free text for
//! 24 hours after the customer's last message; Instagram and Messenger channels approved
//! for HUMAN_AGENT may go on with that tag up to 7 days; WhatsApp allows only templates
//! after 24 hours; nothing before the customer's first message or after 7 days. Comment
//! threads: public or private replies (a live video's comments: private reply only).

use chrono::{DateTime, Duration, Utc};

use crate::db::channels::Channel;
use crate::db::enums::{ChannelStatus, Platform, TicketKind};
use crate::db::messages::Message;
use crate::db::tickets::Ticket;

/// The standard reply window.
pub const STANDARD_WINDOW: Duration = Duration::hours(24);
/// The HUMAN_AGENT window, and the private-reply window of comments.
pub const EXTENDED_WINDOW: Duration = Duration::days(7);

/// What can be sent.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Free text (and attachments) inside the 24-hour window.
    FreeText,
    /// Free text with the HUMAN_AGENT tag (24 hours to 7 days).
    HumanAgent,
    /// Only approved templates (WhatsApp after 24 hours), sent with `sendTemplate`;
    /// `ReplyOptions.templates` lists the ones the channel can send.
    TemplatesOnly,
    /// A public reply to a comment, or a private reply (Instagram, within 7 days).
    CommentReply,
    /// Only a private reply (comments on a live video).
    PrivateReplyOnly,
    /// Nothing: see the reason.
    None,
}

/// The decision for one ticket at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOptions {
    /// What can be sent.
    pub mode: ReplyMode,
    /// Free text is possible until then (with HUMAN_AGENT when that extends it).
    pub free_text_until: Option<DateTime<Utc>>,
    /// The channel may use HUMAN_AGENT, and it would extend the window to then.
    pub human_agent_until: Option<DateTime<Utc>>,
    /// Why something is not possible (set for TEMPLATES_ONLY, PRIVATE_REPLY_ONLY, NONE).
    pub reason: Option<String>,
}

impl ReplyOptions {
    fn refused(mode: ReplyMode, reason: &str) -> Self {
        ReplyOptions {
            mode,
            free_text_until: None,
            human_agent_until: None,
            reason: Some(reason.to_owned()),
        }
    }

    /// Free text can be sent (possibly with the HUMAN_AGENT tag).
    pub fn allows_free_text(&self) -> bool {
        matches!(self.mode, ReplyMode::FreeText | ReplyMode::HumanAgent)
    }

    /// The decision with its TEMPLATES_ONLY reason pointing at the `sendable` templates
    /// of the channel (how many can be sent now), or saying there are none. Other
    /// decisions are returned unchanged.
    pub fn with_sendable_templates(mut self, sendable: usize) -> Self {
        if self.mode == ReplyMode::TemplatesOnly {
            self.reason = Some(templates_only_reason(Some(sendable)));
        }
        self
    }
}

/// Why only templates can be sent; with the number of templates the channel can send
/// when it is known.
fn templates_only_reason(sendable: Option<usize>) -> String {
    const CLOSED: &str = "more than 24 hours have passed since the customer's last message: WhatsApp only allows approved template messages now";
    match sendable {
        None => format!("{CLOSED}; send one with sendTemplate"),
        Some(0) => format!(
            "{CLOSED}, and this channel has no approved template (have one approved in WhatsApp Manager, then run syncTemplates)"
        ),
        Some(n) => format!(
            "{CLOSED}: send one of the channel's {n} approved template(s) listed in replyOptions.templates with sendTemplate"
        ),
    }
}

/// Decides what can be sent on `ticket` at `now`. `latest_comment` is the customer's
/// latest comment of a comment ticket.
pub fn decide(
    ticket: &Ticket,
    channel: &Channel,
    customer_blocked: bool,
    latest_comment: Option<&Message>,
    now: DateTime<Utc>,
) -> ReplyOptions {
    let channel_problem = match (channel.deleted_at, channel.status) {
        (Some(_), _) => Some("the ticket's channel was deleted; replies cannot be sent"),
        (None, ChannelStatus::Disabled) => {
            Some("the ticket's channel is disabled; enable it to reply")
        }
        (None, ChannelStatus::NeedsReauth) => {
            Some("the ticket's channel needs to be reconnected: Meta rejected its access token")
        }
        (None, ChannelStatus::Active) => None,
    };
    if let Some(reason) = channel_problem {
        return ReplyOptions::refused(ReplyMode::None, reason);
    }
    if customer_blocked {
        return ReplyOptions::refused(
            ReplyMode::None,
            "the customer is blocked; unblock them to reply",
        );
    }
    if ticket.kind == TicketKind::Comment {
        let live = latest_comment
            .and_then(|m| m.context.get("live"))
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        return if live {
            ReplyOptions::refused(
                ReplyMode::PrivateReplyOnly,
                "live comments can only be answered with a private reply",
            )
        } else {
            ReplyOptions {
                mode: ReplyMode::CommentReply,
                free_text_until: None,
                human_agent_until: None,
                reason: None,
            }
        };
    }
    let Some(last) = ticket.last_inbound_at else {
        return ReplyOptions::refused(
            ReplyMode::None,
            "the customer has not written yet: Meta only allows replies to conversations customers started",
        );
    };
    let standard_until = last + STANDARD_WINDOW;
    let human_agent_until = (channel.platform != Platform::WhatsApp && channel.human_agent_enabled)
        .then_some(last + EXTENDED_WINDOW);
    if now <= standard_until {
        return ReplyOptions {
            mode: ReplyMode::FreeText,
            free_text_until: Some(human_agent_until.unwrap_or(standard_until)),
            human_agent_until,
            reason: None,
        };
    }
    if channel.platform == Platform::WhatsApp {
        return ReplyOptions::refused(ReplyMode::TemplatesOnly, &templates_only_reason(None));
    }
    match human_agent_until {
        Some(until) if now <= until => ReplyOptions {
            mode: ReplyMode::HumanAgent,
            free_text_until: Some(until),
            human_agent_until: Some(until),
            reason: None,
        },
        None if now <= last + EXTENDED_WINDOW => ReplyOptions::refused(
            ReplyMode::None,
            "more than 24 hours have passed since the customer's last message; enable the HUMAN_AGENT tag on this channel (7-day window) or wait for the customer to write",
        ),
        _ => ReplyOptions::refused(
            ReplyMode::None,
            "more than 7 days have passed since the customer's last message: Meta does not allow a reply until they write again",
        ),
    }
}
