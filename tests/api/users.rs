//! Staff management and role enforcement.

use actix_web::http::StatusCode;
use aftercare::auth::roles::Role;
use aftercare::ids::ShopId;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

backend_tests!(
    agents_are_forbidden_everything_on_staff,
    leads_list_staff_but_cannot_manage_it,
    admin_creates_staff_and_duplicates_conflict,
    staff_list_pages_are_stable,
    the_last_admin_is_kept,
    two_admins_removing_each_other_at_once_leave_one,
    staff_see_themselves,
    new_accounts_and_resets_refuse_weak_passwords,
);

async fn agents_are_forbidden_everything_on_staff(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let lead_id = app.create_staff("lead@shop.example", Role::Lead);
    let new_user = json!({"email": "x@shop.example", "display_name": "X", "role": "admin", "password": "a long passphrase"});
    let checks = [
        app.get("/api/v1/users", &agent).await,
        app.post("/api/v1/users", &agent, new_user.clone()).await,
        app.get(&format!("/api/v1/users/{lead_id}"), &agent).await,
        app.patch(
            &format!("/api/v1/users/{lead_id}"),
            &agent,
            json!({"active": false}),
        )
        .await,
        app.put(
            &format!("/api/v1/users/{lead_id}/password"),
            &agent,
            json!({"new_password": "taken over account"}),
        )
        .await,
    ];
    for res in checks {
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.body);
        assert_eq!(res.problem_type(), "forbidden");
    }
    // Nothing was changed by the refused requests.
    let list = app.get("/api/v1/users", &admin).await;
    assert_eq!(list.body["total"], 3);
    assert_eq!(
        app.login("lead@shop.example", crate::support::PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn leads_list_staff_but_cannot_manage_it(app: TestApp) {
    app.admin().await;
    let (_, lead) = app.staff_token("lead@shop.example", Role::Lead).await;
    let agent_id = app.create_staff("agent@shop.example", Role::Agent);
    let list = app.get("/api/v1/users?role=agent", &lead).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["id"], agent_id);
    assert_eq!(
        app.get(&format!("/api/v1/users/{agent_id}"), &lead)
            .await
            .status,
        StatusCode::OK
    );
    let promote = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &lead,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promote.status, StatusCode::FORBIDDEN);
    let create = app
        .post(
            "/api/v1/users",
            &lead,
            json!({"email": "new@shop.example", "display_name": "N", "role": "agent", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
}

async fn admin_creates_staff_and_duplicates_conflict(app: TestApp) {
    let (_, admin) = app.admin().await;
    let res = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "Wang.Fang@Shop.example", "display_name": " 王芳 ", "role": "lead", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let id = res.body["id"].as_i64().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(res.body["email"], "wang.fang@shop.example");
    assert_eq!(res.body["display_name"], "王芳");
    assert_eq!(
        app.login("wang.fang@shop.example", "a long passphrase")
            .await
            .status,
        StatusCode::OK
    );

    let dup = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "WANG.FANG@shop.example", "display_name": "Other", "role": "agent", "password": "another passphrase"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem_type(), "duplicate");
    assert_eq!(app.get("/api/v1/users", &admin).await.body["total"], 2);
}

async fn staff_list_pages_are_stable(app: TestApp) {
    let (_, admin) = app.admin().await;
    for i in 0..5 {
        app.create_staff(&format!("agent{i}@shop.example"), Role::Agent);
    }
    let mut seen = Vec::new();
    let mut next = Some(String::new());
    let mut pages = 0;
    while let Some(cursor) = next {
        let path = if cursor.is_empty() {
            "/api/v1/users?limit=2".to_owned()
        } else {
            format!("/api/v1/users?limit=2&cursor={cursor}")
        };
        let page = app.get(&path, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        assert_eq!(page.body["total"], if pages == 0 { 6 } else { 7 });
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_i64().unwrap());
        }
        if pages == 0 {
            // A row added after the first page appears at the end, nothing is repeated.
            app.create_staff("late@shop.example", Role::Agent);
        }
        pages += 1;
        next = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "ids in order, without repeats");
    assert_eq!(seen.len(), 7);
    assert_eq!(pages, 4);

    let bad = app.get("/api/v1/users?cursor=not-a-cursor", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["cursor"]);
}

async fn the_last_admin_is_kept(app: TestApp) {
    let (admin_id, admin) = app.admin().await;
    for change in [json!({"active": false}), json!({"role": "lead"})] {
        let res = app
            .patch(&format!("/api/v1/users/{admin_id}"), &admin, change)
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(res.problem_type(), "last-admin");
    }
    let second = app.create_staff("second.admin@shop.example", Role::Admin);
    let res = app
        .patch(
            &format!("/api/v1/users/{admin_id}"),
            &admin,
            json!({"role": "lead"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["role"], "lead");
    assert!(second > admin_id);
}

/// A token for `id` as it stands now (its current role and token generation), without
/// a login: the race below resets the two admins between rounds.
fn token_for(app: &TestApp, id: i64) -> String {
    use aftercare::schema::users;
    let mut conn = app.state.db.conn().expect("connection");
    let generation: i64 = users::table
        .find(id)
        .select(users::token_generation)
        .first(&mut *conn)
        .expect("the admin exists");
    app.state
        .tokens
        .issue(id, ShopId(1), Role::Admin, generation, chrono::Utc::now())
        .expect("token")
        .0
}

/// Two admins remove each other (deactivate or demote) at the same moment, again and
/// again: every time exactly one change goes through and the shop keeps one active admin.
/// The loser hears `last-admin`, or, when the winner's change landed before the loser
/// was authenticated, 401 (its token revoked) or 403 (no longer an admin).
async fn two_admins_removing_each_other_at_once_leave_one(app: TestApp) {
    let (first, _) = app.admin().await;
    let second = app.create_staff("second.admin@shop.example", Role::Admin);
    let changes = [
        (json!({"active": false}), json!({"active": false})),
        (json!({"role": "lead"}), json!({"role": "agent"})),
        (json!({"active": false}), json!({"role": "lead"})),
    ];
    for round in 0..24 {
        app.sql(&format!(
            "UPDATE users SET active = TRUE, role = 'admin' WHERE id IN ({first}, {second})"
        ));
        let (first_token, second_token) = (token_for(&app, first), token_for(&app, second));
        let (change_one, change_two) = changes[round % changes.len()].clone();
        let (first_path, second_path) = (
            format!("/api/v1/users/{first}"),
            format!("/api/v1/users/{second}"),
        );
        let (one, two) = futures_util::join!(
            app.patch(&second_path, &first_token, change_one),
            app.patch(&first_path, &second_token, change_two),
        );
        let outcomes = [&one, &two];
        let won = outcomes
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(
            won, 1,
            "round {round}: exactly one change goes through, got {} {:?} and {} {:?}",
            one.status, one.body, two.status, two.body
        );
        for lost in outcomes.iter().filter(|r| r.status != StatusCode::OK) {
            let kind = lost.problem_type();
            assert!(
                ["last-admin", "unauthenticated", "forbidden"].contains(&kind.as_str()),
                "round {round}: the other is refused, got {} {kind}",
                lost.status
            );
        }
        let admins = app
            .get(
                "/api/v1/users?role=admin&active=true",
                &token_for(
                    &app,
                    if one.status == StatusCode::OK {
                        first
                    } else {
                        second
                    },
                ),
            )
            .await;
        assert_eq!(admins.body["total"], Value::from(1), "round {round}");
    }
}

async fn staff_see_themselves(app: TestApp) {
    let (id, agent) = app.staff_token("agent@shop.example", Role::Agent).await;
    let res = app.get(&format!("/api/v1/users/{id}"), &agent).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["id"], id);
    let (_, admin) = app.admin().await;
    let missing = app.get("/api/v1/users/999999", &admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.problem_type(), "not-found");
}

/// The review found `aaaaaaaaaa`, `1234567890`, `passwordpassword` and the email itself
/// accepted; wherever a password is set, they are refused with a reason naming the field.
async fn new_accounts_and_resets_refuse_weak_passwords(app: TestApp) {
    let (_, admin) = app.admin().await;
    for weak in [
        "aaaaaaaaaa",
        "1234567890",
        "passwordpassword",
        "li.na@shop.example",
        "LiNa123456",
    ] {
        let res = app
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": "li.na@shop.example", "display_name": "Li Na", "role": "agent", "password": weak}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}");
        assert_eq!(res.error_fields(), ["password"], "{weak:?}");
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("is too easy to guess"), "{message}");
    }
    assert_eq!(app.get("/api/v1/users", &admin).await.body["total"], 1);

    let agent_id = app.create_staff("agent@shop.example", Role::Agent);
    for weak in ["aaaaaaaaaa", "agent@shop.example", "qwertyuiop123"] {
        let res = app
            .put(
                &format!("/api/v1/users/{agent_id}/password"),
                &admin,
                json!({"new_password": weak}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}");
        assert_eq!(res.error_fields(), ["new_password"], "{weak:?}");
    }
    // Nothing was replaced: the old password still works.
    assert_eq!(
        app.login("agent@shop.example", crate::support::PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    // A reset of someone who does not exist is still a 404, not a verdict on the password.
    let missing = app
        .put(
            "/api/v1/users/999999/password",
            &admin,
            json!({"new_password": "aaaaaaaaaa"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
