//! Durable media: inbound attachments copied into our storage by the media job (fake
//! Graph API and CDN in Meta's shapes), every failure path keeping the message, signed
//! URLs (expiry, tampering, other orgs), range requests, quotas and a real S3-compatible
//! store.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wiremock::matchers::{header as has_header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::meta;
use crate::support::{Session, TestApp};

const SECRET: &str = "media-secret";
const WA: &str = "310000000000001";
const IG: &str = "17841400000000101";
const CUSTOMER: &str = "447700900318";
const MEDIA_ID: &str = "1385520957413094";

const ATTACHMENTS: &str = "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node {
    messages(first: 5) { edges { node { text attachments { type url storage storageError mimeType } } } } } } } } }";

/// A small JPEG (magic bytes and some payload).
fn jpeg() -> Vec<u8> {
    let mut bytes = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
    bytes.extend((0..4000u32).map(|i| (i % 251) as u8));
    bytes
}

fn b64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

struct Setup {
    app: TestApp,
    admin: Session,
    graph: MockServer,
    channel: String,
}

async fn setup(platform: &str, account: &str) -> Setup {
    setup_with(platform, account, |_| {}).await
}

async fn setup_with(
    platform: &str,
    account: &str,
    tweak: impl FnOnce(&mut delightchat::config::Config),
) -> Setup {
    let graph = crate::support::fake_graph::start().await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| {
        c.graph_api_base_url = uri;
        c.public_origin = "https://inbox.example.test".into();
        tweak(c);
    })
    .await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, platform, account, SECRET).await;
    // From here on the fake answers only what each test mounts.
    graph.reset().await;
    Setup {
        app,
        admin,
        graph,
        channel,
    }
}

impl Setup {
    /// Meta's `GET /{media-id}` answer and the download, both requiring the token.
    async fn whatsapp_media(&self, bytes: &[u8]) {
        let token = format!("Bearer EAAG-token-of-{WA}");
        Mock::given(method("GET"))
            .and(path(format!("/v25.0/{MEDIA_ID}")))
            .and(has_header("authorization", token.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "url": format!("{}/whatsapp_business/attachments/?mid={MEDIA_ID}", self.graph.uri()),
                "mime_type": "image/jpeg",
                "sha256": hex::encode(Sha256::digest(bytes)),
                "file_size": bytes.len(),
                "id": MEDIA_ID,
            })))
            .mount(&self.graph)
            .await;
        Mock::given(method("GET"))
            .and(path("/whatsapp_business/attachments/"))
            .and(has_header("authorization", token.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "image/jpeg")
                    .set_body_bytes(bytes.to_vec()),
            )
            .mount(&self.graph)
            .await;
    }

    async fn whatsapp_image(&self, sha256: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let body = meta::wa_image(WA, CUSTOMER, "wamid.media1", MEDIA_ID, sha256, now);
        self.deliver(&body).await;
    }

    async fn instagram_image(&self, cdn_path: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let url = format!("{}{cdn_path}", self.graph.uri());
        let body = meta::attachment(
            false,
            IG,
            "5500000000000011",
            "aWdfmedia1",
            "image",
            &url,
            now,
        );
        self.deliver(&body).await;
    }

    async fn deliver(&self, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.channel, &bytes, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
    }

    /// An Instagram image from the CDN, copied: its bytes and its signed URL.
    async fn stored_instagram_image(&self) -> (Vec<u8>, String) {
        let bytes = jpeg();
        Mock::given(method("GET"))
            .and(path("/ig_messaging_cdn/"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
            .mount(&self.graph)
            .await;
        self.instagram_image("/ig_messaging_cdn/?asset_id=1001&signature=sig")
            .await;
        self.app.drain_media().await;
        let stored = self.attachment().await;
        assert_eq!(stored["storage"], "STORED", "{stored:#}");
        (bytes, stored["url"].as_str().unwrap().to_owned())
    }

    /// The first message's first attachment, as the API shows it.
    async fn attachment(&self) -> Value {
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                ATTACHMENTS,
                json!({"o": self.admin.org_id}),
            )
            .await;
        let message = &data["org"]["tickets"]["edges"][0]["node"]["messages"]["edges"][0]["node"];
        assert!(message.is_object(), "the message is kept: {data:#}");
        message["attachments"][0].clone()
    }

    /// Makes retries due now (instead of waiting out the backoff).
    async fn retries_due(&self) {
        self.app
            .execute("UPDATE media_jobs SET run_at = now() WHERE state = 'PENDING'")
            .await;
    }

    async fn get(
        &self,
        url: &str,
        range: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let path = url
            .strip_prefix("https://inbox.example.test")
            .unwrap_or(url);
        let mut request = Request::get(path);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let (status, headers, body) = self.app.request(request.body(Body::empty()).unwrap()).await;
        (status, headers, body.to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_image_is_stored_and_opens_through_its_signed_url() {
    let s = setup("WHATSAPP", WA).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    let pending = s.attachment().await;
    assert_eq!(pending["storage"], "PENDING", "{pending:#}");

    s.app.drain_media().await;
    let stored = s.attachment().await;
    assert_eq!(stored["storage"], "STORED", "{stored:#}");
    let url = stored["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://inbox.example.test/media/"),
        "{url}"
    );
    assert!(url.contains("exp=") && url.contains("sig="), "{url}");

    let (status, headers, body) = s.get(url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::CONTENT_DISPOSITION], "inline");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        s.app.count("SELECT media_bytes AS n FROM orgs").await,
        bytes.len() as i64,
        "the copy counts toward the org's usage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_request_gets_those_bytes_only() {
    let s = setup("WHATSAPP", WA).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    s.app.drain_media().await;
    let url = s.attachment().await["url"].as_str().unwrap().to_owned();

    let (status, headers, body) = s.get(&url, Some("bytes=100-199")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[100..200]);
    assert_eq!(
        headers[header::CONTENT_RANGE],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    let (status, _, body) = s.get(&url, Some("bytes=-10")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[bytes.len() - 10..]);
    let (status, headers, _) = s.get(&url, Some(&format!("bytes={}-", bytes.len()))).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        headers[header::CONTENT_RANGE],
        format!("bytes */{}", bytes.len()).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_cdn_attachment_is_stored() {
    let s = setup("INSTAGRAM", IG).await;
    let (bytes, url) = s.stored_instagram_image().await;
    let (status, _, body) = s.get(&url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
}

/// Files under `dir`, at any depth.
fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { files_in(&p) } else { 1 })
            .sum()
    })
}

/// An unsent message's stored copy goes with it: its URL stops working and its bytes
/// leave the org's usage in the unsend's transaction, and the media worker deletes the
/// bytes from the store afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_messages_stored_copy_is_erased() {
    let s = setup("INSTAGRAM", IG).await;
    let (bytes, url) = s.stored_instagram_image().await;
    assert_eq!(s.get(&url, None).await.0, StatusCode::OK);
    let dir = s.app.state.config().media_dir.clone();
    assert_eq!(files_in(&dir), 1);
    let usage = "SELECT media_bytes AS n FROM orgs";
    assert_eq!(s.app.count(usage).await, bytes.len() as i64);

    let now = chrono::Utc::now().timestamp_millis();
    s.deliver(&meta::unsend(IG, "5500000000000011", "aWdfmedia1", now))
        .await;
    assert_eq!(s.get(&url, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.app.count(usage).await, 0);
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM media_objects").await,
        0
    );
    assert_eq!(s.app.count("SELECT count(*) AS n FROM messages").await, 1);

    s.app.drain_media().await;
    assert_eq!(files_in(&dir), 0, "the bytes are deleted from the store");
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM media_erasures")
            .await,
        0
    );
}

/// Asserts the attachment FAILED with a reason containing `reason`, the message kept.
async fn assert_failed(s: &Setup, reason: &str) {
    let failed = s.attachment().await;
    assert_eq!(failed["storage"], "FAILED", "{failed:#}");
    let error = failed["storageError"].as_str().unwrap();
    assert!(error.contains(reason), "{error}");
    assert_eq!(s.app.count("SELECT count(*) AS n FROM messages").await, 1);
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM media_objects").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_gone_from_the_cdn_fails_at_once_and_keeps_the_message() {
    let s = setup("INSTAGRAM", IG).await;
    Mock::given(method("GET"))
        .and(path("/ig_messaging_cdn/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&s.graph)
        .await;
    s.instagram_image("/ig_messaging_cdn/?asset_id=1").await;
    s.app.drain_media().await;
    assert_failed(&s, "no longer available").await;
}

/// A download goes only to Meta's media hosts and the configured Graph API origin: an
/// attachment URL elsewhere, or a redirect from the CDN to elsewhere, fails at once
/// without a request to that host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_urls_and_redirects_off_metas_hosts_are_never_fetched() {
    let s = setup("INSTAGRAM", IG).await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(jpeg()))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let now = chrono::Utc::now().timestamp_millis();
    let url = format!("{}/internal/secret.jpg", elsewhere.uri());
    let body = meta::attachment(
        false,
        IG,
        "5500000000000011",
        "aWdfmedia0",
        "image",
        &url,
        now,
    );
    s.deliver(&body).await;
    s.app.drain_media().await;
    assert_failed(&s, "not on a Meta media host").await;

    Mock::given(method("GET"))
        .and(path("/ig_messaging_cdn/"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", url.as_str()))
        .mount(&s.graph)
        .await;
    s.instagram_image("/ig_messaging_cdn/?asset_id=1001&signature=sig")
        .await;
    s.app.drain_media().await;
    let data = s
        .app
        .gql_ok(
            Some(&s.admin.token),
            ATTACHMENTS,
            json!({"o": s.admin.org_id}),
        )
        .await;
    let errors: Vec<&str> = data["org"]["tickets"]["edges"][0]["node"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let attachment = &m["node"]["attachments"][0];
            assert_eq!(attachment["storage"], "FAILED", "{data:#}");
            attachment["storageError"].as_str().unwrap()
        })
        .collect();
    assert_eq!(errors.len(), 2, "{data:#}");
    assert!(errors.iter().any(|e| e.contains("redirect")), "{errors:?}");
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM media_jobs WHERE state = 'PENDING'")
            .await,
        0
    );
    elsewhere.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_cdn_error_is_retried_until_the_copy_succeeds() {
    let s = setup("INSTAGRAM", IG).await;
    let bytes = jpeg();
    Mock::given(method("GET"))
        .and(path("/ig_messaging_cdn/"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/ig_messaging_cdn/"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
        .mount(&s.graph)
        .await;
    s.instagram_image("/ig_messaging_cdn/?asset_id=2").await;
    // One pass, not a drain: the retry's jittered delay may be anything from zero up, so
    // a drain could meet the job again at once and copy it.
    assert_eq!(
        delightchat::media::job::run_once(&s.app.state)
            .await
            .unwrap(),
        1
    );
    let waiting = s.attachment().await;
    assert_eq!(waiting["storage"], "PENDING", "retried later: {waiting:#}");
    assert_eq!(
        s.app.rows("SELECT last_error AS row FROM media_jobs").await,
        ["the media host answered HTTP 503"]
    );
    s.retries_due().await;
    s.app.drain_media().await;
    assert_eq!(s.attachment().await["storage"], "STORED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha256_mismatch_is_retried_then_fails_and_keeps_the_message() {
    let s = setup("WHATSAPP", WA).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(b"some other file")).await;
    for _ in 0..delightchat::media::job::MAX_ATTEMPTS {
        s.app.drain_media().await;
        s.retries_due().await;
    }
    assert_failed(&s, "does not match the sha256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_the_declared_type_fails() {
    let s = setup("INSTAGRAM", IG).await;
    Mock::given(method("GET"))
        .and(path("/ig_messaging_cdn/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(b"<html><script>alert(1)</script>".to_vec()),
        )
        .mount(&s.graph)
        .await;
    s.instagram_image("/ig_messaging_cdn/?asset_id=3").await;
    s.app.drain_media().await;
    assert_failed(&s, "was sent as image").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_platform_cap_fails() {
    let s = setup("WHATSAPP", WA).await;
    // WhatsApp images are capped at 5 MB.
    let mut bytes = jpeg();
    bytes.resize(5 * 1024 * 1024 + 1, 0);
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    s.app.drain_media().await;
    assert_failed(&s, "larger than the 5242880 bytes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_whatsapp_media_id_fails_with_metas_reason() {
    let s = setup("WHATSAPP", WA).await;
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{MEDIA_ID}")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Unsupported get request. Object with ID '1385520957413094' does not exist",
            "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AbC"}})))
        .mount(&s.graph)
        .await;
    s.whatsapp_image(&b64_sha256(b"x")).await;
    s.app.drain_media().await;
    assert_failed(&s, "code 100").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_quota_stops_copies_but_not_messages() {
    let s = setup_with("WHATSAPP", WA, |c| c.media_org_quota_bytes = 1000).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    s.app.drain_media().await;
    assert_failed(&s, "quota").await;
    assert_eq!(s.app.count("SELECT media_bytes AS n FROM orgs").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_refuse_expiry_tampering_and_other_orgs() {
    let s = setup("WHATSAPP", WA).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    s.app.drain_media().await;
    let url = s.attachment().await["url"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&url, None).await.0, StatusCode::OK);

    let id: delightchat::db::ids::MediaId = delightchat::db::ids::MediaId::parse(
        url.split("/media/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap(),
    )
    .unwrap();
    let org = delightchat::db::ids::OrgId::parse(&s.admin.org_id).unwrap();
    let signer = s.app.state.url_signer();
    let now = chrono::Utc::now().timestamp();

    // Expired: a correct signature whose time is up.
    let expired = signer.path(id, org, now - 1);
    // Tampered: the expiry pushed out without re-signing.
    let tampered = url.replace("exp=", "exp=9");
    // Another org: a valid signature, for an org that does not own the file.
    let other = s.app.signup("Other Shop", "eve@example.com").await;
    let other_org = delightchat::db::ids::OrgId::parse(&other.org_id).unwrap();
    let cross = signer.path(id, other_org, now + 600);
    // No signature at all.
    let bare = format!("/media/{}", id.0);
    for refused in [expired, tampered, cross, bare] {
        let (status, _, body) = s.get(&refused, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
        assert!(!body.windows(4).any(|w| w == &bytes[..4]), "never the file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_compatible_store_round_trips() {
    let Some(moto) = crate::support::moto::Moto::start().await else {
        panic!("moto_server is not installed (pip install 'moto[server]'); .ci/run installs it");
    };
    let url = moto.bucket_url("dc-media").await;
    let s = setup_with("WHATSAPP", WA, |c| c.media_store_url = Some(url)).await;
    let bytes = jpeg();
    s.whatsapp_media(&bytes).await;
    s.whatsapp_image(&b64_sha256(&bytes)).await;
    s.app.drain_media().await;
    let stored = s.attachment().await;
    assert_eq!(stored["storage"], "STORED", "{stored:#}");
    let (status, _, body) = s.get(stored["url"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
    let (status, _, body) = s
        .get(stored["url"].as_str().unwrap(), Some("bytes=0-3"))
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[..4]);
    assert!(
        moto.object_count("dc-media").await == 1,
        "the file is in the bucket"
    );
}

/// A small PNG.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR".to_vec();
    bytes.extend((0..2000u32).map(|i| (i % 199) as u8));
    bytes
}

const SEND: &str = "mutation($o: ID!, $t: ID!, $i: SendMessageInput!) { sendMessage(orgId: $o, ticketId: $t, input: $i) {
    id status attachments { type storage url } } }";

impl Setup {
    /// `POST /media` as `session`; status and JSON answer.
    async fn upload(
        &self,
        session: Option<&Session>,
        org: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(format!("/media?orgId={org}&filename=photo.png"))
            .header(header::CONTENT_TYPE, content_type);
        if let Some(session) = session {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", session.token));
        }
        let (status, _, body) = self
            .app
            .request(request.body(Body::from(bytes)).unwrap())
            .await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A customer text (so the reply window is open); the ticket id.
    async fn customer_writes(&self, platform_account: &str) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let body = if platform_account == WA {
            meta::wa_text(WA, CUSTOMER, "Priya", "wamid.text1", "hello", now)
        } else {
            meta::message(
                false,
                platform_account,
                "5500000000000011",
                "aWdftext1",
                "hello",
                now,
            )
        };
        self.deliver(&body).await;
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id } } } } }",
                json!({"o": self.admin.org_id}),
            )
            .await;
        data["org"]["tickets"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn send(&self, ticket: &str, input: Value) -> Value {
        self.app
            .graphql(
                Some(&self.admin.token),
                SEND,
                json!({"o": self.admin.org_id, "t": ticket, "i": input}),
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_goes_to_instagram_as_a_signed_url_of_our_copy() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s.customer_writes(IG).await;
    let (status, uploaded) = s
        .upload(Some(&s.admin), &s.admin.org_id, "image/png", png())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded:#}");
    assert_eq!(uploaded["contentType"], "image/png");
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{IG}/messages")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"recipient_id": "5500000000000011", "message_id": "aWdfsent1"}),
            ),
        )
        .expect(1)
        .mount(&s.graph)
        .await;
    let sent = s
        .send(&ticket, json!({"attachmentId": uploaded["id"]}))
        .await;
    let message = &sent["data"]["sendMessage"];
    assert_eq!(message["status"], "QUEUED", "{sent:#}");
    assert_eq!(message["attachments"][0]["type"], "IMAGE");
    assert_eq!(message["attachments"][0]["storage"], "STORED");
    s.app.drain_outbound().await;
    let requests = s.graph.received_requests().await.unwrap();
    let send = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    let attachment = &body["message"]["attachment"];
    assert_eq!(attachment["type"], "image", "{body:#}");
    let url = attachment["payload"]["url"].as_str().unwrap();
    let prefix = format!(
        "https://inbox.example.test/media/{}?exp=",
        uploaded["id"].as_str().unwrap()
    );
    assert!(url.starts_with(&prefix), "{url}");
    let (status, headers, bytes) = s.get(url, None).await;
    assert_eq!(status, StatusCode::OK, "Meta can fetch our copy");
    assert_eq!(bytes, png());
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_rules_refuse_an_attachment_before_anything_is_queued() {
    let s = setup("WHATSAPP", WA).await;
    let ticket = s.customer_writes(WA).await;
    // WhatsApp images: JPEG or PNG up to 5 MB.
    let mut big = png();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let (_, big) = s
        .upload(Some(&s.admin), &s.admin.org_id, "image/png", big)
        .await;
    let refused = s.send(&ticket, json!({"attachmentId": big["id"]})).await;
    assert_eq!(
        crate::support::error_code(&refused),
        "BAD_USER_INPUT",
        "{refused:#}"
    );
    let (_, gif) = s
        .upload(
            Some(&s.admin),
            &s.admin.org_id,
            "image/gif",
            b"GIF89a\x01\x00".to_vec(),
        )
        .await;
    let refused = s.send(&ticket, json!({"attachmentId": gif["id"]})).await;
    assert_eq!(
        crate::support::error_code(&refused),
        "BAD_USER_INPUT",
        "{refused:#}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("image/gif")
    );
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_a_member_and_stay_in_their_org() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s.customer_writes(IG).await;
    let (status, _) = s.upload(None, &s.admin.org_id, "image/png", png()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = s.app.signup("Other Shop", "eve@example.com").await;
    let (status, _) = s
        .upload(Some(&other), &s.admin.org_id, "image/png", png())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member of that org");
    let (status, theirs) = s
        .upload(Some(&other), &other.org_id, "image/png", png())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let refused = s.send(&ticket, json!({"attachmentId": theirs["id"]})).await;
    assert_eq!(
        crate::support::error_code(&refused),
        "NOT_FOUND",
        "{refused:#}"
    );
    // A session ended by logout cannot upload with its still-unexpired access token.
    let stored = s.app.count("SELECT count(*) AS n FROM media_objects").await;
    let out = s
        .app
        .graphql(Some(&other.token), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    let (status, answer) = s
        .upload(Some(&other), &other.org_id, "image/png", png())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "UNAUTHENTICATED", "{answer}");
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM media_objects").await,
        stored,
        "nothing stored after the logout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_goes_to_whatsapp_by_media_upload_then_id() {
    let s = setup("WHATSAPP", WA).await;
    let ticket = s.customer_writes(WA).await;
    let (status, uploaded) = s
        .upload(Some(&s.admin), &s.admin.org_id, "image/png", png())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded:#}");
    let token = format!("Bearer EAAG-token-of-{WA}");
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{WA}/media")))
        .and(has_header("authorization", token.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "990011223344"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{WA}/messages")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
            "messages": [{"id": "wamid.sent1"}]})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let sent = s
        .send(
            &ticket,
            json!({"attachmentId": uploaded["id"], "text": "the receipt"}),
        )
        .await;
    assert_eq!(sent["data"]["sendMessage"]["status"], "QUEUED", "{sent:#}");
    s.app.drain_outbound().await;
    let requests = s.graph.received_requests().await.unwrap();
    let upload = requests
        .iter()
        .find(|r| r.url.path().ends_with("/media"))
        .unwrap();
    let content_type = upload.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let form = String::from_utf8_lossy(&upload.body);
    assert!(
        form.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"),
        "{form}"
    );
    assert!(form.contains("name=\"type\"\r\n\r\nimage/png"), "{form}");
    assert!(
        upload.body.windows(png().len()).any(|w| w == png()),
        "the file is in the form"
    );
    let send = requests
        .iter()
        .find(|r| r.url.path().ends_with("/messages"))
        .unwrap();
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    assert_eq!(body["type"], "image", "{body:#}");
    assert_eq!(
        body["image"],
        json!({"id": "990011223344", "caption": "the receipt"})
    );
}

const UPLOAD: &str = "mutation($o: ID!, $f: Upload!) { uploadAttachment(orgId: $o, file: $f) { id contentType byteSize } }";

/// A GraphQL multipart request body (operations, map, then the files as
/// `(field, filename, content type, bytes)`); its content type and bytes.
fn multipart(
    operations: &str,
    map: &str,
    files: &[(&str, &str, &str, &[u8])],
) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "----delightchat-test-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in [("operations", operations), ("map", map)] {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (field, filename, content_type, bytes) in files {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

impl Setup {
    /// POSTs a multipart body to `/graphql` as `session`; status and JSON answer.
    async fn post_multipart(
        &self,
        session: Option<&Session>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, content_type);
        if let Some(session) = session {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", session.token));
        }
        let (status, _, body) = self
            .app
            .request(request.body(Body::from(body)).unwrap())
            .await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// `uploadAttachment` of one file into `org` as `session`.
    async fn upload_multipart(
        &self,
        session: &Session,
        org: &str,
        bytes: &[u8],
    ) -> (StatusCode, Value) {
        let operations = json!({"query": UPLOAD, "variables": {"o": org, "f": null}}).to_string();
        let (content_type, body) = multipart(
            &operations,
            r#"{"0": ["variables.f"]}"#,
            &[("0", "photo.png", "image/png", bytes)],
        );
        self.post_multipart(Some(session), &content_type, body)
            .await
    }

    async fn stored_files(&self) -> i64 {
        self.app
            .count("SELECT count(*) AS n FROM media_objects")
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_goes_to_instagram_as_a_signed_url_of_our_copy() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s.customer_writes(IG).await;
    let (status, response) = s.upload_multipart(&s.admin, &s.admin.org_id, &png()).await;
    assert_eq!(status, StatusCode::OK, "{response:#}");
    let uploaded = &response["data"]["uploadAttachment"];
    assert_eq!(uploaded["contentType"], "image/png", "{response:#}");
    assert_eq!(uploaded["byteSize"], png().len());
    let filename = s
        .app
        .rows("SELECT coalesce(filename, '') || ':' || org_id::text AS row FROM media_objects")
        .await;
    assert_eq!(filename, [format!("photo.png:{}", s.admin.org_id)]);
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{IG}/messages")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"recipient_id": "5500000000000011", "message_id": "aWdfsent2"}),
            ),
        )
        .expect(1)
        .mount(&s.graph)
        .await;
    let sent = s
        .send(&ticket, json!({"attachmentId": uploaded["id"]}))
        .await;
    assert_eq!(sent["data"]["sendMessage"]["status"], "QUEUED", "{sent:#}");
    s.app.drain_outbound().await;
    let requests = s.graph.received_requests().await.unwrap();
    let send = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    let url = body["message"]["attachment"]["payload"]["url"]
        .as_str()
        .unwrap();
    let prefix = format!(
        "https://inbox.example.test/media/{}?exp=",
        uploaded["id"].as_str().unwrap()
    );
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.contains("&sig="), "{url}");
    let (status, _, bytes) = s.get(url, None).await;
    assert_eq!(status, StatusCode::OK, "Meta can fetch our copy");
    assert_eq!(bytes, png());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_upload_is_refused_and_nothing_is_stored() {
    let s = setup_with("INSTAGRAM", IG, |c| c.media_upload_max_bytes = 4096).await;
    let mut big = png();
    big.resize(4097, 7);
    let (status, response) = s.upload_multipart(&s.admin, &s.admin.org_id, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{response:#}");
    assert_eq!(crate::support::error_code(&response), "BAD_USER_INPUT");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("upload limit of 4096 bytes"), "{message}");
    // A declared length over the bound is refused before the body is read.
    let operations =
        json!({"query": UPLOAD, "variables": {"o": s.admin.org_id, "f": null}}).to_string();
    let (content_type, body) = multipart(
        &operations,
        r#"{"0": ["variables.f"]}"#,
        &[("0", "photo.png", "image/png", &png()[..1000])],
    );
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin.token))
        .header(header::CONTENT_LENGTH, "99999999999")
        .body(Body::from(body))
        .unwrap();
    let (status, _, _) = s.app.request(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // POST /media has the same cap.
    let (status, _) = s
        .upload(Some(&s.admin), &s.admin.org_id, "image/png", big.clone())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(s.stored_files().await, 0, "nothing was stored");
    // At the cap it goes.
    big.truncate(4096);
    let (status, response) = s.upload_multipart(&s.admin, &s.admin.org_id, &big).await;
    assert_eq!(status, StatusCode::OK, "{response:#}");
    assert_eq!(response["data"]["uploadAttachment"]["byteSize"], 4096);
    assert_eq!(s.stored_files().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_when_one_is_allowed_are_refused() {
    let s = setup("INSTAGRAM", IG).await;
    let query = "mutation($o: ID!, $f: Upload!, $g: Upload!) { a: uploadAttachment(orgId: $o, file: $f) { id } b: uploadAttachment(orgId: $o, file: $g) { id } }";
    let operations =
        json!({"query": query, "variables": {"o": s.admin.org_id, "f": null, "g": null}})
            .to_string();
    let png = png();
    let (content_type, body) = multipart(
        &operations,
        r#"{"0": ["variables.f"], "1": ["variables.g"]}"#,
        &[
            ("0", "a.png", "image/png", &png),
            ("1", "b.png", "image/png", &png),
        ],
    );
    let (status, response) = s.post_multipart(Some(&s.admin), &content_type, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response:#}");
    assert_eq!(crate::support::error_code(&response), "BAD_USER_INPUT");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 file"),
        "{response:#}"
    );
    // A second file part the map does not name is refused as well.
    let operations =
        json!({"query": UPLOAD, "variables": {"o": s.admin.org_id, "f": null}}).to_string();
    let (content_type, body) = multipart(
        &operations,
        r#"{"0": ["variables.f"]}"#,
        &[
            ("0", "a.png", "image/png", &png),
            ("1", "b.png", "image/png", &png),
        ],
    );
    let (status, response) = s.post_multipart(Some(&s.admin), &content_type, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response:#}");
    assert_eq!(crate::support::error_code(&response), "BAD_USER_INPUT");
    assert_eq!(s.stored_files().await, 0, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_need_a_member_and_stay_in_their_org() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s.customer_writes(IG).await;
    let other = s.app.signup("Other Shop", "eve@example.com").await;
    let (status, refused) = s.upload_multipart(&other, &s.admin.org_id, &png()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        crate::support::error_code(&refused),
        "FORBIDDEN",
        "{refused:#}"
    );
    let operations =
        json!({"query": UPLOAD, "variables": {"o": s.admin.org_id, "f": null}}).to_string();
    let (content_type, body) = multipart(
        &operations,
        r#"{"0": ["variables.f"]}"#,
        &[("0", "photo.png", "image/png", &png())],
    );
    let (status, refused) = s.post_multipart(None, &content_type, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused:#}");
    assert_eq!(crate::support::error_code(&refused), "UNAUTHENTICATED");
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::AUTHORIZATION, "Bearer not-a-token")
        .body(Body::from(body))
        .unwrap();
    let (status, _, _) = s.app.request(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a bad token is refused");
    assert_eq!(s.stored_files().await, 0);
    let (_, theirs) = s.upload_multipart(&other, &other.org_id, &png()).await;
    let id = &theirs["data"]["uploadAttachment"]["id"];
    assert!(id.is_string(), "{theirs:#}");
    let refused = s.send(&ticket, json!({"attachmentId": id})).await;
    assert_eq!(
        crate::support::error_code(&refused),
        "NOT_FOUND",
        "{refused:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_multipart_bodies_get_400_with_a_graphql_error() {
    let s = setup("INSTAGRAM", IG).await;
    let o = &s.admin.org_id;
    let good_ops = json!({"query": UPLOAD, "variables": {"o": o, "f": null}}).to_string();
    let png = png();
    let file = [("0", "photo.png", "image/png", png.as_slice())];
    let deep = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": {}1{}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let batch = json!([{"query": UPLOAD, "variables": {"o": o, "f": null}}]).to_string();
    let cases: Vec<(&str, (String, Vec<u8>))> = vec![
        (
            "not multipart at all",
            (
                "multipart/form-data; boundary=abc".into(),
                b"{\"query\": \"{ __typename }\"}".to_vec(),
            ),
        ),
        ("cut short", {
            let (ct, mut body) = multipart(&good_ops, r#"{"0": ["variables.f"]}"#, &file);
            body.truncate(body.len() / 2);
            (ct, body)
        }),
        ("no boundary", ("multipart/form-data".into(), b"x".to_vec())),
        (
            "operations not JSON",
            multipart("{not json", r#"{"0": ["variables.f"]}"#, &file),
        ),
        (
            "operations a batch",
            multipart(&batch, r#"{"0": ["0.variables.f"]}"#, &file),
        ),
        (
            "operations nested too deep",
            multipart(&deep, r#"{"0": ["variables.f"]}"#, &file),
        ),
        ("map not JSON", multipart(&good_ops, "nope", &file)),
        (
            "map path to nothing",
            multipart(&good_ops, r#"{"0": ["variables.nothing"]}"#, &file),
        ),
        (
            "map names a missing file",
            multipart(&good_ops, r#"{"0": ["variables.f"]}"#, &[]),
        ),
        (
            "no file",
            multipart(&json!({"query": "{ __typename }"}).to_string(), "{}", &[]),
        ),
    ];
    for (case, (content_type, body)) in cases {
        let (status, response) = s.post_multipart(Some(&s.admin), &content_type, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {response:#}");
        assert_eq!(
            crate::support::error_code(&response),
            "BAD_USER_INPUT",
            "{case}: {response:#}"
        );
    }
    // `operations` is capped like a JSON body.
    let padded =
        json!({"query": UPLOAD, "variables": {"o": o, "f": null, "pad": "x".repeat(300 * 1024)}})
            .to_string();
    let (content_type, body) = multipart(&padded, r#"{"0": ["variables.f"]}"#, &file);
    let (status, response) = s.post_multipart(Some(&s.admin), &content_type, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{response:#}");
    assert_eq!(crate::support::error_code(&response), "BAD_USER_INPUT");
    // A file reference a client writes itself is refused, not resolved (or panicked on).
    for forged in ["#__graphql_file__:0", "#__graphql_file__:x"] {
        let response = s
            .app
            .graphql(Some(&s.admin.token), UPLOAD, json!({"o": o, "f": forged}))
            .await;
        assert_eq!(
            crate::support::error_code(&response),
            "BAD_USER_INPUT",
            "{response:#}"
        );
    }
    // Mutations still need POST.
    let uri = format!(
        "/graphql?query={}",
        "mutation%20%7B%20uploadAttachment(orgId%3A%20%22x%22%2C%20file%3A%20null)%20%7B%20id%20%7D%20%7D"
    );
    let (status, _, _) = s
        .app
        .request(
            Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {}", s.admin.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(s.stored_files().await, 0);
}
