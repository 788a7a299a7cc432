//! Merging duplicate buyers: everything moves to the survivor, the duplicate is archived
//! pointing to it, the repeated complaint is closed once, a preview changes nothing.

use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    merging_moves_everything_to_the_survivor,
    a_preview_shows_the_merge_and_changes_nothing,
    merges_are_refused_when_they_make_no_sense,
    a_merge_keeps_one_tag_of_a_single_choice_group,
);

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

async fn open(app: &TestApp, token: &str, body: Value) -> i64 {
    let res = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.body["id"].as_i64().unwrap()
}

struct Pair {
    lead: String,
    survivor: i64,
    duplicate: i64,
    survivor_ticket: i64,
    duplicate_ticket: i64,
    other_ticket: i64,
}

async fn pair(app: &TestApp) -> Pair {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let survivor = app
        .customer(
            &admin,
            json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}],
            "source": "online", "tags": ["vip"], "notes": "prefers calls"}),
        )
        .await;
    let duplicate = app
        .customer(&admin, json!({"name": "lina的小店", "contacts": [{"kind": "wechat", "value": "lina_1990"}, {"kind": "shop_account", "value": "lina的小店"}],
            "source": "online", "tags": ["Beijing", "vip"], "address": "北京市朝阳区", "birthday": "1990-05-17", "notes": "WeChat after 18:00"}))
        .await;
    let order = json!({"channel": "taobao", "external_order_no": "TB1", "items": [{"product_name": "Teapot", "quantity": 1, "unit_price_cents": 50000}], "ordered_at": "2026-11-20T10:00:00Z"});
    let res = app
        .post(
            &format!("/api/v1/customers/{duplicate}/orders"),
            &admin,
            order,
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let review = |customer: i64| {
        json!({"kind": "negative_review", "customer_id": customer, "title": "2-star review",
        "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口"}})
    };
    let survivor_ticket = open(app, &admin, review(survivor)).await;
    let duplicate_ticket = open(app, &admin, review(duplicate)).await;
    let other_ticket = open(app, &admin, json!({"kind": "repair", "customer_id": duplicate, "title": "Kettle leaks",
        "details": {"fault": "leaks", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}})).await;
    let res = app
        .post(
            &format!("/api/v1/customers/{duplicate}/notes"),
            &lead,
            json!({"body": "第二个账号"}),
        )
        .await;
    assert_eq!(res.status, 201);
    Pair {
        lead,
        survivor,
        duplicate,
        survivor_ticket,
        duplicate_ticket,
        other_ticket,
    }
}

async fn merging_moves_everything_to_the_survivor(app: TestApp) {
    let p = pair(&app).await;
    let history = count(
        &app,
        &format!(
            "SELECT COUNT(*) AS n FROM tier_changes WHERE customer_id = {}",
            p.duplicate
        ),
    );
    assert!(history > 0, "the duplicate's order changed its tier");
    let res = app
        .post(
            &format!("/api/v1/customers/{}/merge", p.survivor),
            &p.lead,
            json!({"duplicate_id": p.duplicate}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let report = &res.body;
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["moved"],
        json!({"handles": 2, "tags": 1, "orders": 1, "tickets": 2, "notes": 1, "tier_changes": history})
    );
    assert_eq!(
        report["closed_as_duplicate"],
        json!([{"closed": p.duplicate_ticket, "kept": p.survivor_ticket}])
    );
    // The survivor holds everything; its own profile wins, gaps are filled.
    let s = &report["survivor"];
    let handles: Vec<&str> = s["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["value"].as_str().unwrap())
        .collect();
    assert_eq!(handles, vec!["13800138000", "lina_1990", "lina的小店"]);
    let mut tags: Vec<&str> = s["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, vec!["Beijing", "vip"]);
    assert_eq!(s["name"], "李娜");
    assert_eq!(s["address"], "北京市朝阳区");
    assert_eq!(s["birthday"], "1990-05-17");
    assert_eq!(s["notes"], "prefers calls\nWeChat after 18:00");
    assert_eq!(s["orders"]["count"], 1);
    assert_eq!(s["orders"]["total_spent_cents"], 50000);
    // The duplicate is archived and points to the survivor; it cannot be restored.
    let d = app
        .get(&format!("/api/v1/customers/{}", p.duplicate), &p.lead)
        .await;
    assert!(d.body["archived_at"].is_string(), "{:?}", d.body);
    assert_eq!(d.body["merged_into_id"], p.survivor);
    assert_eq!(d.body["contacts"], json!([]));
    let res = app
        .post(
            &format!("/api/v1/customers/{}/restore", p.duplicate),
            &p.lead,
            json!({}),
        )
        .await;
    assert_eq!(res.status, 409, "{:?}", res.body);
    // Tickets moved; the repeated complaint was closed as a duplicate of the survivor's.
    let t = app
        .get(&format!("/api/v1/tickets/{}", p.other_ticket), &p.lead)
        .await;
    assert_eq!(t.body["customer_id"], p.survivor);
    let t = app
        .get(&format!("/api/v1/tickets/{}", p.duplicate_ticket), &p.lead)
        .await;
    assert_eq!(t.body["state"], "closed");
    assert_eq!(t.body["close_reason"], "duplicate");
    assert_eq!(t.body["customer_id"], p.survivor);
    // Search finds the survivor by the duplicate's handles.
    let found = app.get("/api/v1/customers?q=lina_1990", &p.lead).await;
    assert_eq!(found.body["items"][0]["id"], p.survivor, "{:?}", found.body);
    // Both files say so; the outbox and the audit log have it.
    let notes = app
        .get(&format!("/api/v1/customers/{}/notes", p.survivor), &p.lead)
        .await;
    let bodies: Vec<&str> = notes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("merged into")),
        "{bodies:?}"
    );
    assert!(bodies.contains(&"第二个账号"), "{bodies:?}");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM notes WHERE customer_id = {} ",
                p.duplicate
            )
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM webhook_events WHERE event_type = 'customer.merged'"
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'customers.merged'"
        ),
        1
    );
}

async fn a_preview_shows_the_merge_and_changes_nothing(app: TestApp) {
    let p = pair(&app).await;
    let before = app
        .get(&format!("/api/v1/customers/{}", p.survivor), &p.lead)
        .await
        .body;
    let path = format!("/api/v1/customers/{}/merge?dry_run=true", p.survivor);
    let res = app
        .post(&path, &p.lead, json!({"duplicate_id": p.duplicate}))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["dry_run"], true);
    assert_eq!(res.body["moved"]["orders"], 1);
    assert_eq!(res.body["survivor"]["orders"]["count"], 1);
    assert_eq!(res.body["closed_as_duplicate"].as_array().unwrap().len(), 1);
    // Nothing changed.
    let after = app
        .get(&format!("/api/v1/customers/{}", p.survivor), &p.lead)
        .await
        .body;
    assert_eq!(before, after);
    let d = app
        .get(&format!("/api/v1/customers/{}", p.duplicate), &p.lead)
        .await;
    assert_eq!(d.body["archived_at"], Value::Null);
    let t = app
        .get(&format!("/api/v1/tickets/{}", p.duplicate_ticket), &p.lead)
        .await;
    assert_eq!(t.body["state"], "new");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM webhook_events WHERE event_type = 'customer.merged'"
        ),
        0
    );
}

async fn merges_are_refused_when_they_make_no_sense(app: TestApp) {
    let p = pair(&app).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let path = format!("/api/v1/customers/{}/merge", p.survivor);
    // Agents may not merge.
    assert_eq!(
        app.post(&path, &agent, json!({"duplicate_id": p.duplicate}))
            .await
            .status,
        403
    );
    // Not into itself; not an unknown customer; not an archived one.
    let res = app
        .post(&path, &p.lead, json!({"duplicate_id": p.survivor}))
        .await;
    assert_eq!(res.status, 422);
    assert_eq!(res.error_fields(), vec!["duplicate_id"]);
    let res = app
        .post(&path, &p.lead, json!({"duplicate_id": 999999}))
        .await;
    assert_eq!(res.status, 422);
    assert_eq!(res.error_fields(), vec!["duplicate_id"]);
    assert_eq!(
        app.post(
            "/api/v1/customers/999999/merge",
            &p.lead,
            json!({"duplicate_id": p.duplicate})
        )
        .await
        .status,
        404
    );
    let ok = app
        .post(&path, &p.lead, json!({"duplicate_id": p.duplicate}))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let again = app
        .post(&path, &p.lead, json!({"duplicate_id": p.duplicate}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.problem_type(), "customer-archived");
}

/// The survivor's tag of a single-choice group stays; the duplicate's other tags move.
async fn a_merge_keeps_one_tag_of_a_single_choice_group(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    for name in ["Y", "N"] {
        app.post(
            "/api/v1/tags",
            &lead,
            json!({"name": name, "group": "visit"}),
        )
        .await;
    }
    let set = app
        .put(
            "/api/v1/tag-groups/visit",
            &lead,
            json!({"single_choice": true}),
        )
        .await;
    assert_eq!(set.status, 200);
    let survivor = app
        .customer(&lead, json!({"name": "A", "contacts": [{"kind": "phone", "value": "13800000001"}], "source": "online", "tags": ["Y"]}))
        .await;
    let duplicate = app
        .customer(&lead, json!({"name": "A2", "contacts": [{"kind": "phone", "value": "13800000002"}], "source": "online", "tags": ["N", "Beijing"]}))
        .await;
    let res = app
        .post(
            &format!("/api/v1/customers/{survivor}/merge"),
            &lead,
            json!({"duplicate_id": duplicate}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let tags: Vec<String> = app
        .get(&format!("/api/v1/customers/{survivor}"), &lead)
        .await
        .body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["Beijing", "Y"]);
}
