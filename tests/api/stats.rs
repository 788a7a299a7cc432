//! Team statistics on a fixture whose figures are worked out by hand below, time-zone
//! boundaries, backlog, reminders and who may see what.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    figures_match_the_hand_computed_fixture,
    groups_by_agent_kind_channel_and_calendar,
    local_days_decide_periods_and_buckets,
    backlog_counts_open_and_overdue_work,
    reminders_are_own_for_agents_and_team_for_leads,
    statistics_are_for_leads,
);

struct Fixture {
    lead: String,
    agent_a: (i64, String),
    agent_b: (i64, String),
    tickets: Vec<i64>,
}

/// Six tickets, all times UTC (local = +08:00):
///
/// | # | kind   | agent | opened            | first contact | deadline | resolved         | end                 | score |
/// |---|--------|-------|-------------------|---------------|----------|------------------|---------------------|-------|
/// | 1 | review | A     | 11-02 02:00       | +30 min       | +2 h     | +2 h             | review_revised      | 5     |
/// | 2 | review | A     | 11-03 02:00       | +180 min      | +2 h     | +10 h            | kept, satisfied     | 4     |
/// | 3 | return | B     | 11-03 06:00       | +60 min       | +4 h     |                  | closed unreachable  |       |
/// | 4 | repair | -     | 11-04 03:00       |               | +8 h     |                  | (new)               |       |
/// | 5 | return | B     | 11-05 01:00       | +360 min      | +4 h     | +48 h            | refund_only         | 2     |
/// | 6 | repair | B     | 11-05 16:30 (= 11-06 00:30 local) |  | +8 h |                  | (new)               |       |
async fn fixture(app: &TestApp) -> Fixture {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let agent_a = app.staff_token("a@shop.example", Role::Agent).await;
    let agent_b = app.staff_token("b@shop.example", Role::Agent).await;
    let customer = app
        .customer(&lead, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let order = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            &lead,
            json!({"channel": "tmall", "external_order_no": "TM1", "items": [{"product_name": "Shoes", "quantity": 1, "unit_price_cents": 25900}], "ordered_at": "2026-10-30T00:00:00Z"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let review = |review_id: Option<&str>| {
        json!({"kind": "negative_review", "customer_id": customer, "title": "review",
        "details": {"platform": "taobao", "rating": 2, "review_id": review_id}})
    };
    let ret = |order: Option<i64>| {
        json!({"kind": "return", "customer_id": customer, "title": "return", "order_id": order,
        "details": {"reason": "size", "items": [{"product_name": "Shoes", "quantity": 1}]}})
    };
    let repair = json!({"kind": "repair", "customer_id": customer, "title": "repair",
        "details": {"fault": "f", "items": [{"product_name": "p", "quantity": 1}], "under_warranty": true}});
    let specs = [
        (review(Some("R-1")), Some(agent_a.0)),
        (review(None), Some(agent_a.0)),
        (ret(Some(order)), Some(agent_b.0)),
        (repair.clone(), None),
        (ret(None), Some(agent_b.0)),
        (repair, Some(agent_b.0)),
    ];
    let mut tickets = Vec::new();
    for (mut body, assignee) in specs {
        body["assignee_id"] = json!(assignee);
        let res = app.post("/api/v1/tickets", &lead, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        tickets.push(res.body["id"].as_i64().unwrap());
    }
    let act = |id: i64, action: &'static str, body: Value| {
        let lead = lead.clone();
        async move {
            let res = app
                .post(&format!("/api/v1/tickets/{id}/{action}"), &lead, body)
                .await;
            assert_eq!(res.status, StatusCode::OK, "{action}: {:?}", res.body);
        }
    };
    let contact = json!({"channel": "phone", "reached": true});
    for (i, outcome) in [
        (0, json!({"outcome": "review_revised"})),
        (1, json!({"outcome": "review_kept_customer_satisfied"})),
        (4, json!({"outcome": "refund_only", "refund_cents": 1000})),
    ] {
        act(tickets[i], "contacts", contact.clone()).await;
        act(tickets[i], "resolve", outcome).await;
    }
    act(tickets[2], "contacts", contact.clone()).await;
    act(tickets[2], "close", json!({"reason": "unreachable"})).await;
    for (i, score) in [(0, 5), (1, 4), (4, 2)] {
        let res = app
            .put(
                &format!("/api/v1/tickets/{}/satisfaction", tickets[i]),
                &lead,
                json!({"score": score}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
    }
    // Pin every time to the table above.
    let times = [
        (
            "2026-11-02 02:00:00",
            "2026-11-02 04:00:00",
            Some("2026-11-02 02:30:00"),
            Some("2026-11-02 04:00:00"),
        ),
        (
            "2026-11-03 02:00:00",
            "2026-11-03 04:00:00",
            Some("2026-11-03 05:00:00"),
            Some("2026-11-03 12:00:00"),
        ),
        (
            "2026-11-03 06:00:00",
            "2026-11-03 10:00:00",
            Some("2026-11-03 07:00:00"),
            None,
        ),
        ("2026-11-04 03:00:00", "2026-11-04 11:00:00", None, None),
        (
            "2026-11-05 01:00:00",
            "2026-11-05 05:00:00",
            Some("2026-11-05 07:00:00"),
            Some("2026-11-07 01:00:00"),
        ),
        ("2026-11-05 16:30:00", "2026-11-06 00:30:00", None, None),
    ];
    let sql_time = |t: Option<&str>| t.map_or("NULL".to_owned(), |t| format!("'{t}'"));
    for (id, (created, due, first, resolved)) in tickets.iter().zip(times) {
        app.sql(&format!(
            "UPDATE tickets SET created_at = '{created}', first_call_due_at = '{due}', first_contact_at = {}, last_contact_at = {},
             resolved_at = {}, due_at = CASE WHEN state = 'new' THEN '{due}' ELSE due_at END WHERE id = {id}",
            sql_time(first),
            sql_time(first),
            sql_time(resolved)
        ));
    }
    Fixture {
        lead,
        agent_a,
        agent_b,
        tickets,
    }
}

const PERIOD: &str = "/api/v1/stats/tickets?from=2026-11-01&to=2026-11-05&utc_offset=%2B08:00";

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {report}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.001)
}

async fn figures_match_the_hand_computed_fixture(app: TestApp) {
    let f = fixture(&app).await;
    let res = app.get(PERIOD, &f.lead).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["groups"].as_array().unwrap().len(), 1);
    let all = group(&res.body, "all");
    // Ticket 6 opened on local 11-06: outside the period.
    assert_eq!(all["opened"], 5);
    assert_eq!(all["resolved"], 3);
    assert_eq!(all["closed_unresolved"], 1);
    assert!(close(&all["resolution_rate"], 0.75), "3 / (3 + 1)");
    // First contacts after 30, 180, 60, 360 minutes: nearest-rank median is the 2nd of 4
    // sorted (60), the 90th percentile the 4th (360); 1 and 3 were on time: 2 of 5 opened.
    assert_eq!(all["first_call"]["measured"], 4);
    assert!(close(&all["first_call"]["median_minutes"], 60.0), "{all}");
    assert!(close(&all["first_call"]["p90_minutes"], 360.0));
    assert!(close(&all["first_call"]["within_deadline_share"], 0.4));
    // Resolved after 2, 10 and 48 hours.
    assert!(close(&all["time_to_resolve"]["median_hours"], 10.0));
    assert!(close(&all["time_to_resolve"]["p90_hours"], 48.0));
    // Two reviews resolved, one revised.
    assert!(close(&all["review_revision_rate"], 0.5));
    // Scores 5, 4, 2.
    assert_eq!(all["satisfaction"]["responses"], 3);
    assert!(close(&all["satisfaction"]["mean"], 3.67));
    assert!(close(&all["satisfaction"]["csat"], 2.0 / 3.0));
    assert_eq!(f.tickets.len(), 6);
}

async fn groups_by_agent_kind_channel_and_calendar(app: TestApp) {
    let f = fixture(&app).await;
    let by = |g: &str| format!("{PERIOD}&group_by={g}");
    let agents = app.get(&by("agent"), &f.lead).await.body;
    let a = group(&agents, &f.agent_a.0.to_string());
    assert_eq!(
        (a["opened"].as_i64(), a["resolved"].as_i64()),
        (Some(2), Some(2))
    );
    assert!(close(&a["resolution_rate"], 1.0));
    assert!(close(&a["first_call"]["median_minutes"], 30.0), "1st of 2");
    assert!(close(&a["first_call"]["p90_minutes"], 180.0), "2nd of 2");
    assert!(close(&a["satisfaction"]["mean"], 4.5));
    let b = group(&agents, &f.agent_b.0.to_string());
    assert_eq!(
        (
            b["opened"].as_i64(),
            b["resolved"].as_i64(),
            b["closed_unresolved"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert!(close(&b["resolution_rate"], 0.5));
    assert!(close(&b["satisfaction"]["csat"], 0.0));
    // Names next to ids, from the staff file (the fixture names staff "<role> <email>").
    assert_eq!(a["agent_name"], "agent a@shop.example");
    assert_eq!(b["agent_name"], "agent b@shop.example");
    assert_eq!(group(&agents, "unassigned")["opened"], 1);
    assert!(group(&agents, "unassigned")["agent_name"].is_null());
    assert!(
        group(&agents, "unassigned")["resolution_rate"].is_null(),
        "nothing ended yet"
    );

    let kinds = app.get(&by("kind"), &f.lead).await.body;
    assert_eq!(group(&kinds, "negative_review")["opened"], 2);
    assert!(group(&kinds, "negative_review")["agent_name"].is_null());
    assert_eq!(group(&kinds, "return")["opened"], 2);
    assert_eq!(group(&kinds, "repair")["opened"], 1);
    let channels = app.get(&by("channel"), &f.lead).await.body;
    assert_eq!(
        group(&channels, "taobao")["opened"],
        1,
        "the review's platform"
    );
    assert_eq!(
        group(&channels, "tmall")["opened"],
        1,
        "the order's channel"
    );
    assert_eq!(group(&channels, "unknown")["opened"], 3);
    let days = app.get(&by("day"), &f.lead).await.body;
    let per_day: Vec<(String, i64)> = days["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_owned(),
                g["opened"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_day,
        [
            ("2026-11-02".into(), 1),
            ("2026-11-03".into(), 2),
            ("2026-11-04".into(), 1),
            ("2026-11-05".into(), 1)
        ]
    );
    let weeks = app.get(&by("week"), &f.lead).await.body;
    assert_eq!(
        group(&weeks, "2026-11-02")["opened"],
        5,
        "weeks start on Monday"
    );
    let months = app.get(&by("month"), &f.lead).await.body;
    assert_eq!(group(&months, "2026-11")["opened"], 5);
}

async fn local_days_decide_periods_and_buckets(app: TestApp) {
    let f = fixture(&app).await;
    // 16:30 UTC on the 5th is already the 6th in Beijing.
    let beijing = app
        .get(
            "/api/v1/stats/tickets?from=2026-11-06&to=2026-11-06&utc_offset=%2B08:00&group_by=day",
            &f.lead,
        )
        .await;
    assert_eq!(
        beijing.body["groups"],
        json!([group(&beijing.body, "2026-11-06")])
    );
    assert_eq!(group(&beijing.body, "2026-11-06")["opened"], 1);
    let utc = app
        .get(
            "/api/v1/stats/tickets?from=2026-11-05&to=2026-11-05&utc_offset=%2B00:00&group_by=day",
            &f.lead,
        )
        .await;
    assert_eq!(group(&utc.body, "2026-11-05")["opened"], 2);
    let west = app
        .get(
            "/api/v1/stats/tickets?from=2026-11-01&to=2026-11-05&utc_offset=-05:00",
            &f.lead,
        )
        .await;
    assert_eq!(
        group(&west.body, "all")["opened"],
        6,
        "in UTC-5 all six fall on 11-01..11-05"
    );
    for bad in [
        "from=2026-11-10&to=2026-11-01",
        "utc_offset=8",
        "group_by=year",
        "from=yesterday",
        // Dates chrono can parse but no period can span: 422, never a panic.
        "to=-262143-01-01",
        "to=%2B262142-12-31",
        "from=0001-01-01&to=0001-01-02",
        "from=9999-12-31",
    ] {
        let res = app
            .get(&format!("/api/v1/stats/tickets?{bad}"), &f.lead)
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

async fn backlog_counts_open_and_overdue_work(app: TestApp) {
    let f = fixture(&app).await;
    let res = app.get("/api/v1/stats/backlog", &f.lead).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["total"]["new"], 2);
    assert_eq!(res.body["total"]["first_call"], 0);
    assert_eq!(res.body["total"]["overdue_first_calls"], 2);
    assert_eq!(res.body["total"]["no_contact"], 2);
    let agents = res.body["by_agent"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "B and unassigned hold open tickets");
    let b = f.agent_b.0.to_string();
    let b = agents.iter().find(|g| g["group"] == b.as_str()).unwrap();
    assert_eq!(b["agent_name"], "agent b@shop.example");
    assert!(res.body["total"]["agent_name"].is_null());
    assert_eq!(
        app.get("/api/v1/stats/backlog?no_contact_days=0", &f.lead)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn reminders_are_own_for_agents_and_team_for_leads(app: TestApp) {
    let f = fixture(&app).await;
    let other = app
        .customer(&f.lead, json!({"name": "Never called", "contacts": [{"kind": "phone", "value": "13900139000"}], "source": "online", "birthday": "1990-01-01"}))
        .await;
    let team = app.get("/api/v1/reminders", &f.lead).await;
    assert_eq!(team.status, StatusCode::OK, "{:?}", team.body);
    assert_eq!(team.body["scope"], "team");
    assert_eq!(team.body["overdue_first_calls"]["count"], 2);
    assert_eq!(team.body["never_contacted_customers"]["count"], 1);
    assert_eq!(
        team.body["never_contacted_customers"]["items"][0]["id"],
        other
    );
    let b = app.get("/api/v1/reminders", &f.agent_b.1).await;
    assert_eq!(b.body["scope"], "own");
    assert_eq!(
        b.body["overdue_first_calls"]["count"], 1,
        "only ticket 6 is B's"
    );
    assert_eq!(
        b.body["overdue_first_calls"]["items"][0]["id"],
        f.tickets[5]
    );
    assert_eq!(
        b.body["never_contacted_customers"]["count"], 0,
        "not a customer of B's tickets"
    );
    let a = app.get("/api/v1/reminders", &f.agent_a.1).await;
    assert_eq!(a.body["overdue_first_calls"]["count"], 0);
    assert_eq!(
        app.get("/api/v1/reminders?limit=0", &f.lead).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn statistics_are_for_leads(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, admin) = app.admin().await;
    for path in ["/api/v1/stats/tickets", "/api/v1/stats/backlog"] {
        let res = app.get(path, &agent).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(res.problem_type(), "forbidden");
        assert_eq!(app.get(path, &admin).await.status, StatusCode::OK);
    }
    let empty = app.get("/api/v1/stats/tickets", &admin).await;
    assert!(empty.body["groups"].as_array().unwrap().is_empty());
}
