//! Replies end to end: `sendMessage` over GraphQL, the outbound worker, a fake Graph API
//! answering after a fixed delay, until every reply is SENT.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;

use super::fake_graph::FakeGraphState;
use super::seed::BenchOrg;
use super::server::{CpuClock, CpuPerUnit};
use super::stats::{Measured, fixed_count};

/// Outbound figures for one Graph API delay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outbound {
    /// The fake Graph API's answer delay, ms.
    pub graph_latency_ms: u64,
    /// Replies sent.
    pub replies: u64,
    /// `sendMessage` calls (the enqueue side).
    pub enqueue: Measured,
    /// Replies SENT per second, first enqueue to last SENT.
    pub sent_per_second: f64,
    /// Most Graph calls in flight at once.
    pub max_in_flight: usize,
    /// CPU per reply, by process, first enqueue to last SENT.
    pub cpu: CpuPerUnit,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    org_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

const SEND: &str = "mutation($o: ID!, $t: ID!, $i: SendMessageInput!) { sendMessage(orgId: $o, ticketId: $t, input: $i) { id } }";

/// Sends `replies` replies with the fake answering after `latency_ms`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the parameters"
)]
pub async fn run(
    cpu_clock: CpuClock<'_>,
    base_url: &str,
    url: &str,
    fake: &FakeGraphState,
    orgs: Arc<Vec<BenchOrg>>,
    clients: usize,
    replies: u64,
    latency_ms: u64,
    round: u32,
) -> anyhow::Result<Outbound> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    // 20 tickets per org, their 24-hour window opened as a fresh customer message would
    // (only theirs: rewriting every ticket would leave the round 100,000 dead versions).
    let tickets: Vec<Row> = diesel::sql_query(
        "WITH picked AS (SELECT org_id, id, r FROM (SELECT org_id, id, \
           row_number() OVER (PARTITION BY org_id ORDER BY id) AS r FROM tickets WHERE kind = 'DIRECT') t \
           WHERE r <= 20), \
         opened AS (UPDATE tickets SET last_inbound_at = now() FROM picked WHERE tickets.id = picked.id) \
         SELECT org_id, id FROM picked ORDER BY r, org_id",
    )
    .load(&mut conn)
    .await?;
    let tokens: std::collections::HashMap<String, String> = orgs
        .iter()
        .map(|o| (o.id.to_string(), o.token.clone()))
        .collect();
    let targets: Arc<Vec<(String, String, String)>> = Arc::new(
        tickets
            .iter()
            .map(|t| {
                (
                    t.org_id.to_string(),
                    t.id.to_string(),
                    tokens
                        .get(&t.org_id.to_string())
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect(),
    );
    fake.latency_ms.store(latency_ms, Ordering::SeqCst);
    fake.max_in_flight.store(0, Ordering::SeqCst);
    let sent_before = sent(&mut conn).await?;
    let requests_before = fake.counters().0;
    let cpu_before = cpu_clock();
    let client = reqwest::Client::new();
    let endpoint = format!("{base_url}/graphql");
    let started = Instant::now();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (t, c, e) = (targets.clone(), client.clone(), endpoint.clone());
    let enqueue = fixed_count(clients, replies, move |n| {
        let run = run.clone();
        let (org, ticket, token) = t[(n as usize) % t.len()].clone();
        let body = json!({"query": SEND, "variables": {"o": org, "t": ticket,
            "i": {"text": format!("bench reply {round}-{n}"), "clientMessageId": format!("bench-{run}-{round}-{n}")}}});
        let request = c.post(&e).bearer_auth(token).json(&body);
        async move {
            match request.send().await {
                Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v.get("errors").is_none()),
                Err(_) => false,
            }
        }
    })
    .await;
    wait_until_drained(&mut conn, fake, requests_before, replies, started).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = CpuPerUnit::between(cpu_before, cpu_clock(), elapsed, replies as f64);
    check_sent(&mut conn, sent_before, replies).await?;
    Ok(Outbound {
        graph_latency_ms: latency_ms,
        replies,
        enqueue,
        sent_per_second: replies as f64 / elapsed,
        max_in_flight: AtomicUsize::load(&fake.max_in_flight, Ordering::SeqCst),
        cpu,
    })
}

/// Waits until the fake has answered `replies` sends since `requests_before`, reading only
/// its counter, then until no send is pending in the queue. The queue is read only once
/// the sends are answered, so the bench's own polling adds next to nothing to the
/// PostgreSQL CPU charged to the replies.
async fn wait_until_drained(
    conn: &mut AsyncPgConnection,
    fake: &FakeGraphState,
    requests_before: u64,
    replies: u64,
    started: Instant,
) -> anyhow::Result<()> {
    loop {
        if fake.counters().0 - requests_before >= replies {
            let c: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM outbound_jobs WHERE state = 'PENDING'",
            )
            .get_result(conn)
            .await?;
            if c.n == 0 {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "replies were not all sent"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks that at least `replies` more messages than `before` are SENT (after the clocks
/// stop: the count reads the whole table).
async fn check_sent(conn: &mut AsyncPgConnection, before: i64, replies: u64) -> anyhow::Result<()> {
    let sent = sent(conn).await? - before;
    anyhow::ensure!(
        sent >= replies as i64,
        "only {sent} of {replies} replies were sent"
    );
    Ok(())
}

async fn sent(conn: &mut AsyncPgConnection) -> anyhow::Result<i64> {
    let c: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND' AND status = 'SENT'",
    )
    .get_result(conn)
    .await?;
    Ok(c.n)
}

/// The sender alone: `replies` replies queued at once (one transaction), drained by the
/// outbound worker against the fake answering after `latency_ms`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drain {
    /// The fake Graph API's answer delay, ms.
    pub graph_latency_ms: u64,
    /// Replies queued.
    pub replies: u64,
    /// Replies SENT per second.
    pub sent_per_second: f64,
    /// Most Graph calls in flight at once.
    pub max_in_flight: usize,
}

/// Queues `replies` replies in bulk and measures how fast the worker sends them.
pub async fn drain(
    url: &str,
    fake: &FakeGraphState,
    replies: u64,
    latency_ms: u64,
) -> anyhow::Result<Drain> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    diesel::sql_query(
        "UPDATE tickets SET last_inbound_at = now() \
         WHERE id IN (SELECT id FROM tickets WHERE kind = 'DIRECT' ORDER BY id LIMIT $1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(replies as i64)
    .execute(&mut conn)
    .await?;
    fake.latency_ms.store(latency_ms, Ordering::SeqCst);
    fake.max_in_flight.store(0, Ordering::SeqCst);
    let sent_before = sent(&mut conn).await?;
    let (requests_before, busy_before) = fake.counters();
    let started = Instant::now();
    diesel::sql_query(
        "WITH t AS (SELECT id, org_id, channel_id FROM tickets WHERE kind = 'DIRECT' ORDER BY id LIMIT $1), \
              m AS (INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, text, status, sent_at) \
                    SELECT gen_random_uuid(), org_id, id, channel_id, 'OUTBOUND', 'TEXT', 'USER', 'bench drain', 'QUEUED', now() \
                    FROM t RETURNING id, org_id, channel_id) \
         INSERT INTO outbound_jobs (org_id, message_id, channel_id) SELECT org_id, id, channel_id FROM m",
    )
    .bind::<diesel::sql_types::BigInt, _>(replies as i64)
    .execute(&mut conn)
    .await?;
    // Wakes the server's sender, as the server announces the jobs it queues itself.
    conn.batch_execute("NOTIFY outbound_jobs").await?;
    wait_until_drained(&mut conn, fake, requests_before, replies, started).await?;
    let sent_per_second = replies as f64 / started.elapsed().as_secs_f64();
    check_sent(&mut conn, sent_before, replies).await?;
    let (requests_after, busy_after) = fake.counters();
    let (requests, busy) = (requests_after - requests_before, busy_after - busy_before);
    tracing::debug!(requests, busy_micros = busy, "fake Graph API load");
    Ok(Drain {
        graph_latency_ms: latency_ms,
        replies,
        sent_per_second,
        max_in_flight: AtomicUsize::load(&fake.max_in_flight, Ordering::SeqCst),
    })
}
