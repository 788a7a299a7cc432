//! Tags on one customer and in bulk; renaming; counts; roles.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    tags_are_added_counted_renamed_and_removed,
    bulk_tagging_is_for_leads_and_all_or_nothing,
    tag_names_are_one_tag_whatever_their_case,
    single_choice_groups_replace_and_record_it,
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
    assert_eq!(
        done.body,
        json!({"customers": 3, "added": 3, "removed": 3, "replaced": 0})
    );
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

async fn tag_names_are_one_tag_whatever_their_case(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let a = app.customer(&agent, json!({"name": "A", "contacts": [{"kind": "phone", "value": "13800000001"}], "source": "online", "tags": ["VIP"]})).await;
    let b = app.customer(&agent, json!({"name": "B", "contacts": [{"kind": "phone", "value": "13800000002"}], "source": "online"})).await;
    let added = app
        .post(
            &format!("/api/v1/customers/{b}/tags"),
            &agent,
            json!({"tags": ["vip", "Vip"]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!(
        names(&added.body),
        ["VIP"],
        "the tag on file, as first spelled"
    );
    let duplicate = app
        .post("/api/v1/tags", &agent, json!({"name": "vIp"}))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.problem_type(), "duplicate");
    assert_eq!(
        duplicate.body["detail"],
        "a tag with this name already exists"
    );
    // Chinese has no case; only ASCII letters fold.
    let other = app
        .post("/api/v1/tags", &agent, json!({"name": "Éclair"}))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let accented = app
        .post("/api/v1/tags", &agent, json!({"name": "éclair"}))
        .await;
    assert_eq!(accented.status, StatusCode::CREATED);
    let list = app.get("/api/v1/tags", &agent).await;
    assert_eq!(names(&list.body["items"]), ["VIP", "Éclair", "éclair"]);
    assert_eq!(list.body["items"][0]["customer_count"], 2);
    let filtered = app
        .get("/api/v1/customers?tags_any=vip&sort=oldest", &agent)
        .await;
    let found: Vec<i64> = filtered.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(found, [a, b]);
}

async fn single_choice_groups_replace_and_record_it(app: TestApp) {
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (_, admin) = app.admin().await;
    let a = app.customer(&agent, json!({"name": "A", "contacts": [{"kind": "phone", "value": "13800000001"}], "source": "online"})).await;
    let b = app.customer(&agent, json!({"name": "B", "contacts": [{"kind": "phone", "value": "13800000002"}], "source": "online"})).await;
    for (name, group) in [
        ("Y", "visit"),
        ("N", "visit"),
        ("Beijing", "region"),
        ("Tianjin", "region"),
    ] {
        let created = app
            .post(
                "/api/v1/tags",
                &agent,
                json!({"name": name, "group": group}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
    }
    let set = json!({"single_choice": true});
    assert_eq!(
        app.put("/api/v1/tag-groups/visit", &agent, set.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let visit = app
        .put("/api/v1/tag-groups/visit", &lead, set.clone())
        .await;
    assert_eq!(visit.status, StatusCode::OK, "{:?}", visit.body);
    assert_eq!(
        visit.body,
        json!({"name": "visit", "single_choice": true, "tag_count": 2, "customer_count": 0})
    );
    let bad_name = app.put("/api/v1/tag-groups/a,b", &lead, set.clone()).await;
    assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_name.error_fields(), ["name"]);

    // Two of one single-choice group at once: refused, nothing written.
    let both = app
        .post(
            &format!("/api/v1/customers/{a}/tags"),
            &agent,
            json!({"tags": ["Y", "n"]}),
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(both.error_fields(), ["tags"]);
    let created_with_both = app
        .post("/api/v1/customers", &agent, json!({"name": "C", "contacts": [{"kind": "phone", "value": "13800000003"}], "source": "online", "tags": ["Y", "N"]}))
        .await;
    assert_eq!(created_with_both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(created_with_both.error_fields(), ["tags"]);

    // The second replaces the first; multiple-choice groups hold any number.
    let first = app
        .post(
            &format!("/api/v1/customers/{a}/tags"),
            &agent,
            json!({"tags": ["Y", "Beijing", "Tianjin"]}),
        )
        .await;
    assert_eq!(names(&first.body), ["Beijing", "Tianjin", "Y"]);
    let second = app
        .post(
            &format!("/api/v1/customers/{a}/tags"),
            &agent,
            json!({"tags": ["N"]}),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(names(&second.body), ["Beijing", "N", "Tianjin"]);
    let log = app.get("/api/v1/audit?action=tags.replaced", &admin).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entry = &log.body["items"][0];
    assert_eq!(entry["action"], "tags.replaced");
    assert_eq!(entry["details"]["group"], "visit");
    assert_eq!(entry["details"]["from"], "Y");
    assert_eq!(entry["details"]["to"], "N");
    assert_eq!(entry["details"]["customer_ids"], json!([a]));

    // In bulk: the replaced pairs are counted.
    let bulk = app
        .post(
            "/api/v1/tags/bulk",
            &lead,
            json!({"customer_ids": [a, b], "add": ["Y"]}),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{:?}", bulk.body);
    assert_eq!(
        bulk.body,
        json!({"customers": 2, "added": 2, "removed": 0, "replaced": 1})
    );
    let two = app
        .post(
            "/api/v1/tags/bulk",
            &lead,
            json!({"customer_ids": [a], "add": ["Y", "N"]}),
        )
        .await;
    assert_eq!(two.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(two.error_fields(), ["add"]);

    // A group some customer holds two tags of cannot become single-choice, and no tag
    // moves into a single-choice group its customers hold another tag of.
    let region = app
        .put("/api/v1/tag-groups/region", &lead, set.clone())
        .await;
    assert_eq!(region.status, StatusCode::CONFLICT);
    assert_eq!(region.problem_type(), "single-choice");
    let tags = app.get("/api/v1/tags", &agent).await;
    let beijing = tags.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Beijing")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let moved = app
        .patch(
            &format!("/api/v1/tags/{beijing}"),
            &lead,
            json!({"group": "visit"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT);
    assert_eq!(moved.problem_type(), "single-choice");

    // The list is grouped, with counts per group; the groups list says which are
    // single-choice.
    assert_eq!(
        tags.body["groups"],
        json!([
            {"name": "region", "single_choice": false, "tag_count": 2, "customer_count": 1},
            {"name": "visit", "single_choice": true, "tag_count": 2, "customer_count": 2},
        ])
    );
    let groups = app.get("/api/v1/tag-groups", &agent).await;
    assert_eq!(groups.status, StatusCode::OK);
    assert_eq!(groups.body["items"], tags.body["groups"]);
    let back = app
        .put(
            "/api/v1/tag-groups/visit",
            &lead,
            json!({"single_choice": false}),
        )
        .await;
    assert_eq!(back.body["single_choice"], false);
    let both_now = app
        .post(
            &format!("/api/v1/customers/{b}/tags"),
            &agent,
            json!({"tags": ["N"]}),
        )
        .await;
    assert_eq!(names(&both_now.body), ["N", "Y"]);
}
