//! Seeds a realistic shop (staff, customers with contacts and tags, a long tail of orders,
//! tickets in every state) into an empty database, deterministically: the same options
//! always seed the same shop. Shared, through `#[path]`, by the data-layer benchmark
//! (`benches/datalayer.rs`), the HTTP load benchmark (`benches/loadgen.rs`) and the index
//! test (`tests/api/indexes.rs`), so all three measure the same data.
//!
//! Rows go in as multi-row INSERTs of literal values: seeding a million rows through the
//! API or row-by-row diesel inserts would take longer than the benchmark itself.

use std::fmt;
use std::time::Instant;

use aftercare::db::{Backend, Db, DbConnection};
use aftercare::error::ApiError;
use aftercare::orders::OrderStatus;
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// How big a shop to seed.
pub struct BenchOptions {
    pub customers: usize,
    pub orders: usize,
    pub tickets: usize,
    pub agents: usize,
}

/// What a seeded ticket's service-level targets follow from.
struct TicketTimes<'a> {
    id: i64,
    state: &'a str,
    created: NaiveDateTime,
    first_call_due: NaiveDateTime,
    contacted: Option<NaiveDateTime>,
    settled: Option<NaiveDateTime>,
    next_follow_up: Option<NaiveDateTime>,
    assignee_id: Option<i64>,
    now: NaiveDateTime,
}

/// The targets a ticket would hold had it lived through the application with the breach
/// sweep running: the first call and the resolution (met, breached at their due time,
/// dropped on close, or still pending), the next follow-up of a ticket in progress, and an
/// escalation for half the breaches of open tickets. Calendar clocks, today's defaults.
fn ticket_targets(rng: &mut Rng, t: TicketTimes<'_>) -> Vec<String> {
    const RESOLUTION_HOURS: i64 = 72;
    let open = matches!(t.state, "new" | "first_call" | "follow_up");
    let agent = t.assignee_id.map_or("NULL".into(), |a| a.to_string());
    let mut rows = Vec::new();
    let mut target = |rng: &mut Rng,
                      kind: &str,
                      started: NaiveDateTime,
                      due: NaiveDateTime,
                      met: Option<NaiveDateTime>,
                      dropped: Option<NaiveDateTime>| {
        // The sweep breaches a target at its due time unless it was met or dropped first.
        let breached = (due < met.or(dropped).unwrap_or(t.now).min(t.now)).then_some(due);
        let met = met.filter(|_| breached.is_none());
        let dropped = dropped.filter(|_| breached.is_none() && met.is_none());
        let escalated = breached
            .filter(|_| open && rng.below(2) == 0)
            .map(|b| b + Duration::minutes(1));
        let counted = met.map_or("NULL".into(), |m| (m - started).num_seconds().to_string());
        rows.push(format!(
            "(1, {id}, '{kind}', 'calendar', {minutes}, {started}, {due}, {met}, {breached}, {escalated}, {dropped}, {counted}, {agent})",
            id = t.id,
            minutes = (due - started).num_minutes(),
            started = ts(started),
            due = ts(due),
            met = opt(met),
            breached = opt(breached),
            escalated = opt(escalated),
            dropped = opt(dropped),
        ));
    };
    target(
        rng,
        "first_call",
        t.created,
        t.first_call_due,
        t.contacted,
        t.settled,
    );
    let resolution_due = t.created + Duration::hours(RESOLUTION_HOURS);
    let (resolved, closed) = match t.state {
        "resolved" => (t.settled, None),
        "closed" => (None, t.settled),
        _ => (None, None),
    };
    target(
        rng,
        "resolution",
        t.created,
        resolution_due,
        resolved,
        closed,
    );
    if let (Some(next), Some(contacted)) = (t.next_follow_up, t.contacted) {
        target(
            rng,
            "follow_up",
            contacted.max(next - Duration::hours(24)),
            next,
            None,
            None,
        );
    }
    rows
}

/// A small deterministic generator: the same options always seed the same shop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn ts(t: NaiveDateTime) -> String {
    t.format("'%Y-%m-%d %H:%M:%S'").to_string()
}

fn opt(t: Option<NaiveDateTime>) -> String {
    t.map_or("NULL".into(), ts)
}

/// Runs multi-row INSERTs of `rows` in chunks, each chunk its own statement.
fn insert_rows(conn: &mut DbConnection, head: &str, rows: &[String]) -> Result<(), ApiError> {
    for chunk in rows.chunks(500) {
        let sql = format!("{head} VALUES {}", chunk.join(","));
        conn.batch_execute(&sql)?;
    }
    Ok(())
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "萍", "红", "鹏", "辉",
];
const TITLES: &[&str] = &[
    "差评：物流太慢",
    "屏幕碎了",
    "退货：尺码不合适",
    "维修：无法开机",
    "包装破损",
    "颜色与图片不符",
    "少发了配件",
    "充电器发热",
    "Cracked screen on arrival",
    "Wrong size delivered",
    "客服态度差评",
    "质量问题要求退款",
];

/// A deterministic Chinese name and, for some buyers, a shop nickname.
fn person(rng: &mut Rng, id: i64) -> (String, Option<String>) {
    let surname = SURNAMES[rng.below(SURNAMES.len() as u64) as usize];
    let mut name = surname.to_owned();
    for _ in 0..1 + rng.below(2) {
        name.push_str(GIVEN[rng.below(GIVEN.len() as u64) as usize]);
    }
    let given = GIVEN[rng.below(GIVEN.len() as u64) as usize];
    let nickname = match rng.below(10) {
        0 => Some(format!("{surname}小姐_{id}")),
        1 => Some(format!("爱购物的{given}{id}")),
        2 => Some(format!("{given}{given}妈妈{id}")),
        _ => None,
    };
    (name, nickname)
}

/// What was seeded, and how long it took; displayed as the line the benchmarks print.
pub struct Seeded {
    pub backend: Backend,
    pub customers: usize,
    pub orders: usize,
    pub tickets: usize,
    pub agents: usize,
    pub seconds: f64,
}

impl fmt::Display for Seeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backend: {:?}\nseeded {} customers, {} orders, {} tickets, {} agents in {:.1} s",
            self.backend, self.customers, self.orders, self.tickets, self.agents, self.seconds
        )
    }
}

/// Seeds the shop into `db`, which must hold no customers yet. Agents log in as
/// `agent<N>@bench.example` with the password `bench password`.
pub fn seed(db: &Db, options: &BenchOptions) -> Result<Seeded, ApiError> {
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let now = Utc::now().naive_utc();
    let mut conn = db.conn()?;
    let existing: i64 = aftercare::schema::customers::table
        .count()
        .get_result(&mut conn)?;
    if existing > 0 {
        return Err(ApiError::BadRequest(
            "the benchmark seeds an empty database; point DATABASE_URL at a new one".into(),
        ));
    }
    let hash = aftercare::auth::password::hash("bench password")?;
    let mut staff = Vec::new();
    for i in 0..options.agents {
        staff.push(format!(
            "(1, 'agent{i}@bench.example', 'Agent {i}', 'agent', TRUE, '{hash}', 0, {n}, {n})",
            n = ts(now)
        ));
    }
    let conn: &mut DbConnection = &mut conn;
    conn.transaction(|c| insert_rows(c, "INSERT INTO users (shop_id, email, display_name, role, active, password_hash, token_generation, created_at, updated_at)", &staff))?;
    let first_agent: i64 = aftercare::schema::users::table
        .select(diesel::dsl::min(aftercare::schema::users::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(1);
    conn.transaction(|c| {
        c.batch_execute(&format!(
            "INSERT INTO tags (shop_id, name, name_key, tag_group, created_at) VALUES
             (1, 'key customer', 'key customer', 'segment', {n}), (1, 'Beijing', 'beijing', 'region', {n}),
             (1, 'Shanghai', 'shanghai', 'region', {n}),
             (1, 'interested in teapots', 'interested in teapots', 'interest', {n}),
             (1, 'wholesale', 'wholesale', 'segment', {n})",
            n = ts(now)
        ))?;
        Ok::<_, ApiError>(())
    })?;

    let mean_orders = options.orders as f64 / options.customers.max(1) as f64;
    let (mut order_total, mut order_no) = (0usize, 0u64);
    let batch = 2000;
    for start in (0..options.customers).step_by(batch) {
        let end = (start + batch).min(options.customers);
        let (mut customers, mut contacts, mut tags, mut orders) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in start..end {
            let id = i as i64 + 1;
            let created = now - Duration::days(30 + rng.below(1000) as i64);
            // Order counts follow a long tail: most buy a few times, a few buy very often.
            let count = ((-rng.unit().max(1e-9).ln()) * mean_orders).round() as usize;
            let (mut spent, mut kept, mut first, mut last) =
                (0i64, 0i64, None::<NaiveDateTime>, None::<NaiveDateTime>);
            for _ in 0..count {
                order_no += 1;
                let at = now - Duration::minutes(rng.below(2 * 365 * 24 * 60) as i64);
                let cents = 990 + (rng.unit().powi(3) * 200_000.0) as i64;
                let status = match rng.below(100) {
                    0..=89 => OrderStatus::Paid,
                    90..=94 => OrderStatus::Refunded,
                    95..=97 => OrderStatus::PartiallyRefunded,
                    _ => OrderStatus::Cancelled,
                };
                if status.counts_as_purchase() {
                    spent += cents;
                    kept += 1;
                    first = Some(first.map_or(at, |f: NaiveDateTime| f.min(at)));
                    last = Some(last.map_or(at, |l: NaiveDateTime| l.max(at)));
                }
                let channel =
                    ["taobao", "tmall", "wechat", "store", "other"][rng.below(5) as usize];
                // A salesperson on two orders of three and an outlet on store orders,
                // derived from the order number so the rest of the shop stays as seeded.
                let salesperson = match order_no % 3 {
                    0 => "NULL".to_owned(),
                    k => (first_agent + ((order_no / 3 + k) % options.agents as u64) as i64)
                        .to_string(),
                };
                let outlet = match channel {
                    "store" => ["'朝阳店'", "'海淀店'", "'浦东店'"][(order_no % 3) as usize],
                    _ => "NULL",
                };
                orders.push(format!(
                    "(1, {id}, '{channel}', 'B{order_no}', '{status}', {cents}, {}, {n}, {n}, {salesperson}, {outlet})",
                    ts(at),
                    n = ts(now)
                ));
            }
            order_total += count;
            let birthday = (rng.below(10) < 3).then(|| {
                let date = chrono::NaiveDate::from_ymd_opt(
                    1960 + rng.below(45) as i32,
                    1 + rng.below(12) as u32,
                    1 + rng.below(28) as u32,
                )
                .unwrap_or_default();
                (
                    format!("'{date}'"),
                    aftercare::customers::rules::birthday_mmdd(date).to_string(),
                )
            });
            let (birthday, mmdd) = birthday.unwrap_or(("NULL".into(), "NULL".into()));
            let source = if rng.below(4) == 0 {
                "in_store"
            } else {
                "online"
            };
            let (name, nickname) = person(&mut rng, id);
            let phone = format!("1{:010}", 3_000_000_000 + id);
            customers.push(format!(
                "({id}, 1, '{name}', '{key}', {birthday}, {mmdd}, '{source}', '', {kept}, {spent}, {}, {}, NULL, {c}, {c}, '{phone}')",
                opt(first),
                opt(last),
                key = aftercare::customers::rules::name_key(&name),
                c = ts(created)
            ));
            contacts.push(format!(
                "(1, {id}, 'phone', '{phone}', {}, '{}')",
                ts(created),
                aftercare::search::tail_key(&phone)
            ));
            if let Some(nickname) = nickname {
                contacts.push(format!(
                    "(1, {id}, 'shop_account', '{nickname}', {}, NULL)",
                    ts(created)
                ));
            }
            for tag in 1..=5 {
                if rng.below(10) < 2 {
                    tags.push(format!("({id}, {tag})"));
                }
            }
        }
        conn.transaction(|c| {
            insert_rows(c, "INSERT INTO customers (id, shop_id, name, name_key, birthday, birthday_mmdd, source, notes, order_count, total_spent_cents, first_order_at, last_order_at, last_contacted_at, created_at, updated_at, primary_phone)", &customers)?;
            insert_rows(c, "INSERT INTO customer_contacts (shop_id, customer_id, kind, value, created_at, tail_key)", &contacts)?;
            insert_rows(c, "INSERT INTO customer_tags (customer_id, tag_id)", &tags)?;
            insert_rows(c, "INSERT INTO orders (shop_id, customer_id, channel, external_order_no, status, total_cents, ordered_at, created_at, updated_at, salesperson_id, outlet)", &orders)
        })?;
    }
    if db.backend() == Backend::Postgres {
        // Explicit ids above: move the sequence past them.
        conn.batch_execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT MAX(id) FROM customers))")?;
    }

    let outcomes = [
        (
            "negative_review",
            [
                "review_revised",
                "review_withdrawn",
                "review_kept_customer_satisfied",
                "review_kept_unresolved",
            ],
            2,
        ),
        (
            "return",
            [
                "returned_refunded",
                "exchanged",
                "refund_only",
                "return_rejected",
            ],
            4,
        ),
        (
            "repair",
            ["repaired", "replaced", "refunded", "not_repairable"],
            8,
        ),
    ];
    for start in (0..options.tickets).step_by(batch) {
        let end = (start + batch).min(options.tickets);
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for index in start..end {
            let id = index as i64 + 1;
            let customer = 1 + rng.below(options.customers as u64) as i64;
            let (kind, kind_outcomes, hours) = outcomes[rng.below(3) as usize];
            let created = now - Duration::minutes(rng.below(365 * 24 * 60) as i64);
            let due = created + Duration::hours(hours);
            let state = match rng.below(100) {
                0..=59 => "resolved",
                60..=69 => "closed",
                70..=79 => "follow_up",
                80..=84 => "first_call",
                _ => "new",
            };
            let contacted = (state != "new")
                .then(|| created + Duration::minutes(5 + rng.below(12 * 60) as i64));
            let resolved = (state == "resolved")
                .then(|| created + Duration::minutes(60 + rng.below(10 * 24 * 60) as i64));
            let closed =
                (state == "closed").then(|| created + Duration::days(1 + rng.below(10) as i64));
            let outcome = resolved
                .map(|_| format!("'{}'", kind_outcomes[rng.below(4) as usize]))
                .unwrap_or("NULL".into());
            let refund = if outcome.contains("refund") {
                (1000 + rng.below(50_000)).to_string()
            } else {
                "NULL".into()
            };
            let close_reason = closed
                .map(|_| {
                    format!(
                        "'{}'",
                        ["unreachable", "refused", "duplicate", "invalid"][rng.below(4) as usize]
                    )
                })
                .unwrap_or("NULL".into());
            let score = (resolved.is_some() && rng.below(10) < 7)
                .then(|| [5, 5, 5, 4, 4, 4, 3, 2, 1][rng.below(9) as usize]);
            let next = matches!(state, "first_call" | "follow_up")
                .then(|| now + Duration::hours(rng.below(96) as i64 - 24));
            let due_at = match state {
                "new" => Some(due),
                "first_call" | "follow_up" => next,
                _ => None,
            };
            let assignee = if rng.below(10) == 0 {
                "NULL".into()
            } else {
                (first_agent + rng.below(options.agents as u64) as i64).to_string()
            };
            let assignee_id = assignee.parse::<i64>().ok();
            targets.extend(ticket_targets(
                &mut rng,
                TicketTimes {
                    id,
                    state,
                    created,
                    first_call_due: due,
                    contacted,
                    settled: resolved.or(closed),
                    next_follow_up: next,
                    assignee_id,
                    now,
                },
            ));
            rows.push(format!(
                "({id}, 1, {customer}, '{kind}', '{title}', '', '{{}}', '{state}', {priority}, {assignee}, {due}, {contacted}, {contacted}, {next}, {due_at}, {outcome}, {refund}, {close_reason}, {resolved}, {closed}, {score}, {score_at}, 1, {created}, {created})",
                title = TITLES[rng.below(TITLES.len() as u64) as usize],
                priority = 2 + rng.below(2),
                due = ts(due),
                contacted = opt(contacted),
                next = opt(next),
                due_at = opt(due_at),
                resolved = opt(resolved),
                closed = opt(closed),
                score = score.map_or("NULL".into(), |s| s.to_string()),
                score_at = opt(score.and(resolved)),
                created = ts(created),
            ));
        }
        conn.transaction(|c| {
            insert_rows(c, "INSERT INTO tickets (id, shop_id, customer_id, kind, title, description, details, state, priority, assignee_id, first_call_due_at, first_contact_at, last_contact_at, next_follow_up_at, due_at, outcome, refund_cents, close_reason, resolved_at, closed_at, satisfaction_score, satisfaction_at, version, created_at, updated_at)", &rows)?;
            insert_rows(c, "INSERT INTO ticket_targets (shop_id, ticket_id, target, clock, minutes, started_at, due_at, met_at, breached_at, escalated_at, dropped_at, counted_seconds, agent_id)", &targets)
        })?;
    }
    if db.backend() == Backend::Postgres {
        conn.batch_execute(
            "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT MAX(id) FROM tickets))",
        )?;
    }
    // The search index, as the application writes it (tail keys are seeded above).
    conn.transaction(aftercare::search::store::rebuild)?;
    // The per-buyer monthly sales, as order writes keep them (the orders went in raw).
    conn.transaction(aftercare::orders::store::rebuild_sales_months)?;
    // Fresh statistics, as a live database would have, so plans are realistic.
    conn.batch_execute("ANALYZE")?;
    Ok(Seeded {
        backend: db.backend(),
        customers: options.customers,
        orders: order_total,
        tickets: options.tickets,
        agents: options.agents,
        seconds: started.elapsed().as_secs_f64(),
    })
}
