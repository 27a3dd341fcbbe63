//! Adversarial login tests over real sockets: every failed login looks the same (status, body,
//! headers except `Date`) and costs exactly one password verification, whatever the reason;
//! state-changing endpoints refuse cross-site requests; login answers are never cached.

use std::time::Duration;

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{
    App, HttpRequest, HttpResponse,
    cookie::{Cookie, Key},
    http::header,
    web,
};
use imia::{
    Authentication, SecretKey,
    authenticator::SessionAuthenticator,
    csrf::SameOrigin,
    login::{InMemoryThrottle, LoginError, LoginManager},
    provider::InMemoryProvider,
};
use imia_tests::{
    attack::{CountingHasher, Victim},
    http::{Request, Response},
    live::LiveServer,
    session_attack::{
        PASSWORD, SESSION_COOKIE, client_with, login, post_form, sqlite_store, start_demo, try_login, try_start_demo,
        whoami,
    },
};
use serde::Deserialize;

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

type Logins = LoginManager<InMemoryProvider<Victim>, CountingHasher>;

async fn do_login(req: HttpRequest, logins: web::Data<Logins>, form: web::Form<LoginForm>) -> HttpResponse {
    let mut resp = match logins.login(&req, &form.username, &form.password).await {
        Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/")).finish(),
        Err(LoginError::InvalidCredentials) => HttpResponse::Unauthorized()
            .content_type("text/plain")
            .body("Invalid username or password."),
        Err(other) => HttpResponse::from_error(other),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    resp
}

/// An app with a counting argon2 hasher and the users of every failure kind; the throttle locks
/// `locked` after one failure.
fn serve(hasher: CountingHasher) -> LiveServer {
    serve_with(hasher, SameOrigin::new())
}

/// [`serve`] behind the cross-site check `csrf`.
fn serve_with(hasher: CountingHasher, csrf: SameOrigin) -> LiveServer {
    let hash = hasher.seed_hash(PASSWORD);
    let users = InMemoryProvider::new([
        Victim::new("ann", &hash),
        Victim::new("locked", &hash),
        Victim::new("bob", &hash),
        Victim::new("off", &hash).inactive(),
        Victim::new("nopass", ""),
    ]);
    let logins: Logins = LoginManager::builder(users.clone(), hasher, SecretKey::generate())
        .throttle(InMemoryThrottle::new().per_username(1, Duration::from_secs(600)))
        .build();
    let key = Key::generate();
    LiveServer::start(move || {
        App::new()
            .app_data(web::Data::new(logins.clone()))
            .route("/login", web::post().to(do_login))
            .wrap(Authentication::new(SessionAuthenticator::new(
                users.clone(),
                logins.secret().clone(),
            )))
            .wrap(csrf.clone())
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_name(SESSION_COOKIE.to_owned())
                    .cookie_secure(false)
                    .build(),
            )
    })
    .expect("the login app starts")
}

/// Status, body and headers without `Date` (and without cookie values), for comparison.
fn shape(resp: &Response) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let mut headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .map(|(n, v)| {
            let v = if n.eq_ignore_ascii_case("set-cookie") {
                Cookie::parse(v.as_str()).map_or(v.clone(), |c| format!("{}=…", c.name()))
            } else {
                v.clone()
            };
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    headers.sort();
    (resp.status, resp.body.clone(), headers)
}

#[test]
fn every_failed_login_is_identical_and_verifies_exactly_once() {
    let hasher = CountingHasher::new();
    let server = serve(hasher.clone());
    // Lock `locked` (one failure allowed per username).
    let resp = server
        .send(&post_form("/login", &[("username", "locked"), ("password", "wrong")]))
        .unwrap();
    assert_eq!(resp.status, 401);

    let cases = [
        ("wrong password", "ann", "wrong"),
        ("unknown user", "nobody", PASSWORD),
        ("inactive user", "off", PASSWORD),
        ("user without a password", "nopass", PASSWORD),
        ("user without a password, empty guess", "nopass", "x"),
        ("throttled user, right password", "locked", PASSWORD),
    ];
    let mut shapes = Vec::new();
    for (why, username, password) in cases {
        let before = hasher.verify_calls();
        let resp = server
            .send(&post_form("/login", &[("username", username), ("password", password)]))
            .unwrap();
        assert_eq!(resp.status, 401, "{why}: {}", resp.text());
        assert_eq!(
            hasher.verify_calls() - before,
            1,
            "{why}: the password hasher runs exactly once"
        );
        assert_eq!(resp.header("cache-control"), Some("no-store"), "{why}");
        assert!(resp.cookie(SESSION_COOKIE).is_none(), "{why}: no session is created");
        shapes.push((why, shape(&resp)));
    }
    for pair in shapes.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].1,
            "{} and {} answer differently",
            pair[0].0, pair[1].0
        );
    }
    assert_eq!(hasher.hash_calls(), 0, "failures never hash a new password");

    // The right password works for a user who has not failed: the failures were real checks.
    let before = hasher.verify_calls();
    let ok = server
        .send(&post_form("/login", &[("username", "bob"), ("password", PASSWORD)]))
        .unwrap();
    assert_eq!(ok.status, 303);
    assert_eq!(hasher.verify_calls() - before, 1);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
}

#[test]
fn cross_site_login_is_refused_before_any_password_check() {
    let hasher = CountingHasher::new();
    let server = serve(hasher.clone());
    let host = server.addr().to_string();
    for (why, req) in cross_site_variants("/login", &host) {
        let req = req.form(&[("username", "ann"), ("password", PASSWORD)]);
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 403, "{why}");
        assert!(resp.cookie(SESSION_COOKIE).is_none(), "{why}");
    }
    assert_eq!(hasher.verify_calls(), 0, "refused before the hasher");
    let same = server
        .send(
            &post_form("/login", &[("username", "ann"), ("password", PASSWORD)])
                .header("Origin", format!("http://{host}"))
                .header("Sec-Fetch-Site", "same-origin"),
        )
        .unwrap();
    assert_eq!(same.status, 303, "a same-origin login works");
}

/// A POST to `target` the way a hostile page would send it, in each disguise.
fn cross_site_variants(target: &str, host: &str) -> Vec<(&'static str, Request)> {
    vec![
        (
            "Sec-Fetch-Site: cross-site",
            Request::post(target).header("Sec-Fetch-Site", "cross-site"),
        ),
        (
            "Sec-Fetch-Site: CROSS-SITE",
            Request::post(target).header("Sec-Fetch-Site", "CROSS-SITE"),
        ),
        (
            "foreign Origin",
            Request::post(target).header("Origin", "http://evil.example"),
        ),
        (
            "foreign Origin with the same port",
            Request::post(target).header(
                "Origin",
                format!("http://evil.example:{}", host.rsplit(':').next().unwrap_or("80")),
            ),
        ),
        ("Origin: null", Request::post(target).header("Origin", "null")),
        (
            "same-origin claim, foreign Origin",
            Request::post(target)
                .header("Sec-Fetch-Site", "same-origin")
                .header("Origin", "https://evil.example"),
        ),
        (
            "Origin of the host on another scheme's default port",
            Request::post(target).header("Origin", format!("https://{}", host.split(':').next().unwrap_or(host))),
        ),
        (
            "Origin of the same host and port over https",
            Request::post(target).header("Origin", format!("https://{host}")),
        ),
        (
            "Origin of the same host and port over https, upper case",
            Request::post(target).header("Origin", format!("HTTPS://{host}")),
        ),
        (
            "same-origin claim, the same host and port over https",
            Request::post(target)
                .header("Sec-Fetch-Site", "same-origin")
                .header("Origin", format!("https://{host}")),
        ),
        (
            "same host and port over https, forwarded headers claiming https",
            Request::post(target)
                .header("X-Forwarded-Proto", "https")
                .header("Forwarded", "proto=https")
                .header("Origin", format!("https://{host}")),
        ),
        (
            "Origin with a path",
            Request::post(target).header("Origin", format!("http://{host}/")),
        ),
        (
            "two Origin headers",
            Request::post(target)
                .header("Origin", format!("http://{host}"))
                .header("Origin", "http://evil.example"),
        ),
    ]
}

/// With a public origin configured, only that origin (scheme, host and port) may post: its
/// plain-http twin is refused, and so is the address the server is reached by.
#[test]
fn a_configured_public_origin_is_compared_by_scheme() {
    let hasher = CountingHasher::new();
    let csrf = SameOrigin::new()
        .try_public_origin("https://app.example")
        .expect("an origin");
    let server = serve_with(hasher.clone(), csrf);
    let host = server.addr().to_string();
    let creds = [("username", "ann"), ("password", PASSWORD)];
    let from = |host: &str, origin: &str| {
        post_form("/login", &creds)
            .header("Host", host)
            .header("Origin", origin)
    };
    for (why, req) in [
        ("the public host over http", from("app.example", "http://app.example")),
        (
            "the public host over http, port 443",
            from("app.example", "http://app.example:443"),
        ),
        (
            "the public host on another port",
            from("app.example", "https://app.example:8443"),
        ),
        ("another host", from("app.example", "https://evil.example")),
        ("the server's own address", from(&host, &format!("http://{host}"))),
        (
            "the server's own address over https",
            from(&host, &format!("https://{host}")),
        ),
    ] {
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 403, "{why}");
        assert!(resp.cookie(SESSION_COOKIE).is_none(), "{why}");
    }
    assert_eq!(hasher.verify_calls(), 0, "refused before the hasher");
    let resp = server.send(&from("app.example", "https://app.example")).unwrap();
    assert_eq!(resp.status, 303, "the public origin logs in: {}", resp.text());
    let resp = server.send(&from("app.example", "HTTPS://APP.EXAMPLE:443")).unwrap();
    assert_eq!(resp.status, 303, "spelled differently: {}", resp.text());
}

/// The demo reads `PUBLIC_ORIGIN`: its http twin may not log in, and a value that is not an
/// origin stops it at start-up.
#[test]
fn the_demo_compares_origins_with_its_public_origin() {
    let Some(store) = sqlite_store("adv_public_origin") else {
        return;
    };
    let err = try_start_demo(&store, &[("PUBLIC_ORIGIN", "app.example")])
        .expect_err("the demo refuses a PUBLIC_ORIGIN without a scheme");
    assert!(err.to_string().contains("app.example"), "{err}");

    let demo = try_start_demo(&store, &[("PUBLIC_ORIGIN", "https://app.example")]).expect("the demo starts");
    let host = demo.addr().to_string();
    let creds = [("username", "user@example.com"), ("password", PASSWORD)];
    let from = |host: &str, origin: &str| {
        post_form("/login", &creds)
            .header("Host", host)
            .header("Origin", origin)
    };
    for (why, req) in [
        ("the public host over http", from("app.example", "http://app.example")),
        ("the demo's own address", from(&host, &format!("http://{host}"))),
    ] {
        let resp = demo.send(&req).unwrap();
        assert_eq!(resp.status, 403, "{why}");
    }
    let resp = demo.send(&from("app.example", "https://app.example")).unwrap();
    assert_eq!(resp.status, 303, "the public origin logs in: {}", resp.text());
}

#[test]
fn the_demo_refuses_cross_site_logout_and_impersonation() {
    let Some(store) = sqlite_store("adv_csrf") else { return };
    let demo = start_demo(&store);
    let host = demo.addr().to_string();
    let user_id = store
        .sql("SELECT id FROM users WHERE email = 'user@example.com'")
        .unwrap();

    let mut root = demo.client();
    login(&mut root, "root@example.com");
    let cookie = root.jar().get(SESSION_COOKIE).unwrap().to_owned();
    for (why, req) in cross_site_variants("/logout", &host) {
        let mut attacker_page = client_with(demo.addr(), &[(SESSION_COOKIE, &cookie)]);
        assert_eq!(
            attacker_page.send(&req.form::<&str, &str>(&[])).unwrap().status,
            403,
            "logout, {why}"
        );
    }
    assert_eq!(whoami(&mut root).0, "authenticated", "no cross-site logout happened");
    for (why, req) in cross_site_variants("/impersonate", &host) {
        let mut attacker_page = client_with(demo.addr(), &[(SESSION_COOKIE, &cookie)]);
        let resp = attacker_page.send(&req.form(&[("user_id", user_id.as_str())])).unwrap();
        assert_eq!(resp.status, 403, "impersonate, {why}");
    }
    assert_eq!(
        whoami(&mut root).1.as_deref(),
        Some("root@example.com"),
        "no cross-site impersonation"
    );

    let resp = root.send(&post_form("/impersonate", &[("user_id", &user_id)])).unwrap();
    assert_eq!(resp.status, 303);
    let cookie = root.jar().get(SESSION_COOKIE).unwrap().to_owned();
    for (why, req) in cross_site_variants("/impersonate/exit", &host) {
        let mut attacker_page = client_with(demo.addr(), &[(SESSION_COOKIE, &cookie)]);
        assert_eq!(
            attacker_page.send(&req.form::<&str, &str>(&[])).unwrap().status,
            403,
            "impersonate/exit, {why}"
        );
    }
    assert_eq!(
        whoami(&mut root).1.as_deref(),
        Some("user@example.com"),
        "still impersonating"
    );
    // A cross-site login cannot swap the victim's session for the attacker's account either.
    for (why, req) in cross_site_variants("/login", &host) {
        let mut attacker_page = client_with(demo.addr(), &[(SESSION_COOKIE, &cookie)]);
        let resp = attacker_page
            .send(&req.form(&[("username", "user@example.com"), ("password", PASSWORD)]))
            .unwrap();
        assert_eq!(resp.status, 403, "login, {why}");
    }
}

/// The demo binary (OWASP argon2, its own throttle of 10 failures per username): wrong
/// password, unknown user, disabled user, missing fields and a throttled user with the right
/// password all get the same status, body and headers (but `Date`).
#[test]
fn the_demo_answers_every_failed_login_alike_throttled_included() {
    let Some(store) = sqlite_store("adv_demo_uniform") else {
        return;
    };
    let demo = start_demo(&store);
    let mut client = demo.client();
    let fail = |client: &mut imia_tests::http::Client, fields: &[(&str, &str)]| {
        let resp = client.send(&post_form("/login", fields)).unwrap();
        assert!(resp.cookie(SESSION_COOKIE).is_none(), "{fields:?}: no session");
        shape(&resp)
    };
    let reference = fail(&mut client, &[("username", "root@example.com"), ("password", "wrong")]);
    assert_eq!(reference.0, 200, "the demo re-renders the form");
    let mut answers = vec![
        fail(
            &mut client,
            &[("username", "nobody@example.com"), ("password", PASSWORD)],
        ),
        fail(
            &mut client,
            &[("username", "disabled@example.com"), ("password", PASSWORD)],
        ),
        fail(&mut client, &[("username", "root@example.com")]),
        fail(&mut client, &[("password", PASSWORD)]),
        fail(
            &mut client,
            &[("username", "ROOT@example.com"), ("password", "Password")],
        ),
    ];
    // Lock user@example.com (10 failures), then the right password fails the same way.
    for _ in 0..10 {
        answers.push(fail(
            &mut client,
            &[("username", "user@example.com"), ("password", "wrong")],
        ));
    }
    answers.push(fail(
        &mut client,
        &[("username", "user@example.com"), ("password", PASSWORD)],
    ));
    answers.push(fail(
        &mut client,
        &[("username", "USER@example.com"), ("password", PASSWORD)],
    ));
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer, &reference, "answer {n} differs");
    }
    // Other users are not locked by it.
    login(&mut client, "root@example.com");
}

#[test]
fn the_demo_never_lets_login_answers_be_cached() {
    let Some(store) = sqlite_store("adv_no_store") else {
        return;
    };
    let demo = start_demo(&store);
    let mut client = demo.client();
    let page = client.send(&Request::get("/login")).unwrap();
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for (user, password) in [
        ("root@example.com", "wrong"),
        ("nobody@example.com", PASSWORD),
        ("disabled@example.com", PASSWORD),
        ("root@example.com", PASSWORD),
    ] {
        let resp = client
            .send(&post_form("/login", &[("username", user), ("password", password)]))
            .unwrap();
        assert_eq!(
            resp.header("cache-control"),
            Some("no-store"),
            "{user}/{password}: {}",
            resp.status
        );
    }
    let resp = client.send(&post_form("/logout", &[])).unwrap();
    assert_eq!(resp.header("cache-control"), Some("no-store"), "logout");
}

/// `Authorization: Basic` for `user:password`.
fn basic(target: &str, user: &str, password: &str) -> Request {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    Request::get(target).header(
        "Authorization",
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
    )
}

/// An app with one throttle (two failures per username) shared by the login form and HTTP
/// Basic, and a counting argon2 hasher.
fn serve_shared_throttle(hasher: CountingHasher) -> LiveServer {
    use imia::{Fallback, authenticator::BasicAuthenticator};
    use std::sync::Arc;
    let hash = hasher.seed_hash(PASSWORD);
    let users = InMemoryProvider::new([Victim::new("ann", &hash), Victim::new("bob", &hash)]);
    let throttle = Arc::new(InMemoryThrottle::new().per_username(2, Duration::from_secs(600)));
    let logins: Logins = LoginManager::builder(users.clone(), hasher.clone(), SecretKey::generate())
        .throttle(Arc::clone(&throttle))
        .build();
    let key = Key::generate();
    LiveServer::start(move || {
        let basic = BasicAuthenticator::new(users.clone(), hasher.clone()).throttle(Arc::clone(&throttle));
        App::new()
            .app_data(web::Data::new(logins.clone()))
            .route("/login", web::post().to(do_login))
            .service(
                web::scope("/api")
                    .wrap(
                        Authentication::builder()
                            .authenticator(basic)
                            .fallback(Fallback::Error)
                            .build()
                            .unwrap(),
                    )
                    .route("/me", web::get().to(|| async { HttpResponse::Ok().body("me") })),
            )
            .wrap(SameOrigin::new())
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_name(SESSION_COOKIE.to_owned())
                    .cookie_secure(false)
                    .build(),
            )
    })
    .expect("the app starts")
}

/// Finding: after a username was locked by failed form logins, `curl -u user:password` still
/// answered 200, and wrong Basic passwords were never counted. One throttle now guards both: a
/// locked username fails by Basic exactly like a wrong password (the hasher still runs once), and
/// Basic failures lock the form.
#[test]
fn one_throttle_guards_the_login_form_and_basic() {
    let hasher = CountingHasher::new();
    let server = serve_shared_throttle(hasher.clone());
    assert_eq!(server.send(&basic("/api/me", "ann", PASSWORD)).unwrap().status, 200);
    let wrong = server.send(&basic("/api/me", "bob", "wrong")).unwrap();
    assert_eq!(wrong.status, 401);
    let wrong = shape(&wrong);

    // Two failed form logins lock ann...
    for _ in 0..2 {
        let resp = server
            .send(&post_form("/login", &[("username", "ann"), ("password", "wrong")]))
            .unwrap();
        assert_eq!(resp.status, 401);
    }
    // ...for Basic too, with the right password: the answer of a wrong one, one hash spent.
    let before = hasher.verify_calls();
    let locked = server.send(&basic("/api/me", "ann", PASSWORD)).unwrap();
    assert_eq!(
        hasher.verify_calls() - before,
        1,
        "a locked attempt costs one verification"
    );
    assert_eq!(shape(&locked), wrong, "a locked username answers like a wrong password");
    assert_eq!(
        server.send(&basic("/api/me", "ANN", PASSWORD)).unwrap().status,
        401,
        "usernames are locked whatever their case"
    );

    // Basic failures count towards the form's lockout: bob failed once above, once more here.
    assert_eq!(server.send(&basic("/api/me", "bob", "wrong")).unwrap().status, 401);
    let resp = server
        .send(&post_form("/login", &[("username", "bob"), ("password", PASSWORD)]))
        .unwrap();
    assert_eq!(resp.status, 401, "bob is locked for the form by Basic failures");
    assert_eq!(server.send(&basic("/api/me", "bob", PASSWORD)).unwrap().status, 401);
}

/// The demo shares one throttle between its login form and HTTP Basic: 10 failures for a
/// username, by form or Basic in any mix, lock that username for both.
#[test]
fn the_demo_locks_a_username_for_the_form_and_basic_alike() {
    let Some(store) = sqlite_store("adv_demo_basic_throttle") else {
        return;
    };
    let demo = start_demo(&store);
    let mut client = demo.client();
    assert_eq!(
        client
            .send(&basic("/api/me", "user@example.com", PASSWORD))
            .unwrap()
            .status,
        200
    );
    let reference = shape(&client.send(&basic("/api/me", "root@example.com", "wrong")).unwrap());
    assert_eq!(reference.0, 401);
    for n in 0..10 {
        if n % 2 == 0 {
            let resp = client.send(&basic("/api/me", "user@example.com", "wrong")).unwrap();
            assert_eq!(shape(&resp), reference, "failure {n}");
        } else {
            let resp = try_login(&mut client, "user@example.com", "wrong", false);
            assert_eq!(resp.status, 200, "failure {n}: the form re-renders");
        }
    }
    let locked = client.send(&basic("/api/me", "user@example.com", PASSWORD)).unwrap();
    assert_eq!(
        shape(&locked),
        reference,
        "locked for Basic, answered like a wrong password"
    );
    assert_eq!(
        try_login(&mut client, "user@example.com", PASSWORD, false).status,
        200,
        "locked for the form"
    );
    // Other users are untouched, by either way.
    assert_eq!(
        client
            .send(&basic("/api/me", "root@example.com", PASSWORD))
            .unwrap()
            .status,
        200
    );
    login(&mut client, "root@example.com");
}

/// Failed logins are logged without the username as typed (people type passwords there): the
/// log carries a keyed tag instead.
#[test]
fn the_demo_never_logs_a_typed_username() {
    let Some(store) = sqlite_store("adv_log_username") else {
        return;
    };
    let demo = start_demo(&store);
    let mut client = demo.client();
    let typed = "correct-horse-battery-staple-typed-as-username";
    for _ in 0..11 {
        let resp = try_login(&mut client, typed, "wrong", false);
        assert_eq!(resp.status, 200);
    }
    assert_eq!(try_login(&mut client, "user@example.com", "wrong", false).status, 200);
    let output = demo.output();
    assert!(output.contains("login failed"), "the failures are logged: {output}");
    assert!(output.contains("login throttled"), "the lock is logged: {output}");
    assert!(!output.contains(typed), "a typed username reached the log: {output}");
}
