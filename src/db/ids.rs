//! Newtype ids, so an org id can never be passed where a ticket id is expected.
//!
//! Each id is a UUID on the wire and in PostgreSQL; GraphQL shows it as an opaque `ID`.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = sql_types::Uuid)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the textual form; `None` for anything that is not a UUID.
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s.trim()).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql<sql_types::Uuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <Uuid as ToSql<sql_types::Uuid, Pg>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<sql_types::Uuid, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                <Uuid as FromSql<sql_types::Uuid, Pg>>::from_sql(bytes).map(Self)
            }
        }
    };
}

id_type!(
    /// An organisation (tenant).
    OrgId
);
id_type!(
    /// A user (agent or admin; may belong to several orgs).
    UserId
);
id_type!(
    /// A connected Meta account.
    ChannelId
);
id_type!(
    /// A customer of an org.
    CustomerId
);
id_type!(
    /// A conversation.
    TicketId
);
id_type!(
    /// A team of an org.
    TeamId
);
id_type!(
    /// A message of a ticket.
    MessageId
);
id_type!(
    /// A notification of a user.
    NotificationId
);
id_type!(
    /// An invitation to join an org.
    InvitationId
);
id_type!(
    /// A file in our media storage.
    MediaId
);
id_type!(
    /// A label of an org.
    LabelId
);
id_type!(
    /// A saved reply (org-wide or personal).
    CannedResponseId
);
