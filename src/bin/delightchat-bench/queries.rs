//! The dashboard's read queries at 64 concurrent clients: the inbox page, a
//! conversation page and the notification count; and at one client, the inbox page
//! filtered by a common label and by one on old tickets, and sorted by `waitingSince`.

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::seed::BenchOrg;
use super::stats::{Measured, closed_loop};

const INBOX: &str = "query($o: ID!) { org(id: $o) { tickets(first: 50) { edges { cursor node { id status priority lastMessageAt
  lastMessagePreview unreadCount customer { id name identities { platform username } } channel { id name platform }
  lastMessage { id text direction createdAt } } } pageInfo { hasNextPage endCursor } } } }";
const CONVERSATION: &str = "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { id status customer { name }
  messages(last: 50) { edges { node { id direction kind text status createdAt attachments { type url } reactions { emoji }
  author { type } } } pageInfo { hasPreviousPage startCursor } } } } }";
const LABELLED: &str = "query($o: ID!, $l: ID!) { org(id: $o) { tickets(first: 50, labelId: $l) { edges { cursor node { id status
  lastMessageAt lastMessagePreview unreadCount customer { id name } channel { id name } lastMessage { id text } } } pageInfo { hasNextPage endCursor } } } }";
const WAITING: &str = "query($o: ID!) { org(id: $o) { tickets(first: 50, sort: WAITING_SINCE) { edges { cursor node { id status
  waitingSince lastMessagePreview unreadCount customer { id name } channel { id name } lastMessage { id text } } } pageInfo { hasNextPage endCursor } } } }";
/// Every third ticket of each org carries this label (added before the phase, once).
const BENCH_LABEL: &str = "bench-vip";
/// Each org's 500 least recently active tickets (when it was added) carry this label:
/// enough rows for the label page to try its walk, too few recent ones for it to fill a page.
const OLD_LABEL: &str = "bench-old";
const COUNT: &str = "query($o: ID!) { org(id: $o) { unreadNotificationCount } }";

/// Clients of the low-concurrency latency run.
pub const LIGHT_CLIENTS: usize = 1;

/// Read-side figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Queries {
    /// First 50 tickets with customer, channel and last message, at full concurrency.
    pub inbox_page: Measured,
    /// The same with [`LIGHT_CLIENTS`] clients: latency without queueing behind a
    /// saturated CPU.
    pub inbox_page_light: Measured,
    /// Server plus PostgreSQL CPU per inbox page at full concurrency, milliseconds.
    pub inbox_page_cpu_ms: f64,
    /// 50 messages of a ticket.
    pub conversation_page: Measured,
    /// The same with [`LIGHT_CLIENTS`] clients.
    pub conversation_page_light: Measured,
    /// Unread notification count.
    pub notification_count: Measured,
    /// The inbox page filtered by a label on a third of the tickets, 1 client.
    pub inbox_page_labelled_light: Measured,
    /// The inbox page filtered by a label on each org's 500 oldest tickets, 1 client.
    pub inbox_page_old_label_light: Measured,
    /// The inbox page of waiting tickets, longest wait first, 1 client.
    pub inbox_page_waiting_light: Measured,
}

#[derive(QueryableByName)]
struct LabelRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    org_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
}

/// Gives each org the label `name` on the tickets `picked` (a query of `org_id, id`)
/// selects, once (idempotent); the label ids.
async fn label_tickets(
    conn: &mut AsyncPgConnection,
    name: &str,
    picked: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    diesel::sql_query(format!(
        "INSERT INTO labels (id, org_id, name, colour) \
         SELECT gen_random_uuid(), id, '{name}', '#ff8800' FROM orgs \
         ON CONFLICT DO NOTHING"
    ))
    .execute(conn)
    .await?;
    let labels: Vec<LabelRow> = diesel::sql_query(format!(
        "SELECT org_id, id FROM labels WHERE name = '{name}'"
    ))
    .load(conn)
    .await?;
    diesel::sql_query(format!(
        "INSERT INTO ticket_labels (org_id, ticket_id, label_id) \
         SELECT t.org_id, t.id, l.id FROM ({picked}) t \
         JOIN labels l ON l.org_id = t.org_id AND l.name = '{name}' \
         WHERE NOT EXISTS (SELECT 1 FROM ticket_labels x WHERE x.label_id = l.id)"
    ))
    .execute(conn)
    .await?;
    Ok(labels
        .iter()
        .map(|l| (l.org_id.to_string(), l.id.to_string()))
        .collect())
}

#[derive(QueryableByName)]
struct TicketRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    org_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
}

/// Runs the three queries for `duration` each.
pub async fn run(
    base: &str,
    url: &str,
    orgs: Arc<Vec<BenchOrg>>,
    clients: usize,
    duration: Duration,
    cpu_seconds: &(dyn Fn() -> f64 + Sync),
) -> anyhow::Result<Queries> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let mut tickets: Vec<TicketRow> =
        diesel::sql_query("SELECT org_id, id FROM tickets TABLESAMPLE SYSTEM (5) LIMIT 2000")
            .load(&mut conn)
            .await?;
    if tickets.is_empty() {
        // A sample of a small table's pages can be empty: take its first tickets instead.
        tickets = diesel::sql_query("SELECT org_id, id FROM tickets LIMIT 2000")
            .load(&mut conn)
            .await?;
    }
    anyhow::ensure!(!tickets.is_empty(), "the dataset has no tickets");
    let labels = Arc::new(
        label_tickets(
            &mut conn,
            BENCH_LABEL,
            "SELECT org_id, id FROM tickets WHERE get_byte(uuid_send(id), 15) % 3 = 0",
        )
        .await?,
    );
    let old_labels = Arc::new(
        label_tickets(
            &mut conn,
            OLD_LABEL,
            "SELECT org_id, id FROM (SELECT org_id, id, row_number() OVER \
             (PARTITION BY org_id ORDER BY last_message_at, id) AS n FROM tickets) r WHERE n <= 500",
        )
        .await?,
    );
    let tickets: Arc<Vec<(String, String)>> = Arc::new(
        tickets
            .iter()
            .map(|t| (t.org_id.to_string(), t.id.to_string()))
            .collect(),
    );
    let client = reqwest::Client::new();
    let endpoint = format!("{base}/graphql");
    let tokens: Arc<Vec<(String, String)>> = Arc::new(
        orgs.iter()
            .map(|o| (o.id.to_string(), o.token.clone()))
            .collect(),
    );
    let token_of = {
        let tokens = tokens.clone();
        move |org: &str| {
            tokens
                .iter()
                .find(|(o, _)| o == org)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        }
    };
    let post = {
        let client = client.clone();
        let endpoint = endpoint.clone();
        move |token: String, query: &'static str, variables: serde_json::Value| {
            let request = client
                .post(&endpoint)
                .bearer_auth(token)
                .json(&json!({"query": query, "variables": variables}));
            async move {
                match request.send().await {
                    Ok(response) => response
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|v| v.get("errors").is_none()),
                    Err(_) => false,
                }
            }
        }
    };
    let (p, t) = (post.clone(), tokens.clone());
    let cpu_before = cpu_seconds();
    let inbox_page = closed_loop(clients, duration, move |n| {
        let (org, token) = t[(n as usize) % t.len()].clone();
        p(token, INBOX, json!({"o": org}))
    })
    .await;
    let inbox_page_cpu_ms = (cpu_seconds() - cpu_before) * 1000.0 / (inbox_page.ok.max(1) as f64);
    let (p, t) = (post.clone(), tokens.clone());
    let inbox_page_light = closed_loop(LIGHT_CLIENTS, duration, move |n| {
        let (org, token) = t[(n as usize) % t.len()].clone();
        p(token, INBOX, json!({"o": org}))
    })
    .await;
    let (p, tk, to) = (post.clone(), tickets.clone(), token_of.clone());
    let conversation_page = closed_loop(clients, duration, move |n| {
        let (org, ticket) = tk[(n as usize) % tk.len()].clone();
        p(to(&org), CONVERSATION, json!({"o": org, "t": ticket}))
    })
    .await;
    let (p, tk, to) = (post.clone(), tickets.clone(), token_of.clone());
    let conversation_page_light = closed_loop(LIGHT_CLIENTS, duration, move |n| {
        let (org, ticket) = tk[(n as usize) % tk.len()].clone();
        p(to(&org), CONVERSATION, json!({"o": org, "t": ticket}))
    })
    .await;
    let (p, t) = (post.clone(), tokens.clone());
    let notification_count = closed_loop(clients, duration, move |n| {
        let (org, token) = t[(n as usize) % t.len()].clone();
        p(token, COUNT, json!({"o": org}))
    })
    .await;
    let (p, to, l) = (post.clone(), token_of.clone(), labels.clone());
    let inbox_page_labelled_light = closed_loop(LIGHT_CLIENTS, duration, move |n| {
        let (org, label) = l[(n as usize) % l.len()].clone();
        p(to(&org), LABELLED, json!({"o": org, "l": label}))
    })
    .await;
    let (p, to, l) = (post.clone(), token_of, old_labels.clone());
    let inbox_page_old_label_light = closed_loop(LIGHT_CLIENTS, duration, move |n| {
        let (org, label) = l[(n as usize) % l.len()].clone();
        p(to(&org), LABELLED, json!({"o": org, "l": label}))
    })
    .await;
    let (p, t) = (post.clone(), tokens.clone());
    let inbox_page_waiting_light = closed_loop(LIGHT_CLIENTS, duration, move |n| {
        let (org, token) = t[(n as usize) % t.len()].clone();
        p(token, WAITING, json!({"o": org}))
    })
    .await;
    Ok(Queries {
        inbox_page_labelled_light,
        inbox_page_old_label_light,
        inbox_page_waiting_light,
        inbox_page,
        inbox_page_light,
        inbox_page_cpu_ms,
        conversation_page,
        conversation_page_light,
        notification_count,
    })
}
