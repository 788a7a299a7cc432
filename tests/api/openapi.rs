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

/// The 422 messages for dates say which shape a field takes by its name
/// (`extract::DAY_FIELDS`): that list must be exactly the document's date-only fields, and
/// no date-time field may share a name with one.
#[test]
fn day_fields_are_exactly_the_documented_dates() {
    fn formats(schema: &Value, out: &mut Vec<String>) {
        if let Some(format) = schema["format"].as_str() {
            out.push(format.to_owned());
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for inner in schema[key].as_array().into_iter().flatten() {
                formats(inner, out);
            }
        }
        if schema["items"].is_object() {
            formats(&schema["items"], out);
        }
    }
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    let mut fields: Vec<(String, Value)> = Vec::new();
    for schema in doc["components"]["schemas"].as_object().unwrap().values() {
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            fields.push((name.clone(), property.clone()));
        }
    }
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                fields.push((name, parameter["schema"].clone()));
            }
        }
    }
    assert!(
        fields.len() > 100,
        "the walk found only {} fields",
        fields.len()
    );
    let mut days = std::collections::BTreeSet::new();
    let mut instants = std::collections::BTreeSet::new();
    for (name, schema) in &fields {
        let mut found = Vec::new();
        formats(schema, &mut found);
        if found.iter().any(|f| f == "date") {
            days.insert(name.as_str());
        }
        if found.iter().any(|f| f == "date-time") {
            instants.insert(name.as_str());
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        aftercare::extract::DAY_FIELDS.iter().copied().collect();
    assert_eq!(
        days, listed,
        "extract::DAY_FIELDS must list the date-only fields"
    );
    assert!(
        days.is_disjoint(&instants),
        "a name is used for a date and a date-time: {:?}",
        days.intersection(&instants).collect::<Vec<_>>()
    );
}
