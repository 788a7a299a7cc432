//! Tickets: workflow, roles, deadlines, concurrency, queues, timeline, bad input.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use aftercare::auth::roles::Role;
use aftercare::tickets::workflow::AutoAssign;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::{Response, TestApp, backend_tests};

backend_tests!(
    refunds_are_bounded_by_what_was_paid_and_move_the_order,
    the_happy_path_through_every_state,
    every_forbidden_transition_is_409_with_the_allowed_next_states,
    agents_change_only_their_own_tickets,
    assignment_rules,
    deadlines_follow_the_policy,
    racing_clients_never_lose_a_change,
    queue_filters_and_sorts,
    my_queue_puts_overdue_first,
    timeline_records_every_change,
    bad_ticket_input_names_each_field,
    satisfaction_is_recorded_once_and_corrected_by_leads,
    each_resolution_gets_its_own_satisfaction,
    the_same_review_never_opens_two_tickets,
    four_and_five_star_reviews_open_no_ticket,
);

struct Desk {
    app: TestApp,
    lead: String,
    agent: String,
    agent_id: i64,
    other_agent: String,
    customer: i64,
}

async fn desk(app: TestApp) -> Desk {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, other_agent) = app.staff_token("other@shop.example", Role::Agent).await;
    let customer = app
        .customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    Desk {
        app,
        lead,
        agent,
        agent_id,
        other_agent,
        customer,
    }
}

fn review(customer: i64) -> Value {
    json!({
        "kind": "negative_review", "customer_id": customer, "title": "2-star review",
        "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口"}
    })
}

fn repair(customer: i64) -> Value {
    json!({
        "kind": "repair", "customer_id": customer, "title": "Kettle will not heat",
        "details": {"fault": "no heat", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}
    })
}

fn a_return(customer: i64) -> Value {
    json!({
        "kind": "return", "customer_id": customer, "title": "Wrong size",
        "details": {"reason": "too small", "items": [{"product_name": "Shoes", "sku": "S-40", "quantity": 1}], "requested_refund_cents": 25900}
    })
}

impl Desk {
    async fn open(&self, token: &str, mut body: Value, assignee: Option<i64>) -> Response {
        if let Some(id) = assignee {
            body["assignee_id"] = json!(id);
        }
        let res = self.app.post("/api/v1/tickets", token, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "open: {:?}", res.body);
        res
    }

    /// Opens a ticket assigned to the agent; returns its id.
    async fn mine(&self, body: Value) -> i64 {
        self.open(&self.agent, body, Some(self.agent_id)).await.body["id"]
            .as_i64()
            .unwrap()
    }

    async fn act(&self, token: &str, id: i64, action: &str, body: Value) -> Response {
        self.app
            .post(&format!("/api/v1/tickets/{id}/{action}"), token, body)
            .await
    }

    async fn contact(&self, id: i64, reached: bool) -> Response {
        self.act(
            &self.agent,
            id,
            "contacts",
            json!({"channel": "phone", "reached": reached, "note": "called"}),
        )
        .await
    }
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn the_happy_path_through_every_state(app: TestApp) {
    let d = desk(app).await;
    let id = d.mine(review(d.customer)).await;
    let first = d.contact(id, false).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["state"], "first_call");
    assert!(first.body["first_contact_at"].is_string());
    let second = d.contact(id, true).await;
    assert_eq!(second.body["state"], "follow_up");
    assert_eq!(
        second.body["first_contact_at"], first.body["first_contact_at"],
        "stamped once"
    );
    let third = d.contact(id, true).await;
    assert_eq!(third.body["state"], "follow_up");
    let resolved = d
        .act(
            &d.agent,
            id,
            "resolve",
            json!({"outcome": "review_revised", "note": "now 5 stars"}),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.body);
    assert_eq!(resolved.body["state"], "resolved");
    assert_eq!(resolved.body["outcome"], "review_revised");
    assert_eq!(resolved.body["due_at"], Value::Null);
    assert_eq!(resolved.body["allowed_actions"], json!(["reopen"]));
    let reopened = d
        .act(
            &d.lead,
            id,
            "reopen",
            json!({"reason": "buyer called back"}),
        )
        .await;
    assert_eq!(reopened.body["state"], "follow_up");
    assert_eq!(reopened.body["outcome"], Value::Null);
    let closed = d
        .act(&d.agent, id, "close", json!({"reason": "refused"}))
        .await;
    assert_eq!(closed.body["state"], "closed");
    assert_eq!(closed.body["close_reason"], "refused");
    assert_eq!(
        d.act(&d.lead, id, "reopen", json!({"reason": "again"}))
            .await
            .body["state"],
        "follow_up"
    );

    // Refund outcomes carry an amount; each kind has its own outcomes.
    let ret = d.mine(a_return(d.customer)).await;
    d.contact(ret, true).await;
    let refunded = d
        .act(
            &d.agent,
            ret,
            "resolve",
            json!({"outcome": "returned_refunded", "refund_cents": 25900}),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::OK, "{:?}", refunded.body);
    assert_eq!(refunded.body["refund_cents"], 25900);
    let new_one = d.mine(repair(d.customer)).await;
    let closed_new = d
        .act(&d.agent, new_one, "close", json!({"reason": "duplicate"}))
        .await;
    assert_eq!(
        closed_new.body["state"], "closed",
        "new tickets may be closed"
    );

    let file = d
        .app
        .get(&format!("/api/v1/customers/{}", d.customer), &d.agent)
        .await;
    assert_eq!(file.body["tickets"]["resolved"], 1);
    assert_eq!(file.body["tickets"]["closed"], 1);
    assert_eq!(file.body["tickets"]["open"], 1);
    assert!(
        file.body["last_contacted_at"].is_string(),
        "contacts stamp the customer"
    );
}

async fn every_forbidden_transition_is_409_with_the_allowed_next_states(app: TestApp) {
    let d = desk(app).await;
    let resolve = json!({"outcome": "repaired"});
    let close = json!({"reason": "invalid"});
    let reopen = json!({"reason": "why not"});
    let contact = json!({"channel": "sms", "reached": false});
    // (state the ticket is brought to, action, body, allowed next states)
    let new = d.mine(repair(d.customer)).await;
    let first_call = d.mine(repair(d.customer)).await;
    d.contact(first_call, false).await;
    let resolved = d.mine(repair(d.customer)).await;
    d.contact(resolved, true).await;
    d.act(&d.agent, resolved, "resolve", resolve.clone()).await;
    let closed = d.mine(repair(d.customer)).await;
    d.act(&d.agent, closed, "close", close.clone()).await;
    let follow_up = d.mine(repair(d.customer)).await;
    d.contact(follow_up, false).await;
    d.contact(follow_up, false).await;
    let cases = [
        (
            new,
            "new",
            "resolve",
            resolve.clone(),
            json!(["first_call", "closed"]),
        ),
        (
            new,
            "new",
            "reopen",
            reopen.clone(),
            json!(["first_call", "closed"]),
        ),
        (
            first_call,
            "first_call",
            "reopen",
            reopen.clone(),
            json!(["follow_up", "resolved", "closed"]),
        ),
        (
            follow_up,
            "follow_up",
            "reopen",
            reopen.clone(),
            json!(["follow_up", "resolved", "closed"]),
        ),
        (
            resolved,
            "resolved",
            "contacts",
            contact.clone(),
            json!(["follow_up"]),
        ),
        (
            resolved,
            "resolved",
            "resolve",
            resolve.clone(),
            json!(["follow_up"]),
        ),
        (
            resolved,
            "resolved",
            "close",
            close.clone(),
            json!(["follow_up"]),
        ),
        (
            closed,
            "closed",
            "contacts",
            contact.clone(),
            json!(["follow_up"]),
        ),
        (
            closed,
            "closed",
            "resolve",
            resolve.clone(),
            json!(["follow_up"]),
        ),
        (
            closed,
            "closed",
            "close",
            close.clone(),
            json!(["follow_up"]),
        ),
    ];
    for (id, state, action, body, allowed) in cases {
        let res = d.act(&d.lead, id, action, body).await;
        assert_eq!(
            res.status,
            StatusCode::CONFLICT,
            "{state} {action}: {:?}",
            res.body
        );
        assert_eq!(res.problem_type(), "invalid-transition");
        assert_eq!(res.body["current_state"], state);
        assert_eq!(res.body["allowed_next_states"], allowed, "{state} {action}");
        let unchanged = d.app.get(&format!("/api/v1/tickets/{id}"), &d.lead).await;
        assert_eq!(unchanged.body["state"], state);
    }
}

async fn agents_change_only_their_own_tickets(app: TestApp) {
    let d = desk(app).await;
    let id = d.mine(review(d.customer)).await;
    let path = format!("/api/v1/tickets/{id}");
    let tries = [
        d.act(
            &d.other_agent,
            id,
            "contacts",
            json!({"channel": "phone", "reached": true}),
        )
        .await,
        d.act(&d.other_agent, id, "close", json!({"reason": "invalid"}))
            .await,
        d.app
            .patch(&path, &d.other_agent, json!({"title": "mine now"}))
            .await,
    ];
    for res in tries {
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.body);
    }
    // Everyone can read it; a lead can change it.
    assert_eq!(
        d.app.get(&path, &d.other_agent).await.status,
        StatusCode::OK
    );
    let by_lead = d
        .act(
            &d.lead,
            id,
            "contacts",
            json!({"channel": "wechat", "reached": true}),
        )
        .await;
    assert_eq!(by_lead.status, StatusCode::OK);
    d.act(
        &d.agent,
        id,
        "resolve",
        json!({"outcome": "review_withdrawn"}),
    )
    .await;
    let reopen = d
        .act(&d.agent, id, "reopen", json!({"reason": "I want to"}))
        .await;
    assert_eq!(reopen.status, StatusCode::FORBIDDEN);
    assert_eq!(d.app.get(&path, &d.agent).await.body["state"], "resolved");
    let unauthenticated = d.app.call(Method::GET, &path, None, None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
}

async fn assignment_rules(app: TestApp) {
    let d = desk(app).await;
    let unassigned = d.open(&d.lead, repair(d.customer), None).await.body["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/tickets/{unassigned}/assignee");
    // Unassigning is an explicit null; a body that forgets the field is refused.
    let forgot = d.app.put(&path, &d.lead, json!({})).await;
    assert_eq!(forgot.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(forgot.error_fields(), ["assignee_id"]);
    let other_id = d.app.get("/api/v1/auth/me", &d.other_agent).await.body["id"]
        .as_i64()
        .unwrap();
    // An agent may not hand a ticket to someone else, nor open one for someone else.
    assert_eq!(
        d.app
            .put(&path, &d.agent, json!({"assignee_id": other_id}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let for_other = d.app.post("/api/v1/tickets", &d.agent, json!({"assignee_id": other_id, "kind": "repair", "customer_id": d.customer, "title": "x", "details": {"fault": "f", "items": [{"product_name": "p", "quantity": 1}], "under_warranty": false}})).await;
    assert_eq!(for_other.status, StatusCode::FORBIDDEN);
    // An agent takes an unassigned ticket; then it is no longer up for grabs.
    let taken = d
        .app
        .put(&path, &d.agent, json!({"assignee_id": d.agent_id}))
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{:?}", taken.body);
    assert_eq!(taken.body["assignee_id"], d.agent_id);
    let other_takes = d
        .app
        .put(&path, &d.other_agent, json!({"assignee_id": other_id}))
        .await;
    assert_eq!(other_takes.status, StatusCode::FORBIDDEN);
    let unassign = d
        .app
        .put(&path, &d.agent, json!({"assignee_id": null}))
        .await;
    assert_eq!(unassign.status, StatusCode::FORBIDDEN);
    // A lead reassigns and unassigns.
    let moved = d
        .app
        .put(&path, &d.lead, json!({"assignee_id": other_id}))
        .await;
    assert_eq!(moved.body["assignee_id"], other_id);
    let cleared = d
        .app
        .put(&path, &d.lead, json!({"assignee_id": null}))
        .await;
    assert_eq!(cleared.body["assignee_id"], Value::Null);
    let nobody = d
        .app
        .put(&path, &d.lead, json!({"assignee_id": 999999}))
        .await;
    assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nobody.error_fields(), ["assignee_id"]);
}

async fn deadlines_follow_the_policy(app: TestApp) {
    let d = desk(app).await;
    for (body, hours, priority) in [
        (review(d.customer), 2, "high"),
        (a_return(d.customer), 4, "normal"),
        (repair(d.customer), 8, "normal"),
    ] {
        let res = d.open(&d.agent, body, Some(d.agent_id)).await;
        let created = at(&res.body["created_at"]);
        assert_eq!(
            at(&res.body["first_call_due_at"]) - created,
            Duration::hours(hours)
        );
        assert_eq!(res.body["due_at"], res.body["first_call_due_at"]);
        assert_eq!(res.body["priority"], priority);
        assert_eq!(res.body["state"], "new");
    }
    let id = d.mine(review(d.customer)).await;
    let unreached = d.contact(id, false).await;
    let gap = at(&unreached.body["next_follow_up_at"]) - at(&unreached.body["last_contact_at"]);
    assert_eq!(gap, Duration::hours(24));
    assert_eq!(
        unreached.body["due_at"],
        unreached.body["next_follow_up_at"]
    );
    let reached = d.contact(id, true).await;
    let gap = at(&reached.body["next_follow_up_at"]) - at(&reached.body["last_contact_at"]);
    assert_eq!(gap, Duration::hours(72));
    let chosen =
        (Utc::now() + Duration::hours(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let explicit = d
        .act(
            &d.agent,
            id,
            "contacts",
            json!({"channel": "sms", "reached": false, "next_follow_up_at": chosen}),
        )
        .await;
    assert_eq!(
        at(&explicit.body["next_follow_up_at"]),
        chosen.parse::<DateTime<Utc>>().unwrap()
    );
    let past = d.act(&d.agent, id, "contacts", json!({"channel": "sms", "reached": false, "next_follow_up_at": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(past.error_fields(), ["next_follow_up_at"]);
}

async fn racing_clients_never_lose_a_change(app: TestApp) {
    let d = desk(app).await;
    let id = d.mine(review(d.customer)).await;
    let path = format!("/api/v1/tickets/{id}");
    let read = d.app.get(&path, &d.lead).await;
    let etag = read.header("etag").unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", read.body["version"]));
    let patch = |token: &str, title: &str, etag: &str| {
        TestRequest::patch()
            .uri(&path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("if-match", etag.to_owned()))
            .set_json(json!({"title": title}))
    };
    // Both clients saw the same version; both send their change at once.
    let (a, b) = futures_util::join!(
        d.app.send(patch(&d.lead, "from the lead", &etag)),
        d.app.send(patch(&d.agent, "from the agent", &etag))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "{:?} {:?}",
        a.body,
        b.body
    );
    let loser = if a.status == StatusCode::PRECONDITION_FAILED {
        &a
    } else {
        &b
    };
    assert_eq!(loser.problem_type(), "precondition-failed");
    // Details that cannot apply to the ticket's kind are a 422 even with a stale If-Match:
    // the request could never succeed, whatever the version.
    let invalid = d
        .app
        .send(
            TestRequest::patch()
                .uri(&path)
                .insert_header(("authorization", format!("Bearer {}", d.lead)))
                .insert_header(("if-match", etag.clone()))
                .set_json(json!({"details": {"platform": "taobao", "rating": "two"}})),
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        invalid.body
    );
    let winner = if a.status == StatusCode::OK { &a } else { &b };
    let now = d.app.get(&path, &d.lead).await;
    assert_eq!(now.body["title"], winner.body["title"]);
    assert_eq!(now.header("etag"), winner.header("etag"));
    // Retrying with the fresh ETag succeeds; the timeline holds both edits' effects.
    // The retry carries a title neither racer sent, so it is a real edit whichever won.
    let retry = d
        .app
        .send(patch(
            &d.agent,
            "retried by the agent",
            now.header("etag").unwrap(),
        ))
        .await;
    assert_eq!(retry.status, StatusCode::OK);
    let edits: Vec<Value> = d.app.get(&format!("{path}/events"), &d.lead).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "edited")
        .cloned()
        .collect();
    assert_eq!(edits.len(), 2);
    assert_eq!(edits[1]["data"]["before"]["title"], winner.body["title"]);
    // Without If-Match, changes are applied one after the other: none is lost.
    let contacts: Vec<_> = (0..4)
        .map(|_| {
            d.act(
                &d.agent,
                id,
                "contacts",
                json!({"channel": "phone", "reached": false}),
            )
        })
        .collect();
    let results = futures_util::future::join_all(contacts).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    let logged = d.app.get(&format!("{path}/events"), &d.lead).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "contact_logged")
        .count();
    assert_eq!(logged, 4);
    let stale = d.app.send(patch(&d.lead, "stale", &etag)).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let star = d.app.send(patch(&d.lead, "any version", "*")).await;
    assert_eq!(star.status, StatusCode::OK);
    // A header that is no validator of ours says so; it does not claim the ticket changed.
    for garbage in ["abc", "", "\"abc\"", "7"] {
        let bad = d.app.send(patch(&d.lead, "garbage", garbage)).await;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{garbage:?}: {:?}",
            bad.body
        );
        assert_eq!(bad.error_fields(), ["If-Match"], "{garbage:?}");
    }
}

fn ids(res: &Response) -> Vec<i64> {
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn set(list: Vec<i64>) -> BTreeSet<i64> {
    list.into_iter().collect()
}

async fn queue_filters_and_sorts(app: TestApp) {
    let d = desk(app).await;
    let second_customer = d.app
        .customer(&d.lead, json!({"name": "B", "contacts": [{"kind": "phone", "value": "13900139000"}], "source": "online"}))
        .await;
    let review_new = d.mine(review(d.customer)).await;
    let repair_new = d.open(&d.lead, repair(second_customer), None).await.body["id"]
        .as_i64()
        .unwrap();
    let return_followup = d.mine(a_return(d.customer)).await;
    d.contact(return_followup, false).await;
    d.contact(return_followup, false).await;
    let urgent = d.open(&d.lead, json!({"priority": "urgent", "kind": "repair", "customer_id": d.customer, "title": "u", "details": {"fault": "f", "items": [{"product_name": "p", "quantity": 1}], "under_warranty": false}}), None).await.body["id"].as_i64().unwrap();
    // Make the review's first call overdue.
    d.app.sql(&format!(
        "UPDATE tickets SET first_call_due_at = '2026-01-01 00:00:00', due_at = '2026-01-01 00:00:00' WHERE id = {review_new}"
    ));
    let d = &d;
    let list = |q: &str| format!("/api/v1/tickets?{q}");
    let get = |q: &'static str| async move { set(ids(&d.app.get(&list(q), &d.lead).await)) };
    assert_eq!(
        get("state=new").await,
        set(vec![review_new, repair_new, urgent])
    );
    assert_eq!(
        get("state=follow_up,first_call").await,
        set(vec![return_followup])
    );
    assert_eq!(get("kind=repair").await, set(vec![repair_new, urgent]));
    assert_eq!(get("assignee=none").await, set(vec![repair_new, urgent]));
    assert_eq!(
        set(ids(&d.app.get(&list("assignee=me"), &d.agent).await)),
        set(vec![review_new, return_followup])
    );
    assert_eq!(
        set(ids(&d
            .app
            .get(&list(&format!("assignee={}", d.agent_id)), &d.lead)
            .await)),
        set(vec![review_new, return_followup])
    );
    assert_eq!(
        set(ids(&d
            .app
            .get(&list(&format!("customer_id={second_customer}")), &d.lead)
            .await)),
        set(vec![repair_new])
    );
    assert_eq!(get("priority=urgent").await, set(vec![urgent]));
    assert_eq!(get("overdue_first_call=true").await, set(vec![review_new]));
    let soon = (Utc::now() + Duration::hours(25)).format("%Y-%m-%dT%H:%M:%SZ");
    assert_eq!(
        set(ids(&d
            .app
            .get(&list(&format!("follow_up_due_before={soon}")), &d.lead)
            .await)),
        set(vec![return_followup])
    );
    assert!(
        get("follow_up_due_before=2026-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    let from = (Utc::now() - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert_eq!(
        set(ids(&d
            .app
            .get(&list(&format!("created_from={from}&kind=return")), &d.lead)
            .await)),
        set(vec![return_followup])
    );
    assert!(get("created_to=2020-01-01T00:00:00Z").await.is_empty());
    let combined = d
        .app
        .get(
            &list("state=new&kind=repair&assignee=none&priority=urgent&with_total=true"),
            &d.lead,
        )
        .await;
    assert_eq!(ids(&combined), [urgent]);
    assert_eq!(combined.body["total"], 1);

    // Sorts, paged two at a time: every ticket once, in order.
    let walk = |sort: &'static str| async move {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/tickets?sort={sort}&limit=2");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = d.app.get(&path, &d.lead).await;
            seen.extend(ids(&page));
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return seen,
            }
        }
    };
    let by_due = walk("due").await;
    assert_eq!(by_due[0], review_new, "the overdue first call leads");
    assert_eq!(set(by_due.clone()).len(), 4);
    let by_priority = walk("priority").await;
    assert_eq!(by_priority[0], urgent);
    assert_eq!(by_priority[1], review_new, "reviews are high priority");
    assert_eq!(
        walk("newest").await,
        [urgent, return_followup, repair_new, review_new]
    );
    for bad in [
        "state=open",
        "assignee=someone",
        "sort=oldest",
        "limit=0",
        "overdue_first_call=yes",
        "created_from=yesterday",
    ] {
        let res = d.app.get(&list(bad), &d.lead).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let inverted = d
        .app
        .get(
            &list("created_from=2026-02-01T00:00:00Z&created_to=2026-01-01T00:00:00Z"),
            &d.lead,
        )
        .await;
    assert_eq!(inverted.error_fields(), ["created_to"]);
}

async fn my_queue_puts_overdue_first(app: TestApp) {
    let d = desk(app).await;
    let overdue = d.mine(review(d.customer)).await;
    let later_today = d.mine(review(d.customer)).await;
    let tomorrow = d.mine(repair(d.customer)).await;
    let not_mine = d.open(&d.lead, review(d.customer), None).await.body["id"]
        .as_i64()
        .unwrap();
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    // Pin due times relative to the caller's day (UTC here) so the test holds at any hour.
    let now = Utc::now();
    let end_of_day = now.date_naive().and_hms_opt(23, 59, 59).unwrap().and_utc();
    let today_due = now + (end_of_day - now) / 2;
    d.app.sql(&format!(
        "UPDATE tickets SET due_at = '{}' WHERE id = {overdue}",
        fmt(now - Duration::hours(3))
    ));
    d.app.sql(&format!(
        "UPDATE tickets SET due_at = '{}' WHERE id = {later_today}",
        fmt(today_due)
    ));
    d.app.sql(&format!(
        "UPDATE tickets SET due_at = '{}' WHERE id = {tomorrow}",
        fmt(end_of_day + Duration::hours(5))
    ));
    d.app.sql(&format!(
        "UPDATE tickets SET due_at = '{}' WHERE id = {not_mine}",
        fmt(now - Duration::hours(1))
    ));
    let queue = d
        .app
        .get("/api/v1/me/queue?utc_offset=%2B00:00", &d.agent)
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{:?}", queue.body);
    let list = |key: &str| -> Vec<i64> {
        queue.body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(list("overdue"), [overdue]);
    if today_due > now {
        assert_eq!(list("due_today"), [later_today]);
    }
    assert!(queue.body["overdue"][0]["overdue"].as_bool().unwrap());
    let bad = d.app.get("/api/v1/me/queue?utc_offset=8", &d.agent).await;
    assert_eq!(bad.error_fields(), ["utc_offset"]);
}

async fn timeline_records_every_change(app: TestApp) {
    let d = desk(app).await;
    let id = d.open(&d.lead, review(d.customer), None).await.body["id"]
        .as_i64()
        .unwrap();
    d.app
        .put(
            &format!("/api/v1/tickets/{id}/assignee"),
            &d.lead,
            json!({"assignee_id": d.agent_id}),
        )
        .await;
    d.app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &d.agent,
            json!({"priority": "urgent", "title": "2-star review"}),
        )
        .await;
    d.contact(id, false).await;
    d.contact(id, true).await;
    d.act(
        &d.agent,
        id,
        "resolve",
        json!({"outcome": "review_kept_customer_satisfied"}),
    )
    .await;
    d.app
        .put(
            &format!("/api/v1/tickets/{id}/satisfaction"),
            &d.agent,
            json!({"score": 4}),
        )
        .await;
    d.app
        .put(
            &format!("/api/v1/tickets/{id}/satisfaction"),
            &d.lead,
            json!({"score": 5, "comment": "called to thank us"}),
        )
        .await;
    d.act(&d.lead, id, "reopen", json!({"reason": "new complaint"}))
        .await;
    let events = d
        .app
        .get(&format!("/api/v1/tickets/{id}/events"), &d.agent)
        .await;
    assert_eq!(events.status, StatusCode::OK);
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "assigned",
            "edited",
            "contact_logged",
            "contact_logged",
            "state_changed",
            "satisfaction_recorded",
            "satisfaction_corrected",
            "state_changed"
        ]
    );
    let e = events.body["items"].as_array().unwrap();
    assert_eq!(
        e[1]["data"],
        json!({"before": null, "after": d.agent_id, "automatic": false})
    );
    assert_eq!(
        e[2]["data"]["before"],
        json!({"priority": "high"}),
        "only what changed"
    );
    assert_eq!(e[2]["data"]["after"], json!({"priority": "urgent"}));
    assert_eq!(
        (e[3]["from_state"].as_str(), e[3]["to_state"].as_str()),
        (Some("new"), Some("first_call"))
    );
    assert_eq!(e[3]["data"]["reached"], false);
    assert_eq!(
        (e[4]["from_state"].as_str(), e[4]["to_state"].as_str()),
        (Some("first_call"), Some("follow_up"))
    );
    assert_eq!(e[5]["data"]["outcome"], "review_kept_customer_satisfied");
    assert_eq!(e[7]["data"]["before"]["score"], 4);
    assert_eq!(e[7]["data"]["after"]["score"], 5);
    assert_eq!(
        e[8]["data"]["previous"]["outcome"],
        "review_kept_customer_satisfied"
    );
    assert!(
        e.iter()
            .all(|e| e["actor_id"].is_i64() && e["at"].is_string())
    );
    assert_eq!(e[8]["data"]["previous"]["satisfaction"]["score"], 5);
    assert!(events.body["next_cursor"].is_null());

    // The timeline is a page like every other list: walked four events at a time, it is
    // the same nine events in the same order.
    let (mut walked, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let page = d
            .app
            .get(
                &format!("/api/v1/tickets/{id}/events?limit=4{query}"),
                &d.agent,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        walked.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(&walked, e);
    let bad = d
        .app
        .get(&format!("/api/v1/tickets/{id}/events?limit=0"), &d.agent)
        .await;
    assert_eq!(bad.error_fields(), ["limit"]);
}

async fn bad_ticket_input_names_each_field(app: TestApp) {
    let d = desk(app).await;
    let other = d.app
        .customer(&d.lead, json!({"name": "O", "contacts": [{"kind": "phone", "value": "13900139000"}], "source": "online"}))
        .await;
    let order = d.app
        .post(&format!("/api/v1/customers/{other}/orders"), &d.lead, json!({"channel": "taobao", "external_order_no": "X", "items": [{"product_name": "T", "quantity": 1, "unit_price_cents": 1}], "ordered_at": "2026-01-01T00:00:00Z"}))
        .await.body["id"].as_i64().unwrap();
    let with = |patch: Value| {
        let mut body = review(d.customer);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (with(json!({"kind": "complaint"})), "kind"),
        (with(json!({"customer_id": 999999})), "customer_id"),
        (with(json!({"customer_id": "abc"})), "customer_id"),
        (with(json!({"order_id": order})), "order_id"),
        (with(json!({"title": ""})), "title"),
        (with(json!({"priority": "asap"})), "priority"),
        (
            with(json!({"details": {"platform": "taobao", "rating": 0}})),
            "details.rating",
        ),
        (
            with(json!({"details": {"platform": "amazon", "rating": 2}})),
            "details.platform",
        ),
        (
            with(json!({"details": {"platform": "jd", "rating": 2, "stars": 2}})),
            "details.stars",
        ),
        (with(json!({"kind": "return"})), "details.platform"),
        (with(json!({"assignee_id": 999999})), "assignee_id"),
        (with(json!({"secret": 1})), "secret"),
    ];
    for (body, field) in cases {
        let res = d.app.post("/api/v1/tickets", &d.lead, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            res.body
        );
        assert_eq!(res.error_fields(), [field], "{body}: {:?}", res.body);
    }
    assert!(
        ids(&d.app.get("/api/v1/tickets", &d.lead).await).is_empty(),
        "nothing written"
    );

    let id = d.mine(a_return(d.customer)).await;
    d.contact(id, true).await;
    let action_cases = [
        (
            "contacts",
            json!({"channel": "fax", "reached": true}),
            "channel",
        ),
        ("contacts", json!({"channel": "phone"}), "reached"),
        (
            "contacts",
            json!({"channel": "phone", "reached": true, "note": "x".repeat(5001)}),
            "note",
        ),
        ("resolve", json!({"outcome": "repaired"}), "outcome"),
        (
            "resolve",
            json!({"outcome": "returned_refunded"}),
            "refund_cents",
        ),
        (
            "resolve",
            json!({"outcome": "exchanged", "refund_cents": 100}),
            "refund_cents",
        ),
        (
            "resolve",
            json!({"outcome": "refund_only", "refund_cents": -1}),
            "refund_cents",
        ),
        ("close", json!({"reason": "bored"}), "reason"),
        ("reopen", json!({"reason": ""}), "reason"),
    ];
    for (action, body, field) in action_cases {
        let res = d.act(&d.lead, id, action, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action} {body}: {:?}",
            res.body
        );
        assert_eq!(res.error_fields(), [field], "{action} {body}");
    }
    let bad_patch = d
        .app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &d.agent,
            json!({"details": {"platform": "jd", "rating": 1}}),
        )
        .await;
    assert_eq!(bad_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_patch.error_fields()[0].starts_with("details"));
    assert_eq!(
        d.app
            .get(&format!("/api/v1/tickets/{id}"), &d.lead)
            .await
            .body["state"],
        "first_call"
    );
    assert_eq!(
        d.app.get("/api/v1/tickets/abc", &d.lead).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        d.app.get("/api/v1/tickets/424242", &d.lead).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn satisfaction_is_recorded_once_and_corrected_by_leads(app: TestApp) {
    let d = desk(app).await;
    let id = d.mine(repair(d.customer)).await;
    let path = format!("/api/v1/tickets/{id}/satisfaction");
    let early = d.app.put(&path, &d.agent, json!({"score": 5})).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.problem_type(), "not-resolved");
    d.contact(id, true).await;
    d.act(&d.agent, id, "resolve", json!({"outcome": "repaired"}))
        .await;
    for score in [0, 6] {
        let res = d.app.put(&path, &d.agent, json!({"score": score})).await;
        assert_eq!(res.error_fields(), ["score"]);
    }
    assert_eq!(
        d.app
            .put(&path, &d.other_agent, json!({"score": 5}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let recorded = d
        .app
        .put(&path, &d.agent, json!({"score": 2, "comment": "slow"}))
        .await;
    assert_eq!(recorded.status, StatusCode::OK);
    assert_eq!(recorded.body["satisfaction"]["score"], 2);
    let again = d.app.put(&path, &d.agent, json!({"score": 5})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_type(), "satisfaction-recorded");
    let corrected = d.app.put(&path, &d.lead, json!({"score": 3})).await;
    assert_eq!(corrected.status, StatusCode::OK);
    assert_eq!(
        corrected.body["satisfaction"],
        json!({"score": 3, "comment": null, "recorded_at": corrected.body["satisfaction"]["recorded_at"],
               "source": "staff", "reasons": []})
    );
}

async fn each_resolution_gets_its_own_satisfaction(app: TestApp) {
    let d = desk(app).await;
    let id = d.mine(repair(d.customer)).await;
    let path = format!("/api/v1/tickets/{id}/satisfaction");
    d.contact(id, true).await;
    d.act(&d.agent, id, "resolve", json!({"outcome": "repaired"}))
        .await;
    let first = d.app.put(&path, &d.agent, json!({"score": 5})).await;
    assert_eq!(first.status, StatusCode::OK);
    // The kettle broke again: reopened, the old score no longer describes the ticket.
    let reopened = d
        .act(&d.lead, id, "reopen", json!({"reason": "broke again"}))
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{:?}", reopened.body);
    assert_eq!(reopened.body["satisfaction"], Value::Null);
    d.contact(id, true).await;
    d.act(&d.agent, id, "resolve", json!({"outcome": "replaced"}))
        .await;
    // The assignee records the second episode's score: no 409, no lead needed.
    let second = d
        .app
        .put(
            &path,
            &d.agent,
            json!({"score": 2, "comment": "took too long"}),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(second.body["satisfaction"]["score"], 2);
    // Both scores are on record.
    let events = d
        .app
        .get(&format!("/api/v1/tickets/{id}/events"), &d.lead)
        .await;
    let events = events.body["items"].clone();
    let scores: Vec<Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "satisfaction_recorded")
        .map(|e| e["data"]["after"]["score"].clone())
        .collect();
    assert_eq!(scores, [json!(5), json!(2)]);
    let reopen = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["action"] == "reopen")
        .unwrap();
    assert_eq!(reopen["data"]["previous"]["satisfaction"]["score"], 5);
}

async fn four_and_five_star_reviews_open_no_ticket(app: TestApp) {
    let d = desk(app).await;
    let mut body = review(d.customer);
    body["details"]["rating"] = json!(5);
    let refused = d.app.post("/api/v1/tickets", &d.lead, body.clone()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_fields(), ["details.rating"]);
    body["details"]["rating"] = json!(3);
    d.open(&d.lead, body, None).await;
}

async fn the_same_review_never_opens_two_tickets(app: TestApp) {
    let d = desk(app).await;
    let body = json!({"kind": "negative_review", "customer_id": d.customer, "title": "1 star",
                      "details": {"platform": "tmall", "rating": 1, "review_id": "R-889"}});
    let first = d.open(&d.lead, body.clone(), None).await;
    let dup = d.app.post("/api/v1/tickets", &d.lead, body.clone()).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem_type(), "duplicate-review");
    assert_eq!(dup.body["existing_ticket_id"], first.body["id"]);
    // The same id on another platform is another review.
    let mut other = body;
    other["details"]["platform"] = json!("jd");
    assert_eq!(
        d.app.post("/api/v1/tickets", &d.lead, other).await.status,
        StatusCode::CREATED
    );
}

async fn least_loaded(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let busy = app.create_staff("busy@shop.example", Role::Agent);
    let idle = app.create_staff("idle@shop.example", Role::Agent);
    let gone = app.create_staff("gone@shop.example", Role::Agent);
    let (_, admin) = app.admin().await;
    app.patch(
        &format!("/api/v1/users/{gone}"),
        &admin,
        json!({"active": false}),
    )
    .await;
    let customer = app
        .customer(&lead, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let open = |assignee: Option<i64>| {
        let mut body = repair(customer);
        if let Some(a) = assignee {
            body["assignee_id"] = json!(a);
        }
        app.post("/api/v1/tickets", &lead, body)
    };
    open(Some(busy)).await;
    open(Some(busy)).await;
    let first = open(None).await;
    assert_eq!(first.body["assignee_id"], idle, "fewest open tickets");
    let second = open(None).await;
    assert_eq!(second.body["assignee_id"], idle, "one against two");
    let third = open(None).await;
    assert_eq!(third.body["assignee_id"], busy, "tie goes to the lower id");
    let events = app
        .get(
            &format!("/api/v1/tickets/{}/events", first.body["id"]),
            &lead,
        )
        .await;
    assert_eq!(events.body["items"][1]["data"]["automatic"], true);
    assert_eq!(events.body["items"][1]["actor_id"], Value::Null);
}

#[actix_web::test]
async fn sqlite_automatic_assignment_picks_the_least_loaded_agent() {
    least_loaded(TestApp::sqlite_with(|s| s.tickets.auto_assign = AutoAssign::LeastLoaded).await)
        .await;
}

#[actix_web::test]
async fn postgres_automatic_assignment_picks_the_least_loaded_agent() {
    if let Some(app) =
        TestApp::postgres_with(|s| s.tickets.auto_assign = AutoAssign::LeastLoaded).await
    {
        least_loaded(app).await;
    }
}

/// A refund may not exceed what the linked order has left to refund (its total less what
/// other resolved tickets refunded) or, without an order, what the buyer asked for; a
/// refunded return moves its order to `partially_refunded` / `refunded` in the same
/// transaction, on the timeline, and the buyer's purchase summary follows; a reopen takes
/// the refund back off the order until the ticket is resolved again.
async fn refunds_are_bounded_by_what_was_paid_and_move_the_order(app: TestApp) {
    let desk = desk(app).await;
    let app = &desk.app;
    let orders = format!("/api/v1/customers/{}/orders", desk.customer);
    let order = app
        .post(
            &orders,
            &desk.lead,
            json!({"channel": "tmall", "external_order_no": "TM-1288", "ordered_at": "2026-11-01T10:00:00+08:00",
                   "items": [{"product_name": "紫砂壶", "quantity": 1, "unit_price_cents": 128800}]}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let order_id = order.body["id"].as_i64().unwrap();
    let customer_path = format!("/api/v1/customers/{}", desk.customer);
    assert_eq!(spent(app, &customer_path, &desk.lead).await, 128800);

    let linked = |requested: i64| {
        let mut body = a_return(desk.customer);
        body["order_id"] = json!(order_id);
        body["details"]["requested_refund_cents"] = json!(requested);
        body
    };
    let first = desk.mine(linked(128800)).await;
    desk.contact(first, true).await;
    let resolve = |refund: i64| json!({"outcome": "returned_refunded", "refund_cents": refund});
    // ¥999,999.99 back on a ¥1,288 order: refused, saying how much may go back.
    let too_much = desk
        .act(&desk.agent, first, "resolve", resolve(99_999_999))
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        too_much.body
    );
    assert_eq!(too_much.error_fields(), ["refund_cents"]);
    let message = too_much.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("¥1288.00"), "{message}");
    let partial = desk
        .act(&desk.agent, first, "resolve", resolve(28800))
        .await;
    assert_eq!(partial.status, StatusCode::OK, "{:?}", partial.body);
    let order_now = app
        .get(&format!("/api/v1/orders/{order_id}"), &desk.lead)
        .await;
    assert_eq!(order_now.body["status"], "partially_refunded");
    let events = app
        .get(&format!("/api/v1/tickets/{first}/events"), &desk.lead)
        .await;
    let resolved = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["action"] == "resolve")
        .cloned()
        .unwrap();
    assert_eq!(
        resolved["data"]["order"],
        json!({"id": order_id, "status": "partially_refunded", "refunded_cents": 28800})
    );

    // A second ticket on the same order may refund only what is left: ¥1,000.00.
    let second = desk.mine(linked(128800)).await;
    desk.contact(second, true).await;
    let over = desk
        .act(&desk.agent, second, "resolve", resolve(100_001))
        .await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        over.body
    );
    let rest = desk
        .act(&desk.agent, second, "resolve", resolve(100_000))
        .await;
    assert_eq!(rest.status, StatusCode::OK, "{:?}", rest.body);
    let order_now = app
        .get(&format!("/api/v1/orders/{order_id}"), &desk.lead)
        .await;
    assert_eq!(order_now.body["status"], "refunded");
    // A refunded order is no longer a purchase in the buyer's summary (and so their tier).
    assert_eq!(spent(app, &customer_path, &desk.lead).await, 0);

    // Reopened, the second refund leaves the order until the ticket is resolved again.
    let reopened = desk
        .act(
            &desk.lead,
            second,
            "reopen",
            json!({"reason": "buyer disputes the amount"}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{:?}", reopened.body);
    let order_now = app
        .get(&format!("/api/v1/orders/{order_id}"), &desk.lead)
        .await;
    assert_eq!(order_now.body["status"], "partially_refunded");
    assert_eq!(spent(app, &customer_path, &desk.lead).await, 128800);

    // Without an order, the buyer's claim is the bound.
    let unlinked = desk.mine(a_return(desk.customer)).await;
    desk.contact(unlinked, true).await;
    let over_claim = desk
        .act(&desk.agent, unlinked, "resolve", resolve(25901))
        .await;
    assert_eq!(
        over_claim.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        over_claim.body
    );
    assert!(
        over_claim.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("¥259.00")
    );
    let claimed = desk
        .act(&desk.agent, unlinked, "resolve", resolve(25900))
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{:?}", claimed.body);
}

async fn spent(app: &TestApp, customer_path: &str, token: &str) -> Value {
    app.get(customer_path, token).await.body["orders"]["total_spent_cents"].clone()
}
