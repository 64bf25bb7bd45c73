//! Keyset pagination: a page of results and the opaque cursor to the next one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = json!(null))]
    pub next_cursor: Option<String>,
}

/// Where the previous page stopped: the sort key of its last row and that row's id.
/// Bound to the sort order it was made for, so it cannot be replayed under another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a cursor this service made for `sort`.
    pub fn decode(raw: &str, sort: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
        // Cursors are not signed: an edited one must not carry an instant the databases can't store.
        let at_ok = cursor.at.is_none_or(|at| (1..=9999).contains(&at.year()));
        (cursor.sort == sort && at_ok).then_some(cursor)
    }
}

/// Splits the `limit + 1` rows a store query fetched into a page and its next cursor.
pub fn paginate<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| cursor_of(last).encode())
    } else {
        None
    };
    Page { data: rows, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor { sort: "-created_at".into(), at: Some(Utc::now()), id: Uuid::now_v7() }
    }

    #[test]
    fn cursor_round_trips_for_its_own_sort_only() {
        let c = cursor();
        let raw = c.encode();
        assert_eq!(Cursor::decode(&raw, "-created_at"), Some(c));
        assert_eq!(Cursor::decode(&raw, "created_at"), None);
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for raw in ["", "!!!", "eyJ4IjoxfQ", "bm90IGpzb24"] {
            assert_eq!(Cursor::decode(raw, "-created_at"), None, "{raw}");
        }
    }

    #[test]
    fn an_edited_cursor_cannot_carry_an_instant_out_of_range() {
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
        let c = Cursor { at: far.map(|t| t.and_utc()), ..cursor() };
        let json = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Cursor>(&json).ok(), Some(c.clone()), "chrono reads the year back");
        assert_eq!(Cursor::decode(&c.encode(), "-created_at"), None);
    }

    #[test]
    fn paginate_sets_cursor_only_when_more_rows_exist() {
        let page = paginate(vec![1, 2, 3], 2, |_| cursor());
        assert_eq!(page.data, vec![1, 2]);
        assert!(page.next_cursor.is_some());
        let last = paginate(vec![1, 2], 2, |_| cursor());
        assert_eq!(last.data, vec![1, 2]);
        assert!(last.next_cursor.is_none());
    }
}
