//! The Diesel provider, session store and remember-me store on PostgreSQL and MariaDB, reached
//! through a TCP proxy the tests cut and silence, and whose connections they kill server-side.

use std::{
    borrow::Cow,
    net::SocketAddr,
    time::{Duration, Instant},
};

use diesel::{prelude::*, sql_types};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use imia::{
    UserLike,
    diesel::{Backend, DieselProvider, DieselRememberStore, DieselSessionStore, PoolOptions, schema::users},
};
use imia_tests::{
    faults::TcpProxy,
    http::{Client, Request, Response},
    live::LiveServer,
    require,
};

use super::common::*;

/// The deadline of the provider and the session store in these apps, and the pool's wait.
const DEADLINE: Duration = Duration::from_secs(2);
/// How long a request may take while the database fails.
const BOUND: Duration = Duration::from_secs(6);

/// A row of the reference `users` table.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct DbUser {
    id: i64,
    email: String,
    password_hash: Option<String>,
    api_token: Option<String>,
    is_active: bool,
}

impl UserLike for DbUser {
    fn id(&self) -> Cow<'_, str> {
        Cow::Owned(self.id.to_string())
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.email))
    }
    fn hashed_password(&self) -> &str {
        self.password_hash.as_deref().unwrap_or_default()
    }
    fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }
    fn is_active(&self) -> bool {
        self.is_active
    }
}

/// Ann's row; her API token is stored hashed, as the provider expects by default.
fn seed_sql() -> String {
    format!(
        "INSERT INTO users (email, display_name, password_hash, scopes, api_token, is_active) \
         VALUES ('{}', 'Ann', '{}', '', '{}', TRUE)",
        ANN.0,
        ANN.1,
        imia::provider::hash_token(ANN.2)
    )
}

/// A fresh database `name` on the server at `admin_url`, with imia's tables and Ann; `None`
/// (skipped) when the server is unreachable.
async fn fresh_database<C: Backend + SimpleAsyncConnection>(admin_url: &str, name: &str, create: &str) -> Option<()> {
    let mut admin = match C::establish(admin_url).await {
        Ok(conn) => conn,
        Err(e) => return require::missing(format_args!("the database at {admin_url} is not reachable: {e}")),
    };
    admin.batch_execute(create).await.expect("create a test database");
    let url = require::with_database(admin_url, name);
    let mut conn = C::establish(&url).await.expect("connect to the test database");
    imia::diesel::migrations::run(&mut conn).await.expect("imia's tables");
    conn.batch_execute(&seed_sql()).await.expect("seed Ann");
    Some(())
}

/// Runs `sql` on database `name` of the server at `admin_url` (not through the proxy).
async fn direct<C: Backend + SimpleAsyncConnection>(admin_url: &str, name: &str, sql: &str) {
    let url = require::with_database(admin_url, name);
    let mut conn = C::establish(&url).await.expect("a direct connection");
    conn.batch_execute(sql).await.expect("the statement runs");
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = sql_types::Text)]
    name: String,
}

/// Whether a database made by [`unique`] belongs to a test process that has ended.
fn is_stale(name: &str) -> bool {
    let Some(pid) = name
        .strip_prefix("imia_af_")
        .and_then(|rest| rest.split('_').next())
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Drops the databases that earlier, finished runs left behind (never a running test's).
async fn drop_stale<C>(admin_url: &str, list: &str, drop: impl Fn(&str) -> String)
where
    C: Backend + SimpleAsyncConnection,
    Name: QueryableByName<<C as diesel_async::AsyncConnectionCore>::Backend>,
    diesel::query_builder::SqlQuery:
        diesel::query_builder::QueryFragment<<C as diesel_async::AsyncConnectionCore>::Backend>,
{
    let Ok(mut admin) = C::establish(admin_url).await else {
        return;
    };
    let names: Vec<Name> = diesel::sql_query(list).load(&mut admin).await.unwrap_or_default();
    for Name { name } in names.into_iter().filter(|n| is_stale(&n.name)) {
        let _ = admin.batch_execute(&drop(&name)).await;
    }
}

async fn drop_stale_postgres(admin_url: &str) {
    drop_stale::<AsyncPgConnection>(
        admin_url,
        "SELECT datname AS name FROM pg_database WHERE datname LIKE 'imia_af_%'",
        |name| format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}

async fn drop_stale_mysql(admin_url: &str) {
    drop_stale::<AsyncMysqlConnection>(
        admin_url,
        "SELECT CAST(SCHEMA_NAME AS CHAR) AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'imia\\_af\\_%'",
        |name| format!("DROP DATABASE IF EXISTS {name}"),
    )
    .await;
}

fn block_on<T>(work: impl Future<Output = T>) -> T {
    actix_rt::System::new().block_on(work)
}

/// The app over one database through a proxy.
struct DbApp {
    server: LiveServer,
    proxy: TcpProxy,
    throttle: CountingThrottle,
    name: String,
    admin_url: String,
    /// The app's [`Fixture::log_marker`].
    log_marker: String,
}

macro_rules! db_app {
    ($conn:ty, $pool:path, $cleanup:path, $query:expr, $admin_url:expr, $tag:expr, $create:expr) => {{
        let admin_url: String = $admin_url;
        let name = unique($tag);
        let upstream: SocketAddr = require::socket_addr(&admin_url).expect("a host and port");
        block_on($cleanup(&admin_url));
        if block_on(fresh_database::<$conn>(&admin_url, &name, &($create)(&name))).is_none() {
            None
        } else {
            let proxy = TcpProxy::start(upstream).expect("the proxy starts");
            let options = PoolOptions {
                max_size: 4,
                wait_timeout: DEADLINE,
            };
            let pool = $pool(
                &format!(
                    "{}{}",
                    require::with_address(&require::with_database(&admin_url, &name), proxy.addr()),
                    $query
                ),
                &options,
            )
            .expect("a pool");
            let users = DieselProvider::<$conn, DbUser>::for_table(pool.clone(), users::table)
                .timeout(DEADLINE)
                .build()
                .expect("a provider");
            let store = DieselSessionStore::<$conn>::builder(pool.clone())
                .timeout(DEADLINE)
                .build()
                .expect("a session store");
            let fx = Fixture::new(users, store, DieselRememberStore::<$conn>::new(pool.clone()));
            let throttle = fx.throttle.clone();
            let log_marker = fx.log_marker.clone();
            let server = LiveServer::start(move || app(&fx)).expect("the server starts");
            Some((
                DbApp {
                    server,
                    proxy,
                    throttle,
                    name,
                    admin_url,
                    log_marker,
                },
                pool,
            ))
        }
    }};
}

fn postgres_app() -> Option<(DbApp, imia::diesel::Pool<AsyncPgConnection>)> {
    db_app!(
        AsyncPgConnection,
        imia::diesel::postgres_pool,
        drop_stale_postgres,
        "",
        require::postgres_url(),
        "pg",
        |name: &str| format!("CREATE DATABASE {name}")
    )
}

fn mysql_app() -> Option<(DbApp, imia::diesel::Pool<AsyncMysqlConnection>)> {
    db_app!(
        AsyncMysqlConnection,
        imia::diesel::mysql_pool,
        drop_stale_mysql,
        // Else mysql_async switches a local TCP connection to the server's Unix socket, around
        // the proxy.
        "?prefer_socket=false",
        require::mysql_url(),
        "my",
        |name: &str| format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    )
}

impl DbApp {
    fn send(&self, req: &Request) -> Response {
        timed(
            BOUND,
            || self.server.send(req),
            &format!("{} {}", req.method(), req.target()),
        )
    }
}

struct LoggedIn {
    session: String,
    remember: String,
}

fn log_in_ann(db: &DbApp) -> LoggedIn {
    let mut browser = Client::new(db.server.addr());
    log_in(&mut browser, true);
    assert_served_for_ann_db(&browser.get("/api/me").unwrap(), "before the outage");
    LoggedIn {
        session: browser.jar().get(SESSION).unwrap().to_owned(),
        remember: browser.jar().get(REMEMBER).unwrap().to_owned(),
    }
}

/// Ann's id in these databases is 1.
#[track_caller]
fn assert_served_for_ann_db(resp: &Response, context: &str) {
    assert_eq!(resp.status, 200, "{context}: {resp:?}");
    assert!(resp.text().starts_with("me:1:"), "{context}: {resp:?}");
}

/// Every request of the matrix while the database is down: fail closed, in time.
fn assert_outage(db: &DbApp, ann: &LoggedIn, context: &str) {
    let failures = db.throttle.failures();
    for target in ["/app", "/api/me", "/login"] {
        let resp = db.send(&with_cookie(target, SESSION, &ann.session));
        assert_fails_closed(&resp, None, &format!("{context}: session cookie on {target}"));
    }
    for target in ["/app", "/api/me"] {
        let resp = db.send(&with_cookie(target, REMEMBER, &ann.remember));
        assert_fails_closed(&resp, None, &format!("{context}: remember-me cookie on {target}"));
    }
    for (name, req) in credential_requests() {
        assert_fails_closed(&db.send(&req), None, &format!("{context}: {name}"));
    }
    let public = db.send(&Request::get("/public"));
    assert_eq!(
        (public.status, public.text().as_ref()),
        (200, "public::anonymous"),
        "{context}"
    );
    for remember in [false, true] {
        let resp = db.send(&login_request(remember));
        assert_fails_closed(&resp, None, &format!("{context}: login"));
        assert!(!resp.text().contains(LOGIN_FAILED));
    }
    assert_eq!(
        db.throttle.failures(),
        failures,
        "{context}: an outage is not a failed login"
    );
}

/// After the fault: the old session, every credential and a new login work, with no restart.
fn assert_recovered(db: &DbApp, ann: &LoggedIn, context: &str) {
    let resp = eventually(
        Duration::from_secs(15),
        || db.server.send(&with_cookie("/api/me", SESSION, &ann.session)),
        |r| r.status == 200,
    )
    .unwrap_or_else(|| panic!("{context}: the session works again"));
    assert_served_for_ann_db(&resp, &format!("{context}: the same session, nothing lost"));
    for (name, req) in credential_requests() {
        assert_served_for_ann_db(&db.send(&req), &format!("{context}: {name}"));
    }
    let resp = db.send(&with_cookie("/api/me", REMEMBER, &ann.remember));
    assert_served_for_ann_db(&resp, &format!("{context}: the remember-me token was kept"));
    let mut client = Client::new(db.server.addr());
    log_in(&mut client, false);
}

#[test]
fn postgres_cut_fails_closed_and_the_pool_recovers() {
    let Some((db, _pool)) = postgres_app() else { return };
    let ann = log_in_ann(&db);
    db.proxy.cut();
    assert_outage(&db, &ann, "PostgreSQL cut");
    db.proxy.restore();
    assert_recovered(&db, &ann, "PostgreSQL back");
}

#[test]
fn mariadb_cut_fails_closed_and_the_pool_recovers() {
    let Some((db, _pool)) = mysql_app() else { return };
    let ann = log_in_ann(&db);
    db.proxy.cut();
    assert_outage(&db, &ann, "MariaDB cut");
    db.proxy.restore();
    assert_recovered(&db, &ann, "MariaDB back");
}

/// The database accepts and reads, and never answers: the pool's own checkout and every
/// request end within their deadlines, then everything recovers.
fn silent_database<C: Backend>(db: &DbApp, pool: &C::Pool, name: &str) {
    let ann = log_in_ann(db);
    db.proxy.blackhole();
    // The pool's own checkout (what migrations and custom code use) ends too: a pooled
    // connection whose server went silent must not hold it forever.
    let started = Instant::now();
    let checkout = block_on(async { actix_rt::time::timeout(Duration::from_secs(20), C::checkout(pool)).await });
    let took = started.elapsed();
    assert!(
        matches!(checkout, Ok(Err(_))),
        "{name}: a checkout from a silent server fails (after {took:?})"
    );
    assert!(
        took < BOUND,
        "{name}: the checkout gave up after {took:?}, more than {BOUND:?}"
    );
    for target in ["/app", "/api/me"] {
        let resp = db.send(&with_cookie(target, SESSION, &ann.session));
        assert_fails_closed(&resp, None, &format!("{name} silent: session cookie on {target}"));
    }
    let bearer = &credential_requests()[1].1;
    assert_fails_closed(&db.send(bearer), None, &format!("{name} silent: Bearer"));
    let public = db.send(&Request::get("/public"));
    assert_eq!(public.status, 200);
    assert_fails_closed(&db.send(&login_request(false)), None, &format!("{name} silent: login"));
    assert_eq!(db.throttle.failures(), 0);
    db.proxy.restore();
    assert_recovered(db, &ann, &format!("{name} answers again"));
}

#[test]
fn a_silent_postgres_is_bounded_by_the_deadlines_and_the_pool_recovers() {
    let Some((db, pool)) = postgres_app() else { return };
    silent_database::<AsyncPgConnection>(&db, &pool, "PostgreSQL");
}

#[test]
fn a_silent_mariadb_is_bounded_by_the_deadlines_and_the_pool_recovers() {
    let Some((db, pool)) = mysql_app() else { return };
    silent_database::<AsyncMysqlConnection>(&db, &pool, "MariaDB");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

/// Requests while the server drops the pool's connections: each one is served for Ann or fails
/// closed, never anonymous, never a 401; within a few seconds they are all served again.
fn assert_survives_killed_connections(db: &DbApp, ann: &LoggedIn, kill: impl Fn()) {
    for round in 0..3 {
        kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut served = 0;
        while served < 3 {
            assert!(Instant::now() < deadline, "round {round}: the pool did not recover");
            for req in [
                with_cookie("/api/me", SESSION, &ann.session),
                credential_requests()[1].1.clone(),
            ] {
                let resp = db.send(&req);
                if resp.status == 200 {
                    assert_served_for_ann_db(&resp, &format!("round {round}"));
                    served += 1;
                } else {
                    assert_fails_closed(&resp, None, &format!("round {round}: killed connections"));
                }
            }
        }
    }
}

#[test]
fn postgres_connections_killed_by_the_server_never_yield_anonymous() {
    let Some((db, _pool)) = postgres_app() else { return };
    let ann = log_in_ann(&db);
    let (admin_url, name) = (db.admin_url.clone(), db.name.clone());
    assert_survives_killed_connections(&db, &ann, || {
        block_on(async {
            let mut admin = AsyncPgConnection::establish(&admin_url).await.expect("admin");
            let before: Vec<Count> = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .load(&mut admin)
            .await
            .expect("pg_stat_activity");
            assert!(before[0].n >= 1, "the pool holds connections to kill");
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .await
                .expect("pg_terminate_backend");
        });
    });
}

#[derive(QueryableByName)]
struct ProcessId {
    #[diesel(sql_type = sql_types::Unsigned<sql_types::BigInt>)]
    id: u64,
}

#[test]
fn mariadb_connections_killed_by_the_server_never_yield_anonymous() {
    let Some((db, _pool)) = mysql_app() else { return };
    let ann = log_in_ann(&db);
    let (admin_url, name) = (db.admin_url.clone(), db.name.clone());
    assert_survives_killed_connections(&db, &ann, || {
        block_on(async {
            let mut admin = AsyncMysqlConnection::establish(&admin_url).await.expect("admin");
            let ids: Vec<ProcessId> = diesel::sql_query(format!(
                "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = '{name}' AND ID <> CONNECTION_ID()"
            ))
            .load(&mut admin)
            .await
            .expect("the process list");
            assert!(!ids.is_empty(), "the pool holds connections to kill");
            for ProcessId { id } in ids {
                // A connection may end by itself in between.
                let _ = admin.batch_execute(&format!("KILL {id}")).await;
            }
        });
    });
}

#[test]
fn a_corrupt_database_session_is_anonymous_and_logged_never_a_500() {
    let Some((db, _pool)) = postgres_app() else { return };
    capture_logs();
    let ann = log_in_ann(&db);
    let warnings = |needle: &str| warnings(&db.log_marker, needle);
    let warned = warnings("Invalid session state");
    block_on(direct::<AsyncPgConnection>(
        &db.admin_url,
        &db.name,
        "UPDATE imia_sessions SET state = '{\"_auth_user_id\": 1'",
    ));
    let resp = db.send(&with_cookie("/api/me", SESSION, &ann.session));
    assert_eq!(resp.status, 401, "anonymous, not a failure: {resp:?}");
    let page = db.send(&with_cookie("/app", SESSION, &ann.session));
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login?next=%2Fapp"))
    );
    let public = db.send(&with_cookie("/public", SESSION, &ann.session));
    assert_eq!((public.status, public.text().as_ref()), (200, "public::anonymous"));
    assert!(
        warnings("Invalid session state") > warned,
        "the corrupt session was logged"
    );
    // Logging in again over it works and replaces it.
    let mut again = Client::new(db.server.addr());
    again.jar_mut().insert(SESSION, ann.session.clone());
    log_in(&mut again, false);
    assert_ne!(again.jar().get(SESSION), Some(ann.session.as_str()));
    assert_served_for_ann_db(&again.get("/api/me").unwrap(), "logged in again");
}

/// The demo binary with its users, sessions and remember-me tokens in PostgreSQL, reached
/// through the proxy: the whole product, not a test app.
#[test]
fn the_demo_on_postgres_fails_closed_while_the_database_is_cut_and_recovers() {
    let admin_url = require::postgres_url();
    let name = unique("demo");
    let create = format!("CREATE DATABASE {name}");
    let Some(upstream) = require::socket_addr(&admin_url) else {
        return require::skip_or_fail(format_args!("{admin_url} names no server address"));
    };
    let created = block_on(async {
        drop_stale_postgres(&admin_url).await;
        let mut admin = match AsyncPgConnection::establish(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => return require::missing(format_args!("PostgreSQL is not reachable: {e}")),
        };
        admin.batch_execute(&create).await.expect("create a test database");
        Some(())
    });
    if created.is_none() {
        return;
    }
    let proxy = TcpProxy::start(upstream).expect("the proxy starts");
    let database_url = require::with_address(&require::with_database(&admin_url, &name), proxy.addr());
    let demo = imia_tests::server::ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", database_url.as_str()),
            ("SESSION_STORE", "database"),
            (
                "IMIA_SECRET_KEY",
                "aW1pYS1mYXVsdHMtdGVzdC1zZWNyZXQta2V5LTAxMjM0NTY3ODlhYmNkZWY=",
            ),
        ],
    )
    .expect("the demo starts");
    let login =
        |password: &str| Request::post("/login").form(&[("username", "user@example.com"), ("password", password)]);
    let mut browser = demo.client();
    let resp = browser.send(&login("password")).unwrap();
    assert_eq!(resp.status, 303, "{resp:?}");
    let session = browser.jar().get("imia_session").expect("a session cookie").to_owned();
    let me = |req: Request| timed(Duration::from_secs(15), || demo.send(&req), "the demo");
    let bearer = || Request::get("/api/me").header("Authorization", "Bearer user-token");
    assert_eq!(me(bearer()).status, 200);

    proxy.cut();
    for target in ["/app", "/api/me", "/whoami"] {
        let resp = me(with_cookie(target, "imia_session", &session));
        assert_fails_closed(&resp, None, &format!("demo, database cut: session cookie on {target}"));
    }
    for req in [
        bearer(),
        Request::get("/api/me").header("X-Api-Key", "user-token"),
        Request::get("/api/me?apikey=user-token"),
    ] {
        assert_fails_closed(&me(req), None, "demo, database cut: API credentials");
    }
    let anonymous = me(Request::get("/whoami"));
    assert_eq!(anonymous.status, 200, "public pages need no database: {anonymous:?}");
    assert_eq!(anonymous.json().unwrap()["state"], "anonymous");
    // More attempts than the demo's throttle allows (10): none may count, and the page says
    // nothing about the password.
    for _ in 0..12 {
        let resp = me(login("password"));
        assert!(resp.status == 503 || resp.status == 500, "{resp:?}");
        assert!(!resp.text().contains("Invalid e-mail or password"), "{resp:?}");
        assert!(
            resp.header("location").is_none() && cookies_set(&resp).is_empty(),
            "{resp:?}"
        );
    }

    proxy.restore();
    let resp = eventually(
        Duration::from_secs(20),
        || demo.send(&with_cookie("/api/me", "imia_session", &session)),
        |r| r.status == 200,
    )
    .expect("the demo's session works again once the database is back");
    assert_eq!(resp.json().unwrap()["username"], "user@example.com");
    assert_eq!(me(bearer()).status, 200);
    let mut again = demo.client();
    let resp = again.send(&login("password")).unwrap();
    assert_eq!(resp.status, 303, "the outage did not lock the account: {resp:?}");
}
