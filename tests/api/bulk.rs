//! Bulk ticket work (`POST /tickets/bulk`) and deactivating staff who hold open tickets:
//! every ticket through its single-ticket operation, one timeline entry each, all or nothing.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{Response, TestApp, backend_tests};

backend_tests!(
    assigning_three_tickets_writes_one_event_each,
    closing_with_a_reason_closes_each_ticket_on_its_own_timeline,
    setting_the_priority_edits_each_ticket_once,
    one_closed_ticket_among_open_ones_changes_nothing_and_is_named,
    only_leads_and_admins_work_in_bulk,
    bad_bulk_requests_name_the_field,
    deactivating_without_saying_where_the_tickets_go_is_refused,
    deactivating_can_send_the_tickets_back_to_the_queue,
    deactivating_can_hand_the_tickets_to_a_colleague,
    deactivating_can_spread_the_tickets_over_the_least_loaded_agents,
);

struct Team {
    app: TestApp,
    admin: String,
    lead: String,
    agent: String,
    agent_id: i64,
    customer: i64,
}

async fn team(app: TestApp) -> Team {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let customer = app
        .customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    Team {
        app,
        admin,
        lead,
        agent,
        agent_id,
        customer,
    }
}

impl Team {
    /// Opens a repair ticket, assigned to `assignee` if given; returns its id.
    async fn ticket(&self, assignee: Option<i64>) -> i64 {
        let mut body = json!({
            "kind": "repair", "customer_id": self.customer, "title": "Kettle will not heat",
            "details": {"fault": "no heat", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}
        });
        if let Some(id) = assignee {
            body["assignee_id"] = json!(id);
        }
        let res = self.app.post("/api/v1/tickets", &self.lead, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        res.body["id"].as_i64().unwrap()
    }

    async fn tickets(&self, n: usize, assignee: Option<i64>) -> Vec<i64> {
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(self.ticket(assignee).await);
        }
        ids
    }

    async fn bulk(&self, token: &str, ids: &[i64], action: Value) -> Response {
        self.app
            .post(
                "/api/v1/tickets/bulk",
                token,
                json!({"ticket_ids": ids, "action": action}),
            )
            .await
    }

    async fn get(&self, id: i64) -> Value {
        let res = self
            .app
            .get(&format!("/api/v1/tickets/{id}"), &self.lead)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        res.body
    }

    /// The ticket's timeline entries of `kind`.
    async fn events(&self, id: i64, kind: &str) -> Vec<Value> {
        let res = self
            .app
            .get(&format!("/api/v1/tickets/{id}/events"), &self.lead)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        res.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }

    /// Events of `event_type` in the webhook outbox.
    fn outbox(&self, event_type: &str) -> i64 {
        count(
            &self.app,
            &format!("SELECT COUNT(*) AS n FROM webhook_events WHERE event_type = '{event_type}'"),
        )
    }

    async fn deactivate(&self, id: i64, extra: Value) -> Response {
        let mut body = json!({"active": false});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.app
            .patch(&format!("/api/v1/users/{id}"), &self.admin, body)
            .await
    }
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

async fn assigning_three_tickets_writes_one_event_each(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(3, None).await;
    let before = t.outbox("ticket.assigned");
    // In the caller's order, not the ids' order.
    let order = [ids[2], ids[0], ids[1]];
    let res = t
        .bulk(
            &t.lead,
            &order,
            json!({"kind": "assign", "assignee_id": t.agent_id}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let results = res.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for (result, id) in results.iter().zip(order) {
        assert_eq!(result["ticket_id"], id);
        assert_eq!(result["outcome"], "changed");
        let ticket = t.get(id).await;
        assert_eq!(ticket["assignee_id"], t.agent_id);
        assert_eq!(result["version"], ticket["version"]);
        let assigned = t.events(id, "assigned").await;
        assert_eq!(assigned.len(), 1, "{assigned:?}");
        assert_eq!(
            assigned[0]["data"],
            json!({"before": null, "after": t.agent_id, "automatic": false})
        );
    }
    assert_eq!(t.outbox("ticket.assigned"), before + 3);

    // Already so: unchanged, nothing written.
    let again = t
        .bulk(
            &t.lead,
            &ids,
            json!({"kind": "assign", "assignee_id": t.agent_id}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert!(
        again.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "unchanged")
    );
    assert_eq!(t.outbox("ticket.assigned"), before + 3);

    // `null` puts them back in the unassigned queue.
    let back = t
        .bulk(
            &t.lead,
            &ids,
            json!({"kind": "assign", "assignee_id": null}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    for id in ids {
        assert_eq!(t.get(id).await["assignee_id"], Value::Null);
        assert_eq!(t.events(id, "assigned").await.len(), 2);
    }
}

async fn closing_with_a_reason_closes_each_ticket_on_its_own_timeline(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(3, Some(t.agent_id)).await;
    let before = t.outbox("ticket.state_changed");
    let res = t
        .bulk(
            &t.admin,
            &ids,
            json!({"kind": "close", "reason": "duplicate", "note": "Same buyer, same kettle"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    for id in &ids {
        let ticket = t.get(*id).await;
        assert_eq!(ticket["state"], "closed");
        assert_eq!(ticket["close_reason"], "duplicate");
        assert_eq!(ticket["resolution_note"], "Same buyer, same kettle");
        let changes = t.events(*id, "state_changed").await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0]["from_state"], "new");
        assert_eq!(changes[0]["to_state"], "closed");
        assert_eq!(changes[0]["data"]["reason"], "duplicate");
    }
    assert_eq!(t.outbox("ticket.state_changed"), before + 3);
}

async fn setting_the_priority_edits_each_ticket_once(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(3, None).await;
    // One is urgent already.
    let res = t
        .app
        .patch(
            &format!("/api/v1/tickets/{}", ids[1]),
            &t.lead,
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let res = t
        .bulk(
            &t.lead,
            &ids,
            json!({"kind": "set_priority", "priority": "urgent"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let outcomes: Vec<&Value> = res.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        [&json!("changed"), &json!("unchanged"), &json!("changed")]
    );
    for id in ids {
        assert_eq!(t.get(id).await["priority"], "urgent");
        let edits = t.events(id, "edited").await;
        assert_eq!(edits.len(), 1, "{edits:?}");
        assert_eq!(edits[0]["data"]["after"], json!({"priority": "urgent"}));
    }
}

async fn one_closed_ticket_among_open_ones_changes_nothing_and_is_named(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(3, None).await;
    let closed = t
        .app
        .post(
            &format!("/api/v1/tickets/{}/close", ids[1]),
            &t.lead,
            json!({"reason": "refused"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.body);
    let versions: Vec<Value> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(t.get(*id).await["version"].clone());
        }
        v
    };
    let outbox = count(&t.app, "SELECT COUNT(*) AS n FROM webhook_events");
    let events = count(&t.app, "SELECT COUNT(*) AS n FROM ticket_events");
    let missing = 987_654;
    let named = [ids[0], ids[1], missing, ids[2]];
    let res = t
        .bulk(
            &t.lead,
            &named,
            json!({"kind": "close", "reason": "unreachable"}),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        res.body
    );
    assert_eq!(res.problem_type(), "bulk-rejected");
    let report = &res.body["report"];
    assert_eq!(report["failed"], 2);
    let results = report["results"].as_array().unwrap();
    let reported: Vec<i64> = results
        .iter()
        .map(|r| r["ticket_id"].as_i64().unwrap())
        .collect();
    assert_eq!(reported, named);
    assert_eq!(results[0]["outcome"], "changed");
    assert_eq!(results[0]["error"], Value::Null);
    assert_eq!(results[1]["outcome"], Value::Null);
    let error = &results[1]["error"];
    assert_eq!(error["type"], "urn:aftercare:problem:invalid-transition");
    assert_eq!(error["current_state"], "closed");
    assert_eq!(
        results[2]["error"]["type"],
        "urn:aftercare:problem:not-found"
    );
    assert_eq!(results[3]["outcome"], "changed");
    // Nothing was written: not the tickets, not their timelines, not the outbox.
    for (id, version) in ids.iter().zip(versions) {
        let ticket = t.get(*id).await;
        assert_eq!(ticket["version"], version);
    }
    assert_eq!(t.get(ids[0]).await["state"], "new");
    assert_eq!(
        count(&t.app, "SELECT COUNT(*) AS n FROM webhook_events"),
        outbox
    );
    assert_eq!(
        count(&t.app, "SELECT COUNT(*) AS n FROM ticket_events"),
        events
    );
}

async fn only_leads_and_admins_work_in_bulk(app: TestApp) {
    let t = team(app).await;
    let id = t.ticket(Some(t.agent_id)).await;
    let action = json!({"kind": "set_priority", "priority": "low"});
    let res = t.bulk(&t.agent, &[id], action.clone()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.body);
    assert_eq!(res.problem_type(), "forbidden");
    // No scope lets a key work tickets, not even tickets:write.
    let (_, key) =
        crate::integrations::api_key(&t.app, &t.admin, &["tickets:read", "tickets:write"]).await;
    let res = t.bulk(&key, &[id], action.clone()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.body);
    assert_eq!(t.get(id).await["priority"], "normal");
    assert_eq!(t.bulk(&t.lead, &[id], action).await.status, StatusCode::OK);
}

async fn bad_bulk_requests_name_the_field(app: TestApp) {
    let t = team(app).await;
    let id = t.ticket(None).await;
    let priority = json!({"kind": "set_priority", "priority": "low"});
    for (ids, field) in [
        (json!([]), "ticket_ids"),
        (json!([id, id]), "ticket_ids"),
        (json!((1..=501).collect::<Vec<i64>>()), "ticket_ids"),
        (json!("1,2"), "ticket_ids"),
    ] {
        let res = t
            .app
            .post(
                "/api/v1/tickets/bulk",
                &t.lead,
                json!({"ticket_ids": ids, "action": priority}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{ids}");
        assert_eq!(res.problem_type(), "validation");
        assert_eq!(res.error_fields(), [field], "{:?}", res.body);
    }
    let nobody = 424_242;
    for (action, field) in [
        (json!({"kind": "resolve"}), "action.kind"),
        (json!({"kind": "assign"}), "action.assignee_id"),
        (
            json!({"kind": "assign", "assignee_id": nobody}),
            "action.assignee_id",
        ),
        (json!({"kind": "close", "reason": "bored"}), "action.reason"),
        (
            json!({"kind": "set_priority", "priority": "low", "title": "x"}),
            "action.title",
        ),
    ] {
        let res = t.bulk(&t.lead, &[id], action.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        assert_eq!(res.problem_type(), "validation");
        assert_eq!(res.error_fields(), [field], "{:?}", res.body);
    }
    let res = t
        .app
        .post(
            "/api/v1/tickets/bulk",
            &t.lead,
            json!({"ticket_ids": [id], "action": priority, "dry_run": true}),
        )
        .await;
    assert_eq!(res.error_fields(), ["dry_run"]);
    assert_eq!(t.get(id).await["version"], 1);
}

async fn deactivating_without_saying_where_the_tickets_go_is_refused(app: TestApp) {
    let t = team(app).await;
    t.tickets(2, Some(t.agent_id)).await;
    let res = t.deactivate(t.agent_id, json!({})).await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        res.body
    );
    assert_eq!(res.error_fields(), ["open_tickets"]);
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("2 open tickets"), "{message}");
    // Still active, still logged in.
    let me = t.app.get("/api/v1/auth/me", &t.agent).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    // Only with a deactivation.
    let res = t
        .app
        .patch(
            &format!("/api/v1/users/{}", t.agent_id),
            &t.admin,
            json!({"role": "lead", "open_tickets": {"action": "unassign"}}),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        res.body
    );
    assert_eq!(res.error_fields(), ["open_tickets"]);
    for (choice, field) in [
        (json!({"action": "fire"}), "open_tickets.action"),
        (json!({"action": "reassign"}), "open_tickets.to"),
        (
            json!({"action": "reassign", "to": t.agent_id}),
            "open_tickets.to",
        ),
        (
            json!({"action": "reassign", "to": 424_242}),
            "open_tickets.to",
        ),
        // The agent is the only one: nobody is left to spread the tickets over.
        (json!({"action": "least_loaded"}), "open_tickets.action"),
    ] {
        let res = t
            .deactivate(t.agent_id, json!({"open_tickets": choice}))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{choice}");
        assert_eq!(res.error_fields(), [field], "{:?}", res.body);
    }
    let me = t.app.get("/api/v1/auth/me", &t.agent).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    // Someone without open tickets leaves as before.
    let (idle, _) = t.app.staff_token("idle@shop.example", Role::Agent).await;
    let res = t.deactivate(idle, json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
}

async fn deactivating_can_send_the_tickets_back_to_the_queue(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(2, Some(t.agent_id)).await;
    // A settled ticket stays with whoever settled it.
    let settled = ids[0];
    let closed = t
        .app
        .post(
            &format!("/api/v1/tickets/{settled}/close"),
            &t.lead,
            json!({"reason": "duplicate"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    let res = t
        .deactivate(t.agent_id, json!({"open_tickets": {"action": "unassign"}}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["active"], false);
    assert_eq!(t.app.get("/api/v1/auth/me", &t.agent).await.status, 401);
    let open = t.get(ids[1]).await;
    assert_eq!(open["assignee_id"], Value::Null);
    let assigned = t.events(ids[1], "assigned").await;
    assert_eq!(assigned.len(), 2, "{assigned:?}");
    assert_eq!(assigned[1]["data"]["before"], t.agent_id);
    assert_eq!(assigned[1]["data"]["after"], Value::Null);
    assert_eq!(t.get(settled).await["assignee_id"], t.agent_id);
    // The audit log says what the admin chose and how many tickets moved.
    let audit = t.app.get("/api/v1/audit", &t.admin).await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["open_tickets"] == json!({"action": "unassign", "moved": 1})),
        "{:?}",
        audit.body
    );
}

async fn deactivating_can_hand_the_tickets_to_a_colleague(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(3, Some(t.agent_id)).await;
    let colleague = t.app.create_staff("colleague@shop.example", Role::Agent);
    let gone = t.app.create_staff("gone@shop.example", Role::Agent);
    assert_eq!(t.deactivate(gone, json!({})).await.status, StatusCode::OK);
    // A deactivated colleague cannot take them.
    let res = t
        .deactivate(
            t.agent_id,
            json!({"open_tickets": {"action": "reassign", "to": gone}}),
        )
        .await;
    assert_eq!(res.error_fields(), ["open_tickets.to"], "{:?}", res.body);
    let res = t
        .deactivate(
            t.agent_id,
            json!({"open_tickets": {"action": "reassign", "to": colleague}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    for id in ids {
        assert_eq!(t.get(id).await["assignee_id"], colleague);
        let assigned = t.events(id, "assigned").await;
        assert_eq!(assigned.len(), 2, "{assigned:?}");
        assert_eq!(
            assigned[1]["data"],
            json!({"before": t.agent_id, "after": colleague, "automatic": false})
        );
    }
}

async fn deactivating_can_spread_the_tickets_over_the_least_loaded_agents(app: TestApp) {
    let t = team(app).await;
    let ids = t.tickets(4, Some(t.agent_id)).await;
    let first = t.app.create_staff("first@shop.example", Role::Agent);
    let second = t.app.create_staff("second@shop.example", Role::Agent);
    // A lead is not an agent: least-loaded assignment never picks one.
    let res = t
        .deactivate(
            t.agent_id,
            json!({"open_tickets": {"action": "least_loaded"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let mut assignees = Vec::new();
    for id in &ids {
        assignees.push(t.get(*id).await["assignee_id"].as_i64().unwrap());
        assert_eq!(t.events(*id, "assigned").await.len(), 2);
    }
    // One by one, each to whoever has fewest at that moment (lower id on ties).
    assert_eq!(assignees, [first, second, first, second]);
}
