//! Refresh tokens: rotated on every use, grouped in families so that a reused (stolen)
//! token revokes every token descended from the same sign-in.

use chrono::{DateTime, Utc};
use crm_domain::user::User;
use crm_domain::{UserId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::schema::refresh_tokens;
use crate::types::{Id, Ts, now};
use crate::{Store, StoreError, per_backend, users, write_tx};

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
struct NewTokenRow<'a> {
    id: Id,
    workspace_id: Id,
    user_id: Id,
    family_id: Id,
    token_hash: &'a str,
    expires_at: Ts,
    created_at: Ts,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct TokenRow {
    workspace_id: Id,
    user_id: Id,
    family_id: Id,
    expires_at: Ts,
    used_at: Option<Ts>,
    revoked_at: Option<Ts>,
}

/// How a refresh attempt ended.
pub enum Rotation {
    /// The token was good: here is its user, and the new token is stored.
    Rotated(User),
    /// The token was already used or revoked: its whole family is now revoked.
    Reused,
    /// Unknown, expired, or its user can no longer sign in.
    Invalid,
}

/// Stores the first refresh token of a new sign-in.
pub async fn start(store: &Store, user: &User, token_hash: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
    let row = NewTokenRow {
        id: Id(Uuid::now_v7()),
        workspace_id: Id(user.workspace_id.0),
        user_id: Id(user.id.0),
        family_id: Id(Uuid::now_v7()),
        token_hash,
        expires_at: Ts(expires_at),
        created_at: Ts(now()),
    };
    let mut conn = store.write().await?;
    per_backend!(&mut conn, |c| diesel::insert_into(refresh_tokens::table).values(&row).execute(c).await)?;
    Ok(())
}

/// Spends `old_hash` and stores `new_hash` in the same family, in one transaction.
pub async fn rotate(
    store: &Store,
    old_hash: &str,
    new_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    let at = now();
    let mut conn = store.write().await?;
    let outcome: Option<(WorkspaceId, UserId)> = write_tx!(&mut conn, |c| {
        let token: Option<TokenRow> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(old_hash))
            .select(TokenRow::as_select())
            .get_result(c)
            .await
            .optional()?;
        let Some(token) = token else { return Ok(None) };
        if token.used_at.is_some() || token.revoked_at.is_some() {
            diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(token.family_id)))
                .set(refresh_tokens::revoked_at.eq(Some(Ts(at))))
                .execute(c)
                .await?;
            return Ok(Some((WorkspaceId(Uuid::nil()), UserId(Uuid::nil()))));
        }
        if token.expires_at.0 <= at {
            return Ok(None);
        }
        diesel::update(refresh_tokens::table.filter(refresh_tokens::token_hash.eq(old_hash)))
            .set(refresh_tokens::used_at.eq(Some(Ts(at))))
            .execute(c)
            .await?;
        let row = NewTokenRow {
            id: Id(Uuid::now_v7()),
            workspace_id: token.workspace_id,
            user_id: token.user_id,
            family_id: token.family_id,
            token_hash: new_hash,
            expires_at: Ts(expires_at),
            created_at: Ts(at),
        };
        diesel::insert_into(refresh_tokens::table).values(&row).execute(c).await?;
        Ok(Some((WorkspaceId(token.workspace_id.0), UserId(token.user_id.0))))
    })?;
    match outcome {
        None => Ok(Rotation::Invalid),
        Some((_, user)) if user.0.is_nil() => Ok(Rotation::Reused),
        Some((ws, user)) => match users::get_fresh(store, ws, user).await {
            Ok(user) if user.active => Ok(Rotation::Rotated(user)),
            Ok(_) | Err(StoreError::NotFound) => Ok(Rotation::Invalid),
            Err(e) => Err(e),
        },
    }
}

/// Ends the sign-in a refresh token belongs to. Unknown tokens are ignored.
pub async fn revoke_family(store: &Store, token_hash: &str) -> Result<(), StoreError> {
    let at = now();
    let mut conn = store.write().await?;
    write_tx!(&mut conn, |c| {
        let family: Option<Id> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(refresh_tokens::family_id)
            .get_result(c)
            .await
            .optional()?;
        if let Some(family) = family {
            diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(family)))
                .filter(refresh_tokens::revoked_at.is_null())
                .set(refresh_tokens::revoked_at.eq(Some(Ts(at))))
                .execute(c)
                .await?;
        }
        Ok(())
    })
}
