//! The adversarial suite, limits and passwords: what is too big is refused cleanly and early
//! (before the user store, before hashing, before allocating), over a real socket; and
//! passwords are compared exactly as typed (no normalisation, trimming, case folding or
//! truncation).
//!
//! The limits under test, with their defaults (see SECURITY.md, "Limits"): actix's request head
//! (128 KiB, 96 headers, 431 beyond), imia's credential cap (8 KiB), the password cap (1024
//! bytes), the argon2 parameter ceiling (256 MiB, 16 passes, 8 lanes), the argon2 concurrency
//! bound (one hash per CPU, 64 waiting), also against clients that reset their connections,
//! the remember-me cookie cap (128 bytes) and actix's form limit (16 KiB). And a `#[protected]`
//! handler answers a refused caller before its body is sent, however large the body announced.

use std::{
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError as _, cookie::Key, web};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    Authentication, SecretKey,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, SessionAuthenticator, TokenAuthenticator},
    error::ProviderError,
    login::LoginManager,
    password::{Argon2Hasher, DEFAULT_MAX_PASSWORD_LEN, DEFAULT_MAX_QUEUE, OWASP_MEMORY_KIB},
    remember::{InMemoryRememberStore, MAX_COOKIE_LEN, RememberMe, RememberStore, RememberToken},
};
use imia_tests::{
    attack::{CountingHasher, CountingProvider, Victim, served, served_by},
    http::{self, Request, Response},
    live::LiveServer,
    serial,
    session_attack::{PASSWORD, Store, drop_postgres, fresh_postgres, start_demo, temp_sqlite},
};
use serde::Deserialize;

fn secret() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).expect("32 bytes")
}

/// actix-http's request head limit: a head that does not fit gets 431.
const HEAD_LIMIT: usize = 128 * 1024;

/// A refusal must come well before the client's own timeout: no hang.
const PROMPT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login` (a form) through a [`LoginManager`], answering `logged in as <id>` or the
/// error's own response.
async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    logins: web::Data<LoginManager<CountingProvider, CountingHasher>>,
) -> HttpResponse {
    match logins.login(&req, &form.username, &form.password).await {
        Ok(token) => HttpResponse::Ok().body(format!("logged in as {}", token.id().unwrap_or_default())),
        Err(err) => err.error_response(),
    }
}

struct Target {
    server: LiveServer,
    users: CountingProvider,
    hasher: CountingHasher,
}

/// An app with a login form and every header authenticator, on a real socket.
fn target(users: Vec<Victim>, hasher: CountingHasher) -> Target {
    let users = CountingProvider::new(users);
    let (u, h) = (users.clone(), hasher.clone());
    let server = LiveServer::start(move || {
        let logins = LoginManager::new(u.clone(), h.clone(), secret());
        App::new()
            .app_data(web::Data::new(logins))
            .route("/login", web::post().to(login))
            .route("/", web::get().to(served("root")))
            .wrap(Authentication::new((
                SessionAuthenticator::new(u.clone(), secret()),
                BasicAuthenticator::new(u.clone(), h.clone()),
                TokenAuthenticator::bearer(u.clone()),
                ApiKeyAuthenticator::new(u.clone()),
            )))
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&[3; 64]))
                    .cookie_secure(false)
                    .build(),
            )
    })
    .expect("the app starts");
    Target { server, users, hasher }
}

fn post_login(username: &str, password: &str) -> Request {
    Request::post("/login").form(&[("username", username), ("password", password)])
}

fn timed(server: &LiveServer, req: &Request) -> (std::io::Result<Response>, Duration) {
    let start = Instant::now();
    let resp = http::send_with_timeout(server.addr(), req, Duration::from_secs(30));
    (resp, start.elapsed())
}

/// The server still answers an ordinary request.
fn assert_alive(server: &LiveServer) {
    let resp = server.get("/").expect("the server still answers");
    assert_eq!(served_by(&resp), Some(("root".into(), "anonymous".into())), "{resp:?}");
}

#[test]
fn request_heads_around_actix_limits_are_refused_cleanly() {
    let t = target(vec![Victim::new("ann", "").token("tok-ann")], CountingHasher::new());
    // A filler header that leaves the whole head just under the limit is served.
    let probe = Request::get("/").header("X-Filler", "");
    let base = probe.to_bytes(&t.server.addr().to_string()).len();
    let under = HEAD_LIMIT - base - 1024;
    let (resp, took) = timed(&t.server, &Request::get("/").header("X-Filler", "a".repeat(under)));
    let resp = resp.expect("an answer under the head limit");
    assert_eq!(
        served_by(&resp),
        Some(("root".into(), "anonymous".into())),
        "{}",
        resp.status
    );
    assert!(took < PROMPT, "{took:?}");

    // Over it, in one header or spread over several, with or without credentials: 431 (or the
    // connection closed with nothing served), promptly, and nothing reaches the provider.
    let over: Vec<(&str, Request)> = vec![
        (
            "one huge header",
            Request::get("/").header("X-Filler", "a".repeat(HEAD_LIMIT + 10)),
        ),
        (
            "many large headers",
            (0..40).fold(Request::get("/"), |r, i| r.header(format!("X-F{i}"), "b".repeat(4000))),
        ),
        (
            "a huge Authorization header",
            Request::get("/").header("Authorization", format!("Bearer {}", "c".repeat(HEAD_LIMIT))),
        ),
        (
            "a huge target",
            Request::get(format!("/?apikey={}", "d".repeat(HEAD_LIMIT))),
        ),
        (
            "a huge cookie",
            Request::get("/").header("Cookie", format!("id={}", "e".repeat(HEAD_LIMIT))),
        ),
    ];
    for (name, req) in &over {
        let (resp, took) = timed(&t.server, req);
        assert!(took < PROMPT, "{name}: {took:?}");
        match resp {
            Ok(resp) => {
                assert_eq!(resp.status, 431, "{name}: {}", resp.status);
                println!("{name}: 431 in {took:?}");
            }
            Err(e) => println!("{name}: connection closed ({e}) in {took:?}"),
        }
        assert_alive(&t.server);
    }
    // A huge Authorization header that fits in the head is over imia's credential cap: 400,
    // and the provider never sees it.
    let (resp, _) = timed(
        &t.server,
        &Request::get("/").header("Authorization", format!("Bearer {}", "f".repeat(HEAD_LIMIT / 2))),
    );
    assert_eq!(resp.expect("an answer").status, 400);
    let (resp, _) = timed(
        &t.server,
        &Request::get(format!("/?apikey={}", "g".repeat(HEAD_LIMIT / 2))),
    );
    assert_eq!(resp.expect("an answer").status, 400);
    assert_eq!(t.users.calls(), 0, "{:?}", t.users.seen().len());
}

#[test]
fn header_counts_around_actix_limit() {
    let t = target(vec![Victim::new("ann", "").token("tok-ann")], CountingHasher::new());
    // `Request` adds Host and Connection: 90 + 2 fit in actix's 96 header slots.
    let many = |n: usize| (0..n).fold(Request::get("/"), |r, i| r.header(format!("X-H{i}"), "v"));
    let resp = t.server.send(&many(90)).expect("an answer");
    assert_eq!(
        served_by(&resp),
        Some(("root".into(), "anonymous".into())),
        "{}",
        resp.status
    );
    for n in [95, 100, 500] {
        let (resp, took) = timed(&t.server, &many(n));
        assert!(took < PROMPT, "{n} headers: {took:?}");
        let status = resp.map(|r| r.status).unwrap_or(0);
        println!("{n} headers: {status}");
        assert!(
            n <= 94 || status == 431 || status == 400 || status == 0,
            "{n} headers: {status}"
        );
        assert_alive(&t.server);
    }
    // 90 API key headers: ambiguous, so refused by imia before any lookup.
    let keys = (0..90).fold(Request::get("/"), |r, _| r.header("X-Api-Key", "tok-ann"));
    assert_eq!(t.server.send(&keys).expect("an answer").status, 400);
    assert_eq!(t.users.calls(), 0);
}

#[test]
fn the_credential_cap_is_configurable_and_checked_before_lookup() {
    let users = CountingProvider::new([Victim::new("ann", "").token(&"t".repeat(64))]);
    let u = users.clone();
    let server = LiveServer::start(move || {
        App::new()
            .wrap(Authentication::new((
                TokenAuthenticator::bearer(u.clone()).max_credential_len(64 + "Bearer ".len()),
                ApiKeyAuthenticator::new(u.clone()).max_credential_len(64),
            )))
            .route("/", web::get().to(served("root")))
    })
    .expect("the app starts");
    let at = "t".repeat(64);
    let over = "t".repeat(65);
    let resp = server
        .send(&Request::get("/").header("Authorization", format!("Bearer {at}")))
        .unwrap();
    assert_eq!(served_by(&resp), Some(("root".into(), "ann".into())));
    let resp = server.send(&Request::get(format!("/?apikey={at}"))).unwrap();
    assert_eq!(served_by(&resp), Some(("root".into(), "ann".into())));
    assert_eq!(users.calls(), 2);
    for req in [
        Request::get("/").header("Authorization", format!("Bearer {over}")),
        Request::get(format!("/?apikey={over}")),
        Request::get("/").header("X-Api-Key", &over),
    ] {
        assert_eq!(server.send(&req).unwrap().status, 400, "{req:?}");
    }
    assert_eq!(users.calls(), 2, "an over-long credential reached the provider");
}

#[test]
fn over_long_passwords_are_refused_before_hashing() {
    let hasher = CountingHasher::new();
    let max = "p".repeat(DEFAULT_MAX_PASSWORD_LEN);
    let t = target(
        vec![
            Victim::new("max", &hasher.seed_hash(&max)),
            Victim::new("ann", &hasher.seed_hash("pw-ann")),
        ],
        hasher,
    );
    // Exactly the cap: hashed and accepted.
    let resp = t.server.send(&post_login("max", &max)).unwrap();
    assert_eq!(resp.text(), "logged in as max");
    assert_eq!(t.hasher.computed(), 1);
    assert_eq!(t.hasher.longest_password(), DEFAULT_MAX_PASSWORD_LEN);
    // One byte more, far more, for known and unknown users, by form and by Basic: refused
    // like a wrong password, and argon2 never runs.
    let over = format!("{max}p");
    let huge = "p".repeat(12 * 1024);
    let basic = |user: &str, pw: &str| {
        Request::get("/").header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{user}:{pw}"))),
        )
    };
    for (name, req) in [
        ("cap + 1, known user", post_login("max", &over)),
        ("cap + 1, other user", post_login("ann", &over)),
        ("cap + 1, unknown user", post_login("nobody", &over)),
        ("12 KiB", post_login("ann", &huge)),
        ("Basic, cap + 1", basic("max", &over)),
        ("Basic, 5 KiB", basic("ann", &"p".repeat(5 * 1024))),
    ] {
        let resp = t.server.send(&req).unwrap();
        assert_eq!(resp.status, 401, "{name}: {}", resp.status);
        assert!(resp.body.is_empty(), "{name}");
    }
    assert_eq!(t.hasher.computed(), 1, "an over-long password was hashed");
    assert_eq!(t.hasher.longest_password(), DEFAULT_MAX_PASSWORD_LEN);
    assert_eq!(t.hasher.hash_calls(), 0);
}

#[test]
fn huge_login_forms_are_refused_before_the_handler() {
    // Megabytes of request bodies in this process: not while a test measures its memory.
    let _heavy = serial::allocate_heavily();
    let hasher = CountingHasher::new();
    let t = target(vec![Victim::new("ann", &hasher.seed_hash("pw-ann"))], hasher);
    let form = |len: usize| {
        Request::post("/login")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("username=ann&password={}", "p".repeat(len)))
    };
    // actix's default form limit is 16 KiB: just under reaches the handler (and is refused
    // there as over-long without hashing), just over is 413.
    let resp = t.server.send(&form(16 * 1024 - 40)).unwrap();
    assert_eq!(resp.status, 401);
    let cases = vec![
        ("just over the form limit", form(16 * 1024)),
        ("10 MiB", form(10 * 1024 * 1024)),
        (
            "an announced 10 GB that never comes",
            Request::post("/login")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Content-Length", "10000000000")
                .body("username=ann&password=pw-ann"),
        ),
        (
            "chunked, 1 MiB",
            Request::post("/login")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Transfer-Encoding", "chunked")
                .body({
                    let chunk = "p".repeat(64 * 1024);
                    let head = "username=ann&password=";
                    let mut body = format!("{:x}\r\n{head}\r\n", head.len());
                    for _ in 0..16 {
                        body.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
                    }
                    body.push_str("0\r\n\r\n");
                    body
                }),
        ),
    ];
    for (name, req) in &cases {
        let (resp, took) = timed(&t.server, req);
        assert!(took < PROMPT, "{name}: {took:?}");
        match resp {
            Ok(resp) => {
                assert_eq!(resp.status, 413, "{name}: {}", resp.status);
                println!("{name}: 413 in {took:?}");
            }
            Err(e) => println!("{name}: connection closed ({e}) in {took:?}"),
        }
        assert_alive(&t.server);
    }
    assert_eq!(t.hasher.computed(), 0);
    assert_eq!(t.users.calls(), 1, "only the form under the limit reached the provider");
}

/// Resets the peak resident memory of this process to its current size (Linux: `5` to
/// `/proc/self/clear_refs`), so that [`peak_rss_kib`] then tells the peak since, not one an
/// earlier test reached. Where the kernel refuses, the peak is left as it was.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[test]
fn hostile_stored_hashes_are_refused_fast_without_allocating() {
    // The peak memory of the whole test process is measured: no heavy test may run meanwhile.
    let _alone = serial::measure_process();
    const SALT: &str = "c2FsdHNhbHRzYWx0c2FsdA";
    const OUT: &str = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    let hostile: Vec<String> = vec![
        format!("$argon2id$v=19$m=4194304,t=1000000,p=255${SALT}${OUT}"),
        format!("$argon2id$v=19$m=4194304,t=1,p=1${SALT}${OUT}"),
        format!("$argon2id$v=19$m=19456,t=1000000,p=1${SALT}${OUT}"),
        format!("$argon2id$v=19$m=19456,t=2,p=255${SALT}${OUT}"),
        format!("$argon2id$v=19$m=524288,t=2,p=1${SALT}${OUT}"),
        format!("$argon2i$v=19$m=4194304,t=3,p=4${SALT}${OUT}"),
        format!("$argon2d$v=16$m=4194304,t=3,p=4${SALT}${OUT}"),
        format!("$argon2id$v=19$m=4294967295,t=4294967295,p=16777215${SALT}${OUT}"),
        format!("$argon2id$v=19$m=99999999999999999999,t=2,p=1${SALT}${OUT}"),
        format!("$argon2id$v=19$m=-1,t=2,p=1${SALT}${OUT}"),
        format!("$argon2id$v=19$m=0,t=0,p=0${SALT}${OUT}"),
        format!("$argon2id$v=99$m=19456,t=2,p=1${SALT}${OUT}"),
        format!("$argon2id$v=19$m=19456,t=2,p=1,keyid=AAAA${SALT}${OUT}"),
        format!("$argon2id$v=19$m=19456,t=2,p=1,m=4194304${SALT}${OUT}"),
        format!("$argon2id$v=19$m=19456,t=2,p=1${}${OUT}", "A".repeat(100_000)),
        format!("$argon2id$v=19$m=19456,t=2,p=1${SALT}${}", "A".repeat(100_000)),
        format!("$argon2id$v=19$m=19456,t=2,p=1$${OUT}"),
        format!("$argon2id$v=19$m=19456,t=2,p=1${SALT}$"),
        "$argon2id$v=19$m=19456,t=2,p=1".to_owned(),
        "$argon2id$".to_owned(),
        "$".repeat(10_000),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        "$scrypt$ln=60,r=255,p=255$c2FsdA$aGFzaA".to_owned(),
        "$pbkdf2-sha256$i=4294967295$c2FsdA$aGFzaA".to_owned(),
        "pw-ann".to_owned(),
        "\u{0}\u{ffff}\u{10ffff}".to_owned(),
    ];
    let hasher = CountingHasher::new();
    let users: Vec<Victim> = hostile
        .iter()
        .enumerate()
        .map(|(i, h)| Victim::new(&format!("u{i}"), h))
        .collect();
    let t = target(users, hasher);
    reset_peak_rss();
    let before = peak_rss_kib();
    for (i, hash) in hostile.iter().enumerate() {
        for req in [
            post_login(&format!("u{i}"), "pw-ann"),
            Request::get("/").header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(format!("u{i}:pw-ann"))),
            ),
        ] {
            let (resp, took) = timed(&t.server, &req);
            let resp = resp.unwrap_or_else(|e| panic!("hash #{i}: no answer: {e}"));
            assert_eq!(resp.status, 401, "hash #{i} ({} bytes): {}", hash.len(), resp.status);
            assert!(took < Duration::from_secs(2), "hash #{i} took {took:?}");
        }
    }
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "peak memory grew by {grown_mib} MiB");
    assert_eq!(t.hasher.verify_calls(), 2 * hostile.len());
    println!("{} hostile hashes, peak memory grew by {grown_mib} MiB", hostile.len());

    // A hash with other parameters under the ceiling is still verified (and accepted).
    let other = Argon2Hasher::builder().params(256, 2, 2).build().unwrap();
    let stored = actix_rt::System::new().block_on(other.hash("pw-ann")).unwrap();
    let t = target(vec![Victim::new("old", &stored)], CountingHasher::new());
    assert_eq!(
        t.server.send(&post_login("old", "pw-ann")).unwrap().text(),
        "logged in as old"
    );
}

/// A remember-me store that counts lookups.
#[derive(Clone, Default)]
struct CountingStore {
    inner: InMemoryRememberStore,
    finds: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingStore {
    fn finds(&self) -> usize {
        self.finds.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl RememberStore for CountingStore {
    async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
        self.inner.insert(token).await
    }
    async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
        self.finds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.find(selector).await
    }
    async fn rotate(&self, selector: &str, current: &str, new: &str, now: i64) -> Result<bool, ProviderError> {
        self.inner.rotate(selector, current, new, now).await
    }
    async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
        self.inner.delete(selector).await
    }
    async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        self.inner.delete_user(user_id).await
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        self.inner.delete_expired(now).await
    }
}

#[test]
fn remember_me_cookies_over_the_cap_never_reach_the_store() {
    let users = CountingProvider::new([Victim::new("ann", "x")]);
    let store = CountingStore::default();
    let (u, s) = (users.clone(), store.clone());
    let server = LiveServer::start(move || {
        App::new()
            .route("/", web::get().to(served("root")))
            .wrap(Authentication::new((
                SessionAuthenticator::new(u.clone(), secret()),
                RememberMe::new(u.clone(), s.clone(), secret()),
            )))
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&[3; 64]))
                    .cookie_secure(false)
                    .build(),
            )
    })
    .expect("the app starts");
    let cookie = |value: &str| Request::get("/").header("Cookie", format!("imia_remember={value}"));
    // A well-formed (unknown) token is looked up: the control.
    let well_formed = format!("{}:{}", "A".repeat(22), "B".repeat(43));
    let resp = server.send(&cookie(&well_formed)).unwrap();
    assert_eq!(served_by(&resp), Some(("root".into(), "anonymous".into())));
    assert_eq!(store.finds(), 1);
    for value in [
        format!("{}:{}", "A".repeat(22), "B".repeat(MAX_COOKIE_LEN)),
        "A".repeat(MAX_COOKIE_LEN + 1),
        format!("{}:{}", "A".repeat(2000), "B".repeat(2000)),
        "A".repeat(100_000),
        format!("{well_formed}{}", "=".repeat(MAX_COOKIE_LEN)),
    ] {
        let resp = server.send(&cookie(&value)).unwrap();
        assert_eq!(
            served_by(&resp),
            Some(("root".into(), "anonymous".into())),
            "{} bytes: {}",
            value.len(),
            resp.status
        );
    }
    assert_eq!(store.finds(), 1, "an over-long remember-me cookie reached the store");
    assert_eq!(users.calls(), 0);
}

#[test]
fn passwords_are_compared_exactly_as_typed() {
    let hasher = CountingHasher::new();
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    let seventy_two = format!("{}{}", "a".repeat(72), "b".repeat(28));
    let max_unicode = "\u{e9}".repeat(DEFAULT_MAX_PASSWORD_LEN / 2);
    let stored = [
        ("nfc", nfc.to_owned()),
        ("nfd", nfd.to_owned()),
        ("spaces", " pw ".to_owned()),
        ("case", "PassWord".to_owned()),
        ("bcrypt72", seventy_two.clone()),
        ("nul", "pw\0pw".to_owned()),
        ("unicode-max", max_unicode.clone()),
        ("emoji", "\u{1f511}\u{fc}\u{6f22}\u{5b57}".to_owned()),
        ("colon", "a:b".to_owned()),
    ];
    let users: Vec<Victim> = stored
        .iter()
        .map(|(id, pw)| Victim::new(id, &hasher.seed_hash(pw)))
        .chain([Victim::new("empty", "")])
        .collect();
    let t = target(users, hasher);
    let rows: Vec<(&str, String, bool)> = vec![
        ("nfc", nfc.into(), true),
        ("nfc", nfd.into(), false),
        ("nfd", nfd.into(), true),
        ("nfd", nfc.into(), false),
        ("nfc", "CAF\u{c9}".into(), false),
        ("spaces", " pw ".into(), true),
        ("spaces", "pw".into(), false),
        ("spaces", " pw".into(), false),
        ("spaces", "pw ".into(), false),
        ("spaces", "\u{a0}pw\u{a0}".into(), false),
        ("case", "PassWord".into(), true),
        ("case", "password".into(), false),
        ("case", "PASSWORD".into(), false),
        ("bcrypt72", seventy_two.clone(), true),
        ("bcrypt72", format!("{}{}", "a".repeat(72), "c".repeat(28)), false),
        ("bcrypt72", "a".repeat(72), false),
        ("nul", "pw\0pw".into(), true),
        ("nul", "pw".into(), false),
        ("nul", "pw\0".into(), false),
        ("nul", "pw\0pwX".into(), false),
        ("unicode-max", max_unicode.clone(), true),
        ("unicode-max", format!("{max_unicode}e"), false),
        ("emoji", "\u{1f511}\u{fc}\u{6f22}\u{5b57}".into(), true),
        ("emoji", "\u{1f511}u\u{308}\u{6f22}\u{5b57}".into(), false),
        ("colon", "a:b".into(), true),
        ("colon", "a".into(), false),
        ("empty", String::new(), false),
        ("empty", "x".into(), false),
        ("NFC", nfc.into(), false),
    ];
    for (user, password, ok) in &rows {
        let resp = t.server.send(&post_login(user, password)).unwrap();
        if *ok {
            assert_eq!(resp.text(), format!("logged in as {user}"), "{user} with {password:?}");
        } else {
            assert_eq!(resp.status, 401, "{user} with {password:?}: {}", resp.status);
        }
    }
    // The same through Basic (UTF-8 in base64), for the Unicode cases.
    for (user, password, ok) in rows.iter().filter(|(_, p, _)| !p.contains('\0') && !p.is_empty()) {
        let req = Request::get("/").header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        );
        let resp = t.server.send(&req).unwrap();
        if *ok {
            assert_eq!(served_by(&resp), Some(("root".into(), (*user).to_owned())), "{user}");
        } else {
            assert_eq!(resp.status, 401, "Basic {user} with {password:?}: {}", resp.status);
        }
    }
    // Empty passwords never reach the hasher; every other attempt hashed exactly once.
    assert!(t.hasher.longest_password() <= DEFAULT_MAX_PASSWORD_LEN);
    println!("{} password rows", rows.len());
}

/// PostgreSQL refuses NUL in text parameters with an error: a NUL smuggled into a username,
/// token or id must not turn a lookup into a 500.
#[test]
fn nul_bytes_never_fail_a_postgres_lookup() {
    let Some(database) = fresh_postgres("adv_limits") else {
        return;
    };
    let server = imia_tests::server::ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", database.as_str()),
            ("IMIA_SECRET_KEY", "aW1pYS1hZHZlcnNhcmlhbC1saW1pdHMtMDEyMzQ1Njc4OTAx"),
        ],
    )
    .expect("the demo starts on PostgreSQL");
    let form = |body: &str| {
        Request::post("/login")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    let cases: Vec<(&str, Request, u16)> = vec![
        (
            "control: a good login",
            form("username=user%40example.com&password=password"),
            303,
        ),
        (
            "NUL in the username",
            form("username=user%00%40example.com&password=password"),
            200,
        ),
        (
            "NUL in the password",
            form("username=user%40example.com&password=pass%00word"),
            200,
        ),
        ("NUL in an API key", Request::get("/api/me?apikey=user%00-token"), 400),
        (
            "NUL in an impersonation target",
            Request::get("/api/me?_impersonate=a%00b").header("X-Api-Key", "root-token"),
            200,
        ),
    ];
    for (what, req, status) in &cases {
        let resp = server.send(req).expect("the demo answers");
        assert_eq!(resp.status, *status, "{what}: {}", resp.text());
        if *status == 200 && req.target().starts_with("/api") {
            // Served as the key's own user: the unknown target was refused, not looked up.
            assert_eq!(resp.json().expect("JSON")["original_id"], serde_json::Value::Null);
        }
    }
    drop(server);
    drop_postgres(&database);
}

/// A client that never finishes its request head is cut off after actix's
/// `client_request_timeout` (5 s): a slow head cannot hold a connection open forever.
#[test]
fn a_request_head_that_never_ends_is_cut_off() {
    use std::io::{Read as _, Write as _};
    let t = target(vec![Victim::new("ann", "").token("tok-ann")], CountingHasher::new());
    let start = Instant::now();
    let mut stream = std::net::TcpStream::connect(t.server.addr()).expect("connects");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-ann\r\nX-Slow: ")
        .expect("writes");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "held for {took:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(t.users.calls(), 0);
    assert_alive(&t.server);
    println!("cut off after {took:?}: {:?}", answer.lines().next());
}

/// What one verification allocates with the demo's hasher (`Argon2Hasher::default()`, OWASP
/// parameters): 19 MiB.
const DEMO_HASH_MIB: u64 = OWASP_MEMORY_KIB as u64 / 1024;

/// Resident memory allowed on top of the hashes the bound lets run at once, for what a burst
/// of connections costs anyway: blocking threads' stacks, connection buffers, allocator slack.
const ALLOCATOR_SLACK_MIB: u64 = 64;

/// A `VmXxx:` line of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `GET /api/me` with HTTP Basic credentials.
fn api_me_as(username: &str, password: &str) -> Request {
    Request::get("/api/me").header(
        "Authorization",
        format!("Basic {}", STANDARD.encode(format!("{username}:{password}"))),
    )
}

/// What actix answers to `Expect: 100-continue` as it hands the request to the app.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Sends `raw` (a request with `Expect: 100-continue`) on a fresh connection, waits for
/// `100 Continue` (the request is in the app, not in a socket buffer), then for the answer at
/// most `patience` (not at all for zero), and resets the connection (SO_LINGER 0, then close:
/// an RST, not a FIN).
///
/// Without the wait, a reset that is already there when actix first reads the request makes
/// actix treat the connection as half-closed and answer the request in full: nothing would be
/// cancelled.
fn send_and_reset(addr: std::net::SocketAddr, raw: &[u8], patience: Duration) -> std::io::Result<()> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(raw)?;
    let mut head = [0; CONTINUE.len()];
    stream.read_exact(&mut head)?;
    assert_eq!(String::from_utf8_lossy(&head), String::from_utf8_lossy(CONTINUE));
    if !patience.is_zero() {
        stream.set_read_timeout(Some(patience))?;
        // Whether the answer came or not, the client goes away rudely.
        let _ = stream.read(&mut [0; 64]);
    }
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

/// Clients that send a wrong Basic password for a real user and reset the connection while
/// the lookup or the hash is queued or running make actix drop the request. The argon2 bound
/// must still hold for the work they leave behind: the demo's resident memory grows by at most
/// what the bound's hashes take (one per CPU, 19 MiB each) plus slack, and the queue keeps its
/// full capacity, so as many correct logins at once as it holds all get in (none 503).
#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "reads /proc/<pid>/status")]
fn the_argon2_bound_holds_when_clients_reset_their_connections() {
    const CLIENTS: usize = 4;
    const RESETS: usize = 25;
    // The demo's queue: `Argon2Hasher::default()` holds this many.
    const LOGINS: usize = DEFAULT_MAX_QUEUE;
    /// How long each client waits for an answer before resetting, in turn.
    const PATIENCE_MS: [u64; 5] = [0, 1, 3, 10, 30];
    // The demo hashes with `Argon2Hasher::default()`: one hash at a time per CPU.
    let bound = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    let demo = start_demo(&Store::Sqlite(temp_sqlite("adv_argon2_reset")));
    let pid = demo.pid();

    // One answered wrong password first: the hasher's threads and allocator are warm.
    let resp = demo.send(&api_me_as("user@example.com", "wrong")).expect("an answer");
    assert_eq!(resp.status, 401, "{resp:?}");
    let before_kib = proc_status_kib(pid, "VmHWM");

    // A body is announced and never sent: the client asks, is told to go on, and goes away.
    let raw = api_me_as("user@example.com", "wrong")
        .header("Expect", "100-continue")
        .header("Content-Length", "1");
    let raw = Arc::new(raw.to_bytes(&demo.addr().to_string()));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let resetters: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (raw, barrier, addr) = (Arc::clone(&raw), Arc::clone(&barrier), demo.addr());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..RESETS {
                    // Reset at once (the user lookup or the queue), or later (the queue
                    // or the hash).
                    let patience = PATIENCE_MS[(client + i) % PATIENCE_MS.len()];
                    send_and_reset(addr, &raw, Duration::from_millis(patience)).expect("connects and sends");
                }
            })
        })
        .collect();
    for handle in resetters {
        handle.join().expect("a resetting client");
    }

    // A correct login waits behind whatever the resets left queued; once it is in, nothing of
    // theirs waits any more.
    let resp = demo.send(&api_me_as("user@example.com", PASSWORD)).expect("an answer");
    assert_eq!(resp.status, 200, "a correct login after the resets: {resp:?}");

    // The queue has its full capacity back: as many correct logins at once as it holds all get
    // in (none 503), even if the work the resets left behind still holds every slot.
    let barrier = Arc::new(Barrier::new(LOGINS));
    let logins: Vec<_> = (0..LOGINS)
        .map(|_| {
            let (barrier, addr) = (Arc::clone(&barrier), demo.addr());
            thread::spawn(move || {
                barrier.wait();
                http::send_with_timeout(addr, &api_me_as("user@example.com", PASSWORD), Duration::from_secs(120))
                    .map(|r| r.status)
            })
        })
        .collect();
    let statuses: Vec<_> = logins
        .into_iter()
        .map(|h| h.join().expect("a login thread").expect("a login answers"))
        .collect();

    let peak_kib = proc_status_kib(pid, "VmHWM");
    let grown_mib = peak_kib.saturating_sub(before_kib) / 1024;
    let allowed_mib = bound * DEMO_HASH_MIB + ALLOCATOR_SLACK_MIB;
    println!(
        "{CLIENTS}x{RESETS} resets: peak resident memory {} -> {} MiB (+{grown_mib} MiB, about {} hashes \
         of {DEMO_HASH_MIB} MiB; allowed +{allowed_mib}); now {} MiB; {} of {LOGINS} correct logins refused",
        before_kib / 1024,
        peak_kib / 1024,
        grown_mib / DEMO_HASH_MIB,
        proc_status_kib(pid, "VmRSS") / 1024,
        statuses.iter().filter(|&&s| s == 503).count(),
    );
    assert!(
        grown_mib <= allowed_mib,
        "resets drove more than {bound} hashes at once: +{grown_mib} MiB"
    );
    assert_eq!(
        statuses,
        vec![200; LOGINS],
        "every correct login gets in after the resets"
    );
}

/// `#[protected]` refuses from the request head alone: a refused caller's body is never waited
/// for nor read, so announcing a large one costs the server nothing.
mod protected_bodies {
    use std::{
        io::Write as _,
        net::TcpStream,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use actix_web::{App, web};
    use imia::{Authentication, UserLike, authenticator::TokenAuthenticator, protected, provider::InMemoryProvider};
    use imia_tests::{
        http::{self, Response},
        live::LiveServer,
    };

    #[derive(Clone, UserLike)]
    struct Uploader {
        id: u32,
        api_token: Option<String>,
        scopes: Vec<String>,
    }

    /// Reads the whole body (up to the app's `PayloadConfig`) before it runs.
    #[protected(scopes = "upload")]
    async fn upload(body: web::Bytes, calls: web::Data<AtomicUsize>) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        format!("{} bytes", body.len())
    }

    /// The body announced by every request: 1 MiB.
    const ANNOUNCED: usize = 1 << 20;

    /// Sends the head of `POST /upload` announcing [`ANNOUNCED`] bytes and the first few of
    /// them, then `rest` of the body (if any), and reads the answer.
    fn post(server: &LiveServer, auth: Option<&str>, rest: Option<&[u8]>) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(server.addr())?;
        stream.set_read_timeout(Some(http::DEFAULT_TIMEOUT))?;
        stream.set_write_timeout(Some(http::DEFAULT_TIMEOUT))?;
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {ANNOUNCED}\r\n{auth}\r\n"
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(b"only the start")?;
        if let Some(rest) = rest {
            stream.write_all(rest)?;
        }
        http::read_response(&stream, false)
    }

    #[test]
    fn refused_callers_are_answered_without_sending_their_body() {
        let calls = web::Data::new(AtomicUsize::new(0));
        let users = InMemoryProvider::new([
            Uploader {
                id: 1,
                api_token: Some("tok-reader".into()),
                scopes: vec!["read".into()],
            },
            Uploader {
                id: 2,
                api_token: Some("tok-uploader".into()),
                scopes: vec!["upload".into()],
            },
        ]);
        let server = LiveServer::start({
            let calls = calls.clone();
            move || {
                App::new()
                    .app_data(calls.clone())
                    .app_data(web::PayloadConfig::new(2 * ANNOUNCED))
                    .route("/upload", web::post().to(upload))
                    .wrap(Authentication::new(TokenAuthenticator::bearer(users.clone())))
            }
        })
        .expect("the app starts");

        // The answer arrives while all but a few bytes of the body are still unsent: the
        // handler's body extractor never waited for them.
        for (who, auth, status) in [
            ("anonymous", None, 401),
            ("without the scope", Some("Bearer tok-reader"), 403),
        ] {
            let resp =
                post(&server, auth, None).unwrap_or_else(|e| panic!("{who}: no answer before the body was sent: {e}"));
            assert_eq!(resp.status, status, "{who}: {resp:?}");
            assert!(resp.body.is_empty(), "{who}: {resp:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        // An allowed caller's handler does read the body: it answers once all of it is sent.
        let rest = vec![b'x'; ANNOUNCED - "only the start".len()];
        let resp = post(&server, Some("Bearer tok-uploader"), Some(&rest)).expect("an answer");
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.text(), format!("{ANNOUNCED} bytes"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
