//! SIGKILL while writes are in flight: every write that was acknowledged with a 2xx is
//! there after a restart, and no write is half-applied.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::{ADMIN_EMAIL, PASSWORD, ScratchDb, Server};

const WRITERS: usize = 6;
/// Acknowledged writes to wait for before the kill, so that it lands mid-stream.
const ACKNOWLEDGED_BEFORE_KILL: usize = 60;

#[derive(Default)]
struct Acknowledged {
    /// customer id → phone number sent
    customers: BTreeMap<i64, String>,
    contacts: usize,
}

fn sigkill_loses_no_acknowledged_write(db: ScratchDb) {
    db.create_admin();
    let server = Server::start(db.url(), &[]);
    let admin = server.client().login(ADMIN_EMAIL, PASSWORD);
    let seed = admin
        .post(
            "/api/v1/customers",
            &json!({"name": "Seed buyer", "source": "online", "contacts": [{"kind": "phone", "value": "13700000000"}]}),
        )
        .unwrap();
    assert_eq!(seed.status, 201, "{:?}", seed.body);
    let ticket = admin
        .post(
            "/api/v1/tickets",
            &json!({"kind": "repair", "customer_id": seed.body["id"], "title": "Kettle does not heat",
                    "details": {"fault": "no heat", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}}),
        )
        .unwrap();
    assert_eq!(ticket.status, 201, "{:?}", ticket.body);
    let ticket_id = ticket.body["id"].as_i64().unwrap();
    let version_before = ticket.body["version"].as_i64().unwrap();

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = admin.clone();
            let acknowledged = Arc::clone(&acknowledged);
            let acknowledged_count = Arc::clone(&acknowledged_count);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    // A customer is several tables (customer, handles, tags); a contact
                    // attempt is the ticket, its event and its attempt row.
                    let result = if n % 3 == 2 {
                        client
                            .post(
                                &format!("/api/v1/tickets/{ticket_id}/contacts"),
                                &json!({"channel": "phone", "reached": false, "note": format!("writer {writer} #{n}")}),
                            )
                            .map(|reply| (reply, None))
                    } else {
                        let phone = format!("139{writer:02}{n:06}");
                        client
                            .post(
                                "/api/v1/customers",
                                &json!({"name": format!("买家 {writer}-{n}"), "source": "in_store",
                                        "contacts": [{"kind": "phone", "value": phone},
                                                     {"kind": "wechat", "value": format!("wx_{writer}_{n}")}],
                                        "tags": ["durability", format!("writer {writer}")]}),
                            )
                            .map(|reply| (reply, Some(phone)))
                    };
                    match result {
                        Ok((reply, phone)) if (200..300).contains(&reply.status) => {
                            let mut acknowledged = acknowledged.lock().unwrap();
                            match phone {
                                Some(phone) => {
                                    acknowledged
                                        .customers
                                        .insert(reply.body["id"].as_i64().unwrap(), phone);
                                }
                                None => acknowledged.contacts += 1,
                            }
                            acknowledged_count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((reply, _)) => panic!("a write failed before the kill: {reply:?}"),
                        // The server is gone: this write was never acknowledged.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged_count.load(Ordering::Relaxed) < ACKNOWLEDGED_BEFORE_KILL
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acknowledged = Arc::try_unwrap(acknowledged)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    assert!(
        acknowledged.customers.len() + acknowledged.contacts >= ACKNOWLEDGED_BEFORE_KILL,
        "the kill came before enough writes were acknowledged"
    );

    let server = Server::start(db.url(), &[]);
    let admin = server.client().login(ADMIN_EMAIL, PASSWORD);
    // Every acknowledged customer is there, whole.
    for (id, phone) in &acknowledged.customers {
        let reply = admin.get(&format!("/api/v1/customers/{id}")).unwrap();
        assert_eq!(reply.status, 200, "acknowledged customer {id} is missing");
        assert_eq!(reply.body["contacts"][0]["value"], phone.as_str());
    }
    // No customer is half-written: each one stored has both handles and both tags, whether
    // or not its creation was acknowledged before the kill.
    let stored = admin.all_pages("/api/v1/customers?tags_all=durability&limit=200");
    assert!(stored.len() >= acknowledged.customers.len());
    for customer in &stored {
        let id = customer["id"].as_i64().unwrap();
        let full = admin.get(&format!("/api/v1/customers/{id}")).unwrap().body;
        assert_eq!(full["contacts"].as_array().map(Vec::len), Some(2), "{full}");
        assert_eq!(full["tags"].as_array().map(Vec::len), Some(2), "{full}");
    }
    // Each contact attempt stored is one event and one version step: none half-applied,
    // and none acknowledged is missing.
    let events = admin.all_pages(&format!("/api/v1/tickets/{ticket_id}/events"));
    let logged = events
        .iter()
        .filter(|e| e["kind"] == "contact_logged")
        .count();
    assert!(
        logged >= acknowledged.contacts,
        "{logged} attempts stored, {} acknowledged",
        acknowledged.contacts
    );
    let ticket = admin
        .get(&format!("/api/v1/tickets/{ticket_id}"))
        .unwrap()
        .body;
    assert_eq!(
        ticket["version"].as_i64().unwrap() - version_before,
        logged as i64,
        "the ticket's version and its timeline disagree"
    );
    // The restarted server takes writes again.
    let after = admin
        .post(
            &format!("/api/v1/tickets/{ticket_id}/contacts"),
            &json!({"channel": "wechat", "reached": true}),
        )
        .unwrap();
    assert_eq!(after.status, 200, "{:?}", after.body);
}

#[test]
fn sqlite_sigkill_loses_no_acknowledged_write() {
    sigkill_loses_no_acknowledged_write(ScratchDb::sqlite());
}

#[test]
fn postgres_sigkill_loses_no_acknowledged_write() {
    if let Some(db) = ScratchDb::postgres("durability") {
        sigkill_loses_no_acknowledged_write(db);
    }
}
