//! The benchmark's results: JSON for machines, Markdown (with each figure beside its
//! ceiling and the targets marked met or not) for people.

use std::fmt::Write as _;

use super::ingest::Ingest;
use super::live::Live;
use super::outbound::Outbound;
use super::queries::Queries;
use super::seed::Sizes;
use super::stats::Measured;

/// The machine the numbers come from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads `/proc`.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
        let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

/// What this machine can do at best, measured in the same run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ceilings {
    /// Single-row durable INSERTs, one connection (one WAL flush each).
    pub insert: Measured,
    /// Single-row INSERTs from as many connections as HTTP clients.
    pub concurrent_insert: Measured,
    /// `SELECT 1` on a pool.
    pub query: Measured,
    /// `GET /healthz`.
    pub http: Measured,
}

/// Everything one run measured (phases not run are absent).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    /// Where.
    pub machine: Machine,
    /// Dataset.
    pub sizes: Sizes,
    /// Seconds seeding took.
    pub seed_seconds: f64,
    /// Whether the server used Redis for its bus.
    pub redis: bool,
    /// Concurrent clients of HTTP phases.
    pub clients: usize,
    /// Seconds per phase.
    pub seconds: u64,
    /// Ceilings.
    pub ceilings: Option<Ceilings>,
    /// Read queries.
    pub reads: Option<Queries>,
    /// Webhook ingest.
    pub ingest: Option<Ingest>,
    /// Live fan-out per subscriber count.
    pub live: Vec<Live>,
    /// Outbound rounds.
    pub outbound: Vec<Outbound>,
    /// The outbound worker draining a pre-filled queue.
    pub outbound_drain: Option<super::outbound::Drain>,
    /// The media job against a fake CDN, and ingest beside it.
    pub media: Option<super::media::Media>,
    /// A normal client next to a hostile one.
    pub hostile: Option<super::hostile::Hostile>,
    /// Row-level security's cost on the read queries.
    pub row_security: Option<super::row_security::RowSecurity>,
}

fn row(out: &mut String, name: &str, m: &Measured, ceiling: Option<(&str, &Measured)>) {
    let ratio = ceiling.map_or(String::new(), |(label, c)| {
        format!(
            "{:.2}x {label} ({:.0}/s)",
            m.per_second / c.per_second.max(1e-9),
            c.per_second
        )
    });
    let _ = writeln!(
        out,
        "| {name} | {:.0}/s | {:.2} | {:.2} | {} | {ratio} |",
        m.per_second, m.p50_ms, m.p99_ms, m.errors
    );
}

/// The media job's throughput, and ingest beside it.
fn media_section(out: &mut String, m: &super::media::Media) {
    let _ = writeln!(
        out,
        "\n## Media (Instagram image deliveries, {} KiB images from a fake CDN answering in {} ms)\n",
        m.image_bytes / 1024,
        m.cdn_latency_ms
    );
    let _ = writeln!(
        out,
        "| phase | rate | p50 ms | p99 ms | errors | vs ceiling |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    row(out, "webhook ingest, no media jobs", &m.ingest_alone, None);
    row(
        out,
        "webhook ingest while the media worker copies",
        &m.ingest_with_media,
        Some(("ingest without media", &m.ingest_alone)),
    );
    let _ = writeln!(
        out,
        "\n{} images: {} STORED, {} FAILED. The media worker stored {:.0} copies/s beside that ingest \
         ({} jobs were still waiting when it ended) and {:.0} copies/s with nothing else running; \
         {} CDN downloads in flight at most. Ingest with media jobs running / without: {:.2}.",
        m.images,
        m.stored,
        m.failed,
        m.stored_per_second_under_ingest,
        m.backlog_after_ingest,
        m.stored_per_second_alone,
        m.cdn_max_in_flight,
        m.ingest_ratio
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The Markdown report.
pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Machine and dataset\n");
    let _ = writeln!(
        out,
        "- CPU: {} ({} logical CPUs), {} GiB RAM, Linux {}",
        r.machine.cpu, r.machine.cpus, r.machine.memory_gib, r.machine.kernel
    );
    let _ = writeln!(
        out,
        "- Dataset: {} orgs, {} customers, {} tickets, {} messages (seeded in {:.0} s)",
        r.sizes.orgs,
        r.sizes.customers,
        r.sizes.tickets(),
        r.sizes.messages(),
        r.seed_seconds
    );
    let _ = writeln!(
        out,
        "- Server: one `delightchat serve` child process (workers in-process), bus: {}; load generator in the bench process on the same machine; {} clients, {} s per phase\n",
        if r.redis { "Redis" } else { "in-process" },
        r.clients,
        r.seconds
    );
    let c = r.ceilings.as_ref();
    let insert = c.map(|c| ("single-row INSERT", &c.insert));
    let http = c.map(|c| ("GET /healthz", &c.http));
    let _ = writeln!(out, "## Throughput and latency\n");
    let _ = writeln!(
        out,
        "| phase | rate | p50 ms | p99 ms | errors | vs ceiling |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    if let Some(c) = c {
        row(
            &mut out,
            "ceiling: single-row durable INSERT, 1 connection",
            &c.insert,
            None,
        );
        let concurrent = format!(
            "single-row INSERT, {} connections (PostgreSQL shares their WAL flushes)",
            r.clients
        );
        row(&mut out, &concurrent, &c.concurrent_insert, None);
        row(&mut out, "ceiling: SELECT 1 on a pool", &c.query, None);
        row(&mut out, "ceiling: GET /healthz", &c.http, None);
    }
    if let Some(i) = &r.ingest {
        row(
            &mut out,
            "webhook POST with a wrong signature (HTTP + HMAC, nothing stored), peak",
            &i.refused,
            http,
        );
        row(&mut out, "webhook ingest, peak", &i.peak, insert);
        row(
            &mut out,
            "webhook ingest at half the peak rate",
            &i.half_peak,
            insert,
        );
    }
    if let Some(q) = &r.reads {
        row(
            &mut out,
            "inbox page (50 tickets + customer, channel, last message)",
            &q.inbox_page,
            http,
        );
        let light = format!("inbox page, {} client(s)", super::queries::LIGHT_CLIENTS);
        row(&mut out, &light, &q.inbox_page_light, http);
        let labelled = format!(
            "inbox page filtered by a label (a third of the tickets), {} client(s)",
            super::queries::LIGHT_CLIENTS
        );
        row(&mut out, &labelled, &q.inbox_page_labelled_light, http);
        let old_label = format!(
            "inbox page filtered by a label on the 500 oldest tickets, {} client(s)",
            super::queries::LIGHT_CLIENTS
        );
        row(&mut out, &old_label, &q.inbox_page_old_label_light, http);
        let waiting = format!(
            "inbox page sorted by waitingSince, {} client(s)",
            super::queries::LIGHT_CLIENTS
        );
        row(&mut out, &waiting, &q.inbox_page_waiting_light, http);
        row(
            &mut out,
            "conversation page (50 messages)",
            &q.conversation_page,
            http,
        );
        let light = format!(
            "conversation page, {} client(s)",
            super::queries::LIGHT_CLIENTS
        );
        row(&mut out, &light, &q.conversation_page_light, http);
        row(
            &mut out,
            "unread notification count",
            &q.notification_count,
            http,
        );
    }
    if let Some(i) = &r.ingest {
        let _ = writeln!(
            out,
            "\nWebhook processing: {:.0} deliveries/s applied while ingesting; {} deliveries were waiting when posting stopped, drained in {:.1} s ({:.0}/s with nothing posted). \
             At half the peak rate, {} deliveries were waiting when posting stopped, drained in {:.1} s. \
             Facts waiting for a message they name afterwards: {}.",
            i.processed_per_second,
            i.peak_backlog,
            i.drain_seconds,
            i.peak_backlog as f64 / i.drain_seconds.max(1e-9),
            i.half_peak_backlog,
            i.half_peak_drain_seconds,
            i.pending_facts
        );
    }
    if !r.live.is_empty() {
        let _ = writeln!(
            out,
            "\n## Live updates (webhook POST to subscriber socket)\n"
        );
        let _ = writeln!(
            out,
            "| subscribers | orgs | deliveries | p50 ms | p99 ms | KiB per idle subscription | fan-out deliveries/s |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for l in &r.live {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2} | {:.1} | {:.0} |",
                l.subscribers,
                l.orgs,
                l.latency.ok,
                l.latency.p50_ms,
                l.latency.p99_ms,
                l.kib_per_subscription,
                l.fanout_per_second
            );
        }
    }
    if !r.outbound.is_empty() {
        let _ = writeln!(
            out,
            "\n## Outbound replies (sendMessage to SENT, fake Graph API)\n"
        );
        let _ = writeln!(
            out,
            "| Graph API delay | replies | sendMessage p50 / p99 ms | SENT/s | max in flight | CPU ms per reply: server / PostgreSQL / load generator / available |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for o in &r.outbound {
            let _ = writeln!(
                out,
                "| {} ms | {} | {:.2} / {:.2} | {:.0} | {} | {:.3} / {:.3} / {:.3} / {:.3} |",
                o.graph_latency_ms,
                o.replies,
                o.enqueue.p50_ms,
                o.enqueue.p99_ms,
                o.sent_per_second,
                o.max_in_flight,
                o.cpu.server_ms,
                o.cpu.postgres_ms,
                o.cpu.load_generator_ms,
                o.cpu.available_ms
            );
        }
    }
    if let Some(d) = &r.outbound_drain {
        let _ = writeln!(
            out,
            "\nThe outbound worker alone, {} replies queued at once, Graph API answering in {} ms: {:.0} SENT/s, {} calls in flight at most.",
            d.replies, d.graph_latency_ms, d.sent_per_second, d.max_in_flight
        );
    }
    if let Some(m) = &r.media {
        media_section(&mut out, m);
    }
    if let Some(h) = &r.hostile {
        let _ = writeln!(out, "\n## A normal client next to a hostile one\n");
        let _ = writeln!(
            out,
            "`{{ me {{ id memberships {{ role }} }} }}` at 100/s, alone and while a hostile client runs nested values, a sign-in flood, 500 half-sent requests, megabyte WebSocket frames and sockets past the per-user cap ({} attack requests, connections and frames), production limits.\n",
            h.attacks
        );
        let _ = writeln!(out, "| normal client | ok | errors | p50 ms | p99 ms |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (name, m) in [("alone", &h.quiet), ("under attack", &h.attacked)] {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {:.2} | {:.2} |",
                m.ok, m.errors, m.p50_ms, m.p99_ms
            );
        }
        let _ = writeln!(
            out,
            "\np99 under attack is {:.2}x the p99 alone. Server RSS: {:.1} MiB before, {:.1} MiB at the peak of the attack.",
            h.attacked.p99_ms / h.quiet.p99_ms.max(1e-9),
            h.rss_before_kib as f64 / 1024.0,
            h.rss_peak_kib as f64 / 1024.0
        );
    }
    if let Some(rls) = &r.row_security {
        let _ = writeln!(out, "\n## Row-level security\n");
        let _ = writeln!(
            out,
            "The same queries at 1 client, as the server runs them (a checkout scoped to a viewer, one statement, then the query under the policies) and as the tables' owner (neither).\n"
        );
        let _ = writeln!(
            out,
            "| query | scoped p50 ms | owner p50 ms | scoped/owner (p50) | scoped/owner (per second) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (name, scoped, owner) in [
            ("inbox: 50 tickets", &rls.inbox_scoped, &rls.inbox_owner),
            (
                "conversation: last 50 messages",
                &rls.messages_scoped,
                &rls.messages_owner,
            ),
        ] {
            let _ = writeln!(
                out,
                "| {name} | {:.3} | {:.3} | {:.2}x | {:.2}x |",
                scoped.p50_ms,
                owner.p50_ms,
                scoped.p50_ms / owner.p50_ms.max(1e-9),
                scoped.per_second / owner.per_second.max(1e-9)
            );
        }
    }
    let _ = writeln!(out, "\n## Targets\n");
    if let (Some(i), Some(c)) = (&r.ingest, c) {
        let ratio = i.peak.per_second / c.insert.per_second.max(1e-9);
        let _ = writeln!(
            out,
            "- Ingest at least 2x the single-row INSERT rate: {:.2}x, {}; {:.2}x PostgreSQL's own {}-connection INSERT rate",
            ratio,
            verdict(ratio >= 2.0),
            i.peak.per_second / c.concurrent_insert.per_second.max(1e-9),
            r.clients
        );
        let _ = writeln!(
            out,
            "- Where ingest CPU goes: HTTP alone (GET /healthz) {:.0}/s, plus reading the body and checking the HMAC {:.0}/s ({:.2}x of HTTP alone), plus storing {:.0}/s ({:.2}x of the refused rate)",
            c.http.per_second,
            i.refused.per_second,
            i.refused.per_second / c.http.per_second.max(1e-9),
            i.peak.per_second,
            i.peak.per_second / i.refused.per_second.max(1e-9)
        );
        let cpu = &i.cpu;
        let _ = writeln!(
            out,
            "- CPU per delivery over the peak and its drain (posted, stored and applied): server {:.3} ms, PostgreSQL {:.3} ms, load generator {:.3} ms, of {:.3} ms the {} cores offered ({:.2}x used)",
            cpu.server_ms,
            cpu.postgres_ms,
            cpu.load_generator_ms,
            cpu.available_ms,
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            (cpu.server_ms + cpu.postgres_ms + cpu.load_generator_ms) / cpu.available_ms.max(1e-9)
        );
        let processing = i.processed_per_second / c.insert.per_second.max(1e-9);
        let _ = writeln!(
            out,
            "- Sustained processing at least the single-row INSERT rate: {:.0}/s = {:.2}x, {}",
            i.processed_per_second,
            processing,
            verdict(processing >= 1.0)
        );
    }
    if let Some(i) = &r.ingest {
        let _ = writeln!(
            out,
            "- Peak backlog drained within 10 s of posting stopping: {:.1} s, {}",
            i.drain_seconds,
            verdict(i.drain_seconds <= 10.0)
        );
        let _ = writeln!(
            out,
            "- Ingest p99 under 20 ms at half the peak rate while processing keeps up: {:.2} ms with {} deliveries waiting at the end, {}",
            i.half_peak.p99_ms,
            i.half_peak_backlog,
            verdict(i.half_peak.p99_ms < 20.0)
        );
    }
    if let Some(q) = &r.reads {
        let _ = writeln!(
            out,
            "- Inbox page at most 2 ms of CPU (server plus PostgreSQL): {:.2} ms, {}",
            q.inbox_page_cpu_ms,
            verdict(q.inbox_page_cpu_ms <= 2.0)
        );
        let _ = writeln!(
            out,
            "- Conversation page p50 under 1.2 ms with {} client(s): {:.2} ms, {}",
            super::queries::LIGHT_CLIENTS,
            q.conversation_page_light.p50_ms,
            verdict(q.conversation_page_light.p50_ms < 1.2)
        );
    }
    if let Some(q) = &r.reads {
        let _ = writeln!(
            out,
            "- Inbox page p99 under 10 ms: {:.2} ms with {} client(s) ({}); {:.2} ms with {} clients, where p99 is queueing behind a saturated CPU ({})",
            q.inbox_page_light.p99_ms,
            super::queries::LIGHT_CLIENTS,
            verdict(q.inbox_page_light.p99_ms < 10.0),
            q.inbox_page.p99_ms,
            r.clients,
            verdict(q.inbox_page.p99_ms < 10.0)
        );
    }
    if let Some(l) = r.live.iter().find(|l| l.subscribers == 1000) {
        let _ = writeln!(
            out,
            "- Webhook-to-subscriber p99 under 50 ms at 1,000 subscribers: {:.2} ms, {}",
            l.latency.p99_ms,
            verdict(l.latency.p99_ms < 50.0)
        );
    }
    if let Some(l) = r.live.iter().max_by_key(|l| l.subscribers) {
        let _ = writeln!(
            out,
            "- Under 100 KiB per idle subscription ({} subscribers): {:.1} KiB, {}",
            l.subscribers,
            l.kib_per_subscription,
            verdict(l.kib_per_subscription < 100.0)
        );
    }
    if let Some(d) = &r.outbound_drain {
        let _ = writeln!(
            out,
            "- 200 sends in flight against a 50 ms Graph API: {} at most, {}",
            d.max_in_flight,
            verdict(d.max_in_flight >= 200)
        );
    }
    if let Some(o) = r.outbound.iter().find(|o| o.graph_latency_ms == 50) {
        let _ = writeln!(
            out,
            "- At least 1,000 replies/s end to end (sendMessage to SENT): {:.0}/s, {}",
            o.sent_per_second,
            verdict(o.sent_per_second >= 1000.0)
        );
        let _ = writeln!(
            out,
            "- At most 0.5 ms of server CPU per reply: {:.3} ms, {}",
            o.cpu.server_ms,
            verdict(o.cpu.server_ms <= 0.5)
        );
    }
    out
}
