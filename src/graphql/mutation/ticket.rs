//! `updateTicket`, `markTicketRead`, `mergeCustomers`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use crate::db::enums::{TicketPriority, TicketStatus};
use crate::db::ids::{CustomerId, OrgId, TicketId, UserId};
use crate::graphql::context::{member, state, viewer};
use crate::graphql::types::customer::Customer;
use crate::graphql::types::parse_id;
use crate::graphql::types::ticket::Ticket;
use crate::inbox::tickets::TicketUpdate;
use crate::inbox::{customers as customer_ops, tickets as ticket_ops};

/// Changes to a ticket; omitted fields stay as they are, `assigneeId: null` unassigns.
#[derive(InputObject)]
pub struct UpdateTicketInput {
    /// New status.
    status: Option<TicketStatus>,
    /// New assignee (a member of the org), or null to unassign.
    assignee_id: MaybeUndefined<ID>,
    /// New priority.
    priority: Option<TicketPriority>,
}

/// Agent actions on tickets and customers.
#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Changes status, assignee or priority.
    async fn update_ticket(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateTicketInput,
    ) -> Result<Ticket> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let id = parse_id(&id, TicketId::parse)?;
        member(ctx, org).await?;
        let assignee = match input.assignee_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(user) => Some(Some(parse_id(&user, UserId::parse)?)),
        };
        let update = TicketUpdate {
            status: input.status,
            priority: input.priority,
            assignee,
        };
        let actor = viewer(ctx)?.user_id;
        let state = state(ctx)?;
        let mut conn = state.conn().await?;
        let updated = ticket_ops::update(&mut conn, org, id, actor, update).await?;
        Ok(Ticket(state.publish(updated)))
    }

    /// Marks every message of the ticket read for the caller (its unreadCount becomes 0).
    async fn mark_ticket_read(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<Ticket> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let id = parse_id(&id, TicketId::parse)?;
        member(ctx, org).await?;
        let user = viewer(ctx)?.user_id;
        let mut conn = state(ctx)?.conn().await?;
        Ok(Ticket(
            ticket_ops::mark_read(&mut conn, org, id, user).await?,
        ))
    }

    /// Moves everything of `sourceId` into `targetId` and deletes `sourceId`.
    async fn merge_customers(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        target_id: ID,
        source_id: ID,
    ) -> Result<Customer> {
        let org = parse_id(&org_id, OrgId::parse)?;
        let target = parse_id(&target_id, CustomerId::parse)?;
        let source = parse_id(&source_id, CustomerId::parse)?;
        member(ctx, org).await?;
        let state = state(ctx)?;
        let mut conn = state.conn().await?;
        let merged = customer_ops::merge(&mut conn, org, target, source).await?;
        Ok(Customer(state.publish(merged)))
    }
}
