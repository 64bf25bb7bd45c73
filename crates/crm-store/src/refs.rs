//! Checks that ids a client sends (owners, customers, …) name live records of the caller's
//! workspace, reported as field errors so the client learns which id is wrong.

use crm_domain::{CustomerId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::schema::{customers, users};
use crate::types::Id;
use crate::{Conn, StoreError, per_backend};

/// Adds a `not_found` error on `field` unless `user` is an active user of the workspace.
pub async fn check_user(
    conn: &mut Conn,
    ws: WorkspaceId,
    user: Option<UserId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    let Some(user) = user else { return Ok(()) };
    let found: i64 = per_backend!(conn, |c| users::table
        .filter(users::workspace_id.eq(Id(ws.0)))
        .filter(users::id.eq(Id(user.0)))
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(c)
        .await)?;
    if found == 0 {
        errors.add(field, "not_found", "no such user in this workspace");
    }
    Ok(())
}

/// Adds a `not_found` error on `field` unless `customer` is a live customer of the workspace.
pub async fn check_customer(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: Option<CustomerId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    let Some(customer) = customer else { return Ok(()) };
    let found: i64 = per_backend!(conn, |c| customers::table
        .filter(customers::workspace_id.eq(Id(ws.0)))
        .filter(customers::id.eq(Id(customer.0)))
        .filter(customers::deleted_at.is_null())
        .count()
        .get_result(c)
        .await)?;
    if found == 0 {
        errors.add(field, "not_found", "no such customer in this workspace");
    }
    Ok(())
}
