//! Login, tokens and their revocation.

use actix_web::http::{Method, StatusCode};
use aftercare::auth::{roles::Role, token::TokenKeys};
use aftercare::ids::ShopId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use std::time::Duration;

use crate::support::{PASSWORD, Response, TEST_SECRET, TestApp, backend_tests};

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
    a_few_guesses_from_elsewhere_do_not_lock_the_owner_out,
    the_back_off_doubles_and_a_success_clears_it,
    simultaneous_guesses_are_counted_before_they_are_checked,
    password_changes_are_throttled_like_logins,
    a_new_password_must_be_hard_to_guess,
    housekeeping_forgets_attempts_too_old_to_count,
    forwarded_clients_count_apart_only_behind_trusted_proxies with proxy_on_loopback,
    a_forwarded_for_header_from_anyone_else_changes_nothing,
);

fn proxy_on_loopback(settings: &mut aftercare::config::Settings) {
    settings.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// Four wrong passwords for one account from one client: the fourth waits (429).
async fn lock_out_through(app: &TestApp, peer: &str, client: &str) -> Response {
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            app.send(
                login_from(peer, "owner@shop.example", "wrong password")
                    .insert_header(("X-Forwarded-For", client)),
            )
            .await,
        );
    }
    last.unwrap()
}

/// Behind a trusted proxy, each client it names is throttled on its own: one client's
/// guesses do not make the account wait for another.
async fn forwarded_clients_count_apart_only_behind_trusted_proxies(app: TestApp) {
    app.create_staff("owner@shop.example", Role::Agent);
    let guesser = lock_out_through(&app, "127.0.0.1", "203.0.113.7").await;
    assert_eq!(guesser.status, StatusCode::TOO_MANY_REQUESTS);
    let owner = app
        .send(
            login_from("127.0.0.1", "owner@shop.example", PASSWORD)
                .insert_header(("X-Forwarded-For", "198.51.100.20")),
        )
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{:?}", owner.body);
    // A client cannot step out of its count by writing its own entries to the left.
    let spoofed = app
        .send(
            login_from("127.0.0.1", "owner@shop.example", "wrong password")
                .insert_header(("X-Forwarded-For", "192.0.2.1, 203.0.113.7")),
        )
        .await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Without TRUSTED_PROXIES, the header is the client's own words: the peer counts.
async fn a_forwarded_for_header_from_anyone_else_changes_nothing(app: TestApp) {
    app.create_staff("owner@shop.example", Role::Agent);
    let guesser = lock_out_through(&app, "127.0.0.1", "203.0.113.7").await;
    assert_eq!(guesser.status, StatusCode::TOO_MANY_REQUESTS);
    let other_header = app
        .send(
            login_from("127.0.0.1", "owner@shop.example", PASSWORD)
                .insert_header(("X-Forwarded-For", "198.51.100.20")),
        )
        .await;
    assert_eq!(other_header.status, StatusCode::TOO_MANY_REQUESTS);
}

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

fn retry_after(res: &Response) -> u64 {
    res.header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .unwrap()
}

/// Moves every recorded attempt `seconds` into the past, as if that much time had passed.
fn let_time_pass(app: &TestApp, seconds: i64) {
    let earlier = (chrono::Utc::now() - chrono::Duration::seconds(seconds)).naive_utc();
    app.sql(&format!(
        "UPDATE login_attempts SET attempted_at = '{}'",
        earlier.format("%Y-%m-%d %H:%M:%S%.f")
    ));
}

/// The default policy: 3 free failures per account and address, then a back-off; 20
/// failures per account (any address) in 5 minutes; 20 per address (any account) in 15.
async fn failed_logins_are_throttled_per_account_and_address(app: TestApp) {
    app.create_staff("target@shop.example", Role::Agent);
    app.create_staff("bystander@shop.example", Role::Agent);
    // From one address, three failures are free; then even the right password waits.
    for _ in 0..3 {
        let res = app
            .send(login_from("10.0.1.1", "target@shop.example", "guess"))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let locked = app
        .send(login_from("10.0.1.1", "target@shop.example", PASSWORD))
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.problem_type(), "too-many-requests");
    assert!((1..=30).contains(&retry_after(&locked)));

    // Twenty failures for one account, from any addresses, lock the account for everyone
    // for up to five minutes.
    for i in 0..17 {
        let res = app
            .send(login_from(
                &format!("10.0.2.{i}"),
                "target@shop.example",
                "guess",
            ))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let locked = app
        .send(login_from("10.0.2.200", "target@shop.example", PASSWORD))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=5 * 60).contains(&retry_after(&locked)));
    // Other accounts are not affected.
    assert_eq!(
        app.send(login_from("10.0.2.200", "bystander@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::OK
    );

    // Twenty failures from one address, at any accounts, lock that address out.
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
    assert!((1..=15 * 60).contains(&retry_after(&from_attacker)));
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

/// What the review found: five anonymous guesses locked the admin out for 15 minutes.
async fn a_few_guesses_from_elsewhere_do_not_lock_the_owner_out(app: TestApp) {
    app.create_staff("admin@shop.example", Role::Admin);
    let guesses: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(
                app.send(login_from("203.0.113.9", "admin@shop.example", "admin123"))
                    .await
                    .status,
            );
        }
        statuses
    };
    assert_eq!(
        guesses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "the guesser is slowed down"
    );
    // The admin, from their own address, logs in at once.
    let own = app
        .send(login_from("198.51.100.4", "admin@shop.example", PASSWORD))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
    // And their success does not free the guesser.
    assert_eq!(
        app.send(login_from("203.0.113.9", "admin@shop.example", "admin1234"))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn the_back_off_doubles_and_a_success_clears_it(app: TestApp) {
    app.create_staff("agent@shop.example", Role::Agent);
    let from_desk = |password: &str| login_from("10.0.5.5", "agent@shop.example", password);
    for _ in 0..3 {
        assert_eq!(
            app.send(from_desk("typo one")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let first_wait = app.send(from_desk("typo two")).await;
    assert_eq!(first_wait.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=30).contains(&retry_after(&first_wait)));
    // After the wait, one more try; failing it doubles the next wait.
    let_time_pass(&app, 31);
    assert_eq!(
        app.send(from_desk("typo two")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let second_wait = app.send(from_desk(PASSWORD)).await;
    assert_eq!(second_wait.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        (31..=60).contains(&retry_after(&second_wait)),
        "{:?}",
        second_wait.headers
    );
    // The right password after the wait logs in and forgets this desk's failures: the
    // next typo is free again.
    let_time_pass(&app, 61);
    assert_eq!(app.send(from_desk(PASSWORD)).await.status, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            app.send(from_desk("typo three")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// The review's finding: the failure was recorded after the password check, so forty
/// guesses sent at once were all checked. Each attempt is now counted before its check.
async fn simultaneous_guesses_are_counted_before_they_are_checked(app: TestApp) {
    app.create_staff("target@shop.example", Role::Agent);
    app.create_staff("spread@shop.example", Role::Agent);
    let statuses = |responses: Vec<Response>| -> Vec<StatusCode> {
        responses.into_iter().map(|r| r.status).collect()
    };
    let count = |statuses: &[StatusCode], status: StatusCode| {
        statuses.iter().filter(|&&s| s == status).count()
    };

    // Forty guesses from one address at once: three are checked (the free failures), the
    // rest refused unchecked.
    let burst = (0..40).map(|i| {
        app.send(login_from(
            "10.0.7.7",
            "target@shop.example",
            &format!("guess {i}"),
        ))
    });
    let burst = statuses(futures_util::future::join_all(burst).await);
    assert_eq!(count(&burst, StatusCode::UNAUTHORIZED), 3, "{burst:?}");
    assert_eq!(
        count(&burst, StatusCode::TOO_MANY_REQUESTS),
        37,
        "{burst:?}"
    );
    // The right password inside a second burst is refused with the guesses.
    let mixed = (0..10).map(|i| {
        let password = if i % 2 == 0 {
            PASSWORD.to_owned()
        } else {
            format!("guess {i}")
        };
        app.send(login_from("10.0.7.7", "target@shop.example", &password))
    });
    let mixed = statuses(futures_util::future::join_all(mixed).await);
    assert_eq!(
        count(&mixed, StatusCode::TOO_MANY_REQUESTS),
        10,
        "{mixed:?}"
    );

    // Forty guesses at once from forty addresses: at most the account's limit (20) are
    // checked, then the account is closed to every address, the right password too.
    let spread = (0..40).map(|i| {
        app.send(login_from(
            &format!("10.0.8.{i}"),
            "spread@shop.example",
            "guess",
        ))
    });
    let spread = statuses(futures_util::future::join_all(spread).await);
    assert_eq!(count(&spread, StatusCode::UNAUTHORIZED), 20, "{spread:?}");
    assert_eq!(
        count(&spread, StatusCode::TOO_MANY_REQUESTS),
        20,
        "{spread:?}"
    );
    assert_eq!(
        app.send(login_from("10.0.8.200", "spread@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn change_password_from(
    address: &str,
    token: &str,
    current: &str,
    new: &str,
) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri("/api/v1/auth/password")
        .peer_addr(format!("{address}:40000").parse().unwrap())
        .insert_header(("authorization", format!("Bearer {token}")))
        .set_json(json!({"current_password": current, "new_password": new}))
}

/// A stolen token must not make the password change an unthrottled way to guess the
/// current password: its guesses count as the account's failed logins.
async fn password_changes_are_throttled_like_logins(app: TestApp) {
    let (_, token) = app.staff_token("agent@shop.example", Role::Agent).await;
    let new = "a brand new passphrase";
    for i in 0..3 {
        let res = app
            .send(change_password_from(
                "10.0.9.9",
                &token,
                &format!("guess {i}"),
                new,
            ))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{:?}", res.body);
    }
    let refused = app
        .send(change_password_from("10.0.9.9", &token, PASSWORD, new))
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.problem_type(), "too-many-requests");
    assert!(retry_after(&refused) >= 1);
    // The same guesser's logins wait too: they are one account from one address.
    assert_eq!(
        app.send(login_from("10.0.9.9", "agent@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner elsewhere changes it.
    let changed = app
        .send(change_password_from("10.0.9.10", &token, PASSWORD, new))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
}

async fn a_new_password_must_be_hard_to_guess(app: TestApp) {
    let (_, token) = app.staff_token("wang.fang@shop.example", Role::Agent).await;
    for weak in [
        "aaaaaaaaaa",
        "1234567890",
        "passwordpassword",
        "wang.fang@shop.example",
        "wangfangwangfang",
    ] {
        let res = app
            .post(
                "/api/v1/auth/password",
                &token,
                json!({"current_password": PASSWORD, "new_password": weak}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}");
        assert_eq!(res.problem_type(), "validation");
        assert_eq!(res.error_fields(), ["new_password"]);
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("is too easy to guess"), "{message}");
    }
    // A weak new password with a wrong current one: the wrong password is the answer.
    let wrong = app
        .post(
            "/api/v1/auth/password",
            &token,
            json!({"current_password": "not my password", "new_password": "1234567890"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // None of the refusals changed the password or revoked the token.
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("wang.fang@shop.example", PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn housekeeping_forgets_attempts_too_old_to_count(app: TestApp) {
    app.create_staff("agent@shop.example", Role::Agent);
    for _ in 0..3 {
        app.send(login_from("10.0.4.4", "agent@shop.example", "guess"))
            .await;
    }
    let attempts = || {
        use diesel::prelude::*;
        let mut conn = app.state.db.conn().unwrap();
        aftercare::schema::login_attempts::table
            .count()
            .get_result::<i64>(&mut *conn)
            .unwrap()
    };
    let policy = app.state.settings.login_throttle;
    aftercare::housekeeping::run_once(&app.state.db, &policy, &Default::default());
    assert_eq!(attempts(), 3, "recent attempts still count");
    // Older than every window (the back-off's hour is the longest): nothing counts them.
    let_time_pass(&app, policy.memory().num_seconds() + 1);
    aftercare::housekeeping::run_once(&app.state.db, &policy, &Default::default());
    assert_eq!(attempts(), 0);
    assert_eq!(
        app.send(login_from("10.0.4.4", "agent@shop.example", PASSWORD))
            .await
            .status,
        StatusCode::OK
    );
}

/// With every hasher busy past `PASSWORD_HASHING_WAIT_MS`, logins and new passwords get
/// 503 `overloaded` with `Retry-After`, and a login turned away costs no attempt.
async fn busy_hashers_turn_requests_away(app: TestApp) {
    let (_, admin) = app.admin().await;
    let hashers = app.state.settings.password_hashing.hashers();
    let mut held = Vec::new();
    for _ in 0..hashers {
        held.push(app.state.passwords.permit().await.expect("a free hasher"));
    }
    for _ in 0..5 {
        let res = app
            .send(login_from(
                "10.0.6.6",
                "admin@shop.example",
                "a wrong guess",
            ))
            .await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            res.body
        );
        assert_eq!(res.problem_type(), "overloaded");
        assert_eq!(res.header("retry-after"), Some("1"));
    }
    let create = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "new@shop.example", "display_name": "New", "role": "agent",
                   "password": "violet tractor umbrella gossip"}),
        )
        .await;
    assert_eq!(create.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(create.problem_type(), "overloaded");
    drop(held);
    // The five logins turned away were never checked, so none counts as a failure: this
    // address still has its three free ones.
    for _ in 0..3 {
        assert_eq!(
            app.send(login_from(
                "10.0.6.6",
                "admin@shop.example",
                "a wrong guess"
            ))
            .await
            .status,
            StatusCode::UNAUTHORIZED
        );
    }
}

fn without_waiting(settings: &mut aftercare::config::Settings) {
    settings.password_hashing.wait_ms = 0;
}

#[actix_web::test]
async fn sqlite_busy_hashers_turn_requests_away() {
    busy_hashers_turn_requests_away(TestApp::sqlite_with(without_waiting).await).await;
}

#[actix_web::test]
async fn postgres_busy_hashers_turn_requests_away() {
    if let Some(app) = TestApp::postgres_with(without_waiting).await {
        busy_hashers_turn_requests_away(app).await;
    }
}
