//! Size caps and accepted types per platform and kind of media, applied to what we
//! download and to what agents send.
//!
//! WhatsApp's own limits: images 5 MB (JPEG, PNG), video 16 MB (MP4, 3GPP), audio 16 MB
//! (AAC, AMR, MP3, MP4, Ogg), documents 100 MB, stickers 500 KB (WebP). Instagram: images
//! 8 MB (PNG, JPEG), audio, video and PDF files 25 MB. Messenger: 25 MB for any
//! attachment.

use crate::db::enums::{AttachmentType, Platform};

const MB: u64 = 1024 * 1024;

/// Largest file of `kind` on `platform`.
pub fn max_bytes(platform: Platform, kind: AttachmentType) -> u64 {
    match (platform, kind) {
        (Platform::WhatsApp, AttachmentType::Image) => 5 * MB,
        (Platform::WhatsApp, AttachmentType::Video | AttachmentType::Audio) => 16 * MB,
        (Platform::WhatsApp, AttachmentType::Sticker) => 500 * 1024,
        (Platform::WhatsApp, _) => 100 * MB,
        (Platform::Instagram, AttachmentType::Image) => 8 * MB,
        (Platform::Instagram | Platform::Messenger, _) => 25 * MB,
    }
}

/// The media family (`image`, `video`, `audio`) an attachment of `kind` must be, or
/// `None` for documents and anything else.
pub fn family(kind: AttachmentType) -> Option<&'static str> {
    match kind {
        AttachmentType::Image | AttachmentType::Sticker => Some("image"),
        AttachmentType::Video | AttachmentType::Reel => Some("video"),
        AttachmentType::Audio => Some("audio"),
        _ => None,
    }
}

/// Whether `platform` accepts a file of `content_type` sent as `kind`; the reason when
/// it does not.
pub fn check_outbound(
    platform: Platform,
    kind: AttachmentType,
    content_type: &str,
    size: u64,
) -> Result<(), String> {
    let cap = max_bytes(platform, kind);
    if size > cap {
        return Err(format!(
            "{platform} accepts {} files up to {} bytes; this one has {size}",
            kind.as_str().to_lowercase(),
            cap
        ));
    }
    let accepted: &[&str] = match (platform, kind) {
        (Platform::WhatsApp, AttachmentType::Image) => &["image/jpeg", "image/png"],
        (Platform::WhatsApp, AttachmentType::Video) => &["video/mp4", "video/3gpp"],
        (Platform::WhatsApp, AttachmentType::Audio) => &[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ],
        (Platform::Instagram, AttachmentType::Image) => &["image/jpeg", "image/png"],
        (Platform::Instagram, AttachmentType::Video) => &[
            "video/mp4",
            "audio/ogg",
            "video/x-msvideo",
            "video/quicktime",
            "video/webm",
        ],
        (Platform::Instagram, AttachmentType::Audio) => {
            &["audio/aac", "audio/mp4", "audio/wav", "video/mp4"]
        }
        (Platform::Instagram, AttachmentType::File) => &["application/pdf"],
        (Platform::Messenger, AttachmentType::Image) => &["image/jpeg", "image/png", "image/gif"],
        _ => match family(kind) {
            Some(f) if !content_type.starts_with(f) => {
                return Err(format!("a {kind} attachment must be {f} content"));
            }
            _ => return Ok(()),
        },
    };
    if accepted.contains(&content_type) {
        Ok(())
    } else {
        Err(format!(
            "{platform} does not accept {content_type} as {}; it accepts {}",
            kind.as_str().to_lowercase(),
            accepted.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_caps_follow_its_media_types() {
        assert_eq!(max_bytes(Platform::WhatsApp, AttachmentType::Image), 5 * MB);
        assert_eq!(
            max_bytes(Platform::WhatsApp, AttachmentType::File),
            100 * MB
        );
        assert!(
            check_outbound(
                Platform::WhatsApp,
                AttachmentType::Image,
                "image/png",
                6 * MB
            )
            .is_err()
        );
        assert!(
            check_outbound(Platform::WhatsApp, AttachmentType::Image, "image/gif", 10).is_err()
        );
        assert!(
            check_outbound(
                Platform::Instagram,
                AttachmentType::Image,
                "image/png",
                6 * MB
            )
            .is_ok()
        );
        assert!(
            check_outbound(Platform::Messenger, AttachmentType::Video, "image/png", 1).is_err()
        );
    }
}
