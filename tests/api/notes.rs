//! Internal notes on tickets and customers: written without moving anything, on the
//! timeline, found by the ticket search, corrected by their author for a short while.

use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    a_ticket_note_moves_nothing_and_is_on_the_timeline_and_in_search,
    customer_notes_and_the_customers_whole_story,
    only_the_author_corrects_a_note_and_only_for_a_while,
);

async fn setup(app: &TestApp) -> (String, i64, String, i64, i64) {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("ann@shop.example", Role::Agent).await;
    let customer = app
        .customer(&admin, json!({"name": "王小姐", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let res = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({"kind": "negative_review", "customer_id": customer, "title": "2-star review",
                "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口"}}),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    (
        admin,
        agent_id,
        agent,
        customer,
        res.body["id"].as_i64().unwrap(),
    )
}

fn items(body: &Value) -> Vec<Value> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .clone()
}

async fn a_ticket_note_moves_nothing_and_is_on_the_timeline_and_in_search(app: TestApp) {
    let (_, agent_id, agent, customer, ticket) = setup(&app).await;
    let before = app
        .get(&format!("/api/v1/tickets/{ticket}"), &agent)
        .await
        .body;
    let path = format!("/api/v1/tickets/{ticket}/notes");
    // Any agent may note any ticket, not only their own (this one is unassigned).
    let res = app
        .post(
            &path,
            &agent,
            json!({"body": "买家下午三点后方便接电话\n更喜欢微信"}),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(res.body["ticket_id"], ticket);
    assert_eq!(res.body["customer_id"], customer);
    assert_eq!(res.body["author_id"], agent_id);
    assert_eq!(res.body["author_name"], "agent ann@shop.example");
    assert_eq!(res.body["edits"], json!([]));
    let note = res.body["id"].as_i64().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/notes/{note}").as_str())
    );
    // Nothing about the ticket moved: state, deadlines, version.
    let after = app
        .get(&format!("/api/v1/tickets/{ticket}"), &agent)
        .await
        .body;
    for field in [
        "state",
        "version",
        "due_at",
        "first_call_due_at",
        "updated_at",
        "assignee_id",
    ] {
        assert_eq!(before[field], after[field], "{field}");
    }
    // Listed, and on the timeline with who wrote it.
    let listed = items(&app.get(&path, &agent).await.body);
    assert_eq!(listed.len(), 1);
    let events = items(
        &app.get(&format!("/api/v1/tickets/{ticket}/events"), &agent)
            .await
            .body,
    );
    let added = events
        .iter()
        .find(|e| e["kind"] == "note_added")
        .expect("a note_added entry");
    assert_eq!(
        added["data"],
        json!({"note_id": note, "body": "买家下午三点后方便接电话\n更喜欢微信"})
    );
    assert_eq!(added["actor_name"], "agent ann@shop.example");
    assert_eq!(added["from_state"], Value::Null);
    // The ticket search finds the note's words.
    let found = app
        .get("/api/v1/tickets?q=%E5%BE%AE%E4%BF%A1", &agent)
        .await;
    assert_eq!(
        items(&found.body)
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![ticket]
    );
    // Bad bodies are named; unknown tickets are 404.
    let res = app.post(&path, &agent, json!({"body": "   "})).await;
    assert_eq!(res.status, 422);
    assert_eq!(res.error_fields(), vec!["body"]);
    assert_eq!(
        app.post("/api/v1/tickets/999999/notes", &agent, json!({"body": "x"}))
            .await
            .status,
        404
    );
}

async fn customer_notes_and_the_customers_whole_story(app: TestApp) {
    let (admin, _, agent, customer, ticket) = setup(&app).await;
    let res = app
        .post(
            &format!("/api/v1/customers/{customer}/notes"),
            &agent,
            json!({"body": "老客户，逢年过节问候"}),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(res.body["ticket_id"], Value::Null);
    let res = app
        .post(
            &format!("/api/v1/tickets/{ticket}/notes"),
            &agent,
            json!({"body": "已寄出新盖子"}),
        )
        .await;
    assert_eq!(res.status, 201);
    // The customer's notes: on the file and on their tickets, oldest first, paged.
    let path = format!("/api/v1/customers/{customer}/notes?limit=1");
    let first = app.get(&path, &agent).await;
    assert_eq!(items(&first.body)[0]["body"], "老客户，逢年过节问候");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("{path}&cursor={cursor}"), &agent).await;
    assert_eq!(items(&second.body)[0]["ticket_id"], ticket);
    // The ticket's list holds only its own.
    assert_eq!(
        items(
            &app.get(&format!("/api/v1/tickets/{ticket}/notes"), &agent)
                .await
                .body
        )
        .len(),
        1
    );
    // An archived customer's file is read-only.
    assert_eq!(
        app.delete(&format!("/api/v1/customers/{customer}"), &admin)
            .await
            .status,
        204
    );
    let res = app
        .post(
            &format!("/api/v1/customers/{customer}/notes"),
            &agent,
            json!({"body": "x"}),
        )
        .await;
    assert_eq!(res.status, 409);
    assert_eq!(res.problem_type(), "customer-archived");
}

async fn only_the_author_corrects_a_note_and_only_for_a_while(app: TestApp) {
    let (admin, _, agent, _, ticket) = setup(&app).await;
    let res = app
        .post(
            &format!("/api/v1/tickets/{ticket}/notes"),
            &agent,
            json!({"body": "买家电话 138"}),
        )
        .await;
    let note = res.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/notes/{note}");
    // Someone else, even an admin: 403.
    let res = app.patch(&path, &admin, json!({"body": "改"})).await;
    assert_eq!(res.status, 403, "{:?}", res.body);
    // The author: the earlier text is kept, the timeline records both.
    let res = app
        .patch(&path, &agent, json!({"body": "买家电话 13800138000"}))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["body"], "买家电话 13800138000");
    assert_eq!(res.body["edits"][0]["body"], "买家电话 138");
    assert!(res.body["edited_at"].is_string());
    let events = items(
        &app.get(&format!("/api/v1/tickets/{ticket}/events"), &agent)
            .await
            .body,
    );
    let edited = events
        .iter()
        .find(|e| e["kind"] == "note_edited")
        .expect("a note_edited entry");
    assert_eq!(
        edited["data"],
        json!({"note_id": note, "before": "买家电话 138", "after": "买家电话 13800138000"})
    );
    // Search follows the correction.
    let found = app.get("/api/v1/tickets?q=13800138000", &agent).await;
    assert_eq!(items(&found.body).len(), 1);
    // After the window: 409 note-locked, and nothing changes.
    app.sql(&format!(
        "UPDATE notes SET created_at = '2026-01-01 00:00:00' WHERE id = {note}"
    ));
    let res = app.patch(&path, &agent, json!({"body": "too late"})).await;
    assert_eq!(res.status, 409, "{:?}", res.body);
    assert_eq!(res.problem_type(), "note-locked");
    let listed = items(
        &app.get(&format!("/api/v1/tickets/{ticket}/notes"), &agent)
            .await
            .body,
    );
    assert_eq!(listed[0]["body"], "买家电话 13800138000");
    assert_eq!(
        app.patch("/api/v1/notes/999999", &agent, json!({"body": "x"}))
            .await
            .status,
        404
    );
}
