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

/// `Retry-After` on a 503 `unavailable`.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// Problem members that name other records of the shop (see [`ApiError::without_record_ids`]).
const RECORD_POINTERS: &[&str] = &["existing_customer_id", "existing_customer_ids"];
const PROBLEM_TYPE_PREFIX: &str = "urn:aftercare:problem:";

/// Writes [`ProblemKind`] and its lookups from one table, so that `ALL` cannot miss a
/// variant: the README test below trusts `ALL` to be the whole vocabulary.
macro_rules! problem_kinds {
    ($($(#[$doc:meta])* $variant:ident = $slug:literal, $status:ident, $title:literal;)+) => {
        /// Every problem type the API answers with. The slug is the tail of the `type` URN that
        /// clients branch on, so a slug never changes once published; the README's Errors
        /// table documents each one (a unit test keeps the two in step).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemKind {
            $($(#[$doc])* $variant,)+
        }

        impl ProblemKind {
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$variant,)+];

            /// The stable tail of the `type` URN.
            pub const fn slug(self) -> &'static str {
                match self {
                    $(ProblemKind::$variant => $slug,)+
                }
            }

            pub const fn status(self) -> StatusCode {
                match self {
                    $(ProblemKind::$variant => StatusCode::$status,)+
                }
            }

            pub const fn title(self) -> &'static str {
                match self {
                    $(ProblemKind::$variant => $title,)+
                }
            }
        }
    };
}

problem_kinds! {
    Validation = "validation", UNPROCESSABLE_ENTITY, "Invalid request";
    MalformedBody = "malformed-body", BAD_REQUEST, "Malformed request body";
    /// A request the server cannot read at all (an undecodable query or header, a body that
    /// breaks off); also what other framework 4xx answers are rewritten to.
    BadRequest = "bad-request", BAD_REQUEST, "Bad request";
    Unauthenticated = "unauthenticated", UNAUTHORIZED, "Authentication required";
    InvalidCredentials = "invalid-credentials", UNAUTHORIZED, "Invalid credentials";
    Forbidden = "forbidden", FORBIDDEN, "Forbidden";
    NotFound = "not-found", NOT_FOUND, "Not found";
    /// Only actix answers this one; see [`problem_for_framework_errors`].
    MethodNotAllowed = "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    Duplicate = "duplicate", CONFLICT, "Conflict";
    LastAdmin = "last-admin", CONFLICT, "Conflict";
    DuplicateContact = "duplicate-contact", CONFLICT, "Conflict";
    CustomerArchived = "customer-archived", CONFLICT, "Conflict";
    Reference = "reference", CONFLICT, "Conflict";
    InvalidTransition = "invalid-transition", CONFLICT, "Conflict";
    DuplicateReview = "duplicate-review", CONFLICT, "Conflict";
    NotResolved = "not-resolved", CONFLICT, "Conflict";
    SatisfactionRecorded = "satisfaction-recorded", CONFLICT, "Conflict";
    /// A note's edit window has closed (its author writes a new note instead).
    NoteLocked = "note-locked", CONFLICT, "Conflict";
    /// The ticket's survey was answered, expired or withdrawn: nothing to nudge.
    SurveyNotPending = "survey-not-pending", CONFLICT, "Conflict";
    /// Making a tag group single-choice, or moving a tag into one, would leave customers
    /// holding two tags of it.
    SingleChoice = "single-choice", CONFLICT, "Conflict";
    PreconditionFailed = "precondition-failed", PRECONDITION_FAILED, "Precondition failed";
    ImportRejected = "import-rejected", UNPROCESSABLE_ENTITY, "Unprocessable request";
    BatchRejected = "batch-rejected", UNPROCESSABLE_ENTITY, "Unprocessable request";
    /// A bulk ticket change named a ticket that cannot take the action: nothing was changed.
    BulkRejected = "bulk-rejected", UNPROCESSABLE_ENTITY, "Unprocessable request";
    IdempotencyKeyReused = "idempotency-key-reused", UNPROCESSABLE_ENTITY, "Unprocessable request";
    IdempotencyInProgress = "idempotency-in-progress", CONFLICT, "Conflict";
    IdempotencySecretNotReplayed = "idempotency-secret-not-replayed", CONFLICT, "Conflict";
    DeliveryPending = "delivery-pending", CONFLICT, "Conflict";
    /// The body did not arrive in full within `BODY_READ_TIMEOUT_SECS`.
    RequestTimeout = "request-timeout", REQUEST_TIMEOUT, "Request timeout";
    PayloadTooLarge = "payload-too-large", PAYLOAD_TOO_LARGE, "Payload too large";
    /// A `Range` that no byte of the file is in.
    RangeNotSatisfiable = "range-not-satisfiable", RANGE_NOT_SATISFIABLE, "Range not satisfiable";
    /// An attachment's bytes are gone from its storage or damaged: reported, never served.
    AttachmentMissing = "attachment-missing", GONE, "Gone";
    UnsupportedMediaType = "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type";
    TooManyRequests = "too-many-requests", TOO_MANY_REQUESTS, "Too many requests";
    /// The database cannot be reached or cannot store changes (full, read-only, I/O
    /// errors, locked, a connection lost mid-request): worth retrying, never a bug.
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
    /// Every password hasher stayed busy for longer than a request may wait for one.
    Overloaded = "overloaded", SERVICE_UNAVAILABLE, "Service overloaded";
    Internal = "internal", INTERNAL_SERVER_ERROR, "Internal error";
}

impl ProblemKind {
    /// The problem document's `type`.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }
}

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

/// An RFC 9457 problem document. `type` is a stable URN clients may branch on; some
/// problems add extension members, documented (typed) by `ProblemDocument`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on validation problems: each offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

crate::contract::documented_as!(Problem => ProblemDocument);

// The OpenAPI schema of `Problem`, with every extension member the server emits declared
// as an optional, typed property (the real type holds them in a map, filled where the
// problem arises). Never built.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[schema(as = Problem, example = json!({
    "type": "urn:aftercare:problem:validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "email", "message": "must be a valid email address"}]
}))]
/// An RFC 9457 problem document. `type` is a stable URN clients may branch on; some
/// problems add the extension members below (each says which).
struct ProblemDocument {
    #[serde(rename = "type")]
    #[schema(example = "urn:aftercare:problem:not-found")]
    problem_type: String,
    title: String,
    status: u16,
    detail: String,
    /// Present on validation problems: each offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    errors: Option<Vec<FieldError>>,
    /// `invalid-transition`: the ticket's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    current_state: Option<crate::tickets::State>,
    /// `invalid-transition`: the states the ticket may move to from `current_state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    allowed_next_states: Option<Vec<crate::tickets::State>>,
    /// `invalid-transition`: what may be done from `current_state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    allowed_actions: Option<Vec<crate::tickets::Action>>,
    /// `duplicate-contact`: the customer the contact handle belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    existing_customer_id: Option<i64>,
    /// `duplicate-review`: the ticket already opened for the review.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    existing_ticket_id: Option<i64>,
    /// `reference` (deleting an order): the tickets that refer to the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    ticket_ids: Option<Vec<i64>>,
    /// `import-rejected` (an `ImportReport`), `batch-rejected` (a `BatchReport`) or
    /// `bulk-rejected` (a `BulkTicketReport`): what would have happened; nothing was written.
    // A batch report holds each failed item's problem: the recursion stops here.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, no_recursion)]
    report: Option<RejectionReport>,
}

/// The report of a refused atomic import, feed batch or bulk ticket change.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RejectionReport {
    Import(crate::ingestion::ImportReport),
    Batch(crate::ingestion::BatchReport),
    Bulk(crate::tickets::bulk::BulkTicketReport),
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
    /// A state conflict (409); `kind` becomes the problem type (`duplicate`, `last-admin`, ...).
    #[error("{detail}")]
    Conflict {
        kind: ProblemKind,
        detail: String,
        extensions: Map<String, Value>,
    },
    /// Well-formed but refused as a whole (422), with details in `extensions`.
    #[error("{detail}")]
    Unprocessable {
        kind: ProblemKind,
        detail: String,
        extensions: Map<String, Value>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("the request body did not arrive within {0} s")]
    RequestTimeout(u64),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Too large, with the service's own sentence saying what (a file, a ticket's room).
    #[error("{0}")]
    TooLarge(String),
    /// 416, with `Content-Range: bytes */<size>`.
    #[error("the range is outside the file's {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// An attachment's bytes are gone or damaged (the cause is logged).
    #[error("{0}")]
    AttachmentMissing(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// The cause goes to the log; the client gets one fixed sentence, never database text.
    #[error("the database is unavailable or cannot store changes right now; try again shortly")]
    Unavailable(String),
    /// The database went away part-way through work the client must know the state of (an
    /// import stopped at a line): the detail is the service's own words about that state,
    /// the cause is logged.
    #[error("the database became unavailable; {detail}")]
    Interrupted { cause: String, detail: String },
    #[error("too many passwords are being checked at once; try again in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
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
    pub fn conflict(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            kind,
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    /// The problem as told to a caller that may write records but not read them (a
    /// write-only API key): a conflict keeps its kind and sentence but loses the ids of the
    /// records it points at, so that such a key cannot learn, handle by handle, which
    /// customer a phone number belongs to. Sentences never carry those ids themselves.
    pub fn without_record_ids(self, conceal: bool) -> Self {
        match self {
            ApiError::Conflict {
                kind,
                detail,
                mut extensions,
            } if conceal => {
                for pointer in RECORD_POINTERS {
                    extensions.remove(*pointer);
                }
                ApiError::Conflict {
                    kind,
                    detail,
                    extensions,
                }
            }
            other => other,
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// The problem type, which also fixes the status and the title.
    pub fn kind(&self) -> ProblemKind {
        match self {
            ApiError::Validation(_) => ProblemKind::Validation,
            ApiError::MalformedBody(_) => ProblemKind::MalformedBody,
            ApiError::BadRequest(_) => ProblemKind::BadRequest,
            ApiError::Unauthenticated(_) => ProblemKind::Unauthenticated,
            ApiError::InvalidCredentials => ProblemKind::InvalidCredentials,
            ApiError::Forbidden(_) => ProblemKind::Forbidden,
            ApiError::NotFound(_) => ProblemKind::NotFound,
            ApiError::Conflict { kind, .. } => {
                // A conflict answers 409 and a refused whole 422: a kind of another status
                // here is a bug the test suite trips over, never a client.
                debug_assert_eq!(
                    kind.status(),
                    StatusCode::CONFLICT,
                    "{kind:?} is not a conflict"
                );
                *kind
            }
            ApiError::Unprocessable { kind, .. } => {
                debug_assert_eq!(
                    kind.status(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{kind:?} is not a 422"
                );
                *kind
            }
            ApiError::PreconditionFailed(_) => ProblemKind::PreconditionFailed,
            ApiError::RequestTimeout(_) => ProblemKind::RequestTimeout,
            ApiError::PayloadTooLarge(_) | ApiError::TooLarge(_) => ProblemKind::PayloadTooLarge,
            ApiError::RangeNotSatisfiable { .. } => ProblemKind::RangeNotSatisfiable,
            ApiError::AttachmentMissing(_) => ProblemKind::AttachmentMissing,
            ApiError::UnsupportedMediaType(_) => ProblemKind::UnsupportedMediaType,
            ApiError::TooManyRequests { .. } => ProblemKind::TooManyRequests,
            ApiError::Unavailable(_) | ApiError::Interrupted { .. } => ProblemKind::Unavailable,
            ApiError::Overloaded { .. } => ProblemKind::Overloaded,
            ApiError::Internal(_) => ProblemKind::Internal,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let kind = self.kind();
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
            problem_type: kind.type_uri(),
            title: kind.title().into(),
            status: kind.status().as_u16(),
            detail,
            errors,
            extensions,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable(cause) | ApiError::Interrupted { cause, .. } => {
                tracing::warn!(%cause, "database unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::RangeNotSatisfiable { size } = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
        }
        if let ApiError::RequestTimeout(_) | ApiError::TooLarge(_) = self {
            // The rest of the body may still be on its way: it must not be read as the
            // next request on this connection.
            response.force_close();
        }
        response.content_type(PROBLEM_CONTENT_TYPE);
        if matches!(
            self,
            ApiError::Unauthenticated(_) | ApiError::InvalidCredentials
        ) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after_secs }
        | ApiError::Overloaded { retry_after_secs } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::Interrupted { .. }
        ) {
            // An outage or a full disk is not over in a second, but a failover is: a short
            // wait, which well-behaved clients stretch as they retry.
            response.insert_header((
                header::RETRY_AFTER,
                UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            ));
        }
        response.json(self.to_problem())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => ApiError::NotFound("resource not found".into()),
            // No database text reaches a client: each constraint gets a sentence, and the
            // database's own words go to the log.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::info!(
                    message = info.message(),
                    "unique constraint refused a write"
                );
                ApiError::conflict(
                    ProblemKind::Duplicate,
                    duplicate_sentence(info.constraint_name(), info.message()),
                )
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::info!(message = info.message(), "foreign key refused a write");
                ApiError::conflict(ProblemKind::Reference, reference_sentence(info.message()))
            }
            other if is_storage_failure(&other) => {
                ApiError::Unavailable(format!("database: {other}"))
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

/// Unique constraints a client can run into, by PostgreSQL index name and by the columns
/// SQLite names ("UNIQUE constraint failed: tags.shop_id, tags.name"), with what to tell
/// a person.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "users_email_key",
        "users.email",
        "a staff account with this email already exists",
    ),
    (
        "customer_contacts_handle_key",
        "customer_contacts.shop_id, customer_contacts.kind, customer_contacts.value",
        "another customer already has this contact",
    ),
    (
        "tags_shop_name_key",
        "tags.shop_id, tags.name",
        "a tag with this name already exists",
    ),
    // Since tag names are unique regardless of ASCII case (`VIP` and `vip` are one tag).
    (
        "tags_shop_name_key_key",
        "tags.shop_id, tags.name_key",
        "a tag with this name already exists",
    ),
    (
        "tag_groups_shop_name_key",
        "tag_groups.shop_id, tag_groups.name",
        "this tag group was set at the same moment; try again",
    ),
    (
        "orders_external_key",
        "orders.shop_id, orders.channel, orders.external_order_no",
        "an order with this channel and order number already exists",
    ),
    (
        "tickets_review_key",
        "tickets.shop_id, tickets.review_platform, tickets.review_external_id",
        "this review already has a ticket",
    ),
];

pub fn duplicate_sentence(constraint: Option<&str>, message: &str) -> &'static str {
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(index, columns, _)| {
            constraint == Some(*index) || message.ends_with(&format!("failed: {columns}"))
        })
        .map_or("a record with the same unique value already exists", |c| {
            c.2
        })
}

/// PostgreSQL says which side of a reference failed; SQLite only that one did.
pub fn reference_sentence(message: &str) -> &'static str {
    if message.starts_with("update or delete on table") {
        "other records still refer to this one; remove those references first"
    } else if message.starts_with("insert or update on table") {
        "the change refers to a record that does not exist"
    } else {
        "the change refers to a record that does not exist, or removes one that other records still refer to"
    }
}

/// How SQLite and libpq word the failures of the storage or of the connection that
/// diesel hands over as `DatabaseErrorKind::Unknown` (lower case).
const STORAGE_FAILURE_MESSAGES: &[&str] = &[
    // SQLite: SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_BUSY after busy_timeout,
    // SQLITE_LOCKED, SQLITE_CANTOPEN.
    "database or disk is full",
    "readonly database",
    "disk i/o error",
    "database is locked",
    "database table is locked",
    "unable to open database file",
    // libpq and the PostgreSQL server: a backend terminated (pg_terminate_backend, a
    // restart), a connection gone, a server shutting down or a disk full.
    "terminating connection",
    "server closed the connection",
    "no connection to the server",
    "connection to server",
    "could not receive data from server",
    "could not send data to server",
    "the database system is",
    "no space left on device",
    "could not extend file",
    "read-only transaction",
    "canceling statement due to statement timeout",
    "canceling statement due to lock timeout",
];

/// Whether a database error is the storage or the connection failing (the request may
/// succeed later: 503) rather than the request or the code (500). Decided on the error
/// itself, so a failure anywhere (a query, a commit, a rollback) is judged the same way.
pub fn is_storage_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            STORAGE_FAILURE_MESSAGES
                .iter()
                .any(|known| message.contains(known))
        }
        // A transaction whose connection broke under it cannot even be rolled back.
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => is_storage_failure(commit_error),
        _ => false,
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(format!("no database connection: {err}"))
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
    // A problem document, or a page for people (the buyer survey's HTML pages, whose
    // errors are pages too), goes out as it is.
    let already_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE) || v.starts_with("text/html"));
    if already_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (
            ProblemKind::NotFound,
            format!("no resource at {}", res.request().path()),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ProblemKind::MethodNotAllowed,
            format!(
                "{} is not allowed on {}",
                res.request().method(),
                res.request().path()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ProblemKind::PayloadTooLarge,
            "request body is too large".into(),
        ),
        s if s.is_server_error() => (
            ProblemKind::Internal,
            "an unexpected error occurred; it has been logged".into(),
        ),
        _ => (
            ProblemKind::BadRequest,
            "the request could not be processed".into(),
        ),
    };
    // Status and title stay actix's own (e.g. "Method Not Allowed"), not the kind's: the
    // response already went out with that status, and clients branch on `type` only.
    let problem = Problem {
        problem_type: kind.type_uri(),
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
    fn constraint_failures_are_sentences_not_database_text() {
        assert_eq!(
            duplicate_sentence(None, "UNIQUE constraint failed: tags.shop_id, tags.name"),
            "a tag with this name already exists"
        );
        assert_eq!(
            duplicate_sentence(
                Some("tags_shop_name_key"),
                "duplicate key value violates..."
            ),
            "a tag with this name already exists"
        );
        assert_eq!(
            duplicate_sentence(
                None,
                "UNIQUE constraint failed: tags.shop_id, tags.name_key"
            ),
            "a tag with this name already exists"
        );
        assert_eq!(
            duplicate_sentence(Some("tags_shop_name_key_key"), "duplicate key value"),
            "a tag with this name already exists"
        );
        assert!(!duplicate_sentence(None, "UNIQUE constraint failed: x.y").contains('.'));
        assert!(
            reference_sentence("update or delete on table \"orders\" violates foreign key")
                .starts_with("other records still refer")
        );
        assert!(!reference_sentence("FOREIGN KEY constraint failed").contains("FOREIGN"));
    }

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

    fn database_error(kind: diesel::result::DatabaseErrorKind, message: &str) -> ApiError {
        diesel::result::Error::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn storage_failures_are_503_without_database_text() {
        use diesel::result::DatabaseErrorKind::{
            ClosedConnection, ReadOnlyTransaction, UnableToSendCommand, Unknown,
        };
        for (kind, message) in [
            (Unknown, "database or disk is full"),
            (Unknown, "attempt to write a readonly database"),
            (Unknown, "disk I/O error"),
            (Unknown, "database is locked"),
            (Unknown, "unable to open database file"),
            (
                Unknown,
                "FATAL:  terminating connection due to administrator command",
            ),
            (
                Unknown,
                "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally",
            ),
            (Unknown, "FATAL:  the database system is shutting down"),
            (
                Unknown,
                "could not extend file \"base/1/2\": No space left on device",
            ),
            (ClosedConnection, "anything"),
            (UnableToSendCommand, "no connection to the server"),
            (
                ReadOnlyTransaction,
                "cannot execute UPDATE in a read-only transaction",
            ),
        ] {
            let problem = database_error(kind, message).to_problem();
            assert_eq!(problem.status, 503, "{message}");
            assert_eq!(problem.problem_type, "urn:aftercare:problem:unavailable");
            assert!(
                !problem.detail.contains(message),
                "the detail never repeats the database's words: {message}"
            );
        }
        let lost_commit = diesel::result::Error::RollbackErrorOnCommit {
            rollback_error: Box::new(diesel::result::Error::BrokenTransactionManager),
            commit_error: Box::new(diesel::result::Error::DatabaseError(
                Unknown,
                Box::new("disk I/O error".to_owned()),
            )),
        };
        assert_eq!(ApiError::from(lost_commit).to_problem().status, 503);
        assert_eq!(
            ApiError::from(diesel::result::Error::BrokenTransactionManager)
                .to_problem()
                .status,
            503
        );
    }

    #[test]
    fn other_database_errors_stay_internal() {
        use diesel::result::DatabaseErrorKind::Unknown;
        for message in [
            "no such column: nmae",
            "syntax error at or near \"FROM\"",
            "value too long for type character varying(20)",
        ] {
            assert_eq!(database_error(Unknown, message).to_problem().status, 500);
        }
        assert_eq!(
            ApiError::from(diesel::result::Error::RollbackTransaction)
                .to_problem()
                .status,
            500
        );
    }

    #[test]
    fn a_lost_connection_is_unavailable_not_a_bug() {
        use diesel::result::{DatabaseErrorKind, Error};
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            let error = ApiError::from(Error::DatabaseError(
                kind,
                Box::new("server closed the connection unexpectedly".to_owned()),
            ));
            assert_eq!(error.kind(), ProblemKind::Unavailable);
        }
        let other = ApiError::from(Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("syntax error".to_owned()),
        ));
        assert_eq!(other.kind(), ProblemKind::Internal);
    }

    #[test]
    fn conflict_kind_becomes_problem_type() {
        let problem = ApiError::conflict(ProblemKind::LastAdmin, "x").to_problem();
        assert_eq!(problem.problem_type, "urn:aftercare:problem:last-admin");
        assert_eq!(problem.status, 409);
    }

    /// The `(kind, status)` rows of the README's Errors table, the clients' reference.
    fn documented_kinds() -> Vec<(String, u16)> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## ")
            .find(|s| s.starts_with("Errors\n"))
            .expect("the README has an Errors section");
        section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let kind = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let status = cells.get(2)?.parse().ok()?;
                Some((kind.to_owned(), status))
            })
            .collect()
    }

    #[test]
    fn readme_documents_every_problem_kind_with_its_status() {
        let documented = documented_kinds();
        for kind in ProblemKind::ALL {
            let rows: Vec<u16> = documented
                .iter()
                .filter(|(slug, _)| slug == kind.slug())
                .map(|(_, status)| *status)
                .collect();
            assert_eq!(
                rows,
                [kind.status().as_u16()],
                "README Errors table: `{}` needs exactly one row with status {}",
                kind.slug(),
                kind.status().as_u16()
            );
        }
        for (slug, _) in &documented {
            assert!(
                ProblemKind::ALL.iter().any(|kind| kind.slug() == slug),
                "README Errors table lists `{slug}`, which ProblemKind does not have"
            );
        }
    }

    #[test]
    fn problem_kind_slugs_are_unique() {
        let mut slugs: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemKind::ALL.len());
    }
}
