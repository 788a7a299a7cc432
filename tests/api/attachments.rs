//! Attachments on tickets and notes, on both backends and each storage: database (the
//! default), filesystem (`with fs`) and an S3-compatible server (moto, started by the test;
//! skipped with a notice when it cannot be had, unless `AFTERCARE_TEST_REQUIRE_S3=1`).

use std::io::Cursor;
use std::path::PathBuf;

use actix_web::{http::StatusCode, test, web::Bytes};
use aftercare::auth::roles::Role;
use aftercare::config::Settings;
use serde_json::{Value, json};

use crate::support::{Response, TestApp, backend_tests};

backend_tests!(
    files_go_up_and_come_back_with_their_headers,
    on_disk_files_go_up_and_come_back_with_their_headers with fs,
    the_type_is_read_from_the_bytes_and_names_are_made_safe,
    on_disk_the_type_is_read_from_the_bytes_and_names_are_made_safe with fs,
    limits_are_enforced_before_and_while_the_bytes_arrive with small_limits,
    on_disk_limits_are_enforced_before_and_while_the_bytes_arrive with small_limits_fs,
    only_staff_upload_and_keys_with_tickets_read_download,
    deletion_leaves_a_tombstone_and_removes_the_bytes,
    on_disk_deletion_leaves_a_tombstone_and_removes_the_bytes with fs,
    bytes_gone_from_storage_are_reported_not_served,
    on_disk_bytes_gone_from_storage_are_reported_not_served with fs,
    files_attach_to_a_note_of_the_ticket,
    a_slow_upload_times_out with slow,
    an_upload_with_an_idempotency_key_runs_once with small_json_limits,
);

/// JSON and CSV bodies limited to 4 KiB: a keyed upload must not be held to them.
fn small_json_limits(settings: &mut Settings) {
    settings.import.max_bytes = 4096;
    settings.server.max_body_bytes = 4096;
}

// The same tests on filesystem storage (`with fs`).
async fn on_disk_files_go_up_and_come_back_with_their_headers(app: TestApp) {
    files_go_up_and_come_back_with_their_headers(app).await
}
async fn on_disk_the_type_is_read_from_the_bytes_and_names_are_made_safe(app: TestApp) {
    the_type_is_read_from_the_bytes_and_names_are_made_safe(app).await
}
async fn on_disk_limits_are_enforced_before_and_while_the_bytes_arrive(app: TestApp) {
    limits_are_enforced_before_and_while_the_bytes_arrive(app).await
}
async fn on_disk_deletion_leaves_a_tombstone_and_removes_the_bytes(app: TestApp) {
    deletion_leaves_a_tombstone_and_removes_the_bytes(app).await
}
async fn on_disk_bytes_gone_from_storage_are_reported_not_served(app: TestApp) {
    bytes_gone_from_storage_are_reported_not_served(app).await
}

/// Filesystem storage in a fresh directory (removed by the test that used it).
fn fs(settings: &mut Settings) {
    settings.attachments.storage = aftercare::attachments::StorageKind::Filesystem;
    settings.attachments.dir = std::env::temp_dir()
        .join(format!("aftercare-attachments-{}", uuid::Uuid::new_v4()))
        .to_string_lossy()
        .into_owned();
}

fn small_limits(settings: &mut Settings) {
    settings.attachments.max_file_bytes = 64 * 1024;
    settings.attachments.max_ticket_bytes = 100 * 1024;
    settings.attachments.max_image_pixels = 1_000_000;
}

fn small_limits_fs(settings: &mut Settings) {
    fs(settings);
    small_limits(settings);
}

fn slow(settings: &mut Settings) {
    settings.attachments.upload_timeout_secs = 1;
}

fn storage_dir(app: &TestApp) -> PathBuf {
    PathBuf::from(&app.state.settings.attachments.dir)
}

fn is_fs(app: &TestApp) -> bool {
    app.state.settings.attachments.storage == aftercare::attachments::StorageKind::Filesystem
}

/// Files kept in the filesystem storage's directory (not temporary ones).
fn stored_files(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(storage_dir(app))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn cleanup(app: &TestApp) {
    if is_fs(app) {
        let _ = std::fs::remove_dir_all(storage_dir(app));
    }
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let mut bytes = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, 128, (y % 256) as u8])
    });
    let mut bytes = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .unwrap();
    bytes
}

pub fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    let mut i = 0u32;
    while bytes.len() < size {
        bytes.extend_from_slice(format!("% filler {i}\n").as_bytes());
        i += 1;
    }
    bytes.truncate(size.max(40));
    bytes
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims `width` × `height` pixels, with almost no data: what a
/// decompression bomb looks like to a reader of the header.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    bytes
}

fn zip() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    bytes.extend_from_slice(&[0u8; 200]);
    bytes
}

pub const BOUNDARY: &str = "----aftercare-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body: (part name, file name, part content type, bytes).
pub fn form(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
            }
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub async fn upload(
    app: &TestApp,
    path: &str,
    auth: (&str, &str),
    parts: &[(&str, Option<&str>, &str, &[u8])],
) -> Response {
    let req = test::TestRequest::post()
        .uri(path)
        .insert_header(auth)
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .set_payload(form(parts));
    app.send(req).await
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = test::TestRequest::get().uri(path);
    for (name, value) in headers {
        req = req.insert_header((name.to_string(), value.to_string()));
    }
    app.send(req).await
}

struct Shop {
    admin: String,
    agent_id: i64,
    agent: String,
    ticket: i64,
}

async fn shop(app: &TestApp) -> Shop {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("ann@shop.example", Role::Agent).await;
    let customer = app
        .customer(&admin, json!({"name": "王小姐", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let res = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({"kind": "repair", "customer_id": customer, "title": "屏幕裂了",
                "details": {"fault": "screen cracked", "under_warranty": true, "items": [{"product_name": "Phone", "quantity": 1}]}}),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    Shop {
        admin,
        agent_id,
        agent,
        ticket: res.body["id"].as_i64().unwrap(),
    }
}

fn items(body: &Value) -> Vec<Value> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .clone()
}

async fn events_of(app: &TestApp, ticket: i64, token: &str, kind: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/tickets/{ticket}/events?limit=200"), token)
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    items(&res.body)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

async fn files_go_up_and_come_back_with_their_headers(app: TestApp) {
    let s = shop(&app).await;
    let photo = png(640, 480);
    let receipt = pdf(300_000);
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let auth = bearer(&s.agent);
    let res = upload(
        &app,
        &path,
        (auth.0, &auth.1),
        &[
            ("file", Some("破损照片.png"), "image/png", &photo),
            // The part's type is ignored: the bytes say PDF.
            (
                "file",
                Some("receipt.pdf"),
                "application/octet-stream",
                &receipt,
            ),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let uploaded = items(&res.body);
    assert_eq!(uploaded.len(), 2);
    let (image, doc) = (&uploaded[0], &uploaded[1]);
    assert_eq!(image["filename"], "破损照片.png");
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["size"], photo.len());
    assert_eq!(image["width"], 640);
    assert_eq!(image["height"], 480);
    assert_eq!(image["uploader_id"], s.agent_id);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
    assert_eq!(image["sha256"], sha);
    let id = image["id"].as_i64().unwrap();
    assert_eq!(
        image["download_url"],
        format!("/api/v1/attachments/{id}/content")
    );
    assert_eq!(
        image["thumbnail_url"],
        format!("/api/v1/attachments/{id}/thumbnail")
    );
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["thumbnail_url"], Value::Null);
    assert_eq!(doc["width"], Value::Null);

    // Listed, oldest first, by anyone on the team.
    let list = app.get(&path, &s.admin).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let listed: Vec<i64> = items(&list.body)
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [id, doc["id"].as_i64().unwrap()]);
    let one = app
        .get(&format!("/api/v1/attachments/{id}"), &s.admin)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["sha256"], sha);

    // The image comes back as it went up, inline, with its validators.
    let token = format!("Bearer {}", s.admin);
    let content = format!("/api/v1/attachments/{id}/content");
    let got = get_with(&app, &content, &[("authorization", &token)]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.raw, photo);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    let etag = format!("\"{sha}\"");
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    let disposition = got.header("content-disposition").unwrap();
    assert!(disposition.starts_with("inline"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");

    // A PDF is never shown inline.
    let doc_id = doc["id"].as_i64().unwrap();
    let got = get_with(
        &app,
        &format!("/api/v1/attachments/{doc_id}/content"),
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.raw, receipt);
    assert_eq!(got.header("content-type"), Some("application/pdf"));
    let disposition = got.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("receipt.pdf"),
        "{disposition}"
    );

    // Caching: the ETag held is current.
    let cached = get_with(
        &app,
        &content,
        &[("authorization", &token), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.raw.is_empty());
    let stale = get_with(
        &app,
        &content,
        &[("authorization", &token), ("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(stale.status, 200);

    // Ranges, as a video player seeks.
    let size = receipt.len();
    let doc_content = format!("/api/v1/attachments/{doc_id}/content");
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-500", size - 500, size - 1),
    ] {
        let part = get_with(
            &app,
            &doc_content,
            &[("authorization", &token), ("range", range)],
        )
        .await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(part.raw, receipt[start..=end], "{range}");
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes {start}-{end}/{size}").as_str())
        );
    }
    let past = get_with(
        &app,
        &doc_content,
        &[
            ("authorization", &token),
            ("range", &format!("bytes={size}-")),
        ],
    )
    .await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.problem_type(), "range-not-satisfiable");
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    // A range under a stale If-Range gets the whole file.
    let whole = get_with(
        &app,
        &doc_content,
        &[
            ("authorization", &token),
            ("range", "bytes=0-9"),
            ("if-range", "\"old\""),
        ],
    )
    .await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.raw.len(), size);

    // The thumbnail is a small JPEG.
    let thumb = get_with(
        &app,
        &format!("/api/v1/attachments/{id}/thumbnail"),
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let small = image::load_from_memory(&thumb.raw).expect("a JPEG");
    assert_eq!((small.width(), small.height()), (256, 192));
    let none = app
        .get(&format!("/api/v1/attachments/{doc_id}/thumbnail"), &s.admin)
        .await;
    assert_eq!(none.status, 404);

    // Each upload is on the timeline: who, what, size, SHA-256.
    let added = events_of(&app, s.ticket, &s.admin, "attachment_added").await;
    assert_eq!(added.len(), 2);
    assert_eq!(added[0]["actor_id"], s.agent_id);
    assert_eq!(added[0]["data"]["attachment_id"], id);
    assert_eq!(added[0]["data"]["filename"], "破损照片.png");
    assert_eq!(added[0]["data"]["size"], photo.len());
    assert_eq!(added[0]["data"]["sha256"], sha);
    if is_fs(&app) {
        assert!(stored_files(&app).contains(&sha));
    }
    cleanup(&app);
}

async fn the_type_is_read_from_the_bytes_and_names_are_made_safe(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let auth = bearer(&s.agent);
    let auth = (auth.0, auth.1.as_str());
    let html = b"<html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    for (name, bytes, says) in [
        ("photo.jpg", zip(), "an archive"),
        ("photo.png", html, "text/html"),
        (
            "movie.mp4",
            b"GIF89a\x01\0\x01\0\x80\0\0\xff\xff\xff\0\0\0!\xf9\x04".to_vec(),
            "image/gif",
        ),
    ] {
        let res = upload(
            &app,
            &path,
            auth,
            &[("file", Some(name), "image/jpeg", &bytes)],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
        assert_eq!(res.problem_type(), "unsupported-media-type");
        let detail = res.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(says) && detail.contains("allowed"),
            "{detail}"
        );
    }
    // One bad file of several: nothing is attached.
    let photo = jpeg(64, 48);
    let res = upload(
        &app,
        &path,
        auth,
        &[
            ("file", Some("ok.jpg"), "image/jpeg", &photo),
            ("file", Some("evil.pdf"), "application/pdf", &zip()),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.body["detail"].as_str().unwrap().starts_with("file[1]"));
    let empty = upload(
        &app,
        &path,
        auth,
        &[("file", Some("e.jpg"), "image/jpeg", b"")],
    )
    .await;
    assert_eq!(empty.status, 422);
    assert_eq!(empty.error_fields(), ["file[0]"]);
    let wrong_part = upload(
        &app,
        &path,
        auth,
        &[("photo", Some("a.jpg"), "image/jpeg", &photo)],
    )
    .await;
    assert_eq!(wrong_part.status, 422);
    assert_eq!(wrong_part.error_fields(), ["photo"]);
    let no_parts = upload(&app, &path, auth, &[]).await;
    assert_eq!(no_parts.status, 422, "{:?}", no_parts.body);
    assert_eq!(no_parts.error_fields(), ["file"]);
    let json = app.post(&path, &s.agent, json!({"file": "x"})).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A JPEG's magic number over garbage is not an image.
    let mut broken = photo[..20].to_vec();
    broken.extend_from_slice(&[0x55; 5000]);
    let res = upload(
        &app,
        &path,
        auth,
        &[("file", Some("b.jpg"), "image/jpeg", &broken)],
    )
    .await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a readable image")
    );
    let list = app.get(&path, &s.agent).await;
    assert!(items(&list.body).is_empty(), "{:?}", list.body);
    assert!(
        events_of(&app, s.ticket, &s.admin, "attachment_added")
            .await
            .is_empty()
    );
    if is_fs(&app) {
        assert_eq!(
            stored_files(&app),
            Vec::<String>::new(),
            "no file left behind"
        );
    }

    // Names: no path, no reserved characters, an extension that matches the bytes.
    let doc = pdf(1000);
    for (sent, kept) in [
        ("../../etc/passwd", "passwd.pdf"),
        // A Windows path, its backslashes escaped in the quoted file name.
        ("C:\\\\Users\\\\王\\\\invoice.exe", "invoice.exe.pdf"),
        ("a<b>|c?.PDF", "a_b__c_.PDF"),
    ] {
        let res = upload(
            &app,
            &path,
            auth,
            &[("file", Some(sent), "text/plain", &doc)],
        )
        .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        assert_eq!(items(&res.body)[0]["filename"], kept, "{sent}");
    }
    let nameless = upload(&app, &path, auth, &[("file", None, "image/jpeg", &photo)]).await;
    assert_eq!(nameless.status, 201, "{:?}", nameless.body);
    assert_eq!(items(&nameless.body)[0]["filename"], "attachment.jpg");
    if is_fs(&app) {
        // The same PDF three times is one file.
        assert_eq!(stored_files(&app).len(), 2, "{:?}", stored_files(&app));
    }
    cleanup(&app);
}

async fn limits_are_enforced_before_and_while_the_bytes_arrive(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let auth = bearer(&s.agent);
    let auth = (auth.0, auth.1.as_str());
    // 2 GiB declared: refused before a byte is read.
    let req = test::TestRequest::post()
        .uri(&path)
        .insert_header(auth)
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .set_payload(Bytes::from_static(b"--x"))
        .insert_header(("content-length", "2147483648"));
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", res.body);
    assert_eq!(res.problem_type(), "payload-too-large");
    // A file over the per-file limit (64 KiB here) is refused as it streams.
    let big = pdf(70 * 1024);
    let res = upload(
        &app,
        &path,
        auth,
        &[("file", Some("big.pdf"), "application/pdf", &big)],
    )
    .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", res.body);
    assert!(res.body["detail"].as_str().unwrap().contains("file[0]"));
    // The ticket holds 100 KiB: 60 fits, another 60 does not.
    let sixty = pdf(60 * 1024);
    let first = upload(
        &app,
        &path,
        auth,
        &[("file", Some("a.pdf"), "application/pdf", &sixty)],
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let mut other = sixty.clone();
    other[20] = b'x';
    let second = upload(
        &app,
        &path,
        auth,
        &[("file", Some("b.pdf"), "application/pdf", &other)],
    )
    .await;
    assert_eq!(
        second.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        second.body
    );
    assert!(second.body["detail"].as_str().unwrap().contains("ticket"));
    // A decompression bomb: the header claims 100,000 × 100,000 pixels.
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100);
    let res = upload(
        &app,
        &path,
        auth,
        &[("file", Some("bomb.png"), "image/png", &bomb)],
    )
    .await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("100000×100000"), "{message}");
    // Over the pixel limit (1,000,000 here) by a real image's header too.
    let wide = {
        let plain = image::RgbImage::from_pixel(1100, 1000, image::Rgb([200, 200, 200]));
        let mut bytes = Vec::new();
        plain
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    };
    let res = upload(
        &app,
        &path,
        auth,
        &[("file", Some("wide.png"), "image/png", &wide)],
    )
    .await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    let list = app.get(&path, &s.agent).await;
    assert_eq!(items(&list.body).len(), 1);
    if is_fs(&app) {
        assert_eq!(stored_files(&app).len(), 1, "{:?}", stored_files(&app));
    }
    cleanup(&app);
}

async fn only_staff_upload_and_keys_with_tickets_read_download(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let photo = jpeg(32, 32);
    let auth = bearer(&s.agent);
    let res = upload(
        &app,
        &path,
        (auth.0, &auth.1),
        &[("file", Some("a.jpg"), "image/jpeg", &photo)],
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = items(&res.body)[0]["id"].as_i64().unwrap();
    let (_, reader) = crate::integrations::api_key(&app, &s.admin, &["tickets:read"]).await;
    let (_, writer) =
        crate::integrations::api_key(&app, &s.admin, &["tickets:write", "customers:read"]).await;
    let content = format!("/api/v1/attachments/{id}/content");
    let got = get_with(&app, &content, &[("x-api-key", &reader)]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.raw, photo);
    let listed = get_with(&app, &path, &[("x-api-key", &reader)]).await;
    assert_eq!(listed.status, 200);
    for url in [
        content.as_str(),
        path.as_str(),
        &format!("/api/v1/attachments/{id}"),
    ] {
        let refused = get_with(&app, url, &[("x-api-key", &writer)]).await;
        assert_eq!(refused.status, 403, "{url}");
        let anonymous = get_with(&app, url, &[]).await;
        assert_eq!(anonymous.status, 401, "{url}");
    }
    // Keys upload nothing and delete nothing, whatever their scopes.
    let res = upload(
        &app,
        &path,
        ("x-api-key", &reader),
        &[("file", Some("a.jpg"), "image/jpeg", &photo)],
    )
    .await;
    assert_eq!(res.status, 403);
    let req = test::TestRequest::delete()
        .uri(&format!("/api/v1/attachments/{id}?reason=x"))
        .insert_header(("x-api-key", reader.as_str()));
    assert_eq!(app.send(req).await.status, 403);
    // Another shop's ticket or attachment is not found.
    let missing = app
        .get("/api/v1/attachments/999999/content", &s.admin)
        .await;
    assert_eq!(missing.status, 404);
    let res = upload(
        &app,
        "/api/v1/tickets/999999/attachments",
        (auth.0, &auth.1),
        &[("file", Some("a.jpg"), "image/jpeg", &photo)],
    )
    .await;
    assert_eq!(res.status, 404);
}

async fn deletion_leaves_a_tombstone_and_removes_the_bytes(app: TestApp) {
    let s = shop(&app).await;
    let (_, other) = app.staff_token("bob@shop.example", Role::Agent).await;
    let (lead_id, lead) = app.staff_token("lee@shop.example", Role::Lead).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let photo = jpeg(40, 30);
    let auth = bearer(&s.agent);
    let mut ids = Vec::new();
    // The same photo uploaded three times (one file on disk).
    for _ in 0..3 {
        let res = upload(
            &app,
            &path,
            (auth.0, &auth.1),
            &[("file", Some("a.jpg"), "image/jpeg", &photo)],
        )
        .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        ids.push(items(&res.body)[0]["id"].as_i64().unwrap());
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
    let delete = |id: i64, token: String, reason: &'static str| {
        let app = &app;
        async move {
            let req = test::TestRequest::delete()
                .uri(&format!("/api/v1/attachments/{id}?reason={reason}"))
                .insert_header(("authorization", format!("Bearer {token}")));
            app.send(req).await
        }
    };
    // Someone else's, as an agent: no.
    let res = delete(ids[0], other.clone(), "mine%20now").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.problem_type(), "forbidden");
    // No reason: 422.
    let res = delete(ids[0], s.agent.clone(), "").await;
    assert_eq!(res.status, 422);
    assert_eq!(res.error_fields(), ["reason"]);
    // The uploader, right away.
    let res = delete(ids[0], s.agent.clone(), "wrong%20ticket").await;
    assert_eq!(res.status, 204, "{:?}", res.body);
    let gone = app
        .get(&format!("/api/v1/attachments/{}/content", ids[0]), &s.admin)
        .await;
    assert_eq!(gone.status, 404);
    let again = delete(ids[0], lead.clone(), "again").await;
    assert_eq!(again.status, 404);
    if is_fs(&app) {
        assert!(stored_files(&app).contains(&sha), "still used by two rows");
    }
    // The uploader, too late.
    app.sql(
        &format!(
            "UPDATE attachments SET created_at = created_at - INTERVAL '1 hour' WHERE id = {}",
            ids[1]
        )
        .replace(
            "created_at - INTERVAL '1 hour'",
            match app.state.db.backend() {
                aftercare::db::Backend::Sqlite => "datetime(created_at, '-1 hour')",
                aftercare::db::Backend::Postgres => "created_at - INTERVAL '1 hour'",
            },
        ),
    );
    let res = delete(ids[1], s.agent.clone(), "oops").await;
    assert_eq!(res.status, 403);
    assert!(res.body["detail"].as_str().unwrap().contains("15 minutes"));
    // A lead, any time.
    let res = delete(ids[1], lead.clone(), "shows%20the%20buyer%27s%20card").await;
    assert_eq!(res.status, 204);
    let res = delete(ids[2], lead.clone(), "duplicate").await;
    assert_eq!(res.status, 204);
    if is_fs(&app) {
        assert!(
            !stored_files(&app).contains(&sha),
            "no row uses it any more"
        );
    }
    // The bytes are gone from the database too (thumbnails included).
    let list = app.get(&path, &s.agent).await;
    assert!(items(&list.body).is_empty());
    let tombstones = events_of(&app, s.ticket, &s.admin, "attachment_deleted").await;
    assert_eq!(tombstones.len(), 3);
    assert_eq!(tombstones[0]["actor_id"], s.agent_id);
    assert_eq!(tombstones[0]["data"]["reason"], "wrong ticket");
    assert_eq!(tombstones[0]["data"]["sha256"], sha);
    assert_eq!(tombstones[1]["actor_id"], lead_id);
    assert_eq!(tombstones[1]["data"]["reason"], "shows the buyer's card");
    cleanup(&app);
}

async fn bytes_gone_from_storage_are_reported_not_served(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let doc = pdf(5000);
    let auth = bearer(&s.agent);
    let res = upload(
        &app,
        &path,
        (auth.0, &auth.1),
        &[("file", Some("a.pdf"), "application/pdf", &doc)],
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = items(&res.body)[0]["id"].as_i64().unwrap();
    let sha = items(&res.body)[0]["sha256"].as_str().unwrap().to_owned();
    let content = format!("/api/v1/attachments/{id}/content");
    // Damaged: another size than recorded.
    if is_fs(&app) {
        std::fs::write(storage_dir(&app).join(&sha), b"%PDF-garbage").unwrap();
    } else {
        app.sql(&format!(
            "UPDATE attachment_blobs SET bytes = {} WHERE attachment_id = {id} AND part = 'file'",
            match app.state.db.backend() {
                aftercare::db::Backend::Sqlite => "X'25504446'",
                aftercare::db::Backend::Postgres => "'\\x25504446'::bytea",
            }
        ));
    }
    let res = app.get(&content, &s.admin).await;
    assert_eq!(res.status, StatusCode::GONE, "{:?}", res.body);
    assert_eq!(res.problem_type(), "attachment-missing");
    // Gone altogether.
    if is_fs(&app) {
        std::fs::remove_file(storage_dir(&app).join(&sha)).unwrap();
    } else {
        app.sql(&format!(
            "DELETE FROM attachment_blobs WHERE attachment_id = {id}"
        ));
    }
    let res = app.get(&content, &s.admin).await;
    assert_eq!(res.status, StatusCode::GONE);
    assert_eq!(res.problem_type(), "attachment-missing");
    assert!(!res.raw.starts_with(b"%PDF"));
    // Its description is still there, and the ticket still works.
    assert_eq!(
        app.get(&format!("/api/v1/attachments/{id}"), &s.admin)
            .await
            .status,
        200
    );
    cleanup(&app);
}

async fn files_attach_to_a_note_of_the_ticket(app: TestApp) {
    let s = shop(&app).await;
    let note = app
        .post(
            &format!("/api/v1/tickets/{}/notes", s.ticket),
            &s.agent,
            json!({"body": "买家发来的快递单照片"}),
        )
        .await;
    assert_eq!(note.status, 201, "{:?}", note.body);
    let note_id = note.body["id"].as_i64().unwrap();
    let photo = png(20, 20);
    let auth = bearer(&s.agent);
    let res = upload(
        &app,
        &format!("/api/v1/notes/{note_id}/attachments"),
        (auth.0, &auth.1),
        &[("file", Some("快递单.png"), "image/png", &photo)],
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let attached = &items(&res.body)[0];
    assert_eq!(attached["note_id"], note_id);
    assert_eq!(attached["ticket_id"], s.ticket);
    let list = app
        .get(
            &format!("/api/v1/tickets/{}/attachments", s.ticket),
            &s.agent,
        )
        .await;
    assert_eq!(items(&list.body).len(), 1);
    let added = events_of(&app, s.ticket, &s.admin, "attachment_added").await;
    assert_eq!(added[0]["data"]["note_id"], note_id);
    // A note on the customer's file takes none.
    let customer = list.body["items"][0]["ticket_id"].as_i64().unwrap();
    let ticket = app
        .get(&format!("/api/v1/tickets/{customer}"), &s.agent)
        .await;
    let customer_id = ticket.body["customer"]["id"].as_i64().unwrap();
    let file_note = app
        .post(
            &format!("/api/v1/customers/{customer_id}/notes"),
            &s.agent,
            json!({"body": "prefers WeChat"}),
        )
        .await;
    assert_eq!(file_note.status, 201);
    let res = upload(
        &app,
        &format!("/api/v1/notes/{}/attachments", file_note.body["id"]),
        (auth.0, &auth.1),
        &[("file", Some("x.png"), "image/png", &photo)],
    )
    .await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    assert_eq!(res.error_fields(), ["id"]);
}

async fn a_slow_upload_times_out(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    );
    // The start of a file, then nothing more.
    let body = futures_util::stream::once(async move {
        Ok::<_, actix_web::error::PayloadError>(Bytes::from(head))
    })
    .chain(futures_util::stream::pending());
    let req = test::TestRequest::post()
        .uri(&path)
        .insert_header(("authorization", format!("Bearer {}", s.agent)))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .to_request();
    let payload: actix_http::BoxedPayloadStream = Box::pin(body);
    let (req, _) = req.replace_payload(actix_web::dev::Payload::Stream { payload });
    let res = app.send_request(req).await;
    assert_eq!(res.status, StatusCode::REQUEST_TIMEOUT, "{:?}", res.body);
    assert_eq!(res.problem_type(), "request-timeout");
    let list = app.get(&path, &s.agent).await;
    assert!(items(&list.body).is_empty());
}

async fn an_upload_with_an_idempotency_key_runs_once(app: TestApp) {
    let s = shop(&app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let doc = pdf(300_000);
    let send = |doc: Vec<u8>| {
        let req = test::TestRequest::post()
            .uri(&path)
            .insert_header(("authorization", format!("Bearer {}", s.agent)))
            .insert_header(("idempotency-key", "upload-1"))
            .insert_header((
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            ))
            .set_payload(form(&[("file", Some("a.pdf"), "application/pdf", &doc)]));
        app.send(req)
    };
    let first = send(doc.clone()).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = send(doc.clone()).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let mut other = doc.clone();
    other[100] = b'#';
    let reused = send(other).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.problem_type(), "idempotency-key-reused");
    let list = app.get(&path, &s.agent).await;
    assert_eq!(items(&list.body).len(), 1);
    let id = items(&list.body)[0]["id"].as_i64().unwrap();
    let got = app
        .get(&format!("/api/v1/attachments/{id}/content"), &s.agent)
        .await;
    assert_eq!(got.raw, doc);
}

use futures_util::StreamExt as _;

/// The S3 path, on both backends, against moto's S3-compatible server on 127.0.0.1.
#[actix_web::test]
async fn s3_storage_on_both_backends() {
    let Some(moto) = crate::moto::Moto::start() else {
        return;
    };
    let bucket = moto.bucket("aftercare-test");
    let s3 = |settings: &mut Settings| {
        settings.attachments.storage = aftercare::attachments::StorageKind::S3;
        settings.attachments.s3_endpoint = Some(moto.endpoint());
        settings.attachments.s3_bucket = Some(bucket.clone());
        settings.attachments.s3_access_key_id = Some("testing".into());
        settings.attachments.s3_secret_access_key = Some("testing".into());
        settings.attachments.s3_allow_http = true;
    };
    let sqlite = TestApp::sqlite_with(s3).await;
    s3_round_trip(&sqlite, &moto).await;
    drop(sqlite);
    if let Some(postgres) = TestApp::postgres_with(s3).await {
        s3_round_trip(&postgres, &moto).await;
    }
}

async fn s3_round_trip(app: &TestApp, moto: &crate::moto::Moto) {
    let s = shop(app).await;
    let path = format!("/api/v1/tickets/{}/attachments", s.ticket);
    let photo = png(300, 200);
    // Larger than one part of a multipart upload (8 MiB).
    let video = {
        let mut v = vec![0, 0, 0, 0x18];
        v.extend_from_slice(b"ftypmp42\0\0\0\0mp42isom");
        v.resize(9 * 1024 * 1024 + 123, 7);
        v
    };
    let auth = bearer(&s.agent);
    let res = upload(
        app,
        &path,
        (auth.0, &auth.1),
        &[
            ("file", Some("a.png"), "image/png", &photo),
            ("file", Some("unboxing.mp4"), "video/mp4", &video),
        ],
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let uploaded = items(&res.body);
    assert_eq!(uploaded[1]["content_type"], "video/mp4");
    let video_id = uploaded[1]["id"].as_i64().unwrap();
    let photo_id = uploaded[0]["id"].as_i64().unwrap();
    let token = format!("Bearer {}", s.admin);
    let got = get_with(
        app,
        &format!("/api/v1/attachments/{photo_id}/content"),
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.raw, photo);
    let part = get_with(
        app,
        &format!("/api/v1/attachments/{video_id}/content"),
        &[
            ("authorization", &token),
            ("range", "bytes=8388600-8388700"),
        ],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.raw, video[8_388_600..=8_388_700]);
    let whole = get_with(
        app,
        &format!("/api/v1/attachments/{video_id}/content"),
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(whole.raw.len(), video.len());
    assert!(whole.raw == video);
    let objects = moto.objects("aftercare-test");
    assert!(objects.len() >= 2, "{objects:?}");
    let req = test::TestRequest::delete()
        .uri(&format!(
            "/api/v1/attachments/{video_id}?reason=wrong%20file"
        ))
        .insert_header(("authorization", token.clone()));
    assert_eq!(app.send(req).await.status, 204);
    assert_eq!(moto.objects("aftercare-test").len(), objects.len() - 1);
    // Gone from the bucket: reported.
    app.sql(&format!(
        "UPDATE attachments SET storage_key = 'attachments/gone' WHERE id = {photo_id}"
    ));
    let res = app
        .get(&format!("/api/v1/attachments/{photo_id}/content"), &s.admin)
        .await;
    assert_eq!(res.status, StatusCode::GONE, "{:?}", res.body);
}
