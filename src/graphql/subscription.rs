//! Subscription root: the org's live events (resumable), new messages and the caller's
//! new notifications, all filters over one per-org stream.

use async_graphql::{Context, ID, Result, Subscription as SubscriptionObject};
use futures_util::{Stream, StreamExt as _};

use super::context::{member, state, viewer};
use super::types::inbox_event::InboxEvent;
use super::types::message::Message;
use super::types::notification::Notification;
use super::types::parse_id;
use crate::db::enums::EventKind;
use crate::db::ids::{OrgId, TicketId};
use crate::error::AppError;
use crate::events::stream;

/// Root of all subscriptions.
#[derive(Default)]
pub struct Subscription;

#[SubscriptionObject]
impl Subscription {
    /// Everything that changes in the org's inbox, in commit order. Pass the last `seq`
    /// you processed as `after` to resume with no gap and no duplicate; without it the
    /// stream starts now. `RESYNC_REQUIRED` means that position was pruned: refetch.
    async fn inbox_events(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<InboxEvent>> + use<>> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let after = after
            .map(|a| {
                a.trim()
                    .parse::<i64>()
                    .map_err(|_| AppError::bad_input("`after` must be a seq"))
            })
            .transpose()?;
        let events = open(ctx, org, after).await?;
        Ok(events.map(|item| item.map(InboxEvent).map_err(Into::into)))
    }

    /// Messages added to the org's tickets (or to one ticket), from now on.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        ticket_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Message>> + use<>> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let ticket = ticket_id
            .as_ref()
            .map(|t| parse_id(t, TicketId::parse))
            .transpose()?;
        let events = open(ctx, org, None).await?;
        Ok(events.filter_map(move |item| async move {
            match item {
                Err(e) => Some(Err(e.into())),
                Ok(event) if event.event.kind != EventKind::MessageAdded => None,
                Ok(event) if ticket.is_some_and(|t| event.event.ticket_id != Some(t)) => None,
                Ok(event) => event.snapshot.message.clone().map(|m| Ok(Message(m))),
            }
        }))
    }

    /// The caller's new (or bumped) notifications in the org, from now on.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let events = open(ctx, org, None).await?;
        Ok(events.filter_map(|item| async move {
            match item {
                Err(e) => Some(Err(e.into())),
                Ok(event) if event.event.kind != EventKind::NotificationAdded => None,
                Ok(event) => event
                    .snapshot
                    .notification
                    .clone()
                    .map(|n| Ok(Notification(n))),
            }
        }))
    }
}

async fn open(
    ctx: &Context<'_>,
    org: OrgId,
    after: Option<i64>,
) -> Result<stream::Stream, AppError> {
    member(ctx, org).await?;
    let viewer = viewer(ctx)?;
    let holder = (viewer.user_id, viewer.session);
    let state = state(ctx)?;
    stream::open(state.pool().clone(), state.bus_handle(), org, holder, after).await
}
