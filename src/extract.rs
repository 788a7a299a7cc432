//! Request extractors that turn every kind of bad input into a problem naming the field.
//!
//! `Body<T>` replaces `web::Json<T>` and `Query<T>` replaces `web::Query<T>`: both record
//! the path of the offending field (via `serde_path_to_error`) and then run the type's
//! `validator` rules, so handlers only ever see well-formed, in-range input.

use std::ops::Deref;
use std::time::Duration;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures_util::{StreamExt, future::LocalBoxFuture};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

mod messages;
mod objects_only;
pub use messages::{DAY_FIELDS, plain_words};
use objects_only::ObjectsOnly;

/// Largest accepted body; set from `MAX_BODY_BYTES` as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Longest wait for a whole body; set from `BODY_READ_TIMEOUT_SECS` as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// Without app data (a bare test app), the setting's default.
const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON request body, deserialised strictly and validated.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(1_048_576);
        let timeout = req
            .app_data::<BodyReadTimeout>()
            .map_or(DEFAULT_BODY_READ_TIMEOUT, |t| t.0);
        let json = is_json_content_type(req);
        let declared_length = content_length(req);
        let no_body = matches!(declared_length, None | Some(0))
            && !req.headers().contains_key(header::TRANSFER_ENCODING);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json && no_body {
                // Nothing was sent at all: say that, not that its type is wrong.
                return Err(body_required());
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let body = read_body(&mut payload, declared_length, limit, timeout).await?;
            let value = parse_json::<T>(&body)?;
            validate(&value)?;
            Ok(Body(value))
        })
    }
}

fn body_required() -> ApiError {
    ApiError::field(
        "body",
        "is required: send a JSON object with Content-Type: application/json",
    )
}

/// Reads a whole request body, refusing (413) anything over `limit` bytes before
/// buffering it where the length is declared, and as soon as it is exceeded otherwise.
/// A body that has not arrived in full within `timeout` is refused (408): actix's own
/// `client_request_timeout` covers the headers only, so a client that stops halfway
/// through a body (a login included) would otherwise hold its request open for good.
pub async fn read_body<S, E>(
    payload: &mut S,
    declared_length: Option<usize>,
    limit: usize,
    timeout: Duration,
) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if declared_length.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    actix_web::rt::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(ApiError::RequestTimeout(timeout.as_secs())))
}

/// How much of an upload [`spool_body`] keeps in memory before it moves to a temporary file.
const SPOOL_IN_MEMORY_BYTES: usize = 1_048_576;

/// How much of an upload is gathered before it is handed to the spool (off the async
/// workers, since the spool may be a file).
const SPOOL_WRITE_BYTES: usize = 256 * 1024;

/// Receives a whole request body into a spool, refusing (413) anything over `limit` bytes
/// like [`read_body`]: up to 1 MiB stays in memory, a larger body goes to an unnamed
/// temporary file (in `TMPDIR`) that the operating system removes when it is closed, even
/// if the process is killed. For bodies read more than once (a CSV import is checked, then
/// written) without holding them in memory. The spool is returned rewound.
pub async fn spool_body<S, E>(
    payload: &mut S,
    declared_length: Option<usize>,
    limit: usize,
    timeout: Duration,
) -> Result<tempfile::SpooledTempFile, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use std::io::{Seek, Write};
    if declared_length.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let stored =
        |e: std::io::Error| ApiError::Unavailable(format!("no room to receive the upload: {e}"));
    let mut spool = tempfile::spooled_tempfile(SPOOL_IN_MEMORY_BYTES);
    let mut pending = web::BytesMut::new();
    let mut received = 0usize;
    let receive = async {
        loop {
            let chunk = payload
                .next()
                .await
                .transpose()
                .map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
            let done = chunk.is_none();
            if let Some(chunk) = chunk {
                received += chunk.len();
                if received > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                pending.extend_from_slice(&chunk);
            }
            if pending.len() >= SPOOL_WRITE_BYTES || (done && !pending.is_empty()) {
                let bytes = pending.split().freeze();
                spool = web::block(move || {
                    spool.write_all(&bytes)?;
                    Ok::<_, std::io::Error>(spool)
                })
                .await?
                .map_err(stored)?;
            }
            if done {
                break;
            }
        }
        spool.rewind().map_err(stored)?;
        Ok(spool)
    };
    actix_web::rt::time::timeout(timeout, receive)
        .await
        .unwrap_or(Err(ApiError::RequestTimeout(timeout.as_secs())))
}

/// The declared `Content-Length`, if any.
pub fn content_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Strict JSON parsing: anything that is not one JSON document is 400; a document of
/// the wrong shape is 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody("request body is empty".into()));
    }
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedBody(format!("request body is not valid JSON: {e}")))?;
    // serde would also fill a struct from an array of its fields in order (`["a@b", "pw"]`
    // as a login): every body of this API is an object, so anything else is refused whole.
    if !document.is_object() {
        return Err(ApiError::field("body", "must be a JSON object ({...})"));
    }
    let mut nul_fields = Vec::new();
    find_nul_characters(&document, "", &mut nul_fields);
    if !nul_fields.is_empty() {
        return Err(ApiError::Validation(nul_fields));
    }
    serde_path_to_error::deserialize(ObjectsOnly(&document)).map_err(|err| {
        let path = err.path().to_string();
        ApiError::Validation(vec![field_error_from_serde(
            &path,
            &err.into_inner().to_string(),
        )])
    })
}

const NUL_MESSAGE: &str = "must not contain NUL characters";

/// NUL is valid JSON (`\u0000`) but no text column takes it (PostgreSQL refuses it
/// outright), so it is refused here, by field, for every endpoint at once.
fn find_nul_characters(value: &serde_json::Value, path: &str, out: &mut Vec<FieldError>) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => {
            out.push(FieldError::new(
                if path.is_empty() { "body" } else { path },
                NUL_MESSAGE,
            ));
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                find_nul_characters(item, &child(&index.to_string()), out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                if key.contains('\0') {
                    out.push(FieldError::new(child(&key.replace('\0', "")), NUL_MESSAGE));
                } else {
                    find_nul_characters(item, &child(key), out);
                }
            }
        }
        _ => {}
    }
}

/// Deserialises and validates a nested JSON value (such as kind-specific details),
/// naming offending fields under `prefix`.
pub fn parse_value<T: DeserializeOwned + Validate>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    let prefixed = |errors: Vec<FieldError>| {
        ApiError::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    e.field = match e.field.as_str() {
                        "" | "body" => prefix.to_owned(),
                        field => format!("{prefix}.{field}"),
                    };
                    e
                })
                .collect(),
        )
    };
    if !value.is_object() {
        return Err(prefixed(vec![FieldError::new(
            "",
            "must be a JSON object ({...})",
        )]));
    }
    let parsed: T = serde_path_to_error::deserialize(ObjectsOnly(&value)).map_err(|err| {
        let path = err.path().to_string();
        prefixed(vec![field_error_from_serde(
            &path,
            &err.into_inner().to_string(),
        )])
    })?;
    parsed
        .validate()
        .map_err(|errors| prefixed(flatten_validation_errors(&errors)))?;
    Ok(parsed)
}

/// Names the field for serde's messages: "missing field `x`" reports the parent's path,
/// so the quoted name is appended unless the path already ends with it.
fn field_error_from_serde(path: &str, message: &str) -> FieldError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    let parent = if path == "." { "" } else { path };
    let named = (message.starts_with("missing field `") || message.starts_with("unknown field `"))
        .then(|| message.split('`').nth(1))
        .flatten();
    let already_named = |name: &str| parent == name || parent.ends_with(&format!(".{name}"));
    let field = match (parent, named) {
        (parent, Some(name)) if already_named(name) => parent.to_owned(),
        ("", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        ("", None) => "body".to_owned(),
        (parent, None) => parent.to_owned(),
    };
    let message = plain_words(&message, &field);
    FieldError::new(field, message)
}

/// A path segment that is not what the route takes (`/tickets/abc`): a 422 naming the
/// route's parameter (`id`), not "path". Every parameter of this API's paths is an id.
pub fn path_problem(req: &HttpRequest) -> ApiError {
    let errors: Vec<FieldError> = req
        .match_info()
        .iter()
        .filter(|(_, value)| value.parse::<i64>().is_err())
        .map(|(name, _)| FieldError::new(name, "must be a whole number (an id), e.g. 42"))
        .collect();
    if errors.is_empty() {
        ApiError::field("path", "is not a valid address for this resource")
    } else {
        ApiError::Validation(errors)
    }
}

/// Query parameters, deserialised strictly and validated.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

pub fn parse_query<T: DeserializeOwned + Validate>(query: &str) -> Result<T, ApiError> {
    let nul_fields: Vec<FieldError> = url_form(query.as_bytes())
        .filter(|(key, value)| key.contains('\0') || value.contains('\0'))
        .map(|(key, _)| FieldError::new(key.replace('\0', ""), NUL_MESSAGE))
        .collect();
    if !nul_fields.is_empty() {
        return Err(ApiError::Validation(nul_fields));
    }
    let deserializer = serde_urlencoded::Deserializer::new(url_form(query.as_bytes()));
    let value: T = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        ApiError::Validation(vec![field_error_from_serde(
            &path,
            &err.into_inner().to_string(),
        )])
    })?;
    validate(&value)?;
    Ok(value)
}

/// For endpoints that take no query parameters: any parameter is refused with a 422 naming
/// it, as lists refuse parameters they do not know, rather than silently ignored (a client
/// that sends `?group=segment` to a list that cannot filter must not get the whole list).
#[derive(Debug)]
pub struct NoQuery;

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct NoParams {}

impl FromRequest for NoQuery {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query::<NoParams>(req.query_string()).map(|_| NoQuery))
    }
}

/// A query string cut in two: the pairs whose key is one of `keys`, and the others, each
/// as a query string again. For an endpoint that takes one parameter set (a list's
/// filters) and a few of its own, each parsed with its own `deny_unknown_fields` struct.
pub fn split_query(query: &str, keys: &[&str]) -> (String, String) {
    let mut named = form_urlencoded::Serializer::new(String::new());
    let mut others = form_urlencoded::Serializer::new(String::new());
    for (key, value) in url_form(query.as_bytes()) {
        if keys.contains(&key.as_ref()) {
            named.append_pair(&key, &value);
        } else {
            others.append_pair(&key, &value);
        }
    }
    (named.finish(), others.finish())
}

fn url_form(input: &[u8]) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(input)
}

/// A UTC offset such as `+08:00` (default: China Standard Time, where most shops are).
pub fn utc_offset(raw: Option<&str>, field: &str) -> Result<chrono::FixedOffset, ApiError> {
    let raw = raw.unwrap_or("+08:00");
    let invalid = || ApiError::field(field, "must look like +08:00 or -05:00");
    let (sign, rest) = match raw.as_bytes().first() {
        Some(b'+') | Some(b' ') => (1, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => return Err(invalid()),
    };
    let (hours, minutes) = rest.split_once(':').ok_or_else(invalid)?;
    // Two digits each, as documented (`^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$`): `+8:00` or
    // `+008:00` would parse, but a client reading the pattern could not know that.
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(invalid());
    }
    let hours: i32 = hours.parse().map_err(|_| invalid())?;
    let minutes: i32 = minutes.parse().map_err(|_| invalid())?;
    if !(0..=14).contains(&hours) || !(0..=59).contains(&minutes) {
        return Err(invalid());
    }
    chrono::FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(invalid)
}

/// The first day any date or time a client sends may fall on: the shop's records (orders,
/// reviews, tickets, follow-ups) and every date filter and report period lie in
/// `FIRST_DAY..=LAST_DAY`. Both backends store it and chrono does day arithmetic on it
/// without overflowing (it panics at its own far ends, which clients could otherwise
/// reach). Birthdays have their own narrower business range (`customers`).
pub const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
/// The last day any date or time a client sends may fall on (a day short of 9999-12-31, so
/// that a local day's end in any UTC offset still has a UTC instant).
pub const LAST_DAY: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 30).expect("a date");

const DATE_RANGE: &str = "must be between 1970-01-01 and 9999-12-30";

/// `day`, or a 422 naming `field` when it lies outside `FIRST_DAY..=LAST_DAY`.
pub fn day_in_range(day: NaiveDate, field: &str) -> Result<NaiveDate, ApiError> {
    if (FIRST_DAY..=LAST_DAY).contains(&day) {
        Ok(day)
    } else {
        Err(ApiError::field(
            field,
            format!("{DATE_RANGE}, e.g. 2026-11-01"),
        ))
    }
}

/// Whether a UTC time (as stored, without its zone) falls on a day within
/// `FIRST_DAY..=LAST_DAY`.
pub fn within_calendar(at: NaiveDateTime) -> bool {
    (FIRST_DAY..=LAST_DAY).contains(&at.date())
}

/// `#[validate(custom(function = "check_instant"))]` for date-time fields and parameters:
/// its UTC day within `FIRST_DAY..=LAST_DAY`.
pub fn check_instant(at: &DateTime<Utc>) -> Result<(), ValidationError> {
    if within_calendar(at.naive_utc()) {
        Ok(())
    } else {
        Err(message(
            "date_range",
            "must be between 1970-01-01T00:00:00Z and 9999-12-30T23:59:59Z",
        ))
    }
}

/// A validation error with a code and the sentence a client sees.
pub fn message(code: &'static str, text: &str) -> ValidationError {
    let mut error = ValidationError::new(code);
    error.message = Some(text.to_owned().into());
    error
}

/// For `#[serde(default, deserialize_with = "present")]` on `Option<Option<T>>` fields of
/// PATCH bodies: distinguishes an absent field (`None`: leave as is) from `null`
/// (`Some(None)`: clear it).
pub fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

pub fn validate<T: Validate>(value: &T) -> Result<(), ApiError> {
    value
        .validate()
        .map_err(|errors| ApiError::Validation(flatten_validation_errors(&errors)))
}

/// `validator`'s nested error tree as a flat, sorted list of `field: message`.
pub fn flatten_validation_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe(error));
                    out.push(FieldError::new(path.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// A readable message for validator's built-in rules that carry no message of their own.
fn describe(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "length is out of range".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be a valid email address".into(),
        code => format!("is invalid ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn a_body_that_stops_arriving_is_refused_with_408() {
        use futures_util::stream;
        let half = web::Bytes::from_static(br#"{"email": "li.na@"#);
        let mut stalled =
            stream::iter([Ok::<_, std::convert::Infallible>(half)]).chain(stream::pending());
        let read = read_body(&mut stalled, Some(64), 1024, Duration::from_millis(20));
        let result = actix_web::rt::System::new().block_on(read);
        assert!(
            matches!(result, Err(ApiError::RequestTimeout(_))),
            "{result:?}"
        );

        let whole = web::Bytes::from_static(b"{}");
        let mut complete = stream::iter([Ok::<_, std::convert::Infallible>(whole)]);
        let read = read_body(&mut complete, Some(2), 1024, Duration::from_secs(5));
        let body = actix_web::rt::System::new()
            .block_on(read)
            .expect("a whole body");
        assert_eq!(&body[..], b"{}");
    }

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[validate(length(min = 1, max = 5))]
        name: String,
        #[validate(range(min = 1, max = 5))]
        score: u8,
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(list) => list.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn bodies_and_details_must_be_objects_not_arrays_of_fields() {
        // serde's sequence form of a struct: the fields in declaration order.
        assert_eq!(
            fields(parse_json::<Sample>(br#"["abc", 3]"#).unwrap_err()),
            ["body"]
        );
        assert_eq!(fields(parse_json::<Sample>(b"null").unwrap_err()), ["body"]);
        assert_eq!(
            fields(parse_json::<Sample>(b"\"x\"").unwrap_err()),
            ["body"]
        );
        let details = parse_value::<Sample>(serde_json::json!(["abc", 3]), "details");
        assert_eq!(fields(details.unwrap_err()), ["details"]);
        assert!(
            parse_value::<Sample>(serde_json::json!({"name": "abc", "score": 3}), "details")
                .is_ok()
        );
    }

    #[test]
    fn syntax_errors_are_malformed_body() {
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\":"),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse_json::<Sample>(b"  "),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\":\"a\",\"score\":1} trailing"),
            Err(ApiError::MalformedBody(_))
        ));
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(
            fields(parse_json::<Sample>(b"{\"name\":\"a\"}").unwrap_err()),
            ["score"]
        );
        assert_eq!(
            fields(
                parse_json::<Sample>(b"{\"name\":\"a\",\"score\":1,\"admin\":true}").unwrap_err()
            ),
            ["admin"]
        );
        assert_eq!(
            fields(parse_json::<Sample>(b"{\"name\":\"a\",\"score\":\"high\"}").unwrap_err()),
            ["score"]
        );
        assert_eq!(
            fields(parse_json::<Sample>(b"{\"name\":\"a\",\"score\":300}").unwrap_err()),
            ["score"]
        );
    }

    #[test]
    fn rule_violations_list_every_field() {
        let sample = parse_json::<Sample>(b"{\"name\":\"toolong\",\"score\":9}").unwrap();
        assert_eq!(fields(validate(&sample).unwrap_err()), ["name", "score"]);
    }

    #[test]
    fn dates_outside_the_calendar_are_refused_by_field() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        for bad in [
            NaiveDate::MIN,
            NaiveDate::MAX,
            day("1969-12-31"),
            day("9999-12-31"),
        ] {
            assert_eq!(fields(day_in_range(bad, "to").unwrap_err()), ["to"]);
        }
        for good in [FIRST_DAY, LAST_DAY, day("2026-11-24")] {
            assert_eq!(day_in_range(good, "to").unwrap(), good);
        }
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        for bad in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            at("1969-12-31T23:59:59Z"),
            at("9999-12-31T00:00:00Z"),
            // Far years parse as RFC 3339 with a sign.
            at("+262142-12-31T00:00:00Z"),
        ] {
            assert!(check_instant(&bad).is_err(), "{bad}");
        }
        for good in [at("1970-01-01T00:00:00Z"), at("9999-12-30T23:59:59Z")] {
            assert!(check_instant(&good).is_ok(), "{good}");
        }
    }

    #[test]
    fn utc_offsets_parse_with_sign() {
        assert_eq!(
            utc_offset(Some("-05:30"), "tz").unwrap().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert_eq!(utc_offset(None, "tz").unwrap().local_minus_utc(), 8 * 3600);
        // A '+' left unencoded in a query string arrives as a space.
        assert_eq!(
            utc_offset(Some(" 08:00"), "tz").unwrap().local_minus_utc(),
            8 * 3600
        );
        assert!(utc_offset(Some("08:00"), "tz").is_err());
        assert!(utc_offset(Some("+15:00"), "tz").is_err());
        // Exactly the documented shape: two digits for hours and for minutes.
        assert!(utc_offset(Some("+8:00"), "tz").is_err());
        assert!(utc_offset(Some("+008:00"), "tz").is_err());
        assert!(utc_offset(Some("+08:0"), "tz").is_err());
    }

    #[test]
    fn nul_characters_are_refused_by_field() {
        assert_eq!(
            fields(
                parse_json::<serde_json::Value>(br#"{"a": {"b": ["ok", "x\u0000y"]}}"#)
                    .unwrap_err()
            ),
            ["a.b.1"]
        );
        assert_eq!(
            fields(parse_json::<serde_json::Value>(br#""\u0000""#).unwrap_err()),
            ["body"]
        );
        assert!(parse_json::<serde_json::Value>(br#"{"a": "\\u0000"}"#).is_ok());
        let err = parse_query::<Sample>("name=a%00b&score=1").unwrap_err();
        assert_eq!(fields(err), ["name"]);
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(
            fields(parse_query::<Sample>("name=a&score=x").unwrap_err()),
            ["score"]
        );
        assert_eq!(
            fields(parse_query::<Sample>("name=a&score=1&evil=1").unwrap_err()),
            ["evil"]
        );
        assert!(parse_query::<Sample>("name=a&score=2").is_ok());
    }
}
