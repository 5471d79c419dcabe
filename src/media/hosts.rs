//! Where the media job may download from: Meta's CDNs over HTTPS, and the Graph API
//! origin this server is configured with (Meta's, or a local sandbox or fake). A URL in a
//! webhook or a Graph answer, or a redirect from one, that points anywhere else (an
//! internal address, a cloud metadata endpoint, plain HTTP) is refused before any
//! request is made, so a forged or tampered attachment cannot make the worker fetch it.

use reqwest::Url;

/// Meta's media hosts by default: each allows itself and its subdomains
/// (`lookaside.fbsbx.com`, `scontent-*.fbcdn.net`, `*.cdninstagram.com`,
/// `mmg.whatsapp.net`...).
pub const META_MEDIA_DOMAINS: &str =
    "fbsbx.com,fbcdn.net,cdninstagram.com,facebook.com,instagram.com,whatsapp.net";

/// A URL's scheme, host and port.
type Origin = (String, String, u16);

fn origin(url: &Url) -> Option<Origin> {
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
    ))
}

/// The download allow-list.
#[derive(Debug, Clone)]
pub struct MediaHosts {
    /// Domains whose hosts (and subdomains) may be fetched over HTTPS.
    domains: Vec<String>,
    /// Origins (scheme, host, port) trusted as configured, whatever their scheme (the
    /// Graph API base URL and the sandbox's).
    origins: Vec<Origin>,
}

impl MediaHosts {
    /// The list of `domains` (comma-separated) and the `origins` of these configured URLs.
    pub fn new<'a>(domains: &str, trusted_urls: impl IntoIterator<Item = &'a str>) -> Self {
        MediaHosts {
            domains: domains
                .split(',')
                .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            origins: trusted_urls
                .into_iter()
                .filter_map(|u| Url::parse(u).ok())
                .filter_map(|u| origin(&u))
                .collect(),
        }
    }

    /// Whether `url` may be downloaded.
    pub fn allows(&self, url: &Url) -> bool {
        if origin(url).is_some_and(|o| self.origins.contains(&o)) {
            return true;
        }
        let Some(host) = url.domain() else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        url.scheme() == "https"
            && url.port().is_none()
            && self.domains.iter().any(|d| {
                host == *d
                    || host
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(url: &str) -> bool {
        MediaHosts::new(META_MEDIA_DOMAINS, ["http://127.0.0.1:4010"])
            .allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn metas_cdns_over_https_are_allowed() {
        assert!(allows(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"
        ));
        assert!(allows("https://scontent-lhr8-1.xx.fbcdn.net/v/t1/a.jpg"));
        assert!(allows("https://scontent.cdninstagram.com/x.jpg"));
        assert!(allows("https://mmg.whatsapp.net/d/f/a.enc"));
        assert!(allows("https://FBCDN.NET./a.jpg"));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(!allows("http://lookaside.fbsbx.com/a"), "plain HTTP");
        assert!(
            !allows("https://lookaside.fbsbx.com:8443/a"),
            "another port"
        );
        assert!(!allows("https://evilfbcdn.net/a"), "a look-alike domain");
        assert!(!allows("https://fbcdn.net.evil.example/a"));
        assert!(!allows("http://169.254.169.254/latest/meta-data/"));
        assert!(
            !allows("https://127.0.0.1/a"),
            "an address, not a host name"
        );
        assert!(!allows("https://[::1]/a"));
        assert!(!allows("http://127.0.0.1:5432/"), "another local port");
        assert!(!allows("file:///etc/passwd"));
    }

    #[test]
    fn the_configured_graph_origin_is_trusted() {
        assert!(allows("http://127.0.0.1:4010/ig_messaging_cdn/?asset_id=1"));
    }
}
