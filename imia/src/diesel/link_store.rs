//! Single-use links in the database.

use super::table::table_store;

use ::diesel::{
    QueryableByName,
    deserialize::FromSql,
    serialize::ToSql,
    sql_types::{BigInt, HasSqlType, Text},
};

use super::{connection::Backend, statement::Statement};
use crate::{
    account::{LinkStore, LinkToken},
    error::ProviderError,
};

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

/// The table [`migrations::run`](super::migrations::run) creates for links.
pub(crate) const DEFAULT_TABLE: &str = "imia_links";

table_store! {
/// Keeps [`Accounts`](crate::account::Accounts)' single-use links in a table (by default
/// `imia_links`, created by [`migrations::run`](super::migrations::run)): the SHA-256 of each
/// link's secret half, never the link. Using a link is one conditional `DELETE`, so of two
/// requests using it at once, one wins.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use imia::diesel::{DieselLinkStore, PoolOptions, SqliteConnection, sqlite_pool};
///
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
/// let links = DieselLinkStore::<SqliteConnection>::new(pool);
/// # let _ = links;
/// # }
/// ```
pub struct DieselLinkStore keeps "Links" in "imia_links" made by "links_sql";
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    selector: String,
    #[diesel(sql_type = Text)]
    validator_hash: String,
    #[diesel(sql_type = Text)]
    purpose: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Text)]
    binding: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

impl From<Row> for LinkToken {
    fn from(row: Row) -> Self {
        let mut token = Self::new(
            row.selector,
            row.validator_hash,
            row.purpose,
            row.user_id,
            row.expires_at,
        );
        token.payload = row.payload;
        token.binding = row.binding;
        token.created_at = row.created_at;
        token
    }
}

impl<C> LinkStore for DieselLinkStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
{
    async fn insert(&self, token: &LinkToken) -> Result<(), ProviderError> {
        let statement = Statement::default()
            .sql(format!(
                "INSERT INTO {} (selector, validator_hash, purpose, user_id, payload, binding, expires_at, created_at) VALUES (",
                self.table.name()
            ))
            .text(token.selector.clone())
            .sql(", ")
            .text(token.validator_hash.clone())
            .sql(", ")
            .text(token.purpose.clone())
            .sql(", ")
            .text(token.user_id.clone())
            .sql(", ")
            .text(token.payload.clone())
            .sql(", ")
            .text(token.binding.clone())
            .sql(", ")
            .integer(token.expires_at)
            .sql(", ")
            .integer(token.created_at)
            .sql(")");
        self.table.execute(statement).await.map(drop)
    }

    async fn find(&self, selector: &str) -> Result<Option<LinkToken>, ProviderError> {
        let statement = Statement::default()
            .sql(format!(
                "SELECT selector, validator_hash, purpose, user_id, payload, binding, expires_at, created_at FROM {} WHERE selector = ",
                self.table.name()
            ))
            .text(selector);
        let rows = self.table.load::<Row>(statement).await?;
        Ok(rows.into_iter().next().map(LinkToken::from))
    }

    async fn consume(&self, selector: &str, validator_hash: &str) -> Result<bool, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE selector = ", self.table.name()))
            .text(selector)
            .sql(" AND validator_hash = ")
            .text(validator_hash);
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn delete_user(
        &self,
        user_id: &str,
        purpose: Option<&str>,
        keep: Option<&str>,
    ) -> Result<u64, ProviderError> {
        let mut statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE user_id = ", self.table.name()))
            .text(user_id);
        if let Some(purpose) = purpose {
            statement = statement.sql(" AND purpose = ").text(purpose);
        }
        if let Some(keep) = keep {
            statement = statement.sql(" AND selector <> ").text(keep);
        }
        Ok(self.table.execute(statement).await? as u64)
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE expires_at <= ", self.table.name()))
            .integer(now);
        Ok(self.table.execute(statement).await? as u64)
    }
}
