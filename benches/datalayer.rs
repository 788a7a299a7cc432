//! Data-layer benchmark: `cargo bench --bench datalayer`.
//!
//! Seeds a realistic shop into an empty database (`support/seed.rs`) and times the full
//! tier recomputation, each statistics query and the busiest list queries, calling the
//! library directly (no HTTP). It prints figures; it asserts nothing (tests assert
//! behaviour, never time). Settings are environment variables:
//!
//! | variable | default | |
//! |---|---|---|
//! | DATABASE_URL | a scratch SQLite file, removed afterwards | an empty database to seed |
//! | BENCH_CUSTOMERS | 200000 | customers |
//! | BENCH_ORDERS | 2000000 | orders in all, spread over customers with a long tail |
//! | BENCH_TICKETS | 500000 | tickets |
//! | BENCH_AGENTS | 20 | agents the tickets are assigned to |
//! | BENCH_SEED_ONLY | unset | `1`: seed only, time nothing (needs DATABASE_URL); agents log in as `agentN@bench.example` / `bench password` |

#[path = "support/seed.rs"]
mod seed;

use std::fmt::Write as _;
use std::time::Instant;

use aftercare::customers::CustomerSort;
use aftercare::customers::rules::birthday_windows;
use aftercare::customers::store::{self as customer_store, CustomerFilter};
use aftercare::db::{Db, DbConnection};
use aftercare::error::ApiError;
use aftercare::ids::ShopId;
use aftercare::search::Terms;
use aftercare::stats::GroupBy;
use aftercare::tickets::store::{self as ticket_store, AssigneeFilter, TicketFilter, TicketSort};
use aftercare::tiers::TierSettings;
use chrono::{Duration, Utc};
use seed::BenchOptions;

/// Seeding and timing are no requests to fail fast: they wait for a connection as long
/// as the server used to.
const SEEDING_CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Times `work` over a few runs and reports the median in milliseconds.
fn time<T>(runs: usize, mut work: impl FnMut() -> Result<T, ApiError>) -> Result<f64, ApiError> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(samples[samples.len() / 2])
}

/// Times the full tier recomputation, each statistics query and the busiest lists on the
/// seeded shop.
fn time_queries(db: &Db) -> Result<String, ApiError> {
    let mut out = String::new();
    let settings = TierSettings::default();
    let report = aftercare::tiers::operations::recompute_all(db, ShopId(1), &settings)?;
    let _ = writeln!(
        out,
        "full tier recomputation: {:.1} s for {} customers ({} changed; key from {} cents or {} orders)",
        report.elapsed_ms as f64 / 1000.0,
        report.customers,
        report.changed,
        report.key_spend_cents,
        report.key_order_count
    );
    let _ = writeln!(out, "\n{:<48} {:>10}", "query (median of 5 runs)", "ms");
    let mut conn = db.conn()?;
    let conn: &mut DbConnection = &mut conn;
    let now = Utc::now().naive_utc();
    let cst = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    let today = Utc::now().with_timezone(&cst).date_naive();
    for (days, label) in [(30, "30 days"), (365, "365 days")] {
        let p = aftercare::stats::rules::period(
            Some(today - Duration::days(days - 1)),
            Some(today),
            cst,
            today,
        )?;
        for group_by in [
            GroupBy::None,
            GroupBy::Agent,
            GroupBy::Kind,
            GroupBy::Channel,
            GroupBy::Day,
            GroupBy::Week,
            GroupBy::Month,
        ] {
            let ms = time(5, || {
                aftercare::stats::store::ticket_stats(conn, ShopId(1), &p, group_by)
            })?;
            let _ = writeln!(
                out,
                "{:<48} {:>10.1}",
                format!("stats/tickets {label}, group_by={group_by:?}"),
                ms
            );
        }
    }
    let ms = time(5, || {
        aftercare::stats::store::backlog(conn, ShopId(1), now, 3)
    })?;
    let _ = writeln!(out, "{:<48} {:>10.1}", "stats/backlog", ms);

    let customers = |f: &dyn Fn(&mut CustomerFilter)| {
        let mut filter = CustomerFilter::of_shop(ShopId(1));
        f(&mut filter);
        filter
    };
    let lists: Vec<(&str, CustomerFilter, CustomerSort)> = vec![
        (
            "customers: first page, newest",
            customers(&|_| {}),
            CustomerSort::Newest,
        ),
        (
            "customers: q=1300000 (phone prefix, all matches)",
            customers(&|f| {
                f.search = Some(Terms::new("1300000", "1300000".into(), "1300000".into()))
            }),
            CustomerSort::Newest,
        ),
        (
            "customers: tags_all=key customer,Beijing",
            customers(&|f| f.tags_all = vec!["key customer".into(), "Beijing".into()]),
            CustomerSort::Newest,
        ),
        (
            "customers: no purchase for 180 days",
            customers(&|f| f.bought_before = Some(now - Duration::days(180))),
            CustomerSort::Newest,
        ),
        (
            "customers: birthday within 7 days",
            customers(&|f| f.birthday_ranges = birthday_windows(today, 7)),
            CustomerSort::Newest,
        ),
        (
            "customers: tier=key, by name",
            customers(&|f| f.tier = Some(aftercare::tiers::Tier::Key)),
            CustomerSort::Name,
        ),
        (
            "customers: at risk",
            customers(&|f| f.at_risk = Some(true)),
            CustomerSort::Newest,
        ),
    ];
    for (label, filter, sort) in lists {
        let ms = time(5, || {
            let rows = customer_store::list(conn, &filter, sort, None, 51)?;
            customer_store::views(conn, rows)
        })?;
        let _ = writeln!(out, "{:<48} {:>10.1}", label, ms);
    }
    let tickets = |f: &dyn Fn(&mut TicketFilter)| {
        let mut filter = TicketFilter::of_shop(ShopId(1));
        f(&mut filter);
        filter
    };
    // The first agent seeded: a fresh database gives it id 1.
    let agent_id = 1;
    let queues: Vec<(&str, TicketFilter, TicketSort)> = vec![
        (
            "tickets: open, by due",
            tickets(&|f| f.states = aftercare::tickets::State::OPEN.to_vec()),
            TicketSort::Due,
        ),
        (
            "tickets: one agent's, by due",
            tickets(&|f| f.assignee = Some(AssigneeFilter::Staff(agent_id))),
            TicketSort::Due,
        ),
        (
            "tickets: overdue first calls",
            tickets(&|f| f.first_call_overdue_at = Some(now)),
            TicketSort::Due,
        ),
        (
            "tickets: by priority",
            tickets(&|_| {}),
            TicketSort::Priority,
        ),
    ];
    for (label, filter, sort) in queues {
        let ms = time(5, || {
            let page = ticket_store::list(conn, &filter, sort, None, 51)?;
            ticket_store::views(conn, &page, now)
        })?;
        let _ = writeln!(out, "{:<48} {:>10.1}", label, ms);
    }
    Ok(out)
}

fn main() -> std::process::ExitCode {
    let options = BenchOptions {
        customers: env_or("BENCH_CUSTOMERS", 200_000),
        orders: env_or("BENCH_ORDERS", 2_000_000),
        tickets: env_or("BENCH_TICKETS", 500_000),
        agents: env_or("BENCH_AGENTS", 20usize).max(1),
    };
    let seed_only = std::env::var("BENCH_SEED_ONLY").is_ok_and(|v| v == "1" || v == "true");
    let given = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if seed_only && given.is_none() {
        eprintln!("datalayer: BENCH_SEED_ONLY=1 seeds DATABASE_URL; set it to an empty database");
        return std::process::ExitCode::FAILURE;
    }
    // Without DATABASE_URL, a scratch SQLite file that is removed afterwards.
    let scratch = given.is_none().then(|| {
        std::env::temp_dir().join(format!("aftercare-datalayer-{}.db", std::process::id()))
    });
    let url = given.unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            scratch.as_ref().expect("a scratch path").display()
        )
    });
    let result = Db::connect(&url, 2, SEEDING_CHECKOUT_TIMEOUT).and_then(|db| {
        let seeded = seed::seed(&db, &options).map_err(|e| e.to_string())?;
        print!("{seeded}");
        if !seed_only {
            println!();
            print!("{}", time_queries(&db).map_err(|e| e.to_string())?);
        }
        Ok(())
    });
    if let Some(path) = scratch {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("datalayer: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
