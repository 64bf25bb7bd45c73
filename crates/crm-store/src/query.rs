//! Pieces every list query shares: the keyset condition and the `LIKE` pattern for `q`.

/// Orders a boxed query by `(column, id)` and, after a cursor `(t, u)`, keeps the rows beyond
/// it as `column >= t AND (column > t OR id > u)` (mirrored for descending order): both
/// conditions stay in the index scan, so a deep page costs what the first one does.
macro_rules! keyset {
    ($query:expr, $after:expr, $column:expr, $id:expr, $not_before:ident, $beyond:ident, $dir:ident) => {{
        let mut query = $query;
        if let Some((t, u)) = $after {
            query = query.filter($column.$not_before(t).and($column.$beyond(t).or($id.$beyond(u))));
        }
        query.order(($column.$dir(), $id.$dir()))
    }};
}
pub(crate) use keyset;

/// A case-insensitive substring pattern for `LIKE … ESCAPE '\'`, with the wildcards in `q`
/// taken literally.
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_are_literal() {
        assert_eq!(super::like_pattern("50%_A\\b"), "%50\\%\\_a\\\\b%");
    }
}
