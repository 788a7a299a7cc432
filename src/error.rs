//! The one error type of the API and its RFC 9457 `application/problem+json` form.
//!
//! Every failure a client can see goes through [`ApiError`]; responses produced by actix
//! itself (unknown route, wrong method, ...) are rewritten into the same shape by
//! [`problem_for_framework_errors`], so clients only ever parse one error format.

use actix_web::{
    HttpResponse, ResponseError,
    body::{BoxBody, EitherBody},
    dev::ServiceResponse,
    http::{StatusCode, header},
    middleware::ErrorHandlerResponse,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
const PROBLEM_TYPE_PREFIX: &str = "urn:aftercare:problem:";

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the problem is: a body path such as `contacts[1].value`, a query or path parameter name.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document. `type` is a stable URN clients may branch on;
/// some problems add extension members (documented on the endpoint that returns them).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:aftercare:problem:validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "email", "message": "must be a valid email address"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "urn:aftercare:problem:not-found")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on validation problems: each offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", describe_field_count(.0.len()))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    MalformedBody(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("email or password is wrong, or the account is inactive")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A state conflict; `kind` becomes the problem type (`duplicate`, `last-admin`, ...).
    #[error("{detail}")]
    Conflict {
        kind: &'static str,
        detail: String,
        extensions: Map<String, Value>,
    },
    /// Well-formed but refused as a whole (422), with details in `extensions`.
    #[error("{detail}")]
    Unprocessable {
        kind: &'static str,
        detail: String,
        extensions: Map<String, Value>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Details go to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe_field_count(count: usize) -> String {
    match count {
        1 => "1 field is invalid".into(),
        n => format!("{n} fields are invalid"),
    }
}

impl ApiError {
    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            kind,
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// Stable slug of the problem type, and its title.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation(_) => ("validation", "Invalid request"),
            ApiError::MalformedBody(_) => ("malformed-body", "Malformed request body"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict { kind, .. } => (kind, "Conflict"),
            ApiError::Unprocessable { kind, .. } => (kind, "Unprocessable request"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.kind();
        let detail = match self {
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            other => other.to_string(),
        };
        let (errors, extensions) = match self {
            ApiError::Validation(errors) => (errors.clone(), Map::new()),
            ApiError::Conflict { extensions, .. } | ApiError::Unprocessable { extensions, .. } => {
                (Vec::new(), extensions.clone())
            }
            _ => (Vec::new(), Map::new()),
        };
        Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.into(),
            status: self.status_code().as_u16(),
            detail,
            errors,
            extensions,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::MalformedBody(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_CONTENT_TYPE);
        if matches!(
            self,
            ApiError::Unauthenticated(_) | ApiError::InvalidCredentials
        ) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(self.to_problem())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => ApiError::NotFound("resource not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => ApiError::conflict(
                "duplicate",
                format!(
                    "a record with the same unique value already exists ({})",
                    info.constraint_name().unwrap_or_else(|| info.message())
                ),
            ),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::conflict("reference", "a referenced record does not exist")
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(format!("database unavailable: {err}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::Internal("blocking task was cancelled".into())
    }
}

/// Rewrites every error response not already in problem form (actix's own 404, 405, 413,
/// extractor failures) so that clients see one error format everywhere.
pub fn problem_for_framework_errors<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE));
    if already_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (slug, detail) = match status {
        StatusCode::NOT_FOUND => (
            "not-found",
            format!("no resource at {}", res.request().path()),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            format!(
                "{} is not allowed on {}",
                res.request().method(),
                res.request().path()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "request body is too large".into()),
        s if s.is_server_error() => (
            "internal",
            "an unexpected error occurred; it has been logged".into(),
        ),
        _ => ("bad-request", "the request could not be processed".into()),
    };
    let problem = Problem {
        problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
        extensions: Map::new(),
    };
    let (req, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.insert_header((name.clone(), value.clone()));
        }
    }
    let new: HttpResponse<BoxBody> = builder
        .content_type(PROBLEM_CONTENT_TYPE)
        .body(serde_json::to_string(&problem).unwrap_or_default());
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_body(|_, body| EitherBody::right(body)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_lists_fields_and_uses_stable_type() {
        let problem = ApiError::field("email", "must be a valid email address").to_problem();
        assert_eq!(problem.problem_type, "urn:aftercare:problem:validation");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "email");
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let problem = ApiError::Internal("password=hunter2 in SQL".into()).to_problem();
        assert!(!problem.detail.contains("hunter2"));
        assert_eq!(problem.status, 500);
    }

    #[test]
    fn conflict_kind_becomes_problem_type() {
        let problem = ApiError::conflict("last-admin", "x").to_problem();
        assert_eq!(problem.problem_type, "urn:aftercare:problem:last-admin");
        assert_eq!(problem.status, 409);
    }
}
