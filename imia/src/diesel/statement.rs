//! SQL statements that imia writes itself, with every value bound.

use ::diesel::{
    QueryResult,
    backend::Backend as DieselBackend,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::Untyped,
    sql_types::{BigInt, HasSqlType, Text},
};

/// SQL text around bound values. The text comes from trusted configuration (checked
/// identifiers); values are always bound, in the backend's placeholder syntax.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct Statement {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Sql(String),
    Text(String),
    Integer(i64),
}

impl Statement {
    /// Appends SQL text.
    pub(crate) fn sql(mut self, sql: impl Into<String>) -> Self {
        self.parts.push(Part::Sql(sql.into()));
        self
    }

    /// Appends a bound text value.
    pub(crate) fn text(mut self, value: impl Into<String>) -> Self {
        self.parts.push(Part::Text(value.into()));
        self
    }

    /// Appends a bound integer value.
    pub(crate) fn integer(mut self, value: i64) -> Self {
        self.parts.push(Part::Integer(value));
        self
    }
}

/// Statements can load rows (`QueryableByName`).
impl Query for Statement {
    type SqlType = Untyped;
}

impl QueryId for Statement {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Statement
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Text(text) => out.push_bind_param::<Text, String>(text)?,
                Part::Integer(int) => out.push_bind_param::<BigInt, i64>(int)?,
            }
        }
        Ok(())
    }
}
