//! The adversarial suite, redirects: hostile `next` values (Django's `test_security_check`
//! table and more) against [`imia::redirect::safe_next`] directly, then end to end against the
//! demo over a real socket: a login only ever answers with a local `Location`, and the login
//! redirect's `next` carries the path and query of the request, never a host, whatever the
//! `Host` header or request-target form.

use imia::redirect::{MAX_NEXT_LEN, safe_next};
use imia_tests::{
    http::{Request, Response},
    server::ExampleServer,
};

/// Values that must never be followed. From Django's `test_security_check` (bad URLs), the
/// OWASP redirect cheat sheet and browser URL-parsing quirks.
fn hostile() -> Vec<String> {
    let mut bad: Vec<String> = [
        // Django's bad URLs.
        "http://example.com",
        "http:///example.com",
        "https://example.com",
        "ftp://example.com",
        r"\\example.com",
        r"\\\example.com",
        r"/\\/example.com",
        r"\\\example.com",
        r"\\example.com",
        r"\\//example.com",
        r"/\/example.com",
        r"\/example.com",
        r"/\example.com",
        "http:///example.com",
        r"http:/\//example.com",
        r"http:\/example.com",
        r"http:/\example.com",
        "javascript:alert(\"XSS\")",
        "\njavascript:alert(x)",
        "\x08//example.com",
        r"http://otherserver\@example.com",
        r"http:\\testserver\@example.com",
        r"http://testserver\me:pass@example.com",
        r"http://testserver\@example.com",
        r"http:\\testserver\confirm\me@example.com",
        "http:999999999",
        "ftp:9999999999",
        "\n",
        "http://[2001:cdba:0000:0000:0000:0000:3257:9652/",
        "http://2001:cdba:0000:0000:0000:0000:3257:9652]/",
        // The brief's list and its neighbours.
        "//example.com",
        "///example.com",
        "////example.com",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "http:/example.com",
        "https:example.com",
        "https:/example.com",
        " http://example.com",
        " /app",
        "\t/app",
        "http://exa\nmple.com",
        "/\t/example.com",
        "/\n/example.com",
        "/\r/example.com",
        "/\r\n/example.com",
        "/ /example.com",
        "/\x00/",
        "/app\x00",
        "/\x0b/example.com",
        "/\x0c/example.com",
        "/\x7f/example.com",
        // Encoded slashes and backslashes right after the first slash.
        "%2F%2Fexample.com",
        "/%2F/example.com",
        "/%2f/example.com",
        "/%2F%2Fexample.com",
        "/%5Cexample.com",
        "/%5cexample.com",
        "/%5C%5Cexample.com",
        "/a/%2f%2fexample.com",
        "/a/%5C/example.com",
        // Encoded tabs and newlines right after the first slash: decoded once more, browsers
        // strip them and `/%09/example.com` becomes `//example.com`.
        "/%09/example.com",
        "/%0a/example.com",
        "/%0A/example.com",
        "/%0d/example.com",
        "/%0D%0A/example.com",
        "/%09%09/example.com",
        // Relative references: never local paths.
        "example.com",
        "example.com/app",
        "./app",
        "../app",
        "?next=/app",
        "#/app",
        "",
        "@example.com",
        // Unicode lookalikes of `/`, `\`, `.` and spaces.
        "/\u{2215}example.com",
        "/\u{2044}example.com",
        "/\u{ff0f}example.com",
        "\u{ff0f}\u{ff0f}example.com",
        "/\u{ff3c}example.com",
        "/\u{29f5}example.com",
        "/\u{3000}/example.com",
        "/\u{a0}/example.com",
        "/\u{2028}/example.com",
        "/\u{200b}/example.com",
        "/\u{feff}/example.com",
        "/caf\u{e9}",
        "//ex\u{e1}mple.com",
        "\u{ff0f}app",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Over-long values, even local ones.
    bad.push(format!("/{}", "a".repeat(MAX_NEXT_LEN)));
    bad.push(format!("/app?x={}", "a".repeat(MAX_NEXT_LEN)));
    bad.push(format!("/{}", "%2e".repeat(100_000)));
    bad
}

/// Local paths that must be followed as they are. From Django's good URLs (made absolute
/// paths: imia follows nothing else) and ordinary app links.
fn local() -> Vec<String> {
    let mut good: Vec<String> = [
        "/",
        "/app",
        "/app/",
        "/view/?param=http://example.com",
        "/view/?param=https://example.com",
        "/view?param=ftp://example.com",
        "/view/?param=//example.com",
        "/url%20with%20spaces/",
        "/%20/",
        "/%252F%252Fexample.com",
        "/a/%09/example.com",
        "/app?next=//example.com",
        "/app?x=1&y=%2F",
        "/app#/section",
        "/a/b/c?d=e#f",
        "/caf%C3%A9",
        "/@example.com",
        "/.example.com",
        "/..",
        "/a/../b",
        "/~user/",
        "/a;b=c",
        "/!$&'()*+,;=:@",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    good.push(format!("/{}", "a".repeat(MAX_NEXT_LEN - 1)));
    good
}

#[test]
fn safe_next_refuses_every_hostile_value() {
    let bad = hostile();
    for next in &bad {
        assert_eq!(safe_next(next), None, "{} was accepted", short(next));
    }
    let good = local();
    for next in &good {
        assert_eq!(safe_next(next), Some(next.as_str()), "{} was refused", short(next));
    }
    assert!(bad.len() >= 90 && good.len() >= 20);
    println!("{} hostile and {} local values", bad.len(), good.len());
}

/// Whatever the input, what `safe_next` accepts is a local path a browser cannot turn into
/// another origin: one leading `/`, no second `/` or `\` after it, visible ASCII only.
#[test]
fn whatever_safe_next_accepts_is_a_local_path() {
    let alphabet = [
        '/', '\\', '.', ':', '%', '2', 'f', 'F', '5', 'c', 'C', 'a', '\t', '\n', ' ', '@', '?', '#',
    ];
    let mut accepted = 0;
    // Every string of up to four characters over the alphabet, after a leading `/`.
    let mut stack = vec![String::from("/")];
    while let Some(s) = stack.pop() {
        if let Some(next) = safe_next(&s) {
            accepted += 1;
            assert_local(next);
        }
        if s.len() < 5 {
            for c in alphabet {
                stack.push(format!("{s}{c}"));
            }
        }
    }
    assert!(accepted > 1000, "{accepted}");
}

fn assert_local(location: &str) {
    let rest = location
        .strip_prefix('/')
        .unwrap_or_else(|| panic!("{location:?} is not a local path"));
    assert!(!rest.starts_with(['/', '\\']), "{location:?} is protocol-relative");
    assert!(
        location.bytes().all(|b| b.is_ascii_graphic()),
        "{location:?} has characters a browser may strip or rewrite"
    );
    assert!(!location.contains('\\'), "{location:?} has a backslash");
    let lower = location.to_ascii_lowercase();
    assert!(
        !lower.starts_with("/%2f") && !lower.starts_with("/%5c"),
        "{location:?} starts with an encoded slash"
    );
}

/// At most 80 characters of `s`, for messages.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push_str(&format!("… ({} bytes)", s.len()));
    }
    format!("{out:?}")
}

fn demo(tag: &str) -> (ExampleServer, std::path::PathBuf) {
    let db = std::env::temp_dir().join(format!(
        "imia-adversarial-redirects-{}-{tag}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let server = ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", db.to_str().expect("a UTF-8 temp path")),
            ("IMIA_SECRET_KEY", "aW1pYS1hZHZlcnNhcmlhbC1yZWRpcmVjdHMtMDEyMzQ1Njc4OQ"),
        ],
    )
    .expect("the demo starts");
    (server, db)
}

fn login(server: &ExampleServer, next: &str) -> Response {
    let req = Request::post("/login").form(&[
        ("username", "user@example.com"),
        ("password", "password"),
        ("next", next),
    ]);
    server.send(&req).expect("the demo answers")
}

#[test]
fn the_demo_login_only_redirects_to_local_paths() {
    let (server, db) = demo("login");
    let mut rows = 0;
    for next in hostile() {
        let resp = login(&server, &next);
        if resp.status == 413 {
            // Over actix's form limit (16 KiB): refused before the handler, no redirect.
            assert!(next.len() > 16 * 1024, "{}", short(&next));
            assert!(resp.header("location").is_none());
        } else {
            assert_eq!(resp.status, 303, "{}: {}", short(&next), resp.status);
            assert_eq!(resp.header_all("location"), ["/app"], "{} was followed", short(&next));
        }
        rows += 1;
    }
    for next in local() {
        let resp = login(&server, &next);
        assert_eq!(resp.status, 303, "{}: {}", short(&next), resp.status);
        assert_eq!(
            resp.header("location"),
            Some(next.as_str()),
            "{} was not followed",
            short(&next)
        );
        assert_local(resp.header("location").unwrap());
        rows += 1;
    }
    // `next` sent twice: the form decoder takes one, and whichever it is, it is checked.
    let twice = Request::post("/login")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("username=user%40example.com&password=password&next=%2Fapp&next=%2F%2Fexample.com");
    let resp = server.send(&twice).unwrap();
    assert!(resp.status == 303 || resp.status == 400, "{resp:?}");
    if resp.status == 303 {
        assert_local(resp.header("location").unwrap());
    }
    // A failed login echoes `next` into the form: escaped, never markup.
    let xss = "/\"><script>alert(1)</script>";
    let resp = server
        .send(&Request::post("/login").form(&[("username", "user@example.com"), ("password", "wrong"), ("next", xss)]))
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(!resp.text().contains("<script>alert(1)"), "{}", resp.text());
    let resp = server
        .get(&format!("/login?next={}", "%22%3E%3Cscript%3Ealert(1)%3C/script%3E"))
        .unwrap();
    assert!(!resp.text().contains("<script>alert(1)"), "{}", resp.text());
    println!("{rows} logins");
    drop(server);
    let _ = std::fs::remove_file(db);
}

/// The `next` of a login redirect, decoded.
fn next_of(resp: &Response) -> Option<String> {
    let location = resp.header("location")?;
    let (path, query) = location.split_once('?')?;
    assert_eq!(path, "/login", "{location}");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
}

#[test]
fn the_login_redirect_carries_path_and_query_never_the_host() {
    let (server, db) = demo("next");
    let browser = |req: Request| req.header("Accept", "text/html");
    let cases: Vec<(&str, Request, Option<&str>)> = vec![
        ("plain", browser(Request::get("/app")), Some("/app")),
        (
            "with a query",
            browser(Request::get("/app?tab=2&x=%2F")),
            Some("/app?tab=2&x=%2F"),
        ),
        (
            "hostile Host",
            browser(Request::get("/app").header("Host", "evil.example")),
            Some("/app"),
        ),
        (
            "Host with a path",
            browser(Request::get("/app?a=b").header("Host", "evil.example/x")),
            Some("/app?a=b"),
        ),
        (
            "Host with user info",
            browser(Request::get("/app").header("Host", "user@evil.example")),
            Some("/app"),
        ),
        (
            "forwarded headers",
            browser(
                Request::get("/app")
                    .header("X-Forwarded-Host", "evil.example")
                    .header("X-Forwarded-Proto", "https")
                    .header("Forwarded", "host=evil.example;proto=https"),
            ),
            Some("/app"),
        ),
        (
            "absolute-form target",
            browser(Request::get("http://evil.example/app?q=1")),
            Some("/app?q=1"),
        ),
        (
            "absolute-form target and Host",
            browser(Request::get("https://evil.example:8443/app").header("Host", "evil.example")),
            Some("/app"),
        ),
        (
            "absolute-form target with user info",
            browser(Request::get("http://me@evil.example/app")),
            Some("/app"),
        ),
        (
            "a query that looks like a URL",
            browser(Request::get("/app?//example.org")),
            Some("/app?//example.org"),
        ),
        ("encoded path", browser(Request::get("/%61pp")), Some("/%61pp")),
    ];
    let mut seen = 0;
    for (name, req, expected) in cases {
        let resp = server.send(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status, 303, "{name}: {resp:?}");
        let location = resp.header("location").expect("a Location");
        assert!(location.starts_with("/login"), "{name}: {location}");
        assert!(!location.to_ascii_lowercase().contains("evil"), "{name}: {location}");
        let next = next_of(&resp);
        assert_eq!(next.as_deref(), expected, "{name}: {location}");
        if let Some(next) = &next {
            assert_eq!(safe_next(next), Some(next.as_str()), "{name}: {next:?}");
        }
        seen += 1;
    }
    // A target that is not a local path is left out of `next` rather than copied.
    for target in ["//evil.example/app", "/\\evil.example/app"] {
        let resp = server.send(&browser(Request::get(target))).unwrap();
        assert!(resp.status < 500, "{target}: {resp:?}");
        if let Some(location) = resp.header("location") {
            assert!(!location.contains("evil"), "{target}: {location}");
        }
    }
    // API clients get 401, not a redirect.
    let resp = server
        .send(&Request::get("/app").header("Accept", "application/json"))
        .unwrap();
    assert_eq!(resp.status, 401, "{resp:?}");
    assert!(resp.header("location").is_none());
    println!("{seen} login redirects");
    drop(server);
    let _ = std::fs::remove_file(db);
}
