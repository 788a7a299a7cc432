//! The rules of attachments, pure and unit-tested: which bytes are which type, what a file
//! may be called, how big an image may be, who may delete, and the HTTP arithmetic of a
//! download (ranges, validators).

use chrono::{Duration, NaiveDateTime};

use super::FileType;
use crate::auth::roles::{Permission, Role, allows};

/// How many leading bytes are gathered before the type is decided (every signature this
/// service recognises, ISO-BMFF brands included, is within them).
pub const SNIFF_BYTES: usize = 4096;

/// The longest file name kept, in characters (the extension included).
pub const MAX_FILENAME_CHARS: usize = 120;

/// Longest reason for a deletion, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The type of a file from its first bytes, or what it is (for the refusal) when it is not
/// one of the allowed types.
pub fn sniff(head: &[u8]) -> Result<FileType, String> {
    let Some(found) = infer::get(head) else {
        return Err("is not a file type this service recognises".into());
    };
    let allowed = match found.mime_type() {
        "image/jpeg" => Some(FileType::Jpeg),
        "image/png" => Some(FileType::Png),
        "image/webp" => Some(FileType::Webp),
        "image/heif" => Some(FileType::Heic),
        "video/mp4" => Some(FileType::Mp4),
        "application/pdf" => Some(FileType::Pdf),
        _ => None,
    };
    allowed.ok_or_else(|| {
        let what = match found.matcher_type() {
            infer::MatcherType::Archive => "an archive",
            infer::MatcherType::App => "a program",
            _ => "a file",
        };
        format!("is {what} of type {}", found.mime_type())
    })
}

/// What every refusal of a type adds: the types that are taken.
pub const ALLOWED_TYPES: &str = "allowed: JPEG, PNG, WebP and HEIC images, MP4 videos, PDFs";

/// A file name safe to store and to send back in `Content-Disposition`: the last path
/// component only (`/` and `\`), no control or reserved characters (`<>:"|?*`), no
/// leading dots or trailing dots and spaces, at most [`MAX_FILENAME_CHARS`] characters,
/// and an extension that matches the type (appended when it does not, so that `x.exe`
/// holding a PDF is saved as `x.exe.pdf`). Nothing left: `attachment.<ext>`.
pub fn sanitize_filename(raw: Option<&str>, file_type: FileType) -> String {
    let raw = raw.unwrap_or("");
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else if c.is_whitespace() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let usual = file_type.extensions()[0];
    let mut stem = if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.to_owned()
    };
    let has_extension = stem.rsplit_once('.').is_some_and(|(_, ext)| {
        file_type
            .extensions()
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    });
    if has_extension {
        // Keep the extension whole when the name is cut.
        let (base, ext) = stem.rsplit_once('.').unwrap_or((&stem, ""));
        let room = MAX_FILENAME_CHARS.saturating_sub(ext.chars().count() + 1);
        let base: String = base.chars().take(room).collect();
        return format!("{}.{ext}", base.trim_end_matches(['.', ' ']));
    }
    let room = MAX_FILENAME_CHARS.saturating_sub(usual.len() + 1);
    stem = stem.chars().take(room).collect();
    format!("{}.{usual}", stem.trim_end_matches(['.', ' ']))
}

/// An image's size as its header states it, against the pixel limit: a small file that
/// claims a huge picture is a decompression bomb, refused before anything is decoded.
pub fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err("is an image without pixels".into());
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(format!(
            "is an image of {width}×{height} pixels, more than the {max_pixels} allowed"
        ));
    }
    Ok(())
}

/// Who may delete an attachment: its uploader within `window` of uploading it, or a role
/// that may delete any (leads and admins). `Err` says why not.
pub fn may_delete(
    (actor_id, role): (i64, Role),
    uploader_id: Option<i64>,
    uploaded_at: NaiveDateTime,
    now: NaiveDateTime,
    window: Duration,
) -> Result<(), String> {
    if allows(role, Permission::RemoveAttachments) {
        return Ok(());
    }
    if uploader_id != Some(actor_id) {
        return Err("only its uploader, a lead or an admin may delete an attachment".into());
    }
    if now > uploaded_at + window {
        return Err(format!(
            "its uploader may delete an attachment for {} minutes after uploading it; ask a lead",
            window.num_minutes()
        ));
    }
    Ok(())
}

/// A deletion's reason: 1 to [`MAX_REASON_CHARS`] characters without control characters
/// other than line breaks.
pub fn check_reason(reason: &str) -> Result<&str, String> {
    let trimmed = reason.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_REASON_CHARS {
        return Err(format!("must be 1 to {MAX_REASON_CHARS} characters"));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed)
}

/// What a download answers for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file (no header, a unit other than bytes, several ranges, or nonsense:
    /// a server may ignore a Range it does not serve).
    Whole,
    /// 206 with bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// 416: no byte of the file is in the range.
    Unsatisfiable,
}

/// One `bytes=` range against a file of `size` bytes (RFC 9110 §14.1.2): `a-b`, `a-` and
/// the suffix `-n`; an end past the file is cut to its last byte.
pub fn range(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // Suffix: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Part {
                    start: size.saturating_sub(n),
                    end: size - 1,
                }
            }
        }
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if start >= size {
                return RangeAnswer::Unsatisfiable;
            }
            let end = end.map_or(size - 1, |e| e.min(size - 1));
            if end < start {
                return RangeAnswer::Whole;
            }
            RangeAnswer::Part { start, end }
        }
        _ => RangeAnswer::Whole,
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it).
pub fn none_match_hits(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*" || header.split(',').any(|tag| bare(tag) == bare(etag))
}

/// Whether a `Range` may be served under `If-Range` (absent, or the current strong ETag).
pub fn if_range_holds(header: Option<&str>, etag: &str) -> bool {
    header.is_none_or(|tag| tag.trim() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0\x08\0";
    const GZIP: &[u8] = b"\x1f\x8b\x08\0\0\0\0\0";
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0\
\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

    fn isobmff(brand: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut boxed = Vec::new();
        let len = 16 + 4 * compatible.len();
        boxed.extend_from_slice(&(len as u32).to_be_bytes());
        boxed.extend_from_slice(b"ftyp");
        boxed.extend_from_slice(brand);
        boxed.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            boxed.extend_from_slice(*c);
        }
        boxed.extend_from_slice(&[0; 16]);
        boxed
    }

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(sniff(PNG), Ok(FileType::Png));
        assert_eq!(sniff(JPEG), Ok(FileType::Jpeg));
        assert_eq!(sniff(PDF), Ok(FileType::Pdf));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(FileType::Webp));
        assert_eq!(
            sniff(&isobmff(b"isom", &[b"isom", b"mp41"])),
            Ok(FileType::Mp4)
        );
        assert_eq!(
            sniff(&isobmff(b"heic", &[b"mif1", b"heic"])),
            Ok(FileType::Heic)
        );
        assert_eq!(sniff(&isobmff(b"mif1", &[b"heic"])), Ok(FileType::Heic));
    }

    #[test]
    fn archives_programs_and_unknown_bytes_are_refused() {
        for (bytes, says) in [
            (ZIP, "an archive"),
            (GZIP, "an archive"),
            (ELF, "a program"),
            (b"GIF89a\x01\0\x01\0".as_slice(), "image/gif"),
            (b"<html><script>alert(1)</script>".as_slice(), "text/html"),
            (b"just some words".as_slice(), "recognises"),
            (b"".as_slice(), "recognises"),
        ] {
            let refusal = sniff(bytes).unwrap_err();
            assert!(refusal.contains(says), "{says}: {refusal}");
        }
        // A QuickTime movie is not an MP4.
        assert!(sniff(&isobmff(b"qt  ", &[b"qt  "])).is_err());
    }

    #[test]
    fn names_are_made_safe() {
        let cases = [
            (Some("photo.jpg"), FileType::Jpeg, "photo.jpg"),
            (Some("IMG_0001.JPEG"), FileType::Jpeg, "IMG_0001.JPEG"),
            (Some("../../etc/passwd"), FileType::Pdf, "passwd.pdf"),
            (Some("C:\\Users\\王\\破损.png"), FileType::Png, "破损.png"),
            (Some("invoice.exe"), FileType::Pdf, "invoice.exe.pdf"),
            (Some("a\"b<c>|d?.png"), FileType::Png, "a_b_c__d_.png"),
            (Some("line\r\nbreak.jpg"), FileType::Jpeg, "line__break.jpg"),
            (Some("...hidden.pdf"), FileType::Pdf, "hidden.pdf"),
            (Some("  .. "), FileType::Mp4, "attachment.mp4"),
            (None, FileType::Heic, "attachment.heic"),
            (Some("trailing. . "), FileType::Png, "trailing.png"),
        ];
        for (raw, file_type, expected) in cases {
            assert_eq!(sanitize_filename(raw, file_type), expected, "{raw:?}");
        }
        let long = format!("{}.jpg", "长".repeat(500));
        let cut = sanitize_filename(Some(&long), FileType::Jpeg);
        assert_eq!(cut.chars().count(), MAX_FILENAME_CHARS);
        assert!(cut.ends_with(".jpg"));
        let long_other = "x".repeat(500);
        let cut = sanitize_filename(Some(&long_other), FileType::Pdf);
        assert_eq!(cut.chars().count(), MAX_FILENAME_CHARS);
        assert!(cut.ends_with(".pdf"));
    }

    #[test]
    fn pixel_bombs_are_refused_from_the_header() {
        assert!(check_pixels(4000, 3000, 50_000_000).is_ok());
        assert!(check_pixels(100_000, 100_000, 50_000_000).is_err());
        assert!(check_pixels(u32::MAX, u32::MAX, 50_000_000).is_err());
        assert!(check_pixels(0, 10, 50_000_000).is_err());
    }

    #[test]
    fn uploaders_delete_for_a_while_leads_always() {
        let at = Utc::now().naive_utc();
        let window = Duration::minutes(15);
        let soon = at + Duration::minutes(10);
        let late = at + Duration::minutes(16);
        assert!(may_delete((7, Role::Agent), Some(7), at, soon, window).is_ok());
        assert!(may_delete((7, Role::Agent), Some(7), at, late, window).is_err());
        assert!(may_delete((8, Role::Agent), Some(7), at, soon, window).is_err());
        assert!(may_delete((8, Role::Lead), Some(7), at, late, window).is_ok());
        assert!(may_delete((8, Role::Admin), None, at, late, window).is_ok());
    }

    #[test]
    fn reasons_are_checked() {
        assert_eq!(check_reason("  wrong ticket "), Ok("wrong ticket"));
        assert!(check_reason(" ").is_err());
        assert!(check_reason(&"x".repeat(501)).is_err());
        assert!(check_reason("bell\u{7}").is_err());
    }

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        let cases = [
            (None, Whole),
            (Some("bytes=0-99"), Part { start: 0, end: 99 }),
            (
                Some("bytes=100-"),
                Part {
                    start: 100,
                    end: 999,
                },
            ),
            (
                Some("bytes=-100"),
                Part {
                    start: 900,
                    end: 999,
                },
            ),
            (Some("bytes=-5000"), Part { start: 0, end: 999 }),
            (
                Some("bytes=500-5000"),
                Part {
                    start: 500,
                    end: 999,
                },
            ),
            (Some("bytes=1000-"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=0-1,5-6"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=9-3"), Whole),
            (Some("bytes=x-3"), Whole),
            (Some("bytes=-"), Whole),
            (Some("bytes=+1-3"), Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(range(header, 1000), expected, "{header:?}");
        }
        assert_eq!(range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn validators() {
        let etag = "\"abc\"";
        assert!(none_match_hits(Some("\"abc\""), etag));
        assert!(none_match_hits(Some("\"x\", W/\"abc\""), etag));
        assert!(none_match_hits(Some("*"), etag));
        assert!(!none_match_hits(Some("\"x\""), etag));
        assert!(!none_match_hits(None, etag));
        assert!(if_range_holds(None, etag));
        assert!(if_range_holds(Some("\"abc\""), etag));
        assert!(!if_range_holds(Some("\"old\""), etag));
    }
}
