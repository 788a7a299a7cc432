//! The sales report: its figures against an independent computation over random orders
//! (refunds by tickets included), in every grouping, as JSON and as CSV; salesperson and
//! outlet on orders; who may read it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::test;
use aftercare::auth::roles::Role;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::integrations::api_key;
use crate::support::{TestApp, backend_tests};

backend_tests!(
    the_report_matches_an_independent_computation,
    kept_monthly_sales_follow_every_order_change,
    the_report_comes_as_csv_when_asked,
    sales_figures_are_for_leads_and_stats_keys,
    orders_carry_a_salesperson_and_an_outlet,
    the_order_import_names_salespeople_by_email_or_name,
);

/// A deterministic generator (the test must reproduce).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[derive(Debug, Clone)]
struct Item {
    sku: Option<String>,
    name: String,
    quantity: i64,
    unit: i64,
}

#[derive(Debug, Clone)]
struct ModelOrder {
    customer: i64,
    channel: String,
    status: String,
    total: i64,
    at: DateTime<Utc>,
    salesperson: Option<i64>,
    outlet: Option<String>,
    items: Vec<Item>,
    ticket_refunds: i64,
}

impl ModelOrder {
    fn counted(&self) -> bool {
        self.status == "paid" || self.status == "partially_refunded"
    }
    fn read(&self) -> bool {
        self.status != "cancelled"
    }
    fn refunded(&self) -> i64 {
        match self.status.as_str() {
            "refunded" => self.total,
            "partially_refunded" => self.ticket_refunds.min(self.total),
            _ => 0,
        }
    }
}

const OFFSET_HOURS: i64 = 8;

fn local(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    at.naive_utc() + Duration::hours(OFFSET_HOURS)
}

fn bucket(unit: &str, at: DateTime<Utc>) -> String {
    let l = local(at);
    match unit {
        "day" => l.format("%Y-%m-%d").to_string(),
        "week" => {
            use chrono::Datelike;
            let date = l.date();
            (date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
                .format("%Y-%m-%d")
                .to_string()
        }
        "month" => l.format("%Y-%m").to_string(),
        "year" => l.format("%Y").to_string(),
        _ => unreachable!(),
    }
}

struct Shop {
    lead: String,
    orders: Vec<ModelOrder>,
    tiers: BTreeMap<i64, String>,
    catalogue: BTreeMap<String, String>,
}

/// Random customers and orders over 2026-01 to 2026-07 (and one 2025 order per few
/// customers, so some buyers are not new), some refunded by return tickets.
async fn random_shop(app: &TestApp, seed: u64) -> Shop {
    let mut rng = Lcg(seed);
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let sellers = [
        app.create_staff("s1@shop.example", Role::Agent),
        app.create_staff("s2@shop.example", Role::Agent),
    ];
    let channels = ["taobao", "tmall", "store"];
    let statuses = [
        "paid",
        "paid",
        "paid",
        "refunded",
        "cancelled",
        "partially_refunded",
    ];
    let outlets = [None, Some("朝阳店"), Some("天猫旗舰店")];
    let products = [
        (Some("FC-30"), "Face cream"),
        (Some("TEA-1"), "Green tea"),
        (None, "Gift box"),
    ];
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let mut orders = Vec::new();
    let mut n = 0;
    for c in 0..9 {
        let customer = app
            .customer(
                &lead,
                json!({"name": format!("Buyer {c}"), "contacts": [{"kind": "phone", "value": format!("1380013{c:04}")}], "source": "online"}),
            )
            .await;
        let count = rng.below(6);
        for k in 0..count {
            n += 1;
            let at = if k == 0 && c % 3 == 0 {
                start - Duration::days(100 + rng.below(100) as i64)
            } else {
                start + Duration::minutes(rng.below(210 * 24 * 60) as i64)
            };
            let mut items = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let (sku, name) = products[rng.below(3) as usize];
                items.push(Item {
                    sku: sku.map(str::to_owned),
                    name: name.to_owned(),
                    quantity: 1 + rng.below(3) as i64,
                    unit: [0, 990, 12_345, 25_900][rng.below(4) as usize],
                });
            }
            let lines: i64 = items.iter().map(|i| i.quantity * i.unit).sum();
            // Some totals differ from the items (discounts, shipping).
            let total = if rng.below(3) == 0 {
                lines + 1_000
            } else {
                lines
            };
            let status = statuses[rng.below(statuses.len() as u64) as usize];
            let salesperson = [None, Some(sellers[0]), Some(sellers[1])][rng.below(3) as usize];
            let outlet = outlets[rng.below(3) as usize];
            let channel = channels[rng.below(3) as usize];
            let body = json!({
                "channel": channel, "external_order_no": format!("O-{n}"), "status": status,
                "items": items.iter().map(|i| json!({"product_name": i.name, "sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit})).collect::<Vec<_>>(),
                "total_cents": total, "ordered_at": at.to_rfc3339(),
                "salesperson_id": salesperson, "outlet": outlet,
            });
            let res = app
                .post(&format!("/api/v1/customers/{customer}/orders"), &lead, body)
                .await;
            assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
            let id = res.body["id"].as_i64().unwrap();
            let mut order = ModelOrder {
                customer,
                channel: channel.into(),
                status: status.into(),
                total,
                at,
                salesperson,
                outlet: outlet.map(str::to_owned),
                items,
                ticket_refunds: 0,
            };
            // A paid order sometimes gets part (or all) of its amount back by a return.
            if status == "paid" && total > 0 && rng.below(3) == 0 {
                let refund = if rng.below(2) == 0 {
                    total
                } else {
                    1 + rng.below(total as u64) as i64
                };
                app.refund_by_return(&lead, customer, id, refund).await;
                order.ticket_refunds = refund;
                let now = app.get(&format!("/api/v1/orders/{id}"), &lead).await;
                order.status = now.body["status"].as_str().unwrap().to_owned();
                assert_eq!(
                    order.status,
                    if refund == total {
                        "refunded"
                    } else {
                        "partially_refunded"
                    }
                );
            }
            orders.push(order);
        }
    }
    // Buyers at the edges of the months the second checked period (02-10..06-20) cuts:
    // bought before its start and again in the cut part of its first month (not new there),
    // first bought in that cut part, first bought in the cut part of its last month and again
    // after the period (new there), bought in 2025 and in the cut part (not new).
    let edges: [&[&str]; 4] = [
        &["2026-02-05T10:00:00+08:00", "2026-02-15T10:00:00+08:00"],
        &["2026-02-12T10:00:00+08:00", "2026-02-20T10:00:00+08:00"],
        &["2026-06-05T10:00:00+08:00", "2026-06-25T10:00:00+08:00"],
        &["2025-12-20T10:00:00+08:00", "2026-02-15T10:00:00+08:00"],
    ];
    for (c, dates) in edges.iter().enumerate() {
        let customer = app
            .customer(
                &lead,
                json!({"name": format!("Edge buyer {c}"), "contacts": [{"kind": "phone", "value": format!("1390013{c:04}")}], "source": "online"}),
            )
            .await;
        for at in dates.iter() {
            n += 1;
            let at = DateTime::parse_from_rfc3339(at).unwrap().to_utc();
            let item = Item {
                sku: Some("TEA-1".to_owned()),
                name: "Green tea".to_owned(),
                quantity: 1,
                unit: 990,
            };
            let body = json!({
                "channel": "taobao", "external_order_no": format!("O-{n}"), "status": "paid",
                "items": [{"product_name": item.name, "sku": item.sku, "quantity": 1, "unit_price_cents": item.unit}],
                "total_cents": item.unit, "ordered_at": at.to_rfc3339(),
            });
            let res = app
                .post(&format!("/api/v1/customers/{customer}/orders"), &lead, body)
                .await;
            assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
            orders.push(ModelOrder {
                customer,
                channel: "taobao".into(),
                status: "paid".into(),
                total: item.unit,
                at,
                salesperson: None,
                outlet: None,
                items: vec![item],
                ticket_refunds: 0,
            });
        }
    }
    let mut tiers = BTreeMap::new();
    let buyers: BTreeSet<i64> = orders.iter().map(|o| o.customer).collect();
    for customer in buyers {
        let c = app
            .get(&format!("/api/v1/customers/{customer}"), &lead)
            .await;
        tiers.insert(
            customer,
            c.body["standing"]["tier"].as_str().unwrap().to_owned(),
        );
    }
    // The catalogue gained the SKUs, named after the items; rename one.
    let list = app.get("/api/v1/products", &lead).await;
    let mut catalogue = BTreeMap::new();
    for p in list.body["items"].as_array().unwrap() {
        catalogue.insert(
            p["sku"].as_str().unwrap().to_owned(),
            p["name"].as_str().unwrap().to_owned(),
        );
    }
    Shop {
        lead,
        orders,
        tiers,
        catalogue,
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    orders: i64,
    buyers: i64,
    new_buyers: i64,
    repeat_buyers: i64,
    gross: f64,
    refunded: f64,
}

/// The figures worked out from the model, per group, independently of the SQL.
fn expected(
    shop: &Shop,
    group_by: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<String, Expected> {
    let first: BTreeMap<i64, DateTime<Utc>> =
        shop.orders
            .iter()
            .filter(|o| o.counted())
            .fold(BTreeMap::new(), |mut m, o| {
                let e = m.entry(o.customer).or_insert(o.at);
                *e = (*e).min(o.at);
                m
            });
    // (group, customer) -> (counted order ids, gross, refunded)
    let mut per: BTreeMap<(String, i64), (BTreeSet<usize>, f64, f64)> = BTreeMap::new();
    for (index, o) in shop.orders.iter().enumerate() {
        if !o.read() || o.at < from || o.at >= to {
            continue;
        }
        let shares: Vec<(String, f64)> = if group_by == "product" {
            let lines: i64 = o.items.iter().map(|i| i.quantity * i.unit).sum();
            o.items
                .iter()
                .map(|i| {
                    let w = if lines > 0 {
                        (i.quantity * i.unit) as f64 / lines as f64
                    } else {
                        1.0 / o.items.len() as f64
                    };
                    (i.sku.clone().unwrap_or_else(|| i.name.clone()), w)
                })
                .collect()
        } else {
            let g = match group_by {
                "none" => "all".to_owned(),
                "day" | "week" | "month" | "year" => bucket(group_by, o.at),
                "channel" => o.channel.clone(),
                "outlet" => o.outlet.clone().unwrap_or_default(),
                "salesperson" => o.salesperson.map(|s| s.to_string()).unwrap_or_default(),
                "tier" => shop.tiers[&o.customer].clone(),
                _ => unreachable!(),
            };
            vec![(g, 1.0)]
        };
        for (g, w) in shares {
            let e = per.entry((g, o.customer)).or_default();
            if o.counted() {
                e.0.insert(index);
            }
            e.1 += w * o.total as f64;
            e.2 += w * o.refunded() as f64;
        }
    }
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for ((g, customer), (counted, gross, refunded)) in per {
        let n = counted.len() as i64;
        let is_new = first.get(&customer).is_some_and(|f| {
            *f >= from
                && *f < to
                && match group_by {
                    "day" | "week" | "month" | "year" => bucket(group_by, *f) == g,
                    _ => true,
                }
        });
        let e = out.entry(g).or_default();
        e.orders += n;
        e.buyers += i64::from(n > 0);
        e.repeat_buyers += i64::from(n > 1);
        e.new_buyers += i64::from(n > 0 && is_new);
        e.gross += gross;
        e.refunded += refunded;
    }
    out
}

async fn the_report_matches_an_independent_computation(app: TestApp) {
    let shop = random_shop(&app, 18).await;
    assert!(shop.orders.len() > 15, "{} orders", shop.orders.len());
    // Whole months at +08:00 (by month: read from the kept monthly sales) and a period
    // cutting months (by month: its whole months kept, its two cut months from the orders;
    // every other grouping from the orders).
    for (from, to) in [("2026-02-01", "2026-06-30"), ("2026-02-10", "2026-06-20")] {
        check_every_grouping(&shop, &app, from, to).await;
    }
    // An empty period has no rows.
    let empty = app
        .get(
            "/api/v1/stats/sales?from=2020-01-01&to=2020-01-31&group_by=month",
            &shop.lead,
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["groups"], json!([]));
}

async fn check_every_grouping(shop: &Shop, app: &TestApp, from: &str, to: &str) {
    let start = DateTime::parse_from_rfc3339(&format!("{from}T00:00:00+08:00"))
        .unwrap()
        .to_utc();
    let end = DateTime::parse_from_rfc3339(&format!("{to}T00:00:00+08:00"))
        .unwrap()
        .to_utc()
        + Duration::days(1);
    for group_by in [
        "none",
        "day",
        "week",
        "month",
        "year",
        "channel",
        "outlet",
        "salesperson",
        "product",
        "tier",
    ] {
        let res = app
            .get(
                &format!("/api/v1/stats/sales?from={from}&to={to}&utc_offset=%2B08:00&group_by={group_by}"),
                &shop.lead,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{group_by}: {:?}", res.body);
        assert_eq!(res.body["group_by"], group_by);
        let want = expected(shop, group_by, start, end);
        let rows = res.body["groups"].as_array().unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r["group"].as_str().unwrap()).collect();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "{group_by}: rows come sorted by group");
        assert_eq!(
            got.iter().map(|g| g.to_string()).collect::<BTreeSet<_>>(),
            want.keys().cloned().collect::<BTreeSet<_>>(),
            "{group_by}: groups"
        );
        for row in rows {
            let g = row["group"].as_str().unwrap();
            let e = &want[g];
            let int = |k: &str| row[k].as_i64().unwrap();
            assert_eq!(
                (
                    int("orders"),
                    int("buyers"),
                    int("new_buyers"),
                    int("repeat_buyers")
                ),
                (e.orders, e.buyers, e.new_buyers, e.repeat_buyers),
                "{group_by} {g}: counts"
            );
            // Whole orders are exact; product shares are rounded to the cent once per row.
            let tolerance = if group_by == "product" { 1 } else { 0 };
            let (gross, refunded) = (e.gross.round() as i64, e.refunded.round() as i64);
            assert!(
                (int("gross_cents") - gross).abs() <= tolerance,
                "{group_by} {g}: gross {row} vs {gross}"
            );
            assert!(
                (int("refunded_cents") - refunded).abs() <= tolerance,
                "{group_by} {g}: refunded {row} vs {refunded}"
            );
            assert_eq!(
                int("revenue_cents"),
                int("gross_cents") - int("refunded_cents")
            );
            let share = row["repeat_buyer_share"].as_f64();
            assert_eq!(
                share,
                (e.buyers > 0).then(|| e.repeat_buyers as f64 / e.buyers as f64),
                "{group_by} {g}"
            );
            let average = row["average_order_value_cents"].as_i64();
            let revenue = int("revenue_cents");
            assert_eq!(
                average,
                (e.orders > 0).then(|| (revenue as f64 / e.orders as f64).round() as i64),
                "{group_by} {g}: average"
            );
            match group_by {
                "salesperson" if !g.is_empty() => {
                    assert!(
                        row["salesperson_name"]
                            .as_str()
                            .unwrap()
                            .contains("@shop.example")
                    )
                }
                "product" => {
                    let is_sku = shop.catalogue.contains_key(g);
                    assert_eq!(row["sku"].as_str(), is_sku.then_some(g));
                    let name = if is_sku {
                        shop.catalogue[g].as_str()
                    } else {
                        g
                    };
                    assert_eq!(row["product_name"], name);
                }
                _ => assert!(row["salesperson_name"].is_null() && row["sku"].is_null()),
            }
        }
    }
}

/// Every whole month of 2026 by month (from the kept monthly sales) against the same month
/// as one group (from the orders): the same figures, whatever happened to the orders.
async fn months_agree(app: &TestApp, lead: &str, step: &str) -> usize {
    let mut compared = 0;
    for month in 1..=12u32 {
        let from = NaiveDate::from_ymd_opt(2026, month, 1).unwrap();
        let to = from
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            .pred_opt()
            .unwrap();
        let path = |group_by: &str| {
            format!(
                "/api/v1/stats/sales?from={from}&to={to}&utc_offset=%2B08:00&group_by={group_by}"
            )
        };
        let kept = app.get(&path("month"), lead).await;
        let direct = app.get(&path("none"), lead).await;
        assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
        assert_eq!(direct.status, StatusCode::OK, "{:?}", direct.body);
        let strip = |body: &Value| -> Vec<Value> {
            body["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    let mut row = row.clone();
                    row.as_object_mut().unwrap().remove("group");
                    row
                })
                .collect()
        };
        assert_eq!(strip(&kept.body), strip(&direct.body), "{step}: {from}");
        if let Some(row) = kept.body["groups"].get(0) {
            assert_eq!(row["group"], from.format("%Y-%m").to_string());
            compared += 1;
        }
    }
    compared
}

async fn kept_monthly_sales_follow_every_order_change(app: TestApp) {
    let shop = random_shop(&app, 18).await;
    let lead = shop.lead.clone();
    let compared = months_agree(&app, &lead, "seeded").await;
    assert!(compared >= 5, "{compared} months with sales");
    let buyer = app
        .customer(
            &lead,
            json!({"name": "Mover", "contacts": [{"kind": "phone", "value": "13900139000"}], "source": "online"}),
        )
        .await;
    let order = |no: &str, at: &str, status: &str| {
        json!({"channel": "taobao", "external_order_no": no, "status": status,
               "items": [{"product_name": "Face cream", "quantity": 1, "unit_price_cents": 12_300}],
               "ordered_at": at})
    };
    let mut ids = Vec::new();
    // 2026-01-31 17:00 UTC is 1 February in China: counted in February.
    for (no, at) in [
        ("M-1", "2026-01-31T17:00:00Z"),
        ("M-2", "2026-03-05T10:00:00Z"),
        ("M-3", "2026-03-20T10:00:00Z"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/customers/{buyer}/orders"),
                &lead,
                order(no, at, "paid"),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        ids.push(res.body["id"].as_i64().unwrap());
    }
    months_agree(&app, &lead, "created").await;
    // Moved to another month, refunded, cancelled: each month follows.
    for (id, change) in [
        (ids[0], json!({"ordered_at": "2026-04-02T00:00:00Z"})),
        (ids[1], json!({"status": "refunded"})),
        (ids[2], json!({"status": "cancelled"})),
        (ids[1], json!({"total_cents": 99})),
    ] {
        let res = app
            .patch(&format!("/api/v1/orders/{id}"), &lead, change.clone())
            .await;
        assert_eq!(res.status, StatusCode::OK, "{change}: {:?}", res.body);
        months_agree(&app, &lead, &format!("after {change}")).await;
    }
    let res = app
        .delete(&format!("/api/v1/orders/{}", ids[0]), &lead)
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{:?}", res.body);
    months_agree(&app, &lead, "deleted").await;
    // A merge moves the duplicate's orders, and its first purchase, to the survivor.
    let duplicate = shop.orders[0].customer;
    let res = app
        .post(
            &format!("/api/v1/customers/{buyer}/merge"),
            &lead,
            json!({"duplicate_id": duplicate}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    months_agree(&app, &lead, "merged").await;
    // Rebuilding from the orders in bulk (as the benchmark's seed and the migration's
    // backfill do) gives the rows the order writes kept.
    let kept = sales_month_rows(&app);
    assert!(kept.len() >= 10, "{kept:?}");
    {
        let mut conn = app.state.db.conn().unwrap();
        aftercare::orders::store::rebuild_sales_months(&mut conn).unwrap();
    }
    assert_eq!(sales_month_rows(&app), kept);
}

type SalesMonthRow = (i64, NaiveDate, i64, i32, i64, i64, bool);

fn sales_month_rows(app: &TestApp) -> Vec<SalesMonthRow> {
    use aftercare::schema::customer_sales_months as m;
    use diesel::prelude::*;
    let mut conn = app.state.db.conn().unwrap();
    m::table
        .select((
            m::shop_id,
            m::month,
            m::customer_id,
            m::purchases,
            m::gross_cents,
            m::refunded_cents,
            m::first_purchase,
        ))
        .order((m::shop_id, m::month, m::customer_id))
        .load(&mut conn)
        .unwrap()
}

async fn the_report_comes_as_csv_when_asked(app: TestApp) {
    let shop = random_shop(&app, 7).await;
    let path = "/api/v1/stats/sales?from=2026-01-01&to=2026-12-31&group_by=month";
    let json_rows = app.get(path, &shop.lead).await.body["groups"].clone();
    let by_query = app.get(&format!("{path}&format=csv"), &shop.lead).await;
    let by_accept = app
        .send(
            test::TestRequest::get()
                .uri(path)
                .insert_header(("authorization", format!("Bearer {}", shop.lead)))
                .insert_header(("accept", "text/csv, application/json;q=0.5")),
        )
        .await;
    for res in [&by_query, &by_accept] {
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(
            res.header("content-disposition")
                .unwrap()
                .contains("sales-2026-01-01-2026-12-31.csv")
        );
        let text = std::str::from_utf8(&res.raw).unwrap();
        let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header[0], "group");
        assert_eq!(header[11], "revenue");
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), json_rows.as_array().unwrap().len());
        for (record, row) in records.iter().zip(json_rows.as_array().unwrap()) {
            assert_eq!(&record[0], row["group"].as_str().unwrap());
            assert_eq!(
                record[4].parse::<i64>().unwrap(),
                row["orders"].as_i64().unwrap()
            );
            let revenue = row["revenue_cents"].as_i64().unwrap();
            assert_eq!(
                &record[11],
                format!("{}.{:02}", revenue / 100, revenue % 100)
            );
        }
    }
    // JSON stays the default, and wins when the client prefers it.
    let prefers_json = app
        .send(
            test::TestRequest::get()
                .uri(path)
                .insert_header(("authorization", format!("Bearer {}", shop.lead)))
                .insert_header(("accept", "application/json, text/csv;q=0.5")),
        )
        .await;
    assert_eq!(prefers_json.body["groups"], json_rows);
    let bad = app.get(&format!("{path}&format=xlsx"), &shop.lead).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem_type(), "validation");
}

async fn sales_figures_are_for_leads_and_stats_keys(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let path = "/api/v1/stats/sales?group_by=channel";
    assert_eq!(app.get(path, &admin).await.status, StatusCode::OK);
    let refused = app.get(path, &agent).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.problem_type(), "forbidden");
    let (_, stats_key) = api_key(&app, &admin, &["stats:read"]).await;
    assert_eq!(app.get(path, &stats_key).await.status, StatusCode::OK);
    let (_, other_key) = api_key(&app, &admin, &["customers:read", "orders:write"]).await;
    assert_eq!(
        app.get(path, &other_key).await.status,
        StatusCode::FORBIDDEN
    );
    for bad in [
        "group_by=agent",
        "from=2026-02-01&to=2026-01-01",
        "utc_offset=8",
        "from=1960-01-01",
    ] {
        let res = app.get(&format!("/api/v1/stats/sales?{bad}"), &admin).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

async fn orders_carry_a_salesperson_and_an_outlet(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (seller, _) = app.staff_token("seller@shop.example", Role::Agent).await;
    let customer = app
        .customer(&lead, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let order = |no: &str, extra: Value| {
        let mut body = json!({"channel": "store", "external_order_no": no, "ordered_at": "2026-11-20T10:00:00+08:00",
            "items": [{"product_name": "Night cream", "sku": "NC-1", "quantity": 1, "unit_price_cents": 9900}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let path = format!("/api/v1/customers/{customer}/orders");
    let created = app
        .post(
            &path,
            &lead,
            order(
                "S-1",
                json!({"salesperson_id": seller, "outlet": "  朝阳店 "}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["salesperson_id"], seller);
    assert_eq!(created.body["outlet"], "朝阳店");
    let id = created.body["id"].as_i64().unwrap();
    // An unknown staff id, and outlets empty or too long, are refused by field.
    for (extra, field) in [
        (json!({"salesperson_id": 99999}), "salesperson_id"),
        (json!({"outlet": "   "}), "outlet"),
        (json!({"outlet": "店".repeat(101)}), "outlet"),
    ] {
        let res = app.post(&path, &lead, order("S-2", extra)).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            res.body
        );
        assert_eq!(res.error_fields(), [field]);
    }
    assert!(app.get(&format!("/api/v1/orders/{id}"), &lead).await.body["outlet"] == "朝阳店");
    // PATCH changes or clears them; absent fields stay.
    let changed = app
        .patch(
            &format!("/api/v1/orders/{id}"),
            &lead,
            json!({"outlet": "天猫旗舰店"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(
        (
            changed.body["outlet"].as_str(),
            changed.body["salesperson_id"].as_i64()
        ),
        (Some("天猫旗舰店"), Some(seller))
    );
    let cleared = app
        .patch(
            &format!("/api/v1/orders/{id}"),
            &lead,
            json!({"salesperson_id": null, "outlet": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert!(cleared.body["salesperson_id"].is_null() && cleared.body["outlet"].is_null());
    let wrong = app
        .patch(
            &format!("/api/v1/orders/{id}"),
            &lead,
            json!({"salesperson_id": 424242}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.error_fields(), ["salesperson_id"]);
    // The order feed takes them too.
    let feed = app
        .post(
            "/api/v1/feeds/orders",
            &lead,
            json!({"customer_contacts": [{"kind": "phone", "value": "13800138000"}],
                   "order": order("S-3", json!({"salesperson_id": seller, "outlet": "抖音小店"}))}),
        )
        .await;
    assert_eq!(feed.status, StatusCode::CREATED, "{:?}", feed.body);
    assert_eq!(feed.body["order"]["outlet"], "抖音小店");
    assert_eq!(feed.body["order"]["salesperson_id"], seller);
    // The report groups by them.
    let report = app
        .get(
            "/api/v1/stats/sales?from=2026-11-01&to=2026-11-30&group_by=outlet",
            &lead,
        )
        .await;
    let groups: Vec<&str> = report.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["", "抖音小店"]);
    let report = app
        .get(
            "/api/v1/stats/sales?from=2026-11-01&to=2026-11-30&group_by=salesperson",
            &lead,
        )
        .await;
    let row = &report.body["groups"][1];
    assert_eq!(row["group"], seller.to_string());
    assert_eq!(row["salesperson_name"], "agent seller@shop.example");
}

async fn the_order_import_names_salespeople_by_email_or_name(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let wang = app.create_staff("wang@shop.example", Role::Agent);
    app.create_staff("twin1@shop.example", Role::Agent);
    app.create_staff("twin2@shop.example", Role::Agent);
    // Two staff members share a display name.
    app.sql("UPDATE users SET display_name = '王静' WHERE email IN ('twin1@shop.example', 'twin2@shop.example')");
    app.sql("UPDATE users SET display_name = '王小明' WHERE email = 'wang@shop.example'");
    app.customer(&lead, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let csv = "channel,order_no,ordered_at,product,sku,unit_price,customer_phone,salesperson,outlet\n\
store,A-1,2026-11-20 10:00,Night cream,NC-1,99.00,13800138000,WANG@shop.example,朝阳店\n\
store,A-2,2026-11-20 11:00,Night cream,NC-1,99.00,13800138000,王小明,\n\
store,A-3,2026-11-20 12:00,Night cream,NC-1,99.00,13800138000,王静,\n\
store,A-4,2026-11-20 13:00,Night cream,NC-1,99.00,13800138000,nobody@shop.example,\n\
store,A-5,2026-11-20 14:00,Night cream,NC-1,99.00,13800138000,王小明,朝阳店\n\
store,A-5,2026-11-20 14:00,Day cream,DC-1,89.00,13800138000,王小明,海淀店\n";
    let res = app
        .post_csv("/api/v1/customers/import?file=orders", &lead, csv)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["created"], 2, "{:?}", res.body);
    let errors: BTreeMap<i64, String> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        [4, 5, 6, 7],
        "{errors:?}"
    );
    assert!(
        errors[&4].contains("several staff members are named 王静"),
        "{errors:?}"
    );
    assert!(errors[&5].contains("no staff member"), "{errors:?}");
    assert!(errors[&7].contains("outlet"), "{errors:?}");
    let report = app
        .get(
            "/api/v1/stats/sales?from=2026-11-20&to=2026-11-20&group_by=salesperson",
            &lead,
        )
        .await;
    assert_eq!(report.body["groups"][0]["group"], wang.to_string());
    assert_eq!(report.body["groups"][0]["orders"], 2);
    let outlets = app
        .get(
            "/api/v1/stats/sales?from=2026-11-20&to=2026-11-20&group_by=outlet",
            &lead,
        )
        .await;
    let groups: Vec<&str> = outlets.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["", "朝阳店"]);
    // The import added the SKU to the catalogue.
    let products = app.get("/api/v1/products", &lead).await;
    assert_eq!(products.body["items"][0]["sku"], "NC-1");
    assert_eq!(products.body["items"][0]["name"], "Night cream");
    assert!(products.body["items"][0]["usage_days"].is_null());
}

#[allow(dead_code)]
fn _day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}
