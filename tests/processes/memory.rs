//! A crowd of logins cannot grow the server's memory: 200 at once (unknown emails and
//! wrong passwords, with the login limits lifted so that every one of them is hashed) run
//! argon2id (19 MiB each) on at most `PASSWORD_HASHING_CONCURRENCY` reused buffers, so the
//! peak resident size stays near the idle size plus one buffer per hasher, and a second
//! crowd reuses what the first left instead of adding to it. Prints the figures
//! BENCHMARKS.md quotes.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::server::{ADMIN_EMAIL, Client, ScratchDb, Server};

const LOGINS: usize = 200;
const HASHERS: usize = 2;
/// argon2id's memory at the parameters in use (19 MiB), per hasher.
const HASH_MIB: u64 = 19;
/// The server without hashing memory (pool, workers, 200 connections, allocator arenas),
/// with room to spare: about 43 MiB idle and 50 MiB under the crowd were measured. Memory
/// that grew with the crowd (19 MiB per login checked at once, 1.7 GiB before hashing was
/// bounded) overshoots this by far.
const BASE_MIB: u64 = 100;

/// A figure of `/proc/<pid>/status` in KiB (`VmHWM`: peak resident set, `VmRSS`: now).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `LOGINS` failed logins released together; returns their statuses.
fn crowd(server: &Server, round: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(LOGINS));
    let threads: Vec<_> = (0..LOGINS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let client: Client = server.client();
            std::thread::spawn(move || {
                // Half unknown accounts (checked against the decoy hash), half a wrong
                // password for the admin.
                let email = if i % 2 == 0 {
                    format!("nobody{round}-{i}@aftercare.test")
                } else {
                    ADMIN_EMAIL.to_owned()
                };
                barrier.wait();
                client
                    .post(
                        "/api/v1/auth/login",
                        &json!({"email": email, "password": format!("wrong guess {i}")}),
                    )
                    .expect("login request")
                    .status
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn two_hundred_concurrent_logins_keep_memory_bounded() {
    let db = ScratchDb::sqlite();
    db.create_admin();
    let hashers = HASHERS.to_string();
    let server = Server::start(
        db.url(),
        &[
            // Every login of the crowd must reach the hasher: no throttling, and a wait
            // long enough that none is turned away with 503.
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "100000"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
            ("LOGIN_FREE_FAILURES", "100000"),
            ("PASSWORD_HASHING_CONCURRENCY", &hashers),
            ("PASSWORD_HASHING_WAIT_MS", "120000"),
        ],
    );
    let pid = server.pid();
    let idle = status_kib(pid, "VmRSS");
    let mut peaks = Vec::new();
    for round in 0..2 {
        let started = std::time::Instant::now();
        let statuses = crowd(&server, round);
        println!(
            "crowd {round}: {LOGINS} logins answered in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(
            statuses.iter().all(|&s| s == 401),
            "every login is hashed and refused: {statuses:?}"
        );
        peaks.push(status_kib(pid, "VmHWM"));
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{LOGINS} concurrent logins, {HASHERS} hashers: idle RSS {:.1} MiB, peak RSS after the \
         first crowd {:.1} MiB, after the second {:.1} MiB",
        mib(idle),
        mib(peaks[0]),
        mib(peaks[1]),
    );
    let bound_kib = (BASE_MIB + HASHERS as u64 * HASH_MIB) * 1024;
    assert!(
        peaks[0] < bound_kib,
        "peak RSS {:.1} MiB is over {:.1} MiB: hashing memory grows with the crowd",
        mib(peaks[0]),
        mib(bound_kib)
    );
    // The second crowd runs in the buffers the first one left: no new hashing memory.
    assert!(
        peaks[1] - peaks[0] < HASH_MIB * 1024,
        "the second crowd added {:.1} MiB to the peak",
        mib(peaks[1] - peaks[0])
    );
}
