//! Single-use link stores: the store contract, and one link used by many requests at once, in
//! memory and in every database.

use futures_util::future::join_all;
use imia::{
    account::{InMemoryLinkStore, LinkStore, LinkToken, Purpose},
    provider::hash_token,
    testing::check_link_store,
};

/// One link used by 16 requests at once: exactly one wins.
async fn race(store: &impl LinkStore, user: &str) {
    let selector = format!("{user}-race");
    let token = LinkToken::new(
        &selector,
        hash_token("v"),
        Purpose::PasswordReset.as_str(),
        user,
        i64::MAX,
    );
    store.insert(&token).await.unwrap();
    let hash = hash_token("v");
    let wins = join_all((0..16).map(|_| store.consume(&selector, &hash)))
        .await
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1, "a link is used once");
}

#[actix_web::test]
async fn in_memory_store() {
    let store = InMemoryLinkStore::new();
    check_link_store(&store, "user-id").await;
    race(&store, "racer").await;
}

#[cfg(feature = "diesel")]
mod diesel_stores {
    use imia::diesel::{Backend, DieselLinkStore, PoolOptions, migrations};

    use super::*;

    async fn migrated<C: Backend>(pool: &C::Pool) {
        let mut conn = C::checkout(pool).await.expect("a connection");
        migrations::run(&mut *conn).await.expect("the tables");
    }

    fn options() -> PoolOptions {
        PoolOptions {
            max_size: 8,
            ..PoolOptions::default()
        }
    }

    #[cfg(feature = "sqlite")]
    #[actix_web::test]
    async fn sqlite() {
        use imia::diesel::{SqliteConnection, sqlite_pool};
        let pool = sqlite_pool(&crate::servers::fresh_sqlite("links"), &options()).unwrap();
        migrated::<SqliteConnection>(&pool).await;
        let store = DieselLinkStore::<SqliteConnection>::new(pool.clone());
        check_link_store(&store, "user-id").await;
        race(&store, "racer").await;
        assert!(DieselLinkStore::<SqliteConnection>::with_table(pool, "x; DROP").is_err());
    }

    #[cfg(feature = "postgres")]
    #[actix_web::test]
    async fn postgres() {
        use diesel_async::AsyncPgConnection;
        let Some(url) = crate::servers::fresh_postgres("links").await else {
            return;
        };
        let pool = imia::diesel::postgres_pool(&url, &options()).unwrap();
        migrated::<AsyncPgConnection>(&pool).await;
        let store = DieselLinkStore::<AsyncPgConnection>::new(pool);
        check_link_store(&store, "user-id").await;
        race(&store, "racer").await;
    }

    #[cfg(feature = "mysql")]
    #[actix_web::test]
    async fn mysql() {
        use diesel_async::AsyncMysqlConnection;
        let Some(url) = crate::servers::fresh_mysql("links").await else {
            return;
        };
        let pool = imia::diesel::mysql_pool(&url, &options()).unwrap();
        migrated::<AsyncMysqlConnection>(&pool).await;
        let store = DieselLinkStore::<AsyncMysqlConnection>::new(pool);
        check_link_store(&store, "user-id").await;
        race(&store, "racer").await;
    }
}
