//! The inbox's vocabulary: every status, kind, role and direction stored in a `text`
//! column, as Rust enums with one spelling each.
//!
//! The spelling is the column's value (the migrations' `CHECK`s list the same values), the
//! GraphQL enum value, and the JSON of live-event snapshots. Rows, parsers, the Graph
//! client and the API all use these types, so a typo is a compile error and no other
//! module compares status or kind strings.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// Why a stored spelling could not be read as one of these enums.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    /// The enum that was expected.
    pub kind: &'static str,
    /// The value found.
    pub value: String,
}

/// Declares a text-backed enum: its spellings, diesel mapping, serde and GraphQL enum.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow, async_graphql::Enum,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vdoc])* #[graphql(name = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and GraphQL) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownValue { kind: stringify!($name), value: other.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

text_enum!(
    /// A messaging platform.
    Platform {
        /// Instagram Direct and comments.
        Instagram => "INSTAGRAM",
        /// Facebook Messenger.
        Messenger => "MESSENGER",
        /// WhatsApp Cloud API.
        WhatsApp => "WHATSAPP",
    }
);

text_enum!(
    /// A member's role in an org.
    Role {
        /// Manages channels and members.
        Admin => "ADMIN",
        /// Works the inbox.
        Agent => "AGENT",
    }
);

text_enum!(
    /// Whether a member takes work now (auto-assignment only picks ONLINE members).
    Availability {
        /// Working and taking new tickets.
        Online => "ONLINE",
        /// Working, but taking no new tickets.
        Busy => "BUSY",
        /// Away (set by the member, or once their last socket has been closed a while).
        Offline => "OFFLINE",
    }
);

text_enum!(
    /// Whether a channel can send and receive.
    ChannelStatus {
        /// Working.
        Active => "ACTIVE",
        /// Turned off (or deleted).
        Disabled => "DISABLED",
        /// Meta rejected its token: an admin must reconnect it.
        NeedsReauth => "NEEDS_REAUTH",
    }
);

text_enum!(
    /// Direct conversation or comment thread.
    TicketKind {
        /// Direct messages.
        Direct => "DIRECT",
        /// Comments on one media.
        Comment => "COMMENT",
    }
);

text_enum!(
    /// Where a ticket is in its lifecycle.
    TicketStatus {
        /// Needs an answer.
        Open => "OPEN",
        /// Waiting for the customer.
        Pending => "PENDING",
        /// Done (reopens on a new customer message).
        Resolved => "RESOLVED",
        /// Put aside for later.
        Snoozed => "SNOOZED",
    }
);

text_enum!(
    /// Ticket urgency.
    TicketPriority {
        /// Low.
        Low => "LOW",
        /// Normal.
        Medium => "MEDIUM",
        /// High.
        High => "HIGH",
        /// Urgent.
        Urgent => "URGENT",
    }
);

text_enum!(
    /// Who a message went to.
    MessageDirection {
        /// From the customer.
        Inbound => "INBOUND",
        /// From the business.
        Outbound => "OUTBOUND",
    }
);

text_enum!(
    /// What a message is.
    MessageKind {
        /// Text.
        Text => "TEXT",
        /// Attachments.
        Media => "MEDIA",
        /// Reply to the business's story.
        StoryReply => "STORY_REPLY",
        /// Mention of the business in the customer's story.
        StoryMention => "STORY_MENTION",
        /// Public comment.
        Comment => "COMMENT",
        /// Button tap (ice-breaker, postback).
        Postback => "POSTBACK",
        /// WhatsApp interactive reply.
        Interactive => "INTERACTIVE",
        /// Location.
        Location => "LOCATION",
        /// Shared contacts.
        Contacts => "CONTACTS",
        /// Content the platform cannot show.
        Unsupported => "UNSUPPORTED",
    }
);

text_enum!(
    /// Delivery state of a message.
    MessageStatus {
        /// Inbound message stored.
        Received => "RECEIVED",
        /// Outbound message waiting to be sent.
        Queued => "QUEUED",
        /// Accepted by the platform.
        Sent => "SENT",
        /// On the customer's device.
        Delivered => "DELIVERED",
        /// Seen by the customer.
        Read => "READ",
        /// Could not be sent (see errorCode / errorMessage).
        Failed => "FAILED",
    }
);

text_enum!(
    /// Kind of attachment.
    AttachmentType {
        /// Picture.
        Image => "IMAGE",
        /// Video.
        Video => "VIDEO",
        /// Audio.
        Audio => "AUDIO",
        /// File.
        File => "FILE",
        /// Shared post or link.
        Share => "SHARE",
        /// Story mentioning the business.
        StoryMention => "STORY_MENTION",
        /// Reel.
        Reel => "REEL",
        /// Sticker.
        Sticker => "STICKER",
        /// Something the platform did not describe.
        Unknown => "UNKNOWN",
    }
);

text_enum!(
    /// Who wrote a message.
    AuthorType {
        /// The customer.
        Customer => "CUSTOMER",
        /// An agent, through the inbox.
        User => "USER",
        /// The business, outside the inbox (e.g. typed in the Instagram app).
        Business => "BUSINESS",
    }
);

text_enum!(
    /// Why a user is notified.
    NotificationType {
        /// New direct message(s).
        NewMessage => "NEW_MESSAGE",
        /// New comment(s).
        NewComment => "NEW_COMMENT",
        /// A ticket was assigned to the user.
        Assigned => "ASSIGNED",
        /// The user was @mentioned in a private note.
        Mention => "MENTION",
    }
);

text_enum!(
    /// What a live event says changed.
    EventKind {
        /// A message was added to a ticket.
        MessageAdded => "MESSAGE_ADDED",
        /// A message changed (status, deletion, edit, reaction).
        MessageUpdated => "MESSAGE_UPDATED",
        /// A ticket was created.
        TicketCreated => "TICKET_CREATED",
        /// A ticket changed (status, assignee, last message...).
        TicketUpdated => "TICKET_UPDATED",
        /// A ticket was joined into another by a customer merge (as it was).
        TicketDeleted => "TICKET_DELETED",
        /// A notification was created or bumped.
        NotificationAdded => "NOTIFICATION_ADDED",
        /// A notification was read.
        NotificationRead => "NOTIFICATION_READ",
        /// A notification was folded into another by a customer merge (as it was).
        NotificationDeleted => "NOTIFICATION_DELETED",
        /// A member joined the org.
        MemberAdded => "MEMBER_ADDED",
        /// A member's role or availability changed.
        MemberUpdated => "MEMBER_UPDATED",
        /// A member left the org (their subscriptions end).
        MemberRemoved => "MEMBER_REMOVED",
        /// A team was created.
        TeamCreated => "TEAM_CREATED",
        /// A team changed (name, settings, members).
        TeamUpdated => "TEAM_UPDATED",
        /// A team was deleted.
        TeamDeleted => "TEAM_DELETED",
        /// A label was created or changed.
        LabelChanged => "LABEL_CHANGED",
        /// A label was deleted (and removed from every ticket and customer).
        LabelDeleted => "LABEL_DELETED",
        /// A customer changed (blocked, unblocked, labels, merged into).
        CustomerUpdated => "CUSTOMER_UPDATED",
        /// A customer was merged into another (as it was).
        CustomerDeleted => "CUSTOMER_DELETED",
        /// A canned response was created or changed.
        CannedResponseChanged => "CANNED_RESPONSE_CHANGED",
        /// A canned response was deleted.
        CannedResponseDeleted => "CANNED_RESPONSE_DELETED",
    }
);

text_enum!(
    /// What a fact waiting for its message (in `pending_facts`) says.
    FactKind {
        /// The customer unsent the message.
        Unsend => "UNSEND",
        /// The customer edited the message.
        Edit => "EDIT",
        /// A reaction was set or removed (one fact per reactor).
        Reaction => "REACTION",
        /// The customer read the message (and everything before it).
        Read => "READ",
        /// The customer read everything up to a time (keyed by the customer's id).
        Watermark => "WATERMARK",
        /// A delivery status of one of our messages.
        Status => "STATUS",
        /// The business's public reply to a comment (keyed by the comment; one per reply).
        Reply => "REPLY",
    }
);

text_enum!(
    /// Where a stored webhook delivery is.
    DeliveryState {
        /// Waiting to be applied (or retried).
        Pending => "PENDING",
        /// Applied.
        Processed => "PROCESSED",
        /// Given up on; kept with its error for an operator.
        Parked => "PARKED",
    }
);

text_enum!(
    /// Where an outbound send job is.
    JobState {
        /// Waiting to be sent (or retried).
        Pending => "PENDING",
        /// Sent, or found already sent.
        Done => "DONE",
        /// Given up on; its message is FAILED.
        Failed => "FAILED",
    }
);

text_enum!(
    /// Who set a customer's name.
    NameSource {
        /// The platform (webhook or profile API): kept current as the platform changes it.
        Platform => "PLATFORM",
        /// An agent: never overwritten by the platform.
        Agent => "AGENT",
    }
);

text_enum!(
    /// Where a customer's profile job is.
    ProfileJobState {
        /// A fetch is due at `run_at` (or being retried).
        Pending => "PENDING",
        /// Fetched (or given up for now); a later message schedules the next daily refresh.
        Done => "DONE",
        /// Meta refused for lack of permission: never asked again for this customer.
        Stopped => "STOPPED",
    }
);

text_enum!(
    /// Where our copy of an attachment stands.
    MediaStorage {
        /// Waiting for the media job to copy it.
        Pending => "PENDING",
        /// Copied into our storage; served through a signed URL.
        Stored => "STORED",
        /// Could not be copied (the reason is kept); the message stays.
        Failed => "FAILED",
    }
);

text_enum!(
    /// Meta's review status of a WhatsApp message template.
    TemplateStatus {
        /// Can be sent.
        Approved => "APPROVED",
        /// Under review.
        Pending => "PENDING",
        /// Refused by Meta's review.
        Rejected => "REJECTED",
        /// Paused by Meta for low quality.
        Paused => "PAUSED",
        /// Disabled by Meta.
        Disabled => "DISABLED",
        /// The business appealed a rejection.
        InAppeal => "IN_APPEAL",
        /// Being deleted.
        PendingDeletion => "PENDING_DELETION",
        /// Deleted.
        Deleted => "DELETED",
        /// The account's template limit was reached.
        LimitExceeded => "LIMIT_EXCEEDED",
        /// Archived.
        Archived => "ARCHIVED",
        /// A status this server does not know yet.
        Unknown => "UNKNOWN",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_text_and_json() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>().ok(), Some(*status));
            let json = serde_json::to_string(status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(
                serde_json::from_str::<MessageStatus>(&json).ok(),
                Some(*status)
            );
        }
        assert_eq!(Platform::WhatsApp.as_str(), "WHATSAPP");
    }

    #[test]
    fn unknown_spellings_are_errors_that_name_the_enum() {
        let error = "SHIPPED"
            .parse::<MessageStatus>()
            .err()
            .map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("unknown MessageStatus \"SHIPPED\""));
    }
}
