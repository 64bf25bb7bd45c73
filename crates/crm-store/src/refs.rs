//! Checks that ids a client sends (owners, customers, deals, leads, segments) name live records of the
//! caller's workspace, reported as field errors so the client learns which id is wrong.

use crm_domain::{CustomerId, DealId, LeadId, SegmentId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::schema::{customers, deals, leads, segments, users};
use crate::types::Id;
use crate::{Conn, StoreError, per_backend};

/// Adds `not_found` on `$field` unless `$id` (when given) is a live row of `$table` in `$ws`.
macro_rules! check_live {
    ($conn:expr, $table:ident, $ws:expr, $id:expr, $field:expr, $errors:expr, $message:literal) => {{
        if let Some(id) = $id {
            let found: i64 = per_backend!($conn, |c| $table::table
                .filter($table::workspace_id.eq(Id($ws.0)))
                .filter($table::id.eq(Id(id.0)))
                .filter($table::deleted_at.is_null())
                .count()
                .get_result(c)
                .await)?;
            if found == 0 {
                $errors.add($field, "not_found", $message);
            }
        }
        Ok(())
    }};
}

pub async fn check_user(
    conn: &mut Conn,
    ws: WorkspaceId,
    user: Option<UserId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    check_live!(conn, users, ws, user, field, errors, "no such user in this workspace")
}

pub async fn check_customer(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: Option<CustomerId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    check_live!(conn, customers, ws, customer, field, errors, "no such customer in this workspace")
}

pub async fn check_deal(
    conn: &mut Conn,
    ws: WorkspaceId,
    deal: Option<DealId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    check_live!(conn, deals, ws, deal, field, errors, "no such deal in this workspace")
}

pub async fn check_lead(
    conn: &mut Conn,
    ws: WorkspaceId,
    lead: Option<LeadId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    check_live!(conn, leads, ws, lead, field, errors, "no such lead in this workspace")
}

pub async fn check_segment(
    conn: &mut Conn,
    ws: WorkspaceId,
    segment: Option<SegmentId>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Result<(), StoreError> {
    check_live!(conn, segments, ws, segment, field, errors, "no such segment in this workspace")
}
