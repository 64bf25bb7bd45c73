//! Bulk owner handover (staff leaving): every open record of one owner moves to another, each
//! with its own version bump and audit event, in batches so no transaction grows unbounded.

use crm_domain::UserId;
use crm_domain::audit::{AuditAction, Change};
use crm_domain::deal::DealStatus;
use crm_domain::lead::LeadStatus;
use crm_domain::owner::ReassignCounts;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::audit::NewAuditRow;
use crate::schema::{audit_events, customers, deals, leads};
use crate::types::{Id, Ts, now};
use crate::{Context, Store, StoreError, write_tx};

const BATCH: i64 = 200;

/// Moves the open records of `$table` owned by `from` to `to`, a batch per transaction, and
/// evaluates to how many moved. `$open` narrows the rows (e.g. deals still open).
macro_rules! reassign_all {
    ($conn:expr, $ctx:expr, $table:ident, $entity:literal, $from:expr, $to:expr, $reason:expr, |$q:ident| $open:expr) => {
        reassign_all!($conn, $ctx, $table, $entity, $from, $to, $reason, |$q| $open, |_c, _id| {})
    };
    // `$moved` runs in the transaction after each record that moved (`$mc` the connection,
    // `$mid` its id): deals keep their rollups there.
    ($conn:expr, $ctx:expr, $table:ident, $entity:literal, $from:expr, $to:expr, $reason:expr, |$q:ident| $open:expr,
     |$mc:ident, $mid:ident| $moved:block) => {{
        let (ctx, from, to, reason): (&Context, UserId, UserId, &str) = ($ctx, $from, $to, $reason);
        let mut moved: u64 = 0;
        loop {
            let at = now();
            let done: u64 = write_tx!($conn, |c| {
                let $q = $table::table
                    .filter($table::workspace_id.eq(Id(ctx.workspace_id.0)))
                    .filter($table::owner_id.eq(Id(from.0)))
                    .filter($table::deleted_at.is_null())
                    .select(($table::id, $table::version))
                    .limit(BATCH)
                    .into_boxed();
                let batch: Vec<(Id, i64)> = $open.load(c).await?;
                for (id, version) in &batch {
                    let updated =
                        diesel::update($table::table.filter($table::id.eq(*id)).filter($table::version.eq(*version)))
                            .set((
                                $table::owner_id.eq(Some(Id(to.0))),
                                $table::version.eq(version + 1),
                                $table::updated_at.eq(Ts(at)),
                            ))
                            .execute(c)
                            .await?;
                    if updated > 0 {
                        let ($mc, $mid) = (&mut *c, *id);
                        $moved
                    }
                    let change = Change { field: "owner_id".into(), from: json!(from.0), to: json!(to.0) };
                    let audit = NewAuditRow::new(ctx, $entity, id.0, AuditAction::Reassign, &[change], at)
                        .with_reason(Some(reason.to_owned()));
                    diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
                }
                Ok(batch.len() as u64)
            })?;
            moved += done;
            if done < BATCH as u64 {
                break moved;
            }
        }
    }};
}

/// Hands every open record of `from` to `to` (an active user: the caller checks), recording
/// `reason` in each record's history.
pub async fn reassign_all(
    store: &Store,
    ctx: &Context,
    from: UserId,
    to: UserId,
    reason: &str,
) -> Result<ReassignCounts, StoreError> {
    let mut conn = store.write().await?;
    let mut errors = crm_domain::ValidationErrors::default();
    crate::refs::check_user(&mut conn, ctx.workspace_id, Some(to), "to_owner_id", &mut errors).await?;
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }
    let customers = reassign_all!(&mut conn, ctx, customers, "customer", from, to, reason, |q| q);
    let open_leads = [LeadStatus::New, LeadStatus::Contacted, LeadStatus::Qualified].map(LeadStatus::as_str);
    let leads =
        reassign_all!(&mut conn, ctx, leads, "lead", from, to, reason, |q| q.filter(leads::status.eq_any(open_leads)));
    let (ws, from_key) = (Id(ctx.workspace_id.0), Some(from.0.hyphenated().to_string()));
    let deals = reassign_all!(
        &mut conn,
        ctx,
        deals,
        "deal",
        from,
        to,
        reason,
        |q| q.filter(deals::status.eq(DealStatus::Open.as_str())),
        |c, id| {
            // The deal (locked by its update) leaves the old owner's rollups for the new one's.
            crate::deals::add_rollup_of_row!(c, ws, id, -1, from_key.clone());
            crate::deals::add_rollup_of_row!(c, ws, id, 1, None);
        }
    );
    Ok(ReassignCounts { customers, leads, deals })
}
