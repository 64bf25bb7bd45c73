//! Soft delete and restore, written once for the records that have nothing more to do than
//! flip `deleted_at`: the checks before, and the guarded write with its audit event.

use crate::StoreError;

/// Whether deleting (`deleted`) or restoring a record that `is_deleted` at `version` has
/// anything to write: restoring a live record is a no-op (`false`), deleting a deleted one
/// is 404, and a stale `If-Match` is 412.
pub(crate) fn needed(is_deleted: bool, version: i64, if_match: Option<i64>, deleted: bool) -> Result<bool, StoreError> {
    if is_deleted == deleted {
        return if deleted { Err(StoreError::NotFound) } else { Ok(false) };
    }
    if if_match.is_some_and(|v| v != version) {
        return Err(StoreError::VersionMismatch { current: version });
    }
    Ok(true)
}

/// Sets or clears `deleted_at` of row `$id` of `$table` (a `crate::schema` table with
/// `workspace_id`, `id`, `version`, `deleted_at`, `updated_at`) if it is still at `$version`,
/// and records the delete or restore (its `deleted_at` before: `$was`) in the same
/// transaction; `then c => { … }` runs there too after a successful update. Evaluates to
/// `Result<Option<$row>, StoreError>`: `None` when the version moved on meanwhile.
macro_rules! set_deleted_at {
    ($conn:expr, $ctx:expr, $entity:expr, $table:ident, $row:ty, $id:expr, ($version:expr, $was:expr), $deleted:expr
        $(, then $c:ident => $then:block)?) => {{
        use $crate::schema::$table as t;
        let ctx: &$crate::Context = $ctx;
        let id: uuid::Uuid = $id;
        let version: i64 = $version;
        let was: Option<chrono::DateTime<chrono::Utc>> = $was;
        let at = $crate::types::now();
        let (action, deleted_at) = if $deleted {
            (crm_domain::audit::AuditAction::Delete, Some($crate::types::Ts(at)))
        } else {
            (crm_domain::audit::AuditAction::Restore, None)
        };
        let change = crm_domain::audit::Change {
            field: "deleted_at".into(),
            from: serde_json::to_value(was).unwrap_or_default(),
            to: serde_json::to_value(deleted_at.map(|t| t.0)).unwrap_or_default(),
        };
        let audit = $crate::audit::NewAuditRow::new(ctx, $entity, id, action, &[change], at);
        $crate::write_tx!($conn, |conn| {
            let row: Option<$row> = diesel::update(
                t::table
                    .filter(t::workspace_id.eq($crate::types::Id(ctx.workspace_id.0)))
                    .filter(t::id.eq($crate::types::Id(id)))
                    .filter(t::version.eq(version)),
            )
            .set((t::deleted_at.eq(deleted_at), t::version.eq(version + 1), t::updated_at.eq($crate::types::Ts(at))))
            .returning(<$row>::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if row.is_some() {
                diesel::insert_into($crate::schema::audit_events::table).values(&audit).execute(conn).await?;
                $(
                    let $c = &mut *conn;
                    $then
                )?
            }
            Ok(row)
        })
    }};
}
pub(crate) use set_deleted_at;
