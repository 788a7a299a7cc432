//! `/api/v1/audit`: reading the audit log (admins). HTTP only: the queries are in
//! [`super::store`].

use actix_web::{HttpResponse, web};

use super::{AuditEntry, ListAuditQuery, store};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::Query;
use crate::pagination::PageRequest;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit").route(web::get().to(list_audit)));
}

/// The shop's audit log, newest first (admins): who did what, when and from where.
///
/// Logins and failed logins, own password changes, staff accounts created, changed and
/// reset, API keys created and revoked, webhooks created, changed and deleted, customer
/// imports and exports (with their filters, never a search text) and bulk tagging. Filter
/// by `action` and by `actor` (`user:3`, `api_key:2`, `anonymous`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(ListAuditQuery),
    responses(
        (status = 200, body = crate::audit::AuditEntryPage),
        (status = 401),
        (status = 403),
        (status = 422),
    ))]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewAuditLog)?;
    let query = query.into_inner();
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let page = state
        .db
        .read(move |conn| {
            request.load_uncounted(
                conn,
                |conn, before, n| {
                    store::list(
                        conn,
                        caller.shop_id,
                        query.action,
                        query.actor.as_deref(),
                        before,
                        n,
                    )
                },
                |e: &AuditEntry| e.id,
                |_, rows| Ok(rows.iter().map(AuditEntry::view).collect()),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
