//! The product catalogue, the "probably used up" and "never purchased" reminders, greeting
//! occasions and the greetings reminder.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use chrono::{Datelike, Duration, FixedOffset, Utc};
use serde_json::{Value, json};

use crate::integrations::api_key;
use crate::support::{TestApp, backend_tests};

backend_tests!(
    the_catalogue_is_read_by_staff_and_kept_by_leads,
    orders_add_unknown_skus_to_the_catalogue,
    purchases_probably_used_up_are_reminded,
    buyers_are_greeted_on_birthdays_and_occasions,
    occasions_are_kept_by_admins,
);

async fn the_catalogue_is_read_by_staff_and_kept_by_leads(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let created = app
        .post(
            "/api/v1/products",
            &lead,
            json!({"sku": " FC-30 ", "name": "Face cream", "usage_days": 30}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["sku"], "FC-30");
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/products/{id}").as_str())
    );
    let again = app
        .post(
            "/api/v1/products",
            &admin,
            json!({"sku": "FC-30", "name": "Other"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_type(), "duplicate");
    for bad in [
        json!({"sku": "", "name": "x"}),
        json!({"sku": "A", "name": "x", "usage_days": 0}),
        json!({"sku": "A", "name": "x", "usage_days": 3651}),
        json!({"sku": "A", "name": " "}),
    ] {
        let res = app.post("/api/v1/products", &lead, bad.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // Agents read, leads and admins write, keys do neither.
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}"), &agent)
            .await
            .status,
        StatusCode::OK
    );
    let refused = app
        .post("/api/v1/products", &agent, json!({"sku": "X", "name": "x"}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.patch(
            &format!("/api/v1/products/{id}"),
            &agent,
            json!({"usage_days": 10})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let (_, key) = api_key(&app, &admin, &["customers:read"]).await;
    assert_eq!(
        app.get("/api/v1/products", &key).await.status,
        StatusCode::FORBIDDEN
    );
    // Edit and clear the usage days; the SKU stays.
    let edited = app
        .patch(
            &format!("/api/v1/products/{id}"),
            &lead,
            json!({"name": "Night cream", "usage_days": null}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(
        (
            edited.body["name"].as_str(),
            edited.body["usage_days"].is_null()
        ),
        (Some("Night cream"), true)
    );
    let sku_change = app
        .patch(
            &format!("/api/v1/products/{id}"),
            &lead,
            json!({"sku": "NEW"}),
        )
        .await;
    assert_eq!(sku_change.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.patch(&format!("/api/v1/products/{id}"), &lead, json!({}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Paging by SKU, and the consumable filter.
    for (sku, days) in [("A-1", Some(10)), ("B-1", None), ("C-1", Some(20))] {
        let res = app
            .post(
                "/api/v1/products",
                &lead,
                json!({"sku": sku, "name": sku, "usage_days": days}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let first = app.get("/api/v1/products?limit=2", &agent).await;
    let skus = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(skus(&first.body), ["A-1", "B-1"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/products?limit=2&cursor={cursor}"), &agent)
        .await;
    assert_eq!(skus(&second.body), ["C-1", "FC-30"]);
    assert!(second.body["next_cursor"].is_null());
    let consumables = app.get("/api/v1/products?consumable=true", &agent).await;
    assert_eq!(skus(&consumables.body), ["A-1", "C-1"]);
    // Deleting leaves order items alone.
    assert_eq!(
        app.delete(&format!("/api/v1/products/{id}"), &lead)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}"), &lead)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn orders_add_unknown_skus_to_the_catalogue(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    app.post(
        "/api/v1/products",
        &lead,
        json!({"sku": "TEA-1", "name": "Longjing 250 g", "usage_days": 60}),
    )
    .await;
    let customer = app
        .customer(&lead, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let res = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            &lead,
            json!({"channel": "tmall", "external_order_no": "T-1", "ordered_at": "2026-11-20T10:00:00Z",
                   "items": [{"product_name": "Tea", "sku": "TEA-1", "quantity": 1, "unit_price_cents": 100},
                             {"product_name": "Cup", "sku": " CUP-2 ", "quantity": 1, "unit_price_cents": 100},
                             {"product_name": "Card", "quantity": 1, "unit_price_cents": 0}]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let list = app.get("/api/v1/products", &lead).await;
    let items: Vec<(String, String, Value)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["sku"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
                p["usage_days"].clone(),
            )
        })
        .collect();
    // The known SKU keeps its name and days; the unknown one is named after the item.
    assert_eq!(
        items,
        [
            ("CUP-2".into(), "Cup".into(), Value::Null),
            ("TEA-1".into(), "Longjing 250 g".into(), json!(60)),
        ]
    );
}

/// A time `days` days ago, at the current time of day.
fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339()
}

async fn purchases_probably_used_up_are_reminded(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    app.post(
        "/api/v1/products",
        &lead,
        json!({"sku": "FC-30", "name": "Face cream", "usage_days": 30}),
    )
    .await;
    app.post(
        "/api/v1/products",
        &lead,
        json!({"sku": "PAN", "name": "Pan"}),
    )
    .await;
    let mut n = 0;
    let mut buyer = |name: &'static str, orders: Vec<(&'static str, &'static str, i64)>| {
        n += 1;
        let app = &app;
        let lead = lead.clone();
        let phone = format!("1380013{n:04}");
        async move {
            let id = app
                .customer(&lead, json!({"name": name, "contacts": [{"kind": "phone", "value": phone}], "source": "online"}))
                .await;
            for (k, (sku, status, ago)) in orders.into_iter().enumerate() {
                let res = app
                    .post(
                        &format!("/api/v1/customers/{id}/orders"),
                        &lead,
                        json!({"channel": "tmall", "external_order_no": format!("{name}-{k}"), "status": status,
                               "ordered_at": days_ago(ago),
                               "items": [{"product_name": sku, "sku": sku, "quantity": 1, "unit_price_cents": 100}]}),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
            }
            id
        }
    };
    // Bought 26 days ago: used up in 4 days.
    let due = buyer("due", vec![("FC-30", "paid", 26)]).await;
    // Bought 29 days ago and again 3 days ago: not due for 27 days.
    buyer("again", vec![("FC-30", "paid", 29), ("FC-30", "paid", 3)]).await;
    // Used up 10 days ago: past, not coming.
    buyer("past", vec![("FC-30", "paid", 40)]).await;
    // A refunded purchase is no purchase; a product without usage days never comes up.
    buyer(
        "refunded",
        vec![("FC-30", "refunded", 26), ("PAN", "paid", 26)],
    )
    .await;
    // Used up today (bought 30 days ago): the first of the window.
    let today = buyer("today", vec![("FC-30", "partially_refunded", 30)]).await;
    let never = app
        .customer(&lead, json!({"name": "never", "contacts": [{"kind": "phone", "value": "13900000000"}], "source": "in_store"}))
        .await;
    let res = app.get("/api/v1/reminders?used_up_days=7", &lead).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let used_up = &res.body["probably_used_up"];
    assert_eq!(used_up["count"], 2, "{used_up}");
    let ids: Vec<i64> = used_up["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [today, due]);
    let first = &used_up["items"][1];
    assert_eq!(
        (
            first["sku"].as_str(),
            first["product_name"].as_str(),
            first["usage_days"].as_i64()
        ),
        (Some("FC-30"), Some("Face cream"), Some(30))
    );
    let local_today = Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let expected_day = (Utc::now() - Duration::days(26) + Duration::days(30))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    assert_eq!(first["used_up_on"], json!(expected_day));
    assert!(expected_day >= local_today);
    // A narrower window leaves the later one out; 0 days is today only.
    let narrow = app.get("/api/v1/reminders?used_up_days=0", &lead).await;
    assert_eq!(narrow.body["probably_used_up"]["count"], 1);
    // Never purchased: the customer without orders (and the one whose only purchase was refunded
    // and cancelled ones would be too).
    let never_list: Vec<i64> = res.body["never_purchased_customers"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(
        never_list.contains(&never) && !never_list.contains(&due),
        "{never_list:?}"
    );
    // An agent sees the buyers of their own tickets only.
    let mine = app.get("/api/v1/reminders", &agent).await;
    assert_eq!(mine.body["probably_used_up"]["count"], 0);
    let ticket = app
        .post(
            "/api/v1/tickets",
            &lead,
            json!({"kind": "repair", "customer_id": due, "title": "t", "assignee_id": agent_id,
                   "details": {"fault": "f", "items": [{"product_name": "p", "quantity": 1}], "under_warranty": true}}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let mine = app.get("/api/v1/reminders", &agent).await;
    assert_eq!(mine.body["probably_used_up"]["count"], 1);
    assert_eq!(
        mine.body["probably_used_up"]["items"][0]["customer"]["id"],
        due
    );
    let bad = app.get("/api/v1/reminders?used_up_days=400", &lead).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn buyers_are_greeted_on_birthdays_and_occasions(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let offset = FixedOffset::east_opt(8 * 3600).unwrap();
    let today = Utc::now().with_timezone(&offset).date_naive();
    // Birthdays: tomorrow (a buyer), tomorrow (never bought), in 20 days (a buyer).
    let birthday = |days: i64| {
        let day = today + Duration::days(days);
        // 29 February falls back to the 28th of a year without it.
        chrono::NaiveDate::from_ymd_opt(1990, day.month(), day.day())
            .or_else(|| chrono::NaiveDate::from_ymd_opt(1990, day.month(), day.day() - 1))
            .unwrap()
    };
    let mut ids = Vec::new();
    for (i, (days, buys)) in [(1, true), (1, false), (20, true)].into_iter().enumerate() {
        let id = app
            .customer(&lead, json!({"name": format!("B{i}"), "contacts": [{"kind": "phone", "value": format!("1380013{i:04}")}],
                                    "source": "online", "birthday": birthday(days)}))
            .await;
        if buys {
            let res = app
                .post(
                    &format!("/api/v1/customers/{id}/orders"),
                    &lead,
                    json!({"channel": "tmall", "external_order_no": format!("G-{i}"), "ordered_at": days_ago(5),
                           "items": [{"product_name": "x", "quantity": 1, "unit_price_cents": 100}]}),
                )
                .await;
            assert_eq!(res.status, StatusCode::CREATED);
        }
        ids.push(id);
    }
    // Only our own occasions in the window: the defaults of the coming days go.
    let window_end = today + Duration::days(3);
    let listed = app.get("/api/v1/occasions", &lead).await;
    for o in listed.body["items"].as_array().unwrap() {
        let day: chrono::NaiveDate = serde_json::from_value(o["day"].clone()).unwrap();
        if day >= today && day <= window_end {
            let res = app
                .delete(&format!("/api/v1/occasions/{}", o["id"]), &admin)
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT);
        }
    }
    let quiet = app.get("/api/v1/reminders?greeting_days=3", &lead).await;
    assert_eq!(quiet.status, StatusCode::OK, "{:?}", quiet.body);
    let greetings = &quiet.body["greetings"];
    assert_eq!(greetings["days"], 3);
    assert_eq!(greetings["occasions"], json!([]));
    assert_eq!(greetings["occasion_buyers"]["count"], 0);
    let birthday_ids: Vec<i64> = greetings["birthdays"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        birthday_ids,
        [ids[0]],
        "a buyer with a birthday in the window"
    );
    // An occasion in two days brings every buyer (of the tier asked).
    let occasion = app
        .post(
            "/api/v1/occasions",
            &admin,
            json!({"name": "店庆", "day": today + Duration::days(2)}),
        )
        .await;
    assert_eq!(occasion.status, StatusCode::CREATED, "{:?}", occasion.body);
    let busy = app.get("/api/v1/reminders?greeting_days=3", &lead).await;
    let greetings = &busy.body["greetings"];
    assert_eq!(greetings["occasions"][0]["name"], "店庆");
    assert_eq!(greetings["occasion_buyers"]["count"], 2);
    let tier = app
        .get(&format!("/api/v1/customers/{}", ids[0]), &lead)
        .await
        .body["standing"]["tier"]
        .clone();
    let other_tier = if tier == "key" { "small" } else { "key" };
    let none = app
        .get(
            &format!("/api/v1/reminders?greeting_days=3&greeting_tier={other_tier}"),
            &lead,
        )
        .await;
    let both_buyers_tier = app
        .get(&format!("/api/v1/customers/{}", ids[2]), &lead)
        .await
        .body["standing"]["tier"]
        .clone();
    let expected = i64::from(both_buyers_tier == other_tier);
    assert_eq!(none.body["greetings"]["tier"], other_tier);
    assert_eq!(none.body["greetings"]["occasion_buyers"]["count"], expected);
    assert_eq!(none.body["greetings"]["birthdays"]["count"], 0);
    let bad = app.get("/api/v1/reminders?greeting_tier=gold", &lead).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn occasions_are_kept_by_admins(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    // The defaults: 2026 and 2027, lunar holidays on their own days.
    let y2027 = app.get("/api/v1/occasions?year=2027", &lead).await;
    assert_eq!(y2027.status, StatusCode::OK);
    let named = |body: &Value, name: &str| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["name"] == name)
            .map(|o| o["day"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(named(&y2027.body, "春节"), ["2027-02-06"]);
    assert_eq!(named(&y2027.body, "中秋节"), ["2027-09-15"]);
    assert_eq!(named(&y2027.body, "618"), ["2027-06-18"]);
    assert_eq!(named(&y2027.body, "双11"), ["2027-11-11"]);
    let all = app.get("/api/v1/occasions", &lead).await;
    assert_eq!(named(&all.body, "春节"), ["2026-02-17", "2027-02-06"]);
    // Admins add, move and delete; leads may not.
    let refused = app
        .post(
            "/api/v1/occasions",
            &lead,
            json!({"name": "春节", "day": "2028-01-26"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let added = app
        .post(
            "/api/v1/occasions",
            &admin,
            json!({"name": " 春节 ", "day": "2028-01-26"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["name"], "春节");
    let id = added.body["id"].as_i64().unwrap();
    let twice = app
        .post(
            "/api/v1/occasions",
            &admin,
            json!({"name": "春节", "day": "2028-01-26"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.problem_type(), "duplicate");
    let moved = app
        .patch(
            &format!("/api/v1/occasions/{id}"),
            &admin,
            json!({"day": "2028-01-27"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(moved.body["day"], "2028-01-27");
    for bad in [
        json!({"name": "", "day": "2028-01-01"}),
        json!({"name": "x", "day": "1960-01-01"}),
        json!({"name": "x"}),
    ] {
        let res = app.post("/api/v1/occasions", &admin, bad.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        app.delete(&format!("/api/v1/occasions/{id}"), &lead)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/api/v1/occasions/{id}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/api/v1/occasions/{id}"), &admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
