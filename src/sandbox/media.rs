//! The sandbox's media: one small PNG (a blue kettle seen from above) that every
//! simulated image carries, served the way Meta serves media.
//!
//! - WhatsApp: `GET /{version}/{media-id}` answers Meta's media-URL shape, whose `url`
//!   is the sandbox's `/whatsapp_business/attachments/?mid=..`; that download wants the
//!   bearer token, as Meta's does.
//! - Instagram and Messenger: simulated attachment links are on [`CDN_ORIGIN`], a name
//!   that never resolves; only a server running the sandbox fetches them, from the
//!   sandbox's `/ig_messaging_cdn/` ([`resolve`]).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// The image every simulated media message carries.
pub const SAMPLE_IMAGE: &[u8] = include_bytes!("sample.png");
/// Its content type.
pub const SAMPLE_TYPE: &str = "image/png";
/// Origin of the CDN links in simulated Instagram and Messenger deliveries.
pub const CDN_ORIGIN: &str = "https://sandbox.invalid";
/// Path of the sandbox's WhatsApp media downloads.
pub const WHATSAPP_DOWNLOAD: &str = "/whatsapp_business/attachments/";
/// Path of the sandbox's Instagram and Messenger CDN.
pub const CDN_PATH: &str = "/ig_messaging_cdn/";

/// The sample's SHA-256 as WhatsApp reports it in webhooks (base64).
pub fn sample_sha256() -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SAMPLE_IMAGE))
}

/// `url` fetched from the sandbox at `sandbox` when it is a sandbox CDN link; `None`
/// for any other link.
pub fn resolve(sandbox: &str, url: &str) -> Option<String> {
    url.strip_prefix(CDN_ORIGIN)
        .filter(|rest| rest.starts_with('/'))
        .map(|rest| format!("{}{rest}", sandbox.trim_end_matches('/')))
}

/// `GET /{version}/{media-id}`: Meta's answer for a WhatsApp media id.
pub fn media_url(sandbox: &str, media_id: &str) -> Response {
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}{WHATSAPP_DOWNLOAD}?mid={media_id}&ext=1&hash=sandbox", sandbox.trim_end_matches('/')),
        "mime_type": SAMPLE_TYPE,
        "sha256": sample_sha256(),
        "file_size": SAMPLE_IMAGE.len(),
        "id": media_id,
    }))
    .into_response()
}

/// The WhatsApp download: the bytes, for a bearer token only.
pub async fn whatsapp_download(headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > "Bearer ".len());
    if !bearer {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    sample()
}

/// The Instagram and Messenger CDN: the bytes, to anyone with the link.
pub async fn cdn() -> Response {
    sample()
}

fn sample() -> Response {
    ([(header::CONTENT_TYPE, SAMPLE_TYPE)], SAMPLE_IMAGE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sandbox_links_are_resolved() {
        assert_eq!(
            resolve(
                "http://127.0.0.1:4100/",
                "https://sandbox.invalid/ig_messaging_cdn/?asset_id=1"
            )
            .as_deref(),
            Some("http://127.0.0.1:4100/ig_messaging_cdn/?asset_id=1")
        );
        assert_eq!(
            resolve(
                "http://127.0.0.1:4100",
                "https://sandbox.invalid.example.com/x"
            ),
            None
        );
        assert_eq!(
            resolve("http://127.0.0.1:4100", "https://lookaside.fbsbx.com/x"),
            None
        );
    }

    #[test]
    fn the_sample_is_a_png_and_its_digest_is_base64() {
        assert_eq!(crate::media::sniff::sniff(SAMPLE_IMAGE), Some(SAMPLE_TYPE));
        let digest = base64::engine::general_purpose::STANDARD
            .decode(sample_sha256())
            .unwrap();
        assert_eq!(digest, Sha256::digest(SAMPLE_IMAGE).as_slice());
    }
}
