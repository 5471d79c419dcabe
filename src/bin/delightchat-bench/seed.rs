//! Seeds the benchmark dataset in bulk: PostgreSQL generates the rows itself
//! (`INSERT ... SELECT generate_series`), so millions of messages take a minute or two.

use std::time::Instant;

use chrono::Utc;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use delightchat::auth::jwt::JwtKeys;
use delightchat::crypto::{SecretBox, aad, hint};
use delightchat::db::channels::{self, Channel};
use delightchat::db::enums::{ChannelStatus, Platform};
use delightchat::db::ids::{ChannelId, OrgId, UserId};

/// How big the dataset is.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sizes {
    /// Orgs (each with one admin and one Instagram channel).
    pub orgs: i64,
    /// Customers, spread over the orgs.
    pub customers: i64,
    /// Tickets per customer (one DIRECT, then COMMENT threads).
    pub tickets_per_customer: i64,
    /// Messages per ticket.
    pub messages_per_ticket: i64,
}

impl Sizes {
    /// The default dataset scaled by `scale` (1.0 = 100 orgs, 100,000 customers,
    /// 200,000 tickets, 2,000,000 messages).
    pub fn scaled(scale: f64) -> Self {
        Self {
            orgs: ((100.0 * scale.min(1.0)).round() as i64).max(2),
            customers: ((100_000.0 * scale).round() as i64).max(20),
            tickets_per_customer: 2,
            messages_per_ticket: 10,
        }
    }

    /// Tickets in all.
    pub fn tickets(&self) -> i64 {
        self.customers * self.tickets_per_customer
    }

    /// Messages in all.
    pub fn messages(&self) -> i64 {
        self.tickets() * self.messages_per_ticket
    }
}

/// One seeded org, with what a client needs to act as its admin.
#[derive(Debug, Clone)]
pub struct BenchOrg {
    /// Org id.
    pub id: OrgId,
    /// Admin's access token.
    pub token: String,
    /// Its Instagram channel.
    pub channel: ChannelId,
    /// The channel's account id.
    pub account: String,
    /// The channel's app secret (signs simulated webhooks).
    pub app_secret: String,
}

/// Creates `sizes` worth of data in the (empty, migrated) database at `url`. Every seeded
/// message is the customer's, so every ticket waits for an answer since its first one
/// (its `waiting_since`, as the app would have recorded it).
pub async fn seed(
    url: &str,
    sizes: Sizes,
    secrets: &SecretBox,
    jwt: &JwtKeys,
) -> anyhow::Result<Vec<BenchOrg>> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute("SET synchronous_commit = off; SET statement_timeout = 0")
        .await?;
    let started = Instant::now();
    let password = delightchat::auth::password::PasswordHasher::new(1)
        .hash("bench password".into())
        .await?;
    diesel::sql_query(
        "INSERT INTO orgs (id, name) SELECT gen_random_uuid(), 'Bench org ' || i FROM generate_series(1, $1) i",
    )
    .bind::<BigInt, _>(sizes.orgs)
    .execute(&mut conn)
    .await?;
    conn.batch_execute("INSERT INTO org_event_seqs (org_id) SELECT id FROM orgs")
        .await?;
    diesel::sql_query(
        "WITH o AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM orgs), \
              u AS (INSERT INTO users (id, email, name, password_hash) \
                    SELECT gen_random_uuid(), 'admin' || n || '@bench.test', 'Admin ' || n, $1 FROM o RETURNING id, email) \
         INSERT INTO memberships (org_id, user_id, role) \
         SELECT o.id, u.id, 'ADMIN' FROM o JOIN u ON u.email = 'admin' || o.n || '@bench.test'",
    )
    .bind::<Text, _>(&password)
    .execute(&mut conn)
    .await?;
    let orgs = channels_for_orgs(&mut conn, secrets, jwt).await?;
    tracing::info!(
        "seeding {} customers, {} tickets, {} messages",
        sizes.customers,
        sizes.tickets(),
        sizes.messages()
    );
    diesel::sql_query(
        "WITH o AS (SELECT array_agg(id ORDER BY id) AS a, count(*) AS n FROM orgs) \
         INSERT INTO customers (id, org_id, name, created_at) \
         SELECT gen_random_uuid(), o.a[1 + (i % o.n)], 'Customer ' || i, now() - i * interval '1 second' \
         FROM o, generate_series(0, $1 - 1) i",
    )
    .bind::<BigInt, _>(sizes.customers)
    .execute(&mut conn)
    .await?;
    conn.batch_execute(
        "INSERT INTO customer_identities (id, org_id, customer_id, channel_id, platform, external_id, username) \
         SELECT gen_random_uuid(), c.org_id, c.id, ch.id, 'INSTAGRAM', 'igsid' || row_number() OVER (), \
                'user' || row_number() OVER () FROM customers c JOIN channels ch ON ch.org_id = c.org_id",
    )
    .await?;
    diesel::sql_query(
        "INSERT INTO tickets (id, org_id, channel_id, customer_id, kind, thread_key, status, snoozed_until, \
           last_message_at, last_inbound_at, inbound_count, last_message_preview, waiting_since) \
         SELECT gen_random_uuid(), ci.org_id, ci.channel_id, ci.customer_id, \
                CASE k WHEN 0 THEN 'DIRECT' ELSE 'COMMENT' END, CASE k WHEN 0 THEN '' ELSE 'media' || k END, \
                st.status, CASE st.status WHEN 'SNOOZED' THEN now() + interval '1 day' END, \
                t, t, $2, 'Message of a bench conversation', t - ($2 - 1) * interval '1 minute' \
         FROM customer_identities ci, generate_series(0, $1 - 1) k, \
              LATERAL (SELECT now() - (abs(hashtext(ci.id::text || k)) % 2592000) * interval '1 second' AS t) s, \
              LATERAL (SELECT (ARRAY['OPEN', 'PENDING', 'RESOLVED', 'SNOOZED'])[1 + (hashtext(ci.id::text || k) & 3)] AS status) st",
    )
    .bind::<BigInt, _>(sizes.tickets_per_customer)
    .bind::<BigInt, _>(sizes.messages_per_ticket)
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, author_customer_id, \
           text, status, sent_at) \
         SELECT gen_random_uuid(), t.org_id, t.id, t.channel_id, 'INBOUND', \
                CASE t.kind WHEN 'DIRECT' THEN 'TEXT' ELSE 'COMMENT' END, 'CUSTOMER', t.customer_id, \
                'Message ' || j || ' of a bench conversation', 'RECEIVED', t.last_message_at - ($1 - 1 - j) * interval '1 minute' \
         FROM tickets t, generate_series(0, $1 - 1) j",
    )
    .bind::<BigInt, _>(sizes.messages_per_ticket)
    .execute(&mut conn)
    .await?;
    conn.batch_execute(
        "UPDATE tickets t SET last_message_id = m.id FROM \
           (SELECT DISTINCT ON (ticket_id) ticket_id, id FROM messages ORDER BY ticket_id, sent_at DESC, id DESC) m \
         WHERE m.ticket_id = t.id; \
         INSERT INTO notifications (id, org_id, user_id, type, ticket_id, count) \
         SELECT gen_random_uuid(), t.org_id, m.user_id, 'NEW_MESSAGE', t.id, 1 \
         FROM tickets t JOIN memberships m ON m.org_id = t.org_id WHERE t.status = 'OPEN'",
    )
    .await?;
    conn.batch_execute("VACUUM ANALYZE").await?;
    tracing::info!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(orgs)
}

/// One Instagram channel per org, with secrets sealed like `createChannel` does.
async fn channels_for_orgs(
    conn: &mut AsyncPgConnection,
    secrets: &SecretBox,
    jwt: &JwtKeys,
) -> anyhow::Result<Vec<BenchOrg>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: OrgId,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        user_id: UserId,
    }
    let rows: Vec<Row> =
        diesel::sql_query("SELECT org_id, user_id FROM memberships ORDER BY org_id")
            .load(conn)
            .await?;
    let mut orgs = Vec::with_capacity(rows.len());
    for (n, row) in rows.into_iter().enumerate() {
        let id = ChannelId::new();
        let account = format!("1784{:011}", n);
        let app_secret = format!("bench-app-secret-{n}");
        let token = format!("EAAG-bench-token-{n}");
        let now = Utc::now();
        let channel = Channel {
            id,
            org_id: row.org_id,
            platform: Platform::Instagram,
            name: format!("Bench IG {n}"),
            external_account_id: account.clone(),
            access_token_enc: secrets.seal(&token, &aad(id.0, "access_token")),
            access_token_hint: hint(&token),
            app_secret_enc: secrets.seal(&app_secret, &aad(id.0, "app_secret")),
            app_secret_fingerprint: secrets.fingerprint(&app_secret),
            verify_token_enc: secrets.seal("verify", &aad(id.0, "verify_token")),
            status: ChannelStatus::Active,
            status_reason: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            human_agent_enabled: false,
            default_team_id: None,
            business_account_id: None,
        };
        channels::insert(conn, &channel).await?;
        orgs.push(BenchOrg {
            id: row.org_id,
            token: jwt.issue(row.user_id).0,
            channel: id,
            account,
            app_secret,
        });
    }
    Ok(orgs)
}

/// The orgs of an already seeded benchmark database (for `--reuse`).
pub async fn existing(
    url: &str,
    secrets: &SecretBox,
    jwt: &JwtKeys,
) -> anyhow::Result<Vec<BenchOrg>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: OrgId,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        user_id: UserId,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        channel_id: ChannelId,
        #[diesel(sql_type = diesel::sql_types::Text)]
        external_account_id: String,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        app_secret_enc: Vec<u8>,
    }
    let mut conn = AsyncPgConnection::establish(url).await?;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT m.org_id, m.user_id, c.id AS channel_id, c.external_account_id, c.app_secret_enc \
         FROM memberships m JOIN channels c ON c.org_id = m.org_id ORDER BY m.org_id",
    )
    .load(&mut conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(BenchOrg {
                id: r.org_id,
                token: jwt.issue(r.user_id).0,
                channel: r.channel_id,
                account: r.external_account_id,
                app_secret: secrets.open(&r.app_secret_enc, &aad(r.channel_id.0, "app_secret"))?,
            })
        })
        .collect()
}

/// The sizes of an existing benchmark database.
pub async fn measure(url: &str) -> anyhow::Result<Sizes> {
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        orgs: i64,
        #[diesel(sql_type = BigInt)]
        customers: i64,
        #[diesel(sql_type = BigInt)]
        tickets: i64,
        #[diesel(sql_type = BigInt)]
        messages: i64,
    }
    let mut conn = AsyncPgConnection::establish(url).await?;
    let c: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM orgs) AS orgs, (SELECT count(*) FROM customers) AS customers, \
                (SELECT count(*) FROM tickets) AS tickets, (SELECT count(*) FROM messages) AS messages",
    )
    .get_result(&mut conn)
    .await?;
    Ok(Sizes {
        orgs: c.orgs,
        customers: c.customers,
        tickets_per_customer: c.tickets / c.customers.max(1),
        messages_per_ticket: c.messages / c.tickets.max(1),
    })
}
