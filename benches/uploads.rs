//! Memory of concurrent attachment uploads: `cargo bench --bench uploads`.
//!
//! For each storage it starts the server binary on a scratch SQLite database, opens one
//! ticket per client, uploads a small file (so first-use set-up is not counted), resets
//! the server's peak resident set (`VmHWM`, through `/proc/<pid>/clear_refs`), then sends
//! `UPLOAD_BENCH_CLIENTS` uploads of `UPLOAD_BENCH_MB` MB each at once (one file each, a
//! PDF, to its own ticket) and prints the resident set before, the peak during, the growth
//! and the time. Uploads stream to a temporary file and are placed from there, so the
//! growth should not follow the number of clients times the file size. It prints figures
//! and asserts nothing. Settings are environment variables:
//!
//! | variable | default | |
//! |---|---|---|
//! | UPLOAD_BENCH_STORAGES | database,filesystem | storages to run |
//! | UPLOAD_BENCH_CLIENTS | 10 | concurrent uploads |
//! | UPLOAD_BENCH_MB | 20 | size of each file, in MB (10^6 bytes) |

#[path = "../tests/processes/server.rs"]
mod server;

use std::time::Instant;

use serde_json::json;
use server::{ADMIN_EMAIL, PASSWORD, ScratchDb, Server};

const BOUNDARY: &str = "----aftercare-bench-boundary";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A form with one PDF of `size` bytes (different for each `seed`).
fn form(size: usize, seed: usize) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan-{seed}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n% {seed}\n"
    )
    .into_bytes();
    let start = body.len();
    body.resize(start + size.saturating_sub(20), b'0' + (seed % 10) as u8);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn run(storage: &str, clients: usize, mb: usize) {
    let db = ScratchDb::sqlite();
    db.create_admin();
    let dir = std::env::temp_dir().join(format!("aftercare-upload-bench-{}", std::process::id()));
    let dir_text = dir.to_string_lossy().into_owned();
    let server = Server::start(
        db.url(),
        &[
            ("ATTACHMENT_STORAGE", storage),
            ("ATTACHMENT_DIR", &dir_text),
            ("HTTP_WORKERS", "2"),
        ],
    );
    let admin = server.client().login(ADMIN_EMAIL, PASSWORD);
    let customer = admin
        .post(
            "/api/v1/customers",
            &json!({"name": "Bench Buyer", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}),
        )
        .expect("customer");
    let customer = customer.body["id"].as_i64().expect("customer id");
    let tickets: Vec<i64> = (0..clients)
        .map(|i| {
            let ticket = admin
                .post(
                    "/api/v1/tickets",
                    &json!({"kind": "repair", "customer_id": customer, "title": format!("repair {i}"),
                        "details": {"fault": "broken", "under_warranty": true,
                            "items": [{"product_name": "Kettle", "quantity": 1}]}}),
                )
                .expect("ticket");
            ticket.body["id"].as_i64().expect("ticket id")
        })
        .collect();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let warm = admin
        .post_bytes(
            &format!("/api/v1/tickets/{}/attachments", tickets[0]),
            &content_type,
            &form(10_000, 99),
        )
        .expect("warm-up upload");
    assert_eq!(warm.status, 201, "{:?}", warm.body);
    let forms: Vec<Vec<u8>> = (0..clients).map(|i| form(mb * 1_000_000, i)).collect();
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").expect("reset VmHWM");
    let before = memory_kib(server.pid(), "VmRSS");
    let started = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = forms
            .iter()
            .zip(&tickets)
            .map(|(body, ticket)| {
                let (client, content_type) = (admin.clone(), content_type.clone());
                scope.spawn(move || {
                    client
                        .post_bytes(
                            &format!("/api/v1/tickets/{ticket}/attachments"),
                            &content_type,
                            body,
                        )
                        .map(|r| r.status)
                        .unwrap_or(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let peak = memory_kib(server.pid(), "VmHWM");
    let created = statuses.iter().filter(|s| **s == 201).count();
    println!(
        "{storage:>10}: {clients} x {mb} MB at once: {created}/{clients} answered 201 in {seconds:.1} s; \
server RSS before {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let storages: Vec<String> = std::env::var("UPLOAD_BENCH_STORAGES")
        .unwrap_or_else(|_| "database,filesystem".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let clients = env_or("UPLOAD_BENCH_CLIENTS", 10).max(1);
    let mb = env_or("UPLOAD_BENCH_MB", 20).max(1);
    for storage in storages {
        run(&storage, clients, mb);
    }
}
