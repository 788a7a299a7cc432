//! The committed OpenAPI document matches the code, and documents only real routes.

use actix_web::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = aftercare::openapi::document();
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != generated {
        let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
        let generated_value: Value = serde_json::from_str(&generated).unwrap();
        panic!(
            "{COMMITTED} is out of date{}. Regenerate it with:\n    cargo run -- openapi > {COMMITTED}",
            if committed == generated_value {
                " (formatting only)"
            } else {
                ""
            }
        );
    }
}

#[test]
fn document_is_openapi_3_1_with_bearer_security() {
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Every documented operation is routed: none answers "no such route" or "method not allowed".
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::sqlite().await;
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let concrete = path.replace("{id}", "1");
            let res = app.call(method.clone(), &concrete, None, None).await;
            assert_ne!(
                res.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let no_route = res.status == StatusCode::NOT_FOUND
                && res.body["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no resource at");
            assert!(!no_route, "{method} {path} is documented but not routed");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} operations checked");
}

/// The 422 messages for dates say which shape a field takes by its name
/// (`extract::DAY_FIELDS`): that list must be exactly the document's date-only fields, and
/// no date-time field may share a name with one.
#[test]
fn day_fields_are_exactly_the_documented_dates() {
    fn formats(schema: &Value, out: &mut Vec<String>) {
        if let Some(format) = schema["format"].as_str() {
            out.push(format.to_owned());
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for inner in schema[key].as_array().into_iter().flatten() {
                formats(inner, out);
            }
        }
        if schema["items"].is_object() {
            formats(&schema["items"], out);
        }
    }
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    let mut fields: Vec<(String, Value)> = Vec::new();
    for schema in doc["components"]["schemas"].as_object().unwrap().values() {
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            fields.push((name.clone(), property.clone()));
        }
    }
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                fields.push((name, parameter["schema"].clone()));
            }
        }
    }
    assert!(
        fields.len() > 100,
        "the walk found only {} fields",
        fields.len()
    );
    let mut days = std::collections::BTreeSet::new();
    let mut instants = std::collections::BTreeSet::new();
    for (name, schema) in &fields {
        let mut found = Vec::new();
        formats(schema, &mut found);
        if found.iter().any(|f| f == "date") {
            days.insert(name.as_str());
        }
        if found.iter().any(|f| f == "date-time") {
            instants.insert(name.as_str());
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        aftercare::extract::DAY_FIELDS.iter().copied().collect();
    assert_eq!(
        days, listed,
        "extract::DAY_FIELDS must list the date-only fields"
    );
    assert!(
        days.is_disjoint(&instants),
        "a name is used for a date and a date-time: {:?}",
        days.intersection(&instants).collect::<Vec<_>>()
    );
}

/// The document as a value.
fn document() -> Value {
    serde_json::from_str(&aftercare::openapi::document()).unwrap()
}

/// Checks `body` against the component schema `name`, with the named components `closed`
/// (`additionalProperties: false`): a member the server sends that the document does not
/// declare fails, not only a declared one of the wrong type.
fn conforms(name: &str, body: &Value, closed: &[&str]) -> Result<(), String> {
    let mut doc = document();
    for schema in closed {
        let target = &mut doc["components"]["schemas"][*schema];
        assert!(target.is_object(), "no schema {schema}");
        target["additionalProperties"] = Value::Bool(false);
    }
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&root).expect("documented schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}\n{body:#}", errors.join("; ")))
    }
}

/// A page names its item schema (`CustomerPage.items: $ref CustomerView`) instead of
/// inlining it under a made-up name, so generated clients use the real type names.
#[test]
fn pages_refer_to_their_items_by_name() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        !schemas.keys().any(|name| name.starts_with("Page_")),
        "generic page schema names: {:?}",
        schemas
            .keys()
            .filter(|n| n.starts_with("Page_"))
            .collect::<Vec<_>>()
    );
    for (page, item) in [
        ("CustomerPage", "CustomerView"),
        ("OrderPage", "OrderView"),
        ("TicketPage", "TicketView"),
        ("TicketEventPage", "EventView"),
        ("UserPage", "UserView"),
        ("ApiKeyPage", "ApiKeyView"),
        ("AuditEntryPage", "AuditEntryView"),
        ("DeliveryPage", "DeliveryView"),
        ("TierChangePage", "TierChangeView"),
    ] {
        assert_eq!(
            schemas[page]["properties"]["items"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{page}"
        );
    }
    // Every list answers a named page.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(ok) =
            item["get"]["responses"]["200"]["content"]["application/json"]["schema"].as_object()
        else {
            continue;
        };
        if let Some(reference) = ok.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap();
            if schemas[name]["properties"]["next_cursor"].is_object() {
                assert!(name.ends_with("Page"), "{path} answers {name}");
            }
        }
    }
}

/// What depends on a kind is a `oneOf` with a discriminator, one named schema per kind:
/// a ticket's details (on the ticket and on the request that opens one), a contact
/// handle's value, a timeline entry's data.
#[test]
fn shapes_that_depend_on_a_kind_are_one_schema_per_kind() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let by_kind = |name: &str| -> Vec<(String, String)> {
        let schema = &schemas[name];
        assert_eq!(
            schema["discriminator"]["propertyName"], "kind",
            "{name}: {schema}"
        );
        let mapping = schema["discriminator"]["mapping"].as_object().unwrap();
        let variants: Vec<&Value> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["$ref"])
            .collect();
        mapping
            .iter()
            .map(|(kind, target)| {
                assert!(variants.contains(&target), "{name}: {target} not in oneOf");
                let variant = target.as_str().unwrap().rsplit('/').next().unwrap();
                // The variant's own `kind` takes exactly the mapped value.
                assert_eq!(
                    schemas[variant]["properties"]["kind"]["enum"],
                    serde_json::json!([kind]),
                    "{variant}"
                );
                (kind.clone(), variant.to_owned())
            })
            .collect()
    };
    for name in ["TicketView", "CreateTicketRequest"] {
        for (kind, variant) in by_kind(name) {
            let details = match kind.as_str() {
                "negative_review" => "NegativeReviewDetails",
                "return" => "ReturnDetails",
                "repair" => "RepairDetails",
                other => panic!("unknown ticket kind {other}"),
            };
            assert_eq!(
                schemas[&variant]["properties"]["details"]["$ref"],
                format!("#/components/schemas/{details}"),
                "{variant}"
            );
        }
    }
    let contacts: Vec<String> = by_kind("ContactHandle")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(contacts, ["email", "phone", "shop_account", "wechat"]);
    let events: Vec<String> = by_kind("EventView").into_iter().map(|(k, _)| k).collect();
    assert_eq!(events.len(), 15, "{events:?}");
    let bulk: Vec<String> = by_kind("BulkTicketAction")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(bulk, ["assign", "close", "set_priority"]);
    // A leaving staff member's tickets: one schema per `action`.
    let handover = &schemas["OpenTicketsHandover"];
    assert_eq!(handover["discriminator"]["propertyName"], "action");
    for (action, target) in handover["discriminator"]["mapping"].as_object().unwrap() {
        let variant = target.as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(
            schemas[variant]["properties"]["action"]["enum"],
            serde_json::json!([action]),
            "{variant}"
        );
    }
    // Problems declare their extension members, typed.
    let problem = &schemas["Problem"]["properties"];
    for member in [
        "errors",
        "current_state",
        "allowed_next_states",
        "allowed_actions",
        "existing_customer_id",
        "existing_ticket_id",
        "ticket_ids",
        "report",
    ] {
        assert!(problem[member].is_object(), "Problem.{member} undeclared");
    }
}

/// The document's own examples are valid: every schema's `example` conforms to the schema
/// (the old contact example, `13800138000`, was shown with kind `email`).
#[test]
fn every_schema_example_conforms_to_its_schema() {
    let doc = document();
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            conforms(name, example, &[]).unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} examples");
}

crate::support::backend_tests!(
    answers_match_the_schema_of_their_kind,
    problems_declare_every_member_they_carry,
);

/// Every kind of ticket, contact handle and timeline entry the server produces matches the
/// schema of its kind, member for member.
async fn answers_match_the_schema_of_their_kind(app: TestApp) {
    use aftercare::auth::roles::Role;
    use serde_json::json;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let (agent_id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let (_, admin) = app.admin().await;
    let handles = [
        "PhoneHandle",
        "WechatHandle",
        "ShopAccountHandle",
        "EmailHandle",
    ];
    let created = app
        .post(
            "/api/v1/customers",
            &lead,
            json!({"name": "李娜", "source": "online", "contacts": [
                {"kind": "phone", "value": "+86 138-0013-8000"},
                {"kind": "wechat", "value": "LiNa_1990"},
                {"kind": "shop_account", "value": "lina的小店"},
                {"kind": "email", "value": "Lina@Example.com"}
            ]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    conforms("CustomerView", &created.body, &handles).unwrap();
    let customer = created.body["id"].as_i64().unwrap();

    let kinds = [
        (
            "NegativeReviewTicket",
            json!({"kind": "negative_review", "customer_id": customer, "title": "2-star review", "assignee_id": agent_id,
            "details": {"platform": "douyin", "rating": 2, "review_text": "盖子有缺口", "review_id": "DY-1"}}),
        ),
        (
            "ReturnTicket",
            json!({"kind": "return", "customer_id": customer, "title": "Wrong size",
            "details": {"reason": "too small", "items": [{"product_name": "Shoes", "quantity": 1}], "requested_refund_cents": 25900}}),
        ),
        (
            "RepairTicket",
            json!({"kind": "repair", "customer_id": customer, "title": "Kettle",
            "details": {"fault": "no heat", "items": [{"product_name": "Kettle", "quantity": 1}], "under_warranty": true}}),
        ),
    ];
    let views = [
        "NegativeReviewTicket",
        "ReturnTicket",
        "RepairTicket",
        "Satisfaction",
    ];
    let mut ids = Vec::new();
    for (variant, body) in &kinds {
        conforms("CreateTicketRequest", body, &[]).unwrap();
        let res = app.post("/api/v1/tickets", &lead, body.clone()).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        conforms(variant, &res.body, &views).unwrap();
        conforms("TicketView", &res.body, &views).unwrap();
        ids.push(res.body["id"].as_i64().unwrap());
    }
    // Through every kind of timeline entry on the review ticket.
    let id = ids[0];
    let act = |action: &'static str, body: Value| {
        let path = format!("/api/v1/tickets/{id}/{action}");
        (path, body)
    };
    let edited = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"title": "2-star review on Douyin", "order_id": null,
                   "details": {"platform": "douyin", "rating": 3, "review_id": "DY-1"}}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    // A breach found by the sweep, escalated by the policy (priority raised).
    let mut policies = app.get("/api/v1/sla/policies", &admin).await.body;
    for rule in policies["rules"].as_array_mut().unwrap() {
        rule["escalation"] = json!({"raise_priority": true});
    }
    let res = app.put("/api/v1/sla/policies", &admin, policies).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    app.sql(&format!(
        "UPDATE ticket_targets SET due_at = '2026-01-01 00:00:00' WHERE ticket_id = {id}"
    ));
    let swept = aftercare::sla::operations::sweep(
        &app.state.db,
        &app.state.sla,
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    assert_eq!(swept.escalated, 1);
    let targets = app
        .get(&format!("/api/v1/tickets/{id}/service-levels"), &lead)
        .await;
    conforms("TicketTargetList", &targets.body, &["TicketTargetView"]).unwrap();
    for (token, method, (path, body)) in [
        (
            &agent,
            Method::POST,
            act(
                "contacts",
                json!({"channel": "wechat", "reached": true, "note": "道歉"}),
            ),
        ),
        (
            &agent,
            Method::POST,
            act("wait", json!({"on": "buyer", "note": "买家在考虑"})),
        ),
        (&agent, Method::DELETE, act("wait", Value::Null)),
        (
            &agent,
            Method::POST,
            act(
                "resolve",
                json!({"outcome": "review_revised", "note": "4 stars now"}),
            ),
        ),
        (
            &agent,
            Method::PUT,
            act("satisfaction", json!({"score": 4})),
        ),
        (
            &lead,
            Method::PUT,
            act("satisfaction", json!({"score": 5, "comment": "很满意"})),
        ),
        (
            &lead,
            Method::POST,
            act("reopen", json!({"reason": "buyer called again"})),
        ),
        (
            &lead,
            Method::POST,
            act(
                "close",
                json!({"reason": "unreachable", "note": "no answer"}),
            ),
        ),
    ] {
        let res = if method == Method::PUT {
            app.put(&path, token, body).await
        } else if method == Method::DELETE {
            app.delete(&path, token).await
        } else {
            app.post(&path, token, body).await
        };
        assert_eq!(res.status, StatusCode::OK, "{path}: {:?}", res.body);
        conforms("TicketView", &res.body, &views).unwrap();
    }
    let unassigned = app
        .put(
            &format!("/api/v1/tickets/{id}/assignee"),
            &lead,
            json!({"assignee_id": null}),
        )
        .await;
    assert_eq!(unassigned.status, StatusCode::OK, "{:?}", unassigned.body);
    let note = app
        .post(
            &format!("/api/v1/tickets/{id}/notes"),
            &agent,
            json!({"body": "买家想要换货"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{:?}", note.body);
    conforms("NoteView", &note.body, &["NoteEdit"]).unwrap();
    let corrected = app
        .patch(
            &format!("/api/v1/notes/{}", note.body["id"]),
            &agent,
            json!({"body": "买家想要退货"}),
        )
        .await;
    assert_eq!(corrected.status, StatusCode::OK, "{:?}", corrected.body);
    conforms("NoteView", &corrected.body, &["NoteEdit"]).unwrap();
    let photo = crate::attachments::png(16, 16);
    let bearer = format!("Bearer {agent}");
    let uploaded = crate::attachments::upload(
        &app,
        &format!("/api/v1/notes/{}/attachments", note.body["id"]),
        ("authorization", &bearer),
        &[("file", Some("photo.png"), "image/png", &photo)],
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    conforms("AttachmentUpload", &uploaded.body, &["AttachmentView"]).unwrap();
    let deleted = app
        .delete(
            &format!(
                "/api/v1/attachments/{}?reason=wrong%20ticket",
                uploaded.body["items"][0]["id"]
            ),
            &agent,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    let events = app
        .get(&format!("/api/v1/tickets/{id}/events?limit=200"), &lead)
        .await;
    assert_eq!(events.status, StatusCode::OK, "{:?}", events.body);
    let data = [
        "TicketCreatedEvent",
        "TicketAssignedEvent",
        "ContactLoggedEvent",
        "StateChangedEvent",
        "TicketEditedEvent",
        "SatisfactionRecordedEvent",
        "SatisfactionCorrectedEvent",
        "NoteAddedEvent",
        "NoteEditedEvent",
        "NoteAddedData",
        "NoteEditedData",
        "AttachmentAddedEvent",
        "AttachmentDeletedEvent",
        "AttachmentAddedData",
        "AttachmentDeletedData",
        "WaitStartedEvent",
        "WaitEndedEvent",
        "SlaBreachedEvent",
        "EscalatedEvent",
        "WaitStartedData",
        "WaitEndedData",
        "SlaBreachedData",
        "EscalatedData",
        "PriorityChange",
        "AssigneeChange",
        "CreatedData",
        "AssignedData",
        "ContactLoggedData",
        "ResolvedData",
        "ClosedData",
        "ReopenedData",
        "PreviousEnding",
        "EditedData",
        "EditedFields",
        "ScoreAndComment",
        "ScoreBefore",
    ];
    conforms("TicketEventPage", &events.body, &data).unwrap();
    let mut seen: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    let mut every: Vec<&str> = aftercare::tickets::EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    every.sort();
    assert_eq!(seen, every, "the walk should produce every kind of entry");
}

/// Each problem that carries extension members validates against `Problem` with no member
/// left undeclared.
async fn problems_declare_every_member_they_carry(app: TestApp) {
    use aftercare::auth::roles::Role;
    use serde_json::json;
    let (_, admin) = app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let customer = app
        .customer(
            &lead,
            json!({"name": "Buyer", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}),
        )
        .await;
    let mut problems = Vec::new();
    // duplicate-contact (existing_customer_id)
    problems.push(
        app.post(
            "/api/v1/customers",
            &lead,
            json!({"name": "Again", "contacts": [{"kind": "phone", "value": "13800138000"}], "source": "online"}),
        )
        .await,
    );
    let order = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            &lead,
            json!({"channel": "taobao", "external_order_no": "TB-9", "status": "paid", "ordered_at": "2026-01-01T00:00:00Z",
                   "items": [{"product_name": "Tea", "quantity": 1, "unit_price_cents": 100}]}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let order_id = order.body["id"].as_i64().unwrap();
    let review = json!({"kind": "negative_review", "customer_id": customer, "order_id": order_id, "title": "bad",
                        "details": {"platform": "douyin", "rating": 1, "review_id": "R-1"}});
    let ticket = app.post("/api/v1/tickets", &lead, review.clone()).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let id = ticket.body["id"].as_i64().unwrap();
    // duplicate-review (existing_ticket_id)
    problems.push(app.post("/api/v1/tickets", &lead, review).await);
    // reference (ticket_ids)
    problems.push(
        app.delete(&format!("/api/v1/orders/{order_id}"), &lead)
            .await,
    );
    // invalid-transition (current_state, allowed_next_states, allowed_actions)
    problems.push(
        app.post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &lead,
            json!({"outcome": "review_revised"}),
        )
        .await,
    );
    // batch-rejected (report: BatchReport)
    problems.push(
        app.post(
            "/api/v1/feeds/customers/batch",
            &admin,
            json!({"atomic": true, "items": [
                {"name": "A", "contacts": [{"kind": "phone", "value": "13900000001"}], "source": "online"},
                {"name": "", "contacts": [{"kind": "phone", "value": "13900000002"}], "source": "online"}
            ]}),
        )
        .await,
    );
    // bulk-rejected (report: BulkTicketReport)
    problems.push(
        app.post(
            "/api/v1/tickets/bulk",
            &lead,
            json!({"ticket_ids": [id, 987_654], "action": {"kind": "close", "reason": "invalid"}}),
        )
        .await,
    );
    // import-rejected (report: ImportReport)
    problems.push(
        app.post_csv(
            "/api/v1/customers/import?file=customers&atomic=true",
            &lead,
            "name,phone\nFresh,13800000001\nBad,1\n",
        )
        .await,
    );
    // validation (errors)
    problems.push(
        app.post(
            "/api/v1/customers",
            &lead,
            json!({"name": "X", "contacts": [{"kind": "email", "value": "13800138000"}], "source": "online"}),
        )
        .await,
    );
    let mut kinds = Vec::new();
    for problem in &problems {
        kinds.push(problem.problem_type());
        conforms("Problem", &problem.body, &["Problem"]).unwrap();
    }
    assert_eq!(
        kinds,
        [
            "duplicate-contact",
            "duplicate-review",
            "reference",
            "invalid-transition",
            "batch-rejected",
            "bulk-rejected",
            "import-rejected",
            "validation"
        ]
    );
}

/// The phone pattern the document shows is the server's rule, not a guess: every spelling
/// the rule accepts (and the stored form it makes of it) matches the pattern, and what the
/// pattern refuses the rule refuses too.
#[test]
fn the_documented_phone_pattern_agrees_with_the_rule() {
    use aftercare::customers::contacts::{ContactKind, normalize};
    for raw in [
        "13800138000",
        "138 0013 8000",
        "+86 138-0013-8000",
        "0086 13800138000",
        "(138)00138000",
        "+1 (415) 555-0100",
        "021-6123 4567",
        "１３８００１３８０００",
        "＋８６ １３８－００１３－８０００",
        "138\u{3000}0013\u{3000}8000",
        "（021）6123\u{00A0}4567",
        "+852 9123 4567",
        "400-800-8888",
        " 13800138000 ",
    ] {
        let stored = normalize(ContactKind::Phone, raw).expect(raw);
        for value in [raw, stored.as_str()] {
            conforms(
                "PhoneHandle",
                &serde_json::json!({"kind": "phone", "value": value}),
                &[],
            )
            .unwrap();
        }
    }
    for raw in [
        "phone: 138",
        "1+3800138000",
        "138/0013/8000",
        "tel 13800138000",
    ] {
        assert!(normalize(ContactKind::Phone, raw).is_err(), "{raw}");
        let handle = serde_json::json!({"kind": "phone", "value": raw});
        assert!(conforms("PhoneHandle", &handle, &[]).is_err(), "{raw}");
    }
}

/// Property-level examples are valid too (each against its own property's schema).
#[test]
fn every_property_example_conforms_to_its_property() {
    fn walk(node: &Value, path: &str, found: &mut Vec<(String, Value, Value)>) {
        match node {
            Value::Object(map) => {
                if let Some(example) = map.get("example") {
                    let mut schema = node.clone();
                    schema.as_object_mut().unwrap().remove("example");
                    found.push((path.to_owned(), schema, example.clone()));
                }
                for (key, child) in map {
                    if key != "example" && key != "examples" {
                        walk(child, &format!("{path}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    walk(
        &doc["components"]["schemas"],
        "#/components/schemas",
        &mut found,
    );
    assert!(found.len() >= 20, "only {} examples", found.len());
    for (path, schema, example) in found {
        let mut root = schema;
        root["components"] = doc["components"].clone();
        let validator = jsonschema::validator_for(&root).expect("documented schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{path}: example {example} {errors:?}");
    }
}

/// The contract generated clients rely on cannot regress: plain summaries, every status the
/// server's shared layers produce declared where they apply, `security: []` where no
/// credentials are needed, and each error response's examples of its own status.
#[test]
fn every_operation_declares_what_the_server_really_answers() {
    let doc: Value = serde_json::from_str(&aftercare::openapi::document()).unwrap();
    assert_eq!(doc["servers"][0]["url"], "/");
    assert!(doc["info"]["license"]["identifier"].is_string());
    let mut wrong = Vec::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let summary = op["summary"].as_str().unwrap_or_default();
            if summary.is_empty() || summary.contains(['`', '*']) || summary.ends_with('.') {
                wrong.push(format!(
                    "{name}: summary {summary:?} is not one plain sentence"
                ));
            }
            let Some(security) = op["security"].as_array() else {
                wrong.push(format!("{name}: no security (use [] for none)"));
                continue;
            };
            let responses = op["responses"].as_object().unwrap();
            let mut needs: Vec<&str> = Vec::new();
            if !security.is_empty() {
                needs.push("401");
            }
            if path.contains('{') {
                needs.extend(["404", "422"]);
            }
            if op.get("requestBody").is_some() {
                needs.extend(["400", "413", "415", "422"]);
            }
            if method == "post" && path != "/api/v1/auth/login" {
                needs.extend(["409", "422"]);
            }
            for status in needs {
                if !responses.contains_key(status) {
                    wrong.push(format!("{name}: {status} not declared"));
                }
            }
            for (status, response) in responses {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let examples = &response["content"]["application/problem+json"]["examples"];
                let Some(examples) = examples.as_object().filter(|e| !e.is_empty()) else {
                    wrong.push(format!("{name}: {status} has no example"));
                    continue;
                };
                for (label, example) in examples {
                    let value = &example["value"];
                    if value["status"] != status.parse::<u64>().unwrap() {
                        wrong.push(format!(
                            "{name}: {status} example {label} says {}",
                            value["status"]
                        ));
                    }
                    let kind = value["type"].as_str().unwrap_or_default();
                    if kind.strip_prefix("urn:aftercare:problem:") != Some(label.as_str()) {
                        wrong.push(format!("{name}: {status} example {label} has type {kind}"));
                    }
                }
            }
        }
    }
    assert!(operations > 50, "only {operations} operations");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
