//! Direct database seeding for read-side tests: a customer with a ticket and messages,
//! written the way ingestion writes them.

use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::TestApp;

/// Ids of a seeded conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Customer id.
    pub customer_id: String,
    /// Ticket id.
    pub ticket_id: String,
    /// Message ids, oldest first.
    pub message_ids: Vec<String>,
}

/// Seeds a customer (identity `external_id` on `channel`) with a DIRECT ticket holding
/// `messages` inbound messages, one minute apart, the last at `last_at`.
pub async fn conversation(
    app: &TestApp,
    org: &str,
    channel: &str,
    name: &str,
    external_id: &str,
    messages: usize,
    last_at: DateTime<Utc>,
) -> Conversation {
    let mut conn = app.db.connect().await;
    let org = Uuid::parse_str(org).unwrap();
    let channel = Uuid::parse_str(channel).unwrap();
    let customer = Uuid::new_v4();
    let ticket = Uuid::new_v4();
    exec(
        &mut conn,
        "INSERT INTO customers (id, org_id, name) VALUES ($1, $2, $3)",
        |q| {
            q.bind::<SqlUuid, _>(customer)
                .bind::<SqlUuid, _>(org)
                .bind::<Text, _>(name.to_owned())
        },
    )
    .await;
    exec(
        &mut conn,
        "INSERT INTO customer_identities (id, org_id, customer_id, channel_id, platform, external_id, username) \
         SELECT $1, $2, $3, $4, platform, $5, $6 FROM channels WHERE id = $4",
        |q| {
            q.bind::<SqlUuid, _>(Uuid::new_v4())
                .bind::<SqlUuid, _>(org)
                .bind::<SqlUuid, _>(customer)
                .bind::<SqlUuid, _>(channel)
                .bind::<Text, _>(external_id.to_owned())
                .bind::<Text, _>(format!("{}_handle", name.to_lowercase()))
        },
    )
    .await;
    exec(
        &mut conn,
        "INSERT INTO tickets (id, org_id, channel_id, customer_id, kind, last_message_at, inbound_count, last_inbound_at) \
         VALUES ($1, $2, $3, $4, 'DIRECT', $5, $6, $5)",
        |q| {
            q.bind::<SqlUuid, _>(ticket)
                .bind::<SqlUuid, _>(org)
                .bind::<SqlUuid, _>(channel)
                .bind::<SqlUuid, _>(customer)
                .bind::<Timestamptz, _>(last_at)
                .bind::<BigInt, _>(messages as i64)
        },
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..messages {
        let id = Uuid::new_v4();
        let sent_at = last_at - Duration::minutes((messages - 1 - i) as i64);
        exec(
            &mut conn,
            "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, author_customer_id, \
             text, external_id, status, sent_at) \
             VALUES ($1, $2, $3, $4, 'INBOUND', 'TEXT', 'CUSTOMER', $5, $6, $7, 'RECEIVED', $8)",
            |q| {
                q.bind::<SqlUuid, _>(id)
                    .bind::<SqlUuid, _>(org)
                    .bind::<SqlUuid, _>(ticket)
                    .bind::<SqlUuid, _>(channel)
                    .bind::<SqlUuid, _>(customer)
                    .bind::<Text, _>(format!("message {i} from {name}"))
                    .bind::<Text, _>(format!("mid.{}", Uuid::new_v4().simple()))
                    .bind::<Timestamptz, _>(sent_at)
            },
        )
        .await;
        ids.push(id.to_string());
    }
    if let Some(last) = ids.last() {
        exec(
            &mut conn,
            "UPDATE tickets SET last_message_id = $1, last_message_preview = 'preview' WHERE id = $2",
            |q| q.bind::<SqlUuid, _>(Uuid::parse_str(last).unwrap()).bind::<SqlUuid, _>(ticket),
        )
        .await;
    }
    Conversation {
        customer_id: customer.to_string(),
        ticket_id: ticket.to_string(),
        message_ids: ids,
    }
}

/// Inserts an unread notification for `user` about `ticket`.
pub async fn notification(
    app: &TestApp,
    org: &str,
    user: &str,
    ticket: &str,
    count: i32,
) -> String {
    let mut conn = app.db.connect().await;
    let id = Uuid::new_v4();
    exec(
        &mut conn,
        "INSERT INTO notifications (id, org_id, user_id, type, ticket_id, count) VALUES ($1, $2, $3, 'NEW_MESSAGE', $4, $5)",
        |q| {
            q.bind::<SqlUuid, _>(id)
                .bind::<SqlUuid, _>(Uuid::parse_str(org).unwrap())
                .bind::<SqlUuid, _>(Uuid::parse_str(user).unwrap())
                .bind::<SqlUuid, _>(Uuid::parse_str(ticket).unwrap())
                .bind::<Integer, _>(count)
        },
    )
    .await;
    id.to_string()
}

async fn exec<Q>(
    conn: &mut AsyncPgConnection,
    sql: &str,
    bind: impl FnOnce(diesel::query_builder::SqlQuery) -> Q,
) where
    Q: diesel_async::methods::ExecuteDsl<AsyncPgConnection>,
{
    bind(diesel::sql_query(sql)).execute(conn).await.unwrap();
}
