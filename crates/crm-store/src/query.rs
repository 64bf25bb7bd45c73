//! Pieces every list query shares: the keyset condition and the `LIKE` pattern for `q`; the
//! bind parameters and placeholders of hand-written aggregate SQL; [`Cached`] updates; and
//! [`Rendered`] selections.

use std::marker::PhantomData;
use std::sync::OnceLock;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::dsl::AsSelect;
use diesel::expression::{
    AppearsOnTable, Expression, Selectable, SelectableExpression, SelectableHelper, ValidGrouping,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryBuilder, QueryFragment, QueryId, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;

use crate::types::{Id, SqlTs, SqlUuid, Ts};

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

/// An UPDATE whose SQL text is the same on every call, kept in the connection's statement
/// cache like any other query. diesel never caches an UPDATE, because a changeset may skip
/// `None` fields and so vary its SQL; without the cache each call is parsed and planned again,
/// one round trip more on PostgreSQL. Only for statements without skipped fields or `IN`
/// lists: the cache is keyed by the SQL text, so a varying one would grow it (never be wrong).
pub(crate) struct Cached<Q>(pub Q);

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // Keyed by its SQL text, as diesel keys every query built at run time.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

/// A row type's `as_select()` whose SQL text is rendered once per process and backend, then
/// pushed as one string. diesel quotes each column name through a new `String`, and
/// diesel-async renders a query's SQL on every call, even from its statement cache: for a
/// customer lookup on PostgreSQL that was 16–19 % of the throughput. The SQL and the
/// statement-cache key (the selection's type) stay what they were. Only for a SELECT's column
/// list: the text carries no binds, and SQLite's RETURNING leaves out the table names it has.
pub(crate) struct Rendered<S> {
    selection: S,
    text: &'static RenderedSlots,
}

/// The text of `T::as_select()` for each backend, kept in a `static`; typed by the row, so a
/// text is never pushed for another selection.
pub(crate) struct RenderedSelection<T> {
    slots: RenderedSlots,
    row: PhantomData<fn() -> T>,
}

pub(crate) struct RenderedSlots {
    pg: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl<T> RenderedSelection<T> {
    pub(crate) const fn new() -> RenderedSelection<T> {
        RenderedSelection { slots: RenderedSlots { pg: OnceLock::new(), sqlite: OnceLock::new() }, row: PhantomData }
    }

    /// `T::as_select()`, pushed as the text rendered the first time.
    pub(crate) fn as_select<DB: Backend>(&'static self) -> Rendered<AsSelect<T, DB>>
    where
        T: Selectable<DB>,
    {
        Rendered { selection: T::as_select(), text: &self.slots }
    }
}

/// The backends [`RenderedSlots`] has a slot for.
pub(crate) trait RenderedIn: Backend + Default {
    fn slot(slots: &RenderedSlots) -> &OnceLock<String>;
}

impl RenderedIn for Pg {
    fn slot(slots: &RenderedSlots) -> &OnceLock<String> {
        &slots.pg
    }
}

impl RenderedIn for Sqlite {
    fn slot(slots: &RenderedSlots) -> &OnceLock<String> {
        &slots.sqlite
    }
}

impl<S, DB> QueryFragment<DB> for Rendered<S>
where
    S: QueryFragment<DB>,
    DB: RenderedIn,
    DB::QueryBuilder: Default,
{
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let slot = DB::slot(self.text);
        let sql = match slot.get() {
            Some(sql) => sql,
            None => {
                let mut builder = DB::QueryBuilder::default();
                self.selection.to_sql(&mut builder, &DB::default())?;
                slot.get_or_init(|| builder.finish())
            }
        };
        pass.push_sql(sql);
        Ok(())
    }
}

impl<S: QueryId> QueryId for Rendered<S> {
    type QueryId = S::QueryId;
    const HAS_STATIC_QUERY_ID: bool = S::HAS_STATIC_QUERY_ID;
}

impl<S: Expression> Expression for Rendered<S> {
    type SqlType = S::SqlType;
}

impl<S: ValidGrouping<G>, G> ValidGrouping<G> for Rendered<S> {
    type IsAggregate = S::IsAggregate;
}

impl<S: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Rendered<S> {}

impl<S: SelectableExpression<QS>, QS> SelectableExpression<QS> for Rendered<S> {}

/// A bind parameter of a hand-written aggregate query.
pub(crate) enum Param {
    Id(Id),
    Text(String),
    Ts(Ts),
    Int(i64),
}

pub(crate) fn bind_all<'f, DB>(
    mut query: BoxedSqlQuery<'f, DB, SqlQuery>,
    params: &[Param],
) -> BoxedSqlQuery<'f, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<SqlUuid>
        + diesel::sql_types::HasSqlType<SqlTs>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>,
    Id: diesel::serialize::ToSql<SqlUuid, DB>,
    Ts: diesel::serialize::ToSql<SqlTs, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    for param in params {
        query = match param {
            Param::Id(id) => query.bind::<SqlUuid, _>(*id),
            Param::Text(t) => query.bind::<Text, _>(t.clone()),
            Param::Ts(t) => query.bind::<SqlTs, _>(*t),
            Param::Int(n) => query.bind::<BigInt, _>(*n),
        };
    }
    query
}

/// `?` placeholders as the backend wants them: unchanged for SQLite, `$1…` for PostgreSQL.
pub(crate) fn placeholders(sql: &str, postgres: bool) -> String {
    if !postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// A case-insensitive substring pattern for `LIKE … ESCAPE '\'`, with the wildcards in `q`
/// taken literally.
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::customers::CustomerRow;
    use crate::schema::customers;

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(super::like_pattern("50%_A\\b"), "%50\\%\\_a\\\\b%");
    }

    /// The text pushed is the text diesel renders, on each backend, rendered or read back.
    #[test]
    fn a_rendered_selection_is_the_sql_diesel_renders() {
        static COLUMNS: RenderedSelection<CustomerRow> = RenderedSelection::new();
        macro_rules! both {
            ($db:ty) => {{
                let by_id = customers::table.filter(customers::id.eq(crate::types::Id(uuid::Uuid::nil())));
                let plain = diesel::debug_query::<$db, _>(&by_id.select(CustomerRow::as_select())).to_string();
                (plain, diesel::debug_query::<$db, _>(&by_id.select(COLUMNS.as_select())).to_string())
            }};
        }
        for _ in 0..2 {
            let (plain, rendered) = both!(Pg);
            assert_eq!(rendered, plain);
            assert!(plain.contains(r#""customers"."custom_fields""#), "{plain}");
            let (plain, rendered) = both!(Sqlite);
            assert_eq!(rendered, plain);
            assert!(plain.contains("`customers`.`custom_fields`"), "{plain}");
        }
    }
}
