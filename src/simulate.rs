//! `delightchat simulate`: builds a realistic, correctly signed Meta delivery and POSTs
//! it to a running server, so the whole inbound flow can be tried locally.
//!
//! Bodies are compact JSON with non-ASCII escaped as `\uXXXX` and `/` as `\/`, the way
//! Meta sends them, and signed over exactly those bytes.

use crate::db::enums::Platform;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::config::Config;
use crate::crypto::{SecretBox, aad};
use crate::db::{channels, ids::ChannelId, messages};
use crate::webhooks::signature;

/// Kinds of delivery `simulate` can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Instagram direct message.
    IgDm,
    /// Instagram direct message with an image (on the local sandbox's CDN).
    IgImage,
    /// Instagram reply to the business's story.
    IgStoryReply,
    /// Instagram story mentioning the business.
    IgStoryMention,
    /// Instagram comment on a post.
    IgComment,
    /// Messenger text message.
    MessengerText,
    /// WhatsApp text message.
    WaText,
    /// WhatsApp image with `--text` as its caption (served by the local sandbox).
    WaImage,
    /// WhatsApp delivery status of one of our messages.
    WaStatus,
}

impl Kind {
    /// The channel platform this kind of delivery belongs to.
    pub fn platform(self) -> Platform {
        match self {
            Kind::IgDm
            | Kind::IgImage
            | Kind::IgStoryReply
            | Kind::IgStoryMention
            | Kind::IgComment => Platform::Instagram,
            Kind::MessengerText => Platform::Messenger,
            Kind::WaText | Kind::WaImage | Kind::WaStatus => Platform::WhatsApp,
        }
    }

    /// The kinds of `platform`, as typed on the command line.
    fn of_platform(platform: Platform) -> Vec<String> {
        Kind::value_variants()
            .iter()
            .filter(|k| k.platform() == platform)
            .filter_map(|k| k.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect()
    }
}

/// The furthest back `--hours-ago` may date a delivery: ten years.
const MAX_HOURS_AGO: i64 = 10 * 366 * 24;

/// Arguments of `delightchat simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// What to simulate.
    #[arg(value_enum)]
    pub kind: Kind,
    /// The channel to deliver to (its id, as shown by the `channels` query).
    #[arg(long)]
    pub channel: String,
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
    /// The customer's platform id (IGSID, PSID or WhatsApp number).
    #[arg(long, default_value = "5500000000000001")]
    pub from: String,
    /// Customer name / username shown where the platform sends one.
    #[arg(long, default_value = "Sam Rivera")]
    pub name: String,
    /// Message text.
    #[arg(long, default_value = "Hi! Is the blue kettle back in stock?")]
    pub text: String,
    /// For `wa-status`: the wamid of our outbound message.
    #[arg(long, conflicts_with = "latest")]
    pub message_id: Option<String>,
    /// For `wa-status`: target the channel's most recent outbound message (read from the
    /// database).
    #[arg(long)]
    pub latest: bool,
    /// For `wa-status`: sent, delivered, read or failed.
    #[arg(long, default_value = "delivered")]
    pub status: String,
    /// Date the delivery this many hours back (e.g. 25: the customer's 24-hour window
    /// has closed); at most ten years.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=MAX_HOURS_AGO))]
    pub hours_ago: u32,
    /// App secret to sign with; read from the channel in the database when omitted.
    #[arg(long)]
    pub app_secret: Option<String>,
    /// The channel's Meta account id; read from the database when omitted.
    #[arg(long)]
    pub account_id: Option<String>,
}

/// The facts a delivery is built from.
#[derive(Debug, Clone)]
pub struct Params {
    /// Business account id (IG account, Page, WhatsApp phone number id).
    pub account_id: String,
    /// Customer id on the platform.
    pub from: String,
    /// Customer name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Our wamid for statuses.
    pub message_id: Option<String>,
    /// Status for `wa-status`.
    pub status: String,
    /// Unique suffix for ids in the body.
    pub unique: String,
}

/// Builds, signs and posts the delivery; prints what happened.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let remote = args.account_id.is_some() && args.app_secret.is_some() && !args.latest;
    let (account_id, secret, message_id) = if remote {
        let account = args.account_id.clone().unwrap_or_default();
        let secret = args.app_secret.clone().unwrap_or_default();
        (account, secret, args.message_id.clone())
    } else {
        let local = channel_credentials(&args.channel, args.latest).await?;
        check_platform(args.kind, &args.channel, local.platform)?;
        let message_id = if args.latest {
            Some(local.latest_outbound.with_context(|| {
                format!(
                    "channel {} has no outbound message with a platform id yet",
                    args.channel
                )
            })?)
        } else {
            args.message_id.clone()
        };
        (local.account_id, local.app_secret, message_id)
    };
    let params = Params {
        account_id,
        from: args.from.clone(),
        name: args.name.clone(),
        text: args.text.clone(),
        message_id,
        status: args.status.clone(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    };
    let at = Utc::now() - chrono::Duration::hours(i64::from(args.hours_ago));
    let body = build(args.kind, &params, at)?;
    let url = format!(
        "{}/webhook/{}",
        args.url.trim_end_matches('/'),
        args.channel
    );
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            signature::sign(&body, secret.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    println!("POST {url} ({} bytes) -> {}", body.len(), response.status());
    anyhow::ensure!(
        response.status().is_success(),
        "the server refused the delivery"
    );
    Ok(())
}

/// What `simulate` reads about a channel from the database.
struct LocalChannel {
    account_id: String,
    app_secret: String,
    platform: Platform,
    latest_outbound: Option<String>,
}

/// Refuses a delivery of another platform than the channel's: the server would drop it.
fn check_platform(kind: Kind, channel: &str, platform: Platform) -> anyhow::Result<()> {
    anyhow::ensure!(
        kind.platform() == platform,
        "channel {channel} is a {platform} channel, and this kind of delivery is {}; use one of: {}",
        kind.platform(),
        Kind::of_platform(platform).join(", ")
    );
    Ok(())
}

/// Reads the channel's account id, app secret and platform (and, with `latest`, its
/// most recent outbound message id) with this machine's configuration.
async fn channel_credentials(channel: &str, latest: bool) -> anyhow::Result<LocalChannel> {
    let id = ChannelId::parse(channel).context("--channel must be a channel id")?;
    let config = Config::from_env()?;
    let mut conn = <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
        &config.database_url,
    )
    .await
    .context(
        "connecting to the database to read the channel (or pass --account-id and --app-secret)",
    )?;
    let row = channels::find_live(&mut conn, id)
        .await?
        .context("no such channel")?;
    let app_secret = SecretBox::new(&config.secret_key)
        .open(&row.app_secret_enc, &aad(row.id.0, "app_secret"))
        .context("cannot decrypt the channel's app secret with this SECRET_KEY")?;
    let latest_outbound = if latest {
        messages::latest_outbound_external_id(&mut conn, row.id).await?
    } else {
        None
    };
    Ok(LocalChannel {
        account_id: row.external_account_id,
        app_secret,
        platform: row.platform,
        latest_outbound,
    })
}

/// The raw body of a delivery of `kind`, dated `now`; Instagram images link to the local
/// sandbox's CDN.
pub fn build(kind: Kind, p: &Params, now: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
    build_with_cdn(kind, p, now, crate::sandbox::media::CDN_ORIGIN)
}

/// [`build`], with Instagram images linking to the CDN at origin `cdn`.
pub fn build_with_cdn(
    kind: Kind,
    p: &Params,
    now: DateTime<Utc>,
    cdn: &str,
) -> anyhow::Result<Vec<u8>> {
    let ms = now.timestamp_millis();
    let secs = now.timestamp();
    let mid = format!("aWdfZAG1faXRlbToxOlNJTV9{}", p.unique);
    let messaging = |item: Value| json!({"object": "instagram", "entry": [{"id": p.account_id, "time": ms, "messaging": [item]}]});
    let from = json!({"id": p.from});
    let to = json!({"id": p.account_id});
    let body = match kind {
        Kind::IgDm => messaging(json!({"sender": from, "recipient": to, "timestamp": ms,
            "message": {"mid": mid, "text": p.text}})),
        Kind::IgImage => messaging(json!({"sender": from, "recipient": to, "timestamp": ms,
            "message": {"mid": mid, "attachments": [{"type": "image", "payload": {
                "url": format!("{cdn}{}?asset_id={}&signature=sim", crate::sandbox::media::CDN_PATH, p.unique)}}]}})),
        Kind::IgStoryReply => messaging(json!({"sender": from, "recipient": to, "timestamp": ms,
            "message": {"mid": mid, "text": p.text, "reply_to": {"story": {"id": format!("1800{}", &p.unique[..8]),
                "url": format!("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={}&signature=sim", p.unique)}}}})),
        Kind::IgStoryMention => messaging(json!({"sender": from, "recipient": to, "timestamp": ms,
            "message": {"mid": mid, "attachments": [{"type": "story_mention", "payload": {
                "url": format!("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={}&signature=sim", p.unique)}}]}})),
        Kind::IgComment => {
            json!({"object": "instagram", "entry": [{"id": p.account_id, "time": secs, "changes": [{
            "field": "comments", "value": {"from": {"id": p.from, "username": username(&p.name)},
            "media": {"id": "17900000000000001", "media_product_type": "FEED"},
            "id": format!("1800{}", numeric(&p.unique)), "text": p.text}}]}]})
        }
        Kind::MessengerText => {
            json!({"object": "page", "entry": [{"id": p.account_id, "time": ms, "messaging": [{
            "sender": from, "recipient": to, "timestamp": ms, "message": {"mid": format!("m_{}", p.unique), "text": p.text}}]}]})
        }
        Kind::WaText => whatsapp(
            p,
            json!({
            "contacts": [{"profile": {"name": p.name}, "wa_id": p.from}],
            "messages": [{"from": p.from, "id": format!("wamid.SIM{}", p.unique), "timestamp": secs.to_string(),
                "type": "text", "text": {"body": p.text}}]}),
        ),
        Kind::WaImage => whatsapp(
            p,
            json!({
            "contacts": [{"profile": {"name": p.name}, "wa_id": p.from}],
            "messages": [{"from": p.from, "id": format!("wamid.SIM{}", p.unique), "timestamp": secs.to_string(),
                "type": "image", "image": {"caption": p.text, "mime_type": crate::sandbox::media::SAMPLE_TYPE,
                    "sha256": crate::sandbox::media::sample_sha256(), "id": format!("1385{}", numeric(&p.unique))}}]}),
        ),
        Kind::WaStatus => {
            let id = p
                .message_id
                .clone()
                .context("wa-status needs --latest or --message-id <wamid of our message>")?;
            whatsapp(
                p,
                json!({"statuses": [{"id": id, "status": p.status, "timestamp": secs.to_string(),
                "recipient_id": p.from}]}),
            )
        }
    };
    Ok(escape_like_meta(&body.to_string()).into_bytes())
}

fn whatsapp(p: &Params, mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert("messaging_product".into(), json!("whatsapp"));
        map.insert(
            "metadata".into(),
            json!({"display_phone_number": "15550000000", "phone_number_id": p.account_id}),
        );
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000001",
        "changes": [{"field": "messages", "value": value}]}]})
}

fn username(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(".")
}

fn numeric(unique: &str) -> String {
    unique
        .bytes()
        .take(12)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

/// Escapes non-ASCII characters as `\uXXXX` (UTF-16, surrogate pairs) and `/` as `\/`,
/// as Meta does. Only valid inside JSON strings, which is where such characters are.
pub fn escape_like_meta(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::normalized::NormalizedEvent;
    use crate::webhooks::meta;

    #[test]
    fn hours_ago_is_bounded_by_the_parser_not_by_a_panic() {
        use clap::Parser as _;
        let parse = |hours: &str| {
            crate::cli::Cli::try_parse_from([
                "delightchat",
                "simulate",
                "ig-dm",
                "--channel",
                "00000000-0000-0000-0000-000000000000",
                "--hours-ago",
                hours,
            ])
        };
        assert!(parse("25").is_ok(), "{:?}", parse("25").err());
        assert!(parse(&MAX_HOURS_AGO.to_string()).is_ok());
        let refused = parse("4294967295").err().map(|e| e.kind());
        assert_eq!(refused, Some(clap::error::ErrorKind::ValueValidation));
        let furthest = Utc::now() - chrono::Duration::hours(MAX_HOURS_AGO);
        assert!(furthest.timestamp() > 0);
    }

    fn params() -> Params {
        Params {
            account_id: "17841400000000101".into(),
            from: "5500000000000001".into(),
            name: "Zoë Ñúñez".into(),
            text: "Olá ❤️ 🚀 / ok".into(),
            message_id: Some("wamid.OUT".into()),
            status: "read".into(),
            unique: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    #[test]
    fn a_kind_of_another_platform_is_refused_naming_the_right_ones() {
        let e = check_platform(Kind::MessengerText, "c1", Platform::Instagram)
            .unwrap_err()
            .to_string();
        assert!(e.contains("INSTAGRAM channel"), "{e}");
        assert!(
            e.contains("ig-dm") && e.contains("ig-comment") && !e.contains("wa-text"),
            "{e}"
        );
        assert!(check_platform(Kind::WaStatus, "c1", Platform::WhatsApp).is_ok());
    }

    #[test]
    fn every_kind_parses_back_into_the_event_it_simulates() {
        for kind in Kind::value_variants() {
            let body = build(*kind, &params(), Utc::now()).unwrap();
            assert!(body.is_ascii(), "{kind:?} must be escaped like Meta");
            let delivery = meta::parse(&body).unwrap();
            assert_eq!(delivery.entries.len(), 1, "{kind:?}");
            assert_eq!(delivery.entries[0].account_id, "17841400000000101");
            let event = &delivery.entries[0].events[0];
            match (kind, event) {
                (Kind::WaStatus, NormalizedEvent::Status(s)) => {
                    assert_eq!(s.external_id, "wamid.OUT")
                }
                (Kind::IgStoryMention | Kind::IgImage, NormalizedEvent::Message(m)) => {
                    assert!(m.text.is_none())
                }
                (_, NormalizedEvent::Message(m)) => {
                    assert_eq!(m.text.as_deref(), Some("Olá ❤️ 🚀 / ok"))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn image_kinds_carry_the_sandbox_sample() {
        let message = |kind, cdn| {
            let body = build_with_cdn(kind, &params(), Utc::now(), cdn).unwrap();
            match meta::parse(&body).unwrap().entries[0].events.remove(0) {
                NormalizedEvent::Message(m) => m,
                other => panic!("unexpected {other:?}"),
            }
        };
        let wa = message(Kind::WaImage, "http://unused");
        let image = &wa.attachments[0];
        assert!(image.is_copied() && image.media_id.is_some());
        assert_eq!(
            image.sha256.as_deref(),
            Some(crate::sandbox::media::sample_sha256().as_str())
        );
        let ig = message(Kind::IgImage, crate::sandbox::media::CDN_ORIGIN);
        let link = ig.attachments[0].url.clone().unwrap();
        assert!(ig.attachments[0].is_copied());
        assert!(crate::sandbox::media::resolve("http://127.0.0.1:9", &link).is_some());
        let bench = message(Kind::IgImage, "http://127.0.0.1:9");
        let link = bench.attachments[0].url.clone().unwrap();
        assert!(link.starts_with("http://127.0.0.1:9/ig_messaging_cdn/?asset_id="));
    }

    #[test]
    fn escaping_matches_metas_form() {
        assert_eq!(
            escape_like_meta("\"a/é😀\""),
            "\"a\\/\\u00e9\\ud83d\\ude00\""
        );
    }
}
