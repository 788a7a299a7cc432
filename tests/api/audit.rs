//! The audit trail: every security-relevant action is on the record with who, when, from
//! where and what changed, never a secret or personal data, and the record cannot be changed.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, backend_tests};

backend_tests!(
    security_relevant_actions_are_recorded_without_secrets with no_address_lookups,
    the_audit_log_cannot_be_changed,
);

/// The webhook registered below is never looked up or called: with private addresses
/// allowed, registration makes no DNS query, and no worker runs in tests.
fn no_address_lookups(settings: &mut aftercare::config::Settings) {
    settings.webhooks.allow_private = true;
}

/// A request from a given client address (the TCP peer; no proxies are trusted here).
fn from(req: TestRequest, address: &str) -> TestRequest {
    req.peer_addr(format!("{address}:40000").parse().unwrap())
}

async fn entries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/audit?limit=200{query}"), admin)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    res.body["items"].as_array().unwrap().clone()
}

async fn security_relevant_actions_are_recorded_without_secrets(app: TestApp) {
    let (admin_id, admin) = app.admin().await;
    let bearer = format!("Bearer {admin}");
    let address = "203.0.113.7";
    let send = |req: TestRequest| {
        let req = from(req, address).insert_header(("authorization", bearer.clone()));
        app.send(req)
    };
    // Logins: a wrong password, an unknown account, a success.
    let agent_id = app.create_staff("agent@shop.example", Role::Agent);
    for (email, password) in [
        ("agent@shop.example", "not the password"),
        ("nobody@shop.example", "whatever it is"),
        ("agent@shop.example", PASSWORD),
    ] {
        app.send(from(
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email": email, "password": password})),
            address,
        ))
        .await;
    }
    // Staff accounts: created, changed, password reset.
    let created = send(TestRequest::post().uri("/api/v1/users").set_json(
        json!({"email": "lead@shop.example", "display_name": "王经理", "role": "agent", "password": "a long passphrase for 王"}),
    ))
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let lead_id = created.body["id"].as_i64().unwrap();
    let changed = send(
        TestRequest::patch()
            .uri(&format!("/api/v1/users/{lead_id}"))
            .set_json(json!({"role": "lead"})),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let reset = send(
        TestRequest::put()
            .uri(&format!("/api/v1/users/{agent_id}/password"))
            .set_json(json!({"new_password": "another long passphrase 2026"})),
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);
    // An API key, created and revoked.
    let key = send(
        TestRequest::post()
            .uri("/api/v1/api-keys")
            .set_json(json!({"name": "ERP", "scopes": ["customers:write"]})),
    )
    .await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    let key_id = key.body["id"].as_i64().unwrap();
    let secret_key = key.body["key"].as_str().unwrap().to_owned();
    send(TestRequest::delete().uri(&format!("/api/v1/api-keys/{key_id}"))).await;
    // A webhook whose path is a secret of its own, changed and deleted.
    let hook = send(TestRequest::post().uri("/api/v1/webhooks").set_json(json!({
        "url": "https://hooks.shop.example/t/s3cr3t-path-token", "events": ["ticket.created"],
        "secret": "whsec-0123456789abcdef", "description": "ERP"
    })))
    .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let hook_id = hook.body["id"].as_i64().unwrap();
    send(
        TestRequest::patch()
            .uri(&format!("/api/v1/webhooks/{hook_id}"))
            .set_json(json!({"secret": "whsec-fedcba9876543210", "active": false})),
    )
    .await;
    send(TestRequest::delete().uri(&format!("/api/v1/webhooks/{hook_id}"))).await;
    // Bulk work: an import and a bulk tag.
    let imported = send(
        TestRequest::post()
            .uri("/api/v1/customers/import?file=customers")
            .insert_header(("content-type", "text/csv"))
            .set_payload("name,phone,source\n李娜,13800138000,online\n"),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{:?}", imported.body);
    let customer = app.get("/api/v1/customers?limit=1", &admin).await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let bulk = send(
        TestRequest::post()
            .uri("/api/v1/tags/bulk")
            .set_json(json!({"customer_ids": [customer], "add": ["key customer"]})),
    )
    .await;
    assert_eq!(bulk.status, StatusCode::OK, "{:?}", bulk.body);

    let log = entries(&app, &admin, "").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "auth.login_failed",
        "auth.login",
        "users.created",
        "users.changed",
        "users.password_reset",
        "api_keys.created",
        "api_keys.revoked",
        "webhooks.created",
        "webhooks.changed",
        "webhooks.deleted",
        "customers.import",
        "tags.bulk",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let me = format!("user:{admin_id}");
    // Newest first; the last is the test harness's own login, made without a peer address.
    let (harness_login, log_of_test) = log.split_last().unwrap();
    assert_eq!(harness_login["action"], "auth.login");
    assert!(harness_login["address"].is_null());
    for entry in log_of_test {
        assert_eq!(entry["address"], address, "{entry}");
        if !entry["action"].as_str().unwrap().starts_with("auth.") {
            assert_eq!(entry["actor"], me, "{entry}");
        }
    }
    let failed: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|e| e["details"]["account"] == format!("user:{agent_id}"))
    );
    assert!(failed.iter().any(|e| e["details"]["account"].is_null()));
    let change = log.iter().find(|e| e["action"] == "users.changed").unwrap();
    assert_eq!(change["details"]["from"]["role"], "agent");
    assert_eq!(change["details"]["to"]["role"], "lead");
    let webhook = log
        .iter()
        .find(|e| e["action"] == "webhooks.changed")
        .unwrap();
    assert_eq!(webhook["details"]["host"], "hooks.shop.example");
    // Nothing secret or personal in the whole log.
    let text = Value::Array(log.clone()).to_string();
    for secret in [
        secret_key.as_str(),
        "s3cr3t-path-token",
        "whsec-",
        PASSWORD,
        "a long passphrase",
        "nobody@shop.example",
        "agent@shop.example",
        "王经理",
        "李娜",
        "13800138000",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} is in the audit log: {text}"
        );
    }
    // Filters: by action and by actor.
    let only = entries(&app, &admin, "&action=auth.login").await;
    assert!(!only.is_empty() && only.iter().all(|e| e["action"] == "auth.login"));
    let anonymous = entries(&app, &admin, "&actor=anonymous").await;
    assert_eq!(anonymous.len(), 2);
    // Admins only.
    let agent = app
        .login("agent@shop.example", "another long passphrase 2026")
        .await;
    let agent_token = agent.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/audit", agent_token).await.status,
        StatusCode::FORBIDDEN
    );
}

/// Append-only in the database itself: not even the service's own connection can change or
/// delete an entry.
async fn the_audit_log_cannot_be_changed(app: TestApp) {
    let (_, admin) = app.admin().await;
    let export = app.get("/api/v1/customers/export", &admin).await;
    assert_eq!(export.status, StatusCode::OK);
    use diesel::connection::SimpleConnection;
    let mut conn = app.state.db.conn().unwrap();
    for statement in [
        "UPDATE audit_log SET actor = 'user:999'",
        "DELETE FROM audit_log",
    ] {
        let refused = conn.batch_execute(statement);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("append-only")),
            "{statement}: {refused:?}"
        );
    }
    drop(conn);
    let log = app.get("/api/v1/audit", &admin).await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the admin's login and the export: {items:?}"
    );
    assert_eq!(items[0]["action"], "customers.export");
    assert!(items.iter().all(|e| e["actor"] == "user:1"), "{items:?}");
}
