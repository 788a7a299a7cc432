//! Probes, request ids, the offline API documentation, and what storage failures and
//! database outages look like to clients.

use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use actix_web::web;
use aftercare::config::Settings;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use serde_json::json;

use crate::support::{PASSWORD, Response, TestApp, backend_tests};

backend_tests!(
    probes_answer_without_a_token,
    request_ids_are_echoed_or_made,
    docs_are_served_offline,
    a_burst_of_probes_costs_one_check,
    a_database_that_takes_no_writes_is_not_ready_and_writes_answer_503 with one_connection,
    metrics_are_off_without_a_token,
    metrics_need_their_token_and_keep_labels_bounded with metrics_token,
);

const METRICS_TOKEN: &str = "scrape-me-please-0123456789";

fn metrics_token(settings: &mut Settings) {
    settings.metrics.token = Some(METRICS_TOKEN.into());
}

async fn scrape(app: &TestApp, authorization: Option<&str>) -> Response {
    let mut req = TestRequest::get().uri("/metrics");
    if let Some(value) = authorization {
        req = req.insert_header(("Authorization", value));
    }
    app.send(req).await
}

async fn metrics_are_off_without_a_token(app: TestApp) {
    let res = scrape(&app, Some("Bearer anything")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.problem_type(), "not-found");
}

/// The label values of `metric` in a scrape, one set per label.
fn series(text: &str, metric: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .map(|line| line.split('}').next().unwrap_or_default().to_owned())
        .collect()
}

async fn metrics_need_their_token_and_keep_labels_bounded(app: TestApp) {
    for wrong in [
        None,
        Some("Bearer nope"),
        Some("scrape-me-please-0123456789"),
    ] {
        let res = scrape(&app, wrong).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert_eq!(res.problem_type(), "unauthenticated");
    }
    let (_, admin) = app.admin().await;
    let customer = app
        .customer(&admin, json!({"name": "李娜", "source": "online", "contacts": [{"kind": "phone", "value": "13812345678"}]}))
        .await;
    let visit = |round: u32| {
        let app = &app;
        let admin = admin.clone();
        async move {
            for n in 0..15 {
                let id = 100_000 + round * 100 + n;
                app.get(&format!("/api/v1/customers/{id}"), &admin).await;
                app.get(&format!("/no/such/path/{id}"), &admin).await;
                app.get(&format!("/api/v1/customers?q=1381234{n}"), &admin)
                    .await;
            }
        }
    };
    visit(1).await;
    app.get(&format!("/api/v1/customers/{customer}"), &admin)
        .await;
    let first = scrape(&app, Some(&format!("Bearer {METRICS_TOKEN}"))).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        first.headers
    );
    let text = String::from_utf8(first.raw.clone()).unwrap();
    for name in [
        "aftercare_http_requests_total",
        "aftercare_http_request_duration_seconds_bucket",
        "aftercare_db_connections",
        "aftercare_db_checkout_seconds",
        "aftercare_webhook_deliveries",
        "aftercare_webhook_oldest_pending_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(
        text.contains(r#"route="/api/v1/customers/{id}""#),
        "the route template is the label:\n{text}"
    );
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    // Nothing of the data: no ids, phone numbers or emails in any label.
    for leak in [
        "100101",
        "13812345",
        "admin@",
        &format!("/customers/{customer}\""),
    ] {
        assert!(!text.contains(leak), "{leak} leaked into:\n{text}");
    }
    // More distinct ids and paths make no new series.
    let before = series(&text, "aftercare_http_requests_total");
    visit(2).await;
    let again = scrape(&app, Some(&format!("Bearer {METRICS_TOKEN}"))).await;
    let after = series(
        &String::from_utf8(again.raw).unwrap(),
        "aftercare_http_requests_total",
    );
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(
        new.iter().all(|s| s.contains("/metrics")),
        "new series for new ids: {new:?}"
    );
}

/// One pooled connection, so that a session setting made through `app.sql` holds for
/// every request after it.
fn one_connection(settings: &mut Settings) {
    settings.server.db_pool_size = 1;
}

/// How many readiness checks the database has seen (the heartbeat's counter).
fn readiness_checks(app: &TestApp) -> i64 {
    use aftercare::schema::readiness_heartbeat::dsl::*;
    let mut conn = app.state.db.conn().expect("connection");
    readiness_heartbeat
        .select(checks)
        .first(&mut *conn)
        .expect("the heartbeat row")
}

/// A 503 `unavailable` problem that says nothing of the database's own words.
fn assert_unavailable(res: &Response, what: &str) {
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {:?}",
        res.body
    );
    assert_eq!(res.problem_type(), "unavailable", "{what}");
    assert_eq!(
        res.header("retry-after"),
        Some("2"),
        "{what}: as documented"
    );
    let detail = res.body["detail"].as_str().unwrap().to_lowercase();
    for database_words in [
        "readonly",
        "read-only",
        "disk",
        "terminating",
        "connection",
        "sqlite",
    ] {
        assert!(!detail.contains(database_words), "{what}: {detail}");
    }
}

/// Asks until `path` answers `status` (a verdict may be reused for a second).
async fn eventually(app: &TestApp, path: &str, token: Option<&str>, status: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = app.call(Method::GET, path, token, None).await;
        if res.status == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {} {:?}",
            res.status,
            res.body
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn probes_answer_without_a_token(app: TestApp) {
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let expected = match app.state.db.backend() {
        aftercare::db::Backend::Postgres => "postgres",
        aftercare::db::Backend::Sqlite => "sqlite",
    };
    assert_eq!(ready.body["database"], expected);
}

async fn request_ids_are_echoed_or_made(app: TestApp) {
    let res = app
        .send(
            TestRequest::get()
                .uri("/healthz")
                .insert_header(("x-request-id", "abc-123")),
        )
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    let res = app.call(Method::GET, "/healthz", None, None).await;
    let made = res.header("x-request-id").expect("a request id is made");
    assert!(uuid::Uuid::parse_str(made).is_ok());
}

async fn docs_are_served_offline(app: TestApp) {
    let redirect = app.call(Method::GET, "/docs", None, None).await;
    assert!(redirect.status.is_redirection());
    let page = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.raw).unwrap();
    assert!(html.contains("swagger-ui"));
    for cdn in ["unpkg.com", "jsdelivr", "cdnjs", "https://", "http://"] {
        assert!(!html.contains(cdn), "the docs page must not load {cdn}");
    }
    let bundle = app
        .call(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(
        bundle.raw.len() > 100_000,
        "the Swagger UI bundle is embedded"
    );
    let init = app
        .call(Method::GET, "/docs/swagger-initializer.js", None, None)
        .await;
    let init = String::from_utf8(init.raw).unwrap();
    assert!(init.contains("/api/v1/openapi.json"));
    let spec = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["info"]["title"], "Aftercare API");
}

/// Readiness proves a write (the heartbeat row) and reuses its verdict: twenty probes at
/// once cost one check, not twenty.
async fn a_burst_of_probes_costs_one_check(app: TestApp) {
    let before = readiness_checks(&app);
    let first = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        readiness_checks(&app),
        before + 1,
        "readiness wrote its heartbeat"
    );
    let burst = futures_util::future::join_all(
        (0..20).map(|_| app.call(Method::GET, "/readyz", None, None)),
    )
    .await;
    assert!(burst.iter().all(|r| r.status == StatusCode::OK));
    // At most one more check, should the burst have straddled the verdict's second.
    let extra = readiness_checks(&app) - before - 1;
    assert!(extra <= 1, "20 probes made {extra} more checks");
}

/// The database answers but takes no writes (a read-only SQLite file, a PostgreSQL
/// standby): readiness says 503, writes answer a 503 problem without database text,
/// reads go on; once writes are taken again, so is everything else.
async fn a_database_that_takes_no_writes_is_not_ready_and_writes_answer_503(app: TestApp) {
    let (_, admin) = app.admin().await;
    let read_only = |on: bool| match app.state.db.backend() {
        aftercare::db::Backend::Sqlite => format!("PRAGMA query_only = {}", i32::from(on)),
        aftercare::db::Backend::Postgres => format!(
            "SET default_transaction_read_only = {}",
            if on { "on" } else { "off" }
        ),
    };
    app.sql(&read_only(true));
    let customer = json!({"name": "李娜", "source": "online",
                          "contacts": [{"kind": "phone", "value": "13800138000"}]});

    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_unavailable(&ready, "readyz");
    let write = app
        .post("/api/v1/customers", &admin, customer.clone())
        .await;
    assert_unavailable(&write, "a write");
    let read = app.get("/api/v1/customers", &admin).await;
    assert_eq!(read.status, StatusCode::OK, "reads go on");
    assert_eq!(
        read.body["items"],
        json!([]),
        "the refused write left nothing"
    );

    app.sql(&read_only(false));
    let write = app.post("/api/v1/customers", &admin, customer).await;
    assert_eq!(write.status, StatusCode::CREATED, "{:?}", write.body);
    eventually(&app, "/readyz", None, StatusCode::OK).await;
}

/// SQLite with its disk full (a page limit stands in for the disk): writes answer a 503
/// problem, never a 500, and nothing half-written stays.
#[actix_web::test]
async fn sqlite_full_disk_answers_503() {
    let app = TestApp::sqlite_with(one_connection).await;
    let (_, admin) = app.admin().await;
    let page_count: i64 = {
        #[derive(QueryableByName)]
        struct Pages {
            #[diesel(sql_type = BigInt)]
            page_count: i64,
        }
        let mut conn = app.state.db.conn().unwrap();
        diesel::sql_query("PRAGMA page_count")
            .get_result::<Pages>(&mut *conn)
            .unwrap()
            .page_count
    };
    app.sql(&format!("PRAGMA max_page_count = {page_count}"));
    let mut created = 0;
    let full = loop {
        let res = app
            .post(
                "/api/v1/customers",
                &admin,
                json!({"name": format!("Buyer {created}"), "source": "online",
                       "notes": "y".repeat(2000),
                       "contacts": [{"kind": "phone", "value": format!("1380013{created:04}")}]}),
            )
            .await;
        if res.status != StatusCode::CREATED {
            break res;
        }
        created += 1;
        assert!(created < 500, "the page limit never bit");
    };
    assert_unavailable(&full, "a write on a full disk");
    let list = app.get("/api/v1/customers?with_total=true", &admin).await;
    assert_eq!(
        list.body["total"], created,
        "the refused write left nothing"
    );
    app.sql("PRAGMA max_page_count = 1073741823");
    let res = app
        .post(
            "/api/v1/customers",
            &admin,
            json!({"name": "After", "source": "online", "contacts": [{"kind": "phone", "value": "13900000000"}]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// PostgreSQL terminates the server's connections while requests are waiting on them
/// (`pg_terminate_backend`, as a restart or an operator would): those requests answer a
/// 503 problem, never a 500, and the next ones get fresh connections.
#[actix_web::test]
async fn postgres_connections_lost_mid_request_answer_503_then_recover() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let (_, admin) = app.admin().await;
    let url = app.state.settings.server.database_url.clone();
    // This connection holds the staff table, so that the requests below are inside a
    // query, on their connections, when the connections are cut.
    let mut holder = PgConnection::establish(&url).expect("a connection of the test's own");
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let holder_pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut holder)
        .unwrap()
        .pid;
    let cut = {
        let url = url.clone();
        web::block(move || {
            let mut operator = PgConnection::establish(&url).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let waiting = diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .get_result::<Count>(&mut operator)
                .unwrap()
                .n;
                if waiting >= 3 {
                    break;
                }
                assert!(Instant::now() < deadline, "the requests never queued");
                std::thread::sleep(Duration::from_millis(20));
            }
            diesel::sql_query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
            )
            .bind::<Integer, _>(holder_pid)
            .execute(&mut operator)
            .unwrap();
            holder.batch_execute("COMMIT").unwrap();
        })
    };
    let customer = json!({"name": "Buyer", "source": "online",
                          "contacts": [{"kind": "phone", "value": "13700000000"}]});
    let (list, create, login, cut) = futures_util::join!(
        app.get("/api/v1/users", &admin),
        app.post("/api/v1/customers", &admin, customer.clone()),
        app.login("admin@shop.example", PASSWORD),
        cut,
    );
    cut.expect("the connections were cut");
    assert_unavailable(&list, "a read");
    assert_unavailable(&create, "a write");
    assert_unavailable(&login, "a login");

    let list = app.get("/api/v1/users", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let create = app.post("/api/v1/customers", &admin, customer).await;
    assert_eq!(create.status, StatusCode::CREATED, "{:?}", create.body);
    assert_eq!(
        app.login("admin@shop.example", PASSWORD).await.status,
        StatusCode::OK
    );
    eventually(&app, "/readyz", None, StatusCode::OK).await;
}

/// PostgreSQL refuses new connections (down, or here told to): requests and readiness
/// answer 503 once the short checkout timeout is over, not after minutes, and everything
/// comes back when the database does.
#[actix_web::test]
async fn postgres_outage_fails_fast_then_recovers() {
    let Some(app) = TestApp::postgres_with(|s| s.server.db_checkout_timeout_ms = 300).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    let url = app.state.settings.server.database_url.clone();
    // The operator works from the server's maintenance database: a database cannot be
    // closed to connections from inside.
    let (server, name) = url.rsplit_once('/').unwrap();
    let mut operator = PgConnection::establish(&format!("{server}/postgres")).unwrap();
    operator
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .unwrap();

    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_unavailable(&ready, "readyz");
    let list = app.get("/api/v1/users", &admin).await;
    assert_unavailable(&list, "a read");

    operator
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true;"
        ))
        .unwrap();
    eventually(&app, "/api/v1/users", Some(&admin), StatusCode::OK).await;
    eventually(&app, "/readyz", None, StatusCode::OK).await;
}
