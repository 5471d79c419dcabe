//! Mutation root, merged from one object per area.

mod auth;
mod canned;
mod channel;
mod label;
mod media;
mod message;
mod notification;
mod org;
mod team;
mod ticket;

use async_graphql::MergedObject;

/// Root of all mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    org::OrgMutation,
    team::TeamMutation,
    channel::ChannelMutation,
    ticket::TicketMutation,
    message::MessageMutation,
    notification::NotificationMutation,
    label::LabelMutation,
    canned::CannedMutation,
    media::MediaMutation,
);
