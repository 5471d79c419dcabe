//! GraphiQL, served by the binary itself: pinned production builds vendored under
//! `assets/graphiql/` (see its README for versions and licences) and embedded at compile
//! time, so the page works offline and under a strict Content-Security-Policy.
//!
//! - `GET /graphql` from a browser (no query string, no WebSocket upgrade) returns the
//!   page; `GET /graphiql/{hash}/{file}` returns an asset. Asset URLs carry a prefix of
//!   the file's SHA-256, so they are cached for a year as immutable and a new build
//!   can never be mixed with a stale cache.
//! - The page's CSP allows only our own origin: scripts and stylesheets from `'self'`
//!   with no `'unsafe-inline'` and no `'unsafe-eval'` (GraphiQL 3 needs neither: there
//!   is no inline script or style element, and the inline `style` attributes it sets go
//!   through the CSSOM, which CSP does not govern), fonts and icons from `'self'` and
//!   `data:` (GraphiQL's CSS embeds its fonts), requests and the WebSocket to `'self'`,
//!   no framing. The Chromium conformance test fails on any CSP violation.
//! - Both are 404 when introspection is off (production): no GraphiQL there.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Content-Security-Policy of the GraphiQL page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; font-src 'self' data:; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Route of the assets.
pub const ASSET_ROUTE: &str = "/graphiql/{hash}/{file}";

/// One embedded file.
struct Asset {
    file: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($file:literal, $type:expr) => {
        Asset {
            file: $file,
            content_type: $type,
            bytes: include_bytes!(concat!("../../assets/graphiql/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Stylesheets then scripts, in the order the page loads them.
const ASSETS: [Asset; 7] = [
    asset!("graphiql-3.9.0.min.css", CSS),
    asset!("delightchat-graphiql.css", CSS),
    asset!("react-18.3.1.production.min.js", JS),
    asset!("react-dom-18.3.1.production.min.js", JS),
    asset!("graphql-ws-6.4.2.min.js", JS),
    asset!("graphiql-3.9.0.min.js", JS),
    asset!("delightchat-graphiql.js", JS),
];

/// Each asset's URL, with its content hash.
static URLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("/graphiql/{}/{}", hash(a.bytes), a.file))
        .collect()
});

/// The page, built once.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let mut head = String::new();
    let mut scripts = String::new();
    for (asset, url) in ASSETS.iter().zip(URLS.iter()) {
        if asset.content_type == CSS {
            head.push_str(&format!("<link rel=\"stylesheet\" href=\"{url}\">\n"));
        } else if asset.content_type == JS {
            scripts.push_str(&format!("<script src=\"{url}\"></script>\n"));
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>DelightChat GraphiQL</title>\n{head}</head>\n<body>\n\
         <div id=\"graphiql\" data-endpoint=\"/graphql\">Loading GraphiQL…</div>\n{scripts}</body>\n</html>\n"
    )
});

fn hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// The GraphiQL page, or 404 when introspection is off.
pub fn page(app: &AppState) -> Response {
    if !app.config().graphql_introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = Html(PAGE.as_str()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /graphiql/{hash}/{file}`: an embedded asset, cached as immutable.
pub async fn asset(
    State(app): State<AppState>,
    Path((hash, file)): Path<(String, String)>,
) -> Response {
    if !app.config().graphql_introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = ASSETS
        .iter()
        .zip(URLS.iter())
        .find(|(asset, url)| asset.file == file && url.ends_with(&format!("/{hash}/{file}")));
    let Some((asset, _)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.bytes,
    )
        .into_response()
}

/// URLs of every asset the page loads (for tests).
pub fn asset_urls() -> &'static [String] {
    &URLS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_asset_and_has_no_inline_script() {
        for url in asset_urls() {
            assert!(PAGE.contains(url.as_str()), "{url}");
        }
        assert_eq!(
            PAGE.matches("<script").count(),
            PAGE.matches("<script src=").count()
        );
        assert!(!PAGE.contains("style="));
        assert!(!PAGE.contains("http"), "no absolute URL: {}", *PAGE);
    }
}
