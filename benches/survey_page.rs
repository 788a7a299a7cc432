//! The buyer survey page's server time: `cargo bench --bench survey_page`.
//!
//! For each backend it builds the real application in-process (router, middleware, state)
//! over a scratch database, resolves `SURVEY_BENCH_TICKETS` tickets through the API (each
//! makes a survey), then times `GET /s/{token}` (rate limit, survey lookup by the token's
//! hash, the ticket, shop and buyer in one statement, the page rendered with maud) from
//! the request entering the application to the last byte of the body: server time, no
//! network. It prints the percentiles and the size of the page and its stylesheet; it
//! asserts nothing. Settings are environment variables:
//!
//! | variable | default | |
//! |---|---|---|
//! | SURVEY_BENCH_BACKENDS | sqlite,postgres | which backends to run |
//! | SURVEY_BENCH_TICKETS | 500 | resolved tickets (surveys) in the shop |
//! | SURVEY_BENCH_REQUESTS | 5000 | timed requests (after 500 to warm up) |
//! | TEST_DATABASE_URL | postgres://postgres@127.0.0.1:5432/test | server for the scratch database |

#[path = "../tests/processes/server.rs"]
mod server;

use std::time::{Duration, Instant};

use actix_web::test::{self, TestRequest};
use aftercare::auth::roles::Role;
use aftercare::auth::token::TokenKeys;
use aftercare::config::Settings;
use aftercare::db::Db;
use aftercare::ids::ShopId;
use aftercare::router::build_app;
use aftercare::state::AppState;
use aftercare::users::{CreateUserRequest, store as users};
use serde_json::{Value, json};

use server::ScratchDb;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[((p * sorted.len()).div_ceil(100)).saturating_sub(1)]
}

fn run(label: &str, db: ScratchDb, tickets: usize, requests: usize) {
    let mut settings = Settings::with_database(db.url());
    settings.server.db_pool_size = 8;
    // The limiter still runs on every request; the bench only lifts its ceilings.
    settings.surveys.survey_rate_per_token = 1_000_000;
    settings.surveys.survey_rate_per_address = 1_000_000;
    let pool = Db::connect(db.url(), 8, settings.server.db_checkout_timeout()).expect("connect");
    let state = actix_web::web::Data::new(AppState::new(
        pool,
        TokenKeys::new(
            b"survey-bench-secret-survey-bench-secret",
            Duration::from_secs(3600),
        ),
        settings,
    ));
    let request = CreateUserRequest {
        email: "admin@bench.example".into(),
        display_name: "Bench admin".into(),
        role: Role::Admin,
        password: "correct horse battery".into(),
    };
    let hash = aftercare::auth::password::hash("correct horse battery").expect("hash");
    let admin = state
        .db
        .write_blocking(move |conn| users::create(conn, ShopId(1), &request, &hash))
        .expect("create the admin");
    let (token, _) = state
        .tokens
        .issue(
            admin.id,
            ShopId(1),
            Role::Admin,
            admin.token_generation,
            chrono::Utc::now(),
        )
        .expect("a token");

    actix_web::rt::System::new().block_on(async move {
        let app = test::init_service(build_app(state.clone())).await;
        let call = |method: &str, path: String, body: Value| {
            let req = match method {
                "GET" => TestRequest::get(),
                _ => TestRequest::post(),
            }
            .uri(&path)
            .insert_header(("authorization", format!("Bearer {token}")));
            if method == "GET" { req } else { req.set_json(body) }.to_request()
        };
        let started = Instant::now();
        let mut link = String::new();
        for n in 0..tickets {
            let customer: Value = test::call_and_read_body_json(
                &app,
                call("POST", "/api/v1/customers".into(), json!({"name": format!("王静{n}"),
                    "contacts": [{"kind": "phone", "value": format!("139{n:08}")}], "source": "online"})),
            )
            .await;
            let ticket: Value = test::call_and_read_body_json(
                &app,
                call("POST", "/api/v1/tickets".into(), json!({"kind": "return", "customer_id": customer["id"],
                    "title": "cracked", "details": {"reason": "cracked", "items": [{"product_name": "青花瓷茶杯", "quantity": 1}]}})),
            )
            .await;
            let id = ticket["id"].as_i64().expect("a ticket");
            test::call_service(
                &app,
                call("POST", format!("/api/v1/tickets/{id}/contacts"), json!({"channel": "phone", "reached": true})),
            )
            .await;
            test::call_service(
                &app,
                call("POST", format!("/api/v1/tickets/{id}/resolve"), json!({"outcome": "exchanged"})),
            )
            .await;
            if n == tickets / 2 {
                let survey: Value = test::call_and_read_body_json(
                    &app,
                    call("GET", format!("/api/v1/tickets/{id}/survey"), Value::Null),
                )
                .await;
                link = survey["url"].as_str().expect("a link").to_owned();
            }
        }
        let path = link[link.find("/s/").expect("a survey path")..].to_owned();
        println!(
            "{label}: {tickets} tickets resolved (each with a survey) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let page = test::call_and_read_body(&app, TestRequest::get().uri(&path).to_request()).await;
        let css = test::call_and_read_body(
            &app,
            TestRequest::get().uri("/s/assets/survey.css").to_request(),
        )
        .await;
        let mut times = Vec::with_capacity(requests);
        for n in 0..(requests + 500) {
            let req = TestRequest::get()
                .uri(&path)
                .insert_header(("accept-language", "zh-CN,zh;q=0.9"))
                .to_request();
            let started = Instant::now();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), 200);
            let body = actix_web::body::to_bytes(res.into_body()).await.ok();
            let elapsed = started.elapsed();
            assert!(body.is_some_and(|b| b.len() == page.len()));
            if n >= 500 {
                times.push(elapsed);
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{label}: GET /s/{{token}} server time over {requests} requests: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(percentile(&times, 50)),
            ms(percentile(&times, 90)),
            ms(percentile(&times, 99)),
            ms(*times.last().unwrap()),
        );
        println!(
            "{label}: page {} bytes + stylesheet {} bytes = {} bytes",
            page.len(),
            css.len(),
            page.len() + css.len()
        );
    });
}

fn main() {
    let backends =
        std::env::var("SURVEY_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let tickets = env_or("SURVEY_BENCH_TICKETS", 500usize).max(1);
    let requests = env_or("SURVEY_BENCH_REQUESTS", 5000usize).max(1);
    for backend in backends.split(',').map(str::trim) {
        match backend {
            "sqlite" => run("SQLite", ScratchDb::sqlite(), tickets, requests),
            "postgres" => match ScratchDb::postgres("bench") {
                Some(db) => run("PostgreSQL", db, tickets, requests),
                None => println!("PostgreSQL: unreachable, skipped"),
            },
            other => println!("{other}: unknown backend, skipped"),
        }
    }
}
