//! Probes, request ids and the offline API documentation.

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;

use crate::support::{TestApp, backend_tests};

backend_tests!(
    probes_answer_without_a_token,
    request_ids_are_echoed_or_made,
    docs_are_served_offline
);

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
