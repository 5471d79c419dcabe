//! GraphQL enums and their database spellings.

use crate::error::{AppError, AppResult};

macro_rules! db_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $db:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* #[graphql(name = $db)] $variant),+
        }

        impl $name {
            /// The database spelling.
            pub fn as_db(self) -> &'static str {
                match self { $(Self::$variant => $db),+ }
            }

            /// Reads the database spelling (the column's CHECK makes failure a bug).
            pub fn from_db(s: &str) -> AppResult<Self> {
                match s {
                    $($db => Ok(Self::$variant),)+
                    other => Err(AppError::internal(anyhow::anyhow!(
                        concat!("unknown ", stringify!($name), " {:?} in database"), other
                    ))),
                }
            }
        }
    };
}

db_enum!(
    /// A messaging platform.
    Platform {
        /// Instagram Direct and comments.
        Instagram => "INSTAGRAM",
        /// Facebook Messenger.
        Messenger => "MESSENGER",
        /// WhatsApp Cloud API.
        Whatsapp => "WHATSAPP",
    }
);

db_enum!(
    /// A member's role in an org.
    Role {
        /// Manages channels and members.
        Admin => "ADMIN",
        /// Works the inbox.
        Agent => "AGENT",
    }
);

db_enum!(
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

db_enum!(
    /// Direct conversation or comment thread.
    TicketKind {
        /// Direct messages.
        Direct => "DIRECT",
        /// Comments on one media.
        Comment => "COMMENT",
    }
);

db_enum!(
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

db_enum!(
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

db_enum!(
    /// Who a message went to.
    MessageDirection {
        /// From the customer.
        Inbound => "INBOUND",
        /// From the business.
        Outbound => "OUTBOUND",
    }
);

db_enum!(
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

db_enum!(
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

db_enum!(
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

db_enum!(
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

db_enum!(
    /// Why a user is notified.
    NotificationType {
        /// New direct message(s).
        NewMessage => "NEW_MESSAGE",
        /// New comment(s).
        NewComment => "NEW_COMMENT",
        /// A ticket was assigned to the user.
        Assigned => "ASSIGNED",
    }
);

impl From<crate::db::orgs::Role> for Role {
    fn from(role: crate::db::orgs::Role) -> Self {
        match role {
            crate::db::orgs::Role::Admin => Role::Admin,
            crate::db::orgs::Role::Agent => Role::Agent,
        }
    }
}

impl From<Role> for crate::db::orgs::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => crate::db::orgs::Role::Admin,
            Role::Agent => crate::db::orgs::Role::Agent,
        }
    }
}
