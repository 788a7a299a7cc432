//! Search as staff ask (`q` on customers and tickets): phone tails, any part of a name or
//! nickname, order numbers, review ids, ticket words; leading matches first.

use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    customers_are_found_every_way_staff_ask,
    tickets_are_found_by_their_words_and_their_buyer,
    search_pages_rank_leading_matches_first_without_repeats,
    tickets_timelines_and_queues_carry_names,
    tickets_of_few_and_of_many_buyers_are_the_same_matches,
    a_buyers_changes_reach_their_tickets_search,
);

fn names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn buyer(app: &TestApp, token: &str, name: &str, contacts: Value) -> i64 {
    app.customer(
        token,
        json!({"name": name, "contacts": contacts, "source": "online"}),
    )
    .await
}

async fn customers_are_found_every_way_staff_ask(app: TestApp) {
    let (_, admin) = app.admin().await;
    let wang = buyer(&app, &admin, "王小姐", json!([{"kind": "phone", "value": "138 0013 8000"}, {"kind": "wechat", "value": "Wang_1990"}])).await;
    let li = buyer(&app, &admin, "李王芳", json!([{"kind": "phone", "value": "13912345678"}, {"kind": "shop_account", "value": "lina的小店"}])).await;
    let zhao = buyer(
        &app,
        &admin,
        "Zhao Lei",
        json!([{"kind": "phone", "value": "13700008000"}]),
    )
    .await;
    let search = |q: &str| format!("/api/v1/customers?q={}", urlencoding(q));
    let found = |body: &Value| {
        ids(body)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
    };

    // The last four digits of any phone (and more digits narrow it).
    let res = app.get(&search("8000"), &admin).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(found(&res.body), [wang, zhao].into());
    assert_eq!(
        ids(&app.get(&search("38000"), &admin).await.body),
        vec![wang]
    );
    assert_eq!(
        ids(&app.get(&search("８０００"), &admin).await.body).len(),
        2
    );
    // Any part of a name, Chinese included; a name's start ranks first.
    assert_eq!(
        ids(&app.get(&search("小姐"), &admin).await.body),
        vec![wang]
    );
    assert_eq!(
        names(&app.get(&search("王"), &admin).await.body),
        vec!["王小姐", "李王芳"]
    );
    assert_eq!(ids(&app.get(&search("lei"), &admin).await.body), vec![zhao]);
    // A shop nickname's middle, a WeChat ID in any case.
    assert_eq!(ids(&app.get(&search("的小"), &admin).await.body), vec![li]);
    assert_eq!(
        ids(&app.get(&search("wang_1990"), &admin).await.body),
        vec![wang]
    );
    // An order number, exactly.
    let path = format!("/api/v1/customers/{li}/orders");
    let order = json!({"channel": "taobao", "external_order_no": "TB5512", "items": [{"product_name": "Teapot", "quantity": 1, "unit_price_cents": 9900}], "ordered_at": "2026-11-20T10:00:00Z"});
    let res = app.post(&path, &admin, order).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(
        ids(&app.get(&search("TB5512"), &admin).await.body),
        vec![li]
    );
    // A review id, exactly.
    let review = json!({"kind": "negative_review", "customer_id": zhao, "title": "2-star review",
        "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口", "review_id": "R-77"}});
    assert_eq!(
        app.post("/api/v1/tickets", &admin, review).await.status,
        201
    );
    assert_eq!(
        ids(&app.get(&search("R-77"), &admin).await.body),
        vec![zhao]
    );
    // A renamed buyer is found by the new name only.
    let res = app
        .patch(
            &format!("/api/v1/customers/{wang}"),
            &admin,
            json!({"name": "陈女士"}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(ids(&app.get(&search("小姐"), &admin).await.body).is_empty());
    assert_eq!(
        ids(&app.get(&search("女士"), &admin).await.body),
        vec![wang]
    );
    // Nothing matches: an empty page; counts agree with the page.
    let res = app
        .get(&format!("{}&with_total=true", search("8000")), &admin)
        .await;
    assert_eq!(res.body["total"], 2, "{:?}", res.body);
    assert!(ids(&app.get(&search("不存在"), &admin).await.body).is_empty());
    // Relevance is the order of a search.
    let res = app
        .get(&format!("{}&sort=name", search("8000")), &admin)
        .await;
    assert_eq!(res.status, 422);
    assert_eq!(res.error_fields(), vec!["sort"]);
}

async fn tickets_are_found_by_their_words_and_their_buyer(app: TestApp) {
    let (_, admin) = app.admin().await;
    let wang = buyer(
        &app,
        &admin,
        "王小姐",
        json!([{"kind": "phone", "value": "13800138000"}]),
    )
    .await;
    let li = buyer(
        &app,
        &admin,
        "李娜",
        json!([{"kind": "phone", "value": "13912345678"}]),
    )
    .await;
    let open = |customer: i64, title: &str, text: &str| {
        json!({"kind": "negative_review", "customer_id": customer, "title": title,
            "details": {"platform": "taobao", "rating": 2, "review_text": text}})
    };
    let screen = app
        .post(
            "/api/v1/tickets",
            &admin,
            open(wang, "屏幕碎了", "快递太慢"),
        )
        .await;
    assert_eq!(screen.status, 201, "{:?}", screen.body);
    let screen = screen.body["id"].as_i64().unwrap();
    let lid = app
        .post(
            "/api/v1/tickets",
            &admin,
            open(li, "Lid is chipped", "盖子有缺口"),
        )
        .await;
    let lid = lid.body["id"].as_i64().unwrap();
    let search = |q: &str| format!("/api/v1/tickets?q={}", urlencoding(q));
    // Words of the title and of the review text.
    assert_eq!(
        ids(&app.get(&search("碎了"), &admin).await.body),
        vec![screen]
    );
    assert_eq!(ids(&app.get(&search("缺口"), &admin).await.body), vec![lid]);
    assert_eq!(
        ids(&app.get(&search("chipped"), &admin).await.body),
        vec![lid]
    );
    // The buyer: a phone tail, a part of the name.
    assert_eq!(ids(&app.get(&search("5678"), &admin).await.body), vec![lid]);
    assert_eq!(
        ids(&app.get(&search("小姐"), &admin).await.body),
        vec![screen]
    );
    // Other filters still hold.
    let res = app
        .get(&format!("{}&state=resolved", search("碎了")), &admin)
        .await;
    assert!(ids(&res.body).is_empty(), "{:?}", res.body);
    // An edit re-indexes the ticket.
    let res = app
        .patch(
            &format!("/api/v1/tickets/{lid}"),
            &admin,
            json!({"title": "包装破损"}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(ids(&app.get(&search("chipped"), &admin).await.body).is_empty());
    assert_eq!(ids(&app.get(&search("破损"), &admin).await.body), vec![lid]);
    let res = app
        .get(&format!("{}&with_total=true", search("破损")), &admin)
        .await;
    assert_eq!(res.error_fields(), vec!["with_total"]);
}

async fn search_pages_rank_leading_matches_first_without_repeats(app: TestApp) {
    let (_, admin) = app.admin().await;
    // Five whose name starts with 王, five with 王 inside; interleaved in time.
    let mut leading = Vec::new();
    let mut inside = Vec::new();
    for i in 0..5 {
        leading.push(
            buyer(
                &app,
                &admin,
                &format!("王{i}号"),
                json!([{"kind": "phone", "value": format!("1380000000{i}")}]),
            )
            .await,
        );
        inside.push(
            buyer(
                &app,
                &admin,
                &format!("李王{i}号"),
                json!([{"kind": "phone", "value": format!("1390000000{i}")}]),
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/customers?q=%E7%8E%8B&limit=3".to_owned();
    loop {
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        seen.extend(ids(&res.body));
        match res.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/customers?q=%E7%8E%8B&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    leading.reverse();
    inside.reverse();
    let expected: Vec<i64> = leading.into_iter().chain(inside).collect();
    assert_eq!(
        seen, expected,
        "leading matches first, newest first within each, no repeats"
    );
}

async fn tickets_timelines_and_queues_carry_names(app: TestApp) {
    use aftercare::auth::roles::Role;
    let (_, admin) = app.admin().await;
    let (agent_id, agent) = app.staff_token("ann@shop.example", Role::Agent).await;
    let wang = buyer(
        &app,
        &admin,
        "王小姐",
        json!([{"kind": "phone", "value": "13800138000"}]),
    )
    .await;
    let body = json!({"kind": "negative_review", "customer_id": wang, "title": "屏幕碎了", "assignee_id": agent_id,
        "details": {"platform": "taobao", "rating": 2, "review_text": "快递太慢"}});
    let res = app.post("/api/v1/tickets", &admin, body).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let expected_customer = json!({"id": wang, "name": "王小姐", "phone_masked": "138****8000", "tier": "small", "at_risk": false});
    assert_eq!(res.body["customer"], expected_customer);
    let agent_name = "agent ann@shop.example";
    assert_eq!(
        res.body["assignee"],
        json!({"id": agent_id, "name": agent_name})
    );
    let id = res.body["id"].as_i64().unwrap();
    // Lists, the queue and the ticket view carry the same names.
    let list = app.get("/api/v1/tickets", &agent).await;
    assert_eq!(list.body["items"][0]["customer"], expected_customer);
    assert_eq!(list.body["items"][0]["assignee"]["name"], agent_name);
    let one = app.get(&format!("/api/v1/tickets/{id}"), &agent).await;
    assert_eq!(one.body["customer"]["name"], "王小姐");
    // Overdue, so the queue holds it whatever the time of day.
    app.sql(&format!("UPDATE tickets SET first_call_due_at = '2026-01-01 00:00:00', due_at = '2026-01-01 00:00:00' WHERE id = {id}"));
    let queue = app.get("/api/v1/me/queue", &agent).await;
    assert_eq!(queue.status, 200, "{:?}", queue.body);
    let queued: Vec<&Value> = queue.body["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .chain(queue.body["due_today"].as_array().unwrap())
        .collect();
    assert_eq!(queued[0]["customer"]["phone_masked"], "138****8000");
    // Timelines name their actors, for agents too.
    let events = app
        .get(&format!("/api/v1/tickets/{id}/events"), &agent)
        .await;
    assert_eq!(events.status, 200, "{:?}", events.body);
    assert_eq!(
        events.body["items"][0]["actor_name"],
        "admin admin@shop.example"
    );
    // Agents may list their active colleagues (not /users, which is for admins).
    let staff = app.get("/api/v1/staff", &agent).await;
    assert_eq!(staff.status, 200, "{:?}", staff.body);
    let names: Vec<&str> = staff
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin admin@shop.example", agent_name]);
    assert_eq!(
        staff.body[1],
        json!({"id": agent_id, "name": agent_name, "role": "agent"})
    );
    assert_eq!(app.get("/api/v1/users", &agent).await.status, 403);
}

/// Percent-encodes a query value (UTF-8).
fn urlencoding(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The tickets of matching buyers are looked up when the buyers are few and walked when
/// they are many: both ways give the same tickets, newest first, paged alike.
async fn tickets_of_few_and_of_many_buyers_are_the_same_matches(app: TestApp) {
    use aftercare::search::matchers::{CustomerMatch, Matcher, TicketMatch};
    let (_, admin) = app.admin().await;
    let wang = buyer(
        &app,
        &admin,
        "王小姐",
        json!([{"kind": "phone", "value": "13800138000"}]),
    )
    .await;
    let li = buyer(
        &app,
        &admin,
        "李小姐",
        json!([{"kind": "phone", "value": "13912348000"}]),
    )
    .await;
    let fang = buyer(
        &app,
        &admin,
        "王芳",
        json!([{"kind": "phone", "value": "13700001111"}]),
    )
    .await;
    let mut opened = Vec::new();
    for customer in [wang, li, fang, li, wang, fang, wang] {
        let res = app
            .post(
                "/api/v1/tickets",
                &admin,
                json!({"kind": "repair", "customer_id": customer, "title": "坏了",
                    "details": {"fault": "leaks", "items": [{"product_name": "kettle", "quantity": 1}], "under_warranty": false}}),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        opened.push((res.body["id"].as_i64().unwrap(), customer));
    }
    let newest_first = |of: &[i64]| -> Vec<i64> {
        let mut ids: Vec<i64> = opened
            .iter()
            .filter(|(_, c)| of.contains(c))
            .map(|(id, _)| *id)
            .collect();
        ids.reverse();
        ids
    };
    let shop = aftercare::ids::ShopId(1);
    let mut conn = app.state.db.conn().expect("a connection");
    let ways = [
        (
            CustomerMatch::NameStart("^王".into()),
            newest_first(&[wang, fang]),
        ),
        (
            CustomerMatch::Grams(vec!["小姐".into()]),
            newest_first(&[wang, li]),
        ),
        (
            CustomerMatch::PhoneTail("0008".into()),
            newest_first(&[wang, li]),
        ),
        (
            CustomerMatch::HandlePrefix("137".into()),
            newest_first(&[fang]),
        ),
        (CustomerMatch::Grams(vec!["赵".into()]), vec![]),
    ];
    // The ticket gram forms of the same ways (the buyer's grams on each ticket) agree.
    let gram_ways = [
        (
            TicketMatch::Grams(vec!["^王".into()]),
            newest_first(&[wang, fang]),
        ),
        (
            TicketMatch::Grams(vec!["@小姐".into()]),
            newest_first(&[wang, li]),
        ),
        (
            TicketMatch::PhoneTail("0008".into()),
            newest_first(&[wang, li]),
        ),
        (
            TicketMatch::PhoneTail("00083100831".into()),
            newest_first(&[wang]),
        ),
        (
            TicketMatch::PhoneTail("00083".into()),
            newest_first(&[wang]),
        ),
        (TicketMatch::Grams(vec!["@赵".into()]), vec![]),
    ];
    for (way, expected) in gram_ways {
        let mut matcher = way.clone().of(shop);
        assert_eq!(
            matcher.walk(&mut conn, None, 50).unwrap(),
            expected,
            "{way:?}"
        );
        let all: Vec<i64> = opened.iter().map(|(id, _)| *id).collect();
        let held = matcher.holds(&mut conn, &all).unwrap();
        assert_eq!(held, expected.iter().copied().collect(), "{way:?}");
    }
    for (way, expected) in ways {
        // 0: always "many" (the dense walk); the default: "few" (looked up).
        for few in [0, 2_000] {
            let mut matcher = TicketMatch::OfCustomers(way.clone())
                .of(shop)
                .with_few_customers(few);
            assert_eq!(
                matcher.walk(&mut conn, None, 50).unwrap(),
                expected,
                "{way:?} few={few}"
            );
            // One at a time, each below the last.
            let mut paged = Vec::new();
            let mut after = None;
            while let Some(&id) = matcher.walk(&mut conn, after, 1).unwrap().first() {
                paged.push(id);
                after = Some(id);
            }
            assert_eq!(paged, expected, "{way:?} few={few}, paged");
            let all: Vec<i64> = opened.iter().map(|(id, _)| *id).collect();
            let mut held: Vec<i64> = matcher
                .holds(&mut conn, &all)
                .unwrap()
                .into_iter()
                .collect();
            held.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(held, expected, "{way:?} holds");
        }
    }
}

/// Tickets carry their buyer's grams (name, nickname, phone tails): a rename, new handles
/// and a merge re-index the buyer's tickets in the same transaction, and a tail longer
/// than the indexed seven digits is checked whole.
async fn a_buyers_changes_reach_their_tickets_search(app: TestApp) {
    let (_, admin) = app.admin().await;
    let wang = buyer(
        &app,
        &admin,
        "王小姐",
        json!([{"kind": "phone", "value": "13800138000"}]),
    )
    .await;
    let twin = buyer(
        &app,
        &admin,
        "赵先生",
        json!([{"kind": "phone", "value": "13900138000"}]),
    )
    .await;
    let mut ticket_of = std::collections::BTreeMap::new();
    for customer in [wang, twin] {
        let res = app
            .post(
                "/api/v1/tickets",
                &admin,
                json!({"kind": "repair", "customer_id": customer, "title": "坏了",
                    "details": {"fault": "leaks", "items": [{"product_name": "kettle", "quantity": 1}], "under_warranty": false}}),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        ticket_of.insert(customer, res.body["id"].as_i64().unwrap());
    }
    let (w, t) = (ticket_of[&wang], ticket_of[&twin]);
    let search = |q: &str| format!("/api/v1/tickets?q={}", urlencoding(q));
    let found = |body: &Value| {
        ids(body)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
    };
    // Seven digits are one gram; eight and more are checked whole.
    assert_eq!(
        found(&app.get(&search("0138000"), &admin).await.body),
        [w, t].into()
    );
    assert_eq!(
        found(&app.get(&search("800138000"), &admin).await.body),
        [w].into()
    );
    assert_eq!(
        found(&app.get(&search("13900138000"), &admin).await.body),
        [t].into()
    );
    assert_eq!(
        found(&app.get(&search("王小"), &admin).await.body),
        [w].into()
    );

    // A rename and new handles re-index the buyer's tickets.
    let res = app
        .patch(
            &format!("/api/v1/customers/{wang}"),
            &admin,
            json!({"name": "李女士", "contacts": [
                {"kind": "phone", "value": "13755556666"},
                {"kind": "shop_account", "value": "爱喝茶的猫"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(found(&app.get(&search("王小"), &admin).await.body).is_empty());
    assert_eq!(
        found(&app.get(&search("女士"), &admin).await.body),
        [w].into()
    );
    assert_eq!(
        ids(&app.get(&search("李"), &admin).await.body),
        vec![w],
        "name start"
    );
    assert_eq!(
        found(&app.get(&search("喝茶"), &admin).await.body),
        [w].into()
    );
    assert_eq!(
        found(&app.get(&search("6666"), &admin).await.body),
        [w].into()
    );
    assert_eq!(
        found(&app.get(&search("0138000"), &admin).await.body),
        [t].into()
    );

    // A merge moves the duplicate's tickets, and they are found by the survivor.
    let res = app
        .post(
            &format!("/api/v1/customers/{wang}/merge"),
            &admin,
            json!({"duplicate_id": twin}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        found(&app.get(&search("女士"), &admin).await.body),
        [w, t].into()
    );
    assert!(found(&app.get(&search("赵先"), &admin).await.body).is_empty());
}
