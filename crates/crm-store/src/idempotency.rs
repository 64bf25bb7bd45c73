//! Idempotency keys: the first response to a key is stored and replayed for retries. Every
//! audit event a keyed request writes carries the key, so a retry whose first attempt committed
//! its create but died before storing the response finds the record instead of making another.

use chrono::Duration;
use crm_domain::WorkspaceId;
use crm_domain::audit::AuditAction;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::schema::audit_events;
use crate::schema::idempotency_keys as keys;
use crate::types::{Id, Json, Ts, now};
use crate::{Store, StoreError, per_backend};

/// A request still "in progress" after this long was cut off by a crash; a retry takes it over.
const ABANDONED_AFTER: Duration = Duration::seconds(60);

/// A response kept for replay.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// What a request carrying a key may do.
#[derive(Debug)]
pub enum Claim {
    /// First use: go ahead, then `complete` or `release`.
    Fresh,
    /// The first request with this key has not finished.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The first request finished: replay its response.
    Done(StoredResponse),
    /// The first request committed this write (`action`: a create, or a purchase's refund) but
    /// its response was never stored: rebuild it.
    Committed { entity_type: String, entity_id: Uuid, action: String },
}

/// A request under an Idempotency-Key: who sent it, the key, and the hash of the request
/// (method, path, query, body) that a reuse of the key must match.
///
/// A route may record the key in its write's own transaction instead of around it
/// ([`claim_in_write`] first, [`complete_in_write`] last): one commit instead of three, and no
/// moment at which the write is committed without its answer. A concurrent request with the
/// same key waits at the claim for that transaction, then finds the key taken and does nothing.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub caller: String,
    pub key: String,
    pub request_hash: String,
}

/// The `Conflict` code that rolls a keyed write back when its key was taken first.
const KEY_TAKEN: &str = "idempotency_key_taken";

#[derive(Insertable)]
#[diesel(table_name = keys, treat_none_as_default_value = false)]
pub(crate) struct NewKey<'a> {
    workspace_id: Id,
    caller: &'a str,
    key: &'a str,
    request_hash: &'a str,
    created_at: Ts,
}

impl<'a> NewKey<'a> {
    pub(crate) fn new(ws: WorkspaceId, request: &'a KeyedRequest) -> Self {
        NewKey {
            workspace_id: Id(ws.0),
            caller: &request.caller,
            key: &request.key,
            request_hash: &request.request_hash,
            created_at: Ts(now()),
        }
    }
}

/// Inside a `write_tx!` body, before the write: claims the [`KeyedRequest`]'s key, or ends the
/// body with an error that rolls the transaction back when the key exists (see
/// [`unless_taken`]). Each statement is atomic on its own, so only one request wins the insert.
macro_rules! claim_in_write {
    ($c:ident, $ws:expr, $request:expr) => {{
        let inserted =
            $crate::idempotency::claiming!(&$crate::idempotency::NewKey::new($ws, $request)).execute($c).await?;
        if inserted == 0 {
            return Err($crate::idempotency::key_taken());
        }
    }};
}
pub(crate) use claim_in_write;

/// The statement that claims a key: inserts it unless it exists (then 0 rows).
macro_rules! claiming {
    ($new:expr) => {
        diesel::insert_into($crate::schema::idempotency_keys::table).values($new).on_conflict_do_nothing()
    };
}
pub(crate) use claiming;

/// Inside the same `write_tx!` body, after the write: stores the response for replay.
macro_rules! complete_in_write {
    ($c:ident, $ws:expr, $request:expr, $response:expr) => {{
        $crate::idempotency::completion!($ws, $request, $response).execute($c).await?;
    }};
}
pub(crate) use complete_in_write;

/// The statement that stores a claimed key's response (the same SQL every time, so cached).
macro_rules! completion {
    ($ws:expr, $request:expr, $response:expr) => {{
        use $crate::schema::idempotency_keys as keys;
        let (ws, request, response): (
            crm_domain::WorkspaceId,
            &$crate::idempotency::KeyedRequest,
            &$crate::idempotency::StoredResponse,
        ) = ($ws, $request, $response);
        $crate::query::Cached(
            diesel::update(
                keys::table
                    .filter(keys::workspace_id.eq($crate::types::Id(ws.0)))
                    .filter(keys::caller.eq(&request.caller))
                    .filter(keys::key.eq(&request.key)),
            )
            .set((
                keys::status_code.eq(Some(i32::from(response.status))),
                keys::response_body.eq(Some(&response.body)),
                keys::response_headers.eq(Some($crate::types::Json::of(&response.headers))),
            )),
        )
    }};
}
pub(crate) use completion;

pub(crate) fn key_taken() -> StoreError {
    StoreError::conflict(KEY_TAKEN, "a request with this idempotency key came first")
}

/// A keyed write's outcome: `None` when its key was taken (nothing was written).
pub(crate) fn unless_taken<T>(written: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match written {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::Conflict { code: KEY_TAKEN, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The key as stamped on audit events (`Context::idempotency_key`): unique per (caller, key).
/// Callers and keys are visible ASCII, so the unit separator cannot occur in either.
pub fn identity(caller: &str, key: &str) -> String {
    format!("{caller}\u{1f}{key}")
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = keys)]
struct KeyRow {
    request_hash: String,
    status_code: Option<i32>,
    response_body: Option<String>,
    response_headers: Option<Json>,
    created_at: Ts,
}

pub async fn claim(store: &Store, ws: WorkspaceId, request: &KeyedRequest) -> Result<Claim, StoreError> {
    let new = NewKey::new(ws, request);
    let at = new.created_at.0;
    let (caller, key) = (request.caller.as_str(), request.key.as_str());
    let mut conn = store.write().await?;
    // Each statement is atomic on its own, so the common case (a new key) costs one round trip.
    let inserted = per_backend!(&mut conn, |c| claiming!(&new).execute(c).await)?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let row: KeyRow = per_backend!(&mut conn, |c| keys::table
        .filter(keys::workspace_id.eq(Id(ws.0)))
        .filter(keys::caller.eq(caller))
        .filter(keys::key.eq(key))
        .select(KeyRow::as_select())
        .get_result(c)
        .await)?;
    if row.request_hash != request.request_hash {
        return Ok(Claim::Mismatch);
    }
    if row.status_code.is_none()
        && let Some((entity_type, entity_id, action)) = committed_write(&mut conn, ws, &identity(caller, key)).await?
    {
        return Ok(Claim::Committed { entity_type, entity_id, action });
    }
    match row.status_code {
        Some(status) => {
            let headers: Vec<(String, String)> = match row.response_headers {
                Some(json) => json.decode()?,
                None => Vec::new(),
            };
            Ok(Claim::Done(StoredResponse {
                status: u16::try_from(status).unwrap_or(200),
                body: row.response_body.unwrap_or_default(),
                headers,
            }))
        }
        None if row.created_at.0 < at - ABANDONED_AFTER => {
            // Take over only if nobody else did in the meantime.
            let taken = per_backend!(&mut conn, |c| diesel::update(
                keys::table
                    .filter(keys::workspace_id.eq(Id(ws.0)))
                    .filter(keys::caller.eq(caller))
                    .filter(keys::key.eq(key))
                    .filter(keys::status_code.is_null())
                    .filter(keys::created_at.eq(row.created_at))
            )
            .set(keys::created_at.eq(Ts(at)))
            .execute(c)
            .await)?;
            Ok(if taken == 1 { Claim::Fresh } else { Claim::InProgress })
        }
        None => Ok(Claim::InProgress),
    }
}

/// The first record created, or the purchase refunded, under the key, if its transaction
/// committed: `(entity_type, entity_id, action)`. These are the writes a retry must never
/// repeat and whose answer can be rebuilt.
async fn committed_write(
    conn: &mut crate::Conn,
    ws: WorkspaceId,
    identity: &str,
) -> Result<Option<(String, Uuid, String)>, StoreError> {
    // Normally one row; a request creating several records is answered with its first one.
    let rows: Vec<(String, Id, String)> = per_backend!(conn, |c| audit_events::table
        .filter(audit_events::workspace_id.eq(Id(ws.0)))
        .filter(audit_events::idempotency_key.eq(identity))
        .filter(audit_events::action.eq_any([AuditAction::Create.as_str(), AuditAction::Refund.as_str()]))
        .order(audit_events::id.asc())
        .select((audit_events::entity_type, audit_events::entity_id, audit_events::action))
        .load(c)
        .await)?;
    Ok(rows.into_iter().next().map(|(entity_type, id, action)| (entity_type, id.0, action)))
}

/// Stores the response to a claimed key.
pub async fn complete(
    store: &Store,
    ws: WorkspaceId,
    request: &KeyedRequest,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let mut conn = store.write().await?;
    per_backend!(&mut conn, |c| completion!(ws, request, response).execute(c).await)?;
    Ok(())
}

/// Forgets a claimed key whose request failed on our side, so the client may retry; unless its
/// write committed before the failure (a read after it failed): then the key stays, and the
/// retry is answered from that write instead of making it again.
pub async fn release(store: &Store, ws: WorkspaceId, request: &KeyedRequest) -> Result<(), StoreError> {
    let mut conn = store.write().await?;
    if committed_write(&mut conn, ws, &identity(&request.caller, &request.key)).await?.is_some() {
        return Ok(());
    }
    per_backend!(&mut conn, |c| diesel::delete(
        keys::table
            .filter(keys::workspace_id.eq(Id(ws.0)))
            .filter(keys::caller.eq(&request.caller))
            .filter(keys::key.eq(&request.key))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Deletes keys older than `max_age`; returns how many.
pub async fn purge(store: &Store, max_age: Duration) -> Result<usize, StoreError> {
    let cutoff = Ts(now() - max_age);
    let mut conn = store.write().await?;
    let n =
        per_backend!(&mut conn, |c| diesel::delete(keys::table.filter(keys::created_at.lt(cutoff))).execute(c).await)?;
    Ok(n)
}
