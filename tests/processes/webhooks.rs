//! Two server processes, each running the webhook worker on one database: every event
//! reaches the endpoint exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::receiver::Receiver;
use crate::server::{ADMIN_EMAIL, PASSWORD, ScratchDb, Server};

#[test]
fn two_workers_on_postgres_deliver_each_event_once() {
    if let Some(db) = ScratchDb::postgres("webhooks") {
        each_event_once(db);
    }
}

#[test]
fn two_workers_on_sqlite_deliver_each_event_once() {
    each_event_once(ScratchDb::sqlite());
}

fn each_event_once(db: ScratchDb) {
    db.create_admin();
    // Both workers poll every 20 ms, so they contend for the same rows all the time.
    // The receiver listens on 127.0.0.1, which webhooks reach only when allowed.
    let env = [
        ("WEBHOOK_POLL_MS", "20"),
        ("WEBHOOK_WORKER", "true"),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
    ];
    let a = Server::start(db.url(), &env);
    let b = Server::start(db.url(), &env);
    let receiver = Receiver::start();
    let admin_a = a.client().login(ADMIN_EMAIL, PASSWORD);
    let admin_b = b.client().login(ADMIN_EMAIL, PASSWORD);
    let hook = admin_a
        .post(
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "events": ["ticket.created", "ticket.contact_logged"],
                    "secret": "whsec-two-replicas-0123"}),
        )
        .unwrap();
    assert_eq!(hook.status, 201, "{:?}", hook.body);
    let customer = admin_a
        .post(
            "/api/v1/customers",
            &json!({"name": "Buyer", "source": "online", "contacts": [{"kind": "phone", "value": "13600000009"}]}),
        )
        .unwrap();
    assert_eq!(customer.status, 201, "{:?}", customer.body);

    // 30 tickets, each with a contact attempt, written through both replicas in turn.
    let tickets = 30;
    for n in 0..tickets {
        let client = if n % 2 == 0 { &admin_a } else { &admin_b };
        let ticket = client
            .post(
                "/api/v1/tickets",
                &json!({"kind": "negative_review", "customer_id": customer.body["id"], "title": format!("review {n}"),
                        "details": {"platform": "taobao", "rating": 1}}),
            )
            .unwrap();
        assert_eq!(ticket.status, 201, "{:?}", ticket.body);
        let contact = client
            .post(
                &format!("/api/v1/tickets/{}/contacts", ticket.body["id"]),
                &json!({"channel": "phone", "reached": false}),
            )
            .unwrap();
        assert_eq!(contact.status, 200, "{:?}", contact.body);
    }
    let expected = tickets * 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Give a duplicate, if there were one, time to arrive.
    std::thread::sleep(Duration::from_millis(500));

    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for received in receiver.received() {
        let id = received.json()["id"].as_str().unwrap().to_owned();
        *per_event.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    assert_eq!(per_event.len(), expected, "every event delivered");

    let deliveries = admin_b
        .get(&format!(
            "/api/v1/webhooks/{}/deliveries?limit=200",
            hook.body["id"]
        ))
        .unwrap();
    let items = deliveries.body["items"].as_array().unwrap();
    assert_eq!(items.len(), expected);
    assert!(
        items
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1)
    );
}
