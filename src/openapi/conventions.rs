//! What the server does for every operation of a kind, declared once on the document
//! instead of on each handler: the answers the extractors, the authentication, the
//! idempotency middleware and the database layer give before or around any handler.
//!
//! Each rule below names where the server produces the answer, so that the document says
//! no more than the server does. Handlers declare their own statuses (the 403 of a role
//! check, the 409 of a workflow rule) with a description of why; this adds what they share
//! and gives every error response an example of its own problem type.

use serde_json::{Map, Value, json};

use crate::error::{PROBLEM_CONTENT_TYPE, ProblemKind};

/// A problem document as the server writes it, for examples.
fn problem(kind: ProblemKind, detail: &str, extra: Value) -> Value {
    let mut example = json!({
        "type": format!("urn:aftercare:problem:{}", kind.slug()),
        "title": kind.title(),
        "status": kind.status().as_u16(),
        "detail": detail,
    });
    if let (Some(example), Value::Object(extra)) = (example.as_object_mut(), extra) {
        example.extend(extra);
    }
    example
}

/// The problems an operation may answer with for `status`, as named examples (the first is
/// the most common).
fn examples_for(status: &str, operation: &Operation) -> Vec<(&'static str, Value)> {
    use ProblemKind as K;
    let mut examples = Vec::new();
    match status {
        "400" => examples.push((
            "malformed-body",
            problem(
                K::MalformedBody,
                "request body is not valid JSON: EOF while parsing an object at line 1 column 12",
                Value::Null,
            ),
        )),
        "401" if operation.path == "/api/v1/auth/login" => examples.push((
            "invalid-credentials",
            problem(
                K::InvalidCredentials,
                "email or password is wrong",
                Value::Null,
            ),
        )),
        "401" => examples.push((
            "unauthenticated",
            problem(
                K::Unauthenticated,
                "an access token (Authorization: Bearer ...) or an API key (X-API-Key) is required",
                Value::Null,
            ),
        )),
        "403" => examples.push((
            "forbidden",
            problem(K::Forbidden, "your role may not do this", Value::Null),
        )),
        "404" => examples.push((
            "not-found",
            problem(K::NotFound, "no such record", Value::Null),
        )),
        "408" => examples.push((
            "request-timeout",
            problem(
                K::RequestTimeout,
                "the request body did not arrive within 30 s",
                Value::Null,
            ),
        )),
        "409" => {
            let said = operation.description_of("409");
            for (slug, example) in conflicts() {
                if said.contains(slug) {
                    examples.push((slug, example));
                }
            }
            if operation.idempotent {
                examples.push((
                    "idempotency-in-progress",
                    problem(
                        K::IdempotencyInProgress,
                        "a request with this Idempotency-Key is still being processed; retry later",
                        Value::Null,
                    ),
                ));
            }
            if examples.is_empty() {
                examples.push(("conflict", conflicts().remove(0).1));
            }
        }
        "410" => examples.push((
            "attachment-missing",
            problem(
                K::AttachmentMissing,
                "the bytes of attachment 7 are missing or damaged in its storage; they are not served, and the fault is logged",
                Value::Null,
            ),
        )),
        "416" => examples.push((
            "range-not-satisfiable",
            problem(
                K::RangeNotSatisfiable,
                "the range is outside the file's 482113 bytes",
                Value::Null,
            ),
        )),
        "412" => examples.push((
            "precondition-failed",
            problem(
                K::PreconditionFailed,
                "the ticket has changed (now version 4); reload it and try again",
                Value::Null,
            ),
        )),
        "413" => examples.push((
            "payload-too-large",
            problem(
                K::PayloadTooLarge,
                "request body is larger than 1048576 bytes",
                Value::Null,
            ),
        )),
        "415" => examples.push((
            "unsupported-media-type",
            problem(
                K::UnsupportedMediaType,
                "request body must be JSON (Content-Type: application/json)",
                Value::Null,
            ),
        )),
        "422" => {
            let field = operation.first_field.as_deref().unwrap_or("limit");
            examples.push((
                "validation",
                problem(
                    K::Validation,
                    "1 field is invalid",
                    json!({"errors": [{"field": field, "message": "is required"}]}),
                ),
            ));
            if operation.idempotent {
                examples.push((
                    "idempotency-key-reused",
                    problem(
                        K::IdempotencyKeyReused,
                        "this Idempotency-Key was used for a different request",
                        Value::Null,
                    ),
                ));
            }
        }
        "429" => examples.push((
            "too-many-requests",
            problem(
                K::TooManyRequests,
                "too many failed attempts; try again in 30 s",
                Value::Null,
            ),
        )),
        "503" => {
            examples.push((
                "unavailable",
                problem(
                    K::Unavailable,
                    "the database is unavailable; try again shortly",
                    Value::Null,
                ),
            ));
            if operation.hashes_passwords {
                examples.push((
                    "overloaded",
                    problem(
                        K::Overloaded,
                        "too many passwords are being checked at once; try again in 1 s",
                        Value::Null,
                    ),
                ));
            }
        }
        _ => {}
    }
    examples
}

/// Every conflict kind with an example; an operation shows those its 409 description names.
fn conflicts() -> Vec<(&'static str, Value)> {
    use ProblemKind as K;
    vec![
        (
            "duplicate",
            problem(K::Duplicate, "a tag named VIP already exists", Value::Null),
        ),
        (
            "invalid-transition",
            problem(
                K::InvalidTransition,
                "a resolved ticket cannot be resolved",
                json!({"current_state": "resolved", "allowed_next_states": ["follow_up"], "allowed_actions": ["reopen"]}),
            ),
        ),
        (
            "duplicate-contact",
            problem(
                K::DuplicateContact,
                "phone 13800138000 already belongs to another customer (existing_customer_id)",
                json!({"existing_customer_id": 12}),
            ),
        ),
        (
            "duplicate-review",
            problem(
                K::DuplicateReview,
                "review R-5512 on taobao already has ticket 31",
                json!({"existing_ticket_id": 31}),
            ),
        ),
        (
            "single-choice",
            problem(
                K::SingleChoice,
                "2 customers would hold two tags of the single-choice group \"visit\" (e.g. 12, 31); take one off first",
                Value::Null,
            ),
        ),
        (
            "customer-archived",
            problem(
                K::CustomerArchived,
                "the customer is archived; restore it first",
                Value::Null,
            ),
        ),
        (
            "reference",
            problem(
                K::Reference,
                "order 7 is linked to ticket 31; it cannot be deleted while a ticket refers to it",
                json!({"ticket_ids": [31]}),
            ),
        ),
        (
            "last-admin",
            problem(
                K::LastAdmin,
                "the shop would be left without an active admin",
                Value::Null,
            ),
        ),
        (
            "not-resolved",
            problem(
                K::NotResolved,
                "satisfaction is recorded on resolved tickets only",
                Value::Null,
            ),
        ),
        (
            "satisfaction-recorded",
            problem(
                K::SatisfactionRecorded,
                "satisfaction was already recorded for this resolution; a lead may correct it",
                Value::Null,
            ),
        ),
        (
            "note-locked",
            problem(
                K::NoteLocked,
                "a note may be corrected for 15 minutes after it was written; write a new note instead",
                Value::Null,
            ),
        ),
        (
            "survey-not-pending",
            problem(
                K::SurveyNotPending,
                "the survey is answered; only a pending survey can be nudged",
                Value::Null,
            ),
        ),
        (
            "delivery-pending",
            problem(
                K::DeliveryPending,
                "the delivery is already waiting for its next attempt",
                Value::Null,
            ),
        ),
        (
            "idempotency-in-progress",
            problem(
                K::IdempotencyInProgress,
                "a request with this Idempotency-Key is still being processed; retry later",
                Value::Null,
            ),
        ),
    ]
}

/// What the rules need to know of one operation.
struct Operation {
    path: String,
    /// Takes an `Idempotency-Key` (every POST but login).
    idempotent: bool,
    /// Checks or hashes a password (bounded hashers: 503 `overloaded`).
    hashes_passwords: bool,
    /// The first property of the JSON body, for the 422 example.
    first_field: Option<String>,
    responses: Map<String, Value>,
}

impl Operation {
    fn description_of(&self, status: &str) -> String {
        self.responses
            .get(status)
            .and_then(|r| r["description"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

fn reason(status: &str) -> &'static str {
    match status {
        "400" => "The body is not one JSON document (`malformed-body`)",
        "401" => "No valid access token or API key (`unauthenticated`; `WWW-Authenticate: Bearer`)",
        "403" => "The caller's role or the API key's scopes do not allow this (`forbidden`)",
        "404" => "No such record in the caller's shop (`not-found`)",
        "408" => {
            "The body did not arrive in full within `BODY_READ_TIMEOUT_SECS` (`request-timeout`)"
        }
        "409" => {
            "A retry while the first request with this `Idempotency-Key` is still running (`idempotency-in-progress`)"
        }
        "413" => "The body is over `MAX_BODY_BYTES` (`payload-too-large`)",
        "415" => "The body is not `application/json` (`unsupported-media-type`)",
        "422" => {
            "A field, parameter or path id is missing, unknown, of the wrong type or out of range (`validation`, with `errors`)"
        }
        "503" => {
            "The database cannot be reached or cannot store changes (`unavailable`); retry after `Retry-After` seconds"
        }
        _ => "Error",
    }
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Adds `status` to `responses` (with the shared reason) unless the handler declared it.
fn declare(responses: &mut Map<String, Value>, status: &str) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| problem_response(reason(status)));
}

/// Appends `also` to a declared response's description unless it already says it.
fn mention(responses: &mut Map<String, Value>, status: &str, also: &str) {
    let Some(response) = responses.get_mut(status).and_then(Value::as_object_mut) else {
        return;
    };
    let said = response
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let key = also.split('`').nth(1).unwrap_or(also);
    if !said.contains(key) {
        let joined = if said.is_empty() {
            also.to_owned()
        } else {
            format!("{said}; or {also}")
        };
        response.insert("description".into(), Value::String(joined));
    }
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// The first property of the operation's JSON body schema (following one `$ref`).
fn first_body_field(doc: &Value, operation: &Value) -> Option<String> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let resolved = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next()?;
            &doc["components"]["schemas"][name]
        }
        None => schema,
    };
    let required = resolved["required"].as_array()?;
    required.first()?.as_str().map(str::to_owned)
}

/// A summary is one plain sentence (generators and UIs print it as text); the whole of
/// what the handler's doc comment said, Markdown included, goes to the description.
fn plain_summary(operation: &mut Map<String, Value>) {
    let Some(summary) = operation.get("summary").and_then(Value::as_str) else {
        return;
    };
    let sentence_end = summary
        .char_indices()
        .find(|&(i, c)| {
            (c == '.' || c == ':') && summary[i + 1..].starts_with(' ')
                || c == '.' && i + 1 == summary.len()
        })
        .map_or(summary.len(), |(i, _)| i);
    let first = &summary[..sentence_end];
    let plain: String = first.chars().filter(|c| !matches!(c, '`' | '*')).collect();
    let plain = plain.split(" (").next().unwrap_or(&plain).trim().to_owned();
    if plain == summary.trim_end_matches('.') {
        // Already one plain sentence: only the full stop goes.
        operation.insert("summary".into(), Value::String(plain));
    } else if plain != summary {
        let full = summary.to_owned();
        let description = match operation.get("description").and_then(Value::as_str) {
            Some(rest) if !rest.is_empty() => format!("{full}\n\n{rest}"),
            _ => full,
        };
        operation.insert("description".into(), Value::String(description));
        operation.insert("summary".into(), Value::String(plain));
    }
}

/// Applies every convention to the document.
pub fn apply(doc: &mut Value) {
    // Clients resolve paths against the server they fetched the document from.
    doc["servers"] = json!([{"url": "/", "description": "the server that serves this document"}]);
    doc["info"]["license"] = json!({"name": "Proprietary", "identifier": "LicenseRef-Proprietary"});
    let snapshot = doc.clone();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(op) = operation.as_object_mut() else {
                continue;
            };
            plain_summary(op);
            header_parameter_shapes(op);
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            if !secured {
                // Login and the probes: no credentials, said so explicitly.
                op.insert("security".into(), json!([]));
            }
            let has_path_id = path.contains('{');
            let has_body = op.contains_key("requestBody");
            let idempotent = method == "post" && path != "/api/v1/auth/login";
            let probe = path == "/healthz" || path == "/readyz";
            let hashes_passwords = matches!(
                (method.as_str(), path.as_str()),
                (
                    "post",
                    "/api/v1/auth/login" | "/api/v1/auth/password" | "/api/v1/users"
                ) | ("put", "/api/v1/users/{id}/password")
            );
            let first_field = first_body_field(&snapshot, &Value::Object(op.clone()));
            let api_key = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            // `Principal`/`Caller` extractors (auth): no or a bad token or key.
            if secured {
                declare(responses, "401");
            }
            // An API key without the operation's scope (auth::Principal::require).
            if api_key {
                declare(responses, "403");
            }
            // `web::Path<i64>` (router's PathConfig: 422 naming the parameter) and the
            // lookup in the caller's shop (404).
            if has_path_id {
                declare(responses, "404");
                declare(responses, "422");
            }
            // `Body<T>` (extract.rs): not JSON, not an object, too large, too slow, wrong
            // media type, invalid.
            if has_body {
                for status in ["400", "408", "413", "415", "422"] {
                    declare(responses, status);
                }
            }
            // `Query<T>` / `NoQuery`: every list and view refuses parameters it does not
            // take, and checks the ones it does.
            if method == "get" && !probe {
                declare(responses, "422");
            }
            // The idempotency middleware: a retry while the first runs (409), a key reused
            // for another request or not a key (422); a replay is marked by a header.
            if idempotent {
                declare(responses, "409");
                declare(responses, "422");
                mention(
                    responses,
                    "409",
                    "a retry while the first request with this `Idempotency-Key` is still running (`idempotency-in-progress`)",
                );
                mention(
                    responses,
                    "422",
                    "an `Idempotency-Key` reused for a different request (`idempotency-key-reused`) or not 1 to 255 visible ASCII characters",
                );
                for (status, response) in responses.iter_mut() {
                    if status.starts_with('2')
                        && let Some(response) = response.as_object_mut()
                    {
                        response
                            .entry("headers")
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .expect("headers is an object")
                            .insert(
                                "Idempotent-Replayed".into(),
                                header(
                                    "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
                                    json!({"type": "string", "enum": ["true"]}),
                                ),
                            );
                    }
                }
            }
            // Every operation but liveness reads or writes the database (db.rs: 503).
            if path != "/healthz" {
                declare(responses, "503");
            }
            let operation = Operation {
                path: path.clone(),
                idempotent,
                hashes_passwords,
                first_field,
                responses: responses.clone(),
            };
            for (status, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else {
                    continue;
                };
                add_error_headers(status, response);
                let examples = examples_for(status, &operation);
                if examples.is_empty() {
                    continue;
                }
                if let Some(content) = response
                    .get_mut("content")
                    .and_then(|c| c.get_mut(PROBLEM_CONTENT_TYPE))
                    .and_then(Value::as_object_mut)
                {
                    let named: Map<String, Value> = examples
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), json!({"value": value})))
                        .collect();
                    content.insert("examples".into(), Value::Object(named));
                }
            }
        }
    }
}

/// The shapes the server checks in request headers, so that generated clients and fuzzers
/// know them: `Idempotency-Key` (idempotency::check_key) and `If-Match`
/// (tickets::parse_if_match; the header is optional, so its schema is a string).
fn header_parameter_shapes(operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        match parameter["name"].as_str() {
            Some("Idempotency-Key") => {
                parameter["schema"] = json!({"type": "string", "pattern": "^[!-~]{1,255}$"});
            }
            Some("If-Match") => {
                parameter["schema"] = json!({
                    "type": "string",
                    "pattern": "^[ \\t]*([*]|(W/)?\"[0-9]{1,18}\"([ \\t]*,[ \\t]*(W/)?\"[0-9]{1,18}\")*)[ \\t]*$",
                    "example": "\"3\""
                });
            }
            _ => {}
        }
    }
}

/// The headers error answers carry (error.rs `error_response`).
fn add_error_headers(status: &str, response: &mut Map<String, Value>) {
    let headers = match status {
        "401" => vec![(
            "WWW-Authenticate",
            header("`Bearer`", json!({"type": "string", "enum": ["Bearer"]})),
        )],
        "416" => vec![(
            "Content-Range",
            header(
                "`bytes */<size>`: the file's size",
                json!({"type": "string", "pattern": "^bytes \\*/[0-9]+$"}),
            ),
        )],
        "429" | "503" => vec![(
            "Retry-After",
            header(
                "Seconds to wait before trying again",
                json!({"type": "string", "pattern": "^[0-9]+$"}),
            ),
        )],
        _ => Vec::new(),
    };
    if headers.is_empty() {
        return;
    }
    let map = response
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("headers is an object");
    for (name, value) in headers {
        map.entry(name.to_owned()).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_become_one_plain_sentence_and_keep_the_rest() {
        let mut op = json!({"summary": "Create a customer. A contact handle already on file is a 409 `duplicate-contact`.", "description": "More."});
        plain_summary(op.as_object_mut().unwrap());
        assert_eq!(op["summary"], "Create a customer");
        assert!(op["description"].as_str().unwrap().starts_with("Create a customer. A contact handle already on file is a 409 `duplicate-contact`.\n\nMore."));
        let mut op = json!({"summary": "One ticket, with its `ETag`."});
        plain_summary(op.as_object_mut().unwrap());
        assert_eq!(op["summary"], "One ticket, with its ETag");
        let mut plain = json!({"summary": "List tags"});
        plain_summary(plain.as_object_mut().unwrap());
        assert_eq!(plain, json!({"summary": "List tags"}));
    }
}
