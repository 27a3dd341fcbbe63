//! The Diesel session store: actix-session's store contract on every backend, then what a
//! server-side store changes over HTTP (a logout that sticks, restarts, outages, logout races).
// With `diesel` but no backend feature, nothing here runs.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports, unused_macros)
)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key};
use actix_web::cookie::time::Duration as Ttl;
use diesel::{
    QueryableByName,
    deserialize::FromSql,
    query_builder::SqlQuery,
    serialize::ToSql,
    sql_types::{BigInt, HasSqlType, Text},
};
use diesel_async::{AsyncConnectionCore, methods::LoadQuery};
use imia::{
    diesel::{Backend, DieselSessionStore, PoolOptions, migrations},
    provider::hash_token,
    sessions::SessionIndex as _,
};

type Db<C> = <C as AsyncConnectionCore>::Backend;

/// One row of a session table, as stored.
#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key_hash: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// What actix-session stores after a login and some application data: values are JSON.
fn logged_in() -> HashMap<String, String> {
    state(&[
        ("_auth_user_id", "\"root@localhost\""),
        ("_auth_user_hash", "\"3q2+7w==\""),
        ("_impersonator_id", "\"admin@localhost\""),
        ("cart", "[\"tea\",\"caf\\u00e9\"]"),
        ("note", "\"quotes \\\" and 'apostrophes', ünïcödé 🦀, a\\nnewline\""),
    ])
}

/// `logged_in` without its authentication keys.
fn logged_out() -> HashMap<String, String> {
    let mut s = logged_in();
    s.retain(|k, _| !k.starts_with("_auth_") && !k.starts_with("_impersonat"));
    assert_eq!(s.len(), 2);
    s
}

/// The raw state of a login session of `user` as imia writes it (values are JSON).
fn session_of(
    user: &str,
    handle: &str,
    created: i64,
    seen: Option<i64>,
    ip: &str,
    ua: &str,
) -> HashMap<String, String> {
    let mut meta = serde_json::json!({"handle": handle, "created_at": created});
    if !ip.is_empty() {
        meta["ip"] = ip.into();
    }
    if !ua.is_empty() {
        meta["user_agent"] = ua.into();
    }
    let mut state = state(&[
        ("_auth_user_id", &serde_json::to_string(user).unwrap()),
        ("_auth_user_hash", "\"3q2+7w==\""),
        ("_auth_session", &meta.to_string()),
    ]);
    if let Some(seen) = seen {
        state.insert("_auth_seen".into(), seen.to_string());
    }
    state
}

fn key(s: &str) -> SessionKey {
    SessionKey::try_from(s.to_owned()).unwrap()
}

const MINUTE: Ttl = Ttl::seconds(60);

/// A store over a fresh database, with raw access to its table.
struct Fixture<C: Backend> {
    pool: C::Pool,
    store: DieselSessionStore<C>,
}

impl<C> Fixture<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
    for<'a> SqlQuery: LoadQuery<'a, C, Row>,
{
    async fn new(pool: C::Pool) -> Self {
        migrations::run(&mut *C::checkout(&pool).await.expect("a connection"))
            .await
            .expect("migrations");
        Self {
            store: DieselSessionStore::new(pool.clone()),
            pool,
        }
    }

    async fn exec(&self, sql: &str) {
        let mut conn = C::checkout(&self.pool).await.unwrap();
        conn.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn rows_of(&self, table: &str) -> Vec<Row> {
        // Only here: its `load` would shadow `SessionStore::load` elsewhere.
        use diesel_async::RunQueryDsl as _;
        let mut conn = C::checkout(&self.pool).await.unwrap();
        diesel::sql_query(format!("SELECT key_hash, state, expires_at FROM {table}"))
            .load::<Row>(&mut *conn)
            .await
            .unwrap()
    }

    async fn rows(&self) -> Vec<Row> {
        self.rows_of("imia_sessions").await
    }

    async fn row(&self, key: &SessionKey) -> Option<Row> {
        let hash = hash_token(key.as_ref());
        self.rows().await.into_iter().find(|r| r.key_hash == hash)
    }

    /// Writes a row by hand, for states and expiries the store would not write.
    async fn insert_raw(&self, key: &SessionKey, state: &str, expires_at: i64) {
        let hash = hash_token(key.as_ref());
        self.exec(&format!(
            "INSERT INTO imia_sessions (key_hash, state, expires_at) VALUES ('{hash}', '{state}', {expires_at})"
        ))
        .await;
    }

    // ----- the cases -----

    async fn save_then_load_round_trips(&self) {
        let k1 = self.store.save(logged_in(), &MINUTE).await.unwrap();
        assert_eq!(k1.as_ref().len(), 64);
        assert!(k1.as_ref().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(self.store.load(&k1).await.unwrap(), Some(logged_in()));

        let k2 = self.store.save(HashMap::new(), &MINUTE).await.unwrap();
        assert_ne!(k1, k2);
        assert_eq!(self.store.load(&k2).await.unwrap(), Some(HashMap::new()));
        assert_eq!(self.rows().await.len(), 2);

        // The stored state is plain JSON that other tools can read.
        let stored: HashMap<String, String> = serde_json::from_str(&self.row(&k1).await.unwrap().state).unwrap();
        assert_eq!(stored, logged_in());
    }

    async fn unknown_and_malformed_keys_load_nothing(&self) {
        let saved = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let leaked_hash = key(&hash_token(saved.as_ref()));
        for k in [
            generate_session_key(),
            leaked_hash, // the stored hash is not a session key
            key(""),
            key("short"),
            key(&"a".repeat(63)),
            key(&"a".repeat(4000)),
            key(&format!("{}' OR '1'='1", &saved.as_ref()[..53])),
        ] {
            assert_eq!(self.store.load(&k).await.unwrap(), None, "{k:?}");
        }
        // Keys are case-sensitive.
        let lower = saved.as_ref().to_lowercase();
        if lower != saved.as_ref() {
            assert_eq!(self.store.load(&key(&lower)).await.unwrap(), None);
        }
        assert_eq!(self.store.load(&saved).await.unwrap(), Some(logged_in()));
    }

    async fn expired_sessions_are_not_loaded(&self) {
        let zero = self.store.save(logged_in(), &Ttl::ZERO).await.unwrap();
        let negative = self.store.save(logged_in(), &Ttl::seconds(-3600)).await.unwrap();
        let old = generate_session_key();
        self.insert_raw(&old, "{}", now() - 1).await;
        for k in [&zero, &negative, &old] {
            assert_eq!(self.store.load(k).await.unwrap(), None, "{k:?}");
        }
        // Extending an expired session does not revive it.
        let before = self.row(&old).await.unwrap().expires_at;
        self.store.update_ttl(&old, &Ttl::days(1)).await.unwrap();
        assert_eq!(self.row(&old).await.unwrap().expires_at, before);
        assert_eq!(self.store.load(&old).await.unwrap(), None);
    }

    async fn update_keeps_the_key_and_replaces_the_state(&self) {
        let k = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let original = k.as_ref().to_owned();
        let changed = state(&[("_auth_user_id", "\"customer@localhost\""), ("theme", "\"dark\"")]);
        let updated = self.store.update(k, changed.clone(), &Ttl::hours(2)).await.unwrap();
        assert_eq!(updated.as_ref(), original);
        assert_eq!(self.store.load(&updated).await.unwrap(), Some(changed));
        assert_eq!(self.rows().await.len(), 1);
        let expires = self.row(&updated).await.unwrap().expires_at;
        assert!((now() + 7190..=now() + 7210).contains(&expires), "{expires}");

        // Rewriting the same state within the same second still counts as updated (MySQL
        // reports changed rows, not matched rows, unless told otherwise).
        let same = self.store.load(&updated).await.unwrap().unwrap();
        let again = self.store.update(updated, same, &Ttl::hours(2)).await.unwrap();
        assert_eq!(again.as_ref(), original);
    }

    async fn update_of_a_vanished_session_starts_a_new_one_without_the_login(&self) {
        // Purged by a concurrent logout.
        let k = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let old = k.as_ref().to_owned();
        self.store.delete(&k).await.unwrap();
        let mut changed = logged_in();
        changed.insert("visits".into(), "2".into());
        let new = self.store.update(k, changed, &MINUTE).await.unwrap();
        assert_ne!(new.as_ref(), old);
        assert_eq!(
            self.store.load(&key(&old)).await.unwrap(),
            None,
            "the old session stays dead"
        );
        let mut expected = logged_out();
        expected.insert("visits".into(), "2".into());
        assert_eq!(self.store.load(&new).await.unwrap(), Some(expected));
        assert!(self.row(&key(&old)).await.is_none());

        // Expired meanwhile: not revived either.
        let expired = self.store.save(logged_in(), &Ttl::ZERO).await.unwrap();
        let expired_key = expired.as_ref().to_owned();
        let new = self.store.update(expired, logged_in(), &MINUTE).await.unwrap();
        assert_ne!(new.as_ref(), expired_key);
        assert_eq!(self.store.load(&key(&expired_key)).await.unwrap(), None);
        assert_eq!(self.store.load(&new).await.unwrap(), Some(logged_out()));

        // Never stored at all.
        let stranger = generate_session_key();
        let new = self.store.update(stranger, logged_in(), &MINUTE).await.unwrap();
        assert_eq!(self.store.load(&new).await.unwrap(), Some(logged_out()));
    }

    async fn update_ttl_extends_the_expiry(&self) {
        let k = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let first = self.row(&k).await.unwrap().expires_at;
        assert!((now() + 55..=now() + 65).contains(&first), "{first}");
        self.store.update_ttl(&k, &Ttl::days(1)).await.unwrap();
        let extended = self.row(&k).await.unwrap().expires_at;
        assert!((now() + 86_390..=now() + 86_410).contains(&extended), "{extended}");
        assert_eq!(
            self.store.load(&k).await.unwrap(),
            Some(logged_in()),
            "the state is untouched"
        );

        // A deleted session is not re-created by extending it.
        self.store.delete(&k).await.unwrap();
        self.store.update_ttl(&k, &Ttl::days(1)).await.unwrap();
        assert!(self.rows().await.is_empty());
    }

    async fn delete_removes_the_session(&self) {
        let k1 = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let k2 = self.store.save(logged_in(), &MINUTE).await.unwrap();
        self.store.delete(&k1).await.unwrap();
        assert_eq!(self.store.load(&k1).await.unwrap(), None);
        assert_eq!(self.store.load(&k2).await.unwrap(), Some(logged_in()));
        assert_eq!(self.rows().await.len(), 1);
        // Deleting again, or a session that never existed, is fine.
        self.store.delete(&k1).await.unwrap();
        self.store.delete(&generate_session_key()).await.unwrap();
        self.store.delete(&key("not-a-key")).await.unwrap();
        assert_eq!(self.rows().await.len(), 1);
    }

    async fn delete_expired_removes_only_expired_rows(&self) {
        let live1 = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let live2 = self.store.save(HashMap::new(), &Ttl::days(30)).await.unwrap();
        self.store.save(logged_in(), &Ttl::ZERO).await.unwrap();
        self.store.save(logged_in(), &Ttl::seconds(-10)).await.unwrap();
        self.insert_raw(&generate_session_key(), "{}", 1).await;
        assert_eq!(self.rows().await.len(), 5);

        assert_eq!(self.store.delete_expired().await.unwrap(), 3);
        assert_eq!(self.rows().await.len(), 2);
        assert_eq!(self.store.load(&live1).await.unwrap(), Some(logged_in()));
        assert_eq!(self.store.load(&live2).await.unwrap(), Some(HashMap::new()));
        assert_eq!(self.store.delete_expired().await.unwrap(), 0);
    }

    async fn expired_rows_are_cleaned_up_every_nth_save(&self) {
        let store = DieselSessionStore::<C>::builder(self.pool.clone())
            .cleanup_every(3)
            .build()
            .unwrap();
        let expired = generate_session_key();
        self.insert_raw(&expired, "{}", now() - 5).await;
        store.save(HashMap::new(), &MINUTE).await.unwrap();
        store.save(HashMap::new(), &MINUTE).await.unwrap();
        assert!(self.row(&expired).await.is_some(), "not yet");
        // Clones share the counter.
        store.clone().save(HashMap::new(), &MINUTE).await.unwrap();
        assert!(self.row(&expired).await.is_none(), "cleaned up by the third save");
        assert_eq!(self.rows().await.len(), 3);

        let never = DieselSessionStore::<C>::builder(self.pool.clone())
            .cleanup_every(0)
            .build()
            .unwrap();
        self.insert_raw(&expired, "{}", now() - 5).await;
        for _ in 0..5 {
            never.save(HashMap::new(), &MINUTE).await.unwrap();
        }
        assert!(self.row(&expired).await.is_some(), "cleanup off");
    }

    async fn keys_are_stored_only_as_their_hash(&self) {
        let k = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let rows = self.rows().await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key_hash, hash_token(k.as_ref()));
        let dump = format!("{rows:?}");
        assert!(!dump.contains(k.as_ref()), "the key is stored in clear: {dump}");
        // Not even a large part of it.
        assert!(!dump.contains(&k.as_ref()[..16]), "{dump}");
        // And the store's Debug holds neither the key nor the pool.
        assert!(!format!("{:?}", self.store).contains(k.as_ref()));
    }

    async fn a_corrupt_state_is_a_deserialization_error(&self) {
        for (i, bad) in ["not json", "{\"counter\":1}", "[]", "{\"a\":\"b\"", ""]
            .into_iter()
            .enumerate()
        {
            let k = generate_session_key();
            self.insert_raw(&k, bad, now() + 60).await;
            match self.store.load(&k).await {
                Err(LoadError::Deserialization(err)) => {
                    assert!(!format!("{err:?}").contains(k.as_ref()), "{err:?}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
            // actix-session then starts an empty session under the same key; its next change
            // overwrites the corrupt row.
            let fresh = state(&[("n", &i.to_string())]);
            let updated = self.store.update(k, fresh.clone(), &MINUTE).await.unwrap();
            assert_eq!(self.store.load(&updated).await.unwrap(), Some(fresh));
        }
    }

    async fn a_custom_table_is_used(&self) {
        for bad in [
            "",
            "sessions; DROP TABLE users",
            "1sessions",
            "a.b.c",
            "\"quoted\"",
            "sessions--",
        ] {
            assert!(
                DieselSessionStore::<C>::builder(self.pool.clone())
                    .table(bad)
                    .build()
                    .is_err(),
                "{bad:?}"
            );
        }
        let store = DieselSessionStore::<C>::builder(self.pool.clone())
            .table("app_sessions")
            .build()
            .unwrap();
        store.create_table().await.unwrap();
        store.create_table().await.unwrap(); // idempotent
        let k = store.save(logged_in(), &MINUTE).await.unwrap();
        assert_eq!(store.load(&k).await.unwrap(), Some(logged_in()));
        assert_eq!(self.rows_of("app_sessions").await.len(), 1);
        assert!(self.rows().await.is_empty());
        assert_eq!(self.store.load(&k).await.unwrap(), None, "another table, another store");
        assert!(format!("{store:?}").contains("app_sessions"));
    }

    async fn the_index_lists_a_users_login_sessions_newest_first(&self) {
        let (now, ms) = (now(), 1000); // kept in milliseconds, listed in seconds
        let older = self
            .store
            .save(
                session_of("ann", "h-older", (now - 100) * ms, None, "10.0.0.1", "Firefox"),
                &MINUTE,
            )
            .await
            .unwrap();
        self.store
            .save(
                session_of("ann", "h-newer", (now - 10) * ms, Some((now - 5) * ms), "10.0.0.2", ""),
                &MINUTE,
            )
            .await
            .unwrap();
        self.store
            .save(session_of("bob", "h-bob", now, None, "10.0.0.3", "curl"), &MINUTE)
            .await
            .unwrap();
        self.store.save(logged_out(), &MINUTE).await.unwrap(); // no login: not indexed
        let expired = generate_session_key();
        self.insert_raw(&expired, "{}", now - 1).await;

        let ann = self.store.sessions("ann").await.unwrap();
        let ids: Vec<&str> = ann.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["h-newer", "h-older"], "newest first, only ann's");
        assert_eq!((ann[0].created_at, ann[0].last_seen_at), (now - 10, now - 5));
        assert_eq!(ann[0].ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(ann[0].user_agent, None, "an empty user agent is none");
        assert_eq!(ann[1].last_seen_at, now - 100, "never seen since: the login time");
        assert_eq!(ann[1].user_agent.as_deref(), Some("Firefox"));
        assert!(
            ann.iter().all(|s| !s.current),
            "the store does not know the current request"
        );
        assert_eq!(self.store.sessions("bob").await.unwrap().len(), 1);
        assert!(self.store.sessions("nobody").await.unwrap().is_empty());
        assert!(
            self.store.sessions("").await.unwrap().is_empty(),
            "anonymous sessions are not indexed"
        );

        // An update moves "last seen"; a logout of the session removes it from the list.
        let mut seen = session_of(
            "ann",
            "h-older",
            (now - 100) * ms,
            Some((now - 1) * ms),
            "10.0.0.1",
            "Firefox",
        );
        seen.insert("cart".into(), "\"tea\"".into());
        let older = self.store.update(older, seen, &MINUTE).await.unwrap();
        let ann = self.store.sessions("ann").await.unwrap();
        assert_eq!(ann.iter().find(|s| s.id == "h-older").unwrap().last_seen_at, now - 1);
        self.store.delete(&older).await.unwrap();
        assert_eq!(self.store.sessions("ann").await.unwrap().len(), 1);
        // The key never appears in what the index gives out.
        assert!(!format!("{:?}", self.store.sessions("ann").await.unwrap()).contains(older.as_ref()));
    }

    async fn the_index_ends_only_the_users_own_sessions(&self) {
        let now = now();
        let ann1 = self
            .store
            .save(session_of("ann", "h-ann1", now, None, "", ""), &MINUTE)
            .await
            .unwrap();
        let ann2 = self
            .store
            .save(session_of("ann", "h-ann2", now, None, "", ""), &MINUTE)
            .await
            .unwrap();
        let ann3 = self
            .store
            .save(session_of("ann", "h-ann3", now, None, "", ""), &MINUTE)
            .await
            .unwrap();
        let bob = self
            .store
            .save(session_of("bob", "h-bob", now, None, "", ""), &MINUTE)
            .await
            .unwrap();

        assert!(
            !self.store.end_session("bob", "h-ann1").await.unwrap(),
            "another user's session"
        );
        assert!(!self.store.end_session("ann", "h-unknown").await.unwrap());
        for malformed in ["", "h ann1", "' OR '1'='1", &"a".repeat(65)] {
            assert!(
                !self.store.end_session("ann", malformed).await.unwrap(),
                "{malformed:?}"
            );
        }
        assert!(!self.store.end_session("", "h-ann1").await.unwrap());
        assert!(self.store.load(&ann1).await.unwrap().is_some(), "nothing ended so far");

        assert!(self.store.end_session("ann", "h-ann1").await.unwrap());
        assert_eq!(self.store.load(&ann1).await.unwrap(), None, "the session is gone");
        assert!(!self.store.end_session("ann", "h-ann1").await.unwrap(), "once");

        assert_eq!(self.store.end_sessions("ann", Some("h-ann2")).await.unwrap(), 1);
        assert!(self.store.load(&ann2).await.unwrap().is_some(), "the kept one");
        assert_eq!(self.store.load(&ann3).await.unwrap(), None);
        assert_eq!(self.store.end_sessions("ann", None).await.unwrap(), 1);
        assert_eq!(self.store.load(&ann2).await.unwrap(), None);
        assert!(
            self.store.load(&bob).await.unwrap().is_some(),
            "bob's sessions are untouched"
        );
        assert_eq!(self.store.end_sessions("", None).await.unwrap(), 0);
        assert!(self.store.load(&bob).await.unwrap().is_some());
    }

    async fn old_session_tables_gain_the_index(&self) {
        // A table as an earlier version made it: no index columns.
        self.exec(
            "CREATE TABLE old_sessions (key_hash CHAR(64) NOT NULL PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL)",
        )
        .await;
        let old = generate_session_key();
        let hash = hash_token(old.as_ref());
        self.exec(&format!(
            "INSERT INTO old_sessions (key_hash, state, expires_at) VALUES ('{hash}', '{{}}', {})",
            now() + 60
        ))
        .await;
        let mut conn = C::checkout(&self.pool).await.unwrap();
        migrations::run_named(
            &mut *conn,
            "users",
            "old_sessions",
            "imia_remember_tokens",
            "imia_login_throttle",
        )
        .await
        .unwrap();
        migrations::run_named(
            &mut *conn,
            "users",
            "old_sessions",
            "imia_remember_tokens",
            "imia_login_throttle",
        )
        .await
        .expect("safe to run again");
        drop(conn);
        let store = DieselSessionStore::<C>::builder(self.pool.clone())
            .table("old_sessions")
            .build()
            .unwrap();
        assert_eq!(store.load(&old).await.unwrap(), Some(HashMap::new()), "old rows load");
        store
            .save(session_of("ann", "h-new", now(), None, "", ""), &MINUTE)
            .await
            .unwrap();
        let ann = store.sessions("ann").await.unwrap();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann[0].id, "h-new");
    }

    async fn a_slow_database_times_out(&self) {
        // Hold every connection of the pool (8 by default): the store's checkout then waits
        // for the pool's 5-second timeout, and the store gives up at its own, shorter one.
        let k = self.store.save(logged_in(), &MINUTE).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..PoolOptions::default().max_size {
            held.push(C::checkout(&self.pool).await.unwrap());
        }
        let store = DieselSessionStore::<C>::builder(self.pool.clone())
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let started = Instant::now();
        assert!(matches!(store.load(&k).await, Err(LoadError::Other(_))));
        assert!(matches!(
            store.save(logged_in(), &MINUTE).await,
            Err(SaveError::Other(_))
        ));
        let err = store.delete_expired().await.unwrap_err();
        assert!(format!("{err:#}").contains("within"), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        drop(held);
        assert_eq!(store.load(&k).await.unwrap(), Some(logged_in()), "works again");
    }

    /// Every operation of a store whose database is unreachable fails: never "no session".
    async fn every_operation_fails(store: DieselSessionStore<C>, secret: &str) {
        let k = generate_session_key();
        let started = Instant::now();
        let errors = [
            match store.load(&k).await {
                Err(LoadError::Other(e)) => format!("{e:?}"),
                other => panic!("load: {other:?}"),
            },
            match store.save(logged_in(), &MINUTE).await {
                Err(SaveError::Other(e)) => format!("{e:?}"),
                other => panic!("save: {other:?}"),
            },
            match store.update(generate_session_key(), logged_in(), &MINUTE).await {
                Err(UpdateError::Other(e)) => format!("{e:?}"),
                other => panic!("update: {other:?}"),
            },
            format!("{:?}", store.update_ttl(&k, &MINUTE).await.unwrap_err()),
            format!("{:?}", store.delete(&k).await.unwrap_err()),
            format!("{:?}", store.delete_expired().await.unwrap_err()),
            format!("{:?}", store.create_table().await.unwrap_err()),
        ];
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        for e in errors.iter().chain([&format!("{store:?}")]) {
            assert!(e.contains("session store") || e.contains("DieselSessionStore"), "{e}");
            assert!(!e.contains(k.as_ref()), "the key leaks: {e}");
            assert!(!e.contains(secret), "the password leaks: {e}");
        }
    }
}

/// Generates one test per case for a backend, each in its own fresh database.
macro_rules! acceptance_suite {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            acceptance_suite!(@cases $fixture;
                save_then_load_round_trips,
                unknown_and_malformed_keys_load_nothing,
                expired_sessions_are_not_loaded,
                update_keeps_the_key_and_replaces_the_state,
                update_of_a_vanished_session_starts_a_new_one_without_the_login,
                update_ttl_extends_the_expiry,
                delete_removes_the_session,
                delete_expired_removes_only_expired_rows,
                expired_rows_are_cleaned_up_every_nth_save,
                keys_are_stored_only_as_their_hash,
                a_corrupt_state_is_a_deserialization_error,
                a_custom_table_is_used,
                a_slow_database_times_out,
                the_index_lists_a_users_login_sessions_newest_first,
                the_index_ends_only_the_users_own_sessions,
                old_session_tables_gain_the_index,
            );
        }
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $case() {
                let Some(fixture) = $fixture(stringify!($case)).await else { return };
                fixture.$case().await;
            }
        )*
    };
}

/// A short database-name tag from a test name.
fn tag(name: &str) -> String {
    format!("ss_{}", &name[..name.len().min(24)])
}

#[cfg(feature = "sqlite")]
async fn sqlite_fixture(name: &str) -> Option<Fixture<imia::diesel::SqliteConnection>> {
    let path = crate::servers::fresh_sqlite(&tag(name));
    Some(Fixture::new(imia::diesel::sqlite_pool(&path, &PoolOptions::default()).unwrap()).await)
}

#[cfg(feature = "postgres")]
async fn postgres_fixture(name: &str) -> Option<Fixture<diesel_async::AsyncPgConnection>> {
    let url = crate::servers::fresh_postgres(&tag(name)).await?;
    Some(Fixture::new(imia::diesel::postgres_pool(&url, &PoolOptions::default()).unwrap()).await)
}

#[cfg(feature = "mysql")]
async fn mysql_fixture(name: &str) -> Option<Fixture<diesel_async::AsyncMysqlConnection>> {
    let url = crate::servers::fresh_mysql(&tag(name)).await?;
    Some(Fixture::new(imia::diesel::mysql_pool(&url, &PoolOptions::default()).unwrap()).await)
}

#[cfg(feature = "sqlite")]
acceptance_suite!(sqlite, super::sqlite_fixture);
#[cfg(feature = "postgres")]
acceptance_suite!(postgres, super::postgres_fixture);
#[cfg(feature = "mysql")]
acceptance_suite!(mysql, super::mysql_fixture);

/// A pool that waits at most one second for a connection.
fn impatient() -> PoolOptions {
    PoolOptions {
        wait_timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    }
}

#[cfg(feature = "sqlite")]
#[actix_web::test]
async fn sqlite_failures_are_errors() {
    let dir = std::env::temp_dir().join(crate::servers::unique_name("missing_dir"));
    let path = dir.join("sessions.sqlite3");
    let pool = imia::diesel::sqlite_pool(path.to_str().unwrap(), &impatient()).unwrap();
    Fixture::<imia::diesel::SqliteConnection>::every_operation_fails(DieselSessionStore::new(pool), "no-secret-here")
        .await;
    assert!(!dir.exists());
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_failures_are_errors() {
    let pool = imia::diesel::postgres_pool("postgres://imia:hunter2@127.0.0.1:1/imia", &impatient()).unwrap();
    Fixture::<diesel_async::AsyncPgConnection>::every_operation_fails(DieselSessionStore::new(pool), "hunter2").await;
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_failures_are_errors() {
    let pool = imia::diesel::mysql_pool("mysql://imia:hunter2@127.0.0.1:1/imia", &impatient()).unwrap();
    Fixture::<diesel_async::AsyncMysqlConnection>::every_operation_fails(DieselSessionStore::new(pool), "hunter2")
        .await;
}

/// Over HTTP, with the session authenticator, on SQLite.
#[cfg(feature = "sqlite")]
mod http {
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicBool, Ordering},
        time::Duration,
    };

    use actix_session::{Session, SessionMiddleware, storage::SessionStore};
    use actix_web::{
        App, Error, HttpRequest, HttpResponse,
        body::MessageBody,
        cookie::Key,
        dev::{Service, ServiceResponse},
        test as atest, web,
    };
    use imia::{
        Authentication, SecretKey,
        authenticator::SessionAuthenticator,
        diesel::{DieselSessionStore, PoolOptions, SqliteConnection, migrations, sqlite_pool},
        login::{login_user, logout},
        provider::UserProvider as _,
    };
    use serde_json::Value;

    use crate::{common::*, servers::fresh_sqlite};

    async fn force_login(
        req: HttpRequest,
        id: web::Path<String>,
        secret: web::Data<SecretKey>,
    ) -> actix_web::Result<HttpResponse> {
        let user = users().find_by_id(&id).await.unwrap().expect("a known user");
        login_user(&req, user, &secret).map_err(actix_web::error::ErrorInternalServerError)?;
        Ok(HttpResponse::Ok().finish())
    }

    async fn log_out(req: HttpRequest) -> HttpResponse {
        logout(&req);
        HttpResponse::Ok().finish()
    }

    /// Pauses a request inside its handler, after the session was loaded.
    #[derive(Default)]
    struct Gate {
        entered: AtomicBool,
        release: AtomicBool,
    }

    /// A slow request that changes the session once released.
    async fn slow_change(session: Session, gate: web::Data<Gate>) -> actix_web::Result<HttpResponse> {
        gate.entered.store(true, Ordering::SeqCst);
        while !gate.release.load(Ordering::SeqCst) {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        session.insert("visits", 2)?;
        Ok(HttpResponse::Ok().finish())
    }

    /// The app, its session cookie key derived from `secret` (the key logins use).
    fn app<S: SessionStore + 'static>(store: S, secret: SecretKey, gate: web::Data<Gate>) -> TestApp!() {
        let cookie_key = Key::derive_from(secret.as_bytes());
        App::new()
            .app_data(gate)
            .app_data(web::Data::new(secret.clone()))
            .wrap(Authentication::new(SessionAuthenticator::new(users(), secret)))
            .wrap(SessionMiddleware::new(store, cookie_key))
            .route("/login/{id}", web::post().to(force_login))
            .route("/logout", web::post().to(log_out))
            .route("/slow", web::post().to(slow_change))
            .default_service(web::to(whoami))
    }

    async fn store_at(path: &str) -> DieselSessionStore<SqliteConnection> {
        let pool = sqlite_pool(path, &PoolOptions::default()).unwrap();
        migrations::run(&mut *pool.get().await.unwrap()).await.unwrap();
        DieselSessionStore::new(pool)
    }

    /// A store whose database cannot be opened.
    fn broken_store() -> DieselSessionStore<SqliteConnection> {
        let dir = std::env::temp_dir().join(crate::servers::unique_name("missing_dir"));
        let options = PoolOptions {
            wait_timeout: Duration::from_secs(1),
            ..PoolOptions::default()
        };
        DieselSessionStore::new(sqlite_pool(dir.join("s.sqlite3").to_str().unwrap(), &options).unwrap())
    }

    fn session_cookie(r: &Reply) -> Option<String> {
        r.all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("id="))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    /// Like `send`, but a middleware error becomes the response actix-web would send.
    async fn call<S, B>(app: &S, req: atest::TestRequest) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
        B: MessageBody,
    {
        match atest::try_call_service(app, req.to_request()).await {
            Ok(resp) => {
                let (status, headers) = (resp.status(), resp.headers().clone());
                Reply {
                    status,
                    headers,
                    body: atest::read_body(resp).await,
                }
            }
            Err(err) => {
                let resp = err.as_response_error().error_response();
                let (status, headers) = (resp.status(), resp.headers().clone());
                let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap_or_default();
                Reply { status, headers, body }
            }
        }
    }

    fn post(uri: &str) -> atest::TestRequest {
        atest::TestRequest::post().uri(uri)
    }

    fn with(req: atest::TestRequest, cookie: &str) -> atest::TestRequest {
        req.insert_header(("Cookie", cookie.to_owned()))
    }

    #[actix_web::test]
    async fn a_login_is_recognised_through_the_database_store() {
        let path = fresh_sqlite("http_login");
        let app = atest::init_service(app(
            store_at(&path).await,
            SecretKey::generate(),
            web::Data::new(Gate::default()),
        ))
        .await;
        let login = call(&app, post("/login/root@localhost")).await;
        assert_eq!(login.status, 200);
        let cookie = session_cookie(&login).expect("a session cookie");
        let r = call(&app, with(get("/whoami"), &cookie)).await;
        assert_eq!(r.id(), "root@localhost");
        assert_eq!(r.json()["state"], "authenticated");
        // The cookie carries the key, not the state.
        assert!(!cookie.contains("root"), "{cookie}");
    }

    #[actix_web::test]
    async fn a_database_session_survives_a_restart() {
        let path = fresh_sqlite("http_restart");
        let secret = SecretKey::generate();
        let cookie = {
            let app = atest::init_service(app(
                store_at(&path).await,
                secret.clone(),
                web::Data::new(Gate::default()),
            ))
            .await;
            session_cookie(&call(&app, post("/login/customer@localhost")).await).unwrap()
        };
        // A new process: a new pool and store over the same database, the same cookie key.
        let app = atest::init_service(app(store_at(&path).await, secret, web::Data::new(Gate::default()))).await;
        assert_eq!(
            call(&app, with(get("/whoami"), &cookie)).await.id(),
            "customer@localhost"
        );
    }

    #[actix_web::test]
    async fn logout_ends_the_session_so_a_replayed_cookie_is_anonymous() {
        let path = fresh_sqlite("http_logout");
        let store = store_at(&path).await;
        let app = atest::init_service(app(
            store.clone(),
            SecretKey::generate(),
            web::Data::new(Gate::default()),
        ))
        .await;
        let cookie = session_cookie(&call(&app, post("/login/root@localhost")).await).unwrap();
        assert_eq!(call(&app, with(get("/whoami"), &cookie)).await.id(), "root@localhost");

        let out = call(&app, with(post("/logout"), &cookie)).await;
        assert_eq!(out.status, 200);
        assert!(
            session_cookie(&out).is_some_and(|c| c == "id="),
            "the cookie is removed: {:?}",
            out.all("set-cookie")
        );

        // An attacker who copied the cookie before the logout replays it.
        let replay = call(&app, with(get("/whoami"), &cookie)).await;
        assert_eq!(replay.id(), Value::Null);
        assert_eq!(replay.json()["state"], "anonymous");
        assert_eq!(store.delete_expired().await.unwrap(), 0);
    }

    #[actix_web::test]
    async fn a_cookie_store_cannot_end_a_replayed_session() {
        // The contrast, and why this store exists: with actix-session's cookie store the
        // copied cookie still works after logout (security.md, X4).
        use actix_session::storage::CookieSessionStore;
        let app = atest::init_service(app(
            CookieSessionStore::default(),
            SecretKey::generate(),
            web::Data::new(Gate::default()),
        ))
        .await;
        let cookie = session_cookie(&call(&app, post("/login/root@localhost")).await).unwrap();
        call(&app, with(post("/logout"), &cookie)).await;
        assert_eq!(call(&app, with(get("/whoami"), &cookie)).await.id(), "root@localhost");
    }

    #[actix_web::test]
    async fn a_store_outage_is_an_opaque_500_never_anonymous() {
        let path = fresh_sqlite("http_outage");
        let secret = SecretKey::generate();
        let good = atest::init_service(app(
            store_at(&path).await,
            secret.clone(),
            web::Data::new(Gate::default()),
        ))
        .await;
        let cookie = session_cookie(&call(&good, post("/login/root@localhost")).await).unwrap();

        let down = atest::init_service(app(broken_store(), secret, web::Data::new(Gate::default()))).await;
        for req in [get("/whoami"), get("/"), post("/logout")] {
            let r = call(&down, with(req, &cookie)).await;
            assert_eq!(r.status, 500);
            assert!(r.body.is_empty(), "{:?}", r.body);
            assert!(session_cookie(&r).is_none(), "{:?}", r.all("set-cookie"));
        }
        // Without a session cookie the store is not needed: anonymous requests are served.
        let r = call(&down, get("/whoami")).await;
        assert_eq!(r.id(), Value::Null);
        // A login whose session cannot be saved fails whole: no cookie, no half login.
        let r = call(&down, post("/login/root@localhost")).await;
        assert_eq!(r.status, 500);
        assert!(r.body.is_empty());
        assert!(session_cookie(&r).is_none());
    }

    #[actix_web::test]
    async fn a_request_racing_a_logout_does_not_bring_the_login_back() {
        let path = fresh_sqlite("http_race");
        let store = store_at(&path).await;
        let gate = web::Data::new(Gate::default());
        let app = atest::init_service(app(store.clone(), SecretKey::generate(), gate.clone())).await;
        let cookie = session_cookie(&call(&app, post("/login/root@localhost")).await).unwrap();

        // A slow request loads the session, then a logout completes, then the slow request
        // writes its change to the session it loaded before the logout.
        let slow = call(&app, with(post("/slow"), &cookie));
        let logout = async {
            while !gate.entered.load(Ordering::SeqCst) {
                actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            }
            let out = call(&app, with(post("/logout"), &cookie)).await;
            gate.release.store(true, Ordering::SeqCst);
            out
        };
        let (slow, out) = futures_util::future::join(slow, logout).await;
        assert_eq!(out.status, 200);
        assert_eq!(slow.status, 200);

        // The slow request got a new session, which does not carry the login.
        let fresh = session_cookie(&slow).expect("a new session cookie");
        assert_ne!(fresh, cookie);
        assert_eq!(call(&app, with(get("/whoami"), &fresh)).await.id(), Value::Null);
        assert_eq!(call(&app, with(get("/whoami"), &cookie)).await.id(), Value::Null);
        // The cookie is signed, so its value is not the raw key: look at the table instead.
        let mut expected = HashMap::new();
        expected.insert("visits".to_owned(), "2".to_owned());
        assert!(
            rows_with_state(&path, &expected).await,
            "the slow request's own change is kept, without the login"
        );
    }

    /// Whether exactly one stored session holds `expected`, and none holds a login.
    async fn rows_with_state(path: &str, expected: &HashMap<String, String>) -> bool {
        use diesel_async::RunQueryDsl as _;
        let pool = sqlite_pool(path, &PoolOptions::default()).unwrap();
        let mut conn = pool.get().await.unwrap();
        let rows = diesel::sql_query("SELECT key_hash, state, expires_at FROM imia_sessions")
            .load::<super::Row>(&mut *conn)
            .await
            .unwrap();
        let states: Vec<HashMap<String, String>> =
            rows.iter().map(|r| serde_json::from_str(&r.state).unwrap()).collect();
        states.iter().all(|s| !s.contains_key("_auth_user_id")) && states.iter().filter(|s| *s == expected).count() == 1
    }
}
