//! Service levels (`/api/v1/sla/*`, `/tickets/{id}/wait`, `/tickets/{id}/service-levels`):
//! a calendar and policies only admins set, deadlines in business hours, waits that stop
//! the resolution clock, platform deadlines in the queue, breaches recorded once by the
//! sweep and escalated as the policy says.

use aftercare::auth::roles::Role;
use aftercare::sla::calendar::{Calendar, CalendarDoc};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    calendar_and_policies_are_for_admins_to_set_and_checked_whole,
    first_calls_fall_due_in_business_hours,
    a_wait_stops_the_resolution_clock_until_it_ends,
    the_platform_deadline_orders_the_queue_and_flags_the_ticket,
    breaches_are_recorded_once_and_escalate_as_the_policy_says,
    a_target_met_late_is_a_breach_without_escalation,
);

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a time: {value}"))
        .parse()
        .unwrap()
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

async fn buyer(app: &TestApp, token: &str) -> i64 {
    app.customer(
        token,
        json!({"name": "王小姐", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}),
    )
    .await
}

fn review(customer: i64) -> Value {
    json!({"kind": "negative_review", "customer_id": customer, "title": "2-star review",
        "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口"}})
}

/// The default policies with the negative-review rule changed by `change`.
async fn set_review_rule(app: &TestApp, admin: &str, change: impl FnOnce(&mut Value)) {
    let mut policies = app.get("/api/v1/sla/policies", admin).await.body;
    let rules = policies["rules"].as_array_mut().unwrap();
    let rule = rules
        .iter_mut()
        .find(|r| r["kind"] == "negative_review")
        .unwrap();
    change(rule);
    let res = app.put("/api/v1/sla/policies", admin, policies).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
}

async fn targets(app: &TestApp, token: &str, ticket: i64) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/tickets/{ticket}/service-levels"), token)
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    res.body["items"].as_array().unwrap().clone()
}

async fn timeline_kinds(app: &TestApp, token: &str, ticket: i64) -> Vec<String> {
    let res = app
        .get(&format!("/api/v1/tickets/{ticket}/events"), token)
        .await;
    res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn calendar_and_policies_are_for_admins_to_set_and_checked_whole(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    // The default: around the clock in Asia/Shanghai, today's deadlines in calendar hours.
    let calendar = app.get("/api/v1/sla/calendar", &agent).await;
    assert_eq!(calendar.status, 200, "{:?}", calendar.body);
    assert_eq!(calendar.body["time_zone"], "Asia/Shanghai");
    assert_eq!(
        calendar.body["week"]["sunday"],
        json!([{"start": "00:00", "end": "24:00"}])
    );
    let policies = app.get("/api/v1/sla/policies", &agent).await;
    assert_eq!(policies.status, 200);
    let review_rule = policies.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "negative_review")
        .unwrap()
        .clone();
    assert_eq!(
        review_rule["first_call"],
        json!({"minutes": 120, "clock": "calendar"})
    );
    assert_eq!(policies.body["priority_customer_percent"], 50);

    let example = serde_json::to_value(CalendarDoc::example()).unwrap();
    for token in [&agent, &lead] {
        let res = app
            .put("/api/v1/sla/calendar", token, example.clone())
            .await;
        assert_eq!(res.status, 403, "{:?}", res.body);
        let res = app
            .put("/api/v1/sla/policies", token, policies.body.clone())
            .await;
        assert_eq!(res.status, 403, "{:?}", res.body);
    }
    // Checked whole: every broken rule named, nothing stored.
    let mut broken = example.clone();
    broken["time_zone"] = json!("Mars/Olympus");
    broken["week"]["monday"] =
        json!([{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]);
    let res = app.put("/api/v1/sla/calendar", &admin, broken).await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    let fields = res.error_fields();
    assert!(fields.contains(&"time_zone".to_owned()), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("week.monday[1]")),
        "{fields:?}"
    );
    assert_eq!(
        app.get("/api/v1/sla/calendar", &admin).await.body["time_zone"],
        "Asia/Shanghai"
    );
    let res = app
        .put("/api/v1/sla/calendar", &admin, example.clone())
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(app.get("/api/v1/sla/calendar", &agent).await.body, res.body);

    let mut broken = policies.body.clone();
    broken["rules"][0]["first_call"]["minutes"] = json!(0);
    broken["rules"].as_array_mut().unwrap().pop();
    let res = app.put("/api/v1/sla/policies", &admin, broken).await;
    assert_eq!(res.status, 422, "{:?}", res.body);
    assert_eq!(
        res.error_fields(),
        vec!["rules[0].first_call.minutes", "rules"]
    );
    let mut escalating = policies.body.clone();
    escalating["rules"][0]["escalation"] =
        json!({"raise_priority": true, "reassign": {"to": "user", "user_id": 9999}});
    let res = app.put("/api/v1/sla/policies", &admin, escalating).await;
    assert_eq!(
        res.error_fields(),
        vec!["rules[0].escalation.reassign.user_id"]
    );
    // Admins' changes are in the audit log.
    let audit = app
        .get("/api/v1/audit?action=sla.calendar_set", &admin)
        .await;
    assert_eq!(audit.status, 200, "{:?}", audit.body);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
}

async fn first_calls_fall_due_in_business_hours(app: TestApp) {
    let (_, admin) = app.admin().await;
    // One working hour a day: a two-hour target needs two working days, so the due time
    // can only come from the calendar.
    let doc = CalendarDoc {
        time_zone: "Europe/Berlin".into(),
        week: serde_json::from_value(json!({
            "monday": [{"start": "10:00", "end": "11:00"}],
            "tuesday": [{"start": "10:00", "end": "11:00"}],
            "wednesday": [{"start": "10:00", "end": "11:00"}],
            "thursday": [{"start": "10:00", "end": "11:00"}],
            "friday": [{"start": "10:00", "end": "11:00"}],
        }))
        .unwrap(),
        ..CalendarDoc::default()
    };
    let res = app
        .put(
            "/api/v1/sla/calendar",
            &admin,
            serde_json::to_value(&doc).unwrap(),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    set_review_rule(&app, &admin, |rule| {
        rule["first_call"] = json!({"minutes": 120, "clock": "business"});
    })
    .await;
    let customer = buyer(&app, &admin).await;
    let res = app.post("/api/v1/tickets", &admin, review(customer)).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let created = at(&res.body["created_at"]);
    let due = at(&res.body["first_call_due_at"]);
    let calendar = Calendar::from_doc(&doc).unwrap();
    let expected = calendar.add_working(created, 7200).unwrap();
    // The stored time has microseconds at most.
    assert!(
        (due - expected).abs() < Duration::milliseconds(1),
        "{due} vs {expected}"
    );
    assert!(due - created > Duration::hours(24), "{created} -> {due}");
    let ticket = res.body["id"].as_i64().unwrap();
    let recorded = targets(&app, &admin, ticket).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["target"], "first_call");
    assert_eq!(recorded[0]["clock"], "business");
    assert_eq!(at(&recorded[0]["due_at"]), due);
    // A later policy change never rewrites the target already given.
    set_review_rule(&app, &admin, |rule| {
        rule["first_call"] = json!({"minutes": 30, "clock": "calendar"});
    })
    .await;
    assert_eq!(at(&targets(&app, &admin, ticket).await[0]["due_at"]), due);
    let res = app.post("/api/v1/tickets", &admin, review(customer)).await;
    let next = res.body["id"].as_i64().unwrap();
    assert_eq!(
        at(&res.body["first_call_due_at"]) - at(&res.body["created_at"]),
        Duration::minutes(30),
        "{next}"
    );
}

async fn a_wait_stops_the_resolution_clock_until_it_ends(app: TestApp) {
    let (_, admin) = app.admin().await;
    set_review_rule(&app, &admin, |rule| {
        rule["resolution"] = json!({"minutes": 600, "clock": "calendar"});
    })
    .await;
    let customer = buyer(&app, &admin).await;
    let ticket = app.post("/api/v1/tickets", &admin, review(customer)).await;
    let id = ticket.body["id"].as_i64().unwrap();
    let wait = |on: &str| json!({"on": on, "note": "退货在路上"});
    // Bad input is a 422 naming the field, never a wait.
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/wait"),
            &admin,
            json!({"on": "courier"}),
        )
        .await;
    assert_eq!(res.error_fields(), vec!["on"], "{:?}", res.body);
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/wait"),
            &admin,
            json!({"on": "buyer", "note": "长".repeat(5001)}),
        )
        .await;
    assert_eq!(res.error_fields(), vec!["note"], "{:?}", res.body);
    // A new ticket waits on nobody: call the buyer first.
    let res = app
        .post(&format!("/api/v1/tickets/{id}/wait"), &admin, wait("buyer"))
        .await;
    assert_eq!(res.status, 409, "{:?}", res.body);
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/contacts"),
            &admin,
            json!({"channel": "phone", "reached": true, "note": "will send it back"}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let resolution = |list: &[Value]| {
        list.iter()
            .find(|t| t["target"] == "resolution")
            .cloned()
            .unwrap()
    };
    let before = resolution(&targets(&app, &admin, id).await);
    let due_before = at(&before["due_at"]);
    let res = app
        .post(&format!("/api/v1/tickets/{id}/wait"), &admin, wait("buyer"))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["waiting_on"], "buyer");
    // Waiting is no state of its own.
    assert_eq!(res.body["state"], "first_call");
    assert!(resolution(&targets(&app, &admin, id).await)["due_at"].is_null());
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/wait"),
            &admin,
            wait("platform"),
        )
        .await;
    assert_eq!(res.status, 409, "{:?}", res.body);
    let res = app
        .delete(&format!("/api/v1/tickets/{id}/wait"), &admin)
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(res.body["waiting_on"].is_null());
    let after = resolution(&targets(&app, &admin, id).await);
    assert!(at(&after["due_at"]) >= due_before, "{before} -> {after}");
    let res = app
        .delete(&format!("/api/v1/tickets/{id}/wait"), &admin)
        .await;
    assert_eq!(res.status, 409, "{:?}", res.body);
    // The next contact attempt ends a wait by itself.
    app.post(
        &format!("/api/v1/tickets/{id}/wait"),
        &admin,
        wait("platform"),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/contacts"),
            &admin,
            json!({"channel": "wechat", "reached": true}),
        )
        .await;
    assert!(res.body["waiting_on"].is_null(), "{:?}", res.body);
    let kinds = timeline_kinds(&app, &admin, id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "wait_started").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "wait_ended").count(),
        2,
        "{kinds:?}"
    );
    // Resolving meets the resolution target and drops the pending follow-up.
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &admin,
            json!({"outcome": "review_revised"}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let list = targets(&app, &admin, id).await;
    let done = resolution(&list);
    assert!(done["met_at"].is_string(), "{done}");
    assert!(done["counted_seconds"].as_i64().unwrap() >= 0);
    assert!(
        list.iter()
            .filter(|t| t["target"] == "follow_up")
            .all(|t| t["met_at"].is_string() || t["dropped_at"].is_string())
    );
}

async fn the_platform_deadline_orders_the_queue_and_flags_the_ticket(app: TestApp) {
    let (admin_id, admin) = app.admin().await;
    let customer = buyer(&app, &admin).await;
    let first = app.post("/api/v1/tickets", &admin, review(customer)).await;
    let first = first.body["id"].as_i64().unwrap();
    let soon = Utc::now() + Duration::minutes(30);
    let mut body = review(customer);
    body["platform_deadline_at"] = json!(soon);
    body["assignee_id"] = json!(admin_id);
    let res = app.post("/api/v1/tickets", &admin, body).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let second = res.body["id"].as_i64().unwrap();
    assert_eq!(res.body["platform_deadline_near"], true);
    // Due at the platform's deadline, which comes before the first call's.
    assert!((at(&res.body["due_at"]) - soon).abs() < Duration::milliseconds(1));
    assert!(at(&res.body["first_call_due_at"]) > soon);
    let res = app
        .patch(
            &format!("/api/v1/tickets/{first}"),
            &admin,
            json!({"platform_deadline_at": soon - Duration::minutes(10), "priority": "high"}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    res.body["platform_deadline_near"].as_bool().unwrap();
    let queue = app.get("/api/v1/tickets?sort=due", &admin).await;
    let ids: Vec<i64> = queue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![first, second], "{:?}", queue.body);
    // The backlog counts what is about to breach and past the platform's deadline.
    let backlog = app.get("/api/v1/stats/backlog", &admin).await;
    assert_eq!(backlog.status, 200, "{:?}", backlog.body);
    assert_eq!(backlog.body["total"]["past_platform_deadline"], 0);
    app.sql(&format!(
        "UPDATE tickets SET platform_deadline_at = '2026-01-01 00:00:00' WHERE id = {second}"
    ));
    app.sql(&format!(
        "UPDATE ticket_targets SET due_at = '2026-01-01 00:00:00' WHERE ticket_id = {first}"
    ));
    let backlog = app.get("/api/v1/stats/backlog", &admin).await;
    assert_eq!(
        backlog.body["total"]["past_platform_deadline"], 1,
        "{:?}",
        backlog.body
    );
    assert_eq!(
        backlog.body["total"]["about_to_breach"], 1,
        "{:?}",
        backlog.body
    );
    let reminders = app.get("/api/v1/reminders", &admin).await;
    assert_eq!(
        reminders.body["about_to_breach"]["count"], 1,
        "{:?}",
        reminders.body
    );
    assert_eq!(reminders.body["about_to_breach"]["items"][0]["id"], first);
    // The same list on the ticket list, for a lead's own queue view.
    let listed = app.get("/api/v1/tickets?sla=about_to_breach", &admin).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(ids_of(&listed.body), vec![first]);
    let res = app.get("/api/v1/tickets?sla=soon", &admin).await;
    assert_eq!(res.error_fields(), vec!["sla"]);
    // Removing the deadline puts the ticket back on its own due time.
    let res = app
        .patch(
            &format!("/api/v1/tickets/{first}"),
            &admin,
            json!({"platform_deadline_at": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["platform_deadline_near"], false);
    assert_eq!(res.body["due_at"], res.body["first_call_due_at"]);
    let res = app
        .patch(
            &format!("/api/v1/tickets/{first}"),
            &admin,
            json!({"platform_deadline_at": "not a time"}),
        )
        .await;
    assert_eq!(res.error_fields(), vec!["platform_deadline_at"]);
}

async fn breaches_are_recorded_once_and_escalate_as_the_policy_says(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    set_review_rule(&app, &admin, |rule| {
        rule["first_call"] = json!({"minutes": 5, "clock": "calendar"});
        rule["escalation"] = json!({"raise_priority": true, "reassign": {"to": "unassigned"}});
    })
    .await;
    let customer = buyer(&app, &admin).await;
    let mut body = review(customer);
    body["assignee_id"] = json!(agent_id);
    body["priority"] = json!("normal");
    let res = app.post("/api/v1/tickets", &admin, body).await;
    let id = res.body["id"].as_i64().unwrap();
    let sweep = |minutes: i64| {
        aftercare::sla::operations::sweep(
            &app.state.db,
            &app.state.sla,
            (Utc::now() + Duration::minutes(minutes)).naive_utc(),
        )
        .unwrap()
    };
    // Not yet due: nothing happens.
    assert_eq!(sweep(1).breached, 0);
    let swept = sweep(10);
    assert_eq!((swept.breached, swept.escalated), (1, 1));
    // Found once: a second sweep (another replica) records nothing more.
    assert_eq!(sweep(10).breached, 0);
    let res = app.get(&format!("/api/v1/tickets/{id}"), &admin).await;
    assert_eq!(res.body["priority"], "high");
    assert!(res.body["assignee_id"].is_null(), "{:?}", res.body);
    let recorded = targets(&app, &admin, id).await;
    assert_eq!(recorded[0]["breached_at"], recorded[0]["due_at"]);
    assert!(recorded[0]["escalated_at"].is_string());
    assert_eq!(recorded[0]["agent_id"], agent_id);
    let kinds = timeline_kinds(&app, &admin, id).await;
    assert!(kinds.contains(&"sla_breached".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"escalated".to_owned()), "{kinds:?}");
    let events: Vec<String> = {
        use aftercare::schema::webhook_events;
        use diesel::prelude::*;
        let mut conn = app.state.db.conn().unwrap();
        webhook_events::table
            .select(webhook_events::event_type)
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "ticket.sla_breached")
            .count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "ticket.escalated").count(),
        1,
        "{events:?}"
    );
    // The figures count the breach with the ticket's group (now unassigned).
    let stats = app
        .get("/api/v1/stats/tickets?group_by=agent", &admin)
        .await;
    assert_eq!(stats.status, 200, "{:?}", stats.body);
    let theirs = stats.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "unassigned")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", stats.body));
    let first_call = &theirs["service_levels"]["first_call"];
    assert_eq!(first_call["breaches"], 1, "{theirs}");
    assert_eq!(first_call["escalations"], 1, "{theirs}");
    assert_eq!(first_call["finished"], 1, "{theirs}");
    assert_eq!(first_call["within_target_share"], 0.0, "{theirs}");
    // The ticket list's breached and escalated views hold it; an on-time ticket is in neither.
    let on_time = app.post("/api/v1/tickets", &admin, review(customer)).await;
    assert_eq!(on_time.status, 201, "{:?}", on_time.body);
    for standing in ["breached", "escalated"] {
        let listed = app
            .get(&format!("/api/v1/tickets?sla={standing}"), &admin)
            .await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        assert_eq!(ids_of(&listed.body), vec![id], "{standing}");
        let with_total = app
            .get(
                &format!("/api/v1/tickets?sla={standing}&with_total=true&state=resolved"),
                &admin,
            )
            .await;
        assert_eq!(with_total.body["total"], 0, "{standing}: only open tickets");
    }
    // The leads' reminders list the escalated ticket.
    let reminders = app.get("/api/v1/reminders", &admin).await;
    assert_eq!(reminders.status, 200, "{:?}", reminders.body);
    assert_eq!(
        reminders.body["escalated"]["count"], 1,
        "{:?}",
        reminders.body
    );
    // The agent no longer holds it.
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/contacts"),
            &agent,
            json!({"channel": "phone", "reached": false}),
        )
        .await;
    assert_eq!(res.status, 403, "{:?}", res.body);
}

async fn a_target_met_late_is_a_breach_without_escalation(app: TestApp) {
    let (_, admin) = app.admin().await;
    set_review_rule(&app, &admin, |rule| {
        rule["escalation"] = json!({"raise_priority": true});
    })
    .await;
    let customer = buyer(&app, &admin).await;
    let mut body = review(customer);
    body["priority"] = json!("normal");
    let res = app.post("/api/v1/tickets", &admin, body).await;
    let id = res.body["id"].as_i64().unwrap();
    // The first call was due long ago and no sweep has run since.
    app.sql(&format!(
        "UPDATE ticket_targets SET due_at = '2026-01-01 00:00:00' WHERE ticket_id = {id}"
    ));
    let res = app
        .post(
            &format!("/api/v1/tickets/{id}/contacts"),
            &admin,
            json!({"channel": "phone", "reached": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["priority"], "normal");
    let first = targets(&app, &admin, id).await[0].clone();
    assert_eq!(first["target"], "first_call");
    assert!(
        first["met_at"].is_string() && first["breached_at"].is_string(),
        "{first}"
    );
    assert!(first["escalated_at"].is_null());
    let kinds = timeline_kinds(&app, &admin, id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "sla_breached").count(),
        1,
        "{kinds:?}"
    );
}
