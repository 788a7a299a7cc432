//! Attachments: the evidence a return or repair turns on (a photo of the damage, the
//! courier's receipt, a screenshot of the review), as files on a ticket, optionally on one
//! of its notes.
//!
//! A file's type is read from its bytes (`rules::sniff`), never from its name or the
//! client's header, and only images (JPEG, PNG, WebP, HEIC), MP4 videos and PDFs are
//! taken. Its bytes go where `ATTACHMENT_STORAGE` says (`storage`): the database (the
//! default), a directory (content-addressed by SHA-256) or an S3-compatible bucket; the
//! row (`store`) only describes them, so a listing never reads bytes. Uploads and
//! deletions are timeline entries (`operations`); HTTP is in `routes`.

pub mod operations;
pub mod routes;
pub mod rules;
pub mod storage;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use clap::Args;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::text_enum;
use crate::ids::ShopId;

text_enum! {
    /// Where the bytes of attachments are kept (`ATTACHMENT_STORAGE`); each row remembers
    /// its own, so a change of setting leaves earlier files readable where they are.
    pub enum StorageKind {
        /// In the database (`attachment_blobs`): in the ticket's transaction, backed up
        /// with it.
        Database = "database",
        /// Files in `ATTACHMENT_DIR`, named by their SHA-256.
        Filesystem = "filesystem",
        /// Objects in an S3-compatible bucket.
        S3 = "s3",
    }
}

/// Reads `ATTACHMENT_STORAGE`.
fn parse_storage(text: &str) -> Result<StorageKind, String> {
    StorageKind::parse(text.trim())
        .ok_or_else(|| format!("{text:?} is not one of: database, filesystem, s3"))
}

/// Where attachments go and how big they may be.
#[derive(Debug, Clone, Args)]
pub struct AttachmentSettings {
    /// Where new attachments' bytes are kept: `database`, `filesystem` or `s3`.
    #[arg(id = "attachment_storage", long = "attachment-storage", env = "ATTACHMENT_STORAGE", default_value = "database", value_parser = parse_storage)]
    pub storage: StorageKind,

    /// The directory of `filesystem` storage (created if missing).
    #[arg(
        id = "attachment_dir",
        long = "attachment-dir",
        env = "ATTACHMENT_DIR",
        default_value = "attachments"
    )]
    pub dir: String,

    /// The largest file, in bytes.
    #[arg(long = "attachment-max-file-bytes", env = "ATTACHMENT_MAX_FILE_BYTES", default_value_t = 20_971_520, value_parser = clap::value_parser!(u64).range(1..=4_294_967_296))]
    pub max_file_bytes: u64,

    /// The most all of one ticket's attachments may hold together, in bytes.
    #[arg(long = "attachment-max-ticket-bytes", env = "ATTACHMENT_MAX_TICKET_BYTES", default_value_t = 209_715_200, value_parser = clap::value_parser!(u64).range(1..=1_099_511_627_776))]
    pub max_ticket_bytes: u64,

    /// The most pixels an image may have (width × height, read from its header before any
    /// decoding): a larger one is refused as a decompression bomb.
    #[arg(long = "attachment-max-image-pixels", env = "ATTACHMENT_MAX_IMAGE_PIXELS", default_value_t = 50_000_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub max_image_pixels: u64,

    /// Longest time an upload may take to arrive in full, in seconds (408 after it).
    #[arg(long = "attachment-upload-timeout-secs", env = "ATTACHMENT_UPLOAD_TIMEOUT_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub upload_timeout_secs: u64,

    /// How long the uploader may delete their own attachment, in minutes (leads and
    /// admins may at any time).
    #[arg(long = "attachment-delete-window-minutes", env = "ATTACHMENT_DELETE_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(0..=10_080))]
    pub delete_window_minutes: i64,

    /// S3 storage: the endpoint of an S3-compatible service (unset: AWS).
    #[arg(long = "attachment-s3-endpoint", env = "ATTACHMENT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 storage: the bucket.
    #[arg(long = "attachment-s3-bucket", env = "ATTACHMENT_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3 storage: the region.
    #[arg(
        long = "attachment-s3-region",
        env = "ATTACHMENT_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,

    /// S3 storage: the access key id.
    #[arg(
        long = "attachment-s3-access-key-id",
        env = "ATTACHMENT_S3_ACCESS_KEY_ID"
    )]
    pub s3_access_key_id: Option<String>,

    /// S3 storage: the secret access key.
    #[arg(
        long = "attachment-s3-secret-access-key",
        env = "ATTACHMENT_S3_SECRET_ACCESS_KEY"
    )]
    pub s3_secret_access_key: Option<String>,

    /// S3 storage: allow a plain-HTTP endpoint (a local S3-compatible server).
    #[arg(long = "attachment-s3-allow-http", env = "ATTACHMENT_S3_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_allow_http: bool,
}

impl AttachmentSettings {
    pub fn upload_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.upload_timeout_secs)
    }
}

/// A type of file an attachment may be: what `rules::sniff` recognises in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Jpeg,
    Png,
    Webp,
    Heic,
    Mp4,
    Pdf,
}

impl FileType {
    pub const ALL: [FileType; 6] = [
        FileType::Jpeg,
        FileType::Png,
        FileType::Webp,
        FileType::Heic,
        FileType::Mp4,
        FileType::Pdf,
    ];

    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Webp => "image/webp",
            FileType::Heic => "image/heic",
            FileType::Mp4 => "video/mp4",
            FileType::Pdf => "application/pdf",
        }
    }

    pub fn from_content_type(text: &str) -> Option<FileType> {
        FileType::ALL.into_iter().find(|t| t.content_type() == text)
    }

    /// The file name extensions of the type, the usual one first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileType::Jpeg => &["jpg", "jpeg"],
            FileType::Png => &["png"],
            FileType::Webp => &["webp"],
            FileType::Heic => &["heic", "heif"],
            FileType::Mp4 => &["mp4", "m4v"],
            FileType::Pdf => &["pdf"],
        }
    }

    /// Shown inline by browsers; everything else is downloaded (`Content-Disposition:
    /// attachment`).
    pub fn is_image(self) -> bool {
        matches!(
            self,
            FileType::Jpeg | FileType::Png | FileType::Webp | FileType::Heic
        )
    }

    /// Images this service can read (dimensions, thumbnail). HEIC is taken but not read.
    pub fn is_decodable_image(self) -> bool {
        matches!(self, FileType::Jpeg | FileType::Png | FileType::Webp)
    }
}

/// A row of `attachments`. `deleted_at` set: a tombstone, its bytes gone.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::attachments)]
pub struct Attachment {
    pub id: i64,
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub note_id: Option<i64>,
    pub uploader_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage: StorageKind,
    /// Where the bytes are in `storage`: the SHA-256 (filesystem), the object's path (S3),
    /// empty for the database (the blob is keyed by the attachment's id).
    pub storage_key: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub has_thumbnail: bool,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub deleted_by: Option<i64>,
    pub delete_reason: Option<String>,
}

impl Attachment {
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_content_type(&self.content_type)
    }

    /// The strong validator of the bytes: their SHA-256.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }

    pub fn view(&self, uploader_name: Option<String>) -> AttachmentView {
        AttachmentView {
            id: self.id,
            ticket_id: self.ticket_id,
            note_id: self.note_id,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            width: self.width,
            height: self.height,
            download_url: format!("/api/v1/attachments/{}/content", self.id),
            thumbnail_url: self
                .has_thumbnail
                .then(|| format!("/api/v1/attachments/{}/thumbnail", self.id)),
            uploader_id: self.uploader_id,
            uploader_name,
            created_at: self.created_at.and_utc(),
        }
    }
}

/// An attachment as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "ticket_id": 12, "note_id": null, "filename": "破损照片.jpg",
    "content_type": "image/jpeg", "size": 482113,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "width": 1600, "height": 1200,
    "download_url": "/api/v1/attachments/7/content",
    "thumbnail_url": "/api/v1/attachments/7/thumbnail",
    "uploader_id": 3, "uploader_name": "王芳", "created_at": "2026-12-03T08:30:00Z"
}))]
pub struct AttachmentView {
    pub id: i64,
    pub ticket_id: i64,
    /// Set when the file was attached to one of the ticket's notes.
    pub note_id: Option<i64>,
    /// The uploader's file name, made safe (no path, no control characters, an extension
    /// that matches the type).
    pub filename: String,
    /// The type read from the bytes: `image/jpeg`, `image/png`, `image/webp`,
    /// `image/heic`, `video/mp4` or `application/pdf`.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes (hex); also the download's `ETag`.
    pub sha256: String,
    /// Pixels, for JPEG, PNG and WebP images.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// `GET` it for the bytes (ranges supported).
    pub download_url: String,
    /// A small JPEG preview, for JPEG, PNG and WebP images.
    pub thumbnail_url: Option<String>,
    pub uploader_id: Option<i64>,
    pub uploader_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

crate::pagination::named_page!(AttachmentPage, AttachmentView);

/// The answer to an upload: every file of the request, in the order sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentUpload {
    pub items: Vec<AttachmentView>,
}

/// The form of an upload (documentation only: the route reads the parts as a stream).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct AttachmentForm {
    /// One or more parts named `file`, each with its file name. The type is read from the
    /// bytes: JPEG, PNG, WebP, HEIC, MP4 or PDF.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}
