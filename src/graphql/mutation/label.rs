//! `createLabel`, `updateLabel`, `deleteLabel` (ADMIN); `setTicketLabels`,
//! `setCustomerLabels`, `blockCustomer`, `unblockCustomer` (AGENT).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use crate::db::enums::Role;
use crate::db::ids::{CustomerId, LabelId, TicketId};
use crate::graphql::context::org_call;
use crate::graphql::types::customer::Customer;
use crate::graphql::types::label::Label;
use crate::graphql::types::parse_id;
use crate::graphql::types::ticket::Ticket;
use crate::inbox::customers as customer_ops;
use crate::inbox::labels::{self as label_ops, LabelInput};
use crate::inbox::tickets::{self as ticket_ops, BulkUpdate};

/// A new label.
#[derive(InputObject)]
pub struct CreateLabelInput {
    /// Unique in the org (case-insensitively), 1 to 50 characters.
    #[graphql(validator(max_length = 200))]
    name: String,
    /// `#rrggbb`.
    #[graphql(validator(max_length = 20))]
    colour: String,
    /// What it is for (at most 500 characters).
    #[graphql(validator(max_length = 2000))]
    description: Option<String>,
}

/// Changes to a label; omitted fields stay, `description: null` clears it.
#[derive(InputObject)]
pub struct UpdateLabelInput {
    /// New name.
    #[graphql(validator(max_length = 200))]
    name: Option<String>,
    /// New colour.
    #[graphql(validator(max_length = 20))]
    colour: Option<String>,
    /// New description.
    #[graphql(validator(max_length = 2000))]
    description: MaybeUndefined<String>,
}

/// Parses label ids (at most 100).
pub(super) fn label_ids(ids: &[ID]) -> Result<Vec<LabelId>> {
    if ids.len() > 100 {
        return Err(crate::error::AppError::bad_input("at most 100 labels at once").into());
    }
    Ok(ids
        .iter()
        .map(|id| parse_id(id, LabelId::parse))
        .collect::<Result<_, _>>()?)
}

/// Labels and blocking.
#[derive(Default)]
pub struct LabelMutation;

#[Object]
impl LabelMutation {
    /// Creates a label (ADMIN).
    async fn create_label(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: CreateLabelInput,
    ) -> Result<Label> {
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let input = LabelInput {
            name: Some(input.name),
            colour: Some(input.colour),
            description: Some(input.description),
        };
        let label = label_ops::create(&mut call.conn, call.org, input).await?;
        Ok(Label(call.state.publish(label)))
    }

    /// Renames, recolours or redescribes a label (ADMIN).
    async fn update_label(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateLabelInput,
    ) -> Result<Label> {
        let id = parse_id(&id, LabelId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let input = LabelInput {
            name: input.name,
            colour: input.colour,
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d)),
            },
        };
        let label = label_ops::update(&mut call.conn, call.org, id, input).await?;
        Ok(Label(call.state.publish(label)))
    }

    /// Deletes a label and removes it from every ticket and customer (ADMIN); returns
    /// the label as it was.
    async fn delete_label(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<Label> {
        let id = parse_id(&id, LabelId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let label = label_ops::delete(&mut call.conn, call.org, id).await?;
        Ok(Label(call.state.publish(label)))
    }

    /// Adds and removes labels on a ticket.
    async fn set_ticket_labels(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        ticket_id: ID,
        #[graphql(default)] add_label_ids: Vec<ID>,
        #[graphql(default)] remove_label_ids: Vec<ID>,
    ) -> Result<Ticket> {
        let ticket = parse_id(&ticket_id, TicketId::parse)?;
        let update = BulkUpdate {
            add_labels: label_ids(&add_label_ids)?,
            remove_labels: label_ids(&remove_label_ids)?,
            ..Default::default()
        };
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let updated =
            ticket_ops::update_many(&mut call.conn, call.org, &[ticket], call.user, update).await?;
        let ticket = call.state.publish(updated).pop();
        Ok(Ticket(ticket.ok_or(crate::error::AppError::NotFound)?))
    }

    /// Adds and removes labels on a customer.
    async fn set_customer_labels(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        customer_id: ID,
        #[graphql(default)] add_label_ids: Vec<ID>,
        #[graphql(default)] remove_label_ids: Vec<ID>,
    ) -> Result<Customer> {
        let customer = parse_id(&customer_id, CustomerId::parse)?;
        let add = label_ids(&add_label_ids)?;
        let remove = label_ids(&remove_label_ids)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let updated =
            label_ops::set_on_customer(&mut call.conn, call.org, customer, &add, &remove).await?;
        Ok(Customer(call.state.publish(updated)))
    }

    /// Blocks a customer: their messages are still stored but reopen no ticket and
    /// notify nobody, and replies to them are refused.
    async fn block_customer(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<Customer> {
        let id = parse_id(&id, CustomerId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let customer =
            customer_ops::set_blocked(&mut call.conn, call.org, id, Some(call.user)).await?;
        Ok(Customer(call.state.publish(customer)))
    }

    /// Unblocks a customer.
    async fn unblock_customer(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<Customer> {
        let id = parse_id(&id, CustomerId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let customer = customer_ops::set_blocked(&mut call.conn, call.org, id, None).await?;
        Ok(Customer(call.state.publish(customer)))
    }
}
