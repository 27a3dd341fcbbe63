//! The session table's statements in each dialect, written once when the store is built.

use ::diesel::{QueryableByName, sql_types::Text};

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
}

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
                "INSERT INTO {table} (key_hash, state, expires_at) VALUES ($, $, $)"
            )),
            update: t(format!(
                "UPDATE {table} SET state = $, expires_at = $ WHERE key_hash = {key} AND expires_at > $"
            )),
            touch: t(format!(
                "UPDATE {table} SET expires_at = $ WHERE key_hash = {key} AND expires_at > $"
            )),
            delete: t(format!("DELETE FROM {table} WHERE key_hash = {key}")),
            purge: t(format!("DELETE FROM {table} WHERE expires_at <= $")),
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
            "UPDATE s SET state = $1, expires_at = $2 WHERE key_hash = CAST($3 AS bpchar) AND expires_at > $4"
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
            "INSERT INTO app.s (key_hash, state, expires_at) VALUES (?, ?, ?)"
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
        ] {
            assert!(template.0.len() >= 2);
        }
    }
}
