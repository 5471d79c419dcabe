//! `updateTicket`, `updateTickets`, `snoozeTicket`, `markTicketRead`, `mergeCustomers`,
//! `updateCustomer`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use super::label::label_ids;
use crate::db::enums::Role;
use crate::db::enums::{TicketPriority, TicketStatus};
use crate::db::ids::{CustomerId, TeamId, TicketId, UserId};
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::customer::Customer;
use crate::graphql::types::ticket::Ticket;
use crate::graphql::types::{maybe_id, parse_id};
use crate::inbox::tickets::{BULK_LIMIT, BulkUpdate, TicketUpdate};
use crate::inbox::{customers as customer_ops, profiles, tickets as ticket_ops};
use chrono::{DateTime, Utc};

/// Changes to a ticket; omitted fields stay as they are, `assigneeId: null` unassigns.
#[derive(InputObject)]
pub struct UpdateTicketInput {
    /// New status.
    status: Option<TicketStatus>,
    /// New assignee (a member of the org), or null to unassign.
    assignee_id: MaybeUndefined<ID>,
    /// New priority.
    priority: Option<TicketPriority>,
    /// New team, or null to remove it. The assignee must belong to the team; moving the
    /// ticket to a team its assignee is not in unassigns it.
    team_id: MaybeUndefined<ID>,
}

/// Changes to a customer.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    /// The name agents see. A name set here is never overwritten by the platform's;
    /// null (or blank) hands naming back to the platform.
    #[graphql(validator(max_length = 200))]
    name: Option<String>,
}

/// One change to many tickets; omitted fields stay as they are, `assigneeId: null`
/// unassigns.
#[derive(InputObject)]
pub struct UpdateTicketsInput {
    /// New status (not SNOOZED: use snoozeTicket).
    status: Option<TicketStatus>,
    /// New assignee (a member of the org), or null to unassign.
    assignee_id: MaybeUndefined<ID>,
    /// New priority.
    priority: Option<TicketPriority>,
    /// New team, or null to remove it. The assignee must belong to each ticket's team;
    /// moving a ticket to a team its assignee is not in unassigns it.
    team_id: MaybeUndefined<ID>,
    /// Labels to add.
    #[graphql(default)]
    add_label_ids: Vec<ID>,
    /// Labels to remove.
    #[graphql(default)]
    remove_label_ids: Vec<ID>,
}

/// Agent actions on tickets and customers.
#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Changes status, assignee, team or priority.
    async fn update_ticket(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateTicketInput,
    ) -> Result<Ticket> {
        let id = parse_id(&id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let update = TicketUpdate {
            status: input.status,
            priority: input.priority,
            assignee: maybe_id(input.assignee_id, UserId::parse)?,
            team: maybe_id(input.team_id, TeamId::parse)?,
        };
        let updated = ticket_ops::update(&mut call.conn, call.org, id, call.user, update).await?;
        Ok(Ticket(call.state.publish(updated)))
    }

    /// Applies one change (status, assignee, team, priority, labels) to up to 100 tickets, all
    /// or nothing, in one transaction; returns them in the order given.
    async fn update_tickets(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        ids: Vec<ID>,
        input: UpdateTicketsInput,
    ) -> Result<Vec<Ticket>> {
        if ids.len() > BULK_LIMIT {
            return Err(AppError::bad_input(format!(
                "at most {BULK_LIMIT} tickets can be updated at once"
            ))
            .into());
        }
        let ids: Vec<TicketId> = ids
            .iter()
            .map(|id| parse_id(id, TicketId::parse))
            .collect::<Result<_, _>>()?;
        let update = BulkUpdate {
            fields: TicketUpdate {
                status: input.status,
                priority: input.priority,
                assignee: maybe_id(input.assignee_id, UserId::parse)?,
                team: maybe_id(input.team_id, TeamId::parse)?,
            },
            add_labels: label_ids(&input.add_label_ids)?,
            remove_labels: label_ids(&input.remove_label_ids)?,
        };
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let updated =
            ticket_ops::update_many(&mut call.conn, call.org, &ids, call.user, update).await?;
        Ok(call
            .state
            .publish(updated)
            .into_iter()
            .map(Ticket)
            .collect())
    }

    /// Snoozes a ticket until `until`: it reopens then, or as soon as the customer writes.
    async fn snooze_ticket(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        until: DateTime<Utc>,
    ) -> Result<Ticket> {
        let id = parse_id(&id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let snoozed = ticket_ops::snooze(&mut call.conn, call.org, id, until).await?;
        Ok(Ticket(call.state.publish(snoozed)))
    }

    /// Marks every message of the ticket read for the caller (its unreadCount becomes 0).
    async fn mark_ticket_read(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<Ticket> {
        let id = parse_id(&id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        Ok(Ticket(
            ticket_ops::mark_read(&mut call.conn, call.org, id, call.user).await?,
        ))
    }

    /// Moves everything of `sourceId` into `targetId` and deletes `sourceId`: identities,
    /// tickets, messages and labels; a block on either stays. Conversations on the same
    /// thread become one ticket that keeps both sides' labels, notifications and each
    /// member's read position, shows the latest visible message, and stays open if
    /// either was.
    async fn merge_customers(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        target_id: ID,
        source_id: ID,
    ) -> Result<Customer> {
        let target = parse_id(&target_id, CustomerId::parse)?;
        let source = parse_id(&source_id, CustomerId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let merged = customer_ops::merge(&mut call.conn, call.org, target, source).await?;
        Ok(Customer(call.state.publish(merged)))
    }

    /// Renames a customer (see `UpdateCustomerInput.name`).
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateCustomerInput,
    ) -> Result<Customer> {
        let id = parse_id(&id, CustomerId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let renamed = profiles::rename(&mut call.conn, call.org, id, input.name).await?;
        Ok(Customer(call.state.publish(renamed)))
    }
}
