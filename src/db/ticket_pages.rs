//! A page of an org's tickets, read together with what an inbox shows of each ticket in
//! one round of statements on one connection:
//! - the rows a ticket points at (its customer, channel, assignee and last message, and
//!   the viewer's read count) are joined into the page's own statement, each only when
//!   asked for ([`Shown`]);
//! - the customers' identities, and their channels, come from statements that select the
//!   page themselves, so they need not wait for its rows.
//!
//! Every filter and order is served by an index that leads with the org.

use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::channels::Channel;
use super::customers::{Customer, Identity};
use super::ids::{OrgId, TicketId, UserId};
use super::messages::Message;
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::{
    channels, customer_identities, customers, messages, ticket_labels, ticket_reads, tickets, users,
};
use super::tickets::{Ticket, TicketFilter, TicketSort};
use super::users::User;

/// What a page reads beside its tickets (nothing by default: the tickets alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    /// Each ticket's customer.
    pub customer: bool,
    /// Each ticket's channel.
    pub channel: bool,
    /// Each ticket's assignee.
    pub assignee: bool,
    /// Each ticket's last message.
    pub last_message: bool,
    /// The user whose read count of each ticket to read, if any.
    pub read_by: Option<UserId>,
    /// The identities of the tickets' customers.
    pub identities: bool,
    /// The channels of those identities.
    pub identity_channels: bool,
}

/// A ticket of a page, with the rows it points at that were asked for.
pub struct PageTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// Its customer ([`Shown::customer`]).
    pub customer: Option<Customer>,
    /// Its channel ([`Shown::channel`]).
    pub channel: Option<Channel>,
    /// Its assignee ([`Shown::assignee`]; none when unassigned).
    pub assignee: Option<User>,
    /// Its last message ([`Shown::last_message`]).
    pub last_message: Option<Message>,
    /// How many of its inbound messages [`Shown::read_by`] has read (none: nothing yet).
    pub read_count: Option<i64>,
}

/// A page of tickets and what was asked for beside them.
pub struct TicketPage {
    /// The tickets, in the page's order.
    pub tickets: PageRows<PageTicket>,
    /// The identities of their customers ([`Shown::identities`]).
    pub identities: Option<Vec<Identity>>,
    /// The channels of those identities ([`Shown::identity_channels`]).
    pub identity_channels: Option<Vec<Channel>>,
}

type Row = (
    Ticket,
    Option<Customer>,
    Option<Channel>,
    Option<User>,
    Option<Message>,
    Option<i64>,
);

/// Reads page `page` of `org`'s tickets matching `filter`, in `filter.sort` order, with
/// what `shown` asks for, in one round on `conn`.
pub async fn read(
    conn: &AsyncPgConnection,
    org: OrgId,
    filter: &TicketFilter,
    page: &PageQuery,
    shown: &Shown,
) -> QueryResult<TicketPage> {
    // The page's statement, joined with the rows of `shown` (a join not asked for is
    // turned off by a bound `false`); boxed, so the identities' statements can select
    // the page's customers from it.
    let page_of = |shown: &Shown| {
        let mut query = tickets::table
            .left_join(
                customers::table.on(customers::id
                    .eq(tickets::customer_id)
                    .and(shown.customer.into_sql::<Bool>())),
            )
            .left_join(
                channels::table.on(channels::id
                    .eq(tickets::channel_id)
                    .and(shown.channel.into_sql::<Bool>())),
            )
            .left_join(
                users::table.on(users::id
                    .nullable()
                    .eq(tickets::assignee_id)
                    .and(shown.assignee.into_sql::<Bool>())),
            )
            .left_join(
                messages::table.on(messages::id
                    .nullable()
                    .eq(tickets::last_message_id)
                    .and(shown.last_message.into_sql::<Bool>())),
            )
            .left_join(
                ticket_reads::table.on(ticket_reads::ticket_id
                    .eq(tickets::id)
                    .and(ticket_reads::user_id.nullable().eq(shown.read_by))),
            )
            .filter(tickets::org_id.eq(org))
            .limit(page.limit + 1)
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(tickets::status.eq(status));
        }
        if let Some(channel) = filter.channel_id {
            query = query.filter(tickets::channel_id.eq(channel));
        }
        match filter.assignee_id {
            Some(Some(assignee)) => query = query.filter(tickets::assignee_id.eq(assignee)),
            Some(None) => query = query.filter(tickets::assignee_id.is_null()),
            None => {}
        }
        if let Some(customer) = filter.customer_id {
            query = query.filter(tickets::customer_id.eq(customer));
        }
        if let Some(team) = filter.team_id {
            query = query.filter(tickets::team_id.eq(team));
        }
        if let Some(label) = filter.label_id {
            query = query.filter(diesel::dsl::exists(
                ticket_labels::table
                    .filter(ticket_labels::org_id.eq(org))
                    .filter(ticket_labels::label_id.eq(label))
                    .filter(ticket_labels::ticket_id.eq(tickets::id)),
            ));
        }
        match filter.sort {
            TicketSort::LastActivity => {
                query = query.order((tickets::last_message_at.desc(), tickets::id.desc()));
                if let Some(Keyset { at, id }) = page.cursor {
                    query = query.filter(
                        tickets::last_message_at.lt(at).or(tickets::last_message_at
                            .eq(at)
                            .and(tickets::id.lt(TicketId(id)))),
                    );
                }
            }
            TicketSort::WaitingSince => {
                query = query
                    .filter(tickets::waiting_since.is_not_null())
                    .order((tickets::waiting_since.asc(), tickets::id.asc()));
                if let Some(Keyset { at, id }) = page.cursor {
                    query = query.filter(
                        tickets::waiting_since.gt(at).or(tickets::waiting_since
                            .eq(at)
                            .and(tickets::id.gt(TicketId(id)))),
                    );
                }
            }
        }
        query
    };
    let page_customers = || page_of(&Shown::default()).select(tickets::customer_id);
    let tickets = async {
        let mut conn = conn;
        page_of(shown)
            .select((
                Ticket::as_select(),
                Option::<Customer>::as_select(),
                Option::<Channel>::as_select(),
                Option::<User>::as_select(),
                Option::<Message>::as_select(),
                ticket_reads::read_inbound_count.nullable(),
            ))
            .load::<Row>(&mut conn)
            .await
    };
    let identities = async {
        if !shown.identities {
            return Ok(None);
        }
        let mut conn = conn;
        customer_identities::table
            .filter(customer_identities::customer_id.eq_any(page_customers()))
            .order((customer_identities::created_at, customer_identities::id))
            .select(Identity::as_select())
            .load(&mut conn)
            .await
            .map(Some)
    };
    let identity_channels = async {
        if !shown.identity_channels {
            return Ok(None);
        }
        let mut conn = conn;
        channels::table
            .filter(
                channels::id.eq_any(
                    customer_identities::table
                        .filter(customer_identities::customer_id.eq_any(page_customers()))
                        .select(customer_identities::channel_id),
                ),
            )
            .select(Channel::as_select())
            .load(&mut conn)
            .await
            .map(Some)
    };
    let (rows, identities, identity_channels) =
        futures_util::try_join!(tickets, identities, identity_channels)?;
    let rows = rows
        .into_iter()
        .map(
            |(ticket, customer, channel, assignee, last_message, read_count)| PageTicket {
                ticket,
                customer,
                channel,
                assignee,
                last_message,
                read_count,
            },
        )
        .collect();
    Ok(TicketPage {
        tickets: PageRows::from_fetched(rows, page),
        identities,
        identity_channels,
    })
}
