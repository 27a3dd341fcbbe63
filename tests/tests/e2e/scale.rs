//! Several servers: two demo processes share sessions through Redis and users through
//! PostgreSQL; and a Redis outage fails closed, and the demo recovers once Redis is back.
//!
//! Needs PostgreSQL (`IMIA_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! and the `psql` client to create a fresh database), Redis (`IMIA_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and `redis-server` for the outage test. Missing ones skip the test
//! with a message, except under `CI=true`, where they fail it.

use base64::Engine as _;
use imia_tests::{
    faults::RedisServer,
    http::{Client, Request},
    require,
    server::ExampleServer,
    session_attack::fresh_postgres,
};

const SECRET: &str = "aW1pYS1zY2FsZS10ZXN0LXNlY3JldC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";

fn login(client: &mut Client, user: &str) {
    let resp = client
        .send(&Request::post("/login").form(&[("username", user), ("password", "password")]))
        .expect("login answers");
    assert_eq!(resp.status, 303, "login as {user}: {}", resp.text());
}

fn state(client: &mut Client) -> String {
    let resp = client.send(&Request::get("/whoami")).expect("whoami answers");
    resp.json().expect("JSON")["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Two demo servers on a fresh PostgreSQL database (named after `tag`) and the test Redis,
/// with `secret`, started one after the other (the first creates and seeds the tables); `None`
/// (skipped outside CI) when a server is missing.
fn two_demos_on_redis_and_postgres(tag: &str, secret: &str) -> Option<(ExampleServer, ExampleServer)> {
    let redis_url = require::redis_url();
    require::server(&redis_url)?;
    let database = fresh_postgres(tag)?;
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", &redis_url),
        ("IMIA_SECRET_KEY", secret),
    ];
    let a = ExampleServer::start_with_env("demo", &env).expect("server A starts");
    let b = ExampleServer::start_with_env("demo", &env).expect("server B starts");
    Some((a, b))
}

#[test]
fn two_servers_share_sessions_through_redis_and_users_through_postgres() {
    let Some((a, b)) = two_demos_on_redis_and_postgres("scale", SECRET) else {
        return;
    };

    let mut on_a = a.client();
    login(&mut on_a, "root@example.com");
    let cookie = on_a.jar().get("imia_session").expect("a session cookie").to_owned();

    // Server B knows the session server A created.
    let mut on_b = b.client();
    on_b.jar_mut().insert("imia_session", cookie.clone());
    assert_eq!(state(&mut on_b), "authenticated");
    let me = on_b.send(&Request::get("/api/me")).unwrap().json().unwrap();
    assert_eq!(me["username"], "root@example.com");

    // Logging out on A ends the session on both.
    let resp = on_a.send(&Request::post("/logout")).unwrap();
    assert_eq!(resp.status, 303);
    assert_eq!(state(&mut on_b), "anonymous");
    let mut replay = a.client();
    replay.jar_mut().insert("imia_session", cookie);
    assert_eq!(state(&mut replay), "anonymous");
}

#[test]
fn a_redis_outage_fails_closed_and_the_demo_recovers_when_redis_is_back() {
    let mut redis = match RedisServer::start_persistent() {
        Ok(redis) => redis,
        Err(e) => return require::skip_or_fail(format_args!("redis-server could not be started: {e}")),
    };
    let db = std::env::temp_dir().join(format!("imia-redis-outage-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", db.to_str().unwrap()),
            ("REDIS_URL", &redis.url()),
            ("IMIA_SECRET_KEY", SECRET),
        ],
    )
    .expect("the demo starts");
    let mut client = server.client();
    login(&mut client, "user@example.com");
    assert_eq!(state(&mut client), "authenticated");

    // Stopped gracefully, so the sessions are saved and come back with the server.
    redis.shutdown();
    for target in ["/app", "/api/me", "/whoami"] {
        let resp = client.send(&Request::get(target)).expect("an answer, not a hang");
        assert!(
            resp.status == 500 || resp.status == 503,
            "{target}: {} {}",
            resp.status,
            resp.text()
        );
        assert!(resp.body.is_empty(), "{target}: opaque body, got {:?}", resp.text());
    }
    // Requests without a session never touch the store.
    let anonymous = server.get("/whoami").unwrap();
    assert_eq!(anonymous.status, 200);

    // The demo's pooled store reconnects: the same session works again, nothing was lost.
    redis.restart().expect("redis-server restarts");
    assert_eq!(state(&mut client), "authenticated", "the session survives the outage");
    drop(server);
    let _ = std::fs::remove_file(db);
}

/// `GET /account/sessions` as JSON: the user's sessions, newest first.
fn sessions(client: &mut Client) -> Vec<serde_json::Value> {
    let resp = client
        .send(&Request::get("/account/sessions").header("Accept", "application/json"))
        .expect("the sessions page answers");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json().expect("JSON")["sessions"]
        .as_array()
        .expect("a list")
        .clone()
}

#[test]
fn sessions_listed_and_ended_on_one_server_end_on_the_other() {
    let Some((a, b)) = two_demos_on_redis_and_postgres("sessions", SECRET) else {
        return;
    };

    // One user, logged in three times: twice through A, once through B.
    let (mut laptop, mut tablet, mut phone) = (a.client(), a.client(), b.client());
    for client in [&mut laptop, &mut tablet, &mut phone] {
        login(client, "user@example.com");
    }
    // Both servers list the same sessions (at least these three: the index is in Redis).
    let on_b = sessions(&mut phone);
    assert!(on_b.len() >= 3, "{on_b:?}");
    assert_eq!(on_b.iter().filter(|s| s["current"] == true).count(), 1);
    let tablet_id = sessions(&mut tablet)
        .into_iter()
        .find(|s| s["current"] == true)
        .expect("the tablet's own session")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        on_b.iter().any(|s| s["id"] == tablet_id.as_str()),
        "B lists A's session"
    );

    // Ending A's tablet session through B logs the tablet out on A.
    let resp = phone
        .send(&Request::post(format!("/account/sessions/{tablet_id}/end")))
        .unwrap();
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert_eq!(state(&mut tablet), "anonymous");

    // "End all other sessions" on A: the phone on B is logged out, the laptop stays.
    let resp = laptop.send(&Request::post("/account/sessions/end-others")).unwrap();
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert_eq!(state(&mut phone), "anonymous");
    assert_eq!(state(&mut laptop), "authenticated");
    let left = sessions(&mut laptop);
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Ten wrong passwords for `user` on `a` lock it on `b` too: the right password is then refused
/// there like a wrong one.
fn a_lockout_on_one_server_holds_on_the_other(a: &ExampleServer, b: &ExampleServer, user: &str) {
    // The user can log in on B to begin with.
    login(&mut b.client(), user);
    let mut guesser = a.client();
    for _ in 0..10 {
        let resp = guesser
            .send(&Request::post("/login").form(&[("username", user), ("password", "not-the-password")]))
            .expect("login answers");
        assert_eq!(resp.status, 200, "a wrong password shows the form again");
    }
    let mut owner = b.client();
    let resp = owner
        .send(&Request::post("/login").form(&[("username", user), ("password", "password")]))
        .expect("login answers");
    assert_eq!(resp.status, 200, "locked on B by failures on A: {}", resp.text());
    assert!(resp.text().contains("Invalid e-mail or password."));
    // Another user is not locked.
    login(&mut owner, "root@example.com");
}

#[test]
fn a_lockout_holds_on_every_server_sharing_redis() {
    // A secret key of this run's own: the Redis counters (keyed by it) outlive the test and
    // must not lock the user for the other tests that share this Redis.
    let secret = base64::engine::general_purpose::STANDARD.encode(format!(
        "imia-lockout-test-secret-key-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let Some((a, b)) = two_demos_on_redis_and_postgres("lock_redis", &secret) else {
        return;
    };
    a_lockout_on_one_server_holds_on_the_other(&a, &b, "user@example.com");
}

#[test]
fn sessions_and_lockouts_hold_on_every_server_sharing_postgres() {
    let Some(database) = fresh_postgres("lock_pg") else {
        return;
    };
    // No Redis: sessions and the throttle both live in PostgreSQL.
    let env = [("DATABASE_URL", database.as_str()), ("IMIA_SECRET_KEY", SECRET)];
    let a = ExampleServer::start_with_env("demo", &env).expect("server A starts");
    let b = ExampleServer::start_with_env("demo", &env).expect("server B starts");

    // Sessions in PostgreSQL: "end all other sessions" on A logs the user out on B.
    let (mut on_a, mut on_b) = (a.client(), b.client());
    login(&mut on_a, "root@example.com");
    login(&mut on_b, "root@example.com");
    assert_eq!(sessions(&mut on_b).len(), 2, "B lists A's session");
    let resp = on_a.send(&Request::post("/account/sessions/end-others")).unwrap();
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert_eq!(state(&mut on_b), "anonymous");
    assert_eq!(state(&mut on_a), "authenticated");

    a_lockout_on_one_server_holds_on_the_other(&a, &b, "user@example.com");
}
