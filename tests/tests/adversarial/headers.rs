//! The adversarial suite, credential parsing: hostile `Authorization` headers (Basic, Bearer,
//! `Token`) and API keys (query and header) sent byte for byte over a real socket to an app
//! whose provider and password hasher count what reaches them.
//!
//! Every row states the answer (anonymous, authenticated, 400 or 401 with a challenge) and how
//! many provider lookups it may cost: malformed and over-long credentials must be refused
//! before the user store or the password hasher sees them, and a rejected credential never
//! falls through to a weaker one further down the chain.

use actix_web::{App, web};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    Authentication,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, DEFAULT_MAX_CREDENTIAL_LEN, TokenAuthenticator},
};
use imia_tests::{
    attack::{CountingHasher, CountingProvider, Lookup, Victim, assert_refused, served, served_by},
    http::{Request, Response},
    live::LiveServer,
};

/// What a row must get.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Served anonymously (no credentials for any authenticator).
    Anonymous,
    /// Served as this user.
    User(&'static str),
    /// 400, empty body: malformed credentials.
    Malformed,
    /// 401 with challenges, empty body: invalid credentials.
    Invalid,
}

use Expect::{Anonymous, Invalid, Malformed, User};

struct Row {
    name: String,
    req: Request,
    expect: Expect,
    /// Provider lookups this request may cost, exactly.
    lookups: usize,
}

fn row(name: impl Into<String>, req: Request, expect: Expect, lookups: usize) -> Row {
    Row {
        name: name.into(),
        req,
        expect,
        lookups,
    }
}

fn authz(value: impl AsRef<[u8]>) -> Request {
    Request::get("/").header("Authorization", value)
}

fn b64(s: impl AsRef<[u8]>) -> String {
    STANDARD.encode(s)
}

struct Target {
    server: LiveServer,
    users: CountingProvider,
    hasher: CountingHasher,
}

/// An app on a real socket whose every path is covered by Basic, Bearer, `Token` and API keys
/// (in that order), with the default fallback (anonymous requests are served).
fn target() -> Target {
    let hasher = CountingHasher::new();
    let users = CountingProvider::new([
        Victim::new("ann", &hasher.seed_hash("pw-ann")).token("tok-ann"),
        Victim::new("carol", &hasher.seed_hash("pa:ss:word")),
        Victim::new("dave", &hasher.seed_hash(">>>???")),
        Victim::new("zed", &hasher.seed_hash("pw-zed"))
            .token("tok-zed")
            .inactive(),
    ]);
    let (u, h) = (users.clone(), hasher.clone());
    let server = LiveServer::start(move || {
        App::new()
            .wrap(Authentication::new((
                BasicAuthenticator::new(u.clone(), h.clone()),
                TokenAuthenticator::bearer(u.clone()),
                TokenAuthenticator::new(u.clone(), "Token"),
                ApiKeyAuthenticator::new(u.clone()),
            )))
            .route("/", web::get().to(served("root")))
    })
    .expect("the app starts");
    Target { server, users, hasher }
}

/// Sends every row and checks its answer and what it cost.
fn run(target: &Target, rows: &[Row]) {
    for r in rows {
        let (lookups, verifies) = (target.users.calls(), target.hasher.verify_calls());
        let resp = target
            .server
            .send(&r.req)
            .unwrap_or_else(|e| panic!("{}: no answer: {e}", r.name));
        check(&r.name, &resp, &r.expect);
        let cost = target.users.calls() - lookups;
        assert_eq!(
            cost,
            r.lookups,
            "{}: provider lookups {:?}",
            r.name,
            &target.users.seen()[lookups..]
        );
        let verified = target.hasher.verify_calls() - verifies;
        if r.expect == Malformed {
            assert_eq!(verified, 0, "{}: a malformed credential reached the hasher", r.name);
        }
        assert!(verified <= 1, "{}: {verified} password checks for one request", r.name);
    }
}

fn check(name: &str, resp: &Response, expect: &Expect) {
    assert!(resp.status < 500, "{name}: a server error: {resp:?}");
    match expect {
        Anonymous => assert_eq!(
            served_by(resp),
            Some(("root".into(), "anonymous".into())),
            "{name}: {resp:?}"
        ),
        User(id) => assert_eq!(served_by(resp), Some(("root".into(), (*id).into())), "{name}: {resp:?}"),
        Malformed => {
            assert_eq!(resp.status, 400, "{name}: {resp:?}");
            assert_refused(resp, &name);
        }
        Invalid => {
            assert_eq!(resp.status, 401, "{name}: {resp:?}");
            assert_refused(resp, &name);
            let challenges = resp.header_all("www-authenticate");
            for scheme in ["Basic realm=", "Bearer", "Token"] {
                assert!(
                    challenges.iter().any(|c| c.starts_with(scheme)),
                    "{name}: no {scheme} challenge in {challenges:?}"
                );
            }
        }
    }
}

#[test]
fn basic_headers() {
    let t = target();
    let good = b64("ann:pw-ann");
    assert!(good.ends_with("=="), "the table relies on padding: {good}");
    // Non-canonical base64: the last character carries bits that padding says are unused.
    let non_canonical = {
        let body = good.trim_end_matches('=');
        let last = body.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let idx = alphabet.find(last).unwrap();
        let bumped = alphabet.chars().nth(idx | 1).unwrap();
        assert_ne!(bumped, last);
        format!("{}{bumped}==", &body[..body.len() - 1])
    };
    let dave = b64("dave:>>>???");
    assert!(dave.contains(['+', '/']), "{dave}");
    let url_safe = dave.replace('+', "-").replace('/', "_");
    let at_cap = |filler: usize| format!("Basic {}", b64(format!("ann:{}", "x".repeat(filler))));
    // The longest value of exactly the cap, and one byte more (base64 grows in steps of 4).
    let mut under = String::new();
    let mut over = String::new();
    for n in 0..DEFAULT_MAX_CREDENTIAL_LEN {
        let v = at_cap(n);
        if v.len() <= DEFAULT_MAX_CREDENTIAL_LEN {
            under = v;
        } else {
            over = v;
            break;
        }
    }
    assert!(DEFAULT_MAX_CREDENTIAL_LEN - under.len() < 4 && over.len() > DEFAULT_MAX_CREDENTIAL_LEN);
    let rows = vec![
        row("valid", authz(format!("Basic {good}")), User("ann"), 1),
        row("lower-case scheme", authz(format!("basic {good}")), User("ann"), 1),
        row("upper-case scheme", authz(format!("BASIC {good}")), User("ann"), 1),
        row("mixed-case scheme", authz(format!("bAsIc {good}")), User("ann"), 1),
        row("several spaces", authz(format!("Basic     {good}")), User("ann"), 1),
        row("surrounding spaces", authz(format!("  Basic {good}  ")), User("ann"), 1),
        row(
            "password with colons",
            authz(format!("Basic {}", b64("carol:pa:ss:word"))),
            User("carol"),
            1,
        ),
        row(
            "tab instead of a space is another scheme",
            authz(format!("Basic\t{good}")),
            Anonymous,
            0,
        ),
        row(
            "no separator is another scheme",
            authz(format!("Basic{good}")),
            Anonymous,
            0,
        ),
        row("space then tab", authz(format!("Basic \t{good}")), Malformed, 0),
        row("scheme alone", authz("Basic"), Malformed, 0),
        row("scheme and a space", authz("Basic "), Malformed, 0),
        row("not base64", authz("Basic !!!!"), Malformed, 0),
        row("no colon", authz(format!("Basic {}", b64("ann"))), Malformed, 0),
        row(
            "padding missing",
            authz(format!("Basic {}", good.trim_end_matches('='))),
            Malformed,
            0,
        ),
        row("padding doubled", authz(format!("Basic {good}==")), Malformed, 0),
        row(
            "padding inside",
            authz(format!("Basic {}{}", b64("ann:"), b64("pw-ann"))),
            Malformed,
            0,
        ),
        row(
            "non-canonical trailing bits",
            authz(format!("Basic {non_canonical}")),
            Malformed,
            0,
        ),
        row("url-safe alphabet", authz(format!("Basic {url_safe}")), Malformed, 0),
        row(
            "standard alphabet control",
            authz(format!("Basic {dave}")),
            User("dave"),
            1,
        ),
        row("trailing junk", authz(format!("Basic {good} x")), Malformed, 0),
        row(
            "two credentials in one header",
            authz(format!("Basic {good}, Basic {good}")),
            Malformed,
            0,
        ),
        row(
            "decoded bytes not UTF-8",
            authz(format!("Basic {}", b64(b"\xff\xfe:pw"))),
            Malformed,
            0,
        ),
        row("raw bytes not UTF-8", authz(b"Basic \xff\xfe\xfd\xfc"), Malformed, 0),
        row(
            "NUL in the username",
            authz(format!("Basic {}", b64("ann\0:pw-ann"))),
            Malformed,
            0,
        ),
        row(
            "NUL in the password",
            authz(format!("Basic {}", b64("ann:pw-ann\0"))),
            Malformed,
            0,
        ),
        row(
            "bell in the password",
            authz(format!("Basic {}", b64("ann:pw\x07ann"))),
            Malformed,
            0,
        ),
        row(
            "newline in the username",
            authz(format!("Basic {}", b64("an\nn:pw-ann"))),
            Malformed,
            0,
        ),
        row("empty username", authz(format!("Basic {}", b64(":pw-ann"))), Invalid, 0),
        row("empty password", authz(format!("Basic {}", b64("ann:"))), Invalid, 0),
        row("empty both", authz(format!("Basic {}", b64(":"))), Invalid, 0),
        row(
            "wrong password",
            authz(format!("Basic {}", b64("ann:pw-bob"))),
            Invalid,
            1,
        ),
        row(
            "password with a trailing space",
            authz(format!("Basic {}", b64("ann:pw-ann "))),
            Invalid,
            1,
        ),
        row(
            "password in another case",
            authz(format!("Basic {}", b64("ann:PW-ANN"))),
            Invalid,
            1,
        ),
        row(
            "username in another case",
            authz(format!("Basic {}", b64("ANN:pw-ann"))),
            Invalid,
            1,
        ),
        row(
            "unknown user",
            authz(format!("Basic {}", b64("nobody:pw-ann"))),
            Invalid,
            1,
        ),
        row(
            "inactive user",
            authz(format!("Basic {}", b64("zed:pw-zed"))),
            Invalid,
            1,
        ),
        row("just under the cap", authz(under.clone()), Invalid, 1),
        row("just over the cap", authz(over.clone()), Malformed, 0),
        row(
            "far over the cap",
            authz(format!("Basic {}", "A".repeat(100_000))),
            Malformed,
            0,
        ),
    ];
    run(&t, &rows);
    // The long password under the credential cap was looked up but never hashed: it is over
    // the password cap (checked by `limits` too).
    assert!(t.hasher.longest_password() <= imia::password::DEFAULT_MAX_PASSWORD_LEN);
    println!("{} Basic rows", rows.len());
}

#[test]
fn token_headers() {
    let t = target();
    let long = "a".repeat(DEFAULT_MAX_CREDENTIAL_LEN);
    let rows = vec![
        row("bearer", authz("Bearer tok-ann"), User("ann"), 1),
        row("bearer lower-case", authz("bearer tok-ann"), User("ann"), 1),
        row("bearer upper-case", authz("BEARER tok-ann"), User("ann"), 1),
        row("token scheme", authz("Token tok-ann"), User("ann"), 1),
        row("token scheme mixed case", authz("tOkEn tok-ann"), User("ann"), 1),
        row("several spaces", authz("Bearer    tok-ann"), User("ann"), 1),
        row(
            "tab separator is another scheme",
            authz("Bearer\ttok-ann"),
            Anonymous,
            0,
        ),
        row("no separator is another scheme", authz("Bearertok-ann"), Anonymous, 0),
        row("space then tab", authz("Bearer \ttok-ann"), Malformed, 0),
        row("scheme alone", authz("Bearer"), Malformed, 0),
        row("two tokens", authz("Bearer tok ann"), Malformed, 0),
        row("comma list", authz("Bearer tok-ann, Basic eA=="), Malformed, 0),
        row("quoted", authz("Bearer \"tok-ann\""), Malformed, 0),
        row("auth-param syntax", authz("Bearer token=tok-ann"), Malformed, 0),
        row("padding only", authz("Bearer ==="), Malformed, 0),
        row("padding first", authz("Bearer =tok-ann"), Malformed, 0),
        row("non-ASCII UTF-8", authz("Bearer tök-ann"), Malformed, 0),
        row("raw bytes not UTF-8", authz(b"Bearer tok\xff"), Malformed, 0),
        row("percent-encoded", authz("Bearer tok%2Dann"), Malformed, 0),
        row(
            "token68 padding is part of the token",
            authz("Bearer tok-ann="),
            Invalid,
            1,
        ),
        row("unknown token", authz("Bearer nope"), Invalid, 1),
        row("token of an inactive user", authz("Token tok-zed"), Invalid, 1),
        row("at the cap", authz(format!("Bearer {}", &long[7..])), Invalid, 1),
        row("over the cap", authz(format!("Bearer {long}")), Malformed, 0),
        row("unknown scheme", authz("Digest username=\"ann\""), Anonymous, 0),
        row("lookalike scheme", authz("Bearers tok-ann"), Anonymous, 0),
        row("bare token", authz("tok-ann"), Anonymous, 0),
        row("empty header", authz(""), Anonymous, 0),
        row(
            "two Authorization headers",
            authz("Bearer tok-ann").header("Authorization", "Bearer tok-ann"),
            Malformed,
            0,
        ),
        row(
            "Basic and Bearer headers",
            authz(format!("Basic {}", b64("ann:pw-ann"))).header("Authorization", "Bearer tok-ann"),
            Malformed,
            0,
        ),
        row(
            "a valid header and an empty one",
            authz("Bearer tok-ann").header("Authorization", ""),
            Malformed,
            0,
        ),
        row(
            "another scheme's header and ours",
            authz("Digest x").header("authorization", "Bearer tok-ann"),
            Malformed,
            0,
        ),
    ];
    run(&t, &rows);
    println!("{} token rows", rows.len());
}

#[test]
fn api_keys() {
    let t = target();
    let at_cap = "k".repeat(DEFAULT_MAX_CREDENTIAL_LEN);
    let over = "k".repeat(DEFAULT_MAX_CREDENTIAL_LEN + 1);
    let get = |target: &str| Request::get(target);
    let rows = vec![
        row("query", get("/?apikey=tok-ann"), User("ann"), 1),
        row("header", get("/").header("X-Api-Key", "tok-ann"), User("ann"), 1),
        row(
            "header name in any case",
            get("/").header("x-API-key", "tok-ann"),
            User("ann"),
            1,
        ),
        row("percent-encoded value", get("/?apikey=tok%2Dann"), User("ann"), 1),
        row("percent-encoded name", get("/?%61pikey=tok-ann"), User("ann"), 1),
        row(
            "among other parameters",
            get("/?a=1&apikey=tok-ann&b=2"),
            User("ann"),
            1,
        ),
        row("parameter name in another case", get("/?APIKEY=tok-ann"), Anonymous, 0),
        row("lookalike parameter", get("/?apikeys=tok-ann"), Anonymous, 0),
        row("parameter without a value", get("/?apikey"), Anonymous, 0),
        row("empty parameter", get("/?apikey="), Anonymous, 0),
        row("empty header", get("/").header("X-Api-Key", ""), Anonymous, 0),
        row(
            "repeated parameter",
            get("/?apikey=tok-ann&apikey=tok-ann"),
            Malformed,
            0,
        ),
        row(
            "repeated with another value",
            get("/?apikey=nope&apikey=tok-ann"),
            Malformed,
            0,
        ),
        row("repeated, one empty", get("/?apikey=&apikey=tok-ann"), Malformed, 0),
        row(
            "repeated, name encoded",
            get("/?apikey=nope&%61pikey=tok-ann"),
            Malformed,
            0,
        ),
        row(
            "repeated, name encoded in upper case",
            get("/?apikey=nope&API%6bey=x&api%6Bey=tok-ann"),
            Malformed,
            0,
        ),
        row(
            "repeated header",
            get("/").header("X-Api-Key", "tok-ann").header("X-Api-Key", "tok-ann"),
            Malformed,
            0,
        ),
        row(
            "header not visible ASCII",
            get("/").header("X-Api-Key", b"tok\xffann"),
            Malformed,
            0,
        ),
        row("NUL in the query", get("/?apikey=tok%00ann"), Malformed, 0),
        row("newline in the query", get("/?apikey=tok%0Aann"), Malformed, 0),
        row("escape in the query", get("/?apikey=%1B%5B2J"), Malformed, 0),
        row(
            "tab in the header",
            get("/").header("X-Api-Key", "tok\tann"),
            Malformed,
            0,
        ),
        row("query at the cap", get(&format!("/?apikey={at_cap}")), Invalid, 1),
        row("query over the cap", get(&format!("/?apikey={over}")), Malformed, 0),
        row("header at the cap", get("/").header("X-Api-Key", &at_cap), Invalid, 1),
        row("header over the cap", get("/").header("X-Api-Key", &over), Malformed, 0),
        row("unknown key", get("/?apikey=nope"), Invalid, 1),
        row(
            "key of an inactive user",
            get("/").header("X-Api-Key", "tok-zed"),
            Invalid,
            1,
        ),
        row("plus is a space", get("/?apikey=tok+ann"), Invalid, 1),
        // Query and header together: a non-empty query parameter is used alone (documented),
        // and a bad one never falls through to a good header.
        row(
            "bad query, good header",
            get("/?apikey=nope").header("X-Api-Key", "tok-ann"),
            Invalid,
            1,
        ),
        row(
            "empty query, good header",
            get("/?apikey=").header("X-Api-Key", "tok-ann"),
            User("ann"),
            1,
        ),
        row(
            "good query, bad header",
            get("/?apikey=tok-ann").header("X-Api-Key", "nope"),
            User("ann"),
            1,
        ),
    ];
    run(&t, &rows);
    println!("{} API key rows", rows.len());
}

#[test]
fn a_rejected_credential_never_falls_through_the_chain() {
    let t = target();
    let rows = vec![
        row(
            "wrong Basic, good API key",
            authz(format!("Basic {}", b64("ann:wrong"))).header("X-Api-Key", "tok-ann"),
            Invalid,
            1,
        ),
        row(
            "malformed Basic, good bearer-free API key",
            Request::get("/?apikey=tok-ann").header("Authorization", "Basic !!!"),
            Malformed,
            0,
        ),
        row(
            "malformed bearer, good API key",
            Request::get("/?apikey=tok-ann").header("Authorization", "Bearer a b"),
            Malformed,
            0,
        ),
        row(
            "unknown bearer, good API key",
            Request::get("/?apikey=tok-ann").header("Authorization", "Bearer nope"),
            Invalid,
            1,
        ),
        row(
            "inactive token, good API key",
            authz("Token tok-zed").header("X-Api-Key", "tok-ann"),
            Invalid,
            1,
        ),
        row(
            "an unknown scheme is not a rejection",
            Request::get("/?apikey=tok-ann").header("Authorization", "Negotiate abc"),
            User("ann"),
            1,
        ),
    ];
    run(&t, &rows);
    // Only the first, rejected credential was looked up: never the API key behind it.
    let keys: Vec<_> = t
        .users
        .seen()
        .into_iter()
        .filter(|(l, _)| *l != Lookup::Token)
        .collect();
    assert_eq!(keys, [(Lookup::Username, "ann".to_owned())]);
    let tokens: Vec<_> = t
        .users
        .seen()
        .into_iter()
        .filter(|(l, _)| *l == Lookup::Token)
        .map(|(_, k)| k)
        .collect();
    assert_eq!(tokens, ["nope", "tok-zed", "tok-ann"]);
}

#[test]
fn framing_tricks_never_authenticate() {
    let t = target();
    let addr = t.server.addr().to_string();
    let good = b64("ann:pw-ann");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "obs-fold continues the header",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic\r\n {good}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "obs-fold with a tab",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer\r\n\ttok-ann\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "NUL inside the value",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer tok\0ann\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "bare CR inside the value",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer tok\rann\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "space before the colon",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization : Bearer tok-ann\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ),
        (
            "bare LF line endings with a smuggled second header",
            format!("GET / HTTP/1.1\nHost: {addr}\nAuthorization: Bearer nope\nAuthorization: Bearer tok-ann\nConnection: close\n\n")
                .into_bytes(),
        ),
    ];
    for (name, raw) in &cases {
        let before = t.users.calls();
        let resp = t
            .server
            .send_raw(raw)
            .unwrap_or_else(|e| panic!("{name}: no answer: {e}"));
        assert!(resp.status < 500, "{name}: {resp:?}");
        let who = served_by(&resp);
        assert!(
            who.as_ref().is_none_or(|(_, id)| id == "anonymous"),
            "{name}: authenticated through a framing trick: {resp:?}"
        );
        if resp.status == 400 || who.is_some() {
            assert_eq!(t.users.calls(), before, "{name}: reached the provider");
        }
        println!("{name}: {}", resp.status);
    }
}

/// The same kinds of hostile credentials against the demo's API over a real socket: every
/// authenticator of a real app in its real order (session, remember-me, Basic, Bearer, Token,
/// API key), a real user store and the real password hasher.
#[test]
fn the_demo_api_refuses_hostile_credentials_cleanly() {
    let db = std::env::temp_dir().join(format!("imia-adversarial-headers-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = imia_tests::server::ExampleServer::start_with_env(
        "demo",
        &[("DATABASE_URL", db.to_str().expect("a UTF-8 temp path"))],
    )
    .expect("the demo starts");
    let good_basic = format!("Basic {}", b64("user@example.com:password"));
    let api = |value: &[u8]| Request::get("/api/me").header("Authorization", value);
    // The controls: valid credentials of each kind are accepted.
    for req in [
        api(good_basic.as_bytes()),
        api(b"bearer user-token"),
        api(b"TOKEN   user-token"),
        Request::get("/api/me?apikey=user-token"),
        Request::get("/api/me").header("x-api-key", "user-token"),
    ] {
        let resp = server.send(&req).expect("the demo answers");
        assert_eq!(resp.status, 200, "{req:?}: {resp:?}");
        assert_eq!(resp.json().expect("JSON")["username"], "user@example.com");
    }
    let hostile: Vec<(&str, Request, u16)> = vec![
        ("Basic without credentials", api(b"Basic"), 400),
        ("Basic not base64", api(b"Basic !!!"), 400),
        (
            "Basic without padding",
            api(good_basic.trim_end_matches('=').as_bytes()),
            400,
        ),
        (
            "Basic not UTF-8",
            api(format!("Basic {}", b64(b"\xff:x")).as_bytes()),
            400,
        ),
        (
            "Basic with NUL",
            api(format!("Basic {}", b64("user@example.com\0:password")).as_bytes()),
            400,
        ),
        (
            "Basic over the cap",
            api(format!("Basic {}", "A".repeat(9000)).as_bytes()),
            400,
        ),
        (
            "Basic wrong password",
            api(format!("Basic {}", b64("user@example.com:Password")).as_bytes()),
            401,
        ),
        (
            "Basic disabled user",
            api(format!("Basic {}", b64("disabled@example.com:password")).as_bytes()),
            401,
        ),
        (
            "Basic empty password",
            api(format!("Basic {}", b64("user@example.com:")).as_bytes()),
            401,
        ),
        ("Bearer not token68", api(b"Bearer user token"), 400),
        ("Bearer not UTF-8", api(b"Bearer \xff\xfe"), 400),
        ("Bearer unknown", api(b"Bearer nope"), 401),
        ("Bearer of a disabled user", api(b"Bearer disabled-token"), 401),
        (
            "Token over the cap",
            api(format!("Token {}", "a".repeat(9000)).as_bytes()),
            400,
        ),
        (
            "two Authorization headers",
            api(b"Bearer user-token").header("Authorization", "Bearer user-token"),
            400,
        ),
        (
            "API key repeated",
            Request::get("/api/me?apikey=user-token&%61pikey=user-token"),
            400,
        ),
        ("API key with NUL", Request::get("/api/me?apikey=user%00-token"), 400),
        (
            "API key header twice",
            Request::get("/api/me")
                .header("X-Api-Key", "a")
                .header("X-Api-Key", "b"),
            400,
        ),
        (
            "bad query key, good header",
            Request::get("/api/me?apikey=nope").header("X-Api-Key", "user-token"),
            401,
        ),
        (
            "wrong Basic, good API key",
            api(b"Basic dXNlckBleGFtcGxlLmNvbTp4").header("X-Api-Key", "user-token"),
            401,
        ),
        ("nothing", Request::get("/api/me"), 401),
    ];
    for (name, req, status) in &hostile {
        let resp = server.send(req).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status, *status, "{name}: {resp:?}");
        assert_refused(&resp, name);
    }
    drop(server);
    let _ = std::fs::remove_file(db);
}
