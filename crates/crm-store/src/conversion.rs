//! Lead conversion in one transaction: the customer (made from the lead, or an existing one
//! linked), the optional deal, the lead marked `converted` with both ids, and the lead's score
//! kept on the customer for segments. Either all of it happens or none.

use crm_domain::audit::{AuditAction, Change};
use crm_domain::conversion::{Conversion, ConvertLead, customer_from, refusal};
use crm_domain::customer::Customer;
use crm_domain::deal::Deal;
use crm_domain::lead::LeadStatus;
use crm_domain::{CustomerId, LeadId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::audit::NewAuditRow;
use crate::customers::{CustomerRow, insert_customer};
use crate::deals::{DealRow, insert_deal};
use crate::leads::LeadRow;
use crate::schema::{audit_events, customer_stats, customers, leads};
use crate::types::{Id, Ts, now};
use crate::{
    Conn, Context, Store, StoreError, customers as customer_store, deals, leads as lead_store, per_backend, write_tx,
};

/// The live customer of the workspace with this email, the oldest if several.
async fn customer_with_email(conn: &mut Conn, ws: WorkspaceId, email: &str) -> Result<Option<CustomerId>, StoreError> {
    let found: Option<Id> = per_backend!(conn, |c| customers::table
        .filter(customers::workspace_id.eq(Id(ws.0)))
        .filter(customers::email.eq(email))
        .filter(customers::deleted_at.is_null())
        .order((customers::created_at.asc(), customers::id.asc()))
        .select(customers::id)
        .first(c)
        .await
        .optional())?;
    Ok(found.map(|id| CustomerId(id.0)))
}

pub async fn convert(
    store: &Store,
    ctx: &Context,
    id: LeadId,
    if_match: Option<i64>,
    request: ConvertLead,
) -> Result<Conversion, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let lead = lead_store::fetch(&mut conn, ws, id, false).await?;
    if if_match.is_some_and(|v| v != lead.version) {
        return Err(StoreError::VersionMismatch { current: lead.version });
    }
    if let Some((code, detail)) = refusal(lead.data.status) {
        return Err(StoreError::conflict(code, detail));
    }

    let linked = match request.customer_id {
        Some(customer) => {
            let mut errors = ValidationErrors::default();
            crate::refs::check_customer(&mut conn, ws, Some(customer), "customer_id", &mut errors).await?;
            errors.into_result(Some(customer)).map_err(StoreError::Invalid)?
        }
        None => match &lead.data.email {
            Some(email) => customer_with_email(&mut conn, ws, email).await?,
            None => None,
        },
    };
    let new_customer = match linked {
        Some(_) => None,
        None => {
            let input = customer_from(&lead.data, request.deal.is_some()).validate().map_err(StoreError::Invalid)?;
            Some(customer_store::prepare(&mut conn, ctx, &input).await?)
        }
    };
    let (customer_id, customer_name) = match (&new_customer, linked) {
        (Some(new), _) => (new.id, lead.display_name.clone()),
        (None, Some(existing)) => (existing, customer_store::fetch(&mut conn, ws, existing, false).await?.display_name),
        (None, None) => return Err(StoreError::Corrupt("conversion without a customer".into())),
    };
    let deal = match request.deal {
        Some(deal) => {
            let input =
                deal.into_input(customer_id, &customer_name, &lead.data).validate().map_err(StoreError::Invalid)?;
            Some(deals::prepare_create(&mut conn, ctx, input, linked.is_some()).await?)
        }
        None => None,
    };

    let at = now();
    let deal_id = deal.as_ref().map(|d| d.id);
    let changes = [
        Change { field: "status".into(), from: json!(lead.data.status.as_str()), to: json!("converted") },
        Change { field: "converted_customer_id".into(), from: json!(null), to: json!(customer_id) },
        Change { field: "converted_deal_id".into(), from: json!(null), to: json!(deal_id) },
    ];
    let audit = NewAuditRow::new(ctx, lead_store::ENTITY, id.0, AuditAction::Update, &changes, at);
    let (lead_row, customer_row, deal_row): (Option<LeadRow>, Option<CustomerRow>, Option<DealRow>) =
        write_tx!(&mut conn, |c| {
            let customer_row = match &new_customer {
                Some(new) => Some(insert_customer!(c, new)),
                None => None,
            };
            let deal_row = match &deal {
                Some(prepared) => Some(insert_deal!(c, prepared)),
                None => None,
            };
            let lead_row = diesel::update(
                leads::table
                    .filter(leads::workspace_id.eq(Id(ws.0)))
                    .filter(leads::id.eq(Id(id.0)))
                    .filter(leads::version.eq(lead.version))
                    .filter(leads::deleted_at.is_null()),
            )
            .set((
                leads::status.eq(LeadStatus::Converted.as_str()),
                leads::converted_customer_id.eq(Some(Id(customer_id.0))),
                leads::converted_deal_id.eq(deal_id.map(|d| Id(d.0))),
                leads::converted_at.eq(Some(Ts(at))),
                leads::version.eq(lead.version + 1),
                leads::updated_at.eq(Ts(at)),
            ))
            .returning(LeadRow::as_returning())
            .get_result(c)
            .await
            .optional()?;
            if lead_row.is_none() {
                // Changed since we read it: undo everything (the error rolls the transaction back).
                return Err(StoreError::VersionMismatch { current: lead.version + 1 });
            }
            diesel::insert_into(customer_stats::table)
                .values((
                    customer_stats::customer_id.eq(Id(customer_id.0)),
                    customer_stats::workspace_id.eq(Id(ws.0)),
                    customer_stats::lead_score.eq(Some(lead.score)),
                ))
                .on_conflict(customer_stats::customer_id)
                .do_update()
                .set(customer_stats::lead_score.eq(Some(lead.score)))
                .execute(c)
                .await?;
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
            Ok((lead_row, customer_row, deal_row))
        })?;
    let lead = match lead_row {
        Some(row) => row.try_into()?,
        None => return Err(StoreError::VersionMismatch { current: lead.version + 1 }),
    };
    let customer: Customer = match customer_row {
        Some(row) => row.try_into()?,
        None => customer_store::fetch(&mut conn, ws, customer_id, false).await?,
    };
    let deal: Option<Deal> = deal_row.map(Deal::try_from).transpose()?;
    Ok(Conversion { lead, customer, customer_created: new_customer.is_some(), deal })
}
