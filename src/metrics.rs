//! Process-wide counters, rendered in the Prometheus text format on `/metrics`
//! together with gauges read from the database at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters of this process.
#[derive(Debug, Default)]
pub struct Metrics {
    send_outcomes: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    webhooks_received: AtomicU64,
    webhooks_processed: AtomicU64,
    webhooks_retried: AtomicU64,
    webhooks_parked: AtomicU64,
}

impl Metrics {
    /// A delivery was stored (answered 200).
    pub fn webhook_received(&self) {
        self.webhooks_received.fetch_add(1, Ordering::Relaxed);
    }

    /// A stored delivery was applied.
    pub fn webhook_processed(&self) {
        self.webhooks_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery failed and was scheduled for another attempt.
    pub fn webhook_retried(&self) {
        self.webhooks_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery was parked for operators.
    pub fn webhook_parked(&self) {
        self.webhooks_parked.fetch_add(1, Ordering::Relaxed);
    }

    /// A send attempt ended with `outcome` (`sent`, `retry`, `uncertain`, `failed_<code>`).
    pub fn send_outcome(&self, outcome: &str) {
        let mut outcomes = self.send_outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *outcomes.entry(outcome.to_owned()).or_default() += 1;
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let outcomes = self.send_outcomes.lock().unwrap_or_else(|p| p.into_inner());
            out.push_str(
                "# HELP delightchat_send_outcomes_total Outbound send attempts by outcome.\n",
            );
            out.push_str("# TYPE delightchat_send_outcomes_total counter\n");
            for (outcome, n) in outcomes.iter() {
                let _ = writeln!(
                    out,
                    "delightchat_send_outcomes_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        for (name, help, value) in [
            (
                "delightchat_webhooks_received_total",
                "Webhook deliveries stored and answered 200.",
                &self.webhooks_received,
            ),
            (
                "delightchat_webhooks_processed_total",
                "Stored deliveries applied to the inbox.",
                &self.webhooks_processed,
            ),
            (
                "delightchat_webhooks_retried_total",
                "Delivery processing attempts that failed and were rescheduled.",
                &self.webhooks_retried,
            ),
            (
                "delightchat_webhooks_parked_total",
                "Deliveries parked after failing for good.",
                &self.webhooks_parked,
            ),
        ] {
            counter(&mut out, name, help, value.load(Ordering::Relaxed));
        }
        out
    }
}

/// Appends one counter in Prometheus text format.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

/// Appends one gauge in Prometheus text format.
pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}
