//! The one query idiom of the store: a statement and its placeholder values in one call,
//! instead of a chain of `.bind()` per query, and rows decoded by `FromRow` (by column name)
//! instead of tuples destructured by position. Works on the pool and inside a
//! transaction (`&mut *tx`), on SQLite and PostgreSQL alike (sqlx Any, `$1` placeholders).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, Decode, Executor, FromRow, Type};

use crate::error::StoreResult;

/// A value bound to a placeholder; `$1` takes the first of a list, `$2` the second, ...
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// Text or NULL.
    OptText(Option<&'a str>),
    /// A number (epoch ms, counts, 0/1 booleans).
    Int(i64),
    /// A number or NULL.
    OptInt(Option<i64>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptText(v.as_deref())
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    /// Booleans are stored as 0/1.
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

/// `args` as sqlx arguments, in order.
fn arguments<'q>(args: &[Arg<'q>]) -> Result<AnyArguments<'q>, sqlx::Error> {
    let mut out = AnyArguments::default();
    for arg in args {
        match *arg {
            Arg::Text(v) => out.add(v),
            Arg::OptText(v) => out.add(v),
            Arg::Int(v) => out.add(v),
            Arg::OptInt(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// Runs statement `sql` with `args`; returns how many rows it touched.
pub(crate) async fn execute<'q, 'c, E>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<u64>
where
    E: Executor<'c, Database = Any>,
{
    let done = sqlx::query_with(sql, arguments(args)?)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

/// Runs statement `sql` with `args`; returns whether it touched a row (an update or delete
/// that found its row, a status-guarded update whose guard held).
pub(crate) async fn changed<'q, 'c, E>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<bool>
where
    E: Executor<'c, Database = Any>,
{
    Ok(execute(executor, sql, args).await? > 0)
}

/// The row query `sql` with `args` selects, if any.
pub(crate) async fn fetch_optional<'q, 'c, E, R>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<Option<R>>
where
    E: Executor<'c, Database = Any>,
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    Ok(sqlx::query_as_with(sql, arguments(args)?)
        .fetch_optional(executor)
        .await?)
}

/// The one row query `sql` with `args` selects (a count, an aggregate).
pub(crate) async fn fetch_one<'q, 'c, E, R>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<R>
where
    E: Executor<'c, Database = Any>,
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    fetch_optional(executor, sql, args)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound.into())
}

/// Every row query `sql` with `args` selects.
pub(crate) async fn fetch_all<'q, 'c, E, R>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<Vec<R>>
where
    E: Executor<'c, Database = Any>,
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    Ok(sqlx::query_as_with(sql, arguments(args)?)
        .fetch_all(executor)
        .await?)
}

/// The first column, text, of every row query `sql` with `args` selects.
pub(crate) async fn fetch_texts<'q, 'c, E>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<Vec<String>>
where
    E: Executor<'c, Database = Any>,
{
    fetch_all_scalar(executor, sql, args).await
}

/// The first column of the row query `sql` with `args` selects, if any (an ID looked up, a
/// guard checked).
pub(crate) async fn fetch_optional_scalar<'q, 'c, E, T>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<Option<T>>
where
    E: Executor<'c, Database = Any>,
    T: for<'r> Decode<'r, Any> + Type<Any> + Send + Unpin,
{
    Ok(sqlx::query_scalar_with(sql, arguments(args)?)
        .fetch_optional(executor)
        .await?)
}

/// The first column of the one row query `sql` with `args` selects (a count, a sum).
pub(crate) async fn fetch_scalar<'q, 'c, E, T>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<T>
where
    E: Executor<'c, Database = Any>,
    T: for<'r> Decode<'r, Any> + Type<Any> + Send + Unpin,
{
    fetch_optional_scalar(executor, sql, args)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound.into())
}

/// The first column of every row query `sql` with `args` selects (IDs, UIDs).
pub(crate) async fn fetch_all_scalar<'q, 'c, E, T>(
    executor: E,
    sql: &'q str,
    args: &[Arg<'q>],
) -> StoreResult<Vec<T>>
where
    E: Executor<'c, Database = Any>,
    T: for<'r> Decode<'r, Any> + Type<Any> + Send + Unpin,
{
    Ok(sqlx::query_scalar_with(sql, arguments(args)?)
        .fetch_all(executor)
        .await?)
}
