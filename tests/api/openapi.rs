//! The committed OpenAPI document matches the code, and documents only real routes.

use actix_web::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = aftercare::openapi::document();
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != generated {
        let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
        let generated_value: Value = serde_json::from_str(&generated).unwrap();
        panic!(
            "{COMMITTED} is out of date{}. Regenerate it with:\n    cargo run -- openapi > {COMMITTED}",
            if committed == generated_value {
                " (formatting only)"
            } else {
                ""
            }
        );
    }
}

#[test]
fn document_is_openapi_3_1_with_bearer_security() {
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Every documented operation is routed: none answers "no such route" or "method not allowed".
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::sqlite().await;
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let concrete = path.replace("{id}", "1");
            let res = app.call(method.clone(), &concrete, None, None).await;
            assert_ne!(
                res.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let no_route = res.status == StatusCode::NOT_FOUND
                && res.body["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no resource at");
            assert!(!no_route, "{method} {path} is documented but not routed");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} operations checked");
}
