//! The `Idempotency-Key` middleware wrapped around `/api/v1`: checks the key, claims it,
//! serves or replays, and records a successful answer.

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use chrono::{Duration, Utc};

use super::{
    Decision, EXEMPT_PATHS, HEADER, REPLAYED_HEADER, REPLAYED_HEADERS, StoredResponse, check_key,
    fingerprint, fingerprint_reader, secret_not_replayed, store,
};
use crate::auth;
use crate::error::{ApiError, ProblemKind};
use crate::extract::{content_length, read_body, spool_body};
use crate::response::SecretResponse;
use crate::state::AppState;
use serde_json::Map;

fn problem(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let response = actix_web::ResponseError::error_response(&error);
    req.into_response(response)
}

fn replay(req: ServiceRequest, stored: StoredResponse) -> ServiceResponse<BoxBody> {
    let mut builder =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder.insert_header((name, value));
        }
    }
    builder.insert_header((REPLAYED_HEADER, "true"));
    req.into_response(builder.body(stored.body))
}

/// A request body the middleware read to fingerprint it, to hand on to the handler.
enum Body {
    Bytes(web::Bytes),
    Spooled(tempfile::SpooledTempFile),
}

/// The spooled body again, in chunks read on the blocking pool.
fn spooled_stream(
    spool: tempfile::SpooledTempFile,
) -> std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>>,
> {
    use futures_util::StreamExt;
    let chunks = futures_util::stream::unfold(Some(spool), |spool| async move {
        let mut spool = spool?;
        let read = web::block(move || {
            use std::io::Read;
            let mut buf = vec![0; 256 * 1024];
            let n = spool.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((spool, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((spool, buf))) => Some((Ok(web::Bytes::from(buf)), Some(spool))),
            Ok(Err(e)) => Some((Err(actix_web::error::PayloadError::Io(e)), None)),
            Err(_) => Some((
                Err(actix_web::error::PayloadError::Io(std::io::Error::other(
                    "the spool could not be read",
                ))),
                None,
            )),
        }
    });
    chunks.fuse().boxed_local()
}

/// The middleware (wrapped around `/api/v1`).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = match req.headers().get(HEADER) {
        Some(value) if req.method() == Method::POST && !EXEMPT_PATHS.contains(&req.path()) => {
            match check_key(value.as_bytes()) {
                Ok(key) => key.to_owned(),
                Err(error) => return Ok(problem(req, error)),
            }
        }
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Unauthenticated requests go on to be refused by the endpoint itself.
    let Ok(principal) = auth::authenticate::authenticate(req.request()).await else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let declared = content_length(req.request());
    let mut payload = req.take_payload();
    let is_form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    // A form (attachments, a CSV import as a file) is spooled, never held in memory, and
    // handed on from the spool; a JSON or CSV body is read whole, as its handler would.
    let (body, request_hash) = if is_form {
        let uploads = &state.settings.attachments;
        let limit = usize::try_from(uploads.max_ticket_bytes.saturating_add(1_048_576))
            .unwrap_or(usize::MAX)
            .max(state.settings.import.max_bytes);
        let timeout = uploads
            .upload_timeout()
            .max(state.settings.server.body_read_timeout());
        let spool = match spool_body(&mut payload, declared, limit, timeout).await {
            Ok(spool) => spool,
            Err(error) => return Ok(problem(req, error)),
        };
        let (method, path, query) = (
            req.method().as_str().to_owned(),
            req.path().to_owned(),
            req.query_string().to_owned(),
        );
        let hashed = web::block(move || {
            use std::io::Seek;
            let mut spool = spool;
            let hash = fingerprint_reader(&method, &path, &query, &mut spool)?;
            spool.rewind()?;
            Ok::<_, std::io::Error>((spool, hash))
        })
        .await;
        match hashed {
            Ok(Ok((spool, hash))) => (Body::Spooled(spool), hash),
            _ => {
                let error = ApiError::Unavailable("cannot read back a spooled upload".into());
                return Ok(problem(req, error));
            }
        }
    } else {
        let limit = state
            .settings
            .import
            .max_bytes
            .max(state.settings.server.max_body_bytes);
        let timeout = state.settings.server.body_read_timeout();
        let body = match read_body(&mut payload, declared, limit, timeout).await {
            Ok(body) => body.freeze(),
            Err(error) => return Ok(problem(req, error)),
        };
        let hash = fingerprint(req.method().as_str(), req.path(), req.query_string(), &body);
        (Body::Bytes(body), hash)
    };
    let subject = principal.subject();
    let ttl = Duration::hours(state.settings.idempotency.key_ttl_hours);
    let claim = {
        let key = key.clone();
        state
            .db
            .write(move |conn| {
                store::begin(
                    conn,
                    &subject,
                    &key,
                    &request_hash,
                    Utc::now().naive_utc(),
                    ttl,
                )
            })
            .await
    };
    let row_id = match claim {
        Ok(Decision::Proceed(id)) => id,
        Ok(Decision::Replay(stored)) => return Ok(replay(req, stored)),
        Ok(Decision::Mismatch) => {
            return Ok(problem(
                req,
                ApiError::Unprocessable {
                    kind: ProblemKind::IdempotencyKeyReused,
                    detail: format!(
                        "Idempotency-Key {key:?} was used for a different request; use a new key for a new request"
                    ),
                    extensions: Map::new(),
                },
            ));
        }
        Ok(Decision::InProgress) => {
            return Ok(problem(
                req,
                ApiError::conflict(
                    ProblemKind::IdempotencyInProgress,
                    format!(
                        "a request with Idempotency-Key {key:?} is still being served; retry shortly"
                    ),
                ),
            ));
        }
        Err(error) => return Ok(problem(req, error)),
    };
    req.set_payload(match body {
        Body::Bytes(bytes) => actix_web::dev::Payload::from(bytes),
        Body::Spooled(spool) => actix_web::dev::Payload::Stream {
            payload: spooled_stream(spool),
        },
    });
    let release_claim = |state: web::Data<AppState>| async move {
        if let Err(error) = state
            .db
            .write(move |conn| store::release(conn, row_id))
            .await
        {
            tracing::warn!(?error, "could not release an idempotency key");
        }
    };
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(error) => {
            release_claim(state).await;
            return Err(error);
        }
    };
    let status = response.status();
    if !status.is_success() {
        release_claim(state).await;
        return Ok(response.map_into_boxed_body());
    }
    if response
        .response()
        .extensions()
        .get::<SecretResponse>()
        .is_some()
    {
        let stored = secret_not_replayed();
        if let Err(error) = state
            .db
            .write(move |conn| store::finish(conn, row_id, &stored))
            .await
        {
            tracing::error!(?error, "could not store an idempotent response");
        }
        return Ok(response.map_into_boxed_body());
    }
    let (http_req, res) = response.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            release_claim(state).await;
            return Err(actix_web::error::ErrorInternalServerError(
                "response body could not be read",
            ));
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                head.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(error) = state
        .db
        .write(move |conn| store::finish(conn, row_id, &stored))
        .await
    {
        // The work is done and answered, but a retry finds only the claim: 409 until the
        // claim counts as abandoned (ABANDONED_AFTER_SECS), then the work runs again.
        tracing::error!(?error, "could not store an idempotent response");
    }
    let res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, res))
}
