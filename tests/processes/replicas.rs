//! Two server processes on one PostgreSQL database serve the same data correctly: no
//! in-process state (tokens, login throttling, versions) breaks with several replicas.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::server::{ADMIN_EMAIL, Client, Method, PASSWORD, ScratchDb, Server};

fn create_staff(admin: &Client, email: &str, role: &str) -> i64 {
    let reply = admin
        .post(
            "/api/v1/users",
            &json!({"email": email, "display_name": email, "role": role, "password": PASSWORD}),
        )
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

/// Runs `requests` at once (released together by a barrier) and returns the replies in order.
fn race(
    requests: Vec<Box<dyn FnOnce() -> crate::server::Reply + Send>>,
) -> Vec<crate::server::Reply> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let threads: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                request()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn two_replicas_share_one_postgres_database() {
    let Some(db) = ScratchDb::postgres("replicas") else {
        return;
    };
    db.create_admin();
    let a = Server::start(db.url(), &[]);
    let b = Server::start(db.url(), &[]);
    let admin_a = a.client().login(ADMIN_EMAIL, PASSWORD);
    let agent_id = create_staff(&admin_a, "agent@aftercare.test", "agent");
    create_staff(&admin_a, "target@aftercare.test", "agent");

    // A token issued by one replica is honoured by the other, and a deactivation through
    // one stops the token at the other at once.
    let agent_a = a.client().login("agent@aftercare.test", PASSWORD);
    let token = agent_a.get("/api/v1/auth/me").unwrap();
    assert_eq!(token.status, 200);
    let agent_b = b.client().login("agent@aftercare.test", PASSWORD);
    assert_eq!(agent_b.get("/api/v1/auth/me").unwrap().status, 200);

    let customer = agent_b
        .post(
            "/api/v1/customers",
            &json!({"name": "双实例买家", "source": "online", "contacts": [{"kind": "phone", "value": "13600000001"}]}),
        )
        .unwrap();
    assert_eq!(customer.status, 201, "{:?}", customer.body);
    let ticket = agent_a
        .post(
            "/api/v1/tickets",
            &json!({"kind": "negative_review", "customer_id": customer.body["id"],
                    "title": "1-star review", "assignee_id": agent_id,
                    "details": {"platform": "taobao", "rating": 1, "review_text": "太慢了"}}),
        )
        .unwrap();
    assert_eq!(ticket.status, 201, "{:?}", ticket.body);
    let path = format!("/api/v1/tickets/{}", ticket.body["id"]);

    // Conditional edits raced through both replicas: exactly one wins each round.
    for round in 0..10 {
        let current = agent_a.get(&path).unwrap();
        let etag = current.etag.clone().expect("an ETag");
        let requests: Vec<Box<dyn FnOnce() -> crate::server::Reply + Send>> = [&agent_a, &agent_b]
            .into_iter()
            .enumerate()
            .map(|(replica, client)| {
                let (client, path, etag) = (client.clone(), path.clone(), etag.clone());
                Box::new(move || {
                    client
                        .send(
                            Method::Patch,
                            &path,
                            Some(&json!({"title": format!("round {round} via replica {replica}")})),
                            Some(&etag),
                        )
                        .unwrap()
                }) as Box<dyn FnOnce() -> crate::server::Reply + Send>
            })
            .collect();
        let mut statuses: Vec<u16> = race(requests).iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}");
    }

    // Unconditional contact attempts through both replicas: none is lost.
    let version_before = agent_b.get(&path).unwrap().body["version"]
        .as_i64()
        .unwrap();
    let attempts = 12;
    let requests: Vec<Box<dyn FnOnce() -> crate::server::Reply + Send>> = (0..attempts)
        .map(|n| {
            let client = if n % 2 == 0 { agent_a.clone() } else { agent_b.clone() };
            let path = format!("{path}/contacts");
            Box::new(move || {
                client
                    .post(&path, &json!({"channel": "phone", "reached": false, "note": format!("attempt {n}")}))
                    .unwrap()
            }) as Box<dyn FnOnce() -> crate::server::Reply + Send>
        })
        .collect();
    for reply in race(requests) {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let events: Vec<Value> = agent_a.all_pages(&format!("{path}/events"));
    let logged = events
        .iter()
        .filter(|e| e["kind"] == "contact_logged")
        .count();
    assert_eq!(logged, attempts);
    let version_after = agent_a.get(&path).unwrap().body["version"]
        .as_i64()
        .unwrap();
    assert_eq!(version_after - version_before, attempts as i64);

    // Login throttling is counted in the database, each attempt before its password is
    // checked: twenty guesses raced through both replicas at once get three checks (the
    // free failures of one account from one address) between them, and the rest 429.
    let guesses: Vec<Box<dyn FnOnce() -> crate::server::Reply + Send>> = (0..20)
        .map(|n| {
            let client = if n % 2 == 0 { a.client() } else { b.client() };
            Box::new(move || {
                client
                    .post(
                        "/api/v1/auth/login",
                        &json!({"email": "target@aftercare.test", "password": format!("wrong guess {n}")}),
                    )
                    .unwrap()
            }) as Box<dyn FnOnce() -> crate::server::Reply + Send>
        })
        .collect();
    let statuses: Vec<u16> = race(guesses).into_iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        17,
        "{statuses:?}"
    );
    for client in [a.client(), b.client()] {
        let reply = client
            .post(
                "/api/v1/auth/login",
                &json!({"email": "target@aftercare.test", "password": PASSWORD}),
            )
            .unwrap();
        assert_eq!(reply.status, 429, "{:?}", reply.body);
        assert!(reply.retry_after.is_some());
    }

    // Deactivated through one replica: the token stops working on the other at once. The
    // agent still holds the raced ticket, which goes back to the unassigned queue.
    let reply = admin_a
        .send(
            Method::Patch,
            &format!("/api/v1/users/{agent_id}"),
            Some(&json!({"active": false, "open_tickets": {"action": "unassign"}})),
            None,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(agent_b.get("/api/v1/auth/me").unwrap().status, 401);
}
