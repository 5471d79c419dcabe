//! `Ticket`: one conversation, with its messages.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::channel::Channel;
use super::customer::Customer;
use super::label::Label;
use super::message::Message;
use super::team::Team;
use super::template::WhatsAppTemplate;
use super::to_id;
use super::user::User;
use crate::db::enums::{TicketKind, TicketPriority, TicketStatus};
use crate::db::ids::{ChannelId, OrgId};
use crate::db::page::{Keyset, PageQuery};
use crate::db::{templates, tickets};
use crate::error::AppError;
use crate::graphql::connection::{TotalCount, complexity, connection, connection_with, page_query};
use crate::graphql::context::conn;
use crate::graphql::flat::{Flat, RowFields, out, text};
use crate::graphql::loaders::{LabelsOfTicket, Loaders, ReadCountOf, TemplatesOf};
use crate::graphql::prefetch;
use crate::inbox::reply_options::{self, ReplyMode};
use crate::inbox::templates as template_ops;

/// A conversation between a customer and the org on one channel.
pub struct Ticket(pub tickets::Ticket);

/// Page `page` of `org`'s tickets matching `filter`, in its order, with what the
/// selection asks for prefetched (the page itself may have been read early, beside the
/// checkout's scoping: [`prefetch::tickets_alongside`]).
pub async fn page(
    ctx: &Context<'_>,
    org: OrgId,
    filter: &tickets::TicketFilter,
    page: PageQuery,
) -> Result<Connection<String, Flat<Ticket>>> {
    let early = ctx.data::<Loaders>()?.loader().early_tickets();
    let rows = match early.take(&(org, filter.clone(), page)) {
        Some(rows) => rows,
        None => tickets::list(&*conn(ctx).await?, org, filter, &page)
            .await
            .map_err(AppError::from)?,
    };
    prefetch::tickets(ctx, &rows.rows).await?;
    Ok(connection(
        rows,
        &page,
        |t| filter.sort.key(t),
        |t| Flat(Ticket(t)),
    ))
}

/// What can be sent on a ticket now.
pub struct ReplyOptions {
    /// The decision.
    options: reply_options::ReplyOptions,
    /// The ticket's channel (whose templates TEMPLATES_ONLY offers).
    channel: ChannelId,
}

impl ReplyOptions {
    /// The templates the channel can send when only templates are allowed (empty
    /// otherwise), through the request's loader: one query for all the channels of a
    /// page, and none unless a field needs them.
    async fn sendable_templates(&self, ctx: &Context<'_>) -> Result<Vec<templates::Template>> {
        if self.options.mode != ReplyMode::TemplatesOnly {
            return Ok(Vec::new());
        }
        let rows = ctx
            .data::<Loaders>()?
            .load_one(TemplatesOf(self.channel))
            .await?;
        Ok(template_ops::sendable(rows.unwrap_or_default()))
    }
}

#[Object]
impl ReplyOptions {
    /// What can be sent.
    async fn mode(&self) -> ReplyMode {
        self.options.mode
    }

    /// Free text is possible until then (including the HUMAN_AGENT extension, when the
    /// channel has it).
    async fn free_text_until(&self) -> Option<DateTime<Utc>> {
        self.options.free_text_until
    }

    /// Whether HUMAN_AGENT extends the window on this ticket (and until when).
    async fn human_agent_extends(&self) -> bool {
        self.options.human_agent_until.is_some()
    }

    async fn human_agent_until(&self) -> Option<DateTime<Utc>> {
        self.options.human_agent_until
    }

    /// Why something is not possible; `sendMessage` refuses with this same message.
    /// TEMPLATES_ONLY: points at `templates`, or says the channel has none approved.
    async fn reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if self.options.mode != ReplyMode::TemplatesOnly {
            return Ok(self.options.reason.clone());
        }
        let sendable = self.sendable_templates(ctx).await?.len();
        Ok(self
            .options
            .clone()
            .with_sendable_templates(sendable)
            .reason)
    }

    /// TEMPLATES_ONLY: the channel's approved templates, to send with `sendTemplate`
    /// (each lists the `variables` its parameters fill). Empty in every other mode.
    async fn templates(&self, ctx: &Context<'_>) -> Result<Vec<WhatsAppTemplate>> {
        let rows = self.sendable_templates(ctx).await?;
        Ok(rows.into_iter().map(WhatsAppTemplate).collect())
    }
}

#[Object]
impl Ticket {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn kind(&self) -> Result<TicketKind> {
        Ok(self.0.kind)
    }

    async fn status(&self) -> Result<TicketStatus> {
        Ok(self.0.status)
    }

    async fn priority(&self) -> Result<TicketPriority> {
        Ok(self.0.priority)
    }

    /// For COMMENT tickets: the commented media id.
    async fn media_id(&self) -> Option<&str> {
        self.0.media_id()
    }

    async fn channel(&self, ctx: &Context<'_>) -> Result<Flat<Channel>> {
        let channel = ctx.data::<Loaders>()?.load_one(self.0.channel_id).await?;
        channel
            .map(|c| Flat(Channel(c)))
            .ok_or_else(|| "channel not found".into())
    }

    async fn customer(&self, ctx: &Context<'_>) -> Result<Flat<Customer>> {
        let customer = ctx.data::<Loaders>()?.load_one(self.0.customer_id).await?;
        customer
            .map(|c| Flat(Customer(c)))
            .ok_or_else(|| "customer not found".into())
    }

    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.assignee_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(User::new))
    }

    /// The team working the ticket.
    async fn team(&self, ctx: &Context<'_>) -> Result<Option<Team>> {
        let Some(id) = self.0.team_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(Team))
    }

    async fn last_message_at(&self) -> DateTime<Utc> {
        self.0.last_message_at
    }

    async fn last_message_preview(&self) -> Option<&str> {
        self.0.last_message_preview.as_deref()
    }

    async fn last_message(&self, ctx: &Context<'_>) -> Result<Option<Flat<Message>>> {
        let Some(id) = self.0.last_message_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(id)
            .await?
            .map(|m| Flat(Message(m))))
    }

    /// When the customer last wrote (the platforms' 24 h reply window starts there).
    async fn last_inbound_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_inbound_at
    }

    /// When a SNOOZED ticket reopens by itself (it also reopens when the customer writes).
    async fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        self.0.snoozed_until
    }

    /// The oldest customer message not answered yet (null: nothing unanswered).
    async fn waiting_since(&self) -> Option<DateTime<Utc>> {
        self.0.waiting_since
    }

    /// The business's first reply.
    async fn first_response_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_at
    }

    /// When the ticket was resolved (null unless RESOLVED).
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }

    /// What the caller can send on this ticket now, and why not (the same decision
    /// `sendMessage` enforces).
    async fn reply_options(&self, ctx: &Context<'_>) -> Result<ReplyOptions> {
        // The channel and the customer through the request's loader, so that a page's
        // tickets share one query for each (and their templates, one more).
        Box::pin(async move {
            let loaders = ctx.data::<Loaders>()?;
            let (channel, customer) = futures_util::try_join!(
                loaders.load_one(self.0.channel_id),
                loaders.load_one(self.0.customer_id),
            )?;
            let channel = channel.ok_or(AppError::NotFound)?;
            let blocked = customer.is_some_and(|c| c.blocked_at.is_some());
            let conn = conn(ctx).await?;
            let options = crate::inbox::replies::options_with(&conn, &self.0, &channel, blocked)
                .await
                .map_err(AppError::from)?;
            Ok(ReplyOptions {
                options,
                channel: self.0.channel_id,
            })
        })
        .await
    }

    async fn labels(&self, ctx: &Context<'_>) -> Result<Vec<Label>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(LabelsOfTicket(self.0.id))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Label).collect())
    }

    /// Inbound messages the caller has not read yet.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let read = ctx
            .data::<Loaders>()?
            .load_one(ReadCountOf(self.0.id))
            .await?
            .unwrap_or(0);
        Ok((self.0.inbound_count - read).max(0))
    }

    /// The conversation, oldest first. Use `last` (and `before`) for the latest messages.
    #[graphql(complexity = "complexity(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Flat<Message>, TotalCount>> {
        // Boxed, like `replyOptions`: a ticket's every field is resolved in a future
        // the size of its largest field's, and this one's is many times the others'.
        Box::pin(async move {
            let page = page_query(first, after, last, before, true)?;
            let early = ctx.data::<Loaders>()?.loader().early_pages();
            let (rows, children) = match early.take(&(self.0.id, page)) {
                Some(read) => read,
                None => {
                    let node = ctx.look_ahead().field("edges").field("node");
                    prefetch::message_page(node, &*conn(ctx).await?, self.0.id, &page).await?
                }
            };
            children.feed(ctx, &rows.rows).await?;
            prefetch::messages(ctx, &rows.rows).await?;
            Ok(connection_with(
                rows,
                &page,
                |m| Keyset {
                    at: m.sent_at,
                    id: m.id.0,
                },
                |m| Flat(Message(m)),
                TotalCount::Messages(self.0.id),
            ))
        })
        .await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

impl RowFields for Ticket {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let t = &self.0;
        Some(match name {
            "id" => out(&to_id(t.id)),
            "kind" => out(&t.kind),
            "status" => out(&t.status),
            "priority" => out(&t.priority),
            "mediaId" => text(t.media_id()),
            "lastMessageAt" => out(&t.last_message_at),
            "lastMessagePreview" => text(t.last_message_preview.as_deref()),
            "lastInboundAt" => out(&t.last_inbound_at),
            "snoozedUntil" => out(&t.snoozed_until),
            "waitingSince" => out(&t.waiting_since),
            "firstResponseAt" => out(&t.first_response_at),
            "resolvedAt" => out(&t.resolved_at),
            "createdAt" => out(&t.created_at),
            "updatedAt" => out(&t.updated_at),
            _ => return None,
        })
    }
}
