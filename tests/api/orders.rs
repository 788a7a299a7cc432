//! Purchase history and the order summary it keeps current.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    orders_update_the_customer_summary,
    order_numbers_are_unique_per_channel,
    bad_order_input_names_each_field,
    orders_page_newest_first,
);

fn order(no: &str, at: &str, status: &str, items: Value) -> Value {
    json!({"channel": "taobao", "external_order_no": no, "status": status, "items": items, "ordered_at": at})
}

async fn new_customer(app: &TestApp, token: &str) -> i64 {
    app.customer(token, json!({"name": "Buyer", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await
}

async fn orders_update_the_customer_summary(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let id = new_customer(&app, &agent).await;
    let path = format!("/api/v1/customers/{id}/orders");
    let first = app
        .post(
            &path,
            &agent,
            order(
                "A1",
                "2026-01-05T10:00:00+08:00",
                "paid",
                json!([{"product_name": "茶壶", "sku": "TP-600", "quantity": 3, "unit_price_cents": 1999}, {"product_name": "Cup", "quantity": 1, "unit_price_cents": 1}]),
            ),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(
        first.body["total_cents"], 5998,
        "total defaults to the items' sum"
    );
    assert_eq!(first.body["ordered_at"], "2026-01-05T02:00:00Z");
    let order_id = first.body["id"].as_i64().unwrap();
    let with_total = app
        .post(&path, &agent, json!({"channel": "wechat", "external_order_no": "A1", "items": [{"product_name": "Tea", "quantity": 1, "unit_price_cents": 5000}], "total_cents": 4500, "ordered_at": "2026-03-01T00:00:00Z"}))
        .await;
    assert_eq!(with_total.body["total_cents"], 4500);
    app.post(
        &path,
        &agent,
        order(
            "A2",
            "2025-06-01T00:00:00Z",
            "refunded",
            json!([{"product_name": "Tea", "quantity": 1, "unit_price_cents": 90000}]),
        ),
    )
    .await;
    let summary = app
        .get(&format!("/api/v1/customers/{id}"), &agent)
        .await
        .body["orders"]
        .clone();
    assert_eq!(
        summary,
        json!({"count": 2, "total_spent_cents": 10498, "first_order_at": "2026-01-05T02:00:00Z", "last_order_at": "2026-03-01T00:00:00Z"})
    );

    let refunded = app
        .patch(
            &format!("/api/v1/orders/{order_id}"),
            &agent,
            json!({"status": "refunded"}),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::OK);
    assert_eq!(refunded.body["status"], "refunded");
    let summary = app
        .get(&format!("/api/v1/customers/{id}"), &agent)
        .await
        .body["orders"]
        .clone();
    assert_eq!(summary["count"], 1);
    assert_eq!(summary["total_spent_cents"], 4500);

    let wid = with_total.body["id"].as_i64().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/orders/{wid}"), &agent)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let summary = app
        .get(&format!("/api/v1/customers/{id}"), &agent)
        .await
        .body["orders"]
        .clone();
    assert_eq!(
        summary,
        json!({"count": 0, "total_spent_cents": 0, "first_order_at": null, "last_order_at": null})
    );
    assert_eq!(
        app.get(&format!("/api/v1/orders/{wid}"), &agent)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // An order a ticket is about cannot vanish under the ticket; the answer says which.
    let ticket = app
        .post("/api/v1/tickets", &agent, json!({"kind": "return", "customer_id": id, "order_id": order_id, "title": "too small",
               "details": {"reason": "too small", "items": [{"product_name": "Shoes", "quantity": 1}]}}))
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let held = app
        .delete(&format!("/api/v1/orders/{order_id}"), &agent)
        .await;
    assert_eq!(held.status, StatusCode::CONFLICT);
    assert_eq!(held.problem_type(), "reference");
    assert_eq!(held.body["ticket_ids"], json!([ticket.body["id"]]));
    assert!(
        held.body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("ticket {}", ticket.body["id"])),
        "{:?}",
        held.body
    );
    let got = app.get(&format!("/api/v1/orders/{order_id}"), &agent).await;
    assert_eq!(got.body["items"][0]["product_name"], "茶壶");
}

async fn order_numbers_are_unique_per_channel(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let id = new_customer(&app, &agent).await;
    let path = format!("/api/v1/customers/{id}/orders");
    let items = json!([{"product_name": "Tea", "quantity": 1, "unit_price_cents": 100}]);
    let body = order("X-1", "2026-01-01T00:00:00Z", "paid", items.clone());
    assert_eq!(
        app.post(&path, &agent, body.clone()).await.status,
        StatusCode::CREATED
    );
    let dup = app.post(&path, &agent, body).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem_type(), "duplicate");
    let other_channel = json!({"channel": "store", "external_order_no": "X-1", "items": items, "ordered_at": "2026-01-01T00:00:00Z"});
    assert_eq!(
        app.post(&path, &agent, other_channel).await.status,
        StatusCode::CREATED
    );
    let missing_customer = app
        .post(
            "/api/v1/customers/999999/orders",
            &agent,
            order(
                "Y",
                "2026-01-01T00:00:00Z",
                "paid",
                json!([{"product_name": "T", "quantity": 1, "unit_price_cents": 1}]),
            ),
        )
        .await;
    assert_eq!(missing_customer.status, StatusCode::NOT_FOUND);
}

async fn bad_order_input_names_each_field(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let id = new_customer(&app, &agent).await;
    let path = format!("/api/v1/customers/{id}/orders");
    let item = json!({"product_name": "Tea", "quantity": 1, "unit_price_cents": 100});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"channel": "ebay", "external_order_no": "1", "items": [item], "ordered_at": "2026-01-01T00:00:00Z"}),
            "channel",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "", "items": [item], "ordered_at": "2026-01-01T00:00:00Z"}),
            "external_order_no",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [], "ordered_at": "2026-01-01T00:00:00Z"}),
            "items",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [{"product_name": "Tea", "quantity": 0, "unit_price_cents": 100}], "ordered_at": "2026-01-01T00:00:00Z"}),
            "items[0].quantity",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [{"product_name": "Tea", "quantity": 1, "unit_price_cents": -5}], "ordered_at": "2026-01-01T00:00:00Z"}),
            "items[0].unit_price_cents",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [{"product_name": "Tea", "quantity": 1, "unit_price_cents": 12.5}], "ordered_at": "2026-01-01T00:00:00Z"}),
            "items[0].unit_price_cents",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [item], "total_cents": -1, "ordered_at": "2026-01-01T00:00:00Z"}),
            "total_cents",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [item], "ordered_at": "yesterday"}),
            "ordered_at",
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [item], "ordered_at": "2026-01-01T00:00:00Z", "discount": 5}),
            "discount",
        ),
    ];
    for (body, field) in cases {
        let res = app.post(&path, &agent, body.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(res.error_fields(), [field], "{body}: {:?}", res.body);
    }
    let list = app.get(&path, &agent).await;
    assert_eq!(list.body["total"], 0, "nothing written");
}

async fn orders_page_newest_first(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let id = new_customer(&app, &agent).await;
    let path = format!("/api/v1/customers/{id}/orders");
    for (no, day) in [("a", 3), ("b", 1), ("c", 2), ("d", 2)] {
        let body = order(
            no,
            &format!("2026-02-0{day}T00:00:00Z"),
            "paid",
            json!([{"product_name": "T", "quantity": 1, "unit_price_cents": 1}]),
        );
        assert_eq!(
            app.post(&path, &agent, body).await.status,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut next = format!("{path}?limit=3");
    loop {
        let page = app.get(&next, &agent).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        assert_eq!(page.body["total"], 4);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["external_order_no"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "d", "c", "b"]);
}
