//! Content types from magic bytes: a small hand check of the formats Meta delivers and
//! accepts, so a file's stored type comes from what it is, not from what it claims.

/// The content type the first bytes of a file show, when they show one we know.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    Some(if starts(b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if starts(b"\x89PNG\r\n\x1A\n") {
        "image/png"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if starts(b"RIFF") && at(8, b"AVI ") {
        "video/x-msvideo"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if at(4, b"ftyp") {
        match bytes.get(8..11) {
            Some(b"M4A") => "audio/mp4",
            Some(b"qt ") => "video/quicktime",
            Some(b"3gp") => "video/3gpp",
            _ => "video/mp4",
        }
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"\x1A\x45\xDF\xA3") {
        "video/webm"
    } else if bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xF6 == 0xF0 {
        "audio/aac"
    } else if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        "audio/mpeg"
    } else if starts(b"#!AMR") {
        "audio/amr"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else {
        return None;
    })
}

/// Whether content of type `sniffed` (or unknown) may be stored for an attachment
/// declared as `declared`: images must be images, video video, audio audio (an MP4
/// container may carry either); documents may be anything except markup a browser would
/// run.
pub fn matches(declared_family: &str, sniffed: Option<&str>) -> bool {
    let family = |t: &str| t.split('/').next().unwrap_or("").to_owned();
    match (declared_family, sniffed) {
        ("image", Some(s)) => family(s) == "image",
        ("video", Some(s)) => family(s) == "video" || s == "audio/mp4",
        ("audio", Some(s)) => family(s) == "audio" || s == "video/mp4" || s == "video/webm",
        ("image" | "video" | "audio", None) => false,
        _ => true,
    }
}

/// The content type to store and serve: what the bytes show, else the declared type
/// when it is a harmless one, else `application/octet-stream` (never HTML, SVG or
/// script, which a browser would run on our origin).
pub fn stored_type(sniffed: Option<&str>, declared: Option<&str>) -> String {
    if let Some(s) = sniffed {
        return s.to_owned();
    }
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let harmless = declared.starts_with("application/")
        && !declared.contains("xml")
        && !declared.contains("javascript")
        && !declared.contains("html")
        || declared == "text/plain"
        || declared == "text/csv";
    if harmless {
        declared
    } else {
        "application/octet-stream".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_the_type() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1A\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(b"<html><script>"), None);
    }

    #[test]
    fn a_declared_image_must_be_an_image() {
        assert!(matches("image", Some("image/png")));
        assert!(!matches("image", Some("application/pdf")));
        assert!(!matches("image", None));
        assert!(matches("audio", Some("video/mp4")));
        assert!(matches("application", None));
    }

    #[test]
    fn markup_is_never_served_as_declared() {
        assert_eq!(
            stored_type(None, Some("text/html")),
            "application/octet-stream"
        );
        assert_eq!(
            stored_type(None, Some("image/svg+xml")),
            "application/octet-stream"
        );
        assert_eq!(
            stored_type(None, Some("application/msword")),
            "application/msword"
        );
        assert_eq!(
            stored_type(Some("image/png"), Some("text/html")),
            "image/png"
        );
    }
}
