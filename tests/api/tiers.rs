//! Value tiers: kept current by each trigger, recomputed in full, used by tickets and lists.

use actix_web::http::{Method, StatusCode};
use aftercare::auth::roles::Role;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    every_trigger_moves_the_tier_and_records_why,
    full_recompute_ranks_the_shop_and_follows_time,
    key_and_at_risk_customers_go_first,
    orders_stored_past_a_bigint_break_no_later_write,
    rfm_segments_are_scored_filtered_and_reported,
    parallel_batches_agree_with_one_customer_at_a_time,
);

async fn buyer(app: &TestApp, token: &str, name: &str, phone: &str) -> i64 {
    app.customer(
        token,
        json!({"name": name, "contacts": [{"kind": "phone", "value": phone}], "source": "online"}),
    )
    .await
}

async fn order(
    app: &TestApp,
    token: &str,
    customer: i64,
    no: &str,
    cents: i64,
    days_ago: i64,
) -> i64 {
    let at = Utc::now() - Duration::days(days_ago);
    let res = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            token,
            json!({"channel": "taobao", "external_order_no": no, "items": [{"product_name": "Tea", "quantity": 1, "unit_price_cents": cents}], "ordered_at": at}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    res.body["id"].as_i64().unwrap()
}

async fn standing(app: &TestApp, token: &str, customer: i64) -> Value {
    app.get(&format!("/api/v1/customers/{customer}"), token)
        .await
        .body["standing"]
        .clone()
}

fn codes(standing: &Value) -> Vec<String> {
    standing["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_trigger_moves_the_tier_and_records_why(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let c = buyer(&app, &lead, "李娜", "13800138000").await;
    let s = standing(&app, &lead, c).await;
    assert_eq!(
        (
            s["tier"].as_str(),
            s["stage"].as_str(),
            s["at_risk"].as_bool()
        ),
        (Some("small"), Some("potential"), Some(false))
    );
    assert!(codes(&s).contains(&"never_bought".to_owned()));

    // An order: the only buyer is the shop's top spender.
    let first_order = order(&app, &lead, c, "A1", 50_000, 3).await;
    let s = standing(&app, &lead, c).await;
    assert_eq!(
        (s["tier"].as_str(), s["stage"].as_str()),
        (Some("key"), Some("new"))
    );
    assert!(codes(&s).contains(&"top_spend".to_owned()));

    // A negative review opened, resolved unhappily: at risk, with the ticket named.
    let ticket = app
        .post("/api/v1/tickets", &lead, json!({"kind": "negative_review", "customer_id": c, "title": "1 star", "details": {"platform": "taobao", "rating": 1}}))
        .await;
    let tid = ticket.body["id"].as_i64().unwrap();
    let s = standing(&app, &lead, c).await;
    assert_eq!(
        s["at_risk"], true,
        "an open negative review puts a key customer at risk"
    );
    app.post(
        &format!("/api/v1/tickets/{tid}/contacts"),
        &lead,
        json!({"channel": "phone", "reached": true}),
    )
    .await;
    app.post(
        &format!("/api/v1/tickets/{tid}/resolve"),
        &lead,
        json!({"outcome": "review_kept_customer_satisfied"}),
    )
    .await;
    assert_eq!(
        standing(&app, &lead, c).await["at_risk"],
        false,
        "resolved and no bad score"
    );
    app.put(
        &format!("/api/v1/tickets/{tid}/satisfaction"),
        &lead,
        json!({"score": 1}),
    )
    .await;
    let s = standing(&app, &lead, c).await;
    assert_eq!(s["at_risk"], true);
    let detail = format!("satisfaction 1/5 on ticket {tid}");
    assert!(
        s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["detail"] == detail.as_str()),
        "{s}"
    );

    // A corrected score lifts it; an unresolved closure on another ticket brings it back.
    app.put(
        &format!("/api/v1/tickets/{tid}/satisfaction"),
        &lead,
        json!({"score": 4}),
    )
    .await;
    assert_eq!(standing(&app, &lead, c).await["at_risk"], false);
    let repair = app
        .post("/api/v1/tickets", &lead, json!({"kind": "repair", "customer_id": c, "title": "r", "details": {"fault": "f", "items": [{"product_name": "p", "quantity": 1}], "under_warranty": true}}))
        .await;
    let rid = repair.body["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/tickets/{rid}/close"),
        &lead,
        json!({"reason": "unreachable"}),
    )
    .await;
    let s = standing(&app, &lead, c).await;
    assert_eq!(s["at_risk"], true);
    assert!(codes(&s).contains(&"unresolved".to_owned()));

    // Refunding the only order leaves a customer who never really bought.
    app.patch(
        &format!("/api/v1/orders/{first_order}"),
        &lead,
        json!({"status": "refunded"}),
    )
    .await;
    let s = standing(&app, &lead, c).await;
    assert_eq!(
        (
            s["tier"].as_str(),
            s["stage"].as_str(),
            s["at_risk"].as_bool()
        ),
        (Some("small"), Some("potential"), Some(false))
    );

    // Every move is on record, newest first, with its cause.
    let file = app.get(&format!("/api/v1/customers/{c}"), &lead).await;
    let causes: Vec<&str> = file.body["tier_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["cause"].as_str().unwrap())
        .collect();
    assert_eq!(
        causes,
        [
            "order",
            "ticket",
            "satisfaction",
            "satisfaction",
            "ticket",
            "ticket",
            "order"
        ]
    );
    let changes = app
        .get(
            &format!("/api/v1/tiers/changes?customer_id={c}&limit=2"),
            &lead,
        )
        .await;
    assert_eq!(changes.status, StatusCode::OK);
    assert_eq!(changes.body["items"][0]["to"]["tier"], "small");
    assert_eq!(changes.body["items"][0]["from"]["tier"], "key");
    assert!(changes.body["next_cursor"].is_string());
    // The side left is recorded as fully as the side reached: it is the previous change's
    // `to`, with its reasons and time.
    let (newest, previous) = (&changes.body["items"][0], &changes.body["items"][1]);
    assert_eq!(newest["from"]["reasons"], previous["to"]["reasons"]);
    assert!(!newest["from"]["reasons"].as_array().unwrap().is_empty());
    assert_eq!(newest["from"]["computed_at"], previous["to"]["computed_at"]);
    assert!(newest["from"]["computed_at"].is_string());
}

async fn full_recompute_ranks_the_shop_and_follows_time(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    // Eleven customers: seven ordinary buyers, two big spenders, one who buys small and
    // often, and one whose only order is long gone.
    let mut ordinary = Vec::new();
    for i in 0..7 {
        let c = buyer(
            &app,
            &lead,
            &format!("Ordinary {i}"),
            &format!("1380000000{i}"),
        )
        .await;
        order(&app, &lead, c, &format!("O{i}"), 20_000 + i * 1_000, 10).await;
        ordinary.push(c);
    }
    let big = buyer(&app, &lead, "Big spender", "13900000001").await;
    order(&app, &lead, big, "B1", 500_000, 5).await;
    order(&app, &lead, big, "B2", 400_000, 50).await;
    let second_big = buyer(&app, &lead, "Second big spender", "13900000004").await;
    order(&app, &lead, second_big, "S1", 600_000, 15).await;
    let frequent = buyer(&app, &lead, "Frequent", "13900000002").await;
    for i in 0..12 {
        order(&app, &lead, frequent, &format!("F{i}"), 1_000, 3 + i * 7).await;
    }
    let gone = buyer(&app, &lead, "Gone", "13900000003").await;
    order(&app, &lead, gone, "G1", 30_000, 20).await;
    // Time passes for the last one: their order moves two years back.
    let two_years_ago = (Utc::now() - Duration::days(730)).format("%Y-%m-%d %H:%M:%S");
    app.sql(&format!(
        "UPDATE orders SET ordered_at = '{two_years_ago}' WHERE customer_id = {gone}"
    ));

    assert_eq!(
        app.call(Method::POST, "/api/v1/tiers/recompute", Some(&agent), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let report = app
        .call(Method::POST, "/api/v1/tiers/recompute", Some(&lead), None)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["customers"], 11);
    // 10 buyers in the last 12 months; the top 20% is 2 of them on each measure.
    assert_eq!(report.body["key_spend_cents"], 600_000);
    assert_eq!(
        report.body["key_order_count"], 2,
        "second-most orders: the big spender's 2"
    );
    assert_eq!(standing(&app, &lead, second_big).await["tier"], "key");
    let big_s = standing(&app, &lead, big).await;
    assert_eq!(big_s["tier"], "key");
    assert!(codes(&big_s).contains(&"top_spend".to_owned()));
    let frequent_s = standing(&app, &lead, frequent).await;
    assert_eq!(
        frequent_s["tier"], "key",
        "thirty-cheap-orders rule: frequency alone makes key"
    );
    assert!(codes(&frequent_s).contains(&"top_frequency".to_owned()));
    assert_eq!(frequent_s["stage"], "loyal");
    for c in &ordinary {
        assert_eq!(standing(&app, &lead, *c).await["tier"], "regular");
    }
    let gone_s = standing(&app, &lead, gone).await;
    assert_eq!(
        (gone_s["tier"].as_str(), gone_s["stage"].as_str()),
        (Some("small"), Some("dormant"))
    );

    let list = |q: &str| format!("/api/v1/customers?{q}&with_total=true");
    assert_eq!(app.get(&list("tier=key"), &agent).await.body["total"], 3);
    assert_eq!(
        app.get(&list("stage=dormant"), &agent).await.body["total"],
        1
    );
    assert_eq!(
        app.get(&list("tier=regular&stage=new"), &agent).await.body["total"],
        7
    );
    assert_eq!(
        app.get(&list("at_risk=true"), &agent).await.body["total"],
        0
    );
    assert_eq!(
        app.get(&list("tier=vip"), &agent).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let again = app
        .call(Method::POST, "/api/v1/tiers/recompute", Some(&lead), None)
        .await;
    assert_eq!(again.body["changed"], 0, "a second run changes nothing");
}

async fn key_and_at_risk_customers_go_first(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let key = buyer(&app, &lead, "Key", "13800000001").await;
    order(&app, &lead, key, "K1", 900_000, 2).await;
    let plain = buyer(&app, &lead, "Plain", "13800000002").await;
    let review = |customer: i64| json!({"kind": "negative_review", "customer_id": customer, "title": "bad", "details": {"platform": "jd", "rating": 2}});
    let for_key = app.post("/api/v1/tickets", &lead, review(key)).await;
    let for_plain = app.post("/api/v1/tickets", &lead, review(plain)).await;
    let due = |t: &Value| {
        let created: DateTime<Utc> = t["created_at"].as_str().unwrap().parse().unwrap();
        let due: DateTime<Utc> = t["first_call_due_at"].as_str().unwrap().parse().unwrap();
        due - created
    };
    assert_eq!(
        due(&for_key.body),
        Duration::hours(1),
        "half the 2 h for a key customer"
    );
    assert_eq!(for_key.body["priority"], "urgent");
    assert_eq!(due(&for_plain.body), Duration::hours(2));
    assert_eq!(for_plain.body["priority"], "high");
    let queue = app.get("/api/v1/tickets?sort=due", &lead).await;
    assert_eq!(queue.body["items"][0]["id"], for_key.body["id"]);
}

/// Before totals were capped, one order could hold 200 items × 100,000 × ¥1e9 = 2e18
/// cents, and five of them overflow a BIGINT sum ("integer overflow" on SQLite, "bigint
/// out of range" on PostgreSQL): tier recomputation answered 500, and once the cached
/// thresholds expired so did every order and ticket write of the shop. The API now
/// refuses such orders, so they are written here as they could have been stored then.
async fn orders_stored_past_a_bigint_break_no_later_write(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let whale = buyer(&app, &lead, "Whale", "13900000001").await;
    let ordinary = buyer(&app, &lead, "Ordinary", "13900000002").await;
    let other = buyer(&app, &lead, "Other", "13900000003").await;
    order(&app, &lead, ordinary, "O1", 20_000, 3).await;
    order(&app, &lead, other, "P1", 30_000, 4).await;
    let widest = json!({"channel": "taobao", "external_order_no": "W-0", "ordered_at": Utc::now(),
        "items": vec![json!({"product_name": "Gold", "quantity": 100_000, "unit_price_cents": 100_000_000_000_i64}); 200]});
    let refused = app
        .post(&format!("/api/v1/customers/{whale}/orders"), &lead, widest)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_fields(), ["items"]);

    let yesterday = (Utc::now() - Duration::days(1)).format("%Y-%m-%d %H:%M:%S");
    let mut sql = String::new();
    for n in 1..=5 {
        sql.push_str(&format!(
            "INSERT INTO orders (shop_id, customer_id, channel, external_order_no, status, total_cents, ordered_at, created_at, updated_at) \
             VALUES (1, {whale}, 'taobao', 'W-{n}', 'paid', 2000000000000000000, '{yesterday}', '{yesterday}', '{yesterday}');\n"
        ));
    }
    for _ in 0..200 {
        sql.push_str(
            "INSERT INTO order_items (order_id, product_name, quantity, unit_price_cents) \
             SELECT id, 'Gold', 100000, 100000000000 FROM orders WHERE external_order_no LIKE 'W-%';\n",
        );
    }
    // The cached key thresholds expire: the next write computes them again.
    sql.push_str("UPDATE tier_thresholds SET computed_at = '2000-01-01 00:00:00';");
    app.sql(&sql);

    // Order and ticket writes of the shop, and the whale's own, go on.
    order(&app, &lead, ordinary, "O2", 10_000, 1).await;
    let repair = json!({"kind": "repair", "customer_id": other, "title": "Kettle leaks",
        "details": {"fault": "leaks", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}});
    let ticket = app.post("/api/v1/tickets", &lead, repair.clone()).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let whale_order = app
        .get(&format!("/api/v1/customers/{whale}/orders?limit=1"), &lead)
        .await;
    assert_eq!(whale_order.status, StatusCode::OK, "{:?}", whale_order.body);
    let whale_order = whale_order.body["items"][0]["id"].as_i64().unwrap();
    let refund = app
        .patch(
            &format!("/api/v1/orders/{whale_order}"),
            &lead,
            json!({"status": "partially_refunded"}),
        )
        .await;
    assert_eq!(refund.status, StatusCode::OK, "{:?}", refund.body);
    let file = app.get(&format!("/api/v1/customers/{whale}"), &lead).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        file.body["orders"]["total_spent_cents"],
        i64::MAX,
        "the summary saturates"
    );

    // A full recomputation ranks the whale first, at the clamped spend.
    let report = app
        .call(Method::POST, "/api/v1/tiers/recompute", Some(&lead), None)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["key_spend_cents"], i64::MAX);
    assert_eq!(standing(&app, &lead, whale).await["tier"], "key");
    // Thresholds at the clamp still serve: writes after the recomputation go on too.
    order(&app, &lead, other, "P2", 5_000, 1).await;
    app.sql("UPDATE tier_thresholds SET computed_at = '2000-01-01 00:00:00';");
    let second = app.post("/api/v1/tickets", &lead, repair).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    for path in [
        "/api/v1/stats/tickets",
        "/api/v1/stats/backlog",
        "/api/v1/reminders",
        "/api/v1/customers?sort=newest&with_total=true",
        "/api/v1/customers/export",
        "/api/v1/tiers/changes",
    ] {
        let res = app.get(path, &lead).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {:?}", res.body);
    }
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page:?}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn rfm(app: &TestApp, token: &str, customer: i64) -> Value {
    app.get(&format!("/api/v1/customers/{customer}"), token)
        .await
        .body["rfm"]
        .clone()
}

async fn rfm_segments_are_scored_filtered_and_reported(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    // Five buyers from best to worst on every measure, and one who never bought.
    let best = buyer(&app, &lead, "Best", "13800000001").await;
    for i in 0..5 {
        order(&app, &lead, best, &format!("A{i}"), 50_000, 1 + i).await;
    }
    let second = buyer(&app, &lead, "Second", "13800000002").await;
    for i in 0..3 {
        order(&app, &lead, second, &format!("B{i}"), 20_000, 20 + i).await;
    }
    let third = buyer(&app, &lead, "Third", "13800000003").await;
    for i in 0..2 {
        order(&app, &lead, third, &format!("C{i}"), 10_000, 60 + i).await;
    }
    let fourth = buyer(&app, &lead, "Fourth", "13800000004").await;
    order(&app, &lead, fourth, "D0", 5_000, 200).await;
    let worst = buyer(&app, &lead, "Worst", "13800000005").await;
    order(&app, &lead, worst, "E0", 1_000, 700).await;
    let never = buyer(&app, &lead, "Never", "13800000006").await;

    // No scores before the first recomputation: nothing to take quintiles of yet.
    assert_eq!(rfm(&app, &lead, best).await, Value::Null);
    let report = app.post("/api/v1/tiers/recompute", &lead, json!({})).await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["rfm_buyers"], 5);
    assert_eq!(report.body["segment_changes"], 5);

    let top = rfm(&app, &lead, best).await;
    assert_eq!(
        (
            &top["recency_score"],
            &top["frequency_score"],
            &top["monetary_score"],
            &top["segment"]
        ),
        (&json!(5), &json!(5), &json!(5), &json!("champions")),
        "{top:?}"
    );
    assert_eq!(top["order_count"], 5);
    assert_eq!(top["net_spent_cents"], 250_000);
    let reasons: Vec<&str> = top["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "rfm_segment"
        ]
    );
    assert!(
        top["reasons"][3]["detail"]
            .as_str()
            .unwrap()
            .starts_with("champions: R5 F5 M5")
    );
    assert_eq!(rfm(&app, &lead, worst).await["segment"], "lost");
    assert_eq!(rfm(&app, &lead, never).await, Value::Null);

    // Greetings for one segment: an occasion today brings only that segment's buyers.
    let (_, admin) = app.admin().await;
    let today = (Utc::now() + Duration::hours(8)).date_naive();
    let occasion = app
        .post(
            "/api/v1/occasions",
            &admin,
            json!({"name": "会员日", "day": today}),
        )
        .await;
    assert_eq!(occasion.status, StatusCode::CREATED, "{:?}", occasion.body);
    for (segment, buyers) in [("champions", vec![best]), ("lost", vec![worst])] {
        let res = app
            .get(
                &format!("/api/v1/reminders?greeting_days=0&greeting_segment={segment}"),
                &lead,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        let greetings = &res.body["greetings"];
        assert_eq!(greetings["segment"], segment);
        let ids: Vec<i64> = greetings["occasion_buyers"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, buyers, "{segment}");
    }
    let every = app.get("/api/v1/reminders?greeting_days=0", &lead).await;
    assert_eq!(every.body["greetings"]["segment"], Value::Null);
    assert_eq!(every.body["greetings"]["occasion_buyers"]["count"], 5);
    let bad = app
        .get("/api/v1/reminders?greeting_segment=gold", &lead)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Lists filter by segment and score ranges; a range upside down is refused.
    let champions = app.get("/api/v1/customers?segment=champions", &agent).await;
    assert_eq!(ids(&champions.body), [best]);
    let least_recent = app
        .get("/api/v1/customers?recency_score_max=1", &agent)
        .await;
    assert_eq!(ids(&least_recent.body), [worst]);
    let frequent = app
        .get(
            "/api/v1/customers?frequency_score_min=4&sort=oldest",
            &agent,
        )
        .await;
    assert_eq!(ids(&frequent.body), [best, second]);
    let none = app
        .get(
            "/api/v1/customers?segment=lost&monetary_score_min=2",
            &agent,
        )
        .await;
    assert_eq!(ids(&none.body), Vec::<i64>::new());
    let upside_down = app
        .get(
            "/api/v1/customers?recency_score_min=4&recency_score_max=2",
            &agent,
        )
        .await;
    assert_eq!(upside_down.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(upside_down.error_fields(), ["recency_score_min"]);
    let out_of_range = app
        .get("/api/v1/customers?monetary_score_max=6", &agent)
        .await;
    assert_eq!(out_of_range.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(out_of_range.error_fields(), ["monetary_score_max"]);
    let unknown = app.get("/api/v1/customers?segment=whales", &agent).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Leads see the segments; agents do not.
    assert_eq!(
        app.get("/api/v1/stats/segments", &agent).await.status,
        StatusCode::FORBIDDEN
    );
    let first = app.get("/api/v1/stats/segments", &lead).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["buyers"], 5);
    assert_eq!(
        first.body["since"],
        Value::Null,
        "one recomputation: since the beginning"
    );
    let count = |report: &Value, segment: &str| -> (i64, i64) {
        let row = report["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == segment)
            .unwrap_or_else(|| panic!("{segment} in {report:?}"))
            .clone();
        (
            row["customers"].as_i64().unwrap(),
            row["customers_at_since"].as_i64().unwrap(),
        )
    };
    assert_eq!(count(&first.body, "champions"), (1, 0));
    assert_eq!(count(&first.body, "lost"), (1, 0));
    assert_eq!(first.body["segments"].as_array().unwrap().len(), 11);
    let from_nowhere: i64 = first.body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["from"].is_null())
        .map(|f| f["customers"].as_i64().unwrap())
        .sum();
    assert_eq!(from_nowhere, 5);

    // The lost buyer comes back with a big order: the order rescores them against the
    // stored quintiles at once, and the segment change is recorded.
    order(&app, &lead, worst, "E1", 200_000, 0).await;
    let back = rfm(&app, &lead, worst).await;
    assert_eq!(back["segment"], "champions", "{back:?}");
    assert_eq!(back["recency_score"], 5);
    // A second recomputation takes new quintiles; the report compares with the first.
    let again = app.post("/api/v1/tiers/recompute", &lead, json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
    let now_segment = rfm(&app, &lead, worst).await["segment"].clone();
    let second_report = app.get("/api/v1/stats/segments", &lead).await;
    assert!(second_report.body["since"].is_string());
    // At the first recomputation only the worst buyer was lost.
    assert_eq!(count(&second_report.body, "lost").1, 1);
    let flows = second_report.body["flows"].as_array().unwrap();
    assert!(
        flows.contains(&json!({"from": "lost", "to": now_segment, "customers": 1})),
        "{flows:?}"
    );
    // A chosen moment before everything: every buyer came from nowhere.
    let long_ago = app
        .get("/api/v1/stats/segments?since=2000-01-01T00:00:00Z", &lead)
        .await;
    assert_eq!(long_ago.status, StatusCode::OK);
    assert!(
        long_ago.body["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["customers_at_since"] == 0)
    );
    let bad = app
        .get("/api/v1/stats/segments?since=yesterday", &lead)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A buyer whose only order is refunded is no longer scored.
    let orders = app
        .get(&format!("/api/v1/customers/{fourth}/orders"), &lead)
        .await;
    let fourth_order = orders.body["items"][0]["id"].as_i64().unwrap();
    let refunded = app
        .patch(
            &format!("/api/v1/orders/{fourth_order}"),
            &lead,
            json!({"status": "refunded"}),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::OK, "{:?}", refunded.body);
    assert_eq!(rfm(&app, &lead, fourth).await, Value::Null);

    // A return refunded in part by a resolved ticket lowers the spend RFM counts, in the
    // full recomputation as in the buyer's own refresh.
    let second_orders = app
        .get(&format!("/api/v1/customers/{second}/orders"), &lead)
        .await;
    let second_order = second_orders.body["items"][0]["id"].as_i64().unwrap();
    let refund_ticket = app
        .refund_by_return(&lead, second, second_order, 7_000)
        .await;
    assert_eq!(rfm(&app, &lead, second).await["net_spent_cents"], 53_000);
    let again = app.post("/api/v1/tiers/recompute", &lead, json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(rfm(&app, &lead, second).await["net_spent_cents"], 53_000);

    // The refund follows the order its ticket names: unlinked, it no longer counts.
    let unlinked = app
        .patch(
            &format!("/api/v1/tickets/{refund_ticket}"),
            &lead,
            json!({"order_id": null}),
        )
        .await;
    assert_eq!(unlinked.status, StatusCode::OK, "{:?}", unlinked.body);
    assert_eq!(rfm(&app, &lead, second).await["net_spent_cents"], 60_000);

    // Archived buyers are not scored; restored, they are again, at once.
    let archived = app
        .call(
            Method::DELETE,
            &format!("/api/v1/customers/{second}"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(
        archived.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        archived.body
    );
    assert_eq!(rfm(&app, &lead, second).await, Value::Null);
    let restored = app
        .post(
            &format!("/api/v1/customers/{second}/restore"),
            &lead,
            json!({}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{:?}", restored.body);
    assert_eq!(restored.body["rfm"]["net_spent_cents"], 60_000);

    // A merged duplicate, archived without purchases, is not scored either.
    let merged = app
        .post(
            &format!("/api/v1/customers/{best}/merge"),
            &lead,
            json!({"duplicate_id": second}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(rfm(&app, &lead, second).await, Value::Null);
}

/// What a customer's standing and RFM row say, to compare two ways of computing them.
type Standing = (
    i64,
    String,
    String,
    bool,
    String,
    Option<(String, i32, i32, i32)>,
);

fn standings(app: &TestApp) -> Vec<Standing> {
    use aftercare::schema::{customer_rfm, customers};
    use diesel::prelude::*;
    let mut conn = app.state.db.conn().expect("a connection");
    let rows: Vec<(i64, String, String, bool, String)> = customers::table
        .order(customers::id)
        .select((
            customers::id,
            diesel::dsl::sql::<diesel::sql_types::Text>("tier"),
            diesel::dsl::sql::<diesel::sql_types::Text>("lifecycle_stage"),
            customers::at_risk,
            customers::tier_reasons,
        ))
        .load(&mut *conn)
        .expect("standings");
    let scored: std::collections::BTreeMap<i64, (String, i32, i32, i32)> = customer_rfm::table
        .select((
            customer_rfm::customer_id,
            diesel::dsl::sql::<diesel::sql_types::Text>("segment"),
            customer_rfm::recency_score,
            customer_rfm::frequency_score,
            customer_rfm::monetary_score,
        ))
        .load::<(i64, String, i32, i32, i32)>(&mut *conn)
        .expect("RFM rows")
        .into_iter()
        .map(|(id, segment, r, f, m)| (id, (segment, r, f, m)))
        .collect();
    rows.into_iter()
        .map(|(id, tier, stage, at_risk, reasons)| {
            let rfm = scored.get(&id).cloned();
            (id, tier, stage, at_risk, reasons, rfm)
        })
        .collect()
}

/// A full recomputation assesses its batches in read-only snapshots, two at once, and
/// writes only the customers it found changed: over several batches of a seeded shop, it
/// leaves every customer as refreshing them one at a time (the path of each order and
/// ticket change) leaves them; a second recomputation writes nothing, except where a
/// customer's RFM row alone went wrong or a buyer was archived. Every step runs as of one
/// moment: reasons count days.
async fn parallel_batches_agree_with_one_customer_at_a_time(app: TestApp) {
    use aftercare::ids::{CustomerId, ShopId};
    use aftercare::schema::{customer_rfm, customers};
    use aftercare::tiers::operations::{recompute_all_at, refresh_at};
    use diesel::prelude::*;
    let options = crate::seed::BenchOptions {
        customers: 2_500,
        orders: 9_000,
        tickets: 3_000,
        agents: 4,
    };
    crate::seed::seed(&app.state.db, &options).expect("seed");
    let settings = aftercare::tiers::TierSettings::default();
    let db = &app.state.db;
    assert!(
        db.pool_size() >= 4,
        "the test pool runs the parallel batches"
    );
    let now = Utc::now().naive_utc();
    let report = recompute_all_at(db, ShopId(1), &settings, now).expect("recompute");
    assert_eq!(report.customers, 2_500);
    assert!(report.changed > 1_000, "{report:?}");
    let recomputed = standings(&app);
    let scored: Vec<i64> = recomputed
        .iter()
        .filter(|s| s.5.is_some())
        .map(|s| s.0)
        .collect();
    assert_eq!(scored.len() as i64, report.rfm_buyers);

    for (id, ..) in &recomputed {
        db.write_blocking(|conn| {
            refresh_at(conn, ShopId(1), CustomerId(*id), &settings, "check", now)
        })
        .expect("refresh");
    }
    assert_eq!(standings(&app), recomputed);

    // Nothing changed: nothing written. Then one buyer's RFM row alone goes wrong and
    // another buyer is archived behind the service's back: the next run mends exactly those.
    let again = recompute_all_at(db, ShopId(1), &settings, now).expect("recompute again");
    assert_eq!((again.changed, again.segment_changes), (0, 0), "{again:?}");
    let (wrong, archived) = (scored[10], scored[1_500]);
    let monetary = recomputed
        .iter()
        .find(|s| s.0 == wrong)
        .and_then(|s| s.5.clone());
    let spoiled = if monetary.is_some_and(|m| m.3 == 1) {
        2
    } else {
        1
    };
    {
        let mut conn = db.conn().expect("a connection");
        diesel::update(customer_rfm::table.find(wrong))
            .set(customer_rfm::monetary_score.eq(spoiled))
            .execute(&mut *conn)
            .expect("spoil an RFM row");
        diesel::update(customers::table.find(archived))
            .set(customers::archived_at.eq(Some(now)))
            .execute(&mut *conn)
            .expect("archive");
    }
    let mended = recompute_all_at(db, ShopId(1), &settings, now).expect("recompute to mend");
    // One buyer fewer moves the quintiles, so other buyers may change segment as well.
    assert_eq!(mended.rfm_buyers, report.rfm_buyers - 1);
    assert!(mended.segment_changes >= 1, "{mended:?}");
    let after = standings(&app);
    let of = |id: i64| {
        after
            .iter()
            .find(|s| s.0 == id)
            .cloned()
            .expect("a customer")
    };
    assert_eq!(
        of(archived).5,
        None,
        "the archived buyer is no longer scored"
    );
    assert_ne!(
        of(wrong).5.map(|m| m.3),
        Some(spoiled),
        "the spoiled row is mended"
    );
    for (id, ..) in &recomputed {
        db.write_blocking(|conn| {
            refresh_at(conn, ShopId(1), CustomerId(*id), &settings, "check", now)
        })
        .expect("refresh");
    }
    assert_eq!(standings(&app), after);
}
