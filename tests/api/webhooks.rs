//! Webhooks: registration, the outbox, signed delivery to a receiver on 127.0.0.1,
//! retries with backoff, giving up, and re-sending.

use std::time::Duration as StdDuration;

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use aftercare::config::Settings;
use aftercare::webhooks::worker::{self, Round, WorkerSettings};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::receiver::{Received, Receiver};
use crate::support::{TestApp, backend_tests};

backend_tests!(
    events_are_delivered_signed_and_once with receivers_on_loopback,
    failed_deliveries_back_off_give_up_and_can_be_resent with receivers_on_loopback,
    a_refused_change_emits_no_event,
    paused_endpoints_get_nothing with receivers_on_loopback,
    only_admins_manage_webhooks with receivers_on_loopback,
    delivery_errors_are_fixed_words with receivers_on_loopback,
    internal_addresses_are_refused_in_every_spelling,
    an_endpoint_that_leads_inside_is_never_connected_to,
    finished_deliveries_and_events_are_pruned_in_batches with receivers_on_loopback,
);

/// The test receivers listen on 127.0.0.1, which webhooks may reach only when allowed.
fn receivers_on_loopback(settings: &mut Settings) {
    settings.webhooks.allow_private = true;
}

const SECRET: &str = "whsec-test-0123456789";

fn settings(max_attempts: i32) -> WorkerSettings {
    WorkerSettings {
        max_attempts,
        retry_base: Duration::seconds(30),
        timeout: StdDuration::from_secs(5),
        poll: StdDuration::from_millis(10),
        allow_private: true,
    }
}

fn round(app: &TestApp, settings: &WorkerSettings) -> Round {
    worker::run_once(&app.state.db, settings, &worker::agent(settings)).expect("worker round")
}

async fn register(app: &TestApp, admin: &str, url: &str, events: &[&str]) -> i64 {
    let res = app
        .post(
            "/api/v1/webhooks",
            admin,
            json!({"url": url, "events": events, "secret": SECRET, "description": "ERP"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    assert!(
        res.body.get("secret").is_none(),
        "the secret is never shown back"
    );
    res.body["id"].as_i64().unwrap()
}

/// Recomputes the signature as a receiver would.
fn verify(received: &Received) {
    let timestamp = received.header("aftercare-timestamp").expect("timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&received.body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        received.header("aftercare-signature"),
        Some(expected.as_str())
    );
    let sent_at = DateTime::from_timestamp(timestamp.parse().unwrap(), 0).unwrap();
    assert!((Utc::now() - sent_at).num_seconds().abs() < 60);
}

async fn new_ticket(app: &TestApp, token: &str) -> (i64, i64) {
    new_ticket_for(app, token, "13800138000").await
}

async fn events_are_delivered_signed_and_once(app: TestApp) {
    let receiver = Receiver::start();
    let (_, admin) = app.admin().await;
    let hook = register(
        &app,
        &admin,
        &receiver.url,
        &[
            "ticket.created",
            "ticket.contact_logged",
            "ticket.state_changed",
            "customer.tier_changed",
        ],
    )
    .await;
    let (customer, ticket) = new_ticket(&app, &admin).await;
    let contact = app
        .post(
            &format!("/api/v1/tickets/{ticket}/contacts"),
            &admin,
            json!({"channel": "phone", "reached": true}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::OK);
    // A first order moves the customer from potential to new: a tier change.
    let order = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            &admin,
            json!({"channel": "taobao", "external_order_no": "TB-1", "items": [{"product_name": "Teapot", "quantity": 1, "unit_price_cents": 9900}], "ordered_at": "2026-11-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED);

    let settings = settings(5);
    let first = round(&app, &settings);
    assert_eq!(first.failed_attempts, 0);
    let mut received = receiver.received();
    received.sort_by_key(|r| {
        r.header("aftercare-delivery")
            .unwrap()
            .parse::<i64>()
            .unwrap()
    });
    let types: Vec<&str> = received
        .iter()
        .map(|r| r.header("aftercare-event").unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "ticket.contact_logged",
            "ticket.state_changed",
            "customer.tier_changed",
        ],
        "events arrive in the order they happened"
    );
    for r in &received {
        verify(r);
        assert_eq!(r.path, "/hooks");
        let body: Value = r.json();
        assert_eq!(body["type"], r.header("aftercare-event").unwrap());
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    }
    let created = received[0].json();
    assert_eq!(created["data"]["ticket"]["id"], ticket);
    assert_eq!(created["data"]["ticket"]["state"], "new");
    let moved = received[2].json();
    assert_eq!(moved["data"]["change"]["from_state"], "new");
    assert_eq!(moved["data"]["change"]["to_state"], "first_call");
    let tier = received[3].json();
    assert_eq!(tier["data"]["customer_id"], customer);
    assert_eq!(tier["data"]["after"]["stage"], "new");
    assert!(tier["data"]["before"]["stage"].is_string());
    assert!(tier["data"]["after"].get("lifecycle_stage").is_none());

    // Nothing is sent twice.
    let second = round(&app, &settings);
    assert_eq!(second, Round::default());
    assert_eq!(receiver.received().len(), 4);

    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"), &admin)
        .await;
    assert_eq!(deliveries.status, StatusCode::OK);
    let items = deliveries.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(
        items.iter().all(|d| d["status"] == "delivered"
            && d["attempts"] == 1
            && d["last_status_code"] == 200)
    );

    // Only subscribed events are sent.
    let assign = app
        .put(
            &format!("/api/v1/tickets/{ticket}/assignee"),
            &admin,
            json!({"assignee_id": null}),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK);
    let staff = app.create_staff("agent@shop.example", Role::Agent);
    app.put(
        &format!("/api/v1/tickets/{ticket}/assignee"),
        &admin,
        json!({"assignee_id": staff}),
    )
    .await;
    round(&app, &settings);
    assert_eq!(
        receiver.received().len(),
        4,
        "ticket.assigned is not subscribed"
    );
}

async fn failed_deliveries_back_off_give_up_and_can_be_resent(app: TestApp) {
    let receiver = Receiver::start();
    receiver.answer_with(503);
    let (_, admin) = app.admin().await;
    let hook = register(&app, &admin, &receiver.url, &["ticket.created"]).await;
    new_ticket(&app, &admin).await;
    let settings = settings(3);

    let started = Utc::now();
    let first = round(&app, &settings);
    assert_eq!(first.failed_attempts, 1);
    let path = format!("/api/v1/webhooks/{hook}/deliveries");
    let list = app.get(&path, &admin).await;
    let delivery = &list.body["items"][0];
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status_code"], 503);
    assert_eq!(delivery["last_error"], "http 503");
    let next: DateTime<Utc> = delivery["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = (next - started).num_seconds();
    assert!(
        (29..=35).contains(&wait),
        "first retry after the base delay, got {wait} s"
    );

    // Not due yet: nothing is sent.
    assert_eq!(round(&app, &settings), Round::default());
    assert_eq!(receiver.received().len(), 1);

    app.sql("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01 00:00:00'");
    let before_second = Utc::now();
    assert_eq!(round(&app, &settings).failed_attempts, 1);
    let delivery = app.get(&path, &admin).await.body["items"][0].clone();
    assert_eq!(delivery["attempts"], 2);
    let next: DateTime<Utc> = delivery["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = (next - before_second).num_seconds();
    assert!((59..=65).contains(&wait), "the wait doubles, got {wait} s");

    app.sql("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01 00:00:00'");
    assert_eq!(round(&app, &settings).failed_attempts, 1);
    let delivery = app.get(&path, &admin).await.body["items"][0].clone();
    assert_eq!(delivery["status"], "failed", "gives up after max attempts");
    assert_eq!(delivery["attempts"], 3);
    assert!(delivery["next_attempt_at"].is_null());
    let failed = app.get(&format!("{path}?status=failed"), &admin).await;
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(round(&app, &settings), Round::default());

    // The receiver is fixed; an admin re-sends.
    receiver.answer_with(204);
    let id = delivery["id"].as_i64().unwrap();
    let resend = app
        .post(&format!("{path}/{id}/redeliver"), &admin, json!(null))
        .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED, "{:?}", resend.body);
    assert_eq!(resend.body["status"], "pending");
    let again = app
        .post(&format!("{path}/{id}/redeliver"), &admin, json!(null))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "already pending");
    assert_eq!(round(&app, &settings).delivered, 1);
    let delivery = app.get(&path, &admin).await.body["items"][0].clone();
    assert_eq!(delivery["status"], "delivered");
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    // Every attempt carries the same delivery id, so receivers can drop repeats.
    assert!(
        received
            .iter()
            .all(|r| r.header("aftercare-delivery") == Some(id.to_string().as_str()))
    );
}

async fn paused_endpoints_get_nothing(app: TestApp) {
    let receiver = Receiver::start();
    receiver.answer_with(500);
    let (_, admin) = app.admin().await;
    let hook = register(&app, &admin, &receiver.url, &["ticket.created"]).await;
    new_ticket(&app, &admin).await;
    let settings = settings(5);
    assert_eq!(round(&app, &settings).failed_attempts, 1);
    let pause = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(pause.status, StatusCode::OK);
    // Neither the pending retry nor a new event goes out while it is paused.
    app.sql("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01 00:00:00'");
    let customer = app
        .customer(&admin, json!({"name": "B", "contacts": [{"kind": "phone", "value": "13900000001"}], "source": "online"}))
        .await;
    app.post(
        "/api/v1/tickets",
        &admin,
        json!({"kind": "negative_review", "customer_id": customer, "title": "t",
               "details": {"platform": "jd", "rating": 1}}),
    )
    .await;
    let quiet = round(&app, &settings);
    assert_eq!((quiet.delivered, quiet.failed_attempts), (0, 0));
    assert_eq!(receiver.received().len(), 1);
    // Resumed: the pending retry goes out (the event from the pause was not subscribed to).
    receiver.answer_with(200);
    app.patch(
        &format!("/api/v1/webhooks/{hook}"),
        &admin,
        json!({"active": true}),
    )
    .await;
    assert_eq!(round(&app, &settings).delivered, 1);
    assert_eq!(receiver.received().len(), 2);
}

async fn a_refused_change_emits_no_event(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, ticket) = new_ticket(&app, &admin).await;
    let count = || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = app.state.db.conn().unwrap();
        diesel::sql_query("SELECT COUNT(*) AS n FROM webhook_events")
            .get_result::<N>(&mut *conn)
            .unwrap()
            .n
    };
    let before = count();
    // Resolving a ticket nobody has called yet is refused (409): no change, no event.
    let refused = app
        .post(
            &format!("/api/v1/tickets/{ticket}/resolve"),
            &admin,
            json!({"outcome": "review_revised"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(count(), before);
    let logged = app
        .post(
            &format!("/api/v1/tickets/{ticket}/contacts"),
            &admin,
            json!({"channel": "phone", "reached": true}),
        )
        .await;
    assert_eq!(logged.status, StatusCode::OK);
    assert_eq!(count(), before + 2, "contact_logged and state_changed");
}

async fn only_admins_manage_webhooks(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let body = json!({"url": "https://erp.example.com/hooks", "events": ["ticket.created"], "secret": SECRET});
    assert_eq!(
        app.post("/api/v1/webhooks", &lead, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    for (field, bad) in [
        (
            "url",
            json!({"url": "ftp://erp.example.com", "events": ["ticket.created"], "secret": SECRET}),
        ),
        (
            "events",
            json!({"url": "https://erp.example.com", "events": [], "secret": SECRET}),
        ),
        (
            "secret",
            json!({"url": "https://erp.example.com", "events": ["ticket.created"], "secret": "short"}),
        ),
    ] {
        let res = app.post("/api/v1/webhooks", &admin, bad).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.error_fields(), [field]);
    }
    let unknown = app
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://erp.example.com", "events": ["ticket.deleted"], "secret": SECRET}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    let id = register(
        &app,
        &admin,
        "https://erp.example.com/hooks",
        &["ticket.created"],
    )
    .await;
    let paused = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &admin,
            json!({"active": false, "events": ["ticket.created", "ticket.assigned"]}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(paused.body["active"], false);
    assert_eq!(
        paused.body["events"],
        json!(["ticket.created", "ticket.assigned"])
    );
    assert_eq!(app.get("/api/v1/webhooks", &admin).await.body[0]["id"], id);
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{id}"), &admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Delivery errors are fixed words, whatever the receiver or the network said.
async fn delivery_errors_are_fixed_words(app: TestApp) {
    let (_, admin) = app.admin().await;
    // A port nobody listens on: the connection is refused.
    let closed = crate::server::free_port();
    let hook = register(
        &app,
        &admin,
        &format!("http://127.0.0.1:{closed}/hooks"),
        &["ticket.created"],
    )
    .await;
    new_ticket(&app, &admin).await;
    assert_eq!(round(&app, &settings(5)).failed_attempts, 1);
    let list = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"), &admin)
        .await;
    let delivery = &list.body["items"][0];
    assert_eq!(delivery["last_error"], "connection refused");
    assert!(delivery["last_status_code"].is_null());
}

/// Every spelling of an internal address, and a name that resolves to one, is refused
/// when an endpoint is registered or moved; public addresses and names that do not
/// resolve (yet) are taken.
async fn internal_addresses_are_refused_in_every_spelling(app: TestApp) {
    assert!(!app.state.settings.webhooks.allow_private);
    let (_, admin) = app.admin().await;
    for url in [
        "http://127.0.0.1/hooks",
        "http://127.1/hooks",
        "http://2130706433/hooks",
        "http://0x7f000001/hooks",
        "http://0x7f.0.0.1/hooks",
        "http://0177.0.0.1/hooks",
        "http://0.0.0.0:8080/hooks",
        "http://0/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[::ffff:7f00:1]/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.10/hooks",
        "https://192.168.1.20:8443/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hooks",
        "http://[fd00::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://224.0.0.1/hooks",
        "http://255.255.255.255/hooks",
        "http://user@127.0.0.1:6379/",
        // A name that resolves to loopback (here through /etc/hosts).
        "http://localhost:8080/hooks",
    ] {
        let res = app
            .post(
                "/api/v1/webhooks",
                &admin,
                json!({"url": url, "events": ["ticket.created"], "secret": SECRET}),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {:?}",
            res.body
        );
        assert_eq!(res.error_fields(), ["url"], "{url}");
        assert!(
            res.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("public address"),
            "{url}: {:?}",
            res.body
        );
    }
    assert_eq!(app.get("/api/v1/webhooks", &admin).await.body, json!([]));

    // A public address is taken; moving it inside is refused like registering there.
    let hook = register(
        &app,
        &admin,
        "https://93.184.215.14/hooks",
        &["ticket.created"],
    )
    .await;
    let moved = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            &admin,
            json!({"url": "http://2130706433:9000/hooks"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(moved.error_fields(), ["url"]);
    let kept = app.get(&format!("/api/v1/webhooks/{hook}"), &admin).await;
    assert_eq!(kept.body["url"], "https://93.184.215.14/hooks");
}

/// An endpoint that leads inside anyway (registered before the rule, or a name that now
/// resolves to an internal address) is never connected to: the worker's resolver drops
/// the address and the delivery fails with a fixed word.
async fn an_endpoint_that_leads_inside_is_never_connected_to(app: TestApp) {
    let receiver = Receiver::start();
    let (_, admin) = app.admin().await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hooks");
    let by_name = format!("http://localhost:{port}/hooks");
    for url in [receiver.url.as_str(), by_name.as_str()] {
        app.sql(&format!(
            "INSERT INTO webhook_endpoints
                 (shop_id, url, events, secret, description, active, created_at, updated_at)
             VALUES (1, '{url}', 'ticket.created', '{SECRET}', 'inside', TRUE,
                     CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ));
    }
    new_ticket(&app, &admin).await;
    let worker = WorkerSettings {
        allow_private: false,
        ..settings(5)
    };
    let first = round(&app, &worker);
    assert_eq!((first.delivered, first.failed_attempts), (0, 2));
    assert!(receiver.received().is_empty(), "the receiver saw nothing");
    let hooks = app.get("/api/v1/webhooks", &admin).await;
    for hook in hooks.body.as_array().unwrap() {
        let list = app
            .get(
                &format!("/api/v1/webhooks/{}/deliveries", hook["id"]),
                &admin,
            )
            .await;
        let delivery = &list.body["items"][0];
        assert_eq!(delivery["status"], "pending", "{hook}");
        assert_eq!(delivery["last_error"], "address not allowed", "{hook}");
        assert!(delivery["last_status_code"].is_null());
    }
}

fn count_rows(app: &TestApp, table: &str, filter: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.state.db.conn().unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
}

/// Delivered work goes after RETENTION_WEBHOOK_DELIVERED_DAYS, failed deliveries (which an
/// admin may re-send) after RETENTION_WEBHOOK_FAILED_DAYS, an event once no delivery refers
/// to it; pending deliveries and undispatched events never. Batches of two rows show that
/// a round goes on until the work is done.
async fn finished_deliveries_and_events_are_pruned_in_batches(app: TestApp) {
    use aftercare::housekeeping::{RetentionSettings, run_at};
    let receiver = Receiver::start();
    let (_, admin) = app.admin().await;
    register(&app, &admin, &receiver.url, &["ticket.created"]).await;
    for n in 0..5 {
        new_ticket_for(&app, &admin, &format!("1380013800{n}")).await;
        if n == 3 {
            // The events so far go out; the last one goes to a receiver that is not there
            // too, and fails (events are dispatched to the endpoints of their round).
            round(&app, &settings(1));
            register(&app, &admin, "http://127.0.0.1:1/hook", &["ticket.created"]).await;
        }
    }
    round(&app, &settings(1));
    assert_eq!(
        count_rows(&app, "webhook_deliveries", "status = 'delivered'"),
        5
    );
    assert_eq!(
        count_rows(&app, "webhook_deliveries", "status = 'failed'"),
        1
    );
    // One more event the worker has not seen yet: it must survive any purge.
    let (_, _) = new_ticket_for(&app, &admin, "13900139000").await;
    assert_eq!(
        count_rows(&app, "webhook_events", "dispatched_at IS NULL"),
        1
    );

    let retention = RetentionSettings {
        webhook_delivered_days: 30,
        webhook_failed_days: 90,
        purge_batch_rows: 2,
    };
    let policy = &app.state.settings.login_throttle;
    let now = Utc::now().naive_utc();
    let early = run_at(&app.state.db, policy, &retention, now + Duration::days(29));
    assert_eq!((early.webhook_deliveries, early.webhook_events), (0, 0));

    let month = run_at(&app.state.db, policy, &retention, now + Duration::days(31));
    assert_eq!(month.webhook_deliveries, 5, "{month:?}");
    // Four events had only the delivered delivery; the fifth keeps its failed one.
    assert_eq!(month.webhook_events, 4, "{month:?}");
    assert_eq!(count_rows(&app, "webhook_deliveries", "1 = 1"), 1);
    assert_eq!(count_rows(&app, "webhook_events", "1 = 1"), 2);

    let quarter = run_at(&app.state.db, policy, &retention, now + Duration::days(91));
    assert_eq!((quarter.webhook_deliveries, quarter.webhook_events), (1, 1));
    assert_eq!(count_rows(&app, "webhook_deliveries", "1 = 1"), 0);
    assert_eq!(
        count_rows(&app, "webhook_events", "dispatched_at IS NULL"),
        1
    );
    assert_eq!(count_rows(&app, "webhook_events", "1 = 1"), 1);
}

async fn new_ticket_for(app: &TestApp, token: &str, phone: &str) -> (i64, i64) {
    let customer = app
        .customer(
            token,
            json!({"name": "李娜", "contacts": [{"kind": "phone", "value": phone}], "source": "online"}),
        )
        .await;
    let ticket = app
        .post(
            "/api/v1/tickets",
            token,
            json!({"kind": "negative_review", "customer_id": customer, "title": "2-star review",
                   "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口"}}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    (customer, ticket.body["id"].as_i64().unwrap())
}
