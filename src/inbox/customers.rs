//! Merging two customers who turned out to be the same person, and blocking one.

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::customers as customer_rows;
use crate::db::customers::Customer;
use crate::db::enums::EventKind;
use crate::db::ids::UserId;
use crate::db::ids::{CustomerId, OrgId};
use crate::db::schema::{
    customer_identities, customers as customers_t, messages, notifications, ticket_reads,
    tickets as tickets_t,
};
use crate::db::tickets::Ticket;
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{Committed, Outbox, SubjectRow};

/// Blocks (`Some(actor)`) or unblocks (`None`) a customer of `org`. A blocked customer's
/// messages are still stored, but reopen no ticket and notify nobody, and replies to
/// them are refused ([`super::reply_options`]).
pub async fn set_blocked(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: CustomerId,
    by: Option<UserId>,
) -> AppResult<Committed<Customer>> {
    conn.transaction(async |conn| {
        let customer = customer_rows::set_blocked(conn, org, id, by)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.subject(
            org,
            EventKind::CustomerUpdated,
            SubjectRow::Customer(customer.clone()),
            None,
        );
        Ok(outbox.commit(conn, customer).await?)
    })
    .await
}

/// Moves everything of `source` (identities, tickets, messages) to `target` in one
/// transaction and deletes `source`. Tickets on the same thread are merged into the
/// target's ticket, so a channel still has one conversation per customer.
pub async fn merge(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    target: CustomerId,
    source: CustomerId,
) -> AppResult<Committed<Customer>> {
    if target == source {
        return Err(AppError::bad_input("cannot merge a customer into itself"));
    }
    let merged = conn
        .transaction(async |conn| {
            // Lock both rows in id order so two concurrent merges cannot deadlock.
            let mut locked: Vec<Customer> = customers_t::table
                .filter(customers_t::id.eq_any([target, source]))
                .filter(customers_t::org_id.eq(org))
                .order(customers_t::id)
                .for_update()
                .select(Customer::as_select())
                .load(conn)
                .await?;
            if locked.len() != 2 {
                return Err(AppError::NotFound);
            }
            let source_row = locked
                .iter()
                .position(|c| c.id == source)
                .map(|i| locked.remove(i));
            let (Some(source_row), Some(target_row)) = (source_row, locked.pop()) else {
                return Err(AppError::NotFound);
            };
            let mut outbox = Outbox::default();
            move_tickets(conn, &mut outbox, org, target, source).await?;
            diesel::update(
                customer_identities::table.filter(customer_identities::customer_id.eq(source)),
            )
            .set(customer_identities::customer_id.eq(target))
            .execute(conn)
            .await?;
            diesel::update(messages::table.filter(messages::author_customer_id.eq(source)))
                .set(messages::author_customer_id.eq(target))
                .execute(conn)
                .await?;
            let merged = diesel::update(customers_t::table.find(target))
                .set((
                    customers_t::name.eq(target_row.name.or(source_row.name)),
                    customers_t::avatar_url.eq(target_row.avatar_url.or(source_row.avatar_url)),
                    customers_t::notes.eq(join_notes(target_row.notes, source_row.notes)),
                    customers_t::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Customer::as_returning())
                .get_result(conn)
                .await?;
            diesel::delete(customers_t::table.find(source))
                .execute(conn)
                .await?;
            Ok::<_, AppError>(outbox.commit(conn, merged).await?)
        })
        .await?;
    tracing::info!(org.id = %org, customer.id = %target, merged = %source, "merged customer {source} into {target}");
    Ok(merged)
}

async fn move_tickets(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    org: OrgId,
    target: CustomerId,
    source: CustomerId,
) -> diesel::QueryResult<()> {
    let all: Vec<Ticket> = tickets_t::table
        .filter(tickets_t::customer_id.eq_any([target, source]))
        .order(tickets_t::id)
        .for_update()
        .select(Ticket::as_select())
        .load(conn)
        .await?;
    let (sources, targets): (Vec<Ticket>, Vec<Ticket>) =
        all.into_iter().partition(|t| t.customer_id == source);
    for s in sources {
        let twin = targets.iter().find(|t| {
            t.channel_id == s.channel_id && t.kind == s.kind && t.thread_key == s.thread_key
        });
        match twin {
            None => {
                diesel::update(tickets_t::table.find(s.id))
                    .set(tickets_t::customer_id.eq(target))
                    .execute(conn)
                    .await?;
                outbox.ticket(org, EventKind::TicketUpdated, s.id);
            }
            Some(t) => {
                diesel::update(messages::table.filter(messages::ticket_id.eq(s.id)))
                    .set(messages::ticket_id.eq(t.id))
                    .execute(conn)
                    .await?;
                let latest = if s.last_message_at > t.last_message_at {
                    &s
                } else {
                    t
                };
                diesel::update(tickets_t::table.find(t.id))
                    .set((
                        tickets_t::last_message_id.eq(latest.last_message_id),
                        tickets_t::last_message_at.eq(latest.last_message_at),
                        tickets_t::last_message_preview.eq(latest.last_message_preview.clone()),
                        tickets_t::last_inbound_at.eq(s.last_inbound_at.max(t.last_inbound_at)),
                        tickets_t::inbound_count.eq(tickets_t::inbound_count + s.inbound_count),
                        tickets_t::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)
                    .await?;
                // The source ticket's notifications and read marks described a thread
                // that no longer exists on its own.
                diesel::delete(notifications::table.filter(notifications::ticket_id.eq(s.id)))
                    .execute(conn)
                    .await?;
                diesel::delete(ticket_reads::table.filter(ticket_reads::ticket_id.eq(s.id)))
                    .execute(conn)
                    .await?;
                diesel::delete(tickets_t::table.find(s.id))
                    .execute(conn)
                    .await?;
                outbox.ticket(org, EventKind::TicketUpdated, t.id);
                outbox.ticket(org, EventKind::TicketUpdated, s.id);
            }
        }
    }
    Ok(())
}

fn join_notes(target: Option<String>, source: Option<String>) -> Option<String> {
    match (target, source) {
        (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
        (a, b) => a.or(b),
    }
}
