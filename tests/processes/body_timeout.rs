//! A request body that stops arriving halfway is answered 408 once
//! `BODY_READ_TIMEOUT_SECS` is over, its connection is closed, and the server serves
//! other clients all the while: on login (no token needed), JSON bodies, bodies read by
//! the idempotency middleware, and CSV imports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::server::{ADMIN_EMAIL, PASSWORD, ScratchDb, Server};

/// Sends the headers and half the declared body, then waits; returns all the server
/// wrote until it closed the connection.
fn stall(address: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    // Only a guard against hanging forever: the server should answer after 1 s.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "{head}Content-Length: 100\r\n\r\n{{\"email\": \"a").unwrap();
    stream.flush().unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the server answers and closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_unfinished_body_gets_408_and_its_connection_closed() {
    let db = ScratchDb::sqlite();
    db.create_admin();
    let server = Server::start(
        db.url(),
        &[("BODY_READ_TIMEOUT_SECS", "1"), ("HTTP_WORKERS", "1")],
    );
    let login = server
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
        )
        .unwrap();
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let address = server.base.trim_start_matches("http://").to_owned();
    let host = format!("Host: {address}\r\n");
    let auth = format!("Authorization: Bearer {token}\r\n");
    let heads = [
        format!("POST /api/v1/auth/login HTTP/1.1\r\n{host}Content-Type: application/json\r\n"),
        format!(
            "POST /api/v1/customers HTTP/1.1\r\n{host}{auth}Content-Type: application/json\r\n"
        ),
        format!(
            "POST /api/v1/customers HTTP/1.1\r\n{host}{auth}Idempotency-Key: stalled-1\r\nContent-Type: application/json\r\n"
        ),
        format!(
            "POST /api/v1/customers/import?file=customers HTTP/1.1\r\n{host}{auth}Content-Type: text/csv\r\n"
        ),
    ];
    let stalled: Vec<_> = heads
        .into_iter()
        .map(|head| {
            let address = address.clone();
            std::thread::spawn(move || (head.clone(), stall(&address, &head)))
        })
        .collect();
    // The one worker keeps serving while four bodies hang.
    std::thread::sleep(Duration::from_millis(200));
    let health = server.client().get("/healthz").unwrap();
    assert_eq!(health.status, 200);

    for thread in stalled {
        let (head, answer) = thread.join().unwrap();
        let request = head.lines().next().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{request}: {answer}");
        assert!(
            answer.contains("application/problem+json"),
            "{request}: {answer}"
        );
        assert!(
            answer.contains("urn:aftercare:problem:request-timeout"),
            "{request}: {answer}"
        );
    }
    // Nothing was half-done, and the server goes on.
    let admin = server.client().login(ADMIN_EMAIL, PASSWORD);
    let customers = admin.get("/api/v1/customers").unwrap();
    assert_eq!(customers.status, 200);
    assert_eq!(customers.body["items"], json!([]));
}
