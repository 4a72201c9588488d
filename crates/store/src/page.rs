//! Reading a page of rows, newest first, in one hand-off from SQLite's connection thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and passes every result row to the
//! reading task over a channel, waking it row by row; on a list page those wake-ups, not
//! SQLite, were most of the cost (crates/api/BENCHMARKS.md). On SQLite a page is therefore
//! selected as one JSON array (`json_group_array(json_object(...))` over the same query) and
//! decoded here. PostgreSQL streams rows over one socket, so there the query runs as is.

use sea_orm::sea_query::{SelectStatement, SqliteQueryBuilder};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable, ModelTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};
use serde::de::DeserializeOwned;

use crate::{Backend, Result, Store, StoreError};

/// Which page of a listing: the rows whose id is below `after` (the last id of the previous
/// page; none for the first page), newest first, at most `limit` of them.
#[derive(Clone, Copy, Debug)]
pub struct Paging<'a> {
    pub after: Option<&'a str>,
    pub limit: u64,
}

impl<'a> Paging<'a> {
    pub fn new(after: Option<&'a str>, limit: u64) -> Self {
        Self { after, limit }
    }
}

/// The page `paging` names of `select`, newest first ([`newest_first`]).
pub(crate) async fn newest_page<E>(
    store: &Store,
    mut select: Select<E>,
    id: E::Column,
    paging: Paging<'_>,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    if let Some(after) = paging.after {
        select = select.filter(id.lt(after));
    }
    newest_first(store, select, id, paging.limit).await
}

/// Up to `limit` rows of `select` ordered by `id` descending (ids are UUIDv7, so newest
/// first). The rows are exactly those `select.order_by_desc(id).limit(limit).all()` returns;
/// the entity's columns must be text or integers (JSON cannot carry blobs, and floats would
/// round-trip through text).
pub async fn newest_first<E>(
    store: &Store,
    select: Select<E>,
    id: E::Column,
    limit: u64,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    let select = select.order_by_desc(id).limit(limit);
    match store.backend() {
        Backend::Postgres => Ok(select.all(store.conn()).await?),
        Backend::Sqlite => {
            let stmt = as_one_json_row::<E>(select.into_query());
            let row = store.conn().query_one_raw(stmt).await?;
            let json: String = match row {
                Some(row) => row.try_get_by_index(0)?,
                None => return Ok(Vec::new()),
            };
            let mut rows: Vec<E::Model> = serde_json::from_str(&json).map_err(|e| {
                StoreError::Corrupt(format!(
                    "a page of {} rows did not decode: {e}",
                    E::default().table_name()
                ))
            })?;
            // An aggregate's input order is not guaranteed; the page's is.
            rows.sort_by_cached_key(|m| std::cmp::Reverse(id_text(m.get(id))));
            Ok(rows)
        }
    }
}

/// An id column's value as text (ids are strings; anything else sorts as empty).
fn id_text(v: sea_orm::Value) -> String {
    match v {
        sea_orm::Value::String(Some(s)) => s,
        _ => String::new(),
    }
}

/// `SELECT json_group_array(json_object('col', "col", ...)) FROM (page)`. The objects are
/// built in the outer query (inside the subquery they would lose JSON's subtype and nest as
/// strings). Column names are the entity's own static identifiers, written into the SQL so the
/// statement text never changes and stays in the connection's prepared-statement cache.
fn as_one_json_row<E: EntityTrait>(page: SelectStatement) -> Statement {
    let fields: Vec<String> = E::Column::iter()
        .map(|c| format!("'{0}', \"{0}\"", c.as_str()))
        .collect();
    let (inner, values) = page.build(SqliteQueryBuilder);
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "SELECT json_group_array(json_object({})) FROM ({inner})",
            fields.join(", ")
        ),
        values,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::run;

    #[test]
    fn the_page_is_aggregated_into_one_json_array() {
        let page = run::Entity::find()
            .order_by_desc(run::Column::Id)
            .limit(3)
            .into_query();
        let stmt = as_one_json_row::<run::Entity>(page);
        // Objects built outside the subquery (inside it they would nest as strings), one
        // literal name per column; the only bound value is the page's LIMIT.
        assert!(
            stmt.sql.starts_with(
                r#"SELECT json_group_array(json_object('id', "id", 'workspace_id', "workspace_id","#
            ),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.contains(r#"'updated_at', "updated_at""#)
                && stmt.sql.contains(r#")) FROM (SELECT "runs"."id","#),
            "{}",
            stmt.sql
        );
        assert_eq!(stmt.values.map(|v| v.0.len()), Some(1), "{}", stmt.sql);
    }
}
