//! The media job against a fake CDN: image deliveries whose attachment links point at the
//! bench's fake CDN (50 KiB images, a fixed delay), the copies STORED per second, and
//! webhook ingest with those copies running beside ingest without them, in one run.
//!
//! Order: ingest of text messages alone; then the image deliveries, posted and applied
//! (each queues a media job); then the same text ingest while the media worker copies
//! that backlog; then the rest of the backlog drains with nothing else running.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::fake_graph::{CDN_IMAGE_BYTES, FakeGraphState};
use super::ingest::{delivery, post, signed, wait_drained};
use super::seed::BenchOrg;
use super::stats::{Measured, closed_loop, fixed_count};
use delightchat::simulate::{Kind, build_with_cdn};

/// Media figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Media {
    /// Image deliveries posted.
    pub images: u64,
    /// Size of each image, bytes.
    pub image_bytes: usize,
    /// The fake CDN's answer delay, ms.
    pub cdn_latency_ms: u64,
    /// Text-message ingest, no media jobs running.
    pub ingest_alone: Measured,
    /// The same ingest while the media worker copies images.
    pub ingest_with_media: Measured,
    /// `ingest_with_media` / `ingest_alone`, accepted deliveries per second.
    pub ingest_ratio: f64,
    /// Copies STORED per second during `ingest_with_media`.
    pub stored_per_second_under_ingest: f64,
    /// Media jobs still waiting when `ingest_with_media` ended (above zero: the worker
    /// was busy for the whole window).
    pub backlog_after_ingest: i64,
    /// Copies STORED per second while the rest of the backlog drained, nothing else
    /// running.
    pub stored_per_second_alone: f64,
    /// Copies STORED in all.
    pub stored: i64,
    /// Copies FAILED in all (expected 0).
    pub failed: i64,
    /// Most CDN downloads in flight at once.
    pub cdn_max_in_flight: usize,
}

/// Outcomes of media jobs so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
struct Jobs {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    done: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pending: i64,
}

impl Jobs {
    /// What happened since `before`.
    fn since(self, before: Jobs) -> Jobs {
        Jobs {
            done: self.done - before.done,
            failed: self.failed - before.failed,
            pending: self.pending,
        }
    }
}

/// `part / whole`, 0 when nothing was measured.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Runs the media phase: `images` image deliveries linking to the fake CDN at `cdn`
/// (the fake Graph API's base URL), answering after `cdn_latency_ms`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the parameters"
)]
pub async fn run(
    base: &str,
    url: &str,
    cdn: &str,
    fake: &FakeGraphState,
    orgs: Arc<Vec<BenchOrg>>,
    clients: usize,
    duration: Duration,
    images: u64,
    cdn_latency_ms: u64,
) -> anyhow::Result<Media> {
    fake.cdn_latency_ms.store(cdn_latency_ms, Ordering::SeqCst);
    let mut conn = AsyncPgConnection::establish(url).await?;
    wait_settled(&mut conn).await?;
    let start = jobs(&mut conn).await?;
    let client = reqwest::Client::new();
    let text_ingest = || {
        let (c, b, o) = (client.clone(), base.to_owned(), orgs.clone());
        closed_loop(clients, duration, move |n| {
            let (channel, body, signature) = delivery(&o, n, "bench ingest");
            let (c, b) = (c.clone(), b.clone());
            async move { post(&c, &b, &channel, body, signature).await }
        })
    };

    let ingest_alone = text_ingest().await;
    wait_drained(url).await?;

    let (c, b, o, cdn) = (
        client.clone(),
        base.to_owned(),
        orgs.clone(),
        cdn.to_owned(),
    );
    let posted = fixed_count(clients, images, move |n| {
        let (channel, body, signature) = signed(&o, n, "", |p| {
            build_with_cdn(Kind::IgImage, p, chrono::Utc::now(), &cdn).unwrap_or_default()
        });
        let (c, b) = (c.clone(), b.clone());
        async move { post(&c, &b, &channel, body, signature).await }
    })
    .await;
    anyhow::ensure!(
        posted.errors == 0,
        "{} image deliveries were refused",
        posted.errors
    );
    wait_drained(url).await?;

    let before = jobs(&mut conn).await?;
    let ingest_with_media = text_ingest().await;
    let after = jobs(&mut conn).await?;
    let drain_started = Instant::now();
    wait_settled(&mut conn).await?;
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let end = jobs(&mut conn).await?;

    let total = end.since(start);
    Ok(Media {
        images,
        image_bytes: CDN_IMAGE_BYTES,
        cdn_latency_ms,
        ingest_ratio: ratio(ingest_with_media.per_second, ingest_alone.per_second),
        stored_per_second_under_ingest: ratio(
            after.since(before).done as f64,
            ingest_with_media.seconds,
        ),
        backlog_after_ingest: after.pending,
        stored_per_second_alone: ratio(end.since(after).done as f64, drain_seconds),
        ingest_alone,
        ingest_with_media,
        stored: total.done,
        failed: total.failed,
        // Spelled out: `RunQueryDsl::load` would be picked for a by-value receiver.
        cdn_max_in_flight: AtomicUsize::load(&fake.cdn_max_in_flight, Ordering::SeqCst),
    })
}

async fn jobs(conn: &mut AsyncPgConnection) -> anyhow::Result<Jobs> {
    Ok(diesel::sql_query(
        "SELECT count(*) FILTER (WHERE state = 'DONE') AS done, \
                count(*) FILTER (WHERE state = 'FAILED') AS failed, \
                count(*) FILTER (WHERE state = 'PENDING') AS pending FROM media_jobs",
    )
    .get_result(conn)
    .await?)
}

/// Waits until no media job is pending.
async fn wait_settled(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    while jobs(conn).await?.pending > 0 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "the media backlog did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_differences_and_safe_ratios() {
        let before = Jobs {
            done: 10,
            failed: 1,
            pending: 90,
        };
        let after = Jobs {
            done: 60,
            failed: 1,
            pending: 40,
        };
        assert_eq!(
            after.since(before),
            Jobs {
                done: 50,
                failed: 0,
                pending: 40
            }
        );
        assert_eq!(ratio(50.0, 2.0), 25.0);
        assert_eq!(ratio(5.0, 0.0), 0.0);
    }
}
