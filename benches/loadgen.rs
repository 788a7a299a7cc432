//! HTTP load benchmark: `cargo bench --bench loadgen`.
//!
//! For each backend it seeds a shop (in-process, with `support/seed.rs`), starts the release
//! server as its own process, logs in once per simulated agent and drives a helpdesk's mix
//! for a fixed time: 60% reads (queue, ticket view, customer view, customer search), 30%
//! writes (contact attempts, resolutions), 10% new tickets. It then drives a bare actix-web
//! JSON endpoint with the same client threads, so the ratio of the two is the figure to
//! improve. It prints figures; it asserts nothing. Settings are environment variables:
//!
//! | variable | default | |
//! |---|---|---|
//! | LOADGEN_BACKENDS | sqlite,postgres | which backends to run |
//! | LOADGEN_SECONDS | 30 | length of the mixed run per backend |
//! | LOADGEN_AGENTS | 16 | simulated agents, one client thread each |
//! | LOADGEN_CUSTOMERS / _ORDERS / _TICKETS | 100000 / 400000 / 200000 | data set |
//! | TEST_DATABASE_URL | postgres://postgres@127.0.0.1:5432/test | server for the scratch database |

#[path = "support/seed.rs"]
mod seed;
#[path = "../tests/processes/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use aftercare::db::Db;
use rand::{RngExt, SeedableRng, rngs::SmallRng};
use serde_json::json;

use seed::BenchOptions;
use server::{Client, Method, ScratchDb, Server};

struct Options {
    backends: Vec<String>,
    seconds: u64,
    agents: usize,
    customers: usize,
    orders: usize,
    tickets: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Options {
    fn from_env() -> Self {
        Options {
            backends: std::env::var("LOADGEN_BACKENDS")
                .unwrap_or_else(|_| "sqlite,postgres".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            seconds: env_or("LOADGEN_SECONDS", 30),
            agents: env_or("LOADGEN_AGENTS", 16).max(1),
            customers: env_or("LOADGEN_CUSTOMERS", 100_000),
            orders: env_or("LOADGEN_ORDERS", 400_000),
            tickets: env_or("LOADGEN_TICKETS", 200_000),
        }
    }
}

/// Latencies and failures of one endpoint.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Samples {
    fn record(&mut self, started: Instant, outcome: &Result<server::Reply, ureq::Error>) {
        self.latencies.push(started.elapsed());
        let failure = match outcome {
            Ok(reply) if (200..300).contains(&reply.status) => None,
            Ok(reply) => Some(format!("{} {}", reply.status, reply.body)),
            Err(e) => Some(e.to_string()),
        };
        if let Some(failure) = failure {
            self.errors += 1;
            self.first_error.get_or_insert(failure);
        }
    }

    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn report(title: &str, results: BTreeMap<&'static str, Samples>, seconds: f64) -> f64 {
    println!("\n{title}");
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "endpoint", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut total = Samples::default();
    for (name, mut samples) in results {
        samples.latencies.sort();
        println!(
            "{:<20} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>7}",
            name,
            samples.latencies.len(),
            samples.latencies.len() as f64 / seconds,
            percentile(&samples.latencies, 0.50),
            percentile(&samples.latencies, 0.99),
            samples.errors
        );
        if let Some(error) = &samples.first_error {
            println!(
                "    first error: {}",
                error.chars().take(200).collect::<String>()
            );
        }
        total.merge(samples);
    }
    total.latencies.sort();
    let throughput = total.latencies.len() as f64 / seconds;
    println!(
        "{:<20} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>7}",
        "all",
        total.latencies.len(),
        throughput,
        percentile(&total.latencies, 0.50),
        percentile(&total.latencies, 0.99),
        total.errors
    );
    throughput
}

/// A ticket an agent works on during the run.
struct Work {
    id: i64,
    kind: String,
    contacted: bool,
}

fn outcome_for(kind: &str) -> &'static str {
    match kind {
        "negative_review" => "review_kept_customer_satisfied",
        "return" => "exchanged",
        _ => "repaired",
    }
}

/// One simulated agent's session: the helpdesk mix until `until`.
fn agent_session(
    client: Client,
    agent_id: i64,
    seed: u64,
    options: &Options,
    until: Instant,
) -> BTreeMap<&'static str, Samples> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let customers = options.customers.max(1) as u64;
    let tickets = options.tickets.max(1) as u64;
    let mut results: BTreeMap<&'static str, Samples> = BTreeMap::new();
    let open = client
        .get("/api/v1/tickets?assignee=me&state=new,first_call,follow_up&limit=200")
        .expect("the agent's open tickets");
    let mut work: Vec<Work> = open.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| Work {
            id: t["id"].as_i64().unwrap_or(0),
            kind: t["kind"].as_str().unwrap_or("repair").to_owned(),
            contacted: t["state"] != "new",
        })
        .collect();
    while Instant::now() < until {
        let roll = rng.random_range(0..100);
        let started = Instant::now();
        let (name, outcome) = match roll {
            0..20 => ("GET me/queue", client.get("/api/v1/me/queue")),
            20..35 => {
                let id = rng.random_range(1..=tickets);
                ("GET ticket", client.get(&format!("/api/v1/tickets/{id}")))
            }
            35..48 => {
                let id = rng.random_range(1..=customers);
                (
                    "GET customer",
                    client.get(&format!("/api/v1/customers/{id}")),
                )
            }
            48..60 => {
                let q = format!("customer%20{}", rng.random_range(0..customers));
                (
                    "search customers",
                    client.get(&format!("/api/v1/customers?q={q}&limit=20")),
                )
            }
            60..90 if !work.is_empty() => {
                let index = rng.random_range(0..work.len());
                let ticket = &mut work[index];
                if roll >= 80 && ticket.contacted {
                    let outcome = client.post(
                        &format!("/api/v1/tickets/{}/resolve", ticket.id),
                        &json!({"outcome": outcome_for(&ticket.kind), "note": "load test"}),
                    );
                    work.swap_remove(index);
                    ("POST resolve", outcome)
                } else {
                    ticket.contacted = true;
                    (
                        "POST contact",
                        client.post(
                            &format!("/api/v1/tickets/{}/contacts", ticket.id),
                            &json!({"channel": "phone", "reached": rng.random_bool(0.5), "note": "load test"}),
                        ),
                    )
                }
            }
            _ => {
                let customer_id = rng.random_range(1..=customers);
                let outcome = client.send(
                    Method::Post,
                    "/api/v1/tickets",
                    Some(&json!({
                        "kind": "negative_review",
                        "customer_id": customer_id,
                        "title": "2-star review: late delivery",
                        "assignee_id": agent_id,
                        "details": {"platform": "taobao", "rating": 2, "review_text": "物流太慢"}
                    })),
                    None,
                );
                if let Ok(reply) = &outcome
                    && reply.status == 201
                {
                    work.push(Work {
                        id: reply.body["id"].as_i64().unwrap_or(0),
                        kind: "negative_review".into(),
                        contacted: false,
                    });
                }
                ("POST ticket", outcome)
            }
        };
        results.entry(name).or_default().record(started, &outcome);
    }
    results
}

fn merge_all(sessions: Vec<BTreeMap<&'static str, Samples>>) -> BTreeMap<&'static str, Samples> {
    let mut all: BTreeMap<&'static str, Samples> = BTreeMap::new();
    for session in sessions {
        for (name, samples) in session {
            all.entry(name).or_default().merge(samples);
        }
    }
    all
}

/// The reference: the smallest actix-web JSON endpoint, two workers like the server.
fn bare_endpoint(options: &Options) -> f64 {
    let port = server::free_port();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new().route(
                    "/bare",
                    web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
                )
            })
            .workers(2)
            .bind(("127.0.0.1", port))
            .expect("bind the bare endpoint")
            .run();
            let _ = handle_tx.send(server.handle());
            server.await
        })
    });
    let handle = handle_rx.recv().expect("the bare server starts");
    let base = format!("http://127.0.0.1:{port}");
    let seconds = (options.seconds / 3).max(5);
    let until = Instant::now() + Duration::from_secs(seconds);
    let sessions: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..options.agents)
            .map(|_| {
                let client = Client::new(&base);
                scope.spawn(move || {
                    let mut samples = Samples::default();
                    while Instant::now() < until {
                        let started = Instant::now();
                        let outcome = client.get("/bare");
                        samples.record(started, &outcome);
                    }
                    BTreeMap::from([("GET bare", samples)])
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let throughput = report(
        "bare actix-web JSON endpoint (same client threads)",
        merge_all(sessions),
        seconds as f64,
    );
    actix_web::rt::System::new().block_on(handle.stop(true));
    throughput
}

fn run_backend(backend: &str, options: &Options) -> Option<f64> {
    let db = match backend {
        "sqlite" => ScratchDb::sqlite(),
        "postgres" => ScratchDb::postgres("loadgen")?,
        other => {
            eprintln!("unknown backend {other:?} (sqlite or postgres)");
            return None;
        }
    };
    // Seeded in-process, through the same module as the data-layer benchmark; the pool is
    // dropped before the server starts, so only the server's connections remain.
    let seeded = {
        // Seeding is no request to fail fast: it waits for a connection as the server used to.
        let pool = Db::connect(db.url(), 2, std::time::Duration::from_secs(10))
            .expect("connect to the scratch database");
        let options = BenchOptions {
            customers: options.customers,
            orders: options.orders,
            tickets: options.tickets,
            agents: options.agents,
        };
        seed::seed(&pool, &options).expect("seed the scratch database")
    };
    print!("\n== {backend}: {seeded}");
    let server = Server::start(db.url(), &[("RUST_LOG", "warn")]);
    let sessions: Vec<(Client, i64)> = (0..options.agents)
        .map(|i| {
            let client = server
                .client()
                .login(&format!("agent{i}@bench.example"), "bench password");
            let me = client.get("/api/v1/auth/me").expect("whoami").body;
            (client, me["id"].as_i64().expect("the agent's id"))
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let results = std::thread::scope(|scope| {
        let threads: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(i, (client, agent_id))| {
                scope.spawn(move || agent_session(client, agent_id, i as u64 + 1, options, until))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    let throughput = report(
        &format!(
            "{backend}: {} agents for {} s against the release server",
            options.agents, options.seconds
        ),
        merge_all(results),
        options.seconds as f64,
    );
    drop(server);
    Some(throughput)
}

fn main() {
    let options = Options::from_env();
    println!(
        "loadgen: {} customers, {} orders, {} tickets; {} agents; {} s per backend; {} cores",
        options.customers,
        options.orders,
        options.tickets,
        options.agents,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut figures: Vec<(String, f64)> = Vec::new();
    for backend in &options.backends {
        if let Some(throughput) = run_backend(backend, &options) {
            figures.push((backend.clone(), throughput));
        }
    }
    let bare = bare_endpoint(&options);
    println!();
    for (backend, throughput) in figures {
        println!(
            "{backend}: {throughput:.0} req/s for the helpdesk mix = {:.1}% of the bare endpoint's {bare:.0} req/s",
            100.0 * throughput / bare
        );
    }
}
