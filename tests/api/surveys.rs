//! Buyer satisfaction surveys: a survey per resolution, the buyer's page (answered once,
//! through the ticket's own satisfaction path, with `source: buyer`), the staff endpoints,
//! the reminders and the statistics.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use aftercare::auth::roles::Role;
use chrono::{Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use serde_json::{Value, json};

use crate::support::{Response, TestApp, backend_tests};

backend_tests!(
    resolving_makes_a_survey_the_buyer_answers_once_and_the_tier_follows,
    a_buyer_answer_supersedes_a_staff_entry_and_reopening_withdraws_the_survey,
    the_page_refuses_forgeries_junk_expired_links_and_floods,
    unanswered_surveys_are_reminders_until_nudged_once with nudge_after_an_hour,
    statistics_count_csat_by_source_reasons_and_the_response_rate,
);

fn nudge_after_an_hour(settings: &mut aftercare::config::Settings) {
    settings.surveys.survey_nudge_after_hours = 1;
}

struct Shop {
    app: TestApp,
    admin: String,
    lead: String,
    agent: String,
    agent_id: i64,
    other_agent: String,
    customer: i64,
}

async fn shop(app: TestApp) -> Shop {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, other_agent) = app.staff_token("other@shop.example", Role::Agent).await;
    let customer = app
        .customer(&lead, json!({"name": "王静", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    // A purchase: the shop's only buyer is its top spender (key), so a bad score puts
    // them at risk.
    let order = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            &lead,
            json!({"channel": "taobao", "external_order_no": "A1", "items": [{"product_name": "青花瓷茶杯", "quantity": 1, "unit_price_cents": 12_000}],
                   "ordered_at": Utc::now() - Duration::days(3)}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    Shop {
        app,
        admin,
        lead,
        agent,
        agent_id,
        other_agent,
        customer,
    }
}

impl Shop {
    /// A return ticket of the agent's, called and resolved.
    async fn resolved(&self) -> i64 {
        let app = &self.app;
        let res = app
            .post(
                "/api/v1/tickets",
                &self.lead,
                json!({"kind": "return", "customer_id": self.customer, "title": "王静 13800138000 wants a refund",
                       "details": {"reason": "cracked", "items": [{"product_name": "青花瓷茶杯", "quantity": 1}]}}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        let id = res.body["id"].as_i64().unwrap();
        let agent_id = self.agent_id;
        let assigned = app
            .put(
                &format!("/api/v1/tickets/{id}/assignee"),
                &self.lead,
                json!({"assignee_id": agent_id}),
            )
            .await;
        assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.body);
        self.resolve(id).await;
        id
    }

    async fn resolve(&self, id: i64) {
        let app = &self.app;
        let called = app
            .post(
                &format!("/api/v1/tickets/{id}/contacts"),
                &self.agent,
                json!({"channel": "phone", "reached": true}),
            )
            .await;
        assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
        let resolved = app
            .post(
                &format!("/api/v1/tickets/{id}/resolve"),
                &self.agent,
                json!({"outcome": "exchanged"}),
            )
            .await;
        assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.body);
    }

    async fn survey(&self, id: i64) -> Value {
        let res = self
            .app
            .get(&format!("/api/v1/tickets/{id}/survey"), &self.agent)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        res.body
    }

    async fn token(&self, id: i64) -> String {
        let survey = self.survey(id).await;
        let url = survey["url"].as_str().unwrap();
        url.rsplit('/').next().unwrap().to_owned()
    }
}

fn html(res: &Response) -> String {
    String::from_utf8(res.raw.clone()).expect("UTF-8 page")
}

async fn page(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = TestRequest::get().uri(&format!("/s/{token}"));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    app.send(req).await
}

/// The form key of a rendered form.
fn form_key(page: &str) -> String {
    let start = page.find("name=\"form_key\" value=\"").expect("a form key") + 23;
    page[start..].split('"').next().unwrap().to_owned()
}

async fn submit(app: &TestApp, token: &str, form: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = TestRequest::post()
        .uri(&format!("/s/{token}"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form.to_owned());
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    app.send(req).await
}

/// Opens the page and answers it as a browser on the same site would.
async fn answer(app: &TestApp, token: &str, fields: &str) -> Response {
    let shown = page(app, token, &[]).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", html(&shown));
    let key = form_key(&html(&shown));
    let form = format!("{fields}&form_key={}", key.replace('=', "%3D"));
    submit(app, token, &form, &[("sec-fetch-site", "same-origin")]).await
}

fn assert_page_headers(res: &Response) {
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        res.header("content-security-policy"),
        Some(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
    );
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert!(res.header("set-cookie").is_none(), "no cookies");
}

#[derive(QueryableByName)]
struct Payload {
    #[diesel(sql_type = Text)]
    payload: String,
}

async fn survey_events(app: &TestApp) -> Vec<Value> {
    app.state
        .db
        .read(|conn| {
            Ok(diesel::RunQueryDsl::load::<Payload>(
                diesel::sql_query(
                    "SELECT payload FROM webhook_events WHERE event_type = 'ticket.survey_created' ORDER BY id",
                ),
                conn,
            )?)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|p| serde_json::from_str(&p.payload).unwrap())
        .collect()
}

async fn resolving_makes_a_survey_the_buyer_answers_once_and_the_tier_follows(app: TestApp) {
    let s = shop(app).await;
    let app = &s.app;
    let id = s.resolved().await;
    let survey = s.survey(id).await;
    assert_eq!(survey["status"], "pending");
    assert_eq!(survey["ticket_id"], id);
    let url = survey["url"].as_str().unwrap();
    let token = url.strip_prefix("http://127.0.0.1:0/s/").expect(url);
    assert_eq!(token.len(), 43);
    let message = survey["message"].as_str().unwrap();
    assert!(
        message.starts_with("静您好！感谢您对Default shop的耐心。"),
        "{message}"
    );
    assert!(
        message.contains(url) && message.ends_with("（14天内有效）"),
        "{message}"
    );
    let made =
        chrono::DateTime::parse_from_rfc3339(survey["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(survey["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - made, Duration::days(14));
    // Only the token's hash is stored.
    let stored = app
        .state
        .db
        .read(|conn| {
            Ok(diesel::RunQueryDsl::load::<Payload>(
                diesel::sql_query("SELECT token_hash || ' ' || nonce AS payload FROM surveys"),
                conn,
            )?)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].payload.contains(token));
    // The webhook carries the link for a shop's SMS or WeChat system.
    let events = survey_events(app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["ticket_id"], id);
    assert_eq!(events[0]["survey"]["url"], url);
    assert_eq!(events[0]["survey"]["message"], message);

    // The page: the shop, the buyer's first name, what it was about, and nothing else of
    // the file (not the title staff wrote, not the phone).
    let shown = page(app, token, &[]).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_page_headers(&shown);
    let text = html(&shown);
    assert!(text.contains("<html lang=\"zh-CN\">"), "{text}");
    assert!(
        text.contains("Default shop") && text.contains("静，您好！"),
        "{text}"
    );
    assert!(text.contains("退换货：青花瓷茶杯"), "{text}");
    for private in ["王静", "13800138000", "138****8000", "wants a refund"] {
        assert!(!text.contains(private), "{private} on the page");
    }
    let english = page(app, token, &[("accept-language", "en-US,en;q=0.9")]).await;
    assert!(html(&english).contains("How satisfied"));

    assert_eq!(
        s.app
            .get(&format!("/api/v1/customers/{}", s.customer), &s.lead)
            .await
            .body["standing"]["at_risk"],
        false
    );
    let thanks = answer(
        app,
        token,
        "score=2&reasons=speed&reasons=attitude&comment=%E5%A4%AA%E6%85%A2%E4%BA%86",
    )
    .await;
    assert_eq!(thanks.status, StatusCode::OK, "{}", html(&thanks));
    assert_page_headers(&thanks);
    assert!(html(&thanks).contains("感谢您的评价！"));

    // Recorded exactly like a staff entry, with the buyer as its source.
    let ticket = app
        .get(&format!("/api/v1/tickets/{id}"), &s.agent)
        .await
        .body;
    let satisfaction = &ticket["satisfaction"];
    assert_eq!(satisfaction["score"], 2);
    assert_eq!(satisfaction["source"], "buyer");
    assert_eq!(satisfaction["reasons"], json!(["speed", "attitude"]));
    assert_eq!(satisfaction["comment"], "太慢了");
    let events = app
        .get(&format!("/api/v1/tickets/{id}/events"), &s.agent)
        .await
        .body;
    let recorded = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "satisfaction_recorded")
        .expect("a timeline entry")
        .clone();
    assert_eq!(recorded["actor_id"], Value::Null);
    assert_eq!(recorded["data"]["after"]["source"], "buyer");
    assert_eq!(
        recorded["data"]["after"]["reasons"],
        json!(["speed", "attitude"])
    );
    // ...and the tier follows in the same transaction.
    let standing = app
        .get(&format!("/api/v1/customers/{}", s.customer), &s.lead)
        .await
        .body["standing"]
        .clone();
    assert_eq!(standing["at_risk"], true, "{standing}");
    let survey = s.survey(id).await;
    assert_eq!(survey["status"], "answered");
    assert_eq!(survey["answer"]["score"], 2);
    assert_eq!(survey["answer"]["reasons"], json!(["speed", "attitude"]));

    // Once: the link now says so, and staff cannot overwrite the buyer's answer.
    let again = page(app, token, &[]).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert_page_headers(&again);
    assert!(html(&again).contains("您已经评价过了"));
    let resent = submit(app, token, "score=5&form_key=x", &[]).await;
    assert_eq!(resent.status, StatusCode::CONFLICT);
    for staff in [&s.agent, &s.lead] {
        let typed = app
            .put(
                &format!("/api/v1/tickets/{id}/satisfaction"),
                staff,
                json!({"score": 5}),
            )
            .await;
        assert_eq!(typed.status, StatusCode::CONFLICT);
        assert_eq!(typed.problem_type(), "satisfaction-recorded");
    }
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{id}"), &s.agent)
            .await
            .body["satisfaction"]["score"],
        2
    );
}

async fn a_buyer_answer_supersedes_a_staff_entry_and_reopening_withdraws_the_survey(app: TestApp) {
    let s = shop(app).await;
    let app = &s.app;
    let id = s.resolved().await;
    let typed = app
        .put(
            &format!("/api/v1/tickets/{id}/satisfaction"),
            &s.agent,
            json!({"score": 5, "comment": "buyer said fine", "reasons": ["speed"]}),
        )
        .await;
    assert_eq!(typed.status, StatusCode::OK, "{:?}", typed.body);
    assert_eq!(typed.body["satisfaction"]["source"], "staff");
    assert_eq!(typed.body["satisfaction"]["reasons"], json!(["speed"]));
    let token = s.token(id).await;
    let thanks = answer(app, &token, "score=1&reasons=solution").await;
    assert_eq!(thanks.status, StatusCode::OK, "{}", html(&thanks));
    let ticket = app
        .get(&format!("/api/v1/tickets/{id}"), &s.agent)
        .await
        .body;
    assert_eq!(ticket["satisfaction"]["score"], 1);
    assert_eq!(ticket["satisfaction"]["source"], "buyer");
    assert_eq!(ticket["satisfaction"]["comment"], Value::Null);
    assert_eq!(ticket["satisfaction"]["reasons"], json!(["solution"]));
    let events = app
        .get(&format!("/api/v1/tickets/{id}/events"), &s.agent)
        .await
        .body;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "satisfaction_recorded");
    assert_eq!(last["data"]["before"]["source"], "staff");
    assert_eq!(last["data"]["before"]["score"], 5);

    // Reopened and resolved again: a new episode, a new survey with its own link.
    let reopened = app
        .post(
            &format!("/api/v1/tickets/{id}/reopen"),
            &s.lead,
            json!({"reason": "cracked again"}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{:?}", reopened.body);
    assert_eq!(reopened.body["satisfaction"], Value::Null);
    s.resolve(id).await;
    let second = s.token(id).await;
    assert_ne!(second, token);
    assert_eq!(s.survey(id).await["status"], "pending");
    // The answered link stays answered.
    assert_eq!(page(app, &token, &[]).await.status, StatusCode::GONE);

    // Reopened before the buyer answers: the link records nothing any more.
    let reopened = app
        .post(
            &format!("/api/v1/tickets/{id}/reopen"),
            &s.lead,
            json!({"reason": "wrong colour"}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK);
    assert_eq!(s.survey(id).await["status"], "withdrawn");
    let closed = page(app, &second, &[]).await;
    assert_eq!(closed.status, StatusCode::GONE);
    assert!(html(&closed).contains("调查已关闭"));
    let late = submit(app, &second, "score=4&form_key=x", &[]).await;
    assert_eq!(late.status, StatusCode::GONE);
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{id}"), &s.agent)
            .await
            .body["satisfaction"],
        Value::Null
    );
    assert_eq!(survey_events(app).await.len(), 2);
}

async fn the_page_refuses_forgeries_junk_expired_links_and_floods(app: TestApp) {
    let s = shop(app).await;
    let app = &s.app;
    let id = s.resolved().await;
    let token = s.token(id).await;

    // Unknown and junk links: a page saying so, 404, never an error document.
    for junk in [
        "A".repeat(43),
        "short".to_owned(),
        "%3Cscript%3E".to_owned(),
    ] {
        let res = page(app, &junk, &[]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{junk}");
        assert_page_headers(&res);
        assert!(html(&res).contains("链接无效"), "{junk}");
    }
    let english = page(app, &"A".repeat(43), &[]).await;
    assert!(!html(&english).contains("Link not found"));
    let english = app
        .send(TestRequest::get().uri(&format!("/s/{}?lang=en", "A".repeat(43))))
        .await;
    assert!(html(&english).contains("Link not found"));

    // The stylesheet is served by the binary itself.
    let css = app
        .send(TestRequest::get().uri("/s/assets/survey.css"))
        .await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("public, max-age=86400"));

    let shown = page(app, &token, &[]).await;
    let key = form_key(&html(&shown)).replace('=', "%3D");
    // Cross-site submissions and forged or missing form keys change nothing.
    for (form, headers) in [
        (
            format!("score=1&form_key={key}"),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            format!("score=1&form_key={key}"),
            vec![("origin", "https://evil.example")],
        ),
        ("score=1".to_owned(), vec![]),
        ("score=1&form_key=1.forged".to_owned(), vec![]),
    ] {
        let res = submit(app, &token, &form, &headers).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{form} {headers:?}");
        assert_page_headers(&res);
    }
    // No score: the form again, saying what is missing, keeping what was given.
    let res = submit(
        app,
        &token,
        &format!("reasons=speed&comment=hm&form_key={key}"),
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = html(&res);
    assert!(text.contains("请选择 1 到 5 颗星。"), "{text}");
    assert!(text.contains("value=\"speed\" checked"), "{text}");
    assert!(text.contains(">hm</textarea>"), "{text}");
    let res = submit(
        app,
        &token,
        &format!("score=3&reasons=price&form_key={key}"),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.survey(id).await["status"], "pending");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{id}"), &s.agent)
            .await
            .body["satisfaction"],
        Value::Null
    );

    // Expired: its own page, 410, and an answer is refused.
    app.sql(&format!(
        "UPDATE surveys SET expires_at = '2026-01-01 00:00:00' WHERE ticket_id = {id}"
    ));
    let expired = page(app, &token, &[]).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(html(&expired).contains("链接已过期"));
    let late = submit(app, &token, &format!("score=5&form_key={key}"), &[]).await;
    assert_eq!(late.status, StatusCode::GONE);
    assert_eq!(s.survey(id).await["status"], "expired");

    // A flood on one link is refused with 429 and Retry-After, as a page.
    let other = s.resolved().await;
    let token = s.token(other).await;
    let limit = app.state.settings.surveys.survey_rate_per_token as usize;
    for n in 0..limit {
        assert_eq!(
            page(app, &token, &[]).await.status,
            StatusCode::OK,
            "request {n}"
        );
    }
    let refused = page(app, &token, &[]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_page_headers(&refused);
    assert!(refused.header("retry-after").is_some());
    // Other links are not held up by it (the address limit is higher).
    assert_eq!(
        page(app, &"B".repeat(43), &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn unanswered_surveys_are_reminders_until_nudged_once(app: TestApp) {
    let s = shop(app).await;
    let app = &s.app;
    // Staff only, and only for resolved tickets.
    let open = app
        .post(
            "/api/v1/tickets",
            &s.lead,
            json!({"kind": "repair", "customer_id": s.customer, "title": "kettle",
                   "details": {"fault": "no heat", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}}),
        )
        .await;
    let open = open.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{:?}", open.body));
    let none = app
        .get(&format!("/api/v1/tickets/{open}/survey"), &s.agent)
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.problem_type(), "not-found");
    assert_eq!(
        app.get("/api/v1/tickets/999999/survey", &s.agent)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let id = s.resolved().await;
    let (_, key) =
        crate::integrations::api_key(app, &s.admin, &["tickets:read", "tickets:write"]).await;
    for req in [
        TestRequest::get().uri(&format!("/api/v1/tickets/{id}/survey")),
        TestRequest::post().uri(&format!("/api/v1/tickets/{id}/survey/nudge")),
    ] {
        let res = app
            .send(req.insert_header(("x-api-key", key.as_str())))
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    }

    let reminders = |token: String| async move {
        app.get("/api/v1/reminders", &token).await.body["unanswered_surveys"].clone()
    };
    // Made just now: not yet a reminder.
    assert_eq!(reminders(s.agent.clone()).await["count"], 0);
    let two_hours_ago = (Utc::now() - Duration::hours(2)).naive_utc();
    app.sql(&format!(
        "UPDATE surveys SET created_at = '{}' WHERE ticket_id = {id}",
        two_hours_ago.format("%Y-%m-%d %H:%M:%S")
    ));
    let mine = reminders(s.agent.clone()).await;
    assert_eq!(mine["count"], 1, "{mine}");
    assert_eq!(mine["items"][0]["id"], id);
    assert_eq!(reminders(s.other_agent.clone()).await["count"], 0);
    assert_eq!(reminders(s.lead.clone()).await["count"], 1);

    let path = format!("/api/v1/tickets/{id}/survey/nudge");
    assert_eq!(
        app.post(&path, &s.other_agent, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let nudged = app.post(&path, &s.agent, json!({})).await;
    assert_eq!(nudged.status, StatusCode::OK, "{:?}", nudged.body);
    let at = nudged.body["nudged_at"].clone();
    assert!(at.is_string());
    assert_eq!(reminders(s.agent.clone()).await["count"], 0);
    let twice = app.post(&path, &s.lead, json!({})).await;
    assert_eq!(twice.status, StatusCode::OK);
    assert_eq!(
        twice.body["nudged_at"], at,
        "the first nudge's time is kept"
    );

    let token = s.token(id).await;
    assert_eq!(answer(app, &token, "score=4").await.status, StatusCode::OK);
    let done = app.post(&path, &s.agent, json!({})).await;
    assert_eq!(done.status, StatusCode::CONFLICT);
    assert_eq!(done.problem_type(), "survey-not-pending");
}

async fn statistics_count_csat_by_source_reasons_and_the_response_rate(app: TestApp) {
    let s = shop(app).await;
    let app = &s.app;
    let by_buyer = s.resolved().await;
    let by_staff = s.resolved().await;
    let _unanswered = s.resolved().await;
    let withdrawn = s.resolved().await;
    let token = s.token(by_buyer).await;
    assert_eq!(
        answer(app, &token, "score=2&reasons=speed&reasons=product_quality")
            .await
            .status,
        StatusCode::OK
    );
    let typed = app
        .put(
            &format!("/api/v1/tickets/{by_staff}/satisfaction"),
            &s.agent,
            json!({"score": 5, "reasons": ["attitude", "speed"]}),
        )
        .await;
    assert_eq!(typed.status, StatusCode::OK);
    app.post(
        &format!("/api/v1/tickets/{withdrawn}/reopen"),
        &s.lead,
        json!({"reason": "again"}),
    )
    .await;

    let report = app.get("/api/v1/stats/tickets", &s.lead).await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let satisfaction = &report.body["groups"][0]["satisfaction"];
    assert_eq!(satisfaction["responses"], 2);
    assert_eq!(satisfaction["csat"], 0.5);
    assert_eq!(
        satisfaction["by_source"],
        json!({"buyer": {"responses": 1, "mean": 2.0, "csat": 0.0},
               "staff": {"responses": 1, "mean": 5.0, "csat": 1.0}})
    );
    assert_eq!(
        satisfaction["reasons"],
        json!({"speed": 2, "attitude": 1, "solution": 0, "product_quality": 1, "other": 0})
    );
    assert_eq!(
        satisfaction["surveys"],
        json!({"sent": 4, "answered": 1, "expired": 0, "withdrawn": 1, "response_rate": 1.0 / 3.0})
    );
    let by_agent = app
        .get("/api/v1/stats/tickets?group_by=agent", &s.lead)
        .await;
    assert_eq!(
        by_agent.body["groups"][0]["satisfaction"]["surveys"]["sent"],
        4
    );
}
