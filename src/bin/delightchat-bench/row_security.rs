//! What row-level security costs: the inbox page's ticket query and a conversation's
//! message query at one client, run the way the server runs them (a checkout scoped to a
//! viewer, then the query under the policies) and as the tables' owner (no policy, no
//! scoping statement), in the same run.

use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use delightchat::db::ids::{TicketId, UserId};
use delightchat::db::page::PageQuery;
use delightchat::db::scope::Scope;
use delightchat::db::tickets::TicketFilter;
use delightchat::db::{self, PooledConn, QueryCounter, SessionLimits, messages, tickets};

use super::seed::BenchOrg;
use super::stats::{Measured, closed_loop};

/// The two queries, scoped and as the owner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowSecurity {
    /// 50 tickets of the inbox, through a viewer-scoped checkout.
    pub inbox_scoped: Measured,
    /// The same as the owner.
    pub inbox_owner: Measured,
    /// The last 50 messages of a ticket, through a viewer-scoped checkout.
    pub messages_scoped: Measured,
    /// The same as the owner.
    pub messages_owner: Measured,
}

#[derive(QueryableByName)]
struct Subjects {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    ticket_id: Uuid,
}

/// The query of one measurement.
#[derive(Clone, Copy)]
enum Query {
    Inbox,
    Messages(TicketId),
}

impl Query {
    async fn run(self, conn: &mut AsyncPgConnection, org: &BenchOrg) -> bool {
        match self {
            Query::Inbox => tickets::list(
                conn,
                org.id,
                &TicketFilter::default(),
                &PageQuery::first(50),
            )
            .await
            .is_ok_and(|page| !page.rows.is_empty()),
            Query::Messages(ticket) => {
                let last = PageQuery {
                    backward: true,
                    ..PageQuery::first(50)
                };
                messages::list(conn, ticket, &last)
                    .await
                    .is_ok_and(|page| !page.rows.is_empty())
            }
        }
    }
}

/// Measures both queries both ways for `duration` each, on `org`'s data.
pub async fn run(
    bench_url: &str,
    org: &BenchOrg,
    duration: Duration,
) -> anyhow::Result<RowSecurity> {
    let mut owner = AsyncPgConnection::establish(bench_url).await?;
    let subjects = diesel::sql_query(
        "SELECT m.user_id, t.id AS ticket_id FROM memberships m \
         JOIN tickets t ON t.org_id = m.org_id \
         WHERE m.org_id = $1 ORDER BY t.last_message_at DESC LIMIT 1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id.0)
    .get_result::<Subjects>(&mut owner)
    .await?;
    let viewer = Scope::Viewer(UserId(subjects.user_id));
    let messages = Query::Messages(TicketId(subjects.ticket_id));
    let scoped_pool = db::pool(bench_url, 2, SessionLimits::API, QueryCounter::default())?;
    let owner_pool =
        diesel_async::pooled_connection::deadpool::Pool::builder(AsyncDieselConnectionManager::<
            AsyncPgConnection,
        >::new(bench_url))
        .max_size(2)
        .build()?;

    let scoped = async |query: Query| {
        let (pool, org) = (scoped_pool.clone(), org.clone());
        closed_loop(1, duration, move |_| {
            let (pool, org) = (pool.clone(), org.clone());
            async move {
                let conn: Result<PooledConn, _> = pool.checkout(viewer).await;
                match conn {
                    Ok(mut conn) => query.run(&mut conn, &org).await,
                    Err(_) => false,
                }
            }
        })
        .await
    };
    let as_owner = async |query: Query| {
        let (pool, org) = (owner_pool.clone(), org.clone());
        closed_loop(1, duration, move |_| {
            let (pool, org) = (pool.clone(), org.clone());
            async move {
                match pool.get().await {
                    Ok(mut conn) => query.run(&mut conn, &org).await,
                    Err(_) => false,
                }
            }
        })
        .await
    };
    Ok(RowSecurity {
        inbox_owner: as_owner(Query::Inbox).await,
        inbox_scoped: scoped(Query::Inbox).await,
        messages_owner: as_owner(messages).await,
        messages_scoped: scoped(messages).await,
    })
}
