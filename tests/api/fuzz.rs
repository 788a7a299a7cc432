//! Generated bad (and good) input at scale, driven by the OpenAPI document itself.
//!
//! Every documented operation gets requests built from its schemas, mutated on purpose:
//! wrong types, missing and unknown fields, out-of-range numbers, injection strings, bad
//! ids, missing or forged tokens. The properties checked on every response:
//! - never a 5xx;
//! - a 4xx is an `application/problem+json` document with a stable `type`;
//! - a 2xx is a documented status whose JSON body matches the documented schema.
//!
//! The run is deterministic (a fixed seed) and bounded for CI; set `AFTERCARE_FUZZ_REQUESTS`
//! (per backend, default 1500) and `AFTERCARE_FUZZ_SEED` to explore further.

use actix_web::{http::Method, test::TestRequest};
use aftercare::auth::roles::Role;
use rand::{RngExt, SeedableRng, rngs::SmallRng};
use serde_json::{Map, Value, json};

use crate::support::{TestApp, backend_tests};

/// Operations left out because they would lock the fuzzer out of its own accounts; their
/// bad input is covered by the users and auth tests.
const SKIPPED: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/password"),
    ("put", "/api/v1/users/{id}/password"),
    ("patch", "/api/v1/users/{id}"),
];

const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "李娜",
    "'; DROP TABLE customers; --",
    "\" OR 1=1 --",
    "%",
    "_",
    "\\",
    "13800138000",
    "+86 138-0013-8000",
    "null",
    "-1",
    "1e309",
    "2026-02-30",
    "2026-11-23T25:61:00Z",
    "\u{0}",
    "🙂🙃",
    "<script>alert(1)</script>",
];

struct Fuzzer<'a> {
    doc: &'a Value,
    rng: SmallRng,
    ids: Vec<i64>,
}

impl Fuzzer<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())].clone()
    }

    fn resolve(&self, schema: &Value) -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => self
                .doc
                .pointer(reference.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => schema.clone(),
        }
    }

    fn string(&mut self) -> String {
        match self.rng.random_range(0..4) {
            0 => "x".repeat(self.rng.random_range(100..6000)),
            1 => (0..self.rng.random_range(1..20))
                .map(|_| char::from(self.rng.random_range(32u8..127)))
                .collect(),
            _ => self.pick(NASTY_STRINGS).to_owned(),
        }
    }

    fn integer(&mut self) -> i64 {
        let special = [
            0,
            1,
            -1,
            2,
            5,
            6,
            200,
            201,
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ];
        if self.chance(0.5) {
            self.pick(&self.ids.clone())
        } else if self.chance(0.6) {
            self.pick(&special)
        } else {
            self.rng.random_range(-1000..100_000)
        }
    }

    /// Anything at all, whatever the schema says.
    fn wild(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..7) {
            0 => Value::Null,
            1 => json!(self.chance(0.5)),
            2 => json!(self.integer()),
            3 => json!(self.rng.random_range(-1e12..1e12)),
            4 if depth < 3 => json!([self.wild(depth + 1)]),
            5 if depth < 3 => json!({"unexpected": self.wild(depth + 1)}),
            _ => json!(self.string()),
        }
    }

    fn value(&mut self, schema: &Value, depth: u32) -> Value {
        if depth > 6 || self.chance(0.04) {
            return self.wild(depth);
        }
        let schema = &self.resolve(schema);
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema[key].as_array().filter(|o| !o.is_empty()) {
                let option = self.pick(options);
                return self.value(&option, depth + 1);
            }
        }
        if let Some(all) = schema["allOf"].as_array().filter(|o| !o.is_empty()) {
            let first = all[0].clone();
            return self.value(&first, depth + 1);
        }
        if let Some(values) = schema["enum"].as_array() {
            return if self.chance(0.9) && !values.is_empty() {
                self.pick(values)
            } else {
                json!(self.string())
            };
        }
        let kind = match &schema["type"] {
            Value::Array(types) if !types.is_empty() => self.pick(types),
            other => other.clone(),
        };
        match kind.as_str().unwrap_or("object") {
            "null" => Value::Null,
            "boolean" => json!(self.chance(0.5)),
            "integer" => match (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
                (Some(min), Some(max)) if min <= max && self.chance(0.6) => {
                    json!(self.rng.random_range(min..=max))
                }
                _ => json!(self.integer()),
            },
            "number" => json!(self.rng.random_range(-1e6..1e6)),
            "string" => json!(match schema["format"].as_str() {
                Some("date-time") if self.chance(0.8) => {
                    let days = self.rng.random_range(-400..400);
                    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
                }
                Some("date") if self.chance(0.8) => {
                    let days = self.rng.random_range(-20_000..400);
                    (chrono::Utc::now() + chrono::Duration::days(days))
                        .date_naive()
                        .to_string()
                }
                _ => self.string(),
            }),
            "array" => {
                let items = schema["items"].clone();
                let len = self.rng.random_range(0..4);
                Value::Array((0..len).map(|_| self.value(&items, depth + 1)).collect())
            }
            _ => {
                let required: Vec<String> = schema["required"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let properties = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut object = Map::new();
                for (name, property) in properties {
                    let keep = if required.contains(&name) { 0.95 } else { 0.5 };
                    if self.chance(keep) {
                        let value = self.value(&property, depth + 1);
                        object.insert(name, value);
                    }
                }
                if self.chance(0.05) {
                    object.insert("unexpected_field".into(), self.wild(depth + 1));
                }
                Value::Object(object)
            }
        }
    }

    fn path_id(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0 => "abc".into(),
            1 => "-1".into(),
            2 => "99999999999999999999999".into(),
            3 => "%27%20OR%201%3D1".into(),
            _ => self.pick(&self.ids.clone()).to_string(),
        }
    }

    fn query_text(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn csv(&mut self) -> String {
        let mut out =
            String::from("name,phone,wechat,tags,external_order_no,channel,total_cents\n");
        for _ in 0..self.rng.random_range(0..5) {
            let cells: Vec<String> = (0..self.rng.random_range(1..9))
                .map(|_| self.string())
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

struct Operation {
    method: String,
    path: String,
    spec: Value,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, spec) in item.as_object().expect("path item") {
            if SKIPPED.contains(&(method.as_str(), path.as_str())) {
                continue;
            }
            ops.push(Operation {
                method: method.clone(),
                path: path.clone(),
                spec: spec.clone(),
            });
        }
    }
    ops
}

/// The schema to check a 2xx body against, with the document's components in scope.
fn response_validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), doc["components"].clone());
    }
    jsonschema::validator_for(&root).expect("documented schemas compile")
}

async fn generated_requests_never_break_the_contract(app: TestApp) {
    let document: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    // Something real for ids to hit, so that handlers get past their 404s.
    let customer = app
        .customer(
            &admin,
            json!({"name": "Fuzz buyer", "source": "online", "contacts": [{"kind": "phone", "value": "13900000001"}]}),
        )
        .await;
    let ticket = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({"kind": "negative_review", "customer_id": customer, "title": "1-star",
                   "assignee_id": agent_id, "details": {"platform": "tmall", "rating": 1}}),
        )
        .await;
    assert_eq!(ticket.status.as_u16(), 201, "{:?}", ticket.body);
    let requests: usize = std::env::var("AFTERCARE_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("AFTERCARE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_123);
    let mut fuzzer = Fuzzer {
        doc: &document,
        rng: SmallRng::seed_from_u64(seed),
        ids: vec![
            1,
            2,
            customer,
            ticket.body["id"].as_i64().unwrap(),
            agent_id,
        ],
    };
    let ops = operations(&document);
    let mut validators = std::collections::HashMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut statuses: std::collections::BTreeMap<u16, usize> = Default::default();
    for n in 0..requests {
        let op = &ops[n % ops.len()];
        let mut path = String::new();
        for segment in op.path.split('/').skip(1) {
            path.push('/');
            if segment.starts_with('{') {
                path.push_str(&fuzzer.path_id());
            } else {
                path.push_str(segment);
            }
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut if_match = None;
        for parameter in op.spec["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let name = parameter["name"].as_str().unwrap_or_default();
            match parameter["in"].as_str() {
                Some("query") if fuzzer.chance(0.35) => {
                    let value = fuzzer.value(&parameter["schema"], 0);
                    query.append_pair(name, &Fuzzer::query_text(&value));
                }
                Some("header") if fuzzer.chance(0.3) => {
                    if_match = Some(fuzzer.pick(&["\"1\"", "\"2\"", "*", "garbage", "\"\""]));
                }
                _ => {}
            }
        }
        let query = query.finish();
        let uri = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
        let mut request = TestRequest::default().method(method).uri(&uri);
        let token = match fuzzer.rng.random_range(0..20) {
            0 => None,
            1 => Some("not.a.token".to_owned()),
            2..6 => Some(agent.clone()),
            _ => Some(admin.clone()),
        };
        if let Some(token) = &token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        if let Some(etag) = if_match {
            request = request.insert_header(("if-match", etag));
        }
        let body = &op.spec["requestBody"]["content"];
        let sent = if let Some(json_body) = body.get("application/json") {
            let value = fuzzer.value(&json_body["schema"], 0);
            let text = value.to_string();
            request = request.set_json(value);
            text
        } else if body.get("text/csv").is_some() {
            let csv = fuzzer.csv();
            request = request
                .insert_header(("content-type", "text/csv"))
                .set_payload(csv.clone());
            csv
        } else {
            String::new()
        };
        let response = app.send(request).await;
        let status = response.status.as_u16();
        *statuses.entry(status).or_default() += 1;
        let describe = || {
            format!(
                "#{n} {} {uri} {sent:.300} -> {status} {:.400}",
                op.method,
                response.body.to_string()
            )
        };
        if status >= 500 {
            failures.push(format!("server error: {}", describe()));
        } else if status >= 400 {
            let is_problem = response.header("content-type") == Some("application/problem+json")
                && response.body["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("urn:aftercare:problem:"))
                && response.body["title"].is_string()
                && response.body["detail"].is_string()
                && response.body["status"] == json!(status);
            if !is_problem {
                failures.push(format!("not a problem document: {}", describe()));
            }
        } else if (200..300).contains(&status) {
            let documented = &op.spec["responses"][status.to_string()];
            // The body is checked against the schema of the type it came as: a report asked
            // for as CSV is CSV, and must be a type the operation documents.
            let media_type = response
                .header("content-type")
                .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned());
            let documented_types = documented["content"].as_object();
            if documented.is_null() {
                failures.push(format!("undocumented status: {}", describe()));
            } else if let Some(media_type) = media_type.as_deref()
                && media_type != "application/json"
            {
                if !documented_types.is_some_and(|types| types.contains_key(media_type)) {
                    failures.push(format!(
                        "undocumented content type {media_type}: {}",
                        describe()
                    ));
                }
            } else if let Some(schema) = documented["content"]["application/json"]["schema"]
                .as_object()
                .map(|s| Value::Object(s.clone()))
            {
                let key = (op.method.clone(), op.path.clone(), status);
                let validator = validators
                    .entry(key)
                    .or_insert_with(|| response_validator(&document, &schema));
                if let Some(error) = validator.iter_errors(&response.body).next() {
                    failures.push(format!(
                        "body breaks the schema at {}: {error}: {}",
                        error.instance_path(),
                        describe()
                    ));
                }
            }
        }
        if failures.len() >= 15 {
            break;
        }
    }
    eprintln!("fuzz seed {seed}: {requests} requests, by status: {statuses:?}");
    assert!(
        failures.is_empty(),
        "seed {seed}: {} contract violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

backend_tests!(generated_requests_never_break_the_contract with no_address_lookups);

/// Webhook URLs the fuzzer registers (the document's examples among them) are never looked
/// up: tests send traffic to 127.0.0.1 only, and with private addresses allowed the
/// registration check makes no DNS query (no worker runs in tests).
fn no_address_lookups(settings: &mut aftercare::config::Settings) {
    settings.webhooks.allow_private = true;
}
