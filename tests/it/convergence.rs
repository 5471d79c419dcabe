//! One inbox state whatever the order: Meta events that arrive early, late, twice or at
//! once, applied by one worker or two, end in the same inbox.
//!
//! First one test per kind of early fact, then a property test that generates
//! conversations and compares a normalised snapshot of the inbox after applying them in
//! Meta's order, in a random permutation, and as random concurrent batches over two
//! workers.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::meta;
use crate::support::{Session, TestApp};

const SECRET: &str = "test-app-secret-0001";
const IG: &str = "17841400000000101";
const PAGE: &str = "104400000000001";
const CUSTOMER: &str = "5500000000000011";
/// A Meta time (ms) for the tests below.
const T0: i64 = 1_784_900_000_000;

struct Instagram {
    app: TestApp,
    admin: Session,
    channel: String,
}

async fn instagram() -> Instagram {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    Instagram {
        app,
        admin,
        channel,
    }
}

impl Instagram {
    async fn post(&self, body: Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.channel, &bytes, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
    }

    /// The only ticket, with its messages, as a dashboard reads it.
    async fn ticket(&self) -> Value {
        let q = "query($o: ID!) { org(id: $o) { unreadNotificationCount tickets(first: 5) { edges { node {
            lastMessagePreview unreadCount
            messages(first: 30) { edges { node { externalId direction text isDeleted status attachments { type } reactions { emoji } replyTo { externalId } } } } } } } } }";
        let data = self
            .app
            .gql_ok(Some(&self.admin.token), q, json!({"o": self.admin.org_id}))
            .await;
        let tickets = data["org"]["tickets"]["edges"].as_array().unwrap();
        assert_eq!(tickets.len(), 1, "{data}");
        let mut ticket = tickets[0]["node"].clone();
        ticket["unreadNotificationCount"] = data["org"]["unreadNotificationCount"].clone();
        ticket
    }

    async fn message(&self, external_id: &str) -> Value {
        let ticket = self.ticket().await;
        ticket["messages"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .find(|m| m["externalId"] == external_id)
            .unwrap_or_else(|| panic!("no message {external_id} in {ticket}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsend_that_arrives_first_hides_the_message_when_it_comes() {
    let i = instagram().await;
    i.post(meta::message(false, IG, CUSTOMER, "m1", "first words", T0))
        .await;
    i.post(meta::unsend(IG, CUSTOMER, "m2", T0 + 5_000)).await;
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM pending_facts WHERE kind = 'UNSEND'")
            .await,
        1,
        "the unsend waits for its message"
    );
    i.post(meta::message(
        false,
        IG,
        CUSTOMER,
        "m2",
        "my card number is 4111",
        T0 + 1_000,
    ))
    .await;
    let unsent = i.message("m2").await;
    assert_eq!(unsent["isDeleted"], true);
    assert_eq!(unsent["text"], Value::Null);
    let ticket = i.ticket().await;
    assert_eq!(
        ticket["lastMessagePreview"], "first words",
        "the preview falls back to the latest visible message"
    );
    assert_eq!(
        ticket["unreadCount"], 2,
        "an unsent message still counts as received"
    );
    // Never stored, never published: no row and no live event carries the text.
    for table in ["messages", "events", "tickets", "pending_facts"] {
        let hits = i
            .app
            .count(&format!(
                "SELECT count(*) AS n FROM {table} t WHERE t::text LIKE '%4111%'"
            ))
            .await;
        assert_eq!(hits, 0, "the unsent text reached {table}");
    }
    assert_eq!(
        i.app.count("SELECT count(*) AS n FROM pending_facts").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsend_of_the_last_message_makes_the_preview_fall_back() {
    let i = instagram().await;
    i.post(meta::message(false, IG, CUSTOMER, "m1", "first words", T0))
        .await;
    i.post(meta::message(false, IG, CUSTOMER, "m2", "oops", T0 + 1_000))
        .await;
    assert_eq!(i.ticket().await["lastMessagePreview"], "oops");
    i.post(meta::unsend(IG, CUSTOMER, "m2", T0 + 2_000)).await;
    assert_eq!(i.ticket().await["lastMessagePreview"], "first words");
    i.post(meta::unsend(IG, CUSTOMER, "m1", T0 + 3_000)).await;
    assert_eq!(i.ticket().await["lastMessagePreview"], "Message unsent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_arrives_first_is_applied_when_the_message_comes() {
    let i = instagram().await;
    i.post(meta::edit(
        IG,
        CUSTOMER,
        "m1",
        "the red kettle",
        2,
        T0 + 9_000,
    ))
    .await;
    i.post(meta::edit(
        IG,
        CUSTOMER,
        "m1",
        "the green kettle",
        1,
        T0 + 5_000,
    ))
    .await;
    i.post(meta::message(
        false,
        IG,
        CUSTOMER,
        "m1",
        "the blue kettle",
        T0,
    ))
    .await;
    assert_eq!(
        i.message("m1").await["text"],
        "the red kettle",
        "the newest edit wins"
    );
    assert_eq!(i.ticket().await["lastMessagePreview"], "the red kettle");
    // An older edit arriving late changes nothing.
    i.post(meta::edit(
        IG,
        CUSTOMER,
        "m1",
        "the green kettle",
        1,
        T0 + 5_000,
    ))
    .await;
    assert_eq!(i.message("m1").await["text"], "the red kettle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_that_arrives_first_is_shown_when_the_message_comes() {
    let i = instagram().await;
    i.post(meta::reaction(IG, CUSTOMER, "e1", Some("❤️"), T0 + 2_000))
        .await;
    i.post(meta::echo(false, IG, CUSTOMER, "e1", "Yes, in stock", T0))
        .await;
    assert_eq!(i.message("e1").await["reactions"], json!([{"emoji": "❤️"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreact_that_arrives_before_its_reaction_still_removes_it() {
    let i = instagram().await;
    i.post(meta::echo(false, IG, CUSTOMER, "e1", "Yes, in stock", T0))
        .await;
    i.post(meta::reaction(IG, CUSTOMER, "e1", None, T0 + 3_000))
        .await;
    i.post(meta::reaction(IG, CUSTOMER, "e1", Some("❤️"), T0 + 2_000))
        .await;
    assert_eq!(i.message("e1").await["reactions"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_arrives_before_our_echo_marks_it_read_when_it_comes() {
    let i = instagram().await;
    i.post(meta::message(false, IG, CUSTOMER, "m1", "hello", T0))
        .await;
    i.post(meta::read(IG, CUSTOMER, "e2", T0 + 9_000)).await;
    i.post(meta::echo(
        false,
        IG,
        CUSTOMER,
        "e1",
        "first answer",
        T0 + 1_000,
    ))
    .await;
    assert_eq!(
        i.message("e1").await["status"],
        "SENT",
        "read position not known yet"
    );
    i.post(meta::echo(
        false,
        IG,
        CUSTOMER,
        "e2",
        "second answer",
        T0 + 2_000,
    ))
    .await;
    assert_eq!(i.message("e2").await["status"], "READ");
    assert_eq!(
        i.message("e1").await["status"],
        "READ",
        "everything before is read too"
    );
    // An echo that arrives later but was sent before the read position is read at once.
    i.post(meta::echo(
        false,
        IG,
        CUSTOMER,
        "e0",
        "an early answer",
        T0 + 500,
    ))
    .await;
    assert_eq!(i.message("e0").await["status"], "READ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_watermark_before_any_message_marks_the_echoes_read_when_they_come() {
    let app = TestApp::new().await;
    let admin = app.signup("Parcels", "ana@example.com").await;
    let page = app.create_channel(&admin, "MESSENGER", PAGE, SECRET).await;
    let post = async |body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            app.post_webhook(&page, &bytes, SECRET).await,
            StatusCode::OK
        );
        app.drain_inbound().await;
    };
    post(meta::watermark(PAGE, CUSTOMER, T0 + 5_000, T0 + 6_000)).await;
    post(meta::echo(
        true,
        PAGE,
        CUSTOMER,
        "e-before",
        "sent before",
        T0 + 1_000,
    ))
    .await;
    post(meta::echo(
        true,
        PAGE,
        CUSTOMER,
        "e-after",
        "sent after",
        T0 + 9_000,
    ))
    .await;
    let status = async |mid: &str| {
        app.rows(&format!(
            "SELECT status AS row FROM messages WHERE external_id = '{mid}'"
        ))
        .await
    };
    assert_eq!(status("e-before").await, vec!["READ"]);
    assert_eq!(status("e-after").await, vec!["SENT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_status_before_the_echo_applies_when_the_echo_comes() {
    let app = TestApp::new().await;
    let admin = app.signup("Parcels", "ana@example.com").await;
    let page = app.create_channel(&admin, "MESSENGER", PAGE, SECRET).await;
    for body in [
        meta::delivered(PAGE, CUSTOMER, &["e1"], T0 + 2_000),
        meta::echo(true, PAGE, CUSTOMER, "e1", "on its way", T0),
    ] {
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            app.post_webhook(&page, &bytes, SECRET).await,
            StatusCode::OK
        );
        app.drain_inbound().await;
    }
    assert_eq!(
        app.rows("SELECT status AS row FROM messages WHERE external_id = 'e1'")
            .await,
        vec!["DELIVERED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_statuses_in_any_order_end_at_the_highest() {
    let orders: [&[&str]; 3] = [
        &["sent", "failed", "delivered"],
        &["delivered", "failed", "sent"],
        &["failed", "sent"],
    ];
    let expected = ["DELIVERED", "DELIVERED", "FAILED"];
    for (order, expected) in orders.iter().zip(expected) {
        let app = TestApp::new().await;
        let admin = app.signup("Appliances", "ana@example.com").await;
        let phone = "310000000000001";
        let wa = app.create_channel(&admin, "WHATSAPP", phone, SECRET).await;
        let post = async |body: Value| {
            let bytes = serde_json::to_vec(&body).unwrap();
            assert_eq!(app.post_webhook(&wa, &bytes, SECRET).await, StatusCode::OK);
            app.drain_inbound().await;
        };
        post(meta::wa_text(
            phone,
            "447700900111",
            "Ada",
            "wamid.IN-1",
            "hi",
            T0,
        ))
        .await;
        app.execute(&format!(
            "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, text, external_id, status, sent_at) \
             SELECT gen_random_uuid(), org_id, id, channel_id, 'OUTBOUND', 'TEXT', 'USER', 'on my way', 'wamid.OUT-1', 'SENT', now() FROM tickets WHERE channel_id = '{wa}'"
        ))
        .await;
        for (n, status) in order.iter().enumerate() {
            let at = T0 + 10_000 + 1_000 * n as i64;
            post(meta::wa_status(
                phone,
                "447700900111",
                "wamid.OUT-1",
                status,
                at,
            ))
            .await;
        }
        assert_eq!(
            app.rows("SELECT status AS row FROM messages WHERE external_id = 'wamid.OUT-1'")
                .await,
            vec![expected],
            "{order:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_whose_message_never_comes_are_counted_on_metrics_and_pruned() {
    let i = instagram().await;
    i.post(meta::unsend(IG, CUSTOMER, "never-1", T0)).await;
    i.post(meta::reaction(IG, CUSTOMER, "never-2", Some("👍"), T0))
        .await;
    let (status, _, body) = i
        .app
        .request(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("delightchat_pending_facts{kind=\"UNSEND\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("delightchat_pending_facts{kind=\"REACTION\"} 1"),
        "{text}"
    );
    let mut conn = i.app.state.system_conn().await.unwrap();
    let in_a_minute = chrono::Utc::now() + chrono::Duration::minutes(1);
    let kept_recent = delightchat::db::pending_facts::prune(
        &mut conn,
        chrono::Utc::now() - chrono::Duration::days(7),
    )
    .await
    .unwrap();
    assert_eq!(kept_recent, 0, "facts younger than the retention stay");
    let pruned = delightchat::db::pending_facts::prune(&mut conn, in_a_minute)
        .await
        .unwrap();
    assert_eq!(pruned, 2);
}

// ---------------------------------------------------------------------------------
// The property: any order, any batching, two workers: one inbox state.

/// SplitMix64: a small deterministic generator, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Which of a run's channels a delivery goes to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum On {
    Instagram,
    Messenger,
    WhatsApp,
}

/// A generated delivery: its channel and a body builder given that channel's account id.
#[derive(Debug, Clone)]
struct Delivery {
    on: On,
    body: Value,
}

/// Account ids of one run's channels (unique per case and run, as ids are across tenants).
struct Accounts {
    ig: String,
    page: String,
    phone: String,
}

/// A conversation of up to ~20 events across 2–3 customers, in Meta's order. Bodies
/// carry the placeholder accounts `IG`, `PAGE` and `PHONE`, replaced per run.
fn conversation(seed: u64) -> Vec<Delivery> {
    let mut rng = Rng(seed);
    let mut clock = T0 + (seed as i64 % 1000) * 100_000_000;
    let mut tick = |rng: &mut Rng| {
        // Sometimes no time passes at all: ties are decided by ids, never by arrival.
        clock += [0, 1_000, 2_000, 7_000][rng.below(4)];
        clock
    };
    let instagram_customers = 1 + rng.below(2);
    let messenger = rng.below(2) == 1;
    let whatsapp = instagram_customers + usize::from(messenger) < 2 || rng.below(2) == 1;
    let mut out = Vec::new();
    for c in 0..instagram_customers {
        let customer = format!("55{seed}{c}");
        let (mut inbound, mut echoes, mut comments) = (Vec::new(), Vec::new(), Vec::new());
        let media = format!("1790{seed}");
        for k in 0..(3 + rng.below(5)) {
            let at = tick(&mut rng);
            let id = format!("mid-{seed}-{c}-{k}");
            let choice = if k == 0 { 0 } else { rng.below(9) };
            let body = match choice {
                0 | 1 => {
                    inbound.push(id.clone());
                    meta::message(false, "IG", &customer, &id, &format!("text {k}"), at)
                }
                2 => {
                    echoes.push(id.clone());
                    meta::echo(false, "IG", &customer, &id, &format!("answer {k}"), at)
                }
                3 => match rng.pick(&inbound) {
                    Some(target) => {
                        meta::edit("IG", &customer, target, &format!("edit {k}"), k as u32, at)
                    }
                    None => continue,
                },
                4 => match rng.pick(&inbound) {
                    Some(target) => meta::unsend("IG", &customer, target, at),
                    None => continue,
                },
                5 => {
                    let targets: Vec<String> = inbound.iter().chain(&echoes).cloned().collect();
                    let emoji = [Some("❤️"), Some("😂"), None][rng.below(3)];
                    match rng.pick(&targets) {
                        Some(target) => meta::reaction("IG", &customer, target, emoji, at),
                        None => continue,
                    }
                }
                6 => match rng.pick(&echoes) {
                    Some(target) => meta::read("IG", &customer, target, at),
                    None => continue,
                },
                7 => {
                    comments.push(id.clone());
                    let parent = rng.pick(&comments[..comments.len() - 1]).cloned();
                    meta::comment(
                        "IG",
                        &customer,
                        &id,
                        &media,
                        &format!("comment {k}"),
                        parent.as_deref(),
                        at,
                    )
                }
                _ => match rng.pick(&comments) {
                    Some(parent) => {
                        meta::comment("IG", "IG", &id, &media, "thanks!", Some(parent), at)
                    }
                    None => continue,
                },
            };
            out.push(Delivery {
                on: On::Instagram,
                body,
            });
        }
    }
    if messenger {
        let customer = format!("88{seed}");
        let mut echoes = Vec::new();
        for k in 0..(2 + rng.below(4)) {
            let at = tick(&mut rng);
            let id = format!("m_{seed}-{k}");
            let body = match if k == 0 { 0 } else { rng.below(4) } {
                0 => meta::message(true, "PAGE", &customer, &id, &format!("question {k}"), at),
                1 => {
                    echoes.push(id.clone());
                    meta::echo(true, "PAGE", &customer, &id, &format!("reply {k}"), at)
                }
                2 => meta::watermark("PAGE", &customer, at - 1_000, at),
                _ => match rng.pick(&echoes) {
                    Some(mid) => meta::delivered("PAGE", &customer, &[mid], at),
                    None => continue,
                },
            };
            out.push(Delivery {
                on: On::Messenger,
                body,
            });
        }
    }
    if whatsapp {
        let customer = format!("4477{seed}");
        let names = ["Ada", "Ada Moreau"];
        for k in 0..(2 + rng.below(4)) {
            let at = tick(&mut rng);
            let body = if k == 0 || rng.below(2) == 0 {
                let name = names[rng.below(2)];
                let wamid = format!("wamid.{seed}-{k}");
                meta::wa_text("PHONE", &customer, name, &wamid, &format!("wa {k}"), at)
            } else {
                let status = ["sent", "delivered", "read", "failed"][rng.below(4)];
                meta::wa_status("PHONE", &customer, &format!("wamid.OUT-{seed}"), status, at)
            };
            out.push(Delivery {
                on: On::WhatsApp,
                body,
            });
        }
    }
    // Meta's order is time order (equal times keep their generated order).
    out.sort_by_key(|d| delivery_time(&d.body));
    out.truncate(22);
    out
}

fn delivery_time(body: &Value) -> i64 {
    let entry = &body["entry"][0];
    if let Some(at) = entry["messaging"][0]["timestamp"].as_i64() {
        return at;
    }
    let value = &entry["changes"][0]["value"];
    for key in ["messages", "statuses"] {
        if let Some(at) = value[key][0]["timestamp"].as_str() {
            return at.parse::<i64>().unwrap_or_default() * 1000;
        }
    }
    entry["time"].as_i64().unwrap_or_default() * 1000
}

/// How one run applies the deliveries.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// One at a time, in Meta's order.
    InOrder,
    /// One at a time, in a random permutation.
    Permuted,
    /// All posted at once, then applied by two workers claiming small batches.
    Concurrent,
}

/// A run's org and channels.
struct Run {
    accounts: Accounts,
    ig: String,
    page: String,
    wa: String,
}

async fn new_run(app: &TestApp, admin: &Session, seed: u64, mode: Mode) -> Run {
    let n = seed * 10 + mode as u64;
    let accounts = Accounts {
        ig: format!("1784{n:011}"),
        page: format!("1044{n:011}"),
        phone: format!("3100{n:011}"),
    };
    let ig = app
        .create_channel(admin, "INSTAGRAM", &accounts.ig, SECRET)
        .await;
    let page = app
        .create_channel(admin, "MESSENGER", &accounts.page, SECRET)
        .await;
    let wa = app
        .create_channel(admin, "WHATSAPP", &accounts.phone, SECRET)
        .await;
    // The WhatsApp customer already has a conversation with one of our sent replies,
    // which the generated statuses are about.
    app.execute(&format!(
        "WITH c AS (INSERT INTO customers (id, org_id) VALUES (gen_random_uuid(), '{org}') RETURNING id), \
              i AS (INSERT INTO customer_identities (id, org_id, customer_id, channel_id, platform, external_id) \
                    SELECT gen_random_uuid(), '{org}', c.id, '{wa}', 'WHATSAPP', '4477{seed}' FROM c), \
              t AS (INSERT INTO tickets (id, org_id, channel_id, customer_id, kind, thread_key, last_message_at) \
                    SELECT gen_random_uuid(), '{org}', '{wa}', c.id, 'DIRECT', '', to_timestamp(0) FROM c RETURNING id) \
         INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, text, external_id, status, sent_at) \
         SELECT gen_random_uuid(), '{org}', t.id, '{wa}', 'OUTBOUND', 'TEXT', 'USER', 'our reply', 'wamid.OUT-{seed}', 'SENT', to_timestamp(1) FROM t",
        org = admin.org_id
    ))
    .await;
    Run {
        accounts,
        ig,
        page,
        wa,
    }
}

impl Run {
    fn bytes(&self, delivery: &Delivery) -> (String, Vec<u8>) {
        let text = serde_json::to_string(&delivery.body)
            .unwrap()
            .replace("\"IG\"", &format!("\"{}\"", self.accounts.ig))
            .replace("\"PAGE\"", &format!("\"{}\"", self.accounts.page))
            .replace("\"PHONE\"", &format!("\"{}\"", self.accounts.phone));
        let channel = match delivery.on {
            On::Instagram => &self.ig,
            On::Messenger => &self.page,
            On::WhatsApp => &self.wa,
        };
        (channel.clone(), text.into_bytes())
    }

    async fn apply(&self, app: &TestApp, deliveries: &[Delivery], mode: Mode, rng: &mut Rng) {
        let mut order: Vec<&Delivery> = deliveries.iter().collect();
        if !matches!(mode, Mode::InOrder) {
            rng.shuffle(&mut order);
        }
        for delivery in &order {
            let (channel, bytes) = self.bytes(delivery);
            assert_eq!(
                app.post_webhook(&channel, &bytes, SECRET).await,
                StatusCode::OK
            );
            if !matches!(mode, Mode::Concurrent) {
                app.drain_inbound().await;
            }
        }
        if matches!(mode, Mode::Concurrent) {
            drain_with_two_workers(app, rng).await;
        }
    }

    /// A normalised snapshot of this run's inbox: customers, tickets, messages with their
    /// text, deletion, status, reactions and order, previews, unread and notification
    /// counts, with ids replaced by platform ids and channels by their platform.
    async fn snapshot(&self, app: &TestApp) -> Vec<String> {
        let channels = format!(
            "ARRAY['{}', '{}', '{}']::uuid[]",
            self.ig, self.page, self.wa
        );
        let queries = [
            format!(
                "SELECT 'identity|' || i.platform || '|' || i.external_id || '|' || coalesce(i.username, '-') || '|' || coalesce(i.display_name, '-') || '|' || coalesce(c.name, '-') AS row \
                     FROM customer_identities i JOIN customers c ON c.id = i.customer_id WHERE i.channel_id = ANY({channels}) ORDER BY 1"
            ),
            format!(
                "SELECT 'ticket|' || ch.platform || '|' || ci.external_id || '|' || t.kind || '|' || t.thread_key || '|' || t.status || '|' \
                       || coalesce(lm.external_id, '-') || '|' || coalesce(t.last_message_preview, '-') || '|' || t.last_message_at || '|' \
                       || t.inbound_count || '|' || coalesce(t.customer_read_at::text, '-') AS row \
                     FROM tickets t JOIN channels ch ON ch.id = t.channel_id \
                     JOIN customer_identities ci ON ci.customer_id = t.customer_id AND ci.channel_id = t.channel_id \
                     LEFT JOIN messages lm ON lm.id = t.last_message_id WHERE t.channel_id = ANY({channels}) ORDER BY 1"
            ),
            format!(
                "SELECT 'message|' || ch.platform || '|' || m.sent_at || '|' || coalesce(m.external_id, '-') || '|' || m.direction || '|' || m.kind || '|' \
                       || m.author_type || '|' || coalesce(m.text, '-') || '|' || m.is_deleted || '|' || m.status || '|' || coalesce(m.error_code::text, '-') || '|' \
                       || coalesce(m.edited_at::text, '-') || '|' || coalesce(r.external_id, '-') || '|' || m.context::text || '|' \
                       || (SELECT count(*) FROM attachments a WHERE a.message_id = m.id) || '|' || t.kind || ':' || t.thread_key AS row \
                     FROM messages m JOIN channels ch ON ch.id = m.channel_id JOIN tickets t ON t.id = m.ticket_id \
                     LEFT JOIN messages r ON r.id = m.reply_to_message_id WHERE m.channel_id = ANY({channels}) ORDER BY 1"
            ),
            format!(
                "SELECT 'reaction|' || m.external_id || '|' || x.reactor_id || '|' || coalesce(x.emoji, '-') || '|' || x.removed || '|' || x.reacted_at AS row \
                     FROM reactions x JOIN messages m ON m.id = x.message_id WHERE m.channel_id = ANY({channels}) ORDER BY 1"
            ),
            format!(
                "SELECT 'notification|' || ci.external_id || '|' || t.kind || ':' || t.thread_key || '|' || n.type || '|' || n.count || '|' \
                       || coalesce(m.external_id, '-') AS row \
                     FROM notifications n JOIN tickets t ON t.id = n.ticket_id \
                     JOIN customer_identities ci ON ci.customer_id = t.customer_id AND ci.channel_id = t.channel_id \
                     LEFT JOIN messages m ON m.id = n.message_id WHERE t.channel_id = ANY({channels}) ORDER BY 1"
            ),
        ];
        let mut rows = Vec::new();
        for query in queries {
            rows.extend(app.rows(&query).await);
        }
        let accounts = [&self.accounts.ig, &self.accounts.page, &self.accounts.phone];
        rows.into_iter()
            .map(|row| {
                accounts
                    .iter()
                    .fold(row, |row, account| row.replace(account.as_str(), "ACCOUNT"))
            })
            .collect()
    }
}

/// Two workers claim small random batches at once until nothing is left; a delivery that
/// lost a race (a deadlock victim retried later) is made due again, as time would.
async fn drain_with_two_workers(app: &TestApp, rng: &mut Rng) {
    let config = |batch: i64| delightchat::jobs::WorkerConfig {
        inbound_batch: batch,
        ..delightchat::jobs::WorkerConfig::for_this_process()
    };
    let (a, b) = (
        config(1 + rng.below(3) as i64),
        config(1 + rng.below(3) as i64),
    );
    loop {
        let work = |worker: delightchat::jobs::WorkerConfig| {
            let state = app.state.clone();
            async move {
                while delightchat::webhooks::processor::run_once(&state, &worker)
                    .await
                    .unwrap()
                    > 0
                {}
            }
        };
        tokio::join!(work(a.clone()), work(b.clone()));
        let waiting = app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING'")
            .await;
        if waiting == 0 {
            break;
        }
        app.execute(
            "UPDATE webhook_events SET run_at = now(), locked_until = NULL WHERE state = 'PENDING'",
        )
        .await;
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PARKED'")
            .await,
        0
    );
}

/// Applies `cases` generated conversations in the three modes and compares snapshots.
async fn converges(first_seed: u64, cases: u64) {
    let app = TestApp::new().await;
    let admins = [
        app.signup("In order", "order@example.com").await,
        app.signup("Permuted", "permuted@example.com").await,
        app.signup("Concurrent", "concurrent@example.com").await,
    ];
    for seed in first_seed..first_seed + cases {
        let deliveries = conversation(seed);
        let mut rng = Rng(seed ^ 0xA5A5);
        let mut snapshots = Vec::new();
        for (admin, mode) in admins
            .iter()
            .zip([Mode::InOrder, Mode::Permuted, Mode::Concurrent])
        {
            let run = new_run(&app, admin, seed, mode).await;
            run.apply(&app, &deliveries, mode, &mut rng).await;
            snapshots.push((mode, run.snapshot(&app).await));
        }
        let (_, expected) = &snapshots[0];
        assert!(
            expected.len() > 3,
            "seed {seed}: a conversation landed: {expected:#?}"
        );
        for (mode, snapshot) in &snapshots[1..] {
            if snapshot != expected {
                let bodies: Vec<String> = deliveries.iter().map(|d| d.body.to_string()).collect();
                panic!(
                    "seed {seed}: {mode:?} differs from Meta's order\nin order: {expected:#?}\n{mode:?}: {snapshot:#?}\ndeliveries: {bodies:#?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_order_or_batching_of_deliveries_ends_in_one_inbox_state_seeds_0_to_7() {
    converges(0, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_order_or_batching_of_deliveries_ends_in_one_inbox_state_seeds_8_to_15() {
    converges(8, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_order_or_batching_of_deliveries_ends_in_one_inbox_state_seeds_16_to_23() {
    converges(16, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_order_or_batching_of_deliveries_ends_in_one_inbox_state_seeds_24_to_31() {
    converges(24, 8).await;
}
