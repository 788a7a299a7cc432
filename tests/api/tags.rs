//! Tags on one customer and in bulk; renaming; counts; roles.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    tags_are_added_counted_renamed_and_removed,
    bulk_tagging_is_for_leads_and_all_or_nothing,
);

fn names(tags: &Value) -> Vec<String> {
    tags.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn tags_are_added_counted_renamed_and_removed(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let a = app.customer(&agent, json!({"name": "A", "contacts": [{"kind": "phone", "value": "13800000001"}], "source": "online"})).await;
    let b = app.customer(&agent, json!({"name": "B", "contacts": [{"kind": "phone", "value": "13800000002"}], "source": "online", "tags": ["vip"]})).await;
    let added = app
        .post(
            &format!("/api/v1/customers/{a}/tags"),
            &agent,
            json!({"tags": ["vip", "北京", "vip"]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!(names(&added.body), ["vip", "北京"]);
    let grouped = app
        .post(
            "/api/v1/tags",
            &agent,
            json!({"name": "interested in teapots", "group": "interest"}),
        )
        .await;
    assert_eq!(grouped.status, StatusCode::CREATED);
    assert_eq!(grouped.body["group"], "interest");
    let duplicate = app
        .post("/api/v1/tags", &agent, json!({"name": "vip"}))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.problem_type(), "duplicate");
    // A sentence for a person, never the database's words.
    assert_eq!(
        duplicate.body["detail"],
        "a tag with this name already exists"
    );

    // A group is a filter; a parameter no list knows is refused, not ignored.
    let interest = app.get("/api/v1/tags?group=interest", &agent).await;
    assert_eq!(interest.status, StatusCode::OK);
    assert_eq!(names(&interest.body["items"]), ["interested in teapots"]);
    let none = app.get("/api/v1/tags?group=segment", &agent).await;
    assert_eq!(names(&none.body["items"]), Vec::<String>::new());
    let unknown = app.get("/api/v1/tags?kind=segment", &agent).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["kind"]);

    let list = app.get("/api/v1/tags", &agent).await;
    let counts: Vec<(String, i64)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["customer_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("interested in teapots".into(), 0),
            ("vip".into(), 2),
            ("北京".into(), 1)
        ]
    );

    let vip_id = list.body["items"][1]["id"].as_i64().unwrap();
    assert_eq!(
        app.patch(
            &format!("/api/v1/tags/{vip_id}"),
            &agent,
            json!({"name": "VIP"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let renamed = app
        .patch(
            &format!("/api/v1/tags/{vip_id}"),
            &lead,
            json!({"name": "key customer", "group": "segment"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let b_tags = app
        .get(&format!("/api/v1/customers/{b}"), &agent)
        .await
        .body["tags"]
        .clone();
    assert_eq!(
        b_tags,
        json!([{"id": vip_id, "name": "key customer", "group": "segment"}])
    );
    let clash = app
        .patch(
            &format!("/api/v1/tags/{vip_id}"),
            &lead,
            json!({"name": "北京"}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    let filtered = app
        .get("/api/v1/customers?tags_all=key%20customer", &agent)
        .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);

    let removed = app
        .delete(&format!("/api/v1/customers/{a}/tags/{vip_id}"), &agent)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        names(
            &app.get(&format!("/api/v1/customers/{a}"), &agent)
                .await
                .body["tags"]
        ),
        ["北京"]
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tags/{vip_id}"), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tags/{vip_id}"), &lead)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        names(
            &app.get(&format!("/api/v1/customers/{b}"), &agent)
                .await
                .body["tags"]
        )
        .is_empty()
    );
    let bad = app
        .post(
            &format!("/api/v1/customers/{a}/tags"),
            &agent,
            json!({"tags": [""]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["tags"]);
}

async fn bulk_tagging_is_for_leads_and_all_or_nothing(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.customer(&agent, json!({"name": format!("C{i}"), "contacts": [{"kind": "phone", "value": format!("1380000000{i}")}], "source": "online", "tags": ["old"]})).await);
    }
    let body = json!({"customer_ids": ids, "add": ["spring campaign"], "remove": ["old"]});
    assert_eq!(
        app.post("/api/v1/tags/bulk", &agent, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let with_unknown = json!({"customer_ids": [ids[0], 999999], "add": ["spring campaign"]});
    let refused = app.post("/api/v1/tags/bulk", &lead, with_unknown).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_fields(), ["customer_ids"]);
    assert!(
        names(&app.get("/api/v1/tags", &lead).await.body["items"])
            .iter()
            .all(|n| n != "spring campaign")
    );

    let done = app.post("/api/v1/tags/bulk", &lead, body).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body, json!({"customers": 3, "added": 3, "removed": 3}));
    for id in &ids {
        assert_eq!(
            names(
                &app.get(&format!("/api/v1/customers/{id}"), &agent)
                    .await
                    .body["tags"]
            ),
            ["spring campaign"]
        );
    }
    let empty = app
        .post("/api/v1/tags/bulk", &lead, json!({"customer_ids": []}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}
