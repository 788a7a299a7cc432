//! Login, tokens and their revocation.

use actix_web::http::{Method, StatusCode};
use aftercare::auth::{roles::Role, token::TokenKeys};
use aftercare::ids::ShopId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use std::time::Duration;

use crate::support::{PASSWORD, TEST_SECRET, TestApp, backend_tests};

backend_tests!(
    login_returns_a_working_token,
    login_failures_are_indistinguishable,
    missing_and_malformed_authorization_is_401,
    expired_forged_and_unsigned_tokens_are_refused,
    deactivated_staff_tokens_stop_working,
    password_reset_revokes_tokens,
    changing_own_password_returns_a_new_token,
    role_changes_apply_to_existing_tokens,
    failed_logins_are_throttled_per_account_and_address,
);

async fn login_returns_a_working_token(app: TestApp) {
    app.create_staff("Agent.One@Shop.example", Role::Agent);
    // Emails are matched case-insensitively.
    let res = app.login("agent.one@SHOP.example", PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 3600);
    assert_eq!(res.body["user"]["role"], "agent");
    assert!(res.body["user"].get("password_hash").is_none());
    let token = res.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "agent.one@shop.example");
}

async fn login_failures_are_indistinguishable(app: TestApp) {
    let (admin_id, admin) = app.admin().await;
    let agent_id = app.create_staff("gone@shop.example", Role::Agent);
    let deactivate = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(deactivate.status, StatusCode::OK);
    let unknown = app.login("nobody@shop.example", PASSWORD).await;
    let wrong = app.login("admin@shop.example", "wrong password!").await;
    let inactive = app.login("gone@shop.example", PASSWORD).await;
    for res in [&unknown, &wrong, &inactive] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(res.problem_type(), "invalid-credentials");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(wrong.body, inactive.body);
    assert!(admin_id > 0);
}

async fn missing_and_malformed_authorization_is_401(app: TestApp) {
    let none = app.call(Method::GET, "/api/v1/auth/me", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.problem_type(), "unauthenticated");
    for header in [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer    ",
        "garbage",
        "Bearer not.a.jwt",
    ] {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/auth/me")
            .insert_header(("authorization", header));
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "header {header:?}");
        assert_eq!(res.problem_type(), "unauthenticated");
    }
}

async fn expired_forged_and_unsigned_tokens_are_refused(app: TestApp) {
    let id = app.create_staff("agent@shop.example", Role::Agent);
    let ours = TokenKeys::new(TEST_SECRET, Duration::from_secs(3600));
    let (valid, _) = ours
        .issue(id, ShopId(1), Role::Agent, 0, chrono::Utc::now())
        .unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", &valid).await.status,
        StatusCode::OK
    );

    let (expired, _) = ours
        .issue(
            id,
            ShopId(1),
            Role::Agent,
            0,
            chrono::Utc::now() - chrono::Duration::hours(2),
        )
        .unwrap();
    let res = app.get("/api/v1/auth/me", &expired).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.body["detail"].as_str().unwrap().contains("expired"));

    let theirs = TokenKeys::new(
        b"another-secret-another-secret-another",
        Duration::from_secs(3600),
    );
    let (forged, _) = theirs
        .issue(id, ShopId(1), Role::Admin, 0, chrono::Utc::now())
        .unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Same claims, re-signed as `alg: none` with an empty signature.
    let payload = valid.split('.').nth(1).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{payload}.");
    assert_eq!(
        app.get("/api/v1/auth/me", &unsigned).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A valid signature over a tampered payload (role raised to admin) is refused too.
    let tampered_payload = URL_SAFE_NO_PAD.encode(
        String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap()
            .replace("\"agent\"", "\"admin\""),
    );
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    assert_eq!(
        app.get("/api/v1/auth/me", &tampered).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn deactivated_staff_tokens_stop_working(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    assert_eq!(
        app.get("/api/v1/auth/me", &agent).await.status,
        StatusCode::OK
    );
    let res = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["active"], false);
    assert_eq!(
        app.get("/api/v1/auth/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Reactivation does not revive the old token; logging in again works.
    app.patch(
        &format!("/api/v1/users/{agent_id}"),
        &admin,
        json!({"active": true}),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/auth/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("agent@shop.example", PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn password_reset_revokes_tokens(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let res = app
        .put(
            &format!("/api/v1/users/{agent_id}/password"),
            &admin,
            json!({"new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("agent@shop.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("agent@shop.example", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

async fn changing_own_password_returns_a_new_token(app: TestApp) {
    let (_, old) = app.staff_token("agent@shop.example", Role::Agent).await;
    let wrong = app
        .post(
            "/api/v1/auth/password",
            &old,
            json!({"current_password": "not my password", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let weak = app
        .post(
            "/api/v1/auth/password",
            &old,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.error_fields(), ["new_password"]);
    let res = app
        .post(
            "/api/v1/auth/password",
            &old,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let new = res.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/auth/me", new).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/auth/me", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn role_changes_apply_to_existing_tokens(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    assert_eq!(
        app.get("/api/v1/users", &agent).await.status,
        StatusCode::FORBIDDEN
    );
    app.patch(
        &format!("/api/v1/users/{agent_id}"),
        &admin,
        json!({"role": "lead"}),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/users", &agent).await.status,
        StatusCode::OK
    );
}

fn login_from(address: &str, email: &str, password: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr(format!("{address}:40000").parse().unwrap())
        .set_json(serde_json::json!({"email": email, "password": password}))
}

async fn failed_logins_are_throttled_per_account_and_address(app: TestApp) {
    app.create_staff("target@shop.example", Role::Agent);
    app.create_staff("bystander@shop.example", Role::Agent);
    // Five failures for one account (the default limit), from different addresses.
    for i in 0..5 {
        let res = app
            .send(login_from(
                &format!("10.0.1.{i}"),
                "target@shop.example",
                "guess",
            ))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while, with a time to wait.
    let locked = app
        .send(login_from("10.0.2.1", "target@shop.example", PASSWORD))
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.problem_type(), "too-many-requests");
    let wait: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&wait), "{wait}");
    // Other accounts are not affected.
    assert_eq!(
        app.send(login_from("10.0.2.1", "bystander@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::OK
    );

    // Twenty failures from one address lock that address out, for every account.
    for i in 0..20 {
        let res = app
            .send(login_from(
                "10.0.3.3",
                &format!("nobody{i}@shop.example"),
                "guess",
            ))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let from_attacker = app
        .send(login_from("10.0.3.3", "bystander@shop.example", PASSWORD))
        .await;
    assert_eq!(from_attacker.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.send(login_from("10.0.3.4", "bystander@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::OK
    );
    // A forged forwarding header does not lift the limit.
    let forged = login_from("10.0.3.3", "bystander@shop.example", PASSWORD)
        .insert_header(("x-forwarded-for", "192.0.2.7"));
    assert_eq!(app.send(forged).await.status, StatusCode::TOO_MANY_REQUESTS);
}
