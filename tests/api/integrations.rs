//! Integrations: API keys and scopes, the customer/order/review feeds, idempotent POSTs.

use actix_web::{
    http::{Method, StatusCode},
    test,
};
use aftercare::auth::roles::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Response, TestApp, backend_tests};

backend_tests!(
    api_keys_are_shown_once_and_stored_hashed,
    only_admins_manage_api_keys,
    keys_work_within_their_scopes_only,
    revoked_keys_are_refused_and_last_use_is_recorded,
    customer_feed_upserts_by_handle,
    customer_batches_report_each_item_and_atomic_ones_roll_back,
    order_feed_upserts_by_channel_and_number,
    review_feed_opens_one_ticket_per_review,
    idempotent_retries_replay_the_first_response,
    idempotency_keys_belong_to_their_caller_and_failures_are_forgotten,
    housekeeping_purges_expired_idempotency_keys_only,
    write_answers_show_no_more_than_the_read_scopes,
    conflicts_name_no_customer_to_write_only_keys,
);

/// Sends a request with extra headers (an API key, an Idempotency-Key...).
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response {
    let mut req = test::TestRequest::default().method(method).uri(path);
    for (name, value) in headers {
        req = req.insert_header((name.to_string(), value.to_string()));
    }
    if let Some(body) = body {
        req = req.set_json(body);
    }
    app.send(req).await
}

/// Creates an API key with `scopes`; returns (id, key).
pub async fn api_key(app: &TestApp, admin: &str, scopes: &[&str]) -> (i64, String) {
    let res = app
        .post(
            "/api/v1/api-keys",
            admin,
            json!({"name": "Tmall order feed", "scopes": scopes}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    (
        res.body["id"].as_i64().unwrap(),
        res.body["key"].as_str().unwrap().to_owned(),
    )
}

fn with_key(key: &str) -> [(&'static str, &str); 1] {
    [("x-api-key", key)]
}

async fn post_with_key(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
    send(app, Method::POST, path, &with_key(key), Some(body)).await
}

fn customer_body(name: &str, phone: &str) -> Value {
    json!({"name": name, "contacts": [{"kind": "phone", "value": phone}], "source": "online"})
}

fn count(app: &TestApp, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.state.db.conn().unwrap();
    diesel::sql_query(sql)
        .get_result::<N>(&mut *conn)
        .unwrap()
        .n
}

async fn api_keys_are_shown_once_and_stored_hashed(app: TestApp) {
    let (_, admin) = app.admin().await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &admin,
            json!({"name": "Chat tool", "scopes": ["tickets:read", "customers:read", "tickets:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let prefix = created.body["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("ak_{prefix}_")), "{key}");
    assert_eq!(
        created.body["scopes"],
        json!(["customers:read", "tickets:read"])
    );
    let id = created.body["id"].as_i64().unwrap();

    // Never shown again: not in the list, not in the single view.
    let list = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"][0]["id"], id);
    assert!(list.body["items"][0].get("key").is_none());
    let one = app.get(&format!("/api/v1/api-keys/{id}"), &admin).await;
    assert!(one.body.get("key").is_none());
    assert!(!String::from_utf8_lossy(&list.raw).contains(&key[prefix.len() + 4..]));

    // Stored only as its SHA-256.
    let expected = hex::encode(Sha256::digest(key.as_bytes()));
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM api_keys WHERE secret_hash = '{expected}' AND secret_hash <> '{key}'"
            )
        ),
        1
    );

    // A retried creation neither creates a second key nor shows (or stores) the secret again.
    let auth = format!("Bearer {admin}");
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "new-key-1"),
    ];
    let body = json!({"name": "ERP", "scopes": ["orders:write"]});
    let first = send(
        &app,
        Method::POST,
        "/api/v1/api-keys",
        &headers,
        Some(body.clone()),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let secret = first.body["key"].as_str().unwrap().to_owned();
    let retry = send(&app, Method::POST, "/api/v1/api-keys", &headers, Some(body)).await;
    assert_eq!(retry.status, StatusCode::CONFLICT);
    assert_eq!(retry.problem_type(), "idempotency-secret-not-replayed");
    assert!(!String::from_utf8_lossy(&retry.raw).contains(&secret));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM api_keys"), 2);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM idempotency_keys WHERE response_body LIKE '%{secret}%'"
            )
        ),
        0
    );

    let bad = app
        .post(
            "/api/v1/api-keys",
            &admin,
            json!({"name": "", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let none = app
        .post(
            "/api/v1/api-keys",
            &admin,
            json!({"name": "x", "scopes": []}),
        )
        .await;
    assert_eq!(none.error_fields(), ["scopes"]);
}

async fn only_admins_manage_api_keys(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let res = app
        .post(
            "/api/v1/api-keys",
            &lead,
            json!({"name": "x", "scopes": ["stats:read"]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/api-keys", &lead).await.status, 403);
    // A key cannot mint keys, whatever its scopes.
    let (_, key) = api_key(&app, &admin, &["customers:write", "stats:read"]).await;
    let res = post_with_key(
        &app,
        &key,
        "/api/v1/api-keys",
        json!({"name": "x", "scopes": ["stats:read"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.problem_type(), "forbidden");
}

async fn keys_work_within_their_scopes_only(app: TestApp) {
    let (_, admin) = app.admin().await;
    let customer = app
        .customer(&admin, customer_body("李娜", "13800138000"))
        .await;
    let (_, reader) = api_key(&app, &admin, &["customers:read"]).await;

    let list = send(
        &app,
        Method::GET,
        "/api/v1/customers",
        &with_key(&reader),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body["items"][0]["id"], customer);
    // The key also works as a bearer credential (what generated clients send).
    let bearer = format!("Bearer {reader}");
    let view = send(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{customer}"),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(view.body["standing"]["tier"].is_string());

    // Outside its scopes: 403 naming the missing scope.
    let write = post_with_key(
        &app,
        &reader,
        "/api/v1/customers",
        customer_body("王伟", "13900139000"),
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(
        write.body["detail"]
            .as_str()
            .unwrap()
            .contains("customers:write")
    );
    for path in ["/api/v1/tickets", "/api/v1/stats/backlog"] {
        let res = send(&app, Method::GET, path, &with_key(&reader), None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Staff-only endpoints refuse keys outright.
    for path in ["/api/v1/me/queue", "/api/v1/users", "/api/v1/auth/me"] {
        let res = send(&app, Method::GET, path, &with_key(&reader), None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
    }

    // tickets:write opens tickets, but working them is people's work.
    let (_, opener) = api_key(&app, &admin, &["tickets:write", "tickets:read"]).await;
    let ticket = post_with_key(&app, &opener, "/api/v1/tickets", json!({"kind": "repair", "customer_id": customer, "title": "Kettle leaks",
                    "details": {"fault": "leaks at the base", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}})).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let id = ticket.body["id"].as_i64().unwrap();
    let events = send(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}/events"),
        &with_key(&opener),
        None,
    )
    .await;
    assert_eq!(events.body["items"][0]["kind"], "created");
    assert_eq!(
        events.body["items"][0]["data"]["api_key"]["name"],
        "Tmall order feed"
    );
    let contact = send(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/contacts"),
        &with_key(&opener),
        Some(json!({"channel": "phone", "reached": true})),
    )
    .await;
    assert_eq!(contact.status, StatusCode::FORBIDDEN);
    let assigned = post_with_key(&app, &opener, "/api/v1/tickets", json!({"kind": "repair", "customer_id": customer, "title": "Kettle leaks again", "assignee_id": 1,
                    "details": {"fault": "leaks at the base", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}})).await;
    assert_eq!(assigned.status, StatusCode::FORBIDDEN);

    // Unknown or malformed keys are 401.
    for bad in [
        "ak_nope",
        "ak_abcdefghij_0123456789012345678901234567890123456789",
    ] {
        let res = send(&app, Method::GET, "/api/v1/customers", &with_key(bad), None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

async fn revoked_keys_are_refused_and_last_use_is_recorded(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (id, key) = api_key(&app, &admin, &["customers:read"]).await;
    let before = app.get(&format!("/api/v1/api-keys/{id}"), &admin).await;
    assert!(before.body["last_used_at"].is_null());
    let res = send(
        &app,
        Method::GET,
        "/api/v1/customers",
        &with_key(&key),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let after = app.get(&format!("/api/v1/api-keys/{id}"), &admin).await;
    assert!(after.body["last_used_at"].is_string(), "{:?}", after.body);

    let revoked = app.delete(&format!("/api/v1/api-keys/{id}"), &admin).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let res = send(
        &app,
        Method::GET,
        "/api/v1/customers",
        &with_key(&key),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.problem_type(), "unauthenticated");
    // Revoking again is harmless; the key stays on record.
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let active = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(active.body["items"], json!([]));
    let all = app.get("/api/v1/api-keys?active_only=false", &admin).await;
    assert!(all.body["items"][0]["revoked_at"].is_string());
}

async fn customer_feed_upserts_by_handle(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, key) = api_key(&app, &admin, &["customers:write"]).await;
    let post = |body: Value| post_with_key(&app, &key, "/api/v1/feeds/customers", body);
    // A customers:write key alone gets receipts (it may not read the customer file); what
    // was written is read back by staff.
    let first = post(customer_body("李娜", "138 0013 8000")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["outcome"], "created");
    let id = first.body["id"].as_i64().unwrap();
    assert_eq!(first.body, json!({"id": id, "outcome": "created"}));

    let again = post(customer_body("李娜", "13800138000")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, json!({"id": id, "outcome": "unchanged"}));

    let renamed = post(json!({"name": "李娜 (Lina)", "contacts": [{"kind": "phone", "value": "13800138000"}, {"kind": "wechat", "value": "lina88"}], "source": "online", "tags": ["vip"]})).await;
    assert_eq!(renamed.body, json!({"id": id, "outcome": "updated"}));
    let file = app.get(&format!("/api/v1/customers/{id}"), &admin).await;
    assert_eq!(file.body["name"], "李娜 (Lina)");
    assert_eq!(file.body["contacts"].as_array().unwrap().len(), 2);
    // With customers:read as well, the answer is the customer itself.
    let (_, reader) = api_key(&app, &admin, &["customers:write", "customers:read"]).await;
    let full = post_with_key(
        &app,
        &reader,
        "/api/v1/feeds/customers",
        customer_body("李娜 (Lina)", "13800138000"),
    )
    .await;
    assert_eq!(full.body["outcome"], "unchanged");
    assert_eq!(full.body["customer"]["id"], id);
    assert_eq!(full.body["customer"]["name"], "李娜 (Lina)");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers"), 1);

    let invalid = post(json!({"name": "", "contacts": [], "source": "online"})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = invalid.error_fields();
    assert!(fields.contains(&"name".to_owned()) && fields.contains(&"contacts".to_owned()));
}

async fn customer_batches_report_each_item_and_atomic_ones_roll_back(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, key) = api_key(&app, &admin, &["customers:write"]).await;
    let batch = |atomic: bool, first_phone: &str| {
        json!({"atomic": atomic, "items": [
            customer_body("A", first_phone),
            {"name": "", "contacts": [{"kind": "phone", "value": "13900000002"}], "source": "online"},
            customer_body("C", "13900000003"),
        ]})
    };
    let atomic = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        batch(true, "13900000001"),
    )
    .await;
    assert_eq!(atomic.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(atomic.problem_type(), "batch-rejected");
    assert_eq!(atomic.body["report"]["failed"], 1);
    assert_eq!(atomic.body["report"]["rolled_back"], true);
    // A key that cannot read customers learns which item failed and why, nothing about
    // the others: an atomic batch with a bad item must not be a way to look buyers up.
    let first = &atomic.body["report"]["results"][0];
    assert!(
        first["outcome"].is_null() && first["id"].is_null(),
        "{first}"
    );
    assert_eq!(atomic.body["report"]["created"], 0);
    // A key that may read them is told what would have happened, without ids of rows that
    // were rolled back.
    let (_, reader) = api_key(&app, &admin, &["customers:write", "customers:read"]).await;
    let told = post_with_key(
        &app,
        &reader,
        "/api/v1/feeds/customers/batch",
        batch(true, "13900000001"),
    )
    .await;
    let first = &told.body["report"]["results"][0];
    assert_eq!(first["outcome"], "created", "{first}");
    assert!(first["id"].is_null(), "{first}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM customers"),
        0,
        "an atomic batch with a bad item writes nothing"
    );

    let partial = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        batch(false, "13900000001"),
    )
    .await;
    assert_eq!(partial.status, StatusCode::OK, "{:?}", partial.body);
    let report = &partial.body;
    assert_eq!(
        (&report["created"], &report["failed"], &report["unchanged"]),
        (&json!(2), &json!(1), &json!(0))
    );
    assert_eq!(report["results"][1]["index"], 1);
    assert!(report["results"][1]["outcome"].is_null());
    assert_eq!(report["results"][1]["error"]["errors"][0]["field"], "name");
    assert!(report["results"][0]["id"].is_i64());

    // Re-sending changes nothing.
    let again = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        batch(false, "13900000001"),
    )
    .await;
    assert_eq!(again.body["unchanged"], 2);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers"), 2);

    // 1,000 items at most, at least one.
    let too_many: Vec<Value> = (0..1001)
        .map(|i| customer_body("X", &format!("137{i:08}")))
        .collect();
    let res = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        json!({"items": too_many}),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.error_fields(), ["items"]);
    let empty = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        json!({"items": []}),
    )
    .await;
    assert_eq!(empty.error_fields(), ["items"]);

    let full: Vec<Value> = (0..1000)
        .map(|i| customer_body("Bulk", &format!("136{i:08}")))
        .collect();
    let res = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/customers/batch",
        json!({"items": full}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["created"], 1000);
}

async fn order_feed_upserts_by_channel_and_number(app: TestApp) {
    let (_, admin) = app.admin().await;
    let customer = app
        .customer(&admin, customer_body("李娜", "13800138000"))
        .await;
    let (_, key) = api_key(&app, &admin, &["orders:write"]).await;
    let order = |status: &str, phone: &str| {
        json!({"customer_contacts": [{"kind": "phone", "value": phone}],
               "order": {"channel": "tmall", "external_order_no": "TM-42", "status": status,
                         "items": [{"product_name": "Teapot", "quantity": 2, "unit_price_cents": 12990}],
                         "ordered_at": "2026-11-20T13:45:00+08:00"}})
    };
    let post = |body: Value| post_with_key(&app, &key, "/api/v1/feeds/orders", body);
    // An orders:write key alone gets receipts; staff read the order back.
    let first = post(order("paid", "138-0013-8000")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let order_id = first.body["id"].as_i64().unwrap();
    assert_eq!(first.body, json!({"id": order_id, "outcome": "created"}));
    let stored = app.get(&format!("/api/v1/orders/{order_id}"), &admin).await;
    assert_eq!(stored.body["customer_id"], customer);
    assert_eq!(stored.body["total_cents"], 25980);
    let again = post(order("paid", "13800138000")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, json!({"id": order_id, "outcome": "unchanged"}));
    let refunded = post(order("refunded", "13800138000")).await;
    assert_eq!(refunded.body, json!({"id": order_id, "outcome": "updated"}));
    let stored = app.get(&format!("/api/v1/orders/{order_id}"), &admin).await;
    assert_eq!(stored.body["status"], "refunded");
    // With customers:read as well, the answer carries the order.
    let (_, reader) = api_key(&app, &admin, &["orders:write", "customers:read"]).await;
    let full = post_with_key(
        &app,
        &reader,
        "/api/v1/feeds/orders",
        order("refunded", "13800138000"),
    )
    .await;
    assert_eq!(full.body["outcome"], "unchanged");
    assert_eq!(full.body["order"]["id"], order_id);
    assert_eq!(full.body["order"]["status"], "refunded");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM orders"), 1);

    let unknown = post(order("paid", "13700000000")).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["customer_contacts"]);

    // A customers:write key cannot record orders.
    let (_, customers_only) = api_key(&app, &admin, &["customers:write"]).await;
    let res = post_with_key(
        &app,
        &customers_only,
        "/api/v1/feeds/orders",
        order("paid", "13800138000"),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    let batch = post_with_key(
        &app,
        &key,
        "/api/v1/feeds/orders/batch",
        json!({"items": [order("paid", "13800138000"), order("paid", "13700000000")]}),
    )
    .await;
    assert_eq!(batch.status, StatusCode::OK, "{:?}", batch.body);
    assert_eq!(batch.body["updated"], 1);
    assert_eq!(batch.body["failed"], 1);
    assert_eq!(
        batch.body["results"][1]["error"]["errors"][0]["field"],
        "customer_contacts"
    );
}

async fn review_feed_opens_one_ticket_per_review(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, key) = api_key(&app, &admin, &["tickets:write"]).await;
    let review = |rating: u8| {
        json!({"platform": "taobao", "review_id": "R-889123", "rating": rating, "review_text": "盖子有缺口",
               "customer_contacts": [{"kind": "shop_account", "value": "lina的小店"}], "customer_name": "李娜"})
    };
    let post = |body: Value| post_with_key(&app, &key, "/api/v1/feeds/reviews", body);
    // A tickets:write key alone gets receipts naming the ticket; staff read it back.
    let first = post(review(2)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let id = first.body["id"].as_i64().unwrap();
    assert_eq!(first.body, json!({"id": id, "outcome": "created"}));
    let ticket = app.get(&format!("/api/v1/tickets/{id}"), &admin).await.body;
    assert_eq!(ticket["kind"], "negative_review");
    assert_eq!(ticket["state"], "new");
    assert_eq!(ticket["title"], "2-star review on taobao");

    let again = post(review(2)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, json!({"id": id, "outcome": "unchanged"}));

    let revised = post(review(4)).await;
    assert_eq!(revised.body, json!({"id": id, "outcome": "updated"}));
    let ticket = app.get(&format!("/api/v1/tickets/{id}"), &admin).await.body;
    assert_eq!(ticket["details"]["rating"], 4);
    // With tickets:read as well, the answer carries the ticket.
    let (_, reader) = api_key(&app, &admin, &["tickets:write", "tickets:read"]).await;
    let full = post_with_key(&app, &reader, "/api/v1/feeds/reviews", review(4)).await;
    assert_eq!(full.body["outcome"], "unchanged");
    assert_eq!(full.body["ticket"]["id"], id);
    assert_eq!(full.body["ticket"]["details"]["rating"], 4);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM tickets"), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers"), 1);

    let stranger = post(json!({"platform": "jd", "review_id": "J-1", "rating": 1,
                               "customer_contacts": [{"kind": "phone", "value": "13700000000"}]}))
    .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stranger.error_fields(), ["customer_contacts"]);
    // A review first seen at 4 or 5 stars is not negative: no ticket, and it says why.
    let praise = post(json!({"platform": "douyin", "review_id": "D-5", "rating": 5,
                             "customer_contacts": [{"kind": "shop_account", "value": "lina的小店"}]}))
    .await;
    assert_eq!(praise.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(praise.error_fields(), ["rating"]);

    let (_, reader) = api_key(&app, &admin, &["tickets:read"]).await;
    let res = post_with_key(&app, &reader, "/api/v1/feeds/reviews", review(2)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

async fn idempotent_retries_replay_the_first_response(app: TestApp) {
    let (_, admin) = app.admin().await;
    let auth = format!("Bearer {admin}");
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "6f1c2a9e-create-lina"),
    ];
    let body = customer_body("李娜", "13800138000");
    let first = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(body.clone()),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert!(first.header("idempotent-replayed").is_none());
    let retry = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(body.clone()),
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers"), 1);

    let other = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(customer_body("王伟", "13900139000")),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.problem_type(), "idempotency-key-reused");

    // A contact attempt retried after a lost answer is logged once, with its ETag replayed.
    let customer = first.body["id"].as_i64().unwrap();
    let ticket = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({"kind": "repair", "customer_id": customer, "title": "Kettle leaks",
                   "details": {"fault": "leaks at the base", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}}),
        )
        .await;
    let id = ticket.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}/contacts");
    let contact_headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "call-1"),
    ];
    let call = json!({"channel": "phone", "reached": false, "note": "no answer"});
    let a = send(
        &app,
        Method::POST,
        &path,
        &contact_headers,
        Some(call.clone()),
    )
    .await;
    let b = send(&app, Method::POST, &path, &contact_headers, Some(call)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.header("etag"), a.header("etag"));
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) AS n FROM ticket_contacts WHERE ticket_id = {id}")
        ),
        1
    );

    let bad = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &[
            ("authorization", auth.as_str()),
            ("idempotency-key", "has space"),
        ],
        Some(customer_body("X", "13600000000")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["Idempotency-Key"]);
}

async fn idempotency_keys_belong_to_their_caller_and_failures_are_forgotten(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let admin_auth = format!("Bearer {admin}");
    let agent_auth = format!("Bearer {agent}");
    let key = "same-key-for-both";
    let a = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &[
            ("authorization", admin_auth.as_str()),
            ("idempotency-key", key),
        ],
        Some(customer_body("A", "13800000001")),
    )
    .await;
    let b = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &[
            ("authorization", agent_auth.as_str()),
            ("idempotency-key", key),
        ],
        Some(customer_body("B", "13800000002")),
    )
    .await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(a.body["id"], b.body["id"]);

    // A refused request changed nothing and is not remembered: the corrected retry runs.
    let headers = [
        ("authorization", admin_auth.as_str()),
        ("idempotency-key", "fix-me"),
    ];
    let refused = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(json!({"name": "", "contacts": [], "source": "online"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fixed = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(customer_body("C", "13800000003")),
    )
    .await;
    assert_eq!(fixed.status, StatusCode::CREATED);
    assert!(fixed.header("idempotent-replayed").is_none());

    // An expired key is forgotten.
    app.sql("UPDATE idempotency_keys SET expires_at = '2000-01-01 00:00:00'");
    let after_expiry = send(
        &app,
        Method::POST,
        "/api/v1/customers",
        &headers,
        Some(customer_body("D", "13800000004")),
    )
    .await;
    assert_eq!(after_expiry.status, StatusCode::CREATED);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers"), 4);
}

/// The purge runs in the housekeeping loop, apart from the webhook worker (tests run with
/// the worker off, as a replica with `WEBHOOK_WORKER=false` would).
async fn housekeeping_purges_expired_idempotency_keys_only(app: TestApp) {
    let (_, admin) = app.admin().await;
    let auth = format!("Bearer {admin}");
    for (key, phone) in [
        ("key-to-expire", "13800138000"),
        ("key-to-keep", "13900139000"),
    ] {
        let headers = [("authorization", auth.as_str()), ("idempotency-key", key)];
        let body = customer_body("李娜", phone);
        let created = send(
            &app,
            Method::POST,
            "/api/v1/customers",
            &headers,
            Some(body),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM idempotency_keys"), 2);
    {
        use diesel::RunQueryDsl;
        let mut conn = app.state.db.conn().unwrap();
        diesel::sql_query(
            "UPDATE idempotency_keys SET expires_at = created_at WHERE idempotency_key = 'key-to-expire'",
        )
        .execute(&mut *conn)
        .unwrap();
    }
    aftercare::housekeeping::run_once(
        &app.state.db,
        &app.state.settings.login_throttle,
        &app.state.settings.retention,
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM idempotency_keys"), 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM idempotency_keys WHERE idempotency_key = 'key-to-keep'"
        ),
        1
    );
}

fn field_names(object: &Value) -> Vec<String> {
    let mut names: Vec<String> = object.as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

/// A write a key can make: method, path, body, the write scope it needs, the read scope
/// that shows the record in the answer, and a text only the full answer contains (`None`:
/// the answer is a report or empty, whatever the scopes).
type KeyWrite = (
    Method,
    String,
    Option<Value>,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// What the customer file holds that a write-only key must never see in an answer.
const PERSONAL: [&str; 6] = [
    "李娜",
    "13800138000",
    "南京西路",
    "1990-05-01",
    "calls after six",
    "lina_wx",
];

/// Every endpoint an API key can write through, with every kind of scope set: a key gets
/// the record back only with the matching read scope; otherwise a receipt (`id`,
/// `outcome`) or a batch report of ids, and never a personal field of the customer.
async fn write_answers_show_no_more_than_the_read_scopes(app: TestApp) {
    let (_, admin) = app.admin().await;
    let lina = app
        .customer(&admin, json!({"name": "李娜", "source": "in_store", "address": "上海市静安区南京西路 1 号",
            "birthday": "1990-05-01", "notes": "prefers calls after six",
            "contacts": [{"kind": "phone", "value": "13800138000"}, {"kind": "wechat", "value": "lina_wx"}]}))
        .await;
    let handles = json!([{"kind": "phone", "value": "13800138000"}]);
    let scope_sets: [&[&str]; 11] = [
        &["customers:write"],
        &["orders:write"],
        &["tickets:write"],
        &[
            "customers:write",
            "orders:write",
            "tickets:write",
            "stats:read",
        ],
        &[
            "customers:write",
            "orders:write",
            "tickets:write",
            "tickets:read",
        ],
        &[
            "customers:write",
            "orders:write",
            "tickets:write",
            "customers:read",
        ],
        &["customers:write", "customers:read"],
        &["orders:write", "customers:read"],
        &["tickets:write", "tickets:read"],
        &["customers:read", "tickets:read", "stats:read"],
        &[
            "customers:read",
            "customers:write",
            "orders:write",
            "tickets:read",
            "tickets:write",
            "stats:read",
        ],
    ];
    let mut n = 0;
    for scopes in scope_sets {
        let (_, key) = api_key(&app, &admin, scopes).await;
        let holds = |scope: &str| scopes.contains(&scope);
        n += 1;
        // An order of Lina's for the key to correct and to delete.
        let lina_order = |no: String| {
            let body = json!({"channel": "tmall", "external_order_no": no, "ordered_at": "2026-11-20T00:00:00Z",
                "items": [{"product_name": "Teapot", "quantity": 1, "unit_price_cents": 100}]});
            let path = format!("/api/v1/customers/{lina}/orders");
            let admin = admin.clone();
            let app = &app;
            async move {
                let res = app.post(&path, &admin, body).await;
                assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
                res.body["id"].as_i64().unwrap()
            }
        };
        let to_correct = lina_order(format!("C-{n}")).await;
        let to_delete = lina_order(format!("D-{n}")).await;
        let order = |no: String| {
            json!({"channel": "taobao", "external_order_no": no, "ordered_at": "2026-11-21T00:00:00Z",
            "items": [{"product_name": "Cup", "quantity": 2, "unit_price_cents": 500}]})
        };
        let review = json!({"platform": "taobao", "review_id": format!("R-{n}"), "rating": 2, "customer_contacts": handles});
        let repair = json!({"kind": "repair", "customer_id": lina, "title": "Kettle leaks",
            "details": {"fault": "leaks", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}});
        let calls: Vec<KeyWrite> = vec![
            (
                Method::POST,
                "/api/v1/customers".into(),
                Some(
                    json!({"name": "王伟", "source": "online", "notes": "calls after six too",
                    "contacts": [{"kind": "phone", "value": format!("1390000{n:04}")}]}),
                ),
                "customers:write",
                "customers:read",
                Some("calls after six"),
            ),
            (
                Method::PATCH,
                format!("/api/v1/customers/{lina}"),
                Some(json!({"source": "online"})),
                "customers:write",
                "customers:read",
                Some("李娜"),
            ),
            (
                Method::POST,
                "/api/v1/feeds/customers".into(),
                Some(json!({"name": "李娜", "source": "online", "contacts": handles})),
                "customers:write",
                "customers:read",
                Some("李娜"),
            ),
            (
                Method::POST,
                format!("/api/v1/customers/{lina}/orders"),
                Some(order(format!("N-{n}"))),
                "orders:write",
                "customers:read",
                Some("Cup"),
            ),
            (
                Method::PATCH,
                format!("/api/v1/orders/{to_correct}"),
                Some(json!({"status": "refunded"})),
                "orders:write",
                "customers:read",
                Some("Teapot"),
            ),
            (
                Method::POST,
                "/api/v1/feeds/orders".into(),
                Some(json!({"customer_contacts": handles, "order": order(format!("F-{n}"))})),
                "orders:write",
                "customers:read",
                Some("Cup"),
            ),
            (
                Method::POST,
                "/api/v1/tickets".into(),
                Some(repair),
                "tickets:write",
                "tickets:read",
                Some("Kettle leaks"),
            ),
            (
                Method::POST,
                "/api/v1/feeds/reviews".into(),
                Some(review),
                "tickets:write",
                "tickets:read",
                Some("2-star review"),
            ),
            // Batches and deletions answer ids and counts only, whatever the scopes.
            (
                Method::POST,
                "/api/v1/feeds/customers/batch".into(),
                Some(json!({"items": [{"name": "李娜", "source": "online", "contacts": handles}]})),
                "customers:write",
                "customers:read",
                None,
            ),
            (
                Method::POST,
                "/api/v1/feeds/orders/batch".into(),
                Some(
                    json!({"items": [{"customer_contacts": handles, "order": order(format!("B-{n}"))}]}),
                ),
                "orders:write",
                "customers:read",
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/orders/{to_delete}"),
                None,
                "orders:write",
                "customers:read",
                None,
            ),
        ];
        for (method, path, body, write, read, shown) in calls {
            let res = send(&app, method.clone(), &path, &with_key(&key), body).await;
            let text = String::from_utf8_lossy(&res.raw).into_owned();
            let context = format!("{scopes:?} {method} {path}: {} {text}", res.status);
            if !holds(write) {
                assert_eq!(res.status, StatusCode::FORBIDDEN, "{context}");
                assert_eq!(res.problem_type(), "forbidden");
            } else {
                assert!(res.status.is_success(), "{context}");
                match shown {
                    Some(marker) if holds(read) => {
                        assert!(text.contains(marker), "the full answer: {context}");
                    }
                    Some(_) => {
                        assert_eq!(
                            field_names(&res.body),
                            ["id", "outcome"],
                            "a receipt: {context}"
                        );
                        assert!(res.body["id"].is_i64(), "{context}");
                    }
                    None if method == Method::DELETE => {
                        assert_eq!(res.status, StatusCode::NO_CONTENT, "{context}");
                        assert!(res.raw.is_empty(), "{context}");
                    }
                    None => {
                        let results = res.body["results"].as_array().unwrap();
                        for result in results {
                            assert_eq!(
                                field_names(result),
                                ["error", "id", "index", "outcome"],
                                "{context}"
                            );
                            assert!(result["id"].is_i64(), "{context}");
                        }
                    }
                }
            }
            if !holds("customers:read") {
                for personal in PERSONAL {
                    assert!(!text.contains(personal), "{personal} leaked: {context}");
                }
            }
        }
    }
    // The key's writes all happened: Lina's file is as the last writes left it.
    let file = app.get(&format!("/api/v1/customers/{lina}"), &admin).await;
    assert_eq!(file.body["source"], "online");
    assert_eq!(file.body["address"], "上海市静安区南京西路 1 号");
}

/// A handle on file is a 409 for everyone, but only a caller that may read customers learns
/// whose it is: a write-only key could otherwise map phone numbers to customer ids one
/// conflict at a time.
async fn conflicts_name_no_customer_to_write_only_keys(app: TestApp) {
    let (_, admin) = app.admin().await;
    let owner = app
        .customer(&admin, customer_body("李娜", "13800138000"))
        .await;
    let other = app
        .customer(&admin, customer_body("王小姐", "13900139000"))
        .await;
    let (_, writer) = api_key(&app, &admin, &["customers:write"]).await;
    let (_, reader) = api_key(&app, &admin, &["customers:write", "customers:read"]).await;
    let both = json!({"name": "张三", "contacts": [
        {"kind": "phone", "value": "13800138000"}, {"kind": "phone", "value": "13900139000"}
    ], "source": "online"});
    let steal = json!({"contacts": [{"kind": "phone", "value": "13800138000"}]});
    for (token, sees) in [(&writer, false), (&reader, true)] {
        let answers = [
            post_with_key(&app, token, "/api/v1/customers", both.clone()).await,
            post_with_key(&app, token, "/api/v1/feeds/customers", both.clone()).await,
            app.send(
                test::TestRequest::patch()
                    .uri(&format!("/api/v1/customers/{other}"))
                    .insert_header(("X-API-Key", token.as_str()))
                    .set_json(steal.clone()),
            )
            .await,
        ];
        for answer in answers {
            assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
            assert_eq!(answer.problem_type(), "duplicate-contact");
            let text = answer.body.to_string();
            assert!(
                !text.contains(&format!(": {owner}"))
                    && !text.contains(&format!("customer {owner}")),
                "the sentence names the owner: {text}"
            );
            let named = answer.body.get("existing_customer_id").is_some()
                || answer.body.get("existing_customer_ids").is_some();
            assert_eq!(named, sees, "sees={sees}: {text}");
            if sees && let Some(id) = answer.body.get("existing_customer_id") {
                assert_eq!(id, owner);
            }
        }
    }
}
