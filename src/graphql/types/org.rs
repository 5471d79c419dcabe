//! `Org`: the tenant, and the entry point to everything it owns. Every child field is
//! scoped by this org's id; the `Org` itself is only built after a membership check.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputType, Object, Result};
use chrono::{DateTime, Utc};

use super::channel::Channel;
use super::customer::Customer;
use super::invitation::Invitation;
use super::label::{CannedResponse, Label};
use super::notification::Notification;
use super::team::Team;
use super::ticket::{self, Ticket};
use super::user::Membership;
use super::{parse_id, to_id};
use crate::db::enums::{Platform, Role, TicketStatus};
use crate::db::ids::{ChannelId, CustomerId, LabelId, OrgId, TeamId, TicketId, UserId};
use crate::db::page::{Keyset, PageQuery};
use crate::db::{
    canned_responses, channels, customers, invitations, labels, notifications, orgs, teams, tickets,
};
use crate::error::AppError;
use crate::graphql::connection::{TotalCount, complexity, connection, connection_with, page_query};
use crate::graphql::context::{conn, viewer};
use crate::graphql::flat::Flat;
use crate::graphql::loaders::Loaders;
use crate::graphql::prefetch;

/// Whose tickets, relative to the caller.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeScope {
    /// Assigned to the caller.
    Me,
    /// Assigned to nobody.
    Unassigned,
}

/// Orders of the inbox.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketOrder {
    /// Most recently active first.
    #[default]
    LastActivity,
    /// Waiting tickets only, the longest-waiting first.
    WaitingSince,
}

/// The arguments of `Org.tickets`, as the field takes them and as its early read
/// ([`TicketsArgs::ahead`]) finds them in the selection.
#[derive(Default)]
pub struct TicketsArgs {
    status: Option<TicketStatus>,
    channel_id: Option<ID>,
    assignee_id: Option<ID>,
    assignee: Option<AssigneeScope>,
    label_id: Option<ID>,
    team_id: Option<ID>,
    sort: TicketOrder,
    first: Option<i32>,
    after: Option<String>,
}

impl TicketsArgs {
    /// The filter and page these arguments ask for.
    pub fn query(self, ctx: &Context<'_>) -> Result<(tickets::TicketFilter, PageQuery)> {
        let assignee_id = match (self.assignee, self.assignee_id) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input("give assignee or assigneeId, not both").into());
            }
            (Some(AssigneeScope::Me), None) => Some(Some(viewer(ctx)?.user_id)),
            (Some(AssigneeScope::Unassigned), None) => Some(None),
            (None, Some(id)) => Some(Some(parse_id(&id, UserId::parse)?)),
            (None, None) => None,
        };
        let filter = tickets::TicketFilter {
            status: self.status,
            channel_id: self
                .channel_id
                .as_ref()
                .map(|id| parse_id(id, ChannelId::parse))
                .transpose()?,
            assignee_id,
            customer_id: None,
            label_id: self
                .label_id
                .as_ref()
                .map(|id| parse_id(id, LabelId::parse))
                .transpose()?,
            team_id: self
                .team_id
                .as_ref()
                .map(|id| parse_id(id, TeamId::parse))
                .transpose()?,
            sort: match self.sort {
                TicketOrder::LastActivity => tickets::TicketSort::LastActivity,
                TicketOrder::WaitingSince => tickets::TicketSort::WaitingSince,
            },
        };
        let page = page_query(self.first, self.after, None, None, false)?;
        Ok((filter, page))
    }

    /// What the single `tickets` field of an `org` selection (`ctx`'s) will ask for, if
    /// it has one and the field will accept its arguments: what the org's page can read
    /// ahead, beside the checkout's scoping.
    pub fn ahead(ctx: &Context<'_>) -> Option<(tickets::TicketFilter, PageQuery)> {
        let selection = ctx.look_ahead().field("tickets").selection_fields();
        let [field] = selection.as_slice() else {
            return None;
        };
        let mut args = TicketsArgs::default();
        for (name, value) in field.arguments().ok()? {
            match name.as_str() {
                "status" => args.status = argument(value)?,
                "channelId" => args.channel_id = argument(value)?,
                "assigneeId" => args.assignee_id = argument(value)?,
                "assignee" => args.assignee = argument(value)?,
                "labelId" => args.label_id = argument(value)?,
                "teamId" => args.team_id = argument(value)?,
                "sort" => args.sort = argument(value)?,
                "first" => args.first = argument(value)?,
                "after" => args.after = argument(value)?,
                _ => return None,
            }
        }
        args.query(ctx).ok()
    }
}

/// An argument's value as the field's parameter of type `T` takes it.
fn argument<T: InputType>(value: async_graphql::Value) -> Option<T> {
    T::parse(Some(value)).ok()
}

/// An organisation, as seen by one of its members. Its row is only read when a field
/// needs it (`name`, `createdAt`): the inbox and conversation pages never do.
pub struct Org {
    id: OrgId,
    role: Role,
    row: tokio::sync::OnceCell<orgs::Org>,
}

impl Org {
    /// Wraps a row the caller was checked to be a member of, with their role.
    pub fn new(row: orgs::Org, role: Role) -> Self {
        Self {
            id: row.id,
            role,
            row: tokio::sync::OnceCell::new_with(Some(row)),
        }
    }

    /// Org `id`, which the caller was checked to be a member of with `role`.
    pub fn of(id: OrgId, role: Role) -> Self {
        Self {
            id,
            role,
            row: tokio::sync::OnceCell::new(),
        }
    }

    /// Its row, loaded on first use.
    async fn row(&self, ctx: &Context<'_>) -> Result<&orgs::Org> {
        self.row
            .get_or_try_init(|| async {
                ctx.data::<Loaders>()?
                    .load_one(self.id)
                    .await?
                    .ok_or_else(|| AppError::NotFound.into())
            })
            .await
    }
}

#[Object]
impl Org {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.id)
    }

    async fn name(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(&self.row(ctx).await?.name)
    }

    /// The caller's role in this org.
    async fn viewer_role(&self) -> Role {
        self.role
    }

    async fn created_at(&self, ctx: &Context<'_>) -> Result<DateTime<Utc>> {
        Ok(self.row(ctx).await?.created_at)
    }

    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let conn = conn(ctx).await?;
        let rows = orgs::members(&conn, self.id)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(Membership).collect())
    }

    /// Open invitations, newest first (ADMIN only).
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Vec<Invitation>> {
        if self.role != Role::Admin {
            return Err(AppError::Forbidden.into());
        }
        let conn = conn(ctx).await?;
        let rows = invitations::list_open(&conn, self.id)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(Invitation).collect())
    }

    /// The org's teams, by name.
    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        let conn = conn(ctx).await?;
        let rows = teams::list(&conn, self.id).await.map_err(AppError::from)?;
        Ok(rows.into_iter().map(Team).collect())
    }

    /// One of the org's teams.
    async fn team(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Team>> {
        let id = parse_id(&id, TeamId::parse)?;
        let conn = conn(ctx).await?;
        Ok(teams::find(&conn, self.id, id)
            .await
            .map_err(AppError::from)?
            .map(Team))
    }

    async fn channels(&self, ctx: &Context<'_>) -> Result<Vec<Channel>> {
        let conn = conn(ctx).await?;
        let rows = channels::list(&conn, self.id)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(Channel).collect())
    }

    async fn channel(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Channel>> {
        let id = parse_id(&id, ChannelId::parse)?;
        let conn = conn(ctx).await?;
        Ok(channels::find(&conn, self.id, id)
            .await
            .map_err(AppError::from)?
            .map(Channel))
    }

    /// Customers, newest first; `search` matches name, username or display name.
    #[graphql(complexity = "complexity(first, None, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        platform: Option<Platform>,
        #[graphql(validator(max_length = 200))] search: Option<String>,
        blocked: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Customer>> {
        let page = page_query(first, after, None, None, false)?;
        let filter = customers::CustomerFilter {
            platform,
            search: search
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            blocked,
        };
        let conn = conn(ctx).await?;
        let rows = customers::list(&conn, self.id, &filter, &page)
            .await
            .map_err(AppError::from)?;
        Ok(connection(
            rows,
            &page,
            |c| Keyset {
                at: c.created_at,
                id: c.id.0,
            },
            Customer,
        ))
    }

    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Customer>> {
        let id = parse_id(&id, CustomerId::parse)?;
        let conn = conn(ctx).await?;
        Ok(customers::find(&conn, self.id, id)
            .await
            .map_err(AppError::from)?
            .map(Customer))
    }

    /// The inbox: tickets by last activity, newest first, or (`sort: WAITING_SINCE`) the
    /// tickets waiting for an answer, longest-waiting first. `assignee: ME` / `UNASSIGNED`
    /// and `assigneeId` are exclusive; `teamId` keeps one team's tickets.
    #[graphql(complexity = "complexity(first, None, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        status: Option<TicketStatus>,
        channel_id: Option<ID>,
        assignee_id: Option<ID>,
        assignee: Option<AssigneeScope>,
        label_id: Option<ID>,
        team_id: Option<ID>,
        #[graphql(default)] sort: TicketOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Flat<Ticket>>> {
        let args = TicketsArgs {
            status,
            channel_id,
            assignee_id,
            assignee,
            label_id,
            team_id,
            sort,
            first,
            after,
        };
        let (filter, page) = args.query(ctx)?;
        ticket::page(ctx, self.id, &filter, page).await
    }

    /// The org's labels, by name.
    async fn labels(&self, ctx: &Context<'_>) -> Result<Vec<Label>> {
        let conn = conn(ctx).await?;
        let rows = labels::list(&conn, self.id).await.map_err(AppError::from)?;
        Ok(rows.into_iter().map(Label).collect())
    }

    /// The canned responses the caller may use: org-wide ones and their own, by code.
    async fn canned_responses(&self, ctx: &Context<'_>) -> Result<Vec<CannedResponse>> {
        let user = viewer(ctx)?.user_id;
        let conn = conn(ctx).await?;
        let rows = canned_responses::visible_to(&conn, self.id, user)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(CannedResponse).collect())
    }

    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Flat<Ticket>>> {
        let id = parse_id(&id, TicketId::parse)?;
        let conn = conn(ctx).await?;
        let (found, ()) = futures_util::join!(
            tickets::find(&conn, self.id, id),
            prefetch::ticket_alongside(ctx, &conn, id),
        );
        Ok(found.map_err(AppError::from)?.map(|t| Flat(Ticket(t))))
    }

    /// The caller's notifications in this org, most recent first.
    #[graphql(complexity = "complexity(first, None, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Notification, TotalCount>> {
        let page = page_query(first, after, None, None, false)?;
        let user = viewer(ctx)?.user_id;
        let unread_only = unread_only.unwrap_or(false);
        let conn = conn(ctx).await?;
        let rows = notifications::list(&conn, self.id, user, unread_only, &page)
            .await
            .map_err(AppError::from)?;
        Ok(connection_with(
            rows,
            &page,
            |n| Keyset {
                at: n.updated_at,
                id: n.id.0,
            },
            Notification,
            TotalCount::Notifications {
                org: self.id,
                user,
                unread_only,
            },
        ))
    }

    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let user = viewer(ctx)?.user_id;
        let conn = conn(ctx).await?;
        Ok(notifications::unread_count(&conn, self.id, user)
            .await
            .map_err(AppError::from)?)
    }
}
