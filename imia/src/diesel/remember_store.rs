//! Remember-me tokens in the database.

use super::table::table_store;

use ::diesel::{
    QueryableByName,
    deserialize::FromSql,
    serialize::ToSql,
    sql_types::{BigInt, HasSqlType, Text},
};

use super::{connection::Backend, statement::Statement};
use crate::{
    error::ProviderError,
    remember::{RememberStore, RememberToken},
};

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

table_store! {
/// Keeps [`RememberMe`](crate::remember::RememberMe) tokens in a table (by default
/// `imia_remember_tokens`, created by [`migrations::run`](super::migrations::run)), through the
/// same pools as the user provider. Rotation is one conditional `UPDATE`, so two requests
/// rotating one token at once cannot both win.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use imia::diesel::{DieselRememberStore, PoolOptions, SqliteConnection, sqlite_pool};
///
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
/// let tokens = DieselRememberStore::<SqliteConnection>::new(pool);
/// # let _ = tokens;
/// # }
/// ```
pub struct DieselRememberStore keeps "Tokens" in "imia_remember_tokens" made by "remember_sql";
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    selector: String,
    #[diesel(sql_type = Text)]
    validator_hash: String,
    #[diesel(sql_type = Text)]
    previous_hash: String,
    #[diesel(sql_type = BigInt)]
    rotated_at: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    series: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = Text)]
    binding: String,
}

impl From<Row> for RememberToken {
    fn from(row: Row) -> Self {
        Self {
            selector: row.selector,
            validator_hash: row.validator_hash,
            previous_hash: Some(row.previous_hash).filter(|p| !p.is_empty()),
            rotated_at: row.rotated_at,
            user_id: row.user_id,
            series: row.series,
            expires_at: row.expires_at,
            binding: row.binding,
        }
    }
}

impl<C> RememberStore for DieselRememberStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
{
    async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
        let table = self.table.name();
        let statement = Statement::default()
            .sql(format!(
                "INSERT INTO {table} (selector, validator_hash, previous_hash, rotated_at, user_id, series, expires_at, binding) VALUES ("
            ))
            .text(token.selector.clone())
            .sql(", ")
            .text(token.validator_hash.clone())
            .sql(", ")
            .text(token.previous_hash.clone().unwrap_or_default())
            .sql(", ")
            .integer(token.rotated_at)
            .sql(", ")
            .text(token.user_id.clone())
            .sql(", ")
            .text(token.series.clone())
            .sql(", ")
            .integer(token.expires_at)
            .sql(", ")
            .text(token.binding.clone())
            .sql(")");
        self.table.execute(statement).await.map(drop)
    }

    async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
        let statement = Statement::default()
            .sql(format!(
                "SELECT selector, validator_hash, previous_hash, rotated_at, user_id, series, expires_at, binding FROM {} WHERE selector = ",
                self.table.name()
            ))
            .text(selector);
        let rows = self.table.load::<Row>(statement).await?;
        Ok(rows.into_iter().next().map(RememberToken::from))
    }

    async fn rotate(
        &self,
        selector: &str,
        current_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<bool, ProviderError> {
        // Every backend reads `validator_hash` on the right before the assignment after it
        // (MySQL assigns left to right, and `previous_hash` comes first).
        let statement = Statement::default()
            .sql(format!(
                "UPDATE {} SET previous_hash = validator_hash, validator_hash = ",
                self.table.name()
            ))
            .text(new_hash)
            .sql(", rotated_at = ")
            .integer(now)
            .sql(" WHERE selector = ")
            .text(selector)
            .sql(" AND validator_hash = ")
            .text(current_hash);
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE selector = ", self.table.name()))
            .text(selector);
        self.table.execute(statement).await.map(drop)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE user_id = ", self.table.name()))
            .text(user_id);
        Ok(self.table.execute(statement).await? as u64)
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE expires_at <= ", self.table.name()))
            .integer(now);
        Ok(self.table.execute(statement).await? as u64)
    }
}
