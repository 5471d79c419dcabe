//! Merging two customers who turned out to be the same person, and blocking one.

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::customers as customer_rows;
use crate::db::customers::Customer;
use crate::db::enums::{EventKind, NameSource, TicketStatus};
use crate::db::ids::UserId;
use crate::db::ids::{CustomerId, OrgId};
use crate::db::schema::{
    customer_identities, customers as customers_t, messages, tickets as tickets_t,
};
use crate::db::tickets::Ticket;
use crate::db::{labels, notifications as notification_rows, tickets as ticket_rows};
use crate::error::{AppError, AppResult};
use crate::inbox::assignment;
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

/// Moves everything of `source` (identities, tickets, messages, labels) to `target` in one
/// transaction and deletes `source`. Tickets on the same thread are merged into the
/// target's ticket ([`ticket_rows::absorb`]), so a channel still has one conversation per
/// customer. The target keeps its name unless it has none or only the platform's while an
/// agent named the source; a block on either customer stays on the merged one.
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
            let source_as_was = source_row.clone();
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
            labels::copy_customer_labels(conn, source, target).await?;
            let (name, name_source) = merged_name(&target_row, &source_row);
            let (blocked_at, blocked_by) = if target_row.blocked_at.is_some() {
                (target_row.blocked_at, target_row.blocked_by)
            } else {
                (source_row.blocked_at, source_row.blocked_by)
            };
            let merged = diesel::update(customers_t::table.find(target))
                .set((
                    customers_t::name.eq(name),
                    customers_t::name_source.eq(name_source),
                    customers_t::avatar_url.eq(target_row.avatar_url.or(source_row.avatar_url)),
                    customers_t::notes.eq(join_notes(target_row.notes, source_row.notes)),
                    customers_t::blocked_at.eq(blocked_at),
                    customers_t::blocked_by.eq(blocked_by),
                    customers_t::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Customer::as_returning())
                .get_result(conn)
                .await?;
            diesel::delete(customers_t::table.find(source))
                .execute(conn)
                .await?;
            outbox.subject(
                org,
                EventKind::CustomerDeleted,
                SubjectRow::Customer(source_as_was),
                None,
            );
            outbox.subject(
                org,
                EventKind::CustomerUpdated,
                SubjectRow::Customer(merged.clone()),
                None,
            );
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
                labels::copy_ticket_labels(conn, s.id, t.id).await?;
                let moved = notification_rows::move_to_ticket(conn, s.id, t.id).await?;
                for (user, notification) in moved.changed {
                    outbox.notification(
                        org,
                        EventKind::NotificationAdded,
                        user,
                        notification,
                        Some(t.id),
                    );
                }
                for folded in &moved.folded {
                    outbox.notification_removed(folded);
                }
                let joined = ticket_rows::absorb(conn, s.id, t.id).await?;
                diesel::delete(tickets_t::table.find(s.id))
                    .execute(conn)
                    .await?;
                // After the delete: the fill must not hand out the ticket that is gone.
                if let Some(team) = joined.team_id
                    && joined.status == TicketStatus::Open
                    && joined.assignee_id.is_none()
                {
                    assignment::fill(conn, org, team, outbox).await?;
                }
                outbox.ticket(org, EventKind::TicketUpdated, t.id);
                outbox.ticket_row(EventKind::TicketDeleted, &s);
            }
        }
    }
    Ok(())
}

/// The merged customer's name and where it came from: the target's, unless it has none or
/// only the platform's while an agent named the source.
fn merged_name(target: &Customer, source: &Customer) -> (Option<String>, NameSource) {
    let source_wins = source.name.is_some()
        && (target.name.is_none()
            || (target.name_source == NameSource::Platform
                && source.name_source == NameSource::Agent));
    let chosen = if source_wins { source } else { target };
    (chosen.name.clone(), chosen.name_source)
}

fn join_notes(target: Option<String>, source: Option<String>) -> Option<String> {
    match (target, source) {
        (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
        (a, b) => a.or(b),
    }
}
