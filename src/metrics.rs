//! Process-wide counters, rendered in the Prometheus text format on `/metrics`
//! together with gauges read from the database at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters of this process.
#[derive(Debug, Default)]
pub struct Metrics {
    http: HttpLatencies,
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

    /// Records one HTTP request's latency under a route label.
    pub fn http_request(&self, route: Route, elapsed: std::time::Duration) {
        self.http.observe(route, elapsed);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.http.render(&mut out);
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

/// Appends one gauge with one value per `label` value, in Prometheus text format.
pub fn labelled_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, f64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (value_label, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value_label}\"}} {value}");
    }
}

/// Route families whose latencies are tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/graphql` (HTTP; WebSocket upgrades are counted at upgrade).
    Graphql,
    /// `/webhook` and `/webhook/{id}`.
    Webhook,
    /// Everything else.
    Other,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Graphql => "graphql",
            Route::Webhook => "webhook",
            Route::Other => "other",
        }
    }

    /// The family of a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/graphql") {
            Route::Graphql
        } else if path.starts_with("/webhook") {
            Route::Webhook
        } else {
            Route::Other
        }
    }
}

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Cumulative latency histograms per route family.
#[derive(Debug, Default)]
struct HttpLatencies {
    routes: [Histogram; 3],
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl HttpLatencies {
    fn observe(&self, route: Route, elapsed: std::time::Duration) {
        let histogram = &self.routes[route as usize];
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        histogram.count.fetch_add(1, Ordering::Relaxed);
        histogram.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String) {
        let name = "delightchat_http_request_duration_seconds";
        let _ = write!(
            out,
            "# HELP {name} HTTP request latency by route.\n# TYPE {name} histogram\n"
        );
        for route in [Route::Graphql, Route::Webhook, Route::Other] {
            let h = &self.routes[route as usize];
            let label = route.label();
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{label}\",le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "{name}_sum{{route=\"{label}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count{{route=\"{label}\"}} {count}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_cumulative_buckets() {
        let m = Metrics::default();
        m.webhook_received();
        m.send_outcome("failed_190");
        m.http_request(Route::of("/graphql"), std::time::Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("delightchat_webhooks_received_total 1"));
        assert!(text.contains("delightchat_send_outcomes_total{outcome=\"failed_190\"} 1"));
        assert!(text.contains(
            "delightchat_http_request_duration_seconds_bucket{route=\"graphql\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "delightchat_http_request_duration_seconds_bucket{route=\"graphql\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains("delightchat_http_request_duration_seconds_count{route=\"graphql\"} 1")
        );
    }
}
