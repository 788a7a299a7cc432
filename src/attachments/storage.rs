//! Where attachments' bytes live, behind one interface ([`Storages`]): the database, a
//! directory, or an S3-compatible bucket.
//!
//! Every upload is first received into a temporary file ([`Incoming`]: hashed, counted and
//! typed as it streams, never held in memory), then placed: read into the row's
//! transaction (database), fsynced and renamed to `<sha256>` in the directory with the
//! directory fsynced too (filesystem: the same bytes are stored once), or streamed to the
//! bucket as `attachments/<uuid>` (S3). Only then is the row committed, so a file whose
//! storage write failed never appears as attached. A row whose bytes are gone or of
//! another size is reported ([`Missing`]), never served.
//!
//! S3 calls run on a small runtime of their own (`object_store` needs tokio's I/O and
//! timers; actix's workers are single-threaded runtimes of their own), and a download's
//! bytes come back through a bounded channel.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::ObjectStoreExt;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::rules::{self, SNIFF_BYTES};
use super::{AttachmentSettings, FileType, StorageKind};
use crate::error::ApiError;

/// How much of an upload is gathered before it is written to its temporary file.
const WRITE_BYTES: usize = 256 * 1024;
/// The size of a download's chunks, and of an S3 upload's parts.
const READ_BYTES: usize = 256 * 1024;
const S3_PART_BYTES: usize = 8 * 1024 * 1024;
/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 256;

/// The bytes of an attachment are gone or damaged: reported to the client (410) and in
/// the log, never served.
#[derive(Debug)]
pub struct Missing(pub String);

/// One file of an upload, as it arrives.
pub struct Incoming {
    file: Option<tempfile::NamedTempFile>,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    pending: BytesMut,
    file_type: Option<FileType>,
    /// The name the client gave, as sent.
    pub raw_name: Option<String>,
}

/// A file received whole: in its temporary file, hashed and typed.
pub struct Received {
    pub file: tempfile::NamedTempFile,
    pub sha256: String,
    pub size: u64,
    pub file_type: FileType,
    pub filename: String,
}

/// Why an upload's file is refused while it arrives.
#[derive(Debug)]
pub enum Refusal {
    /// Not an allowed type (415): what it is.
    Type(String),
    /// Empty (422).
    Empty,
    Storage(String),
}

impl Incoming {
    pub fn new(spool_dir: &Path, raw_name: Option<String>) -> Result<Incoming, ApiError> {
        let file = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(spool_dir)
            .map_err(|e| ApiError::Unavailable(format!("cannot receive an attachment: {e}")))?;
        Ok(Incoming {
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
            pending: BytesMut::new(),
            file_type: None,
            raw_name,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next chunk; the type is decided as soon as enough bytes are in, so that
    /// a refused type is refused before the rest arrives.
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        if self.file_type.is_none() && self.head.len() < SNIFF_BYTES {
            let room = SNIFF_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if self.head.len() >= SNIFF_BYTES {
                self.file_type = Some(rules::sniff(&self.head).map_err(Refusal::Type)?);
            }
        }
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= WRITE_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Refusal> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = self.pending.split().freeze();
        let mut file = self.file.take().expect("the file is back after each write");
        let file = web::block(move || {
            file.write_all(&bytes)?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| Refusal::Storage(e.to_string()))?
        .map_err(|e| Refusal::Storage(format!("cannot write the upload: {e}")))?;
        self.file = Some(file);
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Received, Refusal> {
        self.flush().await?;
        if self.size == 0 {
            return Err(Refusal::Empty);
        }
        let file_type = match self.file_type {
            Some(t) => t,
            None => rules::sniff(&self.head).map_err(Refusal::Type)?,
        };
        Ok(Received {
            file: self.file.take().expect("the file is back after each write"),
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            file_type,
            filename: rules::sanitize_filename(self.raw_name.as_deref(), file_type),
        })
    }
}

/// What is learned from an image before it is kept: its size and a thumbnail.
#[derive(Debug, Default)]
pub struct Inspection {
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail: Option<Vec<u8>>,
}

/// One image decoded at a time in the whole process: a decode holds the whole picture
/// (up to `ATTACHMENT_MAX_IMAGE_PIXELS` × 4 bytes), so concurrent uploads queue here
/// instead of multiplying it.
static DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Reads an image's dimensions from its header and refuses a decompression bomb before
/// anything is decoded; then decodes it (bounded by those dimensions) for a thumbnail.
/// Blocking: run it on the blocking pool. `Err`: why the image is refused.
pub fn inspect(path: &Path, file_type: FileType, max_pixels: u64) -> Result<Inspection, String> {
    let format = match file_type {
        FileType::Jpeg => image::ImageFormat::Jpeg,
        FileType::Png => image::ImageFormat::Png,
        FileType::Webp => image::ImageFormat::WebP,
        _ => return Ok(Inspection::default()),
    };
    let open = || -> Result<image::ImageReader<std::io::BufReader<File>>, String> {
        let file = File::open(path).map_err(|e| format!("cannot be read back: {e}"))?;
        let mut reader = image::ImageReader::new(std::io::BufReader::new(file));
        reader.set_format(format);
        Ok(reader)
    };
    let unreadable = |e: image::ImageError| format!("is not a readable image ({e})");
    let (width, height) = open()?.into_dimensions().map_err(unreadable)?;
    rules::check_pixels(width, height, max_pixels)?;
    let _turn = DECODING.lock().unwrap_or_else(|p| p.into_inner());
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // The picture itself (at most 4 bytes a pixel for these formats) and some room.
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(unreadable)?;
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    drop(picture);
    let mut thumbnail = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumbnail, 80)
        .encode_image(&small)
        .map_err(|e| format!("cannot be made into a thumbnail ({e})"))?;
    Ok(Inspection {
        width: i32::try_from(width).ok(),
        height: i32::try_from(height).ok(),
        thumbnail: Some(thumbnail),
    })
}

/// The bytes of a file bound for database storage, read in the transaction that writes
/// them (the one moment such a file is in memory).
pub fn read_whole(file: &tempfile::NamedTempFile) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    file.reopen()
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| ApiError::Unavailable(format!("cannot read a received attachment: {e}")))?;
    Ok(bytes)
}

/// Where a received file went.
pub enum Placed {
    /// Into the row's transaction (database storage): read from its temporary file only
    /// there, so that uploads waiting for the database do not each hold a file in memory.
    Database(tempfile::NamedTempFile),
    /// Stored under this key (filesystem: the SHA-256; S3: the object path).
    Stored(String),
}

/// The bytes of a download.
pub enum Content {
    Bytes(Bytes),
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

/// Every storage this process can read, and the one new attachments go to.
#[derive(Clone)]
pub struct Storages {
    /// Where new files go (`ATTACHMENT_STORAGE`).
    pub current: StorageKind,
    dir: PathBuf,
    s3: Option<S3Store>,
    /// Why the configured storage cannot be used (checked at start-up).
    problem: Option<String>,
}

impl Storages {
    /// The storages the settings describe. A problem (no bucket, a directory that cannot be
    /// created) is kept and reported by [`Storages::problem`]; the server refuses to start.
    pub fn new(settings: &AttachmentSettings) -> Storages {
        let dir = PathBuf::from(&settings.dir);
        let mut problem = None;
        if settings.storage == StorageKind::Filesystem
            && let Err(e) = std::fs::create_dir_all(&dir)
        {
            problem = Some(format!(
                "ATTACHMENT_DIR {}: cannot be created: {e}",
                dir.display()
            ));
        }
        let s3 = match S3Store::new(settings) {
            Ok(s3) => s3,
            Err(e) => {
                if settings.storage == StorageKind::S3 {
                    problem = Some(e);
                }
                None
            }
        };
        if settings.storage == StorageKind::S3 && s3.is_none() && problem.is_none() {
            problem = Some("ATTACHMENT_STORAGE=s3 needs ATTACHMENT_S3_BUCKET".into());
        }
        Storages {
            current: settings.storage,
            dir,
            s3,
            problem,
        }
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Where an upload's temporary files go: the storage directory itself for filesystem
    /// storage (so that keeping a file is a rename), the system's temporary directory
    /// otherwise.
    pub fn spool_dir(&self) -> PathBuf {
        match self.current {
            StorageKind::Filesystem => self.dir.clone(),
            _ => std::env::temp_dir(),
        }
    }

    fn unavailable(&self) -> ApiError {
        ApiError::Unavailable(
            self.problem
                .clone()
                .unwrap_or_else(|| "attachment storage is not configured".into()),
        )
    }

    /// Puts a received file where new attachments go. Nothing refers to it yet: the
    /// caller commits the row, or [`Storages::discard`]s it.
    pub async fn place(&self, received: Received) -> Result<Placed, ApiError> {
        if self.problem.is_some() {
            return Err(self.unavailable());
        }
        let storage_error =
            |e: String| ApiError::Unavailable(format!("attachment storage failed: {e}"));
        match self.current {
            StorageKind::Database => Ok(Placed::Database(received.file)),
            StorageKind::Filesystem => {
                let dir = self.dir.clone();
                let key = received.sha256.clone();
                web::block(move || keep_file(&dir, received))
                    .await?
                    .map_err(|e| storage_error(e.to_string()))?;
                Ok(Placed::Stored(key))
            }
            StorageKind::S3 => {
                let s3 = self.s3.clone().ok_or_else(|| self.unavailable())?;
                let key = format!("attachments/{}", uuid::Uuid::new_v4());
                s3.upload(&key, received).await.map_err(storage_error)?;
                Ok(Placed::Stored(key))
            }
        }
    }

    /// Removes stored bytes (a deleted attachment's, or a placed file whose row did not
    /// commit). Filesystem callers make sure no live row refers to the hash first.
    pub async fn discard(&self, kind: StorageKind, key: &str) -> Result<(), String> {
        match kind {
            StorageKind::Database => Ok(()),
            StorageKind::Filesystem => {
                if !is_hash(key) {
                    return Err(format!("not a stored file name: {key:?}"));
                }
                let path = self.dir.join(key);
                web::block(move || match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                    _ => Ok(()),
                })
                .await
                .map_err(|e| e.to_string())?
            }
            StorageKind::S3 => {
                let s3 = self
                    .s3
                    .clone()
                    .ok_or("S3 storage is not configured".to_owned())?;
                s3.delete(key).await
            }
        }
    }

    /// The bytes `start..=end` of a file kept in a directory or a bucket (database storage
    /// is read by the caller, in its query). `Err(Missing)` when they are gone or of
    /// another size than recorded.
    pub async fn open(
        &self,
        kind: StorageKind,
        key: &str,
        size: u64,
        (start, end): (u64, u64),
    ) -> Result<Result<Content, Missing>, ApiError> {
        match kind {
            StorageKind::Database => Err(ApiError::Internal(
                "database attachments are read with their row".into(),
            )),
            StorageKind::Filesystem => {
                if !is_hash(key) {
                    return Ok(Err(Missing(format!("not a stored file name: {key:?}"))));
                }
                let path = self.dir.join(key);
                let opened = web::block(move || -> std::io::Result<Result<File, Missing>> {
                    let mut file = match File::open(&path) {
                        Ok(file) => file,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            return Ok(Err(Missing(format!("{} is gone", path.display()))));
                        }
                        Err(e) => return Err(e),
                    };
                    let found = file.metadata()?.len();
                    if found != size {
                        return Ok(Err(Missing(format!(
                            "{} holds {found} bytes, {size} were stored",
                            path.display()
                        ))));
                    }
                    file.seek(SeekFrom::Start(start))?;
                    Ok(Ok(file))
                })
                .await?
                .map_err(|e| ApiError::Unavailable(format!("attachment storage failed: {e}")))?;
                Ok(opened.map(|file| Content::Stream(file_stream(file, end + 1 - start))))
            }
            StorageKind::S3 => {
                let s3 = self.s3.clone().ok_or_else(|| self.unavailable())?;
                s3.get(key, size, start..end + 1).await
            }
        }
    }
}

/// A content-addressed file name: 64 lower-case hex digits.
fn is_hash(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// fsync the received file, rename it to its hash (the same bytes may be there already:
/// then they stay, and the copy goes), fsync the directory so the rename survives a crash.
fn keep_file(dir: &Path, received: Received) -> std::io::Result<()> {
    let target = dir.join(&received.sha256);
    received.file.as_file().sync_all()?;
    received.file.persist(&target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// `length` bytes from the file's position, in chunks read on the blocking pool.
fn file_stream(file: File, length: u64) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold((Some(file), length), |(file, left)| async move {
        let file = file?;
        if left == 0 {
            return None;
        }
        let want = left.min(READ_BYTES as u64) as usize;
        let read = web::block(move || {
            let mut file = file;
            let mut buf = vec![0; want];
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await;
        match read {
            Ok(Ok((file, buf))) => Some((Ok(Bytes::from(buf)), (Some(file), left - want as u64))),
            Ok(Err(e)) => Some((Err(e), (None, 0))),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), (None, 0))),
        }
    })
    .boxed()
}

/// A tokio runtime that is shut down without waiting, wherever it is dropped (a runtime
/// dropped inside another runtime's task would otherwise panic).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// An S3-compatible bucket and the runtime its calls run on.
#[derive(Clone)]
struct S3Store {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<Runtime>,
}

impl S3Store {
    /// `Ok(None)`: no bucket configured.
    fn new(settings: &AttachmentSettings) -> Result<Option<S3Store>, String> {
        let Some(bucket) = settings.s3_bucket.as_deref().filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&settings.s3_region)
            .with_allow_http(settings.s3_allow_http);
        if let Some(endpoint) = &settings.s3_endpoint {
            // Path-style requests (`endpoint/bucket/key`), which every S3-compatible
            // server understands.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &settings.s3_access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        // reqwest's TLS (rustls) takes the process-wide provider: ring, already in the tree.
        static PROVIDER: std::sync::Once = std::sync::Once::new();
        PROVIDER.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let store = builder
            .build()
            .map_err(|e| format!("ATTACHMENT_S3_*: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("attachments-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client's runtime: {e}"))?;
        Ok(Some(S3Store {
            store: Arc::new(store),
            runtime: Arc::new(Runtime(Some(runtime))),
        }))
    }

    /// Runs `work` on the S3 runtime.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        let runtime = self
            .runtime
            .0
            .as_ref()
            .ok_or("the S3 runtime has stopped")?;
        runtime
            .spawn(work)
            .await
            .map_err(|e| format!("S3 call failed: {e}"))
    }

    async fn upload(&self, key: &str, received: Received) -> Result<(), String> {
        let store = self.store.clone();
        let path = object_store::path::Path::from(key);
        self.run(async move {
            let size = received.size;
            let file = received.file.reopen().map_err(|e| e.to_string())?;
            let read = |mut file: File, want: usize| {
                tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0; want];
                    file.read_exact(&mut buf)?;
                    Ok::<_, std::io::Error>((file, buf))
                })
            };
            if size as usize <= S3_PART_BYTES {
                let (_, buf) = read(file, size as usize)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                store
                    .put(&path, PutPayload::from(buf))
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            let upload = store
                .put_multipart(&path)
                .await
                .map_err(|e| e.to_string())?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART_BYTES);
            let (mut file, mut left) = (file, size);
            while left > 0 {
                let want = left.min(S3_PART_BYTES as u64) as usize;
                let chunk = read(file, want).await.map_err(|e| e.to_string())?;
                let (back, buf) = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e.to_string());
                    }
                };
                file = back;
                left -= want as u64;
                if let Err(e) = writer.wait_for_capacity(2).await {
                    return Err(e.to_string());
                }
                writer.put(Bytes::from(buf));
            }
            writer.finish().await.map_err(|e| e.to_string())?;
            Ok(())
        })
        .await?
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        let store = self.store.clone();
        let path = object_store::path::Path::from(key);
        self.run(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?
    }

    async fn get(
        &self,
        key: &str,
        size: u64,
        range: std::ops::Range<u64>,
    ) -> Result<Result<Content, Missing>, ApiError> {
        let store = self.store.clone();
        let path = object_store::path::Path::from(key);
        let shown = key.to_owned();
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let (opened, opened_rx) = tokio::sync::oneshot::channel();
        let runtime = self
            .runtime
            .0
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("the S3 runtime has stopped".into()))?;
        // Not awaited: the task feeds the channel while the response is sent.
        runtime.spawn(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..GetOptions::default()
            };
            let result = match store.get_opts(&path, options).await {
                Ok(result) => result,
                Err(object_store::Error::NotFound { .. }) => {
                    let _ = opened.send(Ok(Err(Missing(format!("object {shown} is gone")))));
                    return;
                }
                Err(e) => {
                    let _ = opened.send(Err(e.to_string()));
                    return;
                }
            };
            if result.meta.size != size {
                let _ = opened.send(Ok(Err(Missing(format!(
                    "object {shown} holds {} bytes, {size} were stored",
                    result.meta.size
                )))));
                return;
            }
            let _ = opened.send(Ok(Ok(())));
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        let opened = opened_rx
            .await
            .map_err(|_| ApiError::Unavailable("the S3 call stopped".into()))?
            .map_err(|e| ApiError::Unavailable(format!("attachment storage failed: {e}")))?;
        Ok(opened.map(|()| {
            Content::Stream(
                futures_util::stream::unfold(receiver, |mut receiver| async move {
                    receiver.recv().await.map(|chunk| (chunk, receiver))
                })
                .boxed(),
            )
        }))
    }
}
