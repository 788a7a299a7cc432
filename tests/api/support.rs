//! Test harness: the real application over a fresh database per test, on either backend.
//!
//! SQLite tests use a file in a temporary directory. PostgreSQL tests create their own
//! database on the server named by `TEST_DATABASE_URL` (default: the local server) and drop
//! it afterwards. Where PostgreSQL is unreachable its tests are skipped with a notice, unless
//! `AFTERCARE_TEST_REQUIRE_POSTGRES=1` (set by CI), which makes them fail instead.

use std::time::Duration;

use actix_http::Request;
use actix_service::{Service, ServiceExt, boxed::BoxService};
use actix_web::{
    body::BoxBody,
    dev::ServiceResponse,
    http::{Method, StatusCode, header::HeaderMap},
    test, web,
};
use aftercare::{
    auth::{roles::Role, token::TokenKeys},
    config::Settings,
    db::Db,
    ids::ShopId,
    router::build_app,
    state::AppState,
    users::{CreateUserRequest, store as users},
};
use serde_json::{Value, json};

use crate::server::ScratchDb;

pub const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const PASSWORD: &str = "correct horse battery";

/// Declares each listed `async fn(TestApp)` as two tests, `sqlite::name` and `postgres::name`.
/// `name with tweak` runs it on an app whose settings `tweak: fn(&mut Settings)` (of the
/// same module) changed.
macro_rules! backend_tests {
    ($($name:ident $(with $tweak:ident)?),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    let tweak = $crate::support::tweak!($(super::$tweak)?);
                    super::$name($crate::support::TestApp::sqlite_with(tweak).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    let tweak = $crate::support::tweak!($(super::$tweak)?);
                    if let Some(app) = $crate::support::TestApp::postgres_with(tweak).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}
/// The settings change of a `backend_tests!` entry: none, or the named function.
macro_rules! tweak {
    () => {
        |_: &mut aftercare::config::Settings| {}
    };
    ($tweak:path) => {
        $tweak
    };
}
pub(crate) use backend_tests;
pub(crate) use tweak;

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `type` slug, asserting the response is a problem document.
    pub fn problem_type(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "expected a problem document, got {} {:?}",
            self.status,
            self.body
        );
        assert_eq!(self.body["status"], json!(self.status.as_u16()));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        let full = self.body["type"].as_str().expect("problem has a type");
        full.strip_prefix("urn:aftercare:problem:")
            .expect("problem type is an aftercare URN")
            .to_owned()
    }

    /// The `field` of each entry in a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct TestApp {
    service: BoxService<Request, ServiceResponse<BoxBody>, actix_web::Error>,
    pub state: web::Data<AppState>,
    // Dropped last: the database outlives the pool that uses it.
    _db: ScratchDb,
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        TestApp::sqlite_with(|_| {}).await
    }

    /// `None` (test skipped) when PostgreSQL is unreachable and not required.
    pub async fn postgres() -> Option<TestApp> {
        TestApp::postgres_with(|_| {}).await
    }

    pub async fn postgres_with(tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
        let db = ScratchDb::postgres("test")?;
        Some(TestApp::start(db, tweak).await)
    }

    pub async fn sqlite_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::start(ScratchDb::sqlite(), tweak).await
    }

    /// Another app over a new, empty database on the same backend: a second shop, where a
    /// file exported from this one is imported.
    pub async fn fresh(&self) -> TestApp {
        let db = match self.state.db.backend() {
            aftercare::db::Backend::Sqlite => ScratchDb::sqlite(),
            aftercare::db::Backend::Postgres => {
                ScratchDb::postgres("test").expect("PostgreSQL answered for this test already")
            }
        };
        TestApp::start(db, |_| {}).await
    }

    async fn start(db: ScratchDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let url = db.url().to_owned();
        let mut settings = Settings::with_database(&url);
        tweak(&mut settings);
        let pool = Db::connect(
            &url,
            settings.server.db_pool_size,
            settings.server.db_checkout_timeout(),
        )
        .expect("connect and migrate");
        let state = web::Data::new(AppState::new(
            pool,
            TokenKeys::new(TEST_SECRET, Duration::from_secs(3600)),
            settings,
        ));
        let service = test::init_service(build_app(state.clone())).await;
        let service = actix_service::boxed::service(service.map(|res| res.map_into_boxed_body()));
        TestApp {
            service,
            state,
            _db: db,
        }
    }

    /// Sends a prepared request through the whole app (middleware included).
    pub async fn send(&self, req: test::TestRequest) -> Response {
        self.send_request(req.to_request()).await
    }

    /// Sends a built request (one whose payload a test made itself, such as a stream).
    pub async fn send_request(&self, req: Request) -> Response {
        let res = self.service.call(req).await.expect("service answers");
        let status = res.status();
        let headers = res.headers().clone();
        // Streamed bodies (CSV export) are collected too.
        let raw = actix_web::body::to_bytes(res.into_body())
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Response {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = test::TestRequest::default().method(method).uri(path);
        if let Some(token) = token {
            req = req.insert_header(("authorization", format!("Bearer {token}")));
        }
        if let Some(body) = body {
            req = req.set_json(body);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn post_csv(&self, path: &str, token: &str, csv: impl Into<Vec<u8>>) -> Response {
        let req = test::TestRequest::post()
            .uri(path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "text/csv; charset=utf-8"))
            .set_payload(csv.into());
        self.send(req).await
    }

    /// Creates a customer over the API; returns its id.
    pub async fn customer(&self, token: &str, body: Value) -> i64 {
        let res = self.post("/api/v1/customers", token, body).await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "create customer: {:?}",
            res.body
        );
        res.body["id"].as_i64().unwrap()
    }

    /// A return on `order_id` of `customer`, reached by phone and resolved with
    /// `refund_only` and `refund_cents`; returns the ticket's id.
    pub async fn refund_by_return(
        &self,
        token: &str,
        customer: i64,
        order_id: i64,
        refund_cents: i64,
    ) -> i64 {
        let ticket = self
            .post(
                "/api/v1/tickets",
                token,
                json!({"kind": "return", "customer_id": customer, "title": "return", "order_id": order_id,
                       "details": {"reason": "r", "items": [{"product_name": "x", "quantity": 1}]}}),
            )
            .await;
        assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
        let t = ticket.body["id"].as_i64().unwrap();
        let contact = self
            .post(
                &format!("/api/v1/tickets/{t}/contacts"),
                token,
                json!({"channel": "phone", "reached": true}),
            )
            .await;
        assert_eq!(contact.status, StatusCode::OK, "{:?}", contact.body);
        let resolved = self
            .post(
                &format!("/api/v1/tickets/{t}/resolve"),
                token,
                json!({"outcome": "refund_only", "refund_cents": refund_cents}),
            )
            .await;
        assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.body);
        t
    }

    /// Runs SQL-level set-up that has no endpoint (yet), such as back-dating a contact.
    pub fn sql(&self, statement: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.state.db.conn().expect("connection");
        conn.batch_execute(statement).expect("set-up SQL");
    }

    /// Creates a staff account directly in the database; returns its id.
    pub fn create_staff(&self, email: &str, role: Role) -> i64 {
        let request = CreateUserRequest {
            email: email.into(),
            display_name: format!("{} {}", role.as_str(), email),
            role,
            password: PASSWORD.into(),
        };
        let hash = aftercare::auth::password::hash(PASSWORD).expect("hash");
        self.state
            .db
            .write_blocking(|conn| users::create(conn, ShopId(1), &request, &hash))
            .expect("create staff")
            .id
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Creates a staff member with `role` and returns (id, access token).
    pub async fn staff_token(&self, email: &str, role: Role) -> (i64, String) {
        let id = self.create_staff(email, role);
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "login failed: {:?}", res.body);
        (id, res.body["access_token"].as_str().unwrap().to_owned())
    }

    pub async fn admin(&self) -> (i64, String) {
        self.staff_token("admin@shop.example", Role::Admin).await
    }
}
