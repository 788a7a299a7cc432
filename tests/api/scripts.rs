//! Call scripts (话术): written by leads, read by every staff member, placeholders checked
//! when saved and filled in for one ticket; kinds, situations, limits, other shops.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use aftercare::auth::roles::Role;
use aftercare::ids::ShopId;
use aftercare::users::{CreateUserRequest, store as users};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, backend_tests};

backend_tests!(
    leads_write_scripts_and_every_staff_member_reads_them,
    placeholders_and_lengths_are_checked_when_saved,
    templates_are_filled_in_for_a_negative_review_with_and_without_an_order,
    templates_follow_the_ticket_kind_and_state,
    lists_filter_by_kind_situation_and_active,
    other_shops_scripts_and_tickets_are_not_found,
    a_shop_keeps_at_most_200_scripts,
);

const FIRST_CALL: &str =
    "{customer_name}您好，我是{agent_name}，看到您对{product}的评价（订单{order_no}），非常抱歉。";

async fn write(app: &TestApp, token: &str, body: Value) -> i64 {
    let res = app.post("/api/v1/call-scripts", token, body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    res.body["id"].as_i64().unwrap()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

async fn leads_write_scripts_and_every_staff_member_reads_them(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (lead_id, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let script = json!({"ticket_kind": "negative_review", "situation": "first_call",
                        "title": "  差评首次回访  ", "body": FIRST_CALL});

    let refused = app
        .post("/api/v1/call-scripts", &agent, script.clone())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.problem_type(), "forbidden");

    let created = app.post("/api/v1/call-scripts", &lead, script).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/call-scripts/{id}");
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert_eq!(created.body["title"], "差评首次回访");
    assert_eq!(created.body["body"], FIRST_CALL);
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["created_by"], lead_id);
    assert_eq!(
        created.body["placeholders"],
        json!(["customer_name", "agent_name", "product", "order_no"])
    );

    // Agents read them: one and the list.
    let one = app.get(&path, &agent).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, created.body);
    let list = app.get("/api/v1/call-scripts", &agent).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(ids(&list.body["items"]), [id]);

    // Agents may not edit or delete; leads and admins may.
    let edit = json!({"ticket_kind": null, "title": "首次回访"});
    assert_eq!(
        app.patch(&path, &agent, edit.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&path, &agent).await.status,
        StatusCode::FORBIDDEN
    );
    let edited = app.patch(&path, &lead, edit).await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(edited.body["ticket_kind"], Value::Null);
    assert_eq!(edited.body["title"], "首次回访");
    assert_eq!(
        edited.body["situation"], "first_call",
        "absent fields are kept"
    );
    assert_eq!(edited.body["body"], FIRST_CALL);
    let paused = app.patch(&path, &admin, json!({"active": false})).await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(paused.body["active"], false);
    let empty = app.patch(&path, &lead, json!({})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.error_fields(), ["body"]);

    // API keys have no scope for scripts: staff only, whatever the key holds.
    let (_, key) = crate::integrations::api_key(
        &app,
        &admin,
        &["tickets:read", "tickets:write", "customers:read"],
    )
    .await;
    for uri in ["/api/v1/call-scripts".to_owned(), path.clone()] {
        let req = TestRequest::get()
            .uri(&uri)
            .insert_header(("x-api-key", key.as_str()));
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{uri}");
    }

    assert_eq!(
        app.delete(&path, &lead).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path, &agent).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &lead).await.status, StatusCode::NOT_FOUND);
    let list = app.get("/api/v1/call-scripts", &agent).await;
    assert_eq!(ids(&list.body["items"]), Vec::<i64>::new());
}

async fn placeholders_and_lengths_are_checked_when_saved(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let with_body = |body: &str| json!({"situation": "follow_up", "title": "回访", "body": body});
    let refusals = [
        ("{customer}您好", "unknown placeholder {customer}"),
        ("您好{shop_name}", "unknown placeholder {shop_name}"),
        ("{ order_no }", "unknown placeholder { order_no }"),
        ("您好{customer_name", "never closed at character 3"),
        ("{order_no{product}", "never closed at character 1"),
        ("您好}", "without its '{' at character 3"),
    ];
    for (body, says) in refusals {
        let res = app
            .post("/api/v1/call-scripts", &lead, with_body(body))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(res.problem_type(), "validation");
        assert_eq!(res.error_fields(), ["body"], "{body}");
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // Doubled braces are literal braces.
    let literal = app
        .post(
            "/api/v1/call-scripts",
            &lead,
            with_body("{{活动}}价格以订单{order_no}为准"),
        )
        .await;
    assert_eq!(literal.status, StatusCode::CREATED, "{:?}", literal.body);
    assert_eq!(literal.body["placeholders"], json!(["order_no"]));

    let too_long = "话".repeat(2001);
    let long_title = "话".repeat(101);
    let lengths = [
        (
            json!({"situation": "follow_up", "title": "t", "body": too_long}),
            "body",
        ),
        (
            json!({"situation": "follow_up", "title": "t", "body": "  "}),
            "body",
        ),
        (
            json!({"situation": "follow_up", "title": long_title, "body": "b"}),
            "title",
        ),
        (
            json!({"situation": "follow_up", "title": " ", "body": "b"}),
            "title",
        ),
        (
            json!({"situation": "later", "title": "t", "body": "b"}),
            "situation",
        ),
        (
            json!({"ticket_kind": "complaint", "situation": "follow_up", "title": "t", "body": "b"}),
            "ticket_kind",
        ),
        (
            json!({"situation": "follow_up", "title": "t", "body": "b", "lang": "zh"}),
            "lang",
        ),
    ];
    for (body, field) in lengths {
        let res = app.post("/api/v1/call-scripts", &lead, body.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(res.error_fields(), [field], "{body}: {:?}", res.body);
    }
    let at_limits =
        json!({"situation": "follow_up", "title": "话".repeat(100), "body": "话".repeat(2000)});
    assert_eq!(
        app.post("/api/v1/call-scripts", &lead, at_limits)
            .await
            .status,
        StatusCode::CREATED
    );

    // An edit is checked as a new script is, and a refused edit changes nothing.
    let id = literal.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/call-scripts/{id}");
    let bad = app
        .patch(&path, &lead, json!({"body": "{product", "active": false}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["body"]);
    let kept = app.get(&path, &lead).await;
    assert_eq!(kept.body["body"], "{{活动}}价格以订单{order_no}为准");
    assert_eq!(kept.body["active"], true);
    let unknown = app.patch(&path, &lead, json!({"body": "{orderno}"})).await;
    assert_eq!(unknown.error_fields(), ["body"]);
    assert!(
        unknown.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{orderno}")
    );
    let null_title = app.patch(&path, &lead, json!({"title": null})).await;
    assert_eq!(null_title.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A lead, an agent named 小王 and a buyer 李娜.
struct Desk {
    app: TestApp,
    lead: String,
    agent: String,
    agent_id: i64,
    customer: i64,
}

async fn desk(app: TestApp) -> Desk {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    app.sql(&format!(
        "UPDATE users SET display_name = '小王' WHERE id = {agent_id}"
    ));
    let customer = app
        .customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    Desk {
        app,
        lead,
        agent,
        agent_id,
        customer,
    }
}

impl Desk {
    async fn ticket(&self, mut body: Value) -> i64 {
        body["customer_id"] = json!(self.customer);
        body["assignee_id"] = json!(self.agent_id);
        let res = self.app.post("/api/v1/tickets", &self.lead, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        res.body["id"].as_i64().unwrap()
    }

    async fn review(&self, order_id: Option<i64>) -> i64 {
        self.ticket(json!({
            "kind": "negative_review", "title": "2-star review", "order_id": order_id,
            "details": {"platform": "tmall", "rating": 2, "review_text": "盖子有缺口"}
        }))
        .await
    }

    async fn order(&self) -> i64 {
        let res = self
            .app
            .post(
                &format!("/api/v1/customers/{}/orders", self.customer),
                &self.lead,
                json!({"channel": "tmall", "external_order_no": "TM-1288", "ordered_at": "2026-11-01T10:00:00+08:00",
                       "items": [{"product_name": "紫砂壶", "quantity": 1, "unit_price_cents": 128800},
                                 {"product_name": "茶杯", "quantity": 2, "unit_price_cents": 3000}]}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        res.body["id"].as_i64().unwrap()
    }

    async fn templates(&self, ticket: i64, token: &str) -> Value {
        let res = self
            .app
            .get(&format!("/api/v1/tickets/{ticket}/templates"), token)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        res.body
    }
}

async fn templates_are_filled_in_for_a_negative_review_with_and_without_an_order(app: TestApp) {
    let d = desk(app).await;
    let script = write(
        &d.app,
        &d.lead,
        json!({"ticket_kind": "negative_review", "situation": "first_call", "title": "差评首次回访", "body": FIRST_CALL}),
    )
    .await;
    let with_braces = write(
        &d.app,
        &d.lead,
        json!({"situation": "refund_offer", "title": "退款", "body": "{{退款}}：{order_no}，{order_no}"}),
    )
    .await;

    let lone = d.review(None).await;
    let templates = d.templates(lone, &d.agent).await;
    assert_eq!(templates["current_situation"], "first_call");
    assert_eq!(ids(&templates["items"]), [script, with_braces]);
    assert_eq!(
        templates["items"][0],
        json!({
            "id": script, "situation": "first_call", "title": "差评首次回访",
            "text": "李娜您好，我是小王，看到您对{product}的评价（订单{order_no}），非常抱歉。",
            "missing": ["product", "order_no"],
        })
    );
    assert_eq!(
        templates["items"][1]["text"],
        "{退款}：{order_no}，{order_no}"
    );
    assert_eq!(templates["items"][1]["missing"], json!(["order_no"]));

    // With the order linked, its number and first item fill the gaps; the name is the
    // reader's own.
    let order = d.order().await;
    let linked = d.review(Some(order)).await;
    let templates = d.templates(linked, &d.lead).await;
    let first = &templates["items"][0];
    assert_eq!(
        first["text"],
        "李娜您好，我是lead lead@shop.example，看到您对紫砂壶的评价（订单TM-1288），非常抱歉。"
    );
    assert_eq!(first["missing"], json!([]));
    let by_agent = d.templates(linked, &d.agent).await;
    assert!(
        by_agent["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("我是小王")
    );

    assert_eq!(
        d.app
            .get("/api/v1/tickets/999999/templates", &d.agent)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let extra = d
        .app
        .get(
            &format!("/api/v1/tickets/{linked}/templates?situation=x"),
            &d.agent,
        )
        .await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn templates_follow_the_ticket_kind_and_state(app: TestApp) {
    let d = desk(app).await;
    let s = |kind: Value, situation: &str, title: &str| json!({"ticket_kind": kind, "situation": situation, "title": title, "body": "{customer_name}，{product}"});
    let review_first = write(
        &d.app,
        &d.lead,
        s(json!("negative_review"), "first_call", "a"),
    )
    .await;
    let any_first = write(&d.app, &d.lead, s(Value::Null, "first_call", "b")).await;
    let review_follow = write(
        &d.app,
        &d.lead,
        s(json!("negative_review"), "follow_up", "c"),
    )
    .await;
    let any_follow = write(&d.app, &d.lead, s(Value::Null, "follow_up", "d")).await;
    let any_resolution = write(&d.app, &d.lead, s(Value::Null, "resolution", "e")).await;
    let return_received = write(&d.app, &d.lead, s(json!("return"), "item_received", "f")).await;
    let paused = write(&d.app, &d.lead, s(Value::Null, "first_call", "g")).await;
    let res = d
        .app
        .patch(
            &format!("/api/v1/call-scripts/{paused}"),
            &d.lead,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);

    // New: the first call's scripts first, the kind's own before kind-less ones; scripts
    // for returns and inactive ones are not offered.
    let review = d.review(None).await;
    let new = d.templates(review, &d.agent).await;
    assert_eq!(new["current_situation"], "first_call");
    assert_eq!(
        ids(&new["items"]),
        [
            review_first,
            any_first,
            review_follow,
            any_follow,
            any_resolution
        ]
    );

    // After the first call: follow-up first.
    let contact = d
        .app
        .post(
            &format!("/api/v1/tickets/{review}/contacts"),
            &d.agent,
            json!({"channel": "phone", "reached": true}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::OK, "{:?}", contact.body);
    let calling = d.templates(review, &d.agent).await;
    assert_eq!(calling["current_situation"], "follow_up");
    assert_eq!(
        ids(&calling["items"]),
        [
            review_follow,
            any_follow,
            review_first,
            any_first,
            any_resolution
        ]
    );

    // Resolved: the closing words first.
    let resolved = d
        .app
        .post(
            &format!("/api/v1/tickets/{review}/resolve"),
            &d.agent,
            json!({"outcome": "review_revised"}),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.body);
    let done = d.templates(review, &d.agent).await;
    assert_eq!(done["current_situation"], "resolution");
    assert_eq!(ids(&done["items"])[0], any_resolution);

    // A return names its product in its details; its own kind's script is offered.
    let a_return = d
        .ticket(json!({
            "kind": "return", "title": "Wrong size",
            "details": {"reason": "too small", "items": [{"product_name": "运动鞋", "quantity": 1}]}
        }))
        .await;
    let returns = d.templates(a_return, &d.agent).await;
    assert_eq!(
        ids(&returns["items"]),
        [any_first, any_follow, return_received, any_resolution]
    );
    assert_eq!(returns["items"][0]["text"], "李娜，运动鞋");
    assert_eq!(returns["items"][0]["missing"], json!([]));

    // Closed: no situation of its own, the scripts in the order of a case's life.
    let closed = d
        .app
        .post(
            &format!("/api/v1/tickets/{a_return}/close"),
            &d.agent,
            json!({"reason": "duplicate"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.body);
    let closed = d.templates(a_return, &d.agent).await;
    assert_eq!(closed["current_situation"], Value::Null);
    assert_eq!(
        ids(&closed["items"]),
        [any_first, any_follow, return_received, any_resolution]
    );
}

async fn lists_filter_by_kind_situation_and_active(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let s = |kind: Value, situation: &str| json!({"ticket_kind": kind, "situation": situation, "title": "t", "body": "b"});
    let repair_received = write(&app, &lead, s(json!("repair"), "item_received")).await;
    let review_first = write(&app, &lead, s(json!("negative_review"), "first_call")).await;
    let any_resolution = write(&app, &lead, s(Value::Null, "resolution")).await;
    let return_refund = write(&app, &lead, s(json!("return"), "refund_offer")).await;
    let any_first = write(&app, &lead, s(Value::Null, "first_call")).await;
    app.patch(
        &format!("/api/v1/call-scripts/{return_refund}"),
        &lead,
        json!({"active": false}),
    )
    .await;

    let list = |query: &'static str| {
        let app = &app;
        let agent = &agent;
        async move {
            let res = app
                .get(&format!("/api/v1/call-scripts{query}"), agent)
                .await;
            assert_eq!(res.status, StatusCode::OK, "{query}: {:?}", res.body);
            ids(&res.body["items"])
        }
    };
    // By situation in a case's order, the kinds' own before kind-less ones.
    assert_eq!(
        list("").await,
        [
            review_first,
            any_first,
            return_refund,
            repair_received,
            any_resolution
        ]
    );
    assert_eq!(
        list("?kind=negative_review").await,
        [review_first, any_first, any_resolution]
    );
    assert_eq!(
        list("?kind=repair").await,
        [any_first, repair_received, any_resolution]
    );
    assert_eq!(
        list("?situation=first_call").await,
        [review_first, any_first]
    );
    assert_eq!(
        list("?kind=return&situation=refund_offer").await,
        [return_refund]
    );
    assert_eq!(list("?active=false").await, [return_refund]);
    assert_eq!(
        list("?kind=return&active=true").await,
        [any_first, any_resolution]
    );
    for bad in [
        "?kind=complaint",
        "?situation=later",
        "?active=maybe",
        "?q=x",
    ] {
        let res = app.get(&format!("/api/v1/call-scripts{bad}"), &agent).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

/// A staff member of a second shop; returns a token.
async fn other_shop_lead(app: &TestApp) -> String {
    app.sql("INSERT INTO shops (id, name) VALUES (2, 'Other shop')");
    let request = CreateUserRequest {
        email: "lead@other.example".into(),
        display_name: "Other lead".into(),
        role: Role::Lead,
        password: PASSWORD.into(),
    };
    let hash = aftercare::auth::password::hash(PASSWORD).expect("hash");
    app.state
        .db
        .write_blocking(|conn| users::create(conn, ShopId(2), &request, &hash))
        .expect("create staff of shop 2");
    let res = app.login("lead@other.example", PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    res.body["access_token"].as_str().unwrap().to_owned()
}

async fn other_shops_scripts_and_tickets_are_not_found(app: TestApp) {
    let d = desk(app).await;
    let ours = write(
        &d.app,
        &d.lead,
        json!({"situation": "first_call", "title": "ours", "body": FIRST_CALL}),
    )
    .await;
    let ticket = d.review(None).await;
    let other = other_shop_lead(&d.app).await;
    let theirs = write(
        &d.app,
        &other,
        json!({"situation": "first_call", "title": "theirs", "body": "您好"}),
    )
    .await;

    let path = format!("/api/v1/call-scripts/{ours}");
    assert_eq!(d.app.get(&path, &other).await.status, StatusCode::NOT_FOUND);
    let edit = d.app.patch(&path, &other, json!({"title": "x"})).await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    assert_eq!(
        d.app.delete(&path, &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(d.app.get(&path, &d.lead).await.body["title"], "ours");
    let list = d.app.get("/api/v1/call-scripts", &other).await;
    assert_eq!(ids(&list.body["items"]), [theirs]);
    let list = d.app.get("/api/v1/call-scripts", &d.agent).await;
    assert_eq!(ids(&list.body["items"]), [ours]);

    let templates = d
        .app
        .get(&format!("/api/v1/tickets/{ticket}/templates"), &other)
        .await;
    assert_eq!(templates.status, StatusCode::NOT_FOUND);
    // Our ticket offers our scripts only.
    assert_eq!(ids(&d.templates(ticket, &d.agent).await["items"]), [ours]);
}

async fn a_shop_keeps_at_most_200_scripts(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let rows: Vec<String> = (0..199)
        .map(|n| {
            format!(
                "(1, 'follow_up', 'script {n}', 'b', TRUE, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        })
        .collect();
    app.sql(&format!(
        "INSERT INTO call_scripts (shop_id, situation, title, body, active, created_at, updated_at) VALUES {}",
        rows.join(", ")
    ));
    let body = json!({"situation": "resolution", "title": "t", "body": "b"});
    let last = write(&app, &lead, body.clone()).await;
    let over = app.post("/api/v1/call-scripts", &lead, body.clone()).await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        over.body
    );
    assert_eq!(over.error_fields(), ["call_scripts"]);
    assert!(
        over.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("200")
    );
    let list = app.get("/api/v1/call-scripts", &lead).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 200);
    // Inactive scripts count too: setting one aside frees no place, deleting does.
    app.patch(
        &format!("/api/v1/call-scripts/{last}"),
        &lead,
        json!({"active": false}),
    )
    .await;
    assert_eq!(
        app.post("/api/v1/call-scripts", &lead, body.clone())
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.delete(&format!("/api/v1/call-scripts/{last}"), &lead)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    write(&app, &lead, body).await;
}

/// The pattern the document gives for a body is the parser's rule: what one accepts the
/// other accepts, so generated clients and fuzzers know the placeholders.
#[test]
fn the_documented_body_pattern_agrees_with_the_rule() {
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    for schema in ["CreateCallScriptRequest", "UpdateCallScriptRequest"] {
        let body = &doc["components"]["schemas"][schema]["properties"]["body"];
        assert!(body["pattern"].is_string(), "{schema}: {body}");
        let validator = jsonschema::validator_for(body).expect("the body schema compiles");
        for text in [
            "您好",
            "{customer_name}您好，我是{agent_name}",
            "{{literal}} {product}\n订单{order_no}",
            "{{{product}}}",
            "}}{{",
            "{customer}",
            "{product",
            "product}",
            "{{order_no}",
            "{order_no{product}",
            "{ order_no }",
            "{}",
        ] {
            let rule = aftercare::scripts::rules::parse(text).is_ok();
            let documented = validator.is_valid(&json!(text));
            assert_eq!(rule, documented, "{schema}: {text:?}");
        }
    }
}
