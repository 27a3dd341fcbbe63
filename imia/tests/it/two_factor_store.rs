//! Second-factor stores: the store contract, and requests racing on one user, in memory and in
//! every database.

use futures_util::future::join_all;
use imia::{
    testing::check_two_factor_store,
    two_factor::{InMemoryTwoFactorStore, TwoFactorStore},
};

/// How many requests race.
const RACERS: usize = 16;

/// How many of `futures` answered `true`.
async fn wins(futures: impl IntoIterator<Item = impl Future<Output = bool>>) -> usize {
    join_all(futures).await.into_iter().filter(|won| *won).count()
}

/// Requests racing on one user's second factor: enrolments, one recovery code, one time step,
/// attempts against a limit.
async fn races(store: &impl TwoFactorStore, user: &str) {
    // Enrolments racing: each replaces the one before; none is refused.
    let secrets: Vec<String> = (0..RACERS).map(|i| format!("v1.secret-{i}")).collect();
    let begun = wins(
        secrets
            .iter()
            .map(|s| async move { store.begin(user, s, 100).await.unwrap() }),
    )
    .await;
    assert_eq!(begun, RACERS, "no enrolment refused while none is enabled");
    let pending = store.find(user).await.unwrap().expect("an enrolment");
    assert!(!pending.enabled && secrets.contains(&pending.secret));

    let codes: Vec<String> = (0..10).map(|i| format!("{i:x}").repeat(64)).collect();
    assert!(store.enable(user, &pending.secret, 10, &codes).await.unwrap());
    let begun = wins((0..RACERS).map(|_| async { store.begin(user, "v1.late", 200).await.unwrap() })).await;
    assert_eq!(begun, 0, "enabled: no enrolment replaces it");

    // One recovery code, used by every request at once: exactly one wins.
    let used = wins((0..RACERS).map(|_| async { store.use_recovery_code(user, &codes[3]).await.unwrap() })).await;
    assert_eq!(used, 1, "a recovery code is used once");
    // Different codes at once: each is used once, and none is lost.
    let used = wins(
        codes[4..]
            .iter()
            .map(|c| async move { store.use_recovery_code(user, c).await.unwrap() }),
    )
    .await;
    assert_eq!(used, 6);
    let left = store.find(user).await.unwrap().unwrap().recovery_codes;
    assert_eq!(left, codes[..3].to_vec());

    // One time step, sent by every request at once: exactly one wins.
    let accepted = wins((0..RACERS).map(|_| async { store.accept_step(user, 11).await.unwrap() })).await;
    assert_eq!(accepted, 1, "a time step is accepted once");
    assert_eq!(store.find(user).await.unwrap().unwrap().last_step, 11);

    // Attempts against a limit of 5: exactly 5 are taken.
    let taken = wins((0..RACERS).map(|_| async { store.reserve_attempt(user, 5).await.unwrap() })).await;
    assert_eq!(taken, 5, "no more attempts than the limit");
    assert_eq!(store.find(user).await.unwrap().unwrap().attempts, 5);

    assert!(store.remove(user).await.unwrap());
}

#[actix_web::test]
async fn in_memory_store() {
    let store = InMemoryTwoFactorStore::new();
    check_two_factor_store(&store, "user-id").await;
    races(&store, "racer").await;
}

#[cfg(feature = "diesel")]
mod diesel_stores {
    use imia::diesel::{Backend, DieselTwoFactorStore, PoolOptions, migrations};

    use super::*;

    async fn migrated<C: Backend>(pool: &C::Pool) {
        let mut conn = C::checkout(pool).await.expect("a connection");
        migrations::run(&mut *conn).await.expect("the tables");
    }

    /// Creates the second-factor table `table` (schema-qualified, say) with its own statement.
    async fn created<C: Backend>(pool: &C::Pool, table: &str) {
        let mut conn = C::checkout(pool).await.expect("a connection");
        conn.batch_execute(&migrations::two_factor_sql(C::DIALECT, table))
            .await
            .expect("the table");
    }

    fn options() -> PoolOptions {
        PoolOptions {
            max_size: 8, // requests really run at once
            ..PoolOptions::default()
        }
    }

    #[cfg(feature = "sqlite")]
    #[actix_web::test]
    async fn sqlite() {
        use imia::diesel::{SqliteConnection, sqlite_pool};
        let pool = sqlite_pool(&crate::servers::fresh_sqlite("two_factor"), &options()).unwrap();
        migrated::<SqliteConnection>(&pool).await;
        let store = DieselTwoFactorStore::<SqliteConnection>::new(pool.clone());
        check_two_factor_store(&store, "user-id").await;
        races(&store, "racer").await;
        // In a table of another name, qualified by its schema.
        created::<SqliteConnection>(&pool, "main.second_factors").await;
        let store = DieselTwoFactorStore::<SqliteConnection>::with_table(pool, "main.second_factors").unwrap();
        check_two_factor_store(&store, "user-id").await;
    }

    #[cfg(feature = "postgres")]
    #[actix_web::test]
    async fn postgres() {
        use diesel_async::AsyncPgConnection;
        let Some(url) = crate::servers::fresh_postgres("two_factor").await else {
            return;
        };
        let pool = imia::diesel::postgres_pool(&url, &options()).unwrap();
        migrated::<AsyncPgConnection>(&pool).await;
        let store = DieselTwoFactorStore::<AsyncPgConnection>::new(pool.clone());
        check_two_factor_store(&store, "user-id").await;
        races(&store, "racer").await;
        created::<AsyncPgConnection>(&pool, "public.second_factors").await;
        let store = DieselTwoFactorStore::<AsyncPgConnection>::with_table(pool, "public.second_factors").unwrap();
        check_two_factor_store(&store, "user-id").await;
    }

    #[cfg(feature = "mysql")]
    #[actix_web::test]
    async fn mysql() {
        use diesel_async::AsyncMysqlConnection;
        let Some(url) = crate::servers::fresh_mysql("two_factor").await else {
            return;
        };
        let pool = imia::diesel::mysql_pool(&url, &options()).unwrap();
        migrated::<AsyncMysqlConnection>(&pool).await;
        let store = DieselTwoFactorStore::<AsyncMysqlConnection>::new(pool.clone());
        check_two_factor_store(&store, "user-id").await;
        races(&store, "racer").await;
        let database = url.rsplit('/').next().unwrap().to_owned();
        let table = format!("{database}.second_factors");
        created::<AsyncMysqlConnection>(&pool, &table).await;
        let store = DieselTwoFactorStore::<AsyncMysqlConnection>::with_table(pool, &table).unwrap();
        check_two_factor_store(&store, "user-id").await;
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn table_names_are_checked() {
        use imia::diesel::SqliteConnection;
        let pool = imia::diesel::sqlite_pool(":memory:", &PoolOptions::default()).unwrap();
        assert!(DieselTwoFactorStore::<SqliteConnection>::with_table(pool.clone(), "x; DROP").is_err());
        assert!(DieselTwoFactorStore::<SqliteConnection>::with_table(pool, "app.second_factors").is_ok());
    }
}
