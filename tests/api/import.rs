//! CSV import (customers and orders) and export.

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use aftercare::auth::roles::Role;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    imports_respect_single_choice_tag_groups,
    customer_import_is_idempotent_and_keeps_chinese_text,
    mixed_files_import_good_rows_and_report_bad_lines,
    atomic_import_leaves_nothing_behind,
    bad_files_are_refused_whole,
    order_import_groups_items_and_upserts,
    export_follows_the_filter_and_re_imports_unchanged,
    exported_formulas_are_neutralised_and_re_import_unchanged,
    a_report_lists_the_first_hundred_errors_and_counts_every_bad_row,
    orders_whose_rows_are_split_up_are_refused_where_they_come_back,
    exports_are_for_leads_and_recorded_without_search_text,
    a_form_upload_imports_like_a_csv_body,
    an_export_imported_into_a_new_shop_exports_the_same_file,
    tags_on_file_keep_their_groups_and_differences_are_reported,
    gbk_files_with_chinese_headers_import_and_report_in_their_language,
    gb18030_keeps_characters_gbk_lacks_and_a_bom_means_utf8,
    text_in_no_encoding_is_refused_and_nothing_stored,
    chinese_order_files_read_every_date_form,
    exports_in_gbk_are_gb18030_and_import_back_unchanged,
);

/// `text` in GB18030 (GBK's bytes for every character GBK has), as Excel on Chinese
/// Windows saves a CSV file.
fn gb18030(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn columns_and_lines(report: &Value) -> Vec<(i64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["column"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

const CHINESE_CUSTOMERS: &str = "姓名,手机,微信,旺旺,地址,生日,来源,标签,标签.地区,备注\n\
李娜,138 0013 8000,lina88,lina的小店,北京市朝阳区,1990/5/17,线上,老客户,北京,喜欢下午联系\n\
张伟,13900139000,,,上海市,1985年2月3日,门店,,上海,\n\
王芳,13700137000,,,,32980,到店,,,\n\
赵敏,12,,,,1990/2/30,网吧,,,\n\
陈晨,,,,,05/06/1990,,,,\n";

/// A GBK file headed in Chinese, as a shop keeps its customers in Excel: read without being
/// told its encoding (and when told), its dates and Chinese codes understood, its bad rows
/// reported under the file's own headers; sent as a form upload it imports the same.
async fn gbk_files_with_chinese_headers_import_and_report_in_their_language(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let file = gb18030(CHINESE_CUSTOMERS);
    assert!(std::str::from_utf8(&file).is_err(), "GBK, not UTF-8");
    let res = app.post_csv(IMPORT, &lead, file.clone()).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["encoding"], "gb18030", "found, not told");
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(3), Some(2)),
        "{:?}",
        res.body
    );
    assert_eq!(
        columns_and_lines(&res.body),
        [
            (5, "生日".to_owned()),
            (5, "来源".to_owned()),
            (5, "手机".to_owned()),
            (6, "-".to_owned()),
            (6, "生日".to_owned()),
        ],
        "{:?}",
        res.body
    );
    let messages: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("not in the calendar"), "{messages:?}");
    assert!(
        messages[3].contains("手机, 微信, 旺旺, 邮箱"),
        "{messages:?}"
    );
    assert!(messages[4].contains("ambiguous"), "{messages:?}");

    let li = app.get("/api/v1/customers?q=13800138000", &lead).await.body["items"][0].clone();
    assert_eq!(li["name"], "李娜");
    assert_eq!(li["address"], "北京市朝阳区");
    assert_eq!(li["notes"], "喜欢下午联系");
    assert_eq!(li["birthday"], "1990-05-17");
    assert_eq!(li["source"], "online");
    let mut contacts: Vec<String> = li["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["kind"].as_str().unwrap(),
                c["value"].as_str().unwrap()
            )
        })
        .collect();
    contacts.sort();
    assert_eq!(
        contacts,
        [
            "phone=13800138000",
            "shop_account=lina的小店",
            "wechat=lina88"
        ]
    );
    let mut tags: Vec<(&str, &Value)> = li["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), &t["group"]))
        .collect();
    tags.sort_by_key(|(name, _)| *name);
    assert_eq!(tags, [("北京", &json!("地区")), ("老客户", &Value::Null)]);
    let birthday_and_source = |q: &'static str| {
        let app = &app;
        let lead = &lead;
        async move {
            let c = app
                .get(&format!("/api/v1/customers?q={q}"), lead)
                .await
                .body["items"][0]
                .clone();
            (c["birthday"].clone(), c["source"].clone())
        }
    };
    assert_eq!(
        birthday_and_source("13900139000").await,
        (json!("1985-02-03"), json!("in_store"))
    );
    assert_eq!(
        birthday_and_source("13700137000").await,
        (json!("1990-04-17"), json!("in_store")),
        "an Excel date number"
    );

    // Told its encoding, or sent as a form, the same file changes nothing.
    let told = app
        .post_csv(&format!("{IMPORT}&encoding=gbk"), &lead, file.clone())
        .await;
    assert_eq!(told.body["encoding"], "gbk");
    assert_eq!(
        (
            told.body["unchanged"].as_i64(),
            told.body["failed"].as_i64()
        ),
        (Some(3), Some(2)),
        "{:?}",
        told.body
    );
    let form = post_form(&app, &lead, &[("file", "customers.csv", &file)]).await;
    assert_eq!(form.status, StatusCode::OK, "{:?}", form.body);
    assert_eq!(form.body["unchanged"], 3, "{:?}", form.body);
    assert_eq!(form.body["encoding"], "gb18030");

    // A header naming one column twice, in two languages, refuses the file.
    for (header, field, other) in [
        ("姓名,name,手机\n", "column \"name\"", "姓名"),
        ("姓名,手机,昵称\n", "column \"昵称\"", "姓名"),
        ("name,phone,手机号\n", "column \"手机号\"", "phone"),
    ] {
        let res = app.post_csv(IMPORT, &lead, gb18030(header)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{header}");
        assert_eq!(res.error_fields(), [field], "{:?}", res.body);
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{other:?}")), "{message}");
    }
    let unknown = app
        .post_csv(IMPORT, &lead, gb18030("姓名,手机,颜色\n"))
        .await;
    assert_eq!(unknown.error_fields(), ["column \"颜色\""]);
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        3
    );
}

/// GB18030 holds what GBK lacks (𠮷, emoji); a file starting with the UTF-8 byte-order
/// mark is UTF-8 whatever the caller says.
async fn gb18030_keeps_characters_gbk_lacks_and_a_bom_means_utf8(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let text = "姓名,手机,备注\n𠮷田,13800000001,好评😀\n";
    assert!(encoding_rs::GBK.encode(text).2, "GBK cannot hold it");
    for url in [IMPORT.to_owned(), format!("{IMPORT}&encoding=gb18030")] {
        let res = app.post_csv(&url, &lead, gb18030(text)).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["encoding"], "gb18030");
        assert_eq!(res.body["failed"], 0, "{:?}", res.body);
    }
    let c = app.get("/api/v1/customers?q=13800000001", &lead).await.body["items"][0].clone();
    assert_eq!(
        (c["name"].as_str(), c["notes"].as_str()),
        (Some("𠮷田"), Some("好评😀"))
    );

    let bom = "\u{FEFF}姓名,手机\n李娜,13800000002\n";
    let res = app
        .post_csv(&format!("{IMPORT}&encoding=gbk"), &lead, bom)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["encoding"], "utf-8");
    assert_eq!(res.body["created"], 1, "{:?}", res.body);
    let c = app.get("/api/v1/customers?q=13800000002", &lead).await.body["items"][0].clone();
    assert_eq!(c["name"], "李娜");
    let wrong = app
        .post_csv(&format!("{IMPORT}&encoding=latin1"), &lead, "name,phone\n")
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.error_fields(), ["encoding"]);
}

/// A file that is not text in its encoding is refused whole, naming the line: never
/// imported as mojibake.
async fn text_in_no_encoding_is_refused_and_nothing_stored(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let gbk = gb18030("姓名,手机\nA,13800000001\n李娜,13800000002\n");
    let message = |res: &crate::support::Response| {
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            res.body
        );
        assert_eq!(res.error_fields(), ["body"]);
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // GBK sent as UTF-8: refused at its first Chinese line.
    let as_utf8 = app
        .post_csv(&format!("{IMPORT}&encoding=utf-8"), &lead, gbk.clone())
        .await;
    let said = message(&as_utf8);
    assert!(said.contains("not UTF-8 text (line 1)"), "{said}");
    // UTF-8 Chinese sent as GBK would be read as other characters (its three-byte
    // sequences make GBK pairs): refused.
    let utf8 = "姓名,手机\nA,13800000001\n李娜,13800000002\n";
    let as_gbk = app
        .post_csv(&format!("{IMPORT}&encoding=gbk"), &lead, utf8)
        .await;
    assert_eq!(as_gbk.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(as_gbk.error_fields(), ["encoding"], "{:?}", as_gbk.body);
    // GB18030 that breaks off: bytes that are no text in it, named by line.
    let mut broken = gbk.clone();
    broken.extend_from_slice(b"\xC0,13800000003\n");
    let said = message(
        &app.post_csv(&format!("{IMPORT}&encoding=gb18030"), &lead, broken)
            .await,
    );
    assert!(said.contains("not GBK/GB18030 text (line 4)"), "{said}");
    // Neither UTF-8 nor GB18030 (0xFF starts nothing in either), found on line 3.
    let mut neither = b"name,phone\nA,13800000001\nB".to_vec();
    neither.extend_from_slice(b"\xFF,13800000002\n");
    let said = message(&app.post_csv(IMPORT, &lead, neither).await);
    assert!(
        said.contains("neither UTF-8 nor GBK/GB18030 text (line 3)"),
        "{said}"
    );
    assert_eq!(
        app.get("/api/v1/customers?with_total=true", &lead)
            .await
            .body["total"],
        0
    );
}

/// An order file as a shop's back office exports it: Chinese headers and codes, times in
/// every form staff type, errors under the file's headers, a missing column named in them.
async fn chinese_order_files_read_every_date_form(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    app.customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let file = "订单号,渠道,下单时间,状态,金额(元),商品,商家编码,数量,单价,手机\n\
T1,淘宝,2026/3/5 14:30,已付款,,茶壶,TP-600,1,129.90,13800138000\n\
T2,天猫,2026-03-05 14:30:00,已付款,,茶杯,,2,10,13800138000\n\
T3,京东,2026年3月5日 14:30,部分退款,5.00,茶叶,,1,10,13800138000\n\
T4,微信,46086.6041666667,已付款,,茶叶,,1,10,13800138000\n\
T5,门店,2026.3.5 14:30,已付款,,茶叶,,1,10,13800138000\n\
T6,淘宝,2026/2/30 14:30,已付款,,茶叶,,1,10,13800138000\n\
T7,亚马逊,5/3/2026 14:30,发货中,,茶叶,,1,10,13800138000\n";
    let url = "/api/v1/customers/import?file=orders";
    let res = app.post_csv(url, &lead, gb18030(file)).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(5), Some(2)),
        "{:?}",
        res.body
    );
    assert_eq!(
        columns_and_lines(&res.body),
        [
            (7, "下单时间".to_owned()),
            (8, "渠道".to_owned()),
            (8, "状态".to_owned()),
            (8, "下单时间".to_owned()),
        ],
        "{:?}",
        res.body
    );
    let id = app.get("/api/v1/customers?q=13800138000", &lead).await.body["items"][0]["id"].clone();
    let orders = app
        .get(&format!("/api/v1/customers/{id}/orders"), &lead)
        .await
        .body["items"]
        .clone();
    let seen: Vec<(&str, &str, &str)> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["external_order_no"].as_str().unwrap(),
                o["channel"].as_str().unwrap(),
                o["ordered_at"].as_str().unwrap(),
            )
        })
        .collect();
    let mut seen = seen;
    seen.sort();
    assert_eq!(
        seen,
        [
            ("T1", "taobao", "2026-03-05T06:30:00Z"),
            ("T2", "tmall", "2026-03-05T06:30:00Z"),
            ("T3", "jd", "2026-03-05T06:30:00Z"),
            ("T4", "wechat", "2026-03-05T06:30:00Z"),
            ("T5", "store", "2026-03-05T06:30:00Z"),
        ]
    );
    let t3 = orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["external_order_no"] == "T3")
        .unwrap();
    assert_eq!(
        (t3["status"].as_str(), t3["total_cents"].as_i64()),
        (Some("partially_refunded"), Some(500))
    );
    // A column the file lacks is named in its header's language.
    let no_time = app
        .post_csv(
            url,
            &lead,
            "订单号,渠道,商品,单价,手机\nT9,淘宝,茶,1,13800138000\n",
        )
        .await;
    assert_eq!(no_time.status, StatusCode::OK, "{:?}", no_time.body);
    assert_eq!(
        columns_and_lines(&no_time.body),
        [(2, "下单时间".to_owned())]
    );
    let english = app
        .post_csv(
            url,
            &lead,
            "order_no,channel,product,unit_price,customer_phone\nT9,tmall,Tea,1,13800138000\n",
        )
        .await;
    assert_eq!(
        columns_and_lines(&english.body),
        [(2, "ordered_at".to_owned())]
    );
}

/// The export in GBK for Excel: GB18030 (GBK's bytes, and the four-byte form for what GBK
/// lacks), said in the Content-Type, read back by the import unchanged.
async fn exports_in_gbk_are_gb18030_and_import_back_unchanged(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    assert_eq!(
        app.post_csv(IMPORT, &lead, CUSTOMERS).await.body["created"],
        3
    );
    app.customer(
        &lead,
        json!({"name": "𠮷田😀", "contacts": [{"kind": "phone", "value": "13600136000"}],
                                "source": "online", "birthday": "1990-04-17"}),
    )
    .await;
    let utf8 = app.get("/api/v1/customers/export", &lead).await;
    for encoding in ["gbk", "gb18030"] {
        let export = app
            .get(
                &format!("/api/v1/customers/export?encoding={encoding}&source=online"),
                &lead,
            )
            .await;
        assert_eq!(export.status, StatusCode::OK, "{:?}", export.body);
        assert_eq!(
            export.header("content-type"),
            Some("text/csv; charset=GB18030")
        );
        assert!(!export.raw.starts_with(b"\xEF\xBB\xBF"), "no UTF-8 mark");
        assert!(std::str::from_utf8(&export.raw).is_err(), "not UTF-8");
        // 李 as GBK writes it.
        assert!(export.raw.windows(2).any(|w| w == b"\xC0\xEE"));
        let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(&export.raw);
        assert!(!had_errors);
        let online: Vec<Vec<String>> = exported_cells(&utf8.raw)
            .into_iter()
            .filter(|row| row[8] == "source" || row[8] == "online")
            .collect();
        assert_eq!(exported_cells(text.as_bytes()), online);
        let again = app.post_csv(IMPORT, &lead, export.raw.clone()).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
        assert_eq!(again.body["encoding"], "gb18030");
        assert_eq!(
            (
                again.body["unchanged"].as_i64(),
                again.body["failed"].as_i64()
            ),
            (Some(3), Some(0)),
            "{:?}",
            again.body
        );
    }
    let bad = app
        .get("/api/v1/customers/export?encoding=big5", &lead)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["encoding"]);
    let unknown = app.get("/api/v1/customers/export?colour=red", &lead).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A multipart/form-data body with the given parts (name, file name, bytes).
fn form(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----aftercare-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(
    app: &TestApp,
    token: &str,
    parts: &[(&str, &str, &[u8])],
) -> crate::support::Response {
    let (content_type, body) = form(parts);
    app.send(
        actix_web::test::TestRequest::post()
            .uri(IMPORT)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", content_type))
            .set_payload(body),
    )
    .await
}

/// Generated clients send files as forms: the part named `file` is imported exactly as the
/// same file sent as text/csv would be; anything else in the form is named in a 422.
async fn a_form_upload_imports_like_a_csv_body(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let first = post_form(
        &app,
        &lead,
        &[("file", "customers.csv", CUSTOMERS.as_bytes())],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["rows"], 3);
    assert_eq!(first.body["created"], 3);
    let again = app.post_csv(IMPORT, &lead, CUSTOMERS).await;
    assert_eq!(again.body["unchanged"], 3, "{:?}", again.body);
    let listed = app
        .get("/api/v1/customers?q=%E6%9D%8E%E5%A8%9C", &lead)
        .await;
    assert_eq!(listed.body["items"][0]["name"], "李娜", "{:?}", listed.body);

    let missing = post_form(&app, &lead, &[]).await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        missing.body
    );
    assert_eq!(missing.error_fields(), ["file"]);
    let extra = post_form(
        &app,
        &lead,
        &[
            ("file", "a.csv", CUSTOMERS.as_bytes()),
            ("notes", "b.txt", b"x"),
        ],
    )
    .await;
    assert_eq!(
        extra.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        extra.body
    );
    assert_eq!(extra.error_fields(), ["notes"]);
    let other = app
        .send(
            actix_web::test::TestRequest::post()
                .uri(IMPORT)
                .insert_header(("authorization", format!("Bearer {lead}")))
                .insert_header(("content-type", "application/json"))
                .set_payload("{}"),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

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
        "id,name,phone,wechat,shop_account,email,address,birthday,source,tags,notes,order_count,total_spent,last_order_at,created_at,tier,stage,at_risk"
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

/// The export as rows of cells (header first), without the byte-order mark.
fn exported_cells(raw: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(raw)
        .unwrap()
        .trim_start_matches('\u{FEFF}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn exported_formulas_are_neutralised_and_re_import_unchanged(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    // The review feed needs only a tickets:write key to name a new customer.
    let key = app
        .post(
            "/api/v1/api-keys",
            &admin,
            json!({"name": "Review monitor", "scopes": ["tickets:write"]}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let hyperlink = r#"=HYPERLINK("http://x","y")"#;
    let review = app
        .send(
            TestRequest::post()
                .uri("/api/v1/feeds/reviews")
                .insert_header(("x-api-key", key))
                .set_json(
                    json!({"platform": "taobao", "review_id": "R-1", "rating": 1,
                    "customer_contacts": [{"kind": "shop_account", "value": "@lina的小店"}],
                    "customer_name": hyperlink}),
                ),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{:?}", review.body);
    let dde = "+1+cmd|' /C calc'!A0";
    let second = app
        .customer(
            &lead,
            json!({"name": dde, "source": "online", "notes": "-2+3",
            "contacts": [{"kind": "phone", "value": "+852 9123 4567"}],
            "tags": ["@SUM(A1:A9)"]}),
        )
        .await;
    let third = app
        .customer(
            &lead,
            json!({"name": "王芳", "source": "online", "notes": "-5",
            "address": "=1+1",
            "contacts": [{"kind": "phone", "value": "+8613800138000"}]}),
        )
        .await;
    let before: Vec<Value> = {
        let list = app.get("/api/v1/customers?sort=oldest", &lead).await;
        list.body["items"].as_array().unwrap().clone()
    };
    assert_eq!(before.len(), 3);

    let export = app.get("/api/v1/customers/export", &lead).await;
    assert_eq!(export.status, StatusCode::OK);
    let cells = exported_cells(&export.raw);
    let triggers = ['=', '+', '-', '@', '\t', '\r'];
    for row in &cells {
        for cell in row {
            assert!(
                !cell.starts_with(triggers),
                "{cell:?} would run as a formula"
            );
        }
    }
    let column = |name: &str| cells[0].iter().position(|c| c == name).unwrap();
    assert_eq!(cells[1][column("name")], format!("'{hyperlink}"));
    assert_eq!(cells[1][column("shop_account")], "'@lina的小店");
    assert_eq!(cells[2][column("name")], format!("'{dde}"));
    assert_eq!(cells[2][column("phone")], "'+85291234567");
    assert_eq!(cells[2][column("notes")], "'-2+3");
    assert_eq!(cells[2][column("tags")], "'@SUM(A1:A9)");
    assert_eq!(cells[3][column("phone")], "13800138000");
    assert_eq!(cells[3][column("notes")], "'-5");
    assert_eq!(cells[3][column("address")], "'=1+1");

    // Imported back over the same customers (update mode): nothing changes.
    let again = app.post_csv(IMPORT, &lead, export.raw.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(
        (
            again.body["unchanged"].as_i64(),
            again.body["failed"].as_i64()
        ),
        (Some(3), Some(0)),
        "{:?}",
        again.body
    );
    let after = app.get("/api/v1/customers?sort=oldest", &lead).await;
    for (old, new) in before.iter().zip(after.body["items"].as_array().unwrap()) {
        for field in ["name", "notes", "address", "contacts", "tags", "updated_at"] {
            assert_eq!(old[field], new[field], "{field} of customer {}", old["id"]);
        }
    }
    assert_eq!(after.body["items"][1]["id"], second);
    assert_eq!(after.body["items"][2]["notes"], "-5");
    assert_eq!(after.body["items"][2]["id"], third);
}

async fn a_report_lists_the_first_hundred_errors_and_counts_every_bad_row(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let mut file = String::from("name,phone\nFirst,13800000001\n");
    for i in 0..1000 {
        file.push_str(&format!("Bad {i},12\n"));
    }
    file.push_str("Last,13800000002\n");
    let res = app.post_csv(IMPORT, &lead, file).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["rows"], 1002);
    assert_eq!(res.body["created"], 2);
    assert_eq!(res.body["failed"], 1000);
    assert_eq!(res.body["errors_truncated"], true);
    let lines: Vec<i64> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, (3..103).collect::<Vec<_>>());
    assert!(res.raw.len() < 30_000, "{} bytes", res.raw.len());

    let few = app
        .post_csv(IMPORT, &lead, "name,phone\nBad,12\nGood,13800000003\n")
        .await;
    assert_eq!(few.body["errors_truncated"], false);
    assert_eq!(few.body["errors"].as_array().unwrap().len(), 1);

    let atomic = app
        .post_csv(&format!("{IMPORT}&atomic=true"), &lead, bad_rows_file(500))
        .await;
    assert_eq!(atomic.problem_type(), "import-rejected");
    assert_eq!(atomic.body["report"]["failed"], 500);
    assert_eq!(
        atomic.body["report"]["errors"].as_array().unwrap().len(),
        100
    );
}

fn bad_rows_file(count: usize) -> String {
    let mut file = String::from("name,phone\n");
    for i in 0..count {
        file.push_str(&format!("Bad {i},12\n"));
    }
    file
}

async fn orders_whose_rows_are_split_up_are_refused_where_they_come_back(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let id = app
        .customer(&lead, json!({"name": "李娜", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}))
        .await;
    let orders = "channel,order_no,ordered_at,product,unit_price,customer_phone\n\
taobao,TB-1,2026-11-20,茶壶,129.90,13800138000\n\
taobao,TB-2,2026-11-20,茶杯,19.90,13800138000\n\
taobao,TB-1,2026-11-20,茶杯,19.90,13800138000\n";
    let res = app
        .post_csv("/api/v1/customers/import?file=orders", &lead, orders)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(res.body["errors"][0]["line"], 4);
    let list = app
        .get(&format!("/api/v1/customers/{id}/orders"), &lead)
        .await;
    let tb1 = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["external_order_no"] == "TB-1")
        .unwrap();
    assert_eq!(tb1["items"].as_array().unwrap().len(), 1);
}

async fn exports_are_for_leads_and_recorded_without_search_text(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (lead_id, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    assert_eq!(
        app.post_csv(IMPORT, &lead, CUSTOMERS).await.body["created"],
        3
    );

    let refused = app.get("/api/v1/customers/export", &agent).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.problem_type(), "forbidden");

    let search = "%E6%9D%8E"; // 李, a buyer's name
    let export = app
        .get(
            &format!("/api/v1/customers/export?q={search}&tags_any=key%20customer&source=online"),
            &lead,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    let full = app.get("/api/v1/customers/export", &admin).await;
    assert_eq!(full.status, StatusCode::OK);

    assert_eq!(
        app.get("/api/v1/audit", &lead).await.status,
        StatusCode::FORBIDDEN
    );
    // Logins are on the record too; the exports are what this test is about.
    let log = app
        .get("/api/v1/audit?action=customers.export", &admin)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entries = log.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the agent's refused export is not one");
    assert_eq!(
        entries[0]["details"],
        json!({"archived": false}),
        "newest first"
    );
    assert_eq!(entries[0]["row_count"], 3);
    let searched = &entries[1];
    assert_eq!(searched["actor"], format!("user:{lead_id}"));
    assert_eq!(searched["action"], "customers.export");
    assert_eq!(searched["row_count"], 1);
    assert_eq!(
        searched["details"],
        json!({"text_search": true, "tags_any": ["key customer"], "source": "online", "archived": false})
    );
    assert!(!String::from_utf8_lossy(&log.raw).contains('李'));

    let exports_only = app
        .get("/api/v1/audit?action=customers.export&limit=1", &admin)
        .await;
    assert_eq!(exports_only.body["items"].as_array().unwrap().len(), 1);
    let next = exports_only.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/api/v1/audit?limit=1&cursor={next}"), &admin)
        .await;
    assert_eq!(rest.body["items"][0]["id"], searched["id"]);
}

/// With batches of two rows, files come out as they do in one go: rows, orders and errors
/// straddle batches.
async fn small_batches(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let customers = "name,phone,email\n\
A,13800000001,\n\
Bad,12,\n\
B,13800000002,\n\
C,13800000003,\n\
A again,13800000001,a@example.com\n";
    let res = app.post_csv(IMPORT, &lead, customers).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (
            res.body["created"].as_i64(),
            res.body["updated"].as_i64(),
            res.body["failed"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    let orders = "channel,order_no,ordered_at,product,unit_price,customer_phone\n\
taobao,T1,2026-11-20,Pot,1,13800000001\n\
taobao,T2,2026-11-20,Pot,1,13800000002\n\
taobao,T2,2026-11-20,Cup,2,13800000002\n\
taobao,T2,2026-11-20,Lid,3,13800000002\n\
taobao,T3,2026-11-20,Pot,1,13900000000\n\
taobao,T4,2026-11-20,Pot,1,13800000003\n";
    let res = app
        .post_csv("/api/v1/customers/import?file=orders", &lead, orders)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(res.body["errors"][0]["line"], 6);
    let b = app.get("/api/v1/customers?q=B", &lead).await.body["items"][0]["id"].clone();
    let summary = app.get(&format!("/api/v1/customers/{b}"), &lead).await.body["orders"].clone();
    assert_eq!(summary["total_spent_cents"], 600);
    let again = app
        .post_csv("/api/v1/customers/import?file=orders", &lead, orders)
        .await;
    assert_eq!(again.body["unchanged"], 3);
}

#[actix_web::test]
async fn sqlite_small_batches_import_like_one() {
    small_batches(TestApp::sqlite_with(|s| s.import.batch_rows = 2).await).await;
}

#[actix_web::test]
async fn postgres_small_batches_import_like_one() {
    if let Some(app) = TestApp::postgres_with(|s| s.import.batch_rows = 2).await {
        small_batches(app).await;
    }
}

/// PostgreSQL going away mid-import (here: the server ends the import's own session when
/// a given row is written): the import stops there with a 503, batches already written
/// stay, nothing after them is tried or reported. SQLite is embedded and has no connection
/// to lose; the runner's stop is unit-tested in `ingestion::batch`.
#[actix_web::test]
async fn postgres_import_stops_at_a_lost_connection() {
    let Some(app) = TestApp::postgres_with(|s| s.import.batch_rows = 2).await else {
        return;
    };
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    app.sql(
        "CREATE FUNCTION lose_connection() RETURNS trigger AS $$
         BEGIN
             IF NEW.name = 'Outage' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER lose_connection BEFORE INSERT ON customers
             FOR EACH ROW EXECUTE FUNCTION lose_connection();",
    );
    let file = "name,phone\n\
A,13800000001\n\
B,13800000002\n\
C,13800000003\n\
Outage,13800000004\n\
D,13800000005\n";
    let res = app.post_csv(IMPORT, &lead, file).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        res.body
    );
    assert_eq!(res.problem_type(), "unavailable");
    let detail = res.body["detail"].as_str().unwrap();
    assert!(detail.contains("before line 4 were imported"), "{detail}");
    assert!(res.body.get("report").is_none(), "nothing half-reported");
    // The pool drops the dead connection: the service answers again at once.
    let list = app.get("/api/v1/customers?with_total=true", &lead).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body["total"], 2,
        "the first batch stays, the second was rolled back"
    );
}

/// The export without the column that records when each row was written to the database
/// the file came from (the one thing a new shop cannot have the same).
fn exported_content(raw: &[u8]) -> Vec<Vec<String>> {
    let mut cells = exported_cells(raw);
    let created_at = cells[0].iter().position(|c| c == "created_at").unwrap();
    for row in &mut cells {
        row.remove(created_at);
    }
    cells
}

/// A shop's history past its customer file: orders (imported by the buyers' handles, dated
/// back from `now`), an open bad review on the top buyer, then a full recomputation of the
/// tiers. Played on two shops with the same customers, it gives the same standings.
async fn shop_history(app: &TestApp, lead: &str, now: DateTime<Utc>) {
    let day = |days_ago: i64| (now - Duration::days(days_ago)).to_rfc3339();
    let mut orders = String::from(
        "channel,order_no,ordered_at,product,unit_price,customer_phone,customer_email\n",
    );
    for (no, days_ago, price) in [
        ("L1", 40, "2000.00"),
        ("L2", 20, "1500.00"),
        ("L3", 5, "900.00"),
    ] {
        orders += &format!("tmall,{no},{},Teapot,{price},13800138000,\n", day(days_ago));
    }
    orders += &format!("taobao,W1,{},Cup,39.90,+85291234567,\n", day(10));
    orders += &format!("jd,Z1,{},Cup,59.00,,z@example.com\n", day(400));
    for n in 0..10 {
        orders += &format!("wechat,C{n},{},Tea,12.00,13900139000,\n", day(3 + n * 7));
    }
    let res = app
        .post_csv("/api/v1/customers/import?file=orders", lead, orders)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(res.body["failed"], 0, "{:?}", res.body);
    let lina =
        app.get("/api/v1/customers?q=13800138000", lead).await.body["items"][0]["id"].clone();
    let review = app
        .post(
            "/api/v1/tickets",
            lead,
            json!({"kind": "negative_review", "customer_id": lina, "title": "1 star",
                   "details": {"platform": "tmall", "rating": 1}}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{:?}", review.body);
    let recompute = app
        .call(Method::POST, "/api/v1/tiers/recompute", Some(lead), None)
        .await;
    assert_eq!(recompute.status, StatusCode::OK, "{:?}", recompute.body);
}

/// The issue's round trip: a shop with tiers, stages, an at-risk buyer and grouped tags is
/// exported; the file, imported into a new shop (which then gets the same orders and
/// tickets), exports again the same, cell for cell; the tags come back in their groups.
async fn an_export_imported_into_a_new_shop_exports_the_same_file(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    for (name, group) in [
        ("北京", Some("地区")),
        ("上海", Some("地区")),
        ("teapots", Some("Interest")),
        ("@SUM(A1:A9)", Some("Interest")),
        ("nobody's", Some("unused")),
        ("key customer", None),
    ] {
        let res = app
            .post("/api/v1/tags", &lead, json!({"name": name, "group": group}))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    }
    for body in [
        json!({"name": "李娜", "source": "in_store", "address": "北京市朝阳区", "birthday": "1990-05-17",
               "contacts": [{"kind": "phone", "value": "13800138000"}, {"kind": "wechat", "value": "lina88"}],
               "tags": ["key customer", "北京", "teapots"], "notes": "prefers calls after 6pm"}),
        json!({"name": "王芳", "source": "online", "notes": "-5",
               "contacts": [{"kind": "phone", "value": "+852 9123 4567"}],
               "tags": ["上海", "@SUM(A1:A9)"]}),
        json!({"name": "张伟", "source": "online",
               "contacts": [{"kind": "email", "value": "z@example.com"}], "tags": ["teapots"]}),
        json!({"name": "赵敏", "source": "online",
               "contacts": [{"kind": "shop_account", "value": "zhaomin的小店"}]}),
        json!({"name": "陈晨", "source": "online",
               "contacts": [{"kind": "phone", "value": "13900139000"}], "tags": ["key customer"]}),
    ] {
        app.customer(&lead, body).await;
    }
    let now = Utc::now();
    shop_history(&app, &lead, now).await;

    let first = app.get("/api/v1/customers/export", &lead).await;
    assert_eq!(first.status, StatusCode::OK);
    let cells = exported_cells(&first.raw);
    let column = |name: &str| {
        cells[0]
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", cells[0]))
    };
    assert!(
        !cells[0].iter().any(|c| c == "tags.unused"),
        "a group no customer carries has no column"
    );
    assert!(column("tags") + 1 == column("tags.Interest") && column("tags.地区") < column("notes"));
    let standing = |row: usize| {
        (
            cells[row][column("tier")].as_str(),
            cells[row][column("stage")].as_str(),
            cells[row][column("at_risk")].as_str(),
        )
    };
    assert_eq!(standing(1), ("key", "returning", "true"), "{cells:?}");
    assert_eq!(standing(2), ("regular", "new", "false"));
    assert_eq!(standing(3), ("small", "dormant", "false"));
    assert_eq!(standing(4), ("small", "potential", "false"));
    assert_eq!(standing(5).1, "loyal");
    assert_eq!(cells[1][column("tags")], "key customer");
    assert_eq!(cells[1][column("tags.地区")], "北京");
    assert_eq!(cells[1][column("tags.Interest")], "teapots");
    assert_eq!(cells[2][column("tags.Interest")], "'@SUM(A1:A9)");

    // Imported back into the same shop: nothing changes, nothing to report.
    let again = app.post_csv(IMPORT, &lead, first.raw.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["unchanged"], 5, "{:?}", again.body);
    assert_eq!(again.body["warnings"], json!([]));
    // The same file for Excel on Chinese Windows: the same cells, and it comes back the same.
    let gbk = app
        .get("/api/v1/customers/export?encoding=gbk", &lead)
        .await;
    assert_eq!(
        gbk.header("content-type"),
        Some("text/csv; charset=GB18030")
    );
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(&gbk.raw);
    assert!(!had_errors);
    assert_eq!(exported_cells(text.as_bytes()), cells);
    let again = app.post_csv(IMPORT, &lead, gbk.raw.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(
        (
            again.body["encoding"].as_str(),
            again.body["unchanged"].as_i64()
        ),
        (Some("gb18030"), Some(5)),
        "{:?}",
        again.body
    );
    assert_eq!(again.body["warnings"], json!([]));

    // Into a new shop: the same customers, tags and groups, then the same history.
    let other = app.fresh().await;
    let (_, other_lead) = other.staff_token("lead@other.example", Role::Lead).await;
    let imported = other.post_csv(IMPORT, &other_lead, first.raw.clone()).await;
    assert_eq!(imported.status, StatusCode::OK, "{:?}", imported.body);
    assert_eq!(
        (
            imported.body["created"].as_i64(),
            imported.body["failed"].as_i64()
        ),
        (Some(5), Some(0)),
        "{:?}",
        imported.body
    );
    assert_eq!(imported.body["warnings"], json!([]));
    let tags: Vec<(String, Value)> = other.get("/api/v1/tags", &other_lead).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["group"].clone()))
        .collect();
    let group_of = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| g.clone())
            .unwrap_or_else(|| panic!("tag {name} re-created: {tags:?}"))
    };
    assert_eq!(group_of("北京"), "地区");
    assert_eq!(group_of("上海"), "地区");
    assert_eq!(group_of("teapots"), "Interest");
    assert_eq!(group_of("@SUM(A1:A9)"), "Interest");
    assert_eq!(group_of("key customer"), Value::Null);
    assert_eq!(
        tags.len(),
        5,
        "a tag no customer carries is not in the file"
    );
    shop_history(&other, &other_lead, now).await;
    let second = other.get("/api/v1/customers/export", &other_lead).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(exported_content(&second.raw), exported_content(&first.raw));
}

/// Tags the file groups are created in their groups; a tag already on file keeps its group,
/// reported once; the standing columns are read and ignored, whatever they hold.
async fn tags_on_file_keep_their_groups_and_differences_are_reported(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    for (name, group) in [("Beijing", Some("city")), ("teapots", None)] {
        app.post("/api/v1/tags", &lead, json!({"name": name, "group": group}))
            .await;
    }
    let file = "name,phone,TAGS.Region,tags.interest,tags,tier,stage,at_risk\n\
A,13800000001,Beijing,teapots,,key,loyal,true\n\
B,13800000002,Beijing;Shanghai,,vip,gold,forever,maybe\n\
C,13800000003,Shanghai,Shanghai,,,,\n";
    let res = app.post_csv(IMPORT, &lead, file).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(2), Some(1)),
        "{:?}",
        res.body
    );
    assert_eq!(res.body["errors"][0]["line"], 4);
    assert_eq!(res.body["errors"][0]["column"], "tags.interest");
    let warnings = res.body["warnings"].as_array().unwrap();
    let seen: Vec<(i64, &str)> = warnings
        .iter()
        .map(|w| (w["line"].as_i64().unwrap(), w["column"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [(2, "tags.Region"), (2, "tags.interest")],
        "one warning per tag, where it first comes: {warnings:?}"
    );
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("\"Beijing\" is in the group \"city\""),
        "{warnings:?}"
    );
    let tags = app.get("/api/v1/tags", &lead).await.body["items"].clone();
    let group_of = |name: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["group"]
            .clone()
    };
    assert_eq!(group_of("Beijing"), "city", "kept");
    assert_eq!(group_of("teapots"), Value::Null, "kept");
    assert_eq!(
        group_of("Shanghai"),
        "Region",
        "created in the file's group"
    );
    assert_eq!(group_of("vip"), Value::Null);
    let a = app.get("/api/v1/customers?q=13800000001", &lead).await.body["items"][0].clone();
    assert_eq!(
        (
            a["standing"]["tier"].as_str(),
            a["standing"]["stage"].as_str(),
            a["standing"]["at_risk"].as_bool()
        ),
        (Some("small"), Some("potential"), Some(false)),
        "tiers are computed, never typed in"
    );
    let names: Vec<&str> = a["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Beijing", "teapots"]);
    // Headers the import cannot read refuse the file.
    let bad = app.post_csv(IMPORT, &lead, "name,phone,tags.\n").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["column \"tags.\""]);
    let orders = app
        .post_csv(
            "/api/v1/customers/import?file=orders",
            &lead,
            "channel,order_no,tags.region\n",
        )
        .await;
    assert_eq!(orders.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A row putting two tags of one single-choice group on a customer is a bad row, named as
/// such; a row's single-choice tag replaces the customer's other tag of the group.
async fn imports_respect_single_choice_tag_groups(app: TestApp) {
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    for name in ["Y", "N"] {
        app.post(
            "/api/v1/tags",
            &lead,
            json!({"name": name, "group": "visit"}),
        )
        .await;
    }
    let set = app
        .put(
            "/api/v1/tag-groups/visit",
            &lead,
            json!({"single_choice": true}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    let file = "name,phone,tags.visit,tags\n\
A,13800000001,Y,\n\
B,13800000002,Y;N,\n\
C,13800000003,,y;n\n";
    let res = app.post_csv(IMPORT, &lead, file).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    assert_eq!(
        (res.body["created"].as_i64(), res.body["failed"].as_i64()),
        (Some(1), Some(2)),
        "{:?}",
        res.body
    );
    let errors = res.body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["line"], 3);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("single-choice group \"visit\""),
        "{errors:?}"
    );
    assert_eq!(
        errors[1]["line"], 4,
        "names match whatever their case: {errors:?}"
    );
    // The same customer again with N: N replaces Y.
    let again = app
        .post_csv(IMPORT, &lead, "name,phone,tags\nA,13800000001,N\n")
        .await;
    assert_eq!(again.body["updated"], 1, "{:?}", again.body);
    let found = app.get("/api/v1/customers?q=13800000001", &lead).await;
    let tags: Vec<&str> = found.body["items"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["N"]);
}
