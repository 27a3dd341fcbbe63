//! The adversarial suite, URL protection: raw request targets, sent byte for byte over a real
//! socket, against include/exclude patterns.
//!
//! Every handler answers with its route name and the identity it served
//! ([`served`](imia_tests::attack::served)), so each attempt shows where actix's router really
//! dispatched it. The invariant, for every row and every configuration: **a request that
//! reaches a protected handler is never served anonymously.** Legitimate forms of the excluded
//! paths must keep working, and the table must contain real attacks: with a valid API key, a
//! good share of the hostile targets do reach protected handlers.

use actix_web::{App, HttpResponse, web};
use imia::{Authentication, Fallback, PathPattern, authenticator::ApiKeyAuthenticator};
use imia_tests::{
    attack::{CountingProvider, Victim, served, served_by},
    http::{Request, Response},
    live::LiveServer,
};

/// The routes of the app under attack, by the name their handler answers with.
const ROUTES: &[(&str, &str)] = &[
    ("/admin", "admin"),
    ("/admin/x", "admin/x"),
    ("/admin/{tail:.*}", "admin/*"),
    ("/administrator", "administrator"),
    ("/static/{f}", "static"),
    ("/static-admin", "static-admin"),
    ("/public", "public"),
    ("/public/{tail:.*}", "public"),
];

/// The API key of the one user.
const KEY: &str = "k-admin";

/// How an app is protected, which of its handlers must never serve an anonymous request, and
/// which paths (as a normalising reader would see them) are in the protected space.
struct Setup {
    name: &'static str,
    auth: fn(CountingProvider) -> Authentication,
    protected: fn(&str) -> bool,
    space: fn(&str) -> bool,
}

/// Whether `path` is `prefix` or below it, segment by segment.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The path of a raw request target as the most lenient reader in front of or behind the app
/// might see it (a proxy, a servlet container, a file server): every percent-escape decoded
/// (overlong UTF-8 for `.` and `/` too), backslashes as slashes, `;` parameters dropped, dot
/// segments resolved, empty segments removed. An independent oracle: it shares no code with
/// the middleware.
fn lenient_path(target: &str) -> String {
    let path = match target.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?', '#']) {
            Some(i) if rest[i..].starts_with('/') => &rest[i..],
            _ => "/",
        },
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| {
            bytes
                .get(j + 1..j + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match (bytes[i], hex(i)) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    // Overlong encodings of `.` and `/`, as lenient decoders read them.
    let mut text = String::new();
    let mut j = 0;
    while j < decoded.len() {
        let rest = &decoded[j..];
        if rest.starts_with(&[0xC0, 0xAE]) {
            text.push('.');
            j += 2;
        } else if rest.starts_with(&[0xC0, 0xAF]) {
            text.push('/');
            j += 2;
        } else if rest.starts_with(&[0xE0, 0x80, 0xAF]) {
            text.push('/');
            j += 3;
        } else {
            let len = (1..=4.min(rest.len()))
                .rev()
                .find(|n| std::str::from_utf8(&rest[..*n]).is_ok())
                .unwrap_or(0);
            if len == 0 {
                text.push(char::REPLACEMENT_CHARACTER);
                j += 1;
            } else {
                text.push_str(std::str::from_utf8(&rest[..len]).expect("checked"));
                j += len;
            }
        }
    }
    let mut segments: Vec<&str> = Vec::new();
    let text = text.replace('\\', "/");
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

#[test]
fn the_lenient_reader_resolves_what_it_should() {
    for (target, path) in [
        ("/static/../admin", "/admin"),
        ("/static/%2e%2e%2fadmin", "/admin"),
        ("/static;/../admin", "/admin"),
        ("/static/..;/admin", "/admin"),
        ("/static%5C..%5Cadmin", "/admin"),
        ("/static/%C0%AE%C0%AE/admin", "/admin"),
        ("http://evil.example/public/%2e%2e/admin?x", "/admin"),
        ("//admin//x/", "/admin/x"),
        ("http://evil.example?/admin", "/"),
        ("/static/%E2%9C%93.svg", "/static/\u{2713}.svg"),
    ] {
        assert_eq!(lenient_path(target), path, "{target}");
    }
}

fn setups() -> Vec<Setup> {
    vec![
        Setup {
            name: "include /admin",
            auth: |users| {
                Authentication::builder()
                    .authenticator(ApiKeyAuthenticator::new(users).without_query_param())
                    .include("/admin")
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid")
            },
            protected: |route| route == "admin" || route.starts_with("admin/"),
            space: |path| under(path, "/admin"),
        },
        Setup {
            name: "include regex /admin(/.*)?",
            auth: |users| {
                Authentication::builder()
                    .authenticator(ApiKeyAuthenticator::new(users).without_query_param())
                    .include(PathPattern::regex("/admin(/.*)?").expect("valid"))
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid")
            },
            protected: |route| route == "admin" || route.starts_with("admin/"),
            space: |path| under(path, "/admin"),
        },
        Setup {
            name: "exclude /static and /public",
            auth: |users| {
                Authentication::builder()
                    .authenticator(ApiKeyAuthenticator::new(users).without_query_param())
                    .exclude("/static")
                    .exclude("/public")
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid")
            },
            protected: |route| route != "static" && route != "public" && route != "default",
            space: |path| !under(path, "/static") && !under(path, "/public"),
        },
    ]
}

fn start(setup: &Setup, users: &CountingProvider) -> LiveServer {
    let auth = (setup.auth)(users.clone());
    LiveServer::start(move || {
        let mut app = App::new()
            .wrap(auth.clone())
            .default_service(web::to(served("default")));
        for (path, name) in ROUTES {
            app = app.route(path, web::get().to(served(name)));
        }
        app.route("/healthz", web::get().to(HttpResponse::Ok))
    })
    .expect("the app starts")
}

/// The hostile request targets, sent as they are.
const TARGETS: &[&str] = &[
    // Plain forms.
    "/admin",
    "/admin/",
    "/admin/x",
    "/admin/x/",
    "/admin/y/z",
    "/administrator",
    "/static-admin",
    // Percent-encoded letters: the router decodes them.
    "/%61dmin",
    "/%41DMIN",
    "/%61%64%6D%69%6E",
    "/%61%64%6d%69%6e/x",
    "/adm%69n/x",
    "/%61dmin/y/z",
    "/static/%61pp.css",
    "/%73tatic/../admin",
    "/%70ublic/../admin/x",
    "/%2561dmin",
    // Dot segments, plain and encoded.
    "/static/../admin",
    "/static/../admin/x",
    "/static/%2e%2e/admin",
    "/static/%2E%2E/admin",
    "/static/.%2e/admin",
    "/static/%2e./admin",
    "/static/%2E%2E%2Fadmin",
    "/static/..%2Fadmin",
    "/static/..%2fadmin/x",
    "/static/%252e%252e/admin",
    "/public/../admin",
    "/public/./../admin/x",
    "/public/%2e%2e/%61dmin",
    "/public/x/../../admin",
    "/./admin",
    "/%2e/admin",
    "/admin/./x",
    "/admin/../admin/x",
    "/admin/%2e%2e/public",
    "/admin/x/%2e%2e/%2e%2e/public",
    "/..",
    "/../admin",
    "/%2e%2e/admin",
    // Repeated slashes.
    "//admin",
    "///admin/x",
    "/admin//x",
    "//static/../admin",
    "/static//../admin",
    "/public//admin",
    "/static//admin",
    // `;` parameters.
    "/admin;x",
    "/admin;/x",
    "/admin;jsessionid=1/x",
    "/static;/../admin",
    "/static/;/../admin",
    "/static/..;/admin",
    "/public;x/../admin/x",
    "/static;.css",
    // Encoded slashes and backslashes.
    "/admin%2Fx",
    "/admin%2fx",
    "/%2Fadmin",
    "/%2fadmin/x",
    "/static%2F..%2Fadmin",
    "/public%2F..%2Fadmin%2Fx",
    "/admin%5Cx",
    "/static%5C..%5Cadmin",
    "/static/..%5Cadmin",
    "/static/..%5cadmin/x",
    // Case variants.
    "/ADMIN",
    "/Admin/x",
    "/aDmIn",
    "/STATIC/../admin",
    "/Static/app.css",
    // Trailing characters.
    "/admin.",
    "/admin%20",
    "/admin%09",
    "/admin/%20",
    "/admin~",
    "/admin%23/x",
    "/admin%3F/x",
    // NUL and control characters.
    "/admin%00",
    "/admin%00/x",
    "/static/app.css%00/../../admin",
    "/static%00/../admin",
    "/public/%0a/../../admin",
    "/admin%0d%0aX-Injected:%201",
    // Overlong and lookalike UTF-8.
    "/%C0%AFadmin",
    "/static/%C0%AE%C0%AE/admin",
    "/static%C0%AF..%C0%AFadmin",
    "/%E0%80%AFadmin",
    "/%EF%BD%81dmin",
    "/static/%E2%80%A5/admin",
    "/static/%EF%BC%8E%EF%BC%8E/admin",
    // The query and fragment never count.
    "/admin?x=/public",
    "/admin?/static/x",
    "/public?/admin",
    "/public/..?/admin",
    "/static/x?../../admin",
    "/admin#/public",
    // Absolute-form targets: only the path counts, never the authority.
    "http://evil.example/admin",
    "http://evil.example/admin/x",
    "http://evil.example/static/../admin",
    "http://evil.example//admin",
    "http://evil.example/public/%2e%2e/admin",
    "https://127.0.0.1/admin/x",
    "http://evil.example/static%2F..%2Fadmin",
    "http://admin@evil.example/public/../admin",
    "http://evil.example",
    "http://evil.example?/admin",
    // Other request-target forms.
    "*",
    "admin",
    "evil.example:80",
    "",
];

/// Requests whose trick is in the headers or method rather than the target.
fn header_tricks() -> Vec<(&'static str, Request)> {
    vec![
        (
            "no Host",
            Request::get("/admin")
                .without_default_headers()
                .header("Connection", "close"),
        ),
        ("empty Host", Request::get("/admin").header("Host", "")),
        (
            "two Host headers",
            Request::get("/admin")
                .header("Host", "public.example")
                .header("Host", "evil.example"),
        ),
        (
            "Host with a path",
            Request::get("/admin").header("Host", "evil.example/public"),
        ),
        (
            "Host with dot segments",
            Request::get("/admin/x").header("Host", "evil.example/static/.."),
        ),
        (
            "Host that is a URL",
            Request::get("/admin").header("Host", "http://evil.example/public"),
        ),
        (
            "X-Original-URL",
            Request::get("/admin").header("X-Original-URL", "/public"),
        ),
        (
            "X-Rewrite-URL",
            Request::get("/admin").header("X-Rewrite-URL", "/static/x"),
        ),
        (
            "X-Forwarded-Prefix",
            Request::get("/admin").header("X-Forwarded-Prefix", "/public"),
        ),
        (
            "X-Forwarded-Host",
            Request::get("/admin").header("X-Forwarded-Host", "public"),
        ),
        (
            "absolute-form with another Host",
            Request::get("http://evil.example/admin").header("Host", "other.example"),
        ),
        ("POST", Request::post("/admin/x")),
        ("lower-case method", Request::new("get", "/admin")),
        ("unknown method", Request::new("PROPFIND", "/admin")),
        (
            "OPTIONS",
            Request::new("OPTIONS", "/admin/x").header("Access-Control-Request-Method", "GET"),
        ),
        (
            "HTTP/1.0",
            Request::new("GET", "/admin HTTP/1.0\r\nX-Junk: 1").header("X-Other", "1"),
        ),
    ]
}

fn attempts() -> Vec<(String, Request)> {
    let mut all: Vec<(String, Request)> = TARGETS.iter().map(|t| ((*t).to_owned(), Request::get(*t))).collect();
    all.extend(header_tricks().into_iter().map(|(n, r)| (n.to_owned(), r)));
    all
}

/// What one attempt got, anonymous and with the key.
struct Outcome {
    label: String,
    target: String,
    anonymous: Response,
    keyed: Response,
}

fn send(server: &LiveServer, label: &str, req: &Request) -> Response {
    server
        .send(req)
        .unwrap_or_else(|e| panic!("{label}: no answer (a hang or a dropped connection): {e}"))
}

fn attack(setup: &Setup) -> Vec<Outcome> {
    let users = CountingProvider::new([Victim::new("root", "").token(KEY)]);
    let server = start(setup, &users);
    attempts()
        .into_iter()
        .map(|(label, req)| {
            let anonymous = send(&server, &label, &req);
            let keyed = send(&server, &label, &req.clone().header("X-Api-Key", KEY));
            Outcome {
                label,
                target: req.target().to_owned(),
                anonymous,
                keyed,
            }
        })
        .collect()
}

#[test]
fn no_protected_handler_is_ever_served_anonymously() {
    let mut table = String::new();
    for setup in setups() {
        let outcomes = attack(&setup);
        let mut reached_protected = 0;
        for o in &outcomes {
            let ctx = format!("[{}] {:?}", setup.name, o.label);
            assert!(o.anonymous.status < 500, "{ctx}: a server error: {:?}", o.anonymous);
            assert!(
                o.keyed.status < 500,
                "{ctx}: a server error with the key: {:?}",
                o.keyed
            );
            if let Some((route, who)) = served_by(&o.anonymous) {
                assert_eq!(who, "anonymous", "{ctx}: an identity without credentials");
                assert!(
                    !(setup.protected)(&route),
                    "{ctx}: BYPASS: the protected handler {route:?} served an anonymous request"
                );
                // The catch-all handler serves whatever path it is given: it must not serve
                // one that a lenient reader would place in the protected space.
                if route == "default" {
                    let lenient = lenient_path(&o.target);
                    assert!(
                        !(setup.space)(&lenient),
                        "{ctx}: BYPASS: the catch-all served {lenient:?} anonymously"
                    );
                }
            }
            if let Some((route, who)) = served_by(&o.keyed)
                && (setup.protected)(&route)
            {
                assert_eq!(who, "root", "{ctx}: {route} served with the key but not as its user");
                reached_protected += 1;
                // Reached with the key, so the same target without it must be refused by the
                // middleware, with its challenge status.
                assert_eq!(o.anonymous.status, 401, "{ctx}: {:?}", o.anonymous);
            }
            table.push_str(&format!(
                "[{}] {:<45} anonymous {} {:?} | keyed {} {:?}\n",
                setup.name,
                o.label,
                o.anonymous.status,
                served_by(&o.anonymous).map(|s| s.0),
                o.keyed.status,
                served_by(&o.keyed).map(|s| s.0),
            ));
        }
        // The table holds real attacks: many hostile targets do reach protected handlers.
        assert!(
            reached_protected >= 25,
            "[{}] only {reached_protected} attempts reached a protected handler",
            setup.name
        );
    }
    println!("{table}");
    println!("{} attempts per configuration", attempts().len());
}

/// Where actix dispatches some of the hostile targets: the reason the middleware must judge
/// the decoded path, not the raw one.
#[test]
fn the_router_decodes_what_the_middleware_must_see() {
    let setup = &setups()[0];
    let users = CountingProvider::new([Victim::new("root", "").token(KEY)]);
    let server = start(setup, &users);
    for (target, route) in [
        ("/%61dmin", "admin"),
        ("/%41DMIN", "default"),
        ("/%61%64%6D%69%6E", "admin"),
        ("/adm%69n/x", "admin/x"),
        ("/static/../admin", "default"),
        ("/static/..%2Fadmin", "static"),
        ("/public/../admin", "public"),
        ("/static/%2e%2e/admin", "default"),
        ("/admin/%2e%2e/public", "admin/*"),
        ("http://evil.example/admin", "admin"),
        ("/admin;x", "default"),
        ("/admin%2Fx", "default"),
    ] {
        let keyed = send(&server, target, &Request::get(target).header("X-Api-Key", KEY));
        assert_eq!(
            served_by(&keyed).map(|s| s.0).as_deref(),
            Some(route),
            "{target}: {keyed:?}"
        );
    }
}

#[test]
fn excluded_paths_still_work_in_their_legitimate_forms() {
    let setup = &setups()[2];
    let users = CountingProvider::new([Victim::new("root", "").token(KEY)]);
    let server = start(setup, &users);
    for (target, route) in [
        ("/static/app.css", "static"),
        ("/static/app.css?v=3", "static"),
        ("/static/a%20b.css", "static"),
        ("/static/%E2%9C%93.svg", "static"),
        ("/static/app.min.js", "static"),
        ("/static/.well-known", "static"),
        ("/public", "public"),
        ("/public/", "public"),
        ("/public/docs/index.html", "public"),
        ("/public/a-b_c~d", "public"),
        ("http://evil.example/public/docs", "public"),
    ] {
        let resp = send(&server, target, &Request::get(target));
        assert_eq!(
            served_by(&resp),
            Some((route.to_owned(), "anonymous".to_owned())),
            "{target}: {resp:?}"
        );
    }
    // Excluded paths are not authenticated at all: the key is not even looked up there.
    let before = users.calls();
    let resp = send(
        &server,
        "keyed static",
        &Request::get("/static/app.css").header("X-Api-Key", KEY),
    );
    assert_eq!(served_by(&resp), Some(("static".to_owned(), "anonymous".to_owned())));
    assert_eq!(users.calls(), before);
    // And what is not excluded is protected, down to the unknown paths.
    for target in ["/", "/static-admin", "/administrator", "/staticx", "/nope", "/healthz"] {
        assert_eq!(send(&server, target, &Request::get(target)).status, 401, "{target}");
    }
    // HEAD has no body to say who served it: the status must.
    assert_eq!(send(&server, "HEAD", &Request::head("/admin")).status, 401);
    assert_eq!(send(&server, "HEAD", &Request::head("/static/../admin")).status, 401);
}

/// `allow_preflight(true)` lets CORS preflights (`OPTIONS` with `Access-Control-Request-Method`,
/// which anyone can send) through the fallback. A handler that answers every method must not
/// serve one anonymously: only a CORS answer may stand.
#[test]
fn preflights_let_through_the_fallback_never_get_a_handler_answer() {
    use actix_web::http::header;
    let users = CountingProvider::new([Victim::new("root", "").token(KEY)]);
    let u = users.clone();
    let server = LiveServer::start(move || {
        let auth = Authentication::builder()
            .authenticator(ApiKeyAuthenticator::new(u.clone()).without_query_param())
            .fallback(Fallback::Error)
            .allow_preflight(true)
            .build()
            .expect("valid");
        App::new()
            .wrap(auth)
            // Every method, as `web::to` and `default_service` answer.
            .route("/admin", web::to(served("admin")))
            .default_service(web::to(served("default")))
            // A route that answers its own preflight the CORS way.
            .route(
                "/cors",
                web::method(actix_web::http::Method::OPTIONS).to(|| async {
                    HttpResponse::NoContent()
                        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "https://client.example"))
                        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET"))
                        .finish()
                }),
            )
    })
    .expect("the app starts");
    let preflight = |target: &str| {
        Request::new("OPTIONS", target)
            .header("Origin", "https://client.example")
            .header("Access-Control-Request-Method", "GET")
    };
    for target in ["/admin", "/anything", "/%61dmin"] {
        let resp = server.send(&preflight(target)).expect("an answer");
        assert_eq!(
            served_by(&resp),
            None,
            "{target}: BYPASS: a handler answered a preflight: {resp:?}"
        );
        assert_eq!(resp.status, 401, "{target}: {resp:?}");
    }
    // A CORS answer to the preflight stands.
    let resp = server.send(&preflight("/cors")).expect("an answer");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://client.example")
    );
    // With the key the handler answers as usual, even to OPTIONS.
    let resp = server
        .send(&preflight("/admin").header("X-Api-Key", KEY))
        .expect("an answer");
    assert_eq!(served_by(&resp), Some(("admin".to_owned(), "root".to_owned())));
}
