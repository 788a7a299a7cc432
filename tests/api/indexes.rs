//! Every list filter is served by an index. The real list queries run with diesel's
//! instrumentation capturing their SQL; each statement is then explained:
//! - SQLite: `EXPLAIN QUERY PLAN` must not `SCAN` a large table without an index;
//! - PostgreSQL: the generic plan (`plan_cache_mode = force_generic_plan`) with sequential
//!   scans priced out (`enable_seqscan = off`) must hold no `Seq Scan` on a large table:
//!   if one is left, no index can serve that filter.
//!
//! Which index a planner picks for a non-selective filter (walk the sort order and test
//! rows, or range-scan the filter column) is its call, made from statistics; this test
//! checks that an index path exists for every filter, on a small seeded shop.
//!
//! Plans on a 1,000,000-row data set, with timings, are in BENCHMARKS.md.

use std::sync::{Arc, Mutex};

use aftercare::customers::CustomerSort;
use aftercare::customers::rules::{handle_search_key, name_key};
use aftercare::customers::store::{self as customer_store, CustomerFilter, RfmFilter};
use aftercare::db::{Backend, DbConnection};
use aftercare::search::Terms;
use aftercare::tickets::State;
use aftercare::tickets::store::{self as ticket_store, AssigneeFilter, TicketFilter, TicketSort};
use aftercare::tiers::{Segment, Stage, Tier};
use chrono::{Duration, Utc};
use diesel::connection::{Connection, InstrumentationEvent, SimpleConnection};
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};

use crate::support::{TestApp, backend_tests};
use aftercare::ids::ShopId;

/// Tables that grow with the shop; small ones (staff, tags, thresholds) may be scanned.
const LARGE_TABLES: &[&str] = &[
    "customers",
    "customer_contacts",
    "customer_tags",
    "orders",
    "order_items",
    "tickets",
    "ticket_contacts",
    "ticket_events",
    "tier_changes",
    "customer_search_grams",
    "ticket_search_grams",
    "notes",
    "ticket_targets",
    "ticket_waits",
    "customer_rfm",
    "rfm_segment_changes",
];

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// Runs `work` and returns the SQL of every statement it sent.
fn statements_of(conn: &mut DbConnection, work: impl FnOnce(&mut DbConnection)) -> Vec<String> {
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&captured);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let text = query.to_string();
            let sql = text.split(" -- binds:").next().unwrap_or_default();
            sink.lock().unwrap().push(sql.trim().to_owned());
        }
    });
    work(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    captured.lock().unwrap().clone()
}

/// The plan lines of `sql`, explained without bind values.
fn plan(conn: &mut DbConnection, backend: Backend, sql: &str) -> Vec<String> {
    match backend {
        Backend::Sqlite => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<SqlitePlanRow>(conn)
            .unwrap_or_else(|e| panic!("explain {sql}: {e}"))
            .into_iter()
            .map(|row| row.detail)
            .collect(),
        Backend::Postgres => {
            let parameters = (1..=100)
                .take_while(|n| sql.contains(&format!("${n}")))
                .count();
            conn.batch_execute(&format!("PREPARE list_plan AS {sql}"))
                .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
            let nulls = vec!["NULL"; parameters].join(", ");
            let execute = if parameters == 0 {
                "EXPLAIN EXECUTE list_plan".to_owned()
            } else {
                format!("EXPLAIN EXECUTE list_plan({nulls})")
            };
            let lines = diesel::sql_query(execute)
                .load::<PgPlanRow>(conn)
                .unwrap_or_else(|e| panic!("explain {sql}: {e}"));
            conn.batch_execute("DEALLOCATE list_plan").unwrap();
            lines.into_iter().map(|row| row.line).collect()
        }
    }
}

/// The large table a plan line scans without an index, if any. A walk of a table in id
/// order counts too, LIMIT or not: with a filter that matches few rows it reads the whole
/// table before it meets its LIMIT, and no list query needs one any more.
fn unindexed_scan(backend: Backend, line: &str) -> Option<String> {
    let line = line.trim();
    let table = match backend {
        // "SCAN customers" is a full scan; "SCAN customers USING INDEX ..." walks an index.
        Backend::Sqlite => line
            .strip_prefix("SCAN ")
            .filter(|rest| !rest.contains("USING"))
            .or_else(|| {
                // A sub-select that only narrows by shop reads the whole shop, index or not.
                line.strip_prefix("SEARCH ")
                    .filter(|rest| rest.ends_with("(shop_id=?)"))
                    .filter(|rest| {
                        let name = rest.split_whitespace().next().unwrap_or_default();
                        ALIASES.iter().any(|(alias, _)| *alias == name)
                    })
            })
            .map(|rest| rest.split_whitespace().next().unwrap_or_default()),
        Backend::Postgres => line
            .split("Seq Scan on ")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or_default()),
    }?;
    // Plans name aliased tables by their alias (the customer search's `named`).
    let alias = ALIASES.iter().find(|(alias, _)| *alias == table);
    let table = alias.map_or(table, |(_, real)| *real);
    LARGE_TABLES.contains(&table).then(|| table.to_owned())
}

/// Table aliases the list queries use, and the table each stands for.
const ALIASES: [(&str, &str); 1] = [("named", "customers")];

async fn every_list_filter_uses_an_index(app: TestApp) {
    // A small realistic shop with fresh statistics, so both planners choose as they would
    // in production rather than for empty tables.
    let options = crate::seed::BenchOptions {
        customers: 3_000,
        orders: 12_000,
        tickets: 6_000,
        agents: 8,
    };
    crate::seed::seed(&app.state.db, &options).expect("seed");
    // Scores and segments for the RFM filters to find.
    let settings = aftercare::tiers::TierSettings::default();
    aftercare::tiers::operations::recompute_all(&app.state.db, ShopId(1), &settings)
        .expect("recompute");
    let backend = app.state.db.backend();
    let mut conn = app.state.db.conn().expect("a connection");
    let conn: &mut DbConnection = &mut conn;
    if backend == Backend::Postgres {
        conn.batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
            .unwrap();
    }
    let now = Utc::now().naive_utc();
    let customers = |f: &dyn Fn(&mut CustomerFilter)| {
        let mut filter = CustomerFilter::of_shop(ShopId(1));
        f(&mut filter);
        filter
    };
    let customer_lists: Vec<(&str, CustomerFilter, CustomerSort)> = vec![
        ("newest", customers(&|_| {}), CustomerSort::Newest),
        ("oldest", customers(&|_| {}), CustomerSort::Oldest),
        ("by name", customers(&|_| {}), CustomerSort::Name),
        (
            "archived",
            customers(&|f| f.archived = true),
            CustomerSort::Newest,
        ),
        (
            "q, unranked (counts, exports)",
            customers(&|f| f.search = Some(Terms::new("王小", "王小".into(), "王小".into()))),
            CustomerSort::Newest,
        ),
        (
            "tags_all",
            customers(&|f| f.tags_all = vec!["a".into(), "b".into()]),
            CustomerSort::Newest,
        ),
        (
            "tags_any",
            customers(&|f| f.tags_any = vec!["a".into(), "b".into()]),
            CustomerSort::Newest,
        ),
        (
            "source",
            customers(&|f| f.source = Some(aftercare::customers::Source::Online)),
            CustomerSort::Newest,
        ),
        (
            "not contacted for N days",
            customers(&|f| f.contacted_before = Some(now - Duration::days(30))),
            CustomerSort::Newest,
        ),
        (
            "never contacted",
            customers(&|f| f.never_contacted = Some(true)),
            CustomerSort::Newest,
        ),
        (
            "no purchase for N days",
            customers(&|f| f.bought_before = Some(now - Duration::days(180))),
            CustomerSort::Newest,
        ),
        (
            "never purchased",
            customers(&|f| f.never_purchased = Some(true)),
            CustomerSort::Newest,
        ),
        (
            "birthday within N days",
            customers(&|f| f.birthday_ranges = vec![(1124, 1130)]),
            CustomerSort::Newest,
        ),
        (
            "tier",
            customers(&|f| f.tier = Some(Tier::Key)),
            CustomerSort::Newest,
        ),
        (
            "stage",
            customers(&|f| f.stage = Some(Stage::Dormant)),
            CustomerSort::Newest,
        ),
        (
            "at risk",
            customers(&|f| f.at_risk = Some(true)),
            CustomerSort::Newest,
        ),
        (
            "rfm segment",
            customers(&|f| {
                f.rfm = Some(RfmFilter {
                    segment: Some(Segment::Champions),
                    ..RfmFilter::ANY
                })
            }),
            CustomerSort::Newest,
        ),
        (
            "rfm score ranges",
            customers(&|f| {
                f.rfm = Some(RfmFilter {
                    recency: (4, 5),
                    frequency: (1, 2),
                    monetary: (3, 3),
                    ..RfmFilter::ANY
                })
            }),
            CustomerSort::Name,
        ),
        (
            "rfm: any scored buyer",
            customers(&|f| f.rfm = Some(RfmFilter::ANY)),
            CustomerSort::Oldest,
        ),
    ];
    let tickets = |f: &dyn Fn(&mut TicketFilter)| {
        let mut filter = TicketFilter::of_shop(ShopId(1));
        f(&mut filter);
        filter
    };
    let ticket_lists: Vec<(&str, TicketFilter, TicketSort)> = vec![
        ("all by due", tickets(&|_| {}), TicketSort::Due),
        ("all by priority", tickets(&|_| {}), TicketSort::Priority),
        ("all newest", tickets(&|_| {}), TicketSort::Newest),
        (
            "open by due",
            tickets(&|f| f.states = State::OPEN.to_vec()),
            TicketSort::Due,
        ),
        (
            "one state",
            tickets(&|f| f.states = vec![State::FollowUp]),
            TicketSort::Due,
        ),
        (
            "kind",
            tickets(&|f| f.kind = Some(aftercare::tickets::TicketKind::Repair)),
            TicketSort::Due,
        ),
        (
            "assignee",
            tickets(&|f| f.assignee = Some(AssigneeFilter::Staff(7))),
            TicketSort::Due,
        ),
        (
            "unassigned",
            tickets(&|f| f.assignee = Some(AssigneeFilter::Nobody)),
            TicketSort::Due,
        ),
        (
            "customer",
            tickets(&|f| f.customer_id = Some(42)),
            TicketSort::Newest,
        ),
        (
            "priority",
            tickets(&|f| f.priority = Some(aftercare::tickets::Priority::Urgent)),
            TicketSort::Priority,
        ),
        (
            "overdue first call",
            tickets(&|f| f.first_call_overdue_at = Some(now)),
            TicketSort::Due,
        ),
        (
            "follow-up due",
            tickets(&|f| f.follow_up_due_before = Some(now)),
            TicketSort::Due,
        ),
        (
            "about to breach",
            tickets(&|f| f.target_due_before = Some(now + Duration::minutes(30))),
            TicketSort::Due,
        ),
        (
            "escalated",
            tickets(&|f| f.escalated = true),
            TicketSort::Due,
        ),
        ("breached", tickets(&|f| f.breached = true), TicketSort::Due),
        (
            "unanswered survey",
            tickets(&|f| f.survey_unanswered = Some((now - Duration::hours(48), now))),
            TicketSort::Due,
        ),
        (
            "created between",
            tickets(&|f| {
                f.created_from = Some(now - Duration::days(7));
                f.created_to = Some(now);
            }),
            TicketSort::Newest,
        ),
    ];
    let mut statements: Vec<(String, String)> = Vec::new();
    for (label, filter, sort) in &customer_lists {
        for sql in statements_of(conn, |c| {
            let rows = customer_store::list(c, filter, *sort, None, 51).unwrap();
            customer_store::views(c, rows).unwrap();
        }) {
            statements.push((format!("customers: {label}"), sql));
        }
    }
    for (label, filter, sort) in &ticket_lists {
        for sql in statements_of(conn, |c| {
            ticket_store::list(c, filter, *sort, None, 51).unwrap();
        }) {
            statements.push((format!("tickets: {label}"), sql));
        }
    }
    // Searches as staff type them: a phone tail, a name's start, a character inside names,
    // a nickname's part, an order number, words of a ticket.
    for q in [
        "8000",
        "王",
        "小姐",
        "的店",
        "B1234",
        "屏幕碎了",
        "3000000123",
        "13800138000",
    ] {
        let terms = Terms::new(q, name_key(q), handle_search_key(q));
        let customer_filter = CustomerFilter {
            search: Some(terms.clone()),
            ..CustomerFilter::of_shop(ShopId(1))
        };
        for sql in statements_of(conn, |c| {
            customer_store::search(c, &customer_filter, None, 51).unwrap();
        }) {
            statements.push((format!("customers: search {q}"), sql));
        }
        let ticket_filter = TicketFilter {
            search: Some(terms),
            ..TicketFilter::of_shop(ShopId(1))
        };
        for sql in statements_of(conn, |c| {
            ticket_store::search(c, &ticket_filter, None, 51).unwrap();
        }) {
            statements.push((format!("tickets: search {q}"), sql));
        }
    }
    // The export's tag group columns: the shop's tags, each probed for a customer.
    for sql in statements_of(conn, |c| {
        aftercare::tags::store::groups_in_use(c, ShopId(1)).unwrap();
    }) {
        statements.push(("export: tag groups in use".into(), sql));
    }
    assert!(statements.len() >= customer_lists.len() + ticket_lists.len());
    let mut unindexed = Vec::new();
    for (label, sql) in &statements {
        let lines = plan(conn, backend, sql);
        for line in &lines {
            if let Some(table) = unindexed_scan(backend, line) {
                unindexed.push(format!(
                    "{label}: scans {table}\n  {sql}\n  {}",
                    lines.join("\n  ")
                ));
            }
        }
    }
    assert!(
        unindexed.is_empty(),
        "{} list queries are not served by an index:\n{}",
        unindexed.len(),
        unindexed.join("\n")
    );
}

backend_tests!(
    every_list_filter_uses_an_index,
    names_cost_the_same_few_queries_for_any_page,
);

/// Ticket views carry the buyer's and the assignee's names, timelines the actors': read
/// for the whole page at once, so a page of 50 costs what a page of 1 costs.
async fn names_cost_the_same_few_queries_for_any_page(app: TestApp) {
    let options = crate::seed::BenchOptions {
        customers: 200,
        orders: 400,
        tickets: 300,
        agents: 4,
    };
    crate::seed::seed(&app.state.db, &options).expect("seed");
    let mut conn = app.state.db.conn().expect("a connection");
    let conn: &mut DbConnection = &mut conn;
    let now = Utc::now().naive_utc();
    let filter = TicketFilter::of_shop(ShopId(1));
    let mut counts = Vec::new();
    for size in [1, 50] {
        let page = ticket_store::list(conn, &filter, TicketSort::Newest, None, size).unwrap();
        assert_eq!(page.len() as i64, size);
        let sent = statements_of(conn, |c| {
            let views = ticket_store::views(c, &page, now).unwrap();
            assert!(views.iter().all(|v| v.customer.is_some()));
        });
        counts.push(sent.len());
    }
    // One query for the buyers, one for the staff (none when nobody is assigned).
    assert!(counts[0] <= 2, "{counts:?}");
    assert_eq!(counts[1], 2, "{counts:?}");
}
