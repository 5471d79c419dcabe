//! Webhook ingest: signed deliveries posted by many connections, the peak rate and the
//! latency at half of it, and how fast the workers drain what was accepted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::seed::BenchOrg;
use super::server::{CpuClock, CpuPerUnit};
use super::stats::{Measured, closed_loop, open_loop};
use delightchat::simulate::{Kind, Params, build};
use delightchat::webhooks::signature;

/// Ingest figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ingest {
    /// Closed loop, deliveries with a wrong signature: the HTTP, body and HMAC share of
    /// the work, without storage (answered 403).
    pub refused: Measured,
    /// Closed loop: as fast as `clients` connections can go.
    pub peak: Measured,
    /// Open loop at half the peak rate.
    pub half_peak: Measured,
    /// Deliveries processed per second while ingesting and draining.
    pub processed_per_second: f64,
    /// Deliveries waiting when the peak phase stopped posting.
    pub peak_backlog: i64,
    /// Seconds the backlog took to drain after posting stopped.
    pub drain_seconds: f64,
    /// Where the machine's CPU went over the peak phase and its drain, per delivery.
    pub cpu: CpuPerUnit,
    /// Deliveries still waiting when the half-peak phase ended (processing kept up when
    /// this stays small).
    pub half_peak_backlog: i64,
    /// Seconds that backlog took to drain.
    pub half_peak_drain_seconds: f64,
    /// Facts waiting for a message they name (`pending_facts` rows) once everything
    /// was applied.
    pub pending_facts: i64,
}

/// A signed IG DM delivery for one of the orgs.
pub fn delivery(orgs: &[BenchOrg], n: u64, text: &str) -> (String, Vec<u8>, String) {
    signed(orgs, n, text, |params| {
        build(Kind::IgDm, params, chrono::Utc::now()).unwrap_or_default()
    })
}

/// The `n`th delivery, of body `body`, for one of the orgs: its channel, the body and
/// its signature.
pub fn signed(
    orgs: &[BenchOrg],
    n: u64,
    text: &str,
    body: impl FnOnce(&Params) -> Vec<u8>,
) -> (String, Vec<u8>, String) {
    let org = &orgs[(n as usize) % orgs.len()];
    let params = Params {
        account_id: org.account.clone(),
        from: format!("igsid{}", 1 + (n % 5000)),
        name: "Bench".into(),
        text: text.to_owned(),
        message_id: None,
        status: "delivered".into(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    };
    let body = body(&params);
    let signature = signature::sign(&body, org.app_secret.as_bytes());
    (org.channel.to_string(), body, signature)
}

/// Posts one delivery; `true` on 200.
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    channel: &str,
    body: Vec<u8>,
    signature: String,
) -> bool {
    client
        .post(format!("{base}/webhook/{channel}"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Runs the ingest phases against the server at `base`.
pub async fn run(
    base: &str,
    url: &str,
    orgs: Arc<Vec<BenchOrg>>,
    clients: usize,
    duration: Duration,
    cpu_clock: CpuClock<'_>,
) -> anyhow::Result<Ingest> {
    let client = reqwest::Client::new();
    let (c, b, o) = (client.clone(), base.to_owned(), orgs.clone());
    let refused = closed_loop(clients, duration, move |n| {
        let (channel, body, _) = delivery(&o, n, "bench ingest");
        let forged = signature::sign(&body, b"not the app secret");
        let (c, b) = (c.clone(), b.clone());
        async move {
            c.post(format!("{b}/webhook/{channel}"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", forged)
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 403)
        }
    })
    .await;
    let before = processed(url).await?;
    let cpu_before = cpu_clock();
    let started = Instant::now();
    let (c, b, o) = (client.clone(), base.to_owned(), orgs.clone());
    let peak = closed_loop(clients, duration, move |n| {
        let (channel, body, signature) = delivery(&o, n, "bench ingest");
        let (c, b) = (c.clone(), b.clone());
        async move { post(&c, &b, &channel, body, signature).await }
    })
    .await;
    let peak_backlog = pending(url).await?;
    let drain_started = Instant::now();
    wait_drained(url).await?;
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_clock();
    let applied = (processed(url).await? - before).max(1) as f64;
    let processed_per_second = applied / elapsed;
    let cpu = CpuPerUnit::between(cpu_before, cpu_after, elapsed, applied);
    let rate = (peak.per_second / 2.0).max(1.0);
    let (c, b, o) = (client.clone(), base.to_owned(), orgs.clone());
    let half_peak = open_loop(rate, duration, move |n| {
        let (channel, body, signature) = delivery(&o, n, "bench ingest");
        let (c, b) = (c.clone(), b.clone());
        async move { post(&c, &b, &channel, body, signature).await }
    })
    .await;
    let half_peak_backlog = pending(url).await?;
    let drain_started = Instant::now();
    wait_drained(url).await?;
    let half_peak_drain_seconds = drain_started.elapsed().as_secs_f64();
    let pending_facts = count(url, "SELECT count(*) AS n FROM pending_facts").await?;
    Ok(Ingest {
        refused,
        peak,
        half_peak,
        processed_per_second,
        peak_backlog,
        drain_seconds,
        cpu,
        half_peak_backlog,
        half_peak_drain_seconds,
        pending_facts,
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn processed(url: &str) -> anyhow::Result<i64> {
    count(
        url,
        "SELECT count(*) AS n FROM webhook_events WHERE state <> 'PENDING'",
    )
    .await
}

/// Deliveries waiting to be processed.
async fn pending(url: &str) -> anyhow::Result<i64> {
    count(
        url,
        "SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING'",
    )
    .await
}

/// The `n` of a one-row count query.
async fn count(url: &str, sql: &str) -> anyhow::Result<i64> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let c: Count = diesel::sql_query(sql).get_result(&mut conn).await?;
    Ok(c.n)
}

/// Waits until no delivery is pending.
pub async fn wait_drained(url: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let started = Instant::now();
    loop {
        let c: Count =
            diesel::sql_query("SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING'")
                .get_result(&mut conn)
                .await?;
        if c.n == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the backlog did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
