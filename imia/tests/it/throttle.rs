//! The shared login throttles on real servers: Redis, and Diesel on SQLite, PostgreSQL and
//! MySQL/MariaDB. Each gives the in-memory throttle's verdicts, counts once for several servers,
//! never lets parallel attempts past its limit, forgets what expired, stores nothing as typed,
//! and, when its store fails, makes the login answer 503 rather than open the lock or claim
//! wrong credentials.
// With `diesel` but no backend feature, and without `redis`, nothing here runs.
#![cfg_attr(
    not(any(feature = "redis", feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports, unused_macros)
)]

use std::{
    future::Future,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use imia::{
    error::ProviderError,
    throttle::{Attempt, InMemoryThrottle, LoginThrottle, ThrottlePolicy},
};

use crate::common::secret;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

fn from(username: &str, addr: IpAddr) -> Attempt<'_> {
    Attempt {
        username,
        addr: Some(addr),
    }
}

/// A store that several throttles share, as several servers would, with a look inside.
trait Shared {
    type Throttle: LoginThrottle + Clone;
    /// A throttle on this store with its own connections, as another server makes it.
    fn throttle(&self, policy: ThrottlePolicy) -> Self::Throttle;
    /// What the store holds for this test, one entry per key or row, as text.
    fn contents(&self) -> impl Future<Output = Vec<String>>;
    /// Deletes what expired where the store does not do it itself; how many were deleted.
    fn purge(&self) -> impl Future<Output = u64>;
}

/// One login as the callers make it: allowed or not, then failed or succeeded.
async fn login(throttle: &impl LoginThrottle, attempt: Attempt<'_>, right_password: bool) -> bool {
    let allowed = throttle.allow(attempt).await.expect("allow");
    if allowed {
        if right_password {
            throttle.succeeded(attempt).await.expect("succeeded");
        } else {
            throttle.failed(attempt).await.expect("failed");
        }
    }
    allowed
}

/// Waits until `attempt` is allowed (each look that finds it allowed takes a place: the
/// caller reports it), failing after `limit`; returns how long it took.
async fn until_allowed(throttle: &impl LoginThrottle, attempt: Attempt<'_>, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if throttle.allow(attempt).await.expect("allow") {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still locked after {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ----- the cases, on every store -----

/// A script of logins gets the same verdicts as from the in-memory throttle with the same
/// policy: what counts, what a success clears, per username and per address.
async fn same_verdicts_as_in_memory<S: Shared>(s: &S) {
    let policy = ThrottlePolicy::new()
        .per_username(3, Duration::from_secs(60))
        .per_address(5, Duration::from_secs(60));
    let script: &[(&str, Option<IpAddr>, bool)] = &[
        ("ann", Some(A), false),
        ("ANN", Some(A), false),
        ("ann", Some(A), true), // clears ann, not the address
        ("ann", Some(B), false),
        ("ann", Some(B), false),
        ("Ann", Some(B), false),
        ("ann", Some(B), true), // locked: 3 failures
        ("bob", Some(A), false),
        ("carl", Some(A), false),
        ("dave", Some(A), false), // the address's 5th failure
        ("erin", Some(A), true),  // the address is locked
        ("erin", Some(B), false),
        ("ann", Some(A), false),
        ("frank", None, false),
        ("bob", Some(B), true),
    ];
    let expected = [
        true, true, true, true, true, true, false, true, true, true, false, true, false, true, true,
    ];
    let memory = InMemoryThrottle::with_policy(policy);
    let shared = s.throttle(policy);
    let mut verdicts = (Vec::new(), Vec::new());
    for (username, addr, right) in script {
        let attempt = Attempt { username, addr: *addr };
        verdicts.0.push(login(&memory, attempt, *right).await);
        verdicts.1.push(login(&shared, attempt, *right).await);
    }
    assert_eq!(verdicts.0, expected, "the in-memory throttle");
    assert_eq!(verdicts.1, expected, "the shared throttle");
}

/// `max` failures lock a username (whatever its case) and nothing else; a locked attempt is
/// not counted.
async fn locks_after_max_failures<S: Shared>(s: &S) {
    let t = s.throttle(ThrottlePolicy::new().per_username(3, Duration::from_secs(60)));
    for _ in 0..3 {
        assert!(login(&t, from("Ann@Example.com", A), false).await);
    }
    for _ in 0..5 {
        assert!(!login(&t, from("ann@example.com", B), true).await, "locked");
    }
    assert!(
        login(&t, from("bob@example.com", A), false).await,
        "other usernames are unaffected"
    );
    let before = s.contents().await;
    assert!(!t.allow(from("ANN@example.com", A)).await.unwrap());
    assert_eq!(s.contents().await, before, "a refused attempt changes nothing");
}

/// The window slides as in memory: a lock ends when the oldest failure is `window` old, and
/// one more failure locks again until the next oldest is.
async fn the_window_slides<S: Shared>(s: &S) {
    let window = Duration::from_millis(1_500);
    let t = s.throttle(ThrottlePolicy::new().per_username(2, window));
    let ann = from("ann", A);
    let first = Instant::now();
    assert!(login(&t, ann, false).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = Instant::now();
    assert!(login(&t, ann, false).await);
    assert!(!t.allow(ann).await.unwrap());
    until_allowed(&t, ann, Duration::from_secs(5)).await;
    // Millisecond clocks: a lock may end up to a millisecond early.
    let tolerance = Duration::from_millis(5);
    assert!(first.elapsed() + tolerance >= window, "{:?}", first.elapsed());
    t.failed(ann).await.unwrap();
    // Not a fresh window: the second failure still counts.
    assert!(!t.allow(ann).await.unwrap(), "one failure after a lock locks again");
    until_allowed(&t, ann, Duration::from_secs(5)).await;
    assert!(second.elapsed() + tolerance >= window, "{:?}", second.elapsed());
    t.succeeded(ann).await.unwrap();
}

/// Two servers on one store share one count: failures on one lock the other, a success on
/// one clears both.
async fn two_servers_share_one_lockout<S: Shared>(s: &S) {
    let policy = ThrottlePolicy::new().per_username(4, Duration::from_secs(60));
    let (one, two) = (s.throttle(policy), s.throttle(policy));
    for i in 0..4 {
        let server = if i % 2 == 0 { &one } else { &two };
        assert!(login(server, from("ann", A), false).await);
    }
    assert!(!one.allow(from("ann", A)).await.unwrap());
    assert!(!two.allow(from("ann", B)).await.unwrap());
    two.succeeded(from("ann", B)).await.unwrap();
    assert!(
        one.allow(from("ann", A)).await.unwrap(),
        "a success on either clears both"
    );
    one.succeeded(from("ann", A)).await.unwrap();
}

/// 50 parallel wrong passwords on two servers: exactly `max` are checked, whatever the
/// interleaving; the rest are refused.
async fn parallel_attempts_never_exceed_the_limit<S: Shared>(s: &S) {
    const MAX: usize = 5;
    let policy = ThrottlePolicy::new()
        .per_username(MAX, Duration::from_secs(60))
        .per_address(1_000, Duration::from_secs(60));
    let servers = [s.throttle(policy), s.throttle(policy)];
    let checked = Arc::new(AtomicUsize::new(0));
    let attempts = (0..50).map(|i| {
        let (server, checked) = (servers[i % 2].clone(), Arc::clone(&checked));
        async move {
            let attempt = from("ann", A);
            if server.allow(attempt).await.unwrap() {
                checked.fetch_add(1, Ordering::SeqCst);
                // The password check takes a while: other attempts run meanwhile.
                tokio::time::sleep(Duration::from_millis(20)).await;
                server.failed(attempt).await.unwrap();
            }
        }
    });
    futures_util::future::join_all(attempts).await;
    assert_eq!(checked.load(Ordering::SeqCst), MAX, "checked passwords");
    for server in &servers {
        assert!(!server.allow(from("ann", A)).await.unwrap());
    }
    // The address counted each checked attempt once, and holds no place for the refused ones.
    let address = |max| s.throttle(ThrottlePolicy::new().per_address(max, Duration::from_secs(60)));
    assert!(!address(MAX).allow(from("zoe", A)).await.unwrap());
    assert!(address(MAX + 1).allow(from("zoe", A)).await.unwrap());
}

/// With a burst, more parallel attempts start than the limit (correct logins in parallel tabs
/// all go through), and at most `max + burst` are checked; a reached limit refuses every
/// attempt, burst or not.
async fn a_burst_lets_parallel_attempts_start_but_not_past_a_reached_limit<S: Shared>(s: &S) {
    const MAX: usize = 3;
    const BURST: usize = 5;
    let policy = ThrottlePolicy::new()
        .per_username(MAX, Duration::from_secs(60))
        .burst(BURST);
    let servers = [s.throttle(policy), s.throttle(policy)];
    // Eight correct logins at once: all allowed (max + burst), and each success clears.
    let allowed: Vec<bool> = futures_util::future::join_all((0..MAX + BURST).map(|i| {
        let server = servers[i % 2].clone();
        async move { server.allow(from("bea", A)).await.unwrap() }
    }))
    .await;
    assert!(allowed.iter().all(|a| *a), "{allowed:?}");
    assert!(
        !servers[0].allow(from("bea", A)).await.unwrap(),
        "max + burst in flight"
    );
    for server in servers.iter().cycle().take(MAX + BURST) {
        server.succeeded(from("bea", A)).await.unwrap();
    }
    // Wrong passwords in parallel: at most max + burst are checked, then the limit holds.
    let checked = Arc::new(AtomicUsize::new(0));
    futures_util::future::join_all((0..30).map(|i| {
        let (server, checked) = (servers[i % 2].clone(), Arc::clone(&checked));
        async move {
            let attempt = from("bea", A);
            if server.allow(attempt).await.unwrap() {
                checked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                server.failed(attempt).await.unwrap();
            }
        }
    }))
    .await;
    let checked = checked.load(Ordering::SeqCst);
    assert!((MAX..=MAX + BURST).contains(&checked), "checked {checked}");
    assert!(
        !servers[1].allow(from("bea", A)).await.unwrap(),
        "a reached limit refuses"
    );
}

/// An attempt abandoned without a verdict (its request was cancelled) gives its place back at
/// once, and counts as no failure.
async fn an_abandoned_attempt_gives_its_place_back<S: Shared>(s: &S) {
    let policy = ThrottlePolicy::new().per_username(1, Duration::from_secs(60));
    let (a, b) = (s.throttle(policy), s.throttle(policy));
    assert!(a.allow(from("cid", A)).await.unwrap());
    assert!(!b.allow(from("cid", A)).await.unwrap(), "the place is taken");
    a.abandoned(from("cid", A)).await.unwrap();
    assert!(b.allow(from("cid", A)).await.unwrap(), "given back, on every server");
    b.failed(from("cid", A)).await.unwrap();
    assert!(!a.allow(from("cid", A)).await.unwrap(), "one failure: the limit");
}

/// An allowed attempt that never reports back (its request failed) gives its place back
/// after `in_flight`.
async fn places_in_flight_lapse<S: Shared>(s: &S) {
    let t = s.throttle(
        ThrottlePolicy::new()
            .per_username(2, Duration::from_secs(60))
            .in_flight(Duration::from_secs(1)),
    );
    let ann = from("ann", A);
    assert!(t.allow(ann).await.unwrap());
    assert!(t.allow(ann).await.unwrap());
    let started = Instant::now();
    assert!(!t.allow(ann).await.unwrap(), "two attempts in flight fill the limit");
    until_allowed(&t, ann, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // A success gives its place back at once.
    t.succeeded(ann).await.unwrap();
    assert!(t.allow(ann).await.unwrap());
}

/// Counters go once their windows have passed.
async fn expired_counters_are_removed<S: Shared>(s: &S) {
    let t = s.throttle(
        ThrottlePolicy::new()
            .per_username(1, Duration::from_secs(1))
            .per_address(1, Duration::from_secs(1))
            .in_flight(Duration::from_secs(1)),
    );
    for name in ["ann", "bob", "carl"] {
        t.failed(from(name, A)).await.unwrap();
    }
    assert!(t.allow(from("dave", B)).await.unwrap()); // in flight, never reported
    assert!(s.contents().await.len() >= 5, "{:?}", s.contents().await);
    assert_eq!(s.purge().await, 0, "nothing has expired yet");
    let started = Instant::now();
    loop {
        s.purge().await;
        if s.contents().await.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", s.contents().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert!(t.allow(from("ann", A)).await.unwrap());
}

/// Neither usernames (people type passwords into that field) nor addresses are stored.
async fn nothing_typed_is_stored<S: Shared>(s: &S) {
    let t = s.throttle(
        ThrottlePolicy::new()
            .per_username(3, Duration::from_secs(60))
            .per_address(3, Duration::from_secs(60)),
    );
    let typed = Attempt {
        username: "Alice.Hunter2-Passw0rd",
        addr: Some("203.0.113.9".parse().unwrap()),
    };
    t.failed(typed).await.unwrap();
    assert!(t.allow(typed).await.unwrap());
    let stored = s.contents().await.join("\n").to_lowercase();
    assert!(!stored.is_empty());
    for secret in ["alice", "hunter2", "passw0rd", "203.0.113"] {
        assert!(!stored.contains(secret), "{secret} in {stored}");
    }
}

/// Generates one test per case for a store.
macro_rules! throttle_suite {
    ($store:ident, $fixture:path) => {
        mod $store {
            throttle_suite!(@cases $fixture;
                same_verdicts_as_in_memory,
                locks_after_max_failures,
                the_window_slides,
                two_servers_share_one_lockout,
                parallel_attempts_never_exceed_the_limit,
                a_burst_lets_parallel_attempts_start_but_not_past_a_reached_limit,
                an_abandoned_attempt_gives_its_place_back,
                places_in_flight_lapse,
                expired_counters_are_removed,
                nothing_typed_is_stored,
            );
        }
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $case() {
                let Some(store) = $fixture(stringify!($case)).await else { return };
                super::$case(&store).await;
            }
        )*
    };
}

/// Waits at most `limit` for `work`, which must fail as unavailable.
async fn fails_unavailable<T: std::fmt::Debug>(
    limit: Duration,
    work: impl Future<Output = Result<T, ProviderError>>,
) -> ProviderError {
    let started = Instant::now();
    let err = work.await.expect_err("the store is down");
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    err
}

/// Every operation of a throttle whose store cannot be reached fails, as unavailable.
async fn every_operation_fails(t: &impl LoginThrottle, limit: Duration) {
    let ann = from("ann", A);
    fails_unavailable(limit, t.allow(ann)).await;
    fails_unavailable(limit, t.failed(ann)).await;
    fails_unavailable(limit, t.succeeded(ann)).await;
}

/// A TCP port that accepts connections and never answers: a hung server.
#[cfg(any(feature = "redis", feature = "postgres"))]
fn silent_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

// ----- Redis -----

#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use imia::throttle::{RedisThrottle, ThrottlePolicy};

    use super::*;
    use crate::servers::{redis_url, unique_name};

    pub(super) struct RedisStore {
        url: String,
        prefix: String,
        pool: deadpool_redis::Pool,
    }

    /// A Redis store under a prefix of its own, or `None` (skipped) when Redis does not answer.
    pub(super) async fn fixture(name: &str) -> Option<RedisStore> {
        let url = redis_url();
        let pool = crate::servers::redis_pool().await?;
        let prefix = format!("{}:", unique_name(&name[..name.len().min(20)]));
        Some(RedisStore { url, prefix, pool })
    }

    impl Shared for RedisStore {
        type Throttle = RedisThrottle;

        fn throttle(&self, policy: ThrottlePolicy) -> RedisThrottle {
            let pool = RedisThrottle::redis_pool(&self.url).unwrap();
            RedisThrottle::new(pool, &secret(), policy).prefix(&self.prefix)
        }

        async fn contents(&self) -> Vec<String> {
            let mut conn = self.pool.get().await.unwrap();
            let mut keys: Vec<String> = ::redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.sort();
            let mut contents = Vec::new();
            for key in keys {
                let entries: Vec<String> = ::redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let ttl: i64 = ::redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
                // Every key expires, within its window (at most a minute here).
                assert!((0..=60_000).contains(&ttl), "{key} expires in {ttl} ms");
                contents.push(format!("{key} {}", entries.join(" ")));
            }
            contents
        }

        /// Redis expires the keys itself.
        async fn purge(&self) -> u64 {
            0
        }
    }

    #[actix_web::test]
    async fn an_unreachable_redis_fails_every_operation() {
        let pool = RedisThrottle::redis_pool("redis://127.0.0.1:1").unwrap();
        let t = RedisThrottle::new(
            pool,
            &secret(),
            ThrottlePolicy::new().per_username(3, Duration::from_secs(60)),
        );
        every_operation_fails(&t, Duration::from_secs(5)).await;
    }

    #[actix_web::test]
    async fn a_hung_redis_times_out_as_unavailable() {
        let (_listener, port) = silent_server();
        let pool = RedisThrottle::redis_pool(&format!("redis://127.0.0.1:{port}")).unwrap();
        let t = RedisThrottle::new(
            pool,
            &secret(),
            ThrottlePolicy::new().per_username(3, Duration::from_secs(60)),
        )
        .timeout(Duration::from_millis(300));
        every_operation_fails(&t, Duration::from_secs(2)).await;
    }
}

#[cfg(feature = "redis")]
throttle_suite!(redis, super::redis_store::fixture);

// ----- Diesel -----

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql_store {
    use diesel::{
        QueryableByName,
        deserialize::FromSql,
        query_builder::SqlQuery,
        serialize::ToSql,
        sql_types::{BigInt, HasSqlType, Text},
    };
    use diesel_async::{AsyncConnectionCore, RunQueryDsl as _, methods::LoadQuery};
    use imia::{
        diesel::{Backend, DieselThrottle, migrations},
        throttle::ThrottlePolicy,
    };

    use super::*;

    type Db<C> = <C as AsyncConnectionCore>::Backend;

    #[derive(Debug, QueryableByName)]
    pub(super) struct Row {
        #[diesel(sql_type = Text)]
        key_hash: String,
        #[diesel(sql_type = Text)]
        failures: String,
        #[diesel(sql_type = Text)]
        pending: String,
        #[diesel(sql_type = BigInt)]
        expires_at: i64,
    }

    /// A database with imia's tables; each throttle gets a pool of its own.
    pub(super) struct SqlStore<C: Backend> {
        pub(super) pool: Box<dyn Fn() -> C::Pool>,
    }

    impl<C> SqlStore<C>
    where
        C: Backend,
    {
        pub(super) async fn new(pool: impl Fn() -> C::Pool + 'static) -> Self {
            migrations::run(&mut *C::checkout(&pool()).await.expect("a connection"))
                .await
                .expect("migrations");
            Self { pool: Box::new(pool) }
        }
    }

    impl<C> Shared for SqlStore<C>
    where
        C: Backend,
        Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
        String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
        i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
        for<'a> SqlQuery: LoadQuery<'a, C, Row>,
    {
        type Throttle = DieselThrottle<C>;

        fn throttle(&self, policy: ThrottlePolicy) -> DieselThrottle<C> {
            DieselThrottle::new((self.pool)(), &secret(), policy)
        }

        async fn contents(&self) -> Vec<String> {
            let pool = (self.pool)();
            let mut conn = C::checkout(&pool).await.unwrap();
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT key_hash, failures, pending, expires_at FROM imia_login_throttle ORDER BY key_hash",
            )
            .load::<Row>(&mut *conn)
            .await
            .unwrap();
            rows.into_iter()
                .map(|r| {
                    assert_eq!(r.key_hash.len(), 64);
                    assert!(r.expires_at > 0, "{r:?}");
                    format!("{} {} {} {}", r.key_hash, r.failures, r.pending, r.expires_at)
                })
                .collect()
        }

        async fn purge(&self) -> u64 {
            self.throttle(ThrottlePolicy::new()).purge_expired().await.unwrap()
        }
    }

    /// A short database-name tag from a test name.
    pub(super) fn tag(name: &str) -> String {
        format!("thr_{}", &name[..name.len().min(24)])
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_store {
    use imia::diesel::{PoolOptions, SqliteConnection, sqlite_pool};

    use super::sql_store::{SqlStore, tag};

    pub(super) async fn fixture(name: &str) -> Option<SqlStore<SqliteConnection>> {
        let path = crate::servers::fresh_sqlite(&tag(name));
        Some(SqlStore::new(move || sqlite_pool(&path, &PoolOptions::default()).unwrap()).await)
    }
}

#[cfg(feature = "sqlite")]
throttle_suite!(sqlite, super::sqlite_store::fixture);

#[cfg(feature = "postgres")]
mod postgres_store {
    use diesel_async::AsyncPgConnection;
    use imia::diesel::{PoolOptions, postgres_pool};

    use super::sql_store::{SqlStore, tag};

    pub(super) async fn fixture(name: &str) -> Option<SqlStore<AsyncPgConnection>> {
        let url = crate::servers::fresh_postgres(&tag(name)).await?;
        Some(SqlStore::new(move || postgres_pool(&url, &PoolOptions::default()).unwrap()).await)
    }
}

#[cfg(feature = "postgres")]
throttle_suite!(postgres, super::postgres_store::fixture);

#[cfg(feature = "mysql")]
mod mysql_store {
    use diesel_async::AsyncMysqlConnection;
    use imia::diesel::{PoolOptions, mysql_pool};

    use super::sql_store::{SqlStore, tag};

    pub(super) async fn fixture(name: &str) -> Option<SqlStore<AsyncMysqlConnection>> {
        let url = crate::servers::fresh_mysql(&tag(name)).await?;
        Some(SqlStore::new(move || mysql_pool(&url, &PoolOptions::default()).unwrap()).await)
    }
}

#[cfg(feature = "mysql")]
throttle_suite!(mysql, super::mysql_store::fixture);

/// Pools that wait at most one second.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn impatient() -> imia::diesel::PoolOptions {
    imia::diesel::PoolOptions {
        wait_timeout: Duration::from_secs(1),
        ..imia::diesel::PoolOptions::default()
    }
}

#[cfg(feature = "sqlite")]
#[actix_web::test]
async fn sqlite_failures_are_errors() {
    use imia::diesel::{DieselThrottle, SqliteConnection, sqlite_pool};
    let dir = std::env::temp_dir().join(crate::servers::unique_name("missing_dir"));
    let pool = sqlite_pool(dir.join("throttle.sqlite3").to_str().unwrap(), &impatient()).unwrap();
    let t = DieselThrottle::<SqliteConnection>::new(
        pool,
        &secret(),
        ThrottlePolicy::new().per_username(1, Duration::from_secs(1)),
    );
    every_operation_fails(&t, Duration::from_secs(5)).await;
    assert!(!dir.exists());
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_failures_are_errors() {
    use imia::diesel::{DieselThrottle, postgres_pool};
    let pool = postgres_pool("postgres://imia:hunter2@127.0.0.1:1/imia", &impatient()).unwrap();
    let t = DieselThrottle::<diesel_async::AsyncPgConnection>::new(
        pool,
        &secret(),
        ThrottlePolicy::new().per_username(1, Duration::from_secs(1)),
    );
    every_operation_fails(&t, Duration::from_secs(5)).await;
    let (_listener, port) = silent_server();
    let hung = postgres_pool(&format!("postgres://imia@127.0.0.1:{port}/imia"), &Default::default()).unwrap();
    let t = DieselThrottle::<diesel_async::AsyncPgConnection>::new(
        hung,
        &secret(),
        ThrottlePolicy::new().per_username(1, Duration::from_secs(1)),
    )
    .timeout(Duration::from_millis(300));
    every_operation_fails(&t, Duration::from_secs(2)).await;
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_failures_are_errors() {
    use imia::diesel::{DieselThrottle, mysql_pool};
    let pool = mysql_pool("mysql://imia:hunter2@127.0.0.1:1/imia", &impatient()).unwrap();
    let t = DieselThrottle::<diesel_async::AsyncMysqlConnection>::new(
        pool,
        &secret(),
        ThrottlePolicy::new().per_username(1, Duration::from_secs(1)),
    );
    every_operation_fails(&t, Duration::from_secs(5)).await;
}

/// An operation abandoned at its timeout while it waits for a row lock leaves no lock behind:
/// its connection leaves the pool, and the next operation, on another pooled connection, runs.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn abandoned_operations_leave_no_lock<C>(store: sql_store::SqlStore<C>)
where
    C: imia::diesel::Backend,
    <C as diesel_async::AsyncConnectionCore>::Backend: diesel::sql_types::HasSqlType<diesel::sql_types::Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, <C as diesel_async::AsyncConnectionCore>::Backend>
        + diesel::deserialize::FromSql<diesel::sql_types::Text, <C as diesel_async::AsyncConnectionCore>::Backend>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, <C as diesel_async::AsyncConnectionCore>::Backend>
        + diesel::deserialize::FromSql<diesel::sql_types::BigInt, <C as diesel_async::AsyncConnectionCore>::Backend>,
{
    let policy = ThrottlePolicy::new().per_username(5, Duration::from_secs(60));
    let pool = (store.pool)();
    let t = imia::diesel::DieselThrottle::<C>::new(pool.clone(), &secret(), policy).timeout(Duration::from_millis(500));
    // Several pooled connections, and a row for ann.
    let warm = ["a", "b", "c", "d"].map(|name| t.allow(from(name, A)));
    for allowed in futures_util::future::join_all(warm).await {
        assert!(allowed.unwrap());
    }
    t.failed(from("ann", A)).await.unwrap();
    // Another session locks every row.
    let mut holder = C::checkout(&(store.pool)()).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT * FROM imia_login_throttle FOR UPDATE;")
        .await
        .unwrap();
    fails_unavailable(Duration::from_secs(3), t.allow(from("ann", A))).await;
    holder.batch_execute("COMMIT;").await.unwrap();
    // Back in the pool, the abandoned connection would now hold ann's row, and this would time
    // out waiting for it.
    assert!(t.allow(from("ann", A)).await.unwrap());
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_abandoned_operations_leave_no_lock() {
    let Some(store) = postgres_store::fixture("abandoned").await else {
        return;
    };
    abandoned_operations_leave_no_lock(store).await;
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_abandoned_operations_leave_no_lock() {
    let Some(store) = mysql_store::fixture("abandoned").await else {
        return;
    };
    abandoned_operations_leave_no_lock(store).await;
}

// ----- over HTTP -----

/// The login form and HTTP Basic, sharing one throttle, as a test app.
#[cfg(feature = "session")]
// The cases that need a live store run on Redis and SQLite.
#[cfg_attr(not(any(feature = "redis", feature = "sqlite")), allow(dead_code))]
mod http {
    use std::sync::Arc;

    use std::time::Duration;

    use actix_session::{SessionMiddleware, storage::CookieSessionStore};
    use actix_web::{App, HttpRequest, HttpResponse, ResponseError as _, cookie::Key, test as atest, web};
    use imia::{
        Authentication, CurrentUser,
        authenticator::{BasicAuthenticator, SessionAuthenticator},
        login::{LoginError, LoginManager},
        throttle::LoginThrottle,
    };
    use serde::Deserialize;

    use crate::common::*;

    type Manager = LoginManager<Store, CountingVerifier>;

    #[derive(Deserialize)]
    struct Form {
        username: String,
        password: String,
    }

    async fn login(req: HttpRequest, form: web::Form<Form>, logins: web::Data<Manager>) -> HttpResponse {
        match logins.login(&req, &form.username, &form.password).await {
            Ok(token) => HttpResponse::Ok().body(format!("welcome {}", token.display_name())),
            Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body("Invalid username or password."),
            Err(other) => other.error_response(),
        }
    }

    #[derive(Deserialize)]
    struct PasswordForm {
        current: String,
        new: String,
    }

    async fn change_password(
        req: HttpRequest,
        user: CurrentUser<User>,
        form: web::Form<PasswordForm>,
        logins: web::Data<Manager>,
    ) -> HttpResponse {
        match logins.change_password(&req, &user, &form.current, &form.new).await {
            Ok(()) => HttpResponse::Ok().body("changed"),
            Err(err) => err.error_response(),
        }
    }

    /// `POST /login`, `POST /account/password` and, under `/api`, HTTP Basic (with a
    /// verification cache); one throttle for all three.
    pub(super) fn app<T: LoginThrottle>(throttle: Arc<T>, verifier: CountingVerifier) -> TestApp!() {
        let store = Store::new();
        let manager = LoginManager::builder(store.clone(), verifier.clone(), secret())
            .throttle(Arc::clone(&throttle))
            .build();
        let basic = BasicAuthenticator::new(users(), verifier)
            .verification_cache(16, Duration::from_secs(60))
            .throttle(throttle);
        App::new()
            .app_data(web::Data::new(manager))
            .wrap(SessionMiddleware::new(
                CookieSessionStore::default(),
                Key::from(&[7; 64]),
            ))
            .route("/login", web::post().to(login))
            .service(
                web::scope("/account")
                    .wrap(Authentication::new(SessionAuthenticator::new(store, secret())))
                    .route("/password", web::post().to(change_password)),
            )
            .service(
                web::scope("/api")
                    .wrap(Authentication::new(basic))
                    .default_service(web::to(whoami)),
            )
    }

    fn cookie_of(r: &Reply) -> Option<String> {
        r.all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("id=") && !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    pub(super) fn form(username: &str, password: &str) -> atest::TestRequest {
        let body = format!("username={}&password={}", percent(username), percent(password));
        post("/login", &body)
    }

    fn post(uri: &str, body: &str) -> atest::TestRequest {
        atest::TestRequest::post()
            .uri(uri)
            .peer_addr("10.0.0.1:40000".parse().unwrap())
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(body.to_owned())
    }

    pub(super) fn api(username: &str, password: &str) -> atest::TestRequest {
        get("/api/whoami")
            .peer_addr("10.0.0.1:40001".parse().unwrap())
            .insert_header(("Authorization", basic(username, password)))
    }

    fn percent(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// A throttle whose store is down answers 503 at the login form and over Basic, with the
    /// right password as with a wrong one, and checks no password.
    pub(super) async fn a_store_outage_answers_503<T: LoginThrottle>(throttle: T) {
        let verifier = CountingVerifier::default();
        let app = atest::init_service(app(Arc::new(throttle), verifier.clone())).await;
        for password in ["pa$$word", "wrong"] {
            let r = send(&app, form("root@localhost", password)).await;
            assert_eq!(r.status, 503, "{:?}", r.body);
            assert!(r.body.is_empty(), "{:?}", r.body);
            let r = send(&app, api("root@localhost", password)).await;
            assert_eq!(r.status, 503, "{:?}", r.body);
        }
        assert_eq!(verifier.count(), 0, "no password was checked");
    }

    /// Every allowed check that succeeds reports it, so a shared throttle gives its place back:
    /// password changes, and Basic requests answered from the verification cache, never fill the
    /// username's limit (3 here).
    pub(super) async fn successes_give_their_places_back<T: LoginThrottle>(throttle: T) {
        let verifier = CountingVerifier::default();
        let app = atest::init_service(app(Arc::new(throttle), verifier.clone())).await;
        let mut cookie = cookie_of(&send(&app, form("root@localhost", "pa$$word")).await).expect("logged in");
        for _ in 0..5 {
            let r = send(
                &app,
                post("/account/password", "current=pa%24%24word&new=pa%24%24word").insert_header(("Cookie", cookie)),
            )
            .await;
            assert_eq!(r.body, "changed");
            cookie = cookie_of(&r).expect("a renewed session");
        }
        let before = verifier.count();
        for _ in 0..8 {
            let r = send(&app, api("root@localhost", "pa$$word")).await;
            assert_eq!(r.id(), "root@localhost");
        }
        assert_eq!(verifier.count() - before, 1, "answered from the cache after the first");
    }

    /// Two servers, each with its own throttle on one store: failures on the first lock the
    /// second, form and Basic alike; the lock looks like a wrong password.
    pub(super) async fn two_servers_share_the_lockout<T: LoginThrottle>(one: T, two: T) {
        let one = atest::init_service(app(Arc::new(one), CountingVerifier::default())).await;
        let two = atest::init_service(app(Arc::new(two), CountingVerifier::default())).await;
        let wrong = send(&one, form("root@localhost", "wrong")).await;
        assert_eq!(wrong.body, "Invalid username or password.");
        assert_eq!(send(&two, api("root@localhost", "wrong")).await.status, 401);
        send(&one, form("root@localhost", "wrong")).await;
        // Three failures: the right password is refused on the other server, like a wrong one.
        let locked = send(&two, form("root@localhost", "pa$$word")).await;
        assert_eq!((locked.status, &locked.body), (wrong.status, &wrong.body));
        assert_eq!(send(&two, api("root@localhost", "pa$$word")).await.status, 401);
        assert_eq!(send(&one, api("root@localhost", "pa$$word")).await.status, 401);
        // Other users are unaffected.
        let other = send(&two, form("customer@localhost", "customer:pass:word")).await;
        assert_eq!(other.body, "welcome Customer");
    }
}

#[cfg(all(feature = "session", feature = "redis"))]
mod http_redis {
    use std::time::Duration;

    use imia::throttle::{RedisThrottle, ThrottlePolicy};

    use super::{http::*, redis_store::fixture, silent_server, *};

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::new()
            .per_username(3, Duration::from_secs(60))
            .per_address(100, Duration::from_secs(60))
    }

    #[actix_web::test]
    async fn an_unreachable_redis_answers_503() {
        let pool = RedisThrottle::redis_pool("redis://127.0.0.1:1").unwrap();
        a_store_outage_answers_503(RedisThrottle::new(pool, &secret(), policy())).await;
    }

    #[actix_web::test]
    async fn a_hung_redis_answers_503() {
        let (_listener, port) = silent_server();
        let pool = RedisThrottle::redis_pool(&format!("redis://127.0.0.1:{port}")).unwrap();
        let throttle = RedisThrottle::new(pool, &secret(), policy()).timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        a_store_outage_answers_503(throttle).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[actix_web::test]
    async fn two_servers_share_the_lockout_over_http() {
        let Some(store) = fixture("http_share").await else {
            return;
        };
        two_servers_share_the_lockout(store.throttle(policy()), store.throttle(policy())).await;
    }

    #[actix_web::test]
    async fn successes_give_their_places_back_over_http() {
        let Some(store) = fixture("http_places").await else {
            return;
        };
        successes_give_their_places_back(store.throttle(policy())).await;
    }
}

#[cfg(all(feature = "session", any(feature = "sqlite", feature = "postgres")))]
mod http_diesel {
    use std::time::Duration;

    use imia::throttle::ThrottlePolicy;

    use super::{http::*, *};

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::new()
            .per_username(3, Duration::from_secs(60))
            .per_address(100, Duration::from_secs(60))
    }

    #[cfg(feature = "postgres")]
    #[actix_web::test]
    async fn an_unreachable_database_answers_503() {
        let pool = imia::diesel::postgres_pool("postgres://imia@127.0.0.1:1/imia", &super::impatient()).unwrap();
        a_store_outage_answers_503(imia::diesel::DieselThrottle::<diesel_async::AsyncPgConnection>::new(
            pool,
            &secret(),
            policy(),
        ))
        .await;
    }

    #[cfg(feature = "sqlite")]
    #[actix_web::test]
    async fn two_servers_share_the_lockout_over_http() {
        let Some(store) = super::sqlite_store::fixture("http_share").await else {
            return;
        };
        two_servers_share_the_lockout(store.throttle(policy()), store.throttle(policy())).await;
    }

    #[cfg(feature = "sqlite")]
    #[actix_web::test]
    async fn successes_give_their_places_back_over_http() {
        let Some(store) = super::sqlite_store::fixture("http_places").await else {
            return;
        };
        successes_give_their_places_back(store.throttle(policy())).await;
    }
}
