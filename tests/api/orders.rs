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
    order_amounts_are_capped_on_every_path,
    orders_from_the_future_are_refused_on_every_path,
    reviews_and_orders_share_one_channel_vocabulary,
);

/// A Douyin review can name the Douyin order it is about: orders and reviews take the same
/// channels, every one of them storable.
async fn reviews_and_orders_share_one_channel_vocabulary(app: TestApp) {
    let (_, admin) = app.admin().await;
    let customer = new_customer(&app, &admin).await;
    let items = json!([{"product_name": "面霜", "quantity": 1, "unit_price_cents": 12800}]);
    let path = format!("/api/v1/customers/{customer}/orders");
    for (n, channel) in [
        "taobao",
        "tmall",
        "jd",
        "pinduoduo",
        "douyin",
        "kuaishou",
        "xiaohongshu",
        "dianping",
        "wechat",
        "store",
        "other",
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = order(
            &format!("DY-{n}"),
            "2026-11-20T10:00:00+08:00",
            "paid",
            items.clone(),
        );
        body["channel"] = json!(channel);
        let created = app.post(&path, &admin, body).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{channel}: {:?}",
            created.body
        );
        assert_eq!(created.body["channel"], channel);
    }
    let review = app
        .post(
            "/api/v1/feeds/reviews",
            &admin,
            json!({"platform": "douyin", "review_id": "DY-R-1", "rating": 2, "review_text": "包装破了",
                   "customer_contacts": [{"kind": "phone", "value": "13800138000"}],
                   "order": {"channel": "douyin", "external_order_no": "DY-4"}}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{:?}", review.body);
    let ticket = review.body["ticket"]["id"]
        .as_i64()
        .or_else(|| review.body["id"].as_i64())
        .unwrap();
    let view = app.get(&format!("/api/v1/tickets/{ticket}"), &admin).await;
    assert_eq!(
        view.body["details"]["platform"], "douyin",
        "{:?}",
        view.body
    );
    assert!(
        view.body["order_id"].is_i64(),
        "the review is linked to its order: {:?}",
        view.body
    );
    let refused = app
        .post(&path, &admin, json!({"channel": "amazon", "external_order_no": "X", "items": items, "ordered_at": "2026-11-20T10:00:00Z"}))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_fields(), ["channel"]);
}

/// An order more than ten minutes ahead of the server's clock is a mistake (a wrong year or
/// offset) that would keep its buyer "recent" for years: refused on every way in.
async fn orders_from_the_future_are_refused_on_every_path(app: TestApp) {
    let (_, admin) = app.admin().await;
    let customer = new_customer(&app, &admin).await;
    let items = json!([{"product_name": "Teapot", "quantity": 1, "unit_price_cents": 12800}]);
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let path = format!("/api/v1/customers/{customer}/orders");
    // Clock drift of a few minutes is fine.
    let drifted = app
        .post(&path, &admin, order("A-1", &soon, "paid", items.clone()))
        .await;
    assert_eq!(drifted.status, StatusCode::CREATED, "{:?}", drifted.body);
    let order_id = drifted.body["id"].as_i64().unwrap();
    let contacts = json!([{"kind": "phone", "value": "13800138000"}]);
    for at in [later.as_str(), "2036-01-01T00:00:00+08:00"] {
        let cases = [
            (app.post(&path, &admin, order("A-2", at, "paid", items.clone())).await, "ordered_at"),
            (
                app.patch(&format!("/api/v1/orders/{order_id}"), &admin, json!({"ordered_at": at}))
                    .await,
                "ordered_at",
            ),
            (
                app.post(
                    "/api/v1/feeds/orders",
                    &admin,
                    json!({"customer_contacts": contacts, "order": order("A-3", at, "paid", items.clone())}),
                )
                .await,
                "order.ordered_at",
            ),
        ];
        for (res, field) in cases {
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{at}: {:?}",
                res.body
            );
            assert_eq!(res.error_fields(), [field], "{at}");
            let message = res.body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains("future"), "{message}");
        }
        let batch = app
            .post(
                "/api/v1/feeds/orders/batch",
                &admin,
                json!({"items": [{"customer_contacts": contacts, "order": order("A-4", at, "paid", items.clone())}]}),
            )
            .await;
        assert_eq!(batch.status, StatusCode::OK, "{:?}", batch.body);
        assert_eq!(batch.body["failed"], 1, "{:?}", batch.body);
        let csv = format!(
            "channel,order_no,ordered_at,product,unit_price,customer_phone\ntaobao,A-5,{at},Teapot,128.00,13800138000\n"
        );
        let imported = app
            .post_csv("/api/v1/customers/import?file=orders", &admin, csv)
            .await;
        assert_eq!(imported.status, StatusCode::OK, "{:?}", imported.body);
        assert_eq!(imported.body["failed"], 1, "{:?}", imported.body);
        assert_eq!(
            imported.body["errors"][0]["column"], "ordered_at",
            "{:?}",
            imported.body
        );
    }
    let listed = app.get(&path, &admin).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{:?}",
        listed.body
    );
}

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

/// Quantities, unit prices and totals (given or computed from the items) are capped
/// wherever an order comes in or changes: the API, the order feed, the CSV import. The
/// widest order the single-field caps let through before, 200 items × 100,000 × ¥1e9, is
/// 2e18 cents; five of those overflow any sum over them.
async fn order_amounts_are_capped_on_every_path(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let id = new_customer(&app, &lead).await;
    let path = format!("/api/v1/customers/{id}/orders");
    let gold = json!({"product_name": "Gold", "quantity": 100_000, "unit_price_cents": 100_000_000_000_i64});
    let tea = json!({"product_name": "Tea", "quantity": 1, "unit_price_cents": 100});
    let widest = vec![gold.clone(); 200];
    let mut third_too_many = vec![tea.clone(); 4];
    third_too_many[3] = json!({"product_name": "Tea", "quantity": 100_001, "unit_price_cents": 1});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            order("1", "2026-01-01T00:00:00Z", "paid", json!(widest)),
            vec!["items"],
        ),
        (
            order("1", "2026-01-01T00:00:00Z", "paid", json!(third_too_many)),
            vec!["items[3].quantity"],
        ),
        (
            order(
                "1",
                "2026-01-01T00:00:00Z",
                "paid",
                json!([tea, {"product_name": "Tea", "quantity": 1, "unit_price_cents": 100_000_000_001_i64}]),
            ),
            vec!["items[1].unit_price_cents"],
        ),
        (
            json!({"channel": "taobao", "external_order_no": "1", "items": [tea], "total_cents": 100_000_000_000_001_i64, "ordered_at": "2026-01-01T00:00:00Z"}),
            vec!["total_cents"],
        ),
        (
            order(
                "1",
                "2026-01-01T00:00:00Z",
                "paid",
                json!(vec![tea.clone(); 201]),
            ),
            vec!["items"],
        ),
    ];
    for (body, fields) in &cases {
        let res = app.post(&path, &lead, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            res.body
        );
        assert_eq!(res.problem_type(), "validation");
        assert_eq!(&res.error_fields(), fields, "{:?}", res.body);
        let feed = app
            .post("/api/v1/feeds/orders", &lead, json!({"customer_contacts": [{"kind": "phone", "value": "13800138000"}], "order": body}))
            .await;
        assert_eq!(
            feed.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            feed.body
        );
        let prefixed: Vec<String> = fields.iter().map(|f| format!("order.{f}")).collect();
        assert_eq!(feed.error_fields(), prefixed);
    }
    // The most one order may total is accepted, given or computed.
    let at_cap = app
        .post(&path, &lead, order("CAP", "2026-01-01T00:00:00Z", "paid",
            json!([{"product_name": "Gold", "quantity": 1000, "unit_price_cents": 100_000_000_000_i64}])))
        .await;
    assert_eq!(at_cap.status, StatusCode::CREATED, "{:?}", at_cap.body);
    assert_eq!(at_cap.body["total_cents"], 100_000_000_000_000_i64);
    let given = app
        .post(
            &path,
            &lead,
            json!({"channel": "tmall", "external_order_no": "GIVEN", "items": widest,
            "total_cents": 100_000_000_000_000_i64, "ordered_at": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(given.status, StatusCode::CREATED, "{:?}", given.body);

    // Corrections are held to the same caps.
    let order_id = at_cap.body["id"].as_i64().unwrap();
    let order_path = format!("/api/v1/orders/{order_id}");
    for (change, field) in [
        (json!({"items": [gold, gold]}), "items"),
        (
            json!({"items": [{"product_name": "Tea", "quantity": 0, "unit_price_cents": 1}]}),
            "items[0].quantity",
        ),
        (json!({"items": []}), "items"),
        (json!({"total_cents": -1}), "total_cents"),
        (
            json!({"total_cents": 100_000_000_000_001_i64}),
            "total_cents",
        ),
    ] {
        let res = app.patch(&order_path, &lead, change.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {:?}",
            res.body
        );
        assert_eq!(res.error_fields(), [field], "{change}");
    }
    let unchanged = app.get(&order_path, &lead).await;
    assert_eq!(unchanged.body["total_cents"], 100_000_000_000_000_i64);

    // The CSV import: rows of one order add up past the cap; a row over a single cap.
    let csv = "channel,order_no,ordered_at,product,quantity,unit_price,customer_phone\n\
               taobao,CSV-1,2026-01-01 10:00,Gold,100000,1000000000.00,13800138000\n\
               taobao,CSV-1,2026-01-01 10:00,Gold,100000,1000000000.00,13800138000\n\
               taobao,CSV-2,2026-01-01 10:00,Tea,100001,1.00,13800138000\n\
               taobao,CSV-3,2026-01-01 10:00,Tea,1,1.00,13800138000\n";
    let import = app
        .post_csv("/api/v1/customers/import?file=orders", &lead, csv)
        .await;
    assert_eq!(import.status, StatusCode::OK, "{:?}", import.body);
    assert_eq!(import.body["created"], 1, "{:?}", import.body);
    // Rows not imported: both rows of CSV-1 and the row of CSV-2.
    assert_eq!(import.body["failed"], 3, "{:?}", import.body);
    let messages: Vec<&str> = import.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("items:"), "{messages:?}");
    assert!(
        messages[1].starts_with("items[0].quantity:"),
        "{messages:?}"
    );
    let list = app.get(&path, &lead).await;
    assert_eq!(list.body["total"], 3, "CAP, GIVEN and CSV-3 only");
}
