//! The session table's statements in each dialect, written once when the store is built.

use ::diesel::{
    QueryableByName,
    sql_types::{BigInt, Text},
};

use crate::diesel::{connection::Dialect, statement::Statement};

/// The statements of one table in one dialect, written once at build time: SQL text around
/// the bound values (diesel writes each dialect's placeholders). The table name is checked to
/// be an identifier; every value is bound.
pub(super) struct Statements {
    pub(super) load: Template,
    pub(super) insert: Template,
    pub(super) update: Template,
    pub(super) touch: Template,
    pub(super) delete: Template,
    pub(super) purge: Template,
    /// The live login sessions of a user, newest first.
    pub(super) list: Template,
    /// Deletes one session of a user by its handle.
    pub(super) end_one: Template,
    /// Deletes every session of a user but one handle.
    pub(super) end_others: Template,
}

/// The columns of the per-user index, in the order their values are bound.
const INDEX_COLUMNS: &str = "user_id, handle, created_at, last_seen_at, ip, user_agent";

impl Statements {
    pub(super) fn new(dialect: Dialect, table: &str) -> Self {
        // `$` marks a bound value (identifiers cannot hold one). PostgreSQL compares a
        // `CHAR(64)` column with a `text` value as text, which cannot use the primary key
        // index: compare as `bpchar` there.
        let key = match dialect {
            Dialect::Postgres => "CAST($ AS bpchar)",
            _ => "$",
        };
        let t = |sql: String| Template(sql.split('$').map(str::to_owned).collect());
        Self {
            load: t(format!(
                "SELECT state FROM {table} WHERE key_hash = {key} AND expires_at > $"
            )),
            insert: t(format!(
                "INSERT INTO {table} (key_hash, state, expires_at, {INDEX_COLUMNS}) VALUES ($, $, $, $, $, $, $, $, $)"
            )),
            update: t(format!(
                "UPDATE {table} SET state = $, expires_at = $, user_id = $, handle = $, created_at = $, \
                 last_seen_at = $, ip = $, user_agent = $ WHERE key_hash = {key} AND expires_at > $"
            )),
            touch: t(format!(
                "UPDATE {table} SET expires_at = $ WHERE key_hash = {key} AND expires_at > $"
            )),
            delete: t(format!("DELETE FROM {table} WHERE key_hash = {key}")),
            purge: t(format!("DELETE FROM {table} WHERE expires_at <= $")),
            list: t(format!(
                "SELECT handle, created_at, last_seen_at, ip, user_agent FROM {table} \
                 WHERE user_id = $ AND handle <> '' AND expires_at > $ ORDER BY created_at DESC, handle"
            )),
            end_one: t(format!(
                "DELETE FROM {table} WHERE user_id = $ AND handle = $ AND handle <> ''"
            )),
            end_others: t(format!(
                "DELETE FROM {table} WHERE user_id = $ AND handle <> '' AND handle <> $"
            )),
        }
    }
}

/// SQL text pieces; a value is bound between each two.
pub(super) struct Template(Vec<String>);

impl Template {
    pub(super) fn with(&self, binds: Vec<Bind>) -> Statement {
        debug_assert_eq!(self.0.len(), binds.len() + 1, "one value per placeholder");
        let mut pieces = self.0.iter();
        let mut statement = Statement::default().sql(pieces.next().map_or("", String::as_str));
        for (bind, piece) in binds.into_iter().zip(pieces) {
            statement = match bind {
                Bind::Text(text) => statement.text(text),
                Bind::Int(int) => statement.integer(int),
            }
            .sql(piece.as_str());
        }
        statement
    }

    /// The SQL with `dialect`'s placeholders, as the database receives it.
    #[cfg(test)]
    fn render(&self, dialect: Dialect) -> String {
        let mut out = self.0[0].clone();
        for (n, piece) in self.0[1..].iter().enumerate() {
            out.push_str(&dialect.parameter(n + 1));
            out.push_str(piece);
        }
        out
    }
}

/// A value bound into a statement.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// One row of the per-user index.
#[derive(QueryableByName)]
pub(super) struct IndexRow {
    #[diesel(sql_type = Text)]
    pub(super) handle: String,
    #[diesel(sql_type = BigInt)]
    pub(super) created_at: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) last_seen_at: i64,
    #[diesel(sql_type = Text)]
    pub(super) ip: String,
    #[diesel(sql_type = Text)]
    pub(super) user_agent: String,
}

#[derive(QueryableByName)]
pub(super) struct StateRow {
    #[diesel(sql_type = Text)]
    pub(super) state: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_use_the_dialects_placeholders() {
        let pg = Statements::new(Dialect::Postgres, "s");
        assert_eq!(
            pg.update.render(Dialect::Postgres),
            "UPDATE s SET state = $1, expires_at = $2, user_id = $3, handle = $4, created_at = $5, \
             last_seen_at = $6, ip = $7, user_agent = $8 WHERE key_hash = CAST($9 AS bpchar) AND expires_at > $10"
        );
        assert_eq!(
            pg.end_others.render(Dialect::Postgres),
            "DELETE FROM s WHERE user_id = $1 AND handle <> '' AND handle <> $2"
        );
        assert_eq!(
            pg.purge.render(Dialect::Postgres),
            "DELETE FROM s WHERE expires_at <= $1"
        );
        let mysql = Statements::new(Dialect::Mysql, "app.s");
        assert_eq!(
            mysql.load.render(Dialect::Mysql),
            "SELECT state FROM app.s WHERE key_hash = ? AND expires_at > ?"
        );
        assert_eq!(
            mysql.insert.render(Dialect::Mysql),
            "INSERT INTO app.s (key_hash, state, expires_at, user_id, handle, created_at, last_seen_at, ip, user_agent) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let sqlite = Statements::new(Dialect::Sqlite, "s");
        assert_eq!(
            sqlite.touch.render(Dialect::Sqlite),
            "UPDATE s SET expires_at = ? WHERE key_hash = ? AND expires_at > ?"
        );
        assert_eq!(
            sqlite.delete.render(Dialect::Sqlite),
            "DELETE FROM s WHERE key_hash = ?"
        );
        for template in [
            &sqlite.load,
            &sqlite.insert,
            &sqlite.update,
            &sqlite.touch,
            &sqlite.delete,
            &sqlite.purge,
            &sqlite.list,
            &sqlite.end_one,
            &sqlite.end_others,
        ] {
            assert!(template.0.len() >= 2);
        }
    }
}
