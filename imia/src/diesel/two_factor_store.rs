//! Second factors in the database.

use super::table::table_store;

use ::diesel::{
    QueryableByName,
    deserialize::FromSql,
    result::{DatabaseErrorKind, Error as DieselError},
    serialize::ToSql,
    sql_types::{BigInt, Bool, HasSqlType, Text},
};

use super::{
    connection::{Backend, Dialect, query_error},
    statement::Statement,
};
use crate::{
    error::ProviderError,
    two_factor::{TwoFactorRecord, TwoFactorStore},
};

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

/// The table [`migrations::run`](super::migrations::run) creates for second factors.
pub(crate) const DEFAULT_TABLE: &str = "imia_two_factor";

/// How many times a change that lost a race to another one on the same row is tried again.
const RETRIES: usize = 8;

table_store! {
/// Keeps [`TwoFactor`](crate::two_factor::TwoFactor)'s second factors in a table (by default
/// `imia_two_factor`, created by [`migrations::run`](super::migrations::run)), one row per user,
/// through the same pools as the user provider.
///
/// Every change is decided by one conditional `UPDATE`, `INSERT` or `DELETE` on the user's row,
/// so that requests racing on one user cannot both win: a TOTP time step is accepted once
/// (`last_step < step`), a recovery code is used once (a compare-and-swap on the list of
/// hashes, read again when another request changed it first), and attempts stop at the limit
/// (`attempts < max`). No transaction is held open. A change that keeps losing races to others
/// on the same row (8 times) fails as [`ProviderError::Unavailable`] rather than answer wrongly.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use imia::{SecretKey, diesel::{DieselTwoFactorStore, PoolOptions, SqliteConnection, sqlite_pool},
///            two_factor::TwoFactor};
///
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
/// let store = DieselTwoFactorStore::<SqliteConnection>::new(pool);
/// let two_factor = TwoFactor::new(store, &SecretKey::generate());
/// # let _ = two_factor;
/// # }
/// ```
pub struct DieselTwoFactorStore keeps "Second factors" in "imia_two_factor" made by "two_factor_sql";
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = BigInt)]
    last_step: i64,
    #[diesel(sql_type = Text)]
    recovery_codes: String,
    #[diesel(sql_type = BigInt)]
    attempts: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

impl From<Row> for TwoFactorRecord {
    fn from(row: Row) -> Self {
        let mut record = Self::new(row.user_id, row.secret, row.created_at);
        record.enabled = row.enabled;
        record.last_step = row.last_step;
        record.recovery_codes = split_codes(&row.recovery_codes);
        record.attempts = u32::try_from(row.attempts.max(0)).unwrap_or(u32::MAX);
        record
    }
}

/// The hashes of a `recovery_codes` column: space-separated, `''` for none.
fn split_codes(column: &str) -> Vec<String> {
    column.split_ascii_whitespace().map(str::to_owned).collect()
}

/// The `recovery_codes` column for `hashes`.
fn join_codes(hashes: &[String]) -> String {
    hashes.join(" ")
}

impl<C: Backend> DieselTwoFactorStore<C> {
    /// `UPDATE <table> SET ` followed by `set`.
    fn update(&self, set: &str) -> Statement {
        Statement::default().sql(format!("UPDATE {} SET {set}", self.table.name()))
    }

    /// The `UPDATE` of `begin` on MySQL: replaces the user's enrolment unless it is enabled.
    fn replace_pending(&self, user_id: &str, secret: &str, now: i64) -> Statement {
        self.update("secret = ")
            .text(secret)
            .sql(", last_step = 0, recovery_codes = '', attempts = 0, created_at = ")
            .integer(now)
            .sql(" WHERE user_id = ")
            .text(user_id)
            .sql(" AND enabled = FALSE")
    }

    /// The `INSERT` of a new enrolment; on SQLite and PostgreSQL it replaces one that is not
    /// enabled yet (an upsert whose `WHERE` leaves an enabled row alone: 0 rows).
    fn insert_pending(&self, user_id: &str, secret: &str, now: i64) -> Statement {
        let table = self.table.name();
        let insert = Statement::default()
            .sql(format!(
                "INSERT INTO {table} (user_id, secret, enabled, last_step, recovery_codes, attempts, created_at) VALUES ("
            ))
            .text(user_id)
            .sql(", ")
            .text(secret)
            .sql(", FALSE, 0, '', 0, ")
            .integer(now)
            .sql(")");
        match C::DIALECT {
            Dialect::Mysql => insert,
            Dialect::Sqlite | Dialect::Postgres => insert.sql(format!(
                " ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0, recovery_codes = '', \
                 attempts = 0, created_at = excluded.created_at WHERE {table}.enabled = FALSE"
            )),
        }
    }
}

impl<C> DieselTwoFactorStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Bool>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
    bool: FromSql<Bool, Db<C>>,
{
    /// The user's row, read without a deadline of its own.
    async fn find_now(&self, user_id: &str) -> Result<Option<Row>, ProviderError> {
        let statement = Statement::default()
            .sql(format!(
                "SELECT user_id, secret, enabled, last_step, recovery_codes, attempts, created_at FROM {} WHERE user_id = ",
                self.table.name()
            ))
            .text(user_id);
        let rows = self.table.load_now::<Row>(statement).await?;
        Ok(rows.into_iter().next())
    }
}

impl<C> TwoFactorStore for DieselTwoFactorStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Bool>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
    bool: FromSql<Bool, Db<C>>,
{
    async fn find(&self, user_id: &str) -> Result<Option<TwoFactorRecord>, ProviderError> {
        let row = self.table.within(self.find_now(user_id)).await?;
        Ok(row.map(TwoFactorRecord::from))
    }

    async fn begin(&self, user_id: &str, secret: &str, now: i64) -> Result<bool, ProviderError> {
        if C::DIALECT != Dialect::Mysql {
            return Ok(self.table.execute(self.insert_pending(user_id, secret, now)).await? == 1);
        }
        // MySQL has no conditional upsert whose row count tells an enabled row from a replaced
        // one (the connection counts found rows: an enabled row left as it was counts 1, like an
        // insert). So: replace a pending row, else insert; an insert that finds the key taken
        // lost a race, or met an enabled row.
        let table = &self.table;
        table
            .within(async {
                for _ in 0..RETRIES {
                    if table.execute_now(self.replace_pending(user_id, secret, now)).await? == 1 {
                        return Ok(true);
                    }
                    match table.execute_raw(self.insert_pending(user_id, secret, now)).await? {
                        Ok(rows) => return Ok(rows == 1),
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            if self.find_now(user_id).await?.is_some_and(|row| row.enabled) {
                                return Ok(false);
                            }
                        }
                        Err(err) => return Err(query_error(err)),
                    }
                }
                Err(ProviderError::unavailable(
                    "a second-factor enrolment kept losing races; try again",
                ))
            })
            .await
    }

    async fn enable(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery_codes: &[String],
    ) -> Result<bool, ProviderError> {
        let statement = self
            .update("enabled = TRUE, last_step = ")
            .integer(step)
            .sql(", recovery_codes = ")
            .text(join_codes(recovery_codes))
            .sql(", attempts = 0 WHERE user_id = ")
            .text(user_id)
            .sql(" AND enabled = FALSE AND secret = ")
            .text(secret);
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn remove(&self, user_id: &str) -> Result<bool, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE user_id = ", self.table.name()))
            .text(user_id);
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn accept_step(&self, user_id: &str, step: i64) -> Result<bool, ProviderError> {
        let statement = self
            .update("last_step = ")
            .integer(step)
            .sql(" WHERE user_id = ")
            .text(user_id)
            .sql(" AND enabled = TRUE AND last_step < ")
            .integer(step);
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, ProviderError> {
        // A compare-and-swap on the whole list: of two requests using codes of one user at
        // once, the second finds the list changed and reads it again.
        let table = &self.table;
        table
            .within(async {
                for _ in 0..RETRIES {
                    let Some(row) = self.find_now(user_id).await?.filter(|row| row.enabled) else {
                        return Ok(false);
                    };
                    let before = split_codes(&row.recovery_codes);
                    let after: Vec<String> = before.iter().filter(|stored| *stored != hash).cloned().collect();
                    if after.len() == before.len() {
                        return Ok(false);
                    }
                    let statement = self
                        .update("recovery_codes = ")
                        .text(join_codes(&after))
                        .sql(" WHERE user_id = ")
                        .text(user_id)
                        .sql(" AND enabled = TRUE AND recovery_codes = ")
                        .text(row.recovery_codes);
                    if table.execute_now(statement).await? == 1 {
                        return Ok(true);
                    }
                }
                Err(ProviderError::unavailable(
                    "a recovery code kept losing races; try again",
                ))
            })
            .await
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String]) -> Result<bool, ProviderError> {
        let statement = self
            .update("recovery_codes = ")
            .text(join_codes(hashes))
            .sql(" WHERE user_id = ")
            .text(user_id)
            .sql(" AND enabled = TRUE");
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn reserve_attempt(&self, user_id: &str, max: u32) -> Result<bool, ProviderError> {
        let statement = self
            .update("attempts = attempts + 1 WHERE user_id = ")
            .text(user_id)
            .sql(" AND enabled = TRUE AND attempts < ")
            .integer(i64::from(max));
        Ok(self.table.execute(statement).await? == 1)
    }

    async fn reset_attempts(&self, user_id: &str) -> Result<(), ProviderError> {
        let statement = self.update("attempts = 0 WHERE user_id = ").text(user_id);
        self.table.execute(statement).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_the_column() {
        let hashes = vec!["a".repeat(64), "b".repeat(64)];
        assert_eq!(split_codes(&join_codes(&hashes)), hashes);
        assert!(split_codes(&join_codes(&[])).is_empty());
    }
}
