//! Reading a page of rows, newest first, in one hand-off from SQLite's connection thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and passes every result row to the
//! reading task over a channel, waking it row by row; on a list page those wake-ups, not
//! SQLite, were most of the cost (crates/api/BENCHMARKS.md). On SQLite a page is therefore
//! selected as one JSON array (`json_group_array(json_object(...))` over the same query) and
//! decoded here. PostgreSQL streams rows over one socket, so there the query runs as is.

use sea_orm::sea_query::{Alias, Expr, Func, SelectStatement};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement,
};
use serde::de::DeserializeOwned;

use crate::{Backend, Result, Store, StoreError};

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
            let stmt = as_one_json_row::<E>(select.into_query(), id);
            let row = store.conn().query_one_raw(stmt).await?;
            let json: String = match row {
                Some(row) => row.try_get_by_index(0)?,
                None => return Ok(Vec::new()),
            };
            serde_json::from_str(&json).map_err(|e| {
                StoreError::Corrupt(format!(
                    "a page of {} rows did not decode: {e}",
                    E::default().table_name()
                ))
            })
        }
    }
}

/// `SELECT json_group_array(json_object('col', "col", ...) ORDER BY "id" DESC) FROM (page)`.
/// The objects are built in the outer query (a subquery would drop JSON's subtype and nest
/// them as strings); the aggregate's own ORDER BY keeps the page's order.
fn as_one_json_row<E: EntityTrait>(page: SelectStatement, id: E::Column) -> Statement {
    let page_alias = Alias::new("page");
    let fields = E::Column::iter().flat_map(|c| {
        let name = c.as_str().to_owned();
        [
            Expr::val(name.clone()),
            Expr::col((page_alias.clone(), Alias::new(name))),
        ]
    });
    let object = Func::cust(Alias::new("json_object")).args(fields);
    let ordered = Expr::cust_with_exprs(
        "json_group_array(? ORDER BY ? DESC)",
        [
            object.into(),
            Expr::col((page_alias.clone(), Alias::new(id.as_str()))),
        ],
    );
    let outer = SelectStatement::new()
        .expr(ordered)
        .from_subquery(page, page_alias)
        .to_owned();
    DbBackend::Sqlite.build(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::run;

    #[test]
    fn the_page_is_aggregated_into_one_json_array() {
        let page = run::Entity::find()
            .order_by_desc(run::Column::Id)
            .limit(3)
            .into_query();
        let stmt = as_one_json_row::<run::Entity>(page, run::Column::Id);
        // Objects built outside the subquery (inside it they would nest as strings), one
        // name/value pair per column, the aggregate ordered like the page.
        assert!(
            stmt.sql.starts_with(
                r#"SELECT json_group_array(json_object(?, "page"."id", ?, "page"."workspace_id","#
            ),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.contains(r#"ORDER BY "page"."id" DESC) FROM (SELECT "runs"."id","#),
            "{}",
            stmt.sql
        );
        let names = stmt.values.map(|v| v.0.len()).unwrap_or(0);
        // 14 column names and the page's LIMIT.
        assert_eq!(names, 15, "{}", stmt.sql);
    }
}
