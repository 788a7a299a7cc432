//! `/api/v1/tickets/{id}/attachments`, `/api/v1/notes/{id}/attachments` and
//! `/api/v1/attachments/{id}[/content|/thumbnail]`: uploads (staff), listing and downloads
//! (staff, and API keys with `tickets:read`), deletion (the uploader for a while, leads).

use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::{Duration, Utc};
use futures_util::StreamExt;
use serde::Deserialize;
use validator::Validate;

use super::operations::{self, Ready, Target};
use super::storage::{self, Content, Incoming, Missing, Received, Refusal};
use super::store::{self, FILE, THUMBNAIL};
use super::{Attachment, AttachmentForm, AttachmentUpload, FileType, StorageKind, rules};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Query, content_length, message};
use crate::pagination::PageRequest;
use crate::state::AppState;

/// The most files one upload may carry.
pub const MAX_FILES_PER_UPLOAD: usize = 20;
/// Room for a form's boundaries and part headers beyond the files themselves.
const FORM_OVERHEAD_BYTES: u64 = 1_048_576;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tickets/{id}/attachments")
            .route(web::get().to(list_attachments))
            .route(web::post().to(upload_to_ticket)),
    )
    .service(web::resource("/notes/{id}/attachments").route(web::post().to(upload_to_note)))
    .service(
        web::resource("/attachments/{id}")
            .route(web::get().to(get_attachment))
            .route(web::delete().to(delete_attachment)),
    )
    .service(web::resource("/attachments/{id}/content").route(web::get().to(download)))
    .service(web::resource("/attachments/{id}/thumbnail").route(web::get().to(thumbnail)));
}

/// Upload files to a ticket (staff): `multipart/form-data` with one or more parts named
/// `file` (at most 20), each with its file name.
///
/// The type of each file is read from its bytes, never from its name or the part's
/// `Content-Type`: JPEG, PNG, WebP and HEIC images, MP4 videos and PDFs are taken; anything
/// else (archives included) is refused with 415. Each file may have up to
/// `ATTACHMENT_MAX_FILE_BYTES` (20 MiB by default) and a ticket's attachments together
/// `ATTACHMENT_MAX_TICKET_BYTES` (200 MiB): more is refused with 413, as soon as it is
/// known (at once when `Content-Length` says so). An image whose header claims more than
/// `ATTACHMENT_MAX_IMAGE_PIXELS` pixels is refused (422) before it is decoded. An upload
/// that has not arrived within `ATTACHMENT_UPLOAD_TIMEOUT_SECS` gets 408. Names are made
/// safe (no path, no control characters, an extension that matches the type). The files of
/// one upload are attached together or not at all; each is an `attachment_added` timeline
/// entry (who, name, type, size, SHA-256).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content((AttachmentForm = "multipart/form-data"))),
    responses(
        (status = 201, body = AttachmentUpload),
        (status = 403, description = "API keys may not upload"),
        (status = 404),
        (status = 408, description = "The upload did not arrive in time (`request-timeout`)"),
        (status = 413, description = "A file, or the ticket's attachments, would be too large (`payload-too-large`)"),
        (status = 415, description = "Not a form, or a file of a type that is not taken (`unsupported-media-type`)"),
        (status = 422, description = "No file, an unknown part, an empty file or an image that is too large or unreadable"),
        (status = 503),
    ))]
pub async fn upload_to_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let target = Target {
        shop_id: caller.shop_id,
        ticket_id: id.into_inner(),
        note_id: None,
    };
    upload(&state, &caller, target, req, payload).await
}

/// Upload files to a note on a ticket (staff): the same form as a ticket's upload; the
/// attachments are the ticket's, with `note_id` set. A note on a customer's file takes
/// none (422).
#[utoipa::path(post, path = "/api/v1/notes/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Note id")),
    request_body(content((AttachmentForm = "multipart/form-data"))),
    responses(
        (status = 201, body = AttachmentUpload),
        (status = 403, description = "API keys may not upload"),
        (status = 404),
        (status = 408, description = "The upload did not arrive in time (`request-timeout`)"),
        (status = 413, description = "A file, or the ticket's attachments, would be too large (`payload-too-large`)"),
        (status = 415, description = "Not a form, or a file of a type that is not taken (`unsupported-media-type`)"),
        (status = 422, description = "A note on a customer's file, no file, an unknown part, an empty file or an image that is too large or unreadable"),
        (status = 503),
    ))]
pub async fn upload_to_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let (note_id, shop_id) = (id.into_inner(), caller.shop_id);
    let note = state
        .db
        .read(move |conn| crate::notes::store::get(conn, shop_id, note_id))
        .await?;
    let ticket_id = note.ticket_id.ok_or_else(|| {
        ApiError::field(
            "id",
            "is a note on a customer's file: files are attached to tickets and their notes",
        )
    })?;
    let target = Target {
        shop_id,
        ticket_id,
        note_id: Some(note_id),
    };
    upload(&state, &caller, target, req, payload).await
}

/// The problem for a file refused while it arrived.
fn refused(index: usize, name: Option<&str>, refusal: Refusal) -> ApiError {
    let named = |what: String| match name {
        Some(name) => format!("{name:?} {what}"),
        None => what,
    };
    match refusal {
        Refusal::Type(what) => ApiError::UnsupportedMediaType(format!(
            "file[{index}] {}; {}",
            named(what),
            rules::ALLOWED_TYPES
        )),
        Refusal::Empty => ApiError::field(format!("file[{index}]"), named("is empty".into())),
        Refusal::Storage(cause) => ApiError::Unavailable(cause),
    }
}

/// Receives every part of the form into temporary files, refusing as soon as a file or
/// the upload passes its limit.
async fn receive(
    req: &HttpRequest,
    payload: web::Payload,
    storages: &storage::Storages,
    max_file_bytes: u64,
    room: u64,
) -> Result<Vec<Received>, ApiError> {
    let spool = storages.spool_dir();
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut files = Vec::new();
    let mut total = 0u64;
    while let Some(part) = form.next().await {
        let mut part =
            part.map_err(|e| ApiError::BadRequest(format!("cannot read the form: {e}")))?;
        let index = files.len();
        if part.name() != Some("file") {
            return Err(ApiError::field(
                part.name().unwrap_or("form"),
                "is not a part of this form: send each file as a part named file",
            ));
        }
        if index == MAX_FILES_PER_UPLOAD {
            return Err(ApiError::field(
                "file",
                format!("at most {MAX_FILES_PER_UPLOAD} files may be sent at once"),
            ));
        }
        let raw_name = part
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let mut incoming = Incoming::new(&spool, raw_name.clone())?;
        while let Some(chunk) = part.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the form: {e}")))?;
            let len = chunk.len() as u64;
            if incoming.size() + len > max_file_bytes {
                return Err(ApiError::TooLarge(format!(
                    "file[{index}] is larger than {max_file_bytes} bytes, the most one file may have"
                )));
            }
            if total + len > room {
                return Err(ApiError::TooLarge(format!(
                    "the ticket's attachments would be too large: {room} bytes are left for them"
                )));
            }
            total += len;
            incoming
                .push(&chunk)
                .await
                .map_err(|r| refused(index, raw_name.as_deref(), r))?;
        }
        let received = incoming
            .finish()
            .await
            .map_err(|r| refused(index, raw_name.as_deref(), r))?;
        files.push(received);
    }
    if files.is_empty() {
        return Err(ApiError::field(
            "file",
            "is required: send the files as form parts named file",
        ));
    }
    Ok(files)
}

async fn upload(
    state: &AppState,
    caller: &Caller,
    target: Target,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings.attachments.clone();
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence != "multipart/form-data" {
        return Err(ApiError::UnsupportedMediaType(
            "send the files as multipart/form-data, each in a part named file".into(),
        ));
    }
    // Refused before a byte of it is read: a body that cannot fit the ticket at all.
    let most = settings.max_ticket_bytes + FORM_OVERHEAD_BYTES;
    if let Some(declared) = content_length(&req).filter(|len| *len as u64 > most) {
        return Err(ApiError::TooLarge(format!(
            "the upload has {declared} bytes; a ticket's attachments may hold {} bytes together, each file at most {}",
            settings.max_ticket_bytes, settings.max_file_bytes
        )));
    }
    let max_ticket = settings.max_ticket_bytes;
    let room = state
        .db
        .read(move |conn| operations::room_left(conn, target, max_ticket))
        .await?;
    let storages = state.attachments.clone();
    let timeout = settings.upload_timeout();
    let received = actix_web::rt::time::timeout(
        timeout,
        receive(&req, payload, &storages, settings.max_file_bytes, room),
    )
    .await
    .unwrap_or(Err(ApiError::RequestTimeout(timeout.as_secs())))?;

    let mut ready: Vec<Ready> = Vec::with_capacity(received.len());
    let outcome = async {
        for (index, file) in received.into_iter().enumerate() {
            let max_pixels = settings.max_image_pixels;
            let (file, inspection) = web::block(move || {
                let inspection = storage::inspect(file.file.path(), file.file_type, max_pixels);
                (file, inspection)
            })
            .await?;
            let inspection = inspection.map_err(|why| {
                ApiError::field(
                    format!("file[{index}]"),
                    format!("{:?} {why}", file.filename),
                )
            })?;
            let (filename, file_type, size, sha256) = (
                file.filename.clone(),
                file.file_type,
                file.size,
                file.sha256.clone(),
            );
            let placed = storages.place(file).await?;
            ready.push(Ready {
                filename,
                file_type,
                size,
                sha256,
                inspection,
                placed,
            });
        }
        Ok::<_, ApiError>(())
    }
    .await;
    let committed = match outcome {
        Ok(()) => {
            let (uploader, kind) = (caller.user_id, storages.current);
            let now = Utc::now().naive_utc();
            let files = std::sync::Arc::new(ready);
            let written = files.clone();
            let result = state
                .db
                .write(move |conn| {
                    let rows = operations::attach(
                        conn,
                        target,
                        uploader,
                        &written,
                        (kind, max_ticket),
                        now,
                    )?;
                    store::views(conn, &rows)
                })
                .await;
            result.map_err(|e| (e, files))
        }
        Err(e) => Err((e, std::sync::Arc::new(ready))),
    };
    match committed {
        Ok(items) => {
            tracing::info!(
                ticket = target.ticket_id, files = items.len(), by = caller.user_id,
                storage = %storages.current, "attachments uploaded"
            );
            Ok(HttpResponse::Created().json(AttachmentUpload { items }))
        }
        Err((error, placed)) => {
            // Whatever was stored for rows that never committed goes again.
            for file in placed.iter() {
                if let storage::Placed::Stored(key) = &file.placed {
                    forget(state, storages.current, key.clone()).await;
                }
            }
            Err(error)
        }
    }
}

/// Removes stored bytes no live row refers to (a deleted attachment's, or an upload's that
/// did not commit); a failure is logged, the bytes stay (the row, if any, is gone).
async fn forget(state: &AppState, kind: StorageKind, key: String) {
    let check = key.clone();
    let unreferenced = state
        .db
        .read(move |conn| operations::unreferenced(conn, kind, &check))
        .await;
    match unreferenced {
        Ok(true) => {
            if let Err(error) = state.attachments.discard(kind, &key).await {
                tracing::warn!(%error, storage = %kind, key, "could not remove attachment bytes");
            }
        }
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(%error, storage = %kind, key, "could not check attachment bytes")
        }
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttachmentsQuery {
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A ticket's attachments (deleted ones are not listed: their tombstones are on the
/// timeline), oldest first. Listing reads no file's bytes.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "attachments",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Ticket id"), AttachmentsQuery),
    responses(
        (status = 200, body = super::AttachmentPage),
        (status = 403, description = "Needs tickets:read"),
        (status = 404),
        (status = 422),
    ))]
pub async fn list_attachments(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    query: Query<AttachmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let query = query.into_inner();
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let (shop_id, ticket_id) = (caller.shop_id(), id.into_inner());
    let page = state
        .db
        .read(move |conn| {
            crate::tickets::store::get(conn, shop_id, ticket_id)?;
            request.load_uncounted(
                conn,
                |conn, after, n| store::list(conn, ticket_id, after, n),
                |a| a.id,
                |conn, rows| store::views(conn, &rows),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn live(state: &AppState, caller: &Principal, id: i64) -> Result<Attachment, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let shop_id = caller.shop_id();
    state
        .db
        .read(move |conn| store::get(conn, shop_id, id))
        .await
}

/// One attachment's description.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "attachments",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    responses(
        (status = 200, body = super::AttachmentView),
        (status = 403, description = "Needs tickets:read"),
        (status = 404, description = "No such attachment, or it was deleted"),
    ))]
pub async fn get_attachment(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = live(&state, &caller, id.into_inner()).await?;
    let view = state
        .db
        .read(move |conn| Ok(store::views(conn, &[row])?.remove(0)))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

fn missing(row: &Attachment, cause: Missing) -> ApiError {
    tracing::error!(
        attachment = row.id, storage = %row.storage, key = row.storage_key, cause = cause.0,
        "attachment bytes are missing"
    );
    ApiError::AttachmentMissing(format!(
        "the bytes of attachment {} are missing or damaged in its storage; they are not served, and the fault is logged",
        row.id
    ))
}

/// `Content-Disposition`: inline for images, a download for anything else, with the
/// name in UTF-8 (RFC 6266) and an ASCII stand-in for old clients.
fn disposition(row: &Attachment) -> ContentDisposition {
    let inline = row.file_type().is_some_and(FileType::is_image);
    let ascii: String = row
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: row.filename.clone().into_bytes(),
            }),
        ],
    }
}

/// Download an attachment's bytes (staff, and API keys with `tickets:read`).
///
/// `Content-Type` is the type read from the bytes when they were uploaded; images are
/// shown inline, anything else is a download (`Content-Disposition: attachment`); always
/// `X-Content-Type-Options: nosniff`. The `ETag` is the SHA-256: `If-None-Match` answers
/// 304. One byte range (`Range: bytes=0-1023`, `bytes=1024-`, `bytes=-512`) answers 206
/// with `Content-Range` (`Accept-Ranges: bytes`; video players seek with it), a range past
/// the end 416; several ranges are answered with the whole file. Bytes missing from their
/// storage (or of another size than recorded) answer 410 `attachment-missing`, never
/// something else.
#[utoipa::path(get, path = "/api/v1/attachments/{id}/content", tag = "attachments",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("id" = i64, Path, description = "Attachment id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag already held: 304 when it is current"),
        ("If-Range" = Option<String>, Header, description = "Serve the Range only while the ETag is this one"),
    ),
    responses(
        (status = 200, description = "The file, with the type read from its bytes at upload", content(
            (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"),
            (Vec<u8> = "image/heic"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/pdf"),
        ), headers(
            ("ETag" = String, description = "The SHA-256 of the bytes, quoted"),
            ("Accept-Ranges" = String),
            ("Content-Disposition" = String),
            ("X-Content-Type-Options" = String),
        )),
        (status = 206, description = "The requested range", content(
            (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"),
            (Vec<u8> = "image/heic"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/pdf"),
        ), headers(("Content-Range" = String), ("ETag" = String))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 403, description = "Needs tickets:read"),
        (status = 404, description = "No such attachment, or it was deleted"),
        (status = 410, description = "The bytes are missing from their storage (`attachment-missing`)"),
        (status = 416, description = "The range is outside the file (`range-not-satisfiable`)"),
        (status = 503),
    ))]
pub async fn download(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let row = live(&state, &caller, id.into_inner()).await?;
    let etag = row.etag();
    let header_of = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let response = |status: StatusCode| {
        let mut builder = HttpResponse::build(status);
        builder
            .insert_header((header::ETAG, etag.clone()))
            .insert_header((header::CACHE_CONTROL, "private, no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::ACCEPT_RANGES, "bytes"));
        builder
    };
    if rules::none_match_hits(header_of(header::IF_NONE_MATCH).as_deref(), &etag) {
        return Ok(response(StatusCode::NOT_MODIFIED).finish());
    }
    let size = u64::try_from(row.size).unwrap_or(0);
    let asked = if rules::if_range_holds(header_of(header::IF_RANGE).as_deref(), &etag) {
        rules::range(header_of(header::RANGE).as_deref(), size)
    } else {
        rules::RangeAnswer::Whole
    };
    let (status, start, end) = match asked {
        rules::RangeAnswer::Whole => (StatusCode::OK, 0, size.saturating_sub(1)),
        rules::RangeAnswer::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        rules::RangeAnswer::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let content = match row.storage {
        StorageKind::Database => {
            let id = row.id;
            let bytes = state
                .db
                .read(move |conn| store::blob(conn, id, FILE))
                .await?;
            match bytes {
                Some(bytes) if bytes.len() as u64 == size => {
                    Content::Bytes(web::Bytes::from(bytes).slice(start as usize..=end as usize))
                }
                Some(bytes) => {
                    let cause = format!("the blob holds {} bytes, {size} were stored", bytes.len());
                    return Err(missing(&row, Missing(cause)));
                }
                None => return Err(missing(&row, Missing("no blob".into()))),
            }
        }
        kind => state
            .attachments
            .open(kind, &row.storage_key, size, (start, end))
            .await?
            .map_err(|cause| missing(&row, cause))?,
    };
    let mut builder = response(status);
    builder
        .content_type(row.content_type.clone())
        .insert_header(disposition(&row));
    if status == StatusCode::PARTIAL_CONTENT {
        builder.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
    }
    Ok(match content {
        Content::Bytes(bytes) => builder.body(bytes),
        Content::Stream(stream) => builder.no_chunking(end + 1 - start).streaming(stream),
    })
}

/// An image attachment's preview: a JPEG at most 256 pixels on its longer side, made when
/// it was uploaded (JPEG, PNG and WebP images; others have none: 404).
#[utoipa::path(get, path = "/api/v1/attachments/{id}/thumbnail", tag = "attachments",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "A small JPEG", content((Vec<u8> = "image/jpeg")),
            headers(("ETag" = String), ("X-Content-Type-Options" = String))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 403, description = "Needs tickets:read"),
        (status = 404, description = "No such attachment, deleted, or without a thumbnail"),
        (status = 503),
    ))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let row = live(&state, &caller, id.into_inner()).await?;
    if !row.has_thumbnail {
        return Err(ApiError::NotFound(format!(
            "attachment {} has no thumbnail (only JPEG, PNG and WebP images have one)",
            row.id
        )));
    }
    let etag = format!("\"{}-thumbnail\"", row.sha256);
    let asked = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let builder = |status: StatusCode| {
        let mut builder = HttpResponse::build(status);
        builder
            .insert_header((header::ETAG, etag.clone()))
            .insert_header((header::CACHE_CONTROL, "private, no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
        builder
    };
    if rules::none_match_hits(asked, &etag) {
        return Ok(builder(StatusCode::NOT_MODIFIED).finish());
    }
    let id = row.id;
    let bytes = state
        .db
        .read(move |conn| store::blob(conn, id, THUMBNAIL))
        .await?
        .ok_or_else(|| missing(&row, Missing("no thumbnail blob".into())))?;
    Ok(builder(StatusCode::OK)
        .content_type("image/jpeg")
        .body(bytes))
}

fn check_reason(reason: &str) -> Result<(), validator::ValidationError> {
    rules::check_reason(reason)
        .map(|_| ())
        .map_err(|why| message("reason", &why))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteAttachmentQuery {
    /// Why (1 to 500 characters): kept on the ticket's timeline.
    #[validate(custom(function = "check_reason"))]
    #[param(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Delete an attachment: its uploader within `ATTACHMENT_DELETE_WINDOW_MINUTES` (15) of
/// uploading it, a lead or an admin at any time. The bytes are removed (a file shared by
/// identical uploads once none is left); the timeline keeps an `attachment_deleted`
/// entry with who, when and `reason`.
#[utoipa::path(delete, path = "/api/v1/attachments/{id}", tag = "attachments", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id"), DeleteAttachmentQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the uploader (or too late for the uploader), or an API key"),
        (status = 404, description = "No such attachment, or it was deleted already"),
        (status = 422),
        (status = 503),
    ))]
pub async fn delete_attachment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: Query<DeleteAttachmentQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let reason = query.into_inner().reason.trim().to_owned();
    let window = Duration::minutes(state.settings.attachments.delete_window_minutes);
    let (shop_id, id, actor) = (
        caller.shop_id,
        id.into_inner(),
        (caller.user_id, caller.role),
    );
    let deleted = state
        .db
        .write(move |conn| {
            operations::delete(
                conn,
                (shop_id, id),
                actor,
                &reason,
                window,
                Utc::now().naive_utc(),
            )
        })
        .await?;
    if let Some((kind, key)) = deleted.remove_bytes {
        forget(&state, kind, key).await;
    }
    tracing::info!(
        attachment = deleted.attachment.id,
        by = caller.user_id,
        "attachment deleted"
    );
    Ok(HttpResponse::NoContent().finish())
}
