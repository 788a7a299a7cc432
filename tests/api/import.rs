//! CSV import (customers and orders) and export.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::json;

use crate::support::{TestApp, backend_tests};

backend_tests!(
    customer_import_is_idempotent_and_keeps_chinese_text,
    mixed_files_import_good_rows_and_report_bad_lines,
    atomic_import_leaves_nothing_behind,
    bad_files_are_refused_whole,
    order_import_groups_items_and_upserts,
    export_follows_the_filter_and_re_imports_unchanged,
);

const CUSTOMERS: &str = "\u{FEFF}name,phone,wechat,email,address,birthday,source,tags,notes\n\
李娜,138 0013 8000,LiNa_88,,北京市朝阳区,1990-05-17,online,key customer;北京,老客户\n\
张伟,+86 139-0013-9000,,zhang.wei@example.com,上海市,,in_store,,\n\
Wang Fang,13700137000,,,,,,interested in teapots,\"notes, with a comma\"\n";

const IMPORT: &str = "/api/v1/customers/import?file=customers";

async fn customer_import_is_idempotent_and_keeps_chinese_text(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let first = app.post_csv(IMPORT, &lead, CUSTOMERS).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["rows"], 3);
    assert_eq!(first.body["created"], 3);
    assert_eq!(first.body["failed"], 0);
    let list = app.get("/api/v1/customers?q=%E6%9D%8E", &lead).await; // 李
    let li = &list.body["items"][0];
    assert_eq!(li["name"], "李娜");
    assert_eq!(li["address"], "北京市朝阳区");
    assert_eq!(li["notes"], "老客户");
    assert_eq!(
        li["contacts"],
        json!([{"kind": "phone", "value": "13800138000"}, {"kind": "wechat", "value": "lina_88"}])
    );
    let tags: Vec<&str> = li["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["key customer", "北京"]);

    let again = app.post_csv(IMPORT, &lead, CUSTOMERS).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        (
            again.body["created"].as_i64(),
            again.body["updated"].as_i64(),
            again.body["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(3))
    );

    // A changed row updates the customer found by any of its handles, adding what is new.
    let changed = "name,phone,email,tags\n李娜,13800138000,lina@example.com,VIP\n";
    let res = app.post_csv(IMPORT, &lead, changed).await;
    assert_eq!(res.body["updated"], 1, "{:?}", res.body);
    let li = app
        .get(&format!("/api/v1/customers/{}", li["id"]), &lead)
        .await;
    assert_eq!(li.body["contacts"].as_array().unwrap().len(), 3);
    assert_eq!(li.body["tags"].as_array().unwrap().len(), 3);
    assert_eq!(
        li.body["address"], "北京市朝阳区",
        "columns absent from the file are kept"
    );
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        3
    );
}

async fn mixed_files_import_good_rows_and_report_bad_lines(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    app.customer(&lead, json!({"name": "Existing", "contacts": [{"kind": "phone", "value": "13600136000"}, {"kind": "wechat", "value": "exist"}], "source": "online"}))
        .await;
    app.customer(&lead, json!({"name": "Other", "contacts": [{"kind": "email", "value": "other@example.com"}], "source": "online"}))
        .await;
    let csv = "name,phone,wechat,email,birthday,source\n\
Good One,13800000001,,,,\n\
,13800000002,,,,\n\
Bad Phone,12,,,,\n\
Bad Date,13800000003,,,1990-13-40,\n\
No Handle,,,,,\n\
Two Owners,13600136000,,other@example.com,,\n\
Good Two,13800000004,,,1985-02-03,in_store\n";
    let res = app.post_csv(IMPORT, &lead, csv).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["rows"], 7);
    assert_eq!(res.body["created"], 2);
    assert_eq!(res.body["failed"], 5);
    let lines: Vec<i64> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
    let errors = res.body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["column"], "name");
    assert_eq!(errors[2]["column"], "birthday");
    assert!(
        errors[4]["message"]
            .as_str()
            .unwrap()
            .contains("different customers")
    );
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        4
    );
}

async fn atomic_import_leaves_nothing_behind(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    app.customer(&lead, json!({"name": "Existing", "contacts": [{"kind": "phone", "value": "13600136000"}], "source": "online"}))
        .await;
    app.customer(&lead, json!({"name": "Other", "contacts": [{"kind": "email", "value": "other@example.com"}], "source": "online"}))
        .await;
    // Row 3 is fine on its own; only the database can tell that its handles clash.
    let csv = "name,phone,email\nFresh,13800000001,\nClash,13600136000,other@example.com\n";
    let res = app
        .post_csv(&format!("{IMPORT}&atomic=true"), &lead, csv)
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        res.body
    );
    assert_eq!(res.problem_type(), "import-rejected");
    assert_eq!(res.body["report"]["failed"], 1);
    assert_eq!(res.body["report"]["errors"][0]["line"], 3);
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        2,
        "Fresh was rolled back"
    );
    assert!(
        app.get("/api/v1/tags", &lead).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let parse_error = "name,phone,tags\nFresh,13800000001,new tag\nBad,1,\n";
    let res = app
        .post_csv(&format!("{IMPORT}&atomic=true"), &lead, parse_error)
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        2
    );
    assert!(
        app.get("/api/v1/tags", &lead).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let good = "name,phone\nFresh,13800000001\n";
    let res = app
        .post_csv(&format!("{IMPORT}&atomic=true"), &lead, good)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["created"], 1);
}

async fn bad_files_are_refused_whole(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    assert_eq!(
        app.post_csv(IMPORT, &agent, CUSTOMERS).await.status,
        StatusCode::FORBIDDEN
    );
    let unknown = app
        .post_csv(IMPORT, &lead, "name,phone,colour\nA,13800000001,red\n")
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["column \"colour\""]);
    let latin1 = b"name,phone\nJos\xE9,13800000001\n".to_vec();
    let res = app.post_csv(IMPORT, &lead, latin1).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2")
    );
    let no_file_kind = app
        .post_csv("/api/v1/customers/import", &lead, CUSTOMERS)
        .await;
    assert_eq!(no_file_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_file_kind.error_fields(), ["file"]);
    let as_json = app.post(IMPORT, &lead, json!({"name": "A"})).await;
    assert_eq!(as_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let ragged = app
        .post_csv(IMPORT, &lead, "name,phone\nA,13800000001,extra\n")
        .await;
    assert_eq!(ragged.status, StatusCode::OK);
    assert_eq!(ragged.body["failed"], 1);
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        0
    );
}

async fn order_import_groups_items_and_upserts(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let id = app
        .customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}, {"kind": "wechat", "value": "lina88"}], "source": "online"}))
        .await;
    let orders = "channel,order_no,ordered_at,status,total,product,sku,quantity,unit_price,customer_phone,customer_wechat\n\
taobao,TB-1,2026-11-20 13:45,paid,,茶壶,TP-600,2,129.90,138 0013 8000,\n\
taobao,TB-1,2026-11-20 13:45,paid,,茶杯,,4,19.9,138 0013 8000,\n\
tmall,TM-9,2026-10-01,partially_refunded,88.00,Tea,,1,99,,lina88\n\
wechat,WX-1,2026-10-02,paid,,Tea,,1,10,13900000000,\n\
ebay,E-1,2026-10-02,paid,,Tea,,1,10,13800138000,\n";
    let url = "/api/v1/customers/import?file=orders";
    let res = app.post_csv(url, &lead, orders).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["rows"], 5);
    assert_eq!(res.body["created"], 2);
    let lines: Vec<i64> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [5, 6]);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("import customers first")
    );
    let list = app
        .get(&format!("/api/v1/customers/{id}/orders"), &lead)
        .await;
    let tb = &list.body["items"][0];
    assert_eq!(tb["external_order_no"], "TB-1");
    assert_eq!(tb["items"].as_array().unwrap().len(), 2);
    assert_eq!(tb["total_cents"], 2 * 12990 + 4 * 1990);
    assert_eq!(
        tb["ordered_at"], "2026-11-20T05:45:00Z",
        "local times are China Standard Time by default"
    );
    let summary = app
        .get(&format!("/api/v1/customers/{id}"), &lead)
        .await
        .body["orders"]
        .clone();
    assert_eq!(summary["count"], 2);
    assert_eq!(summary["total_spent_cents"], 2 * 12990 + 4 * 1990 + 8800);

    let again = app.post_csv(url, &lead, orders).await;
    assert_eq!(
        (
            again.body["created"].as_i64(),
            again.body["unchanged"].as_i64()
        ),
        (Some(0), Some(2))
    );
    let refunded = orders.replace(
        "tmall,TM-9,2026-10-01,partially_refunded",
        "tmall,TM-9,2026-10-01,refunded",
    );
    let res = app.post_csv(url, &lead, refunded).await;
    assert_eq!(res.body["updated"], 1);
    let summary = app
        .get(&format!("/api/v1/customers/{id}"), &lead)
        .await
        .body["orders"]
        .clone();
    assert_eq!(summary["count"], 1);
}

async fn export_follows_the_filter_and_re_imports_unchanged(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    assert_eq!(
        app.post_csv(IMPORT, &lead, CUSTOMERS).await.body["created"],
        3
    );
    let export = app
        .get(
            "/api/v1/customers/export?tags_any=%E5%8C%97%E4%BA%AC,interested%20in%20teapots",
            &lead,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        export.raw.starts_with(b"\xEF\xBB\xBF"),
        "a BOM for spreadsheet programs"
    );
    let text = String::from_utf8(export.raw.clone()).unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{FEFF}').lines().collect();
    assert_eq!(
        lines[0],
        "id,name,phone,wechat,shop_account,email,address,birthday,source,tags,notes,order_count,total_spent,last_order_at,created_at"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains("李娜") && lines[1].contains("13800138000"));
    assert!(lines[2].contains("\"notes, with a comma\""));
    let again = app.post_csv(IMPORT, &lead, export.raw).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["unchanged"], 2, "{:?}", again.body);
    assert_eq!(again.body["failed"], 0);
    let bad = app.get("/api/v1/customers/export?limit=9999", &lead).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
