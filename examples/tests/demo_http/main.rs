//! The demo's contract and security rules, over `actix_web::test` (no sockets): every test
//! runs its own demo on a fresh SQLite file, with a fast password hasher.

use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test as atest,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::password::Argon2Hasher;
use imia_examples::demo::{Demo, DemoConfig, SESSION_COOKIE, SessionBackend, pages::LOGIN_FAILED};
use serde_json::{Value, json};

mod account;
mod two_factor;

fn temp_db() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "imia_demo_test_{}_{}.sqlite3",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

fn test_config(sessions: SessionBackend) -> DemoConfig {
    DemoConfig {
        database_url: temp_db(),
        sessions,
        secret: Some(imia::SecretKey::from_bytes(&[9; 64]).unwrap()),
        cookie_secure: false,
        // Cheap parameters keep the tests fast; the demo itself uses OWASP's.
        hasher: Argon2Hasher::builder().params(64, 1, 1).build().unwrap(),
        redis_url: None,
        public_origin: None,
    }
}

async fn demo_with(sessions: SessionBackend) -> Demo {
    Demo::new(test_config(sessions)).await.unwrap()
}

async fn demo() -> Demo {
    demo_with(SessionBackend::Database).await
}

struct Reply {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    body: actix_web::web::Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).filter_map(|v| v.to_str().ok()).collect()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    /// The session cookie this response sets, as `name=value`, if it sets a live one.
    fn session(&self) -> Option<String> {
        self.all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")) && !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

async fn send<S, B>(app: &S, req: atest::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = atest::call_service(app, req.to_request()).await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    Reply {
        status,
        headers,
        body: atest::read_body(resp).await,
    }
}

fn get(uri: &str) -> atest::TestRequest {
    atest::TestRequest::get().uri(uri)
}

fn post_form(uri: &str, fields: &[(&str, &str)]) -> atest::TestRequest {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    atest::TestRequest::post()
        .uri(uri)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body)
}

fn with_cookie(req: atest::TestRequest, cookie: &str) -> atest::TestRequest {
    req.insert_header(("Cookie", cookie.to_owned()))
}

async fn login<S, B>(app: &S, user: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post_form("/login", &[("username", user), ("password", "password")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{user} logs in: {}", r.text());
    r.session().expect("a session cookie after login")
}

#[actix_web::test]
async fn anonymous_identity_json() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(&app, get("/whoami")).await;
    assert_eq!(
        r.json(),
        json!({"id": null, "name": "Anonymous", "username": null, "scopes": [], "state": "anonymous", "original_id": null, "mfa": false})
    );
    assert!(send(&app, get("/")).await.text().contains("not logged in"));
}

#[actix_web::test]
async fn login_lands_on_app_and_the_session_identifies_the_user() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(
        &app,
        post_form("/login", &[("username", "root@example.com"), ("password", "password")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let set_cookie = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    let cookie = r.session().unwrap();
    let me = send(&app, with_cookie(get("/whoami"), &cookie)).await.json();
    assert_eq!(me["name"], "Root");
    assert_eq!(me["username"], "root@example.com");
    assert_eq!(me["state"], "authenticated");
    assert_eq!(me["scopes"], json!(["admin", "auth:impersonate_others"]));
    assert!(me["id"].is_string());
    assert!(
        send(&app, with_cookie(get("/app"), &cookie))
            .await
            .text()
            .contains("Root")
    );
    assert!(send(&app, with_cookie(get("/"), &cookie)).await.text().contains("Root"));
    // Usernames are case-insensitive in the demo.
    login(&app, "USER@example.com").await;
}

#[actix_web::test]
async fn login_page_and_failures_are_uniform_and_not_cached() {
    let app = atest::init_service(demo().await.app()).await;
    let page = send(&app, get("/login?next=%2Fadmin")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for field in [
        "name=\"username\"",
        "name=\"password\"",
        "name=\"remember_me\"",
        "name=\"next\" value=\"/admin\"",
    ] {
        assert!(page.text().contains(field), "{field}");
    }
    let mut answers = Vec::new();
    for fields in [
        vec![("username", "root@example.com"), ("password", "wrong")],
        vec![("username", "nobody@example.com"), ("password", "password")],
        vec![("username", "disabled@example.com"), ("password", "password")],
        vec![("username", "root@example.com")],
        vec![("password", "password")],
        vec![],
    ] {
        let r = send(&app, post_form("/login", &fields)).await;
        assert!(r.session().is_none(), "{fields:?}: no session");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.text().contains(LOGIN_FAILED));
        answers.push((r.status, r.text()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
}

#[actix_web::test]
async fn next_is_followed_only_to_local_paths() {
    let app = atest::init_service(demo().await.app()).await;
    let cases = [
        ("/admin", "/admin"),
        ("/app?tab=2", "/app?tab=2"),
        ("//evil.example", "/app"),
        ("/\\evil.example", "/app"),
        ("https://evil.example/", "/app"),
        ("http:/evil.example", "/app"),
        ("javascript:alert(1)", "/app"),
        ("/\t/evil.example", "/app"),
        ("/%2F%2Fevil.example", "/app"),
        ("\\\\evil.example", "/app"),
        ("", "/app"),
        (" //evil.example", "/app"),
        ("/caf\u{e9}", "/app"),
        ("evil.example", "/app"),
    ];
    for (next, expected) in cases {
        let r = send(
            &app,
            post_form(
                "/login",
                &[
                    ("username", "user@example.com"),
                    ("password", "password"),
                    ("next", next),
                ],
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.header("location"), Some(expected), "{next:?}");
    }
}

#[actix_web::test]
async fn app_redirects_browsers_and_refuses_api_clients() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(&app, get("/app").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?next=%2Fapp"));
    let r = send(&app, get("/app?x=1")).await;
    assert_eq!(r.header("location"), Some("/login?next=%2Fapp%3Fx%3D1"));
    assert_eq!(
        send(&app, get("/app").insert_header(("Accept", "application/json")))
            .await
            .status,
        401
    );
    assert_eq!(
        send(&app, get("/app").insert_header(("Authorization", "Bearer nope")))
            .await
            .status,
        401
    );
}

#[actix_web::test]
async fn admin_needs_the_admin_scope() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(&app, get("/admin")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?next=%2Fadmin"));
    let user = login(&app, "user@example.com").await;
    assert_eq!(send(&app, with_cookie(get("/admin"), &user)).await.status, 403);
    let root = login(&app, "root@example.com").await;
    assert!(
        send(&app, with_cookie(get("/admin"), &root))
            .await
            .text()
            .contains("admin area")
    );
}

#[actix_web::test]
async fn logout_is_post_only_and_ends_the_session_server_side() {
    let app = atest::init_service(demo().await.app()).await;
    assert_eq!(send(&app, get("/logout")).await.status, 405);
    let cookie = login(&app, "user@example.com").await;
    let r = send(&app, with_cookie(atest::TestRequest::post().uri("/logout"), &cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Replaying the copied cookie: the server forgot the session.
    let r = send(&app, with_cookie(get("/whoami"), &cookie)).await;
    assert_eq!(r.json()["state"], "anonymous");
}

#[actix_web::test]
async fn cookie_sessions_are_an_option_and_cannot_revoke_a_copy() {
    let app = atest::init_service(demo_with(SessionBackend::Cookie).await.app()).await;
    let cookie = login(&app, "user@example.com").await;
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &cookie)).await.json()["state"],
        "authenticated"
    );
    send(&app, with_cookie(atest::TestRequest::post().uri("/logout"), &cookie)).await;
    // The documented limit of cookie-only sessions: a copy made before logout still works.
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &cookie)).await.json()["state"],
        "authenticated"
    );
}

#[actix_web::test]
async fn a_pre_login_session_is_dead_after_login() {
    let app = atest::init_service(demo().await.app()).await;
    // An anonymous visit that creates a session (a failed login does not; a planted cookie
    // value is ignored by the server-side store).
    let planted = format!("{SESSION_COOKIE}=attacker-chosen-value");
    let r = send(
        &app,
        with_cookie(
            post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
            &planted,
        ),
    )
    .await;
    let fresh = r.session().unwrap();
    assert_ne!(fresh, planted);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &planted)).await.json()["state"],
        "anonymous"
    );
    // Logging in again from a logged-in session renews the id; the old one is dead.
    let again = send(
        &app,
        with_cookie(
            post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
            &fresh,
        ),
    )
    .await
    .session()
    .unwrap();
    assert_ne!(again, fresh);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &fresh)).await.json()["state"],
        "anonymous"
    );
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &again)).await.json()["state"],
        "authenticated"
    );
}

#[actix_web::test]
async fn password_change_ends_other_sessions() {
    let app = atest::init_service(demo().await.app()).await;
    let a = login(&app, "user@example.com").await;
    let b = login(&app, "user@example.com").await;
    let wrong = send(
        &app,
        with_cookie(
            post_form(
                "/account/password",
                &[("current_password", "nope"), ("new_password", "n3w")],
            ),
            &a,
        ),
    )
    .await;
    assert_eq!(wrong.status, 400);
    let r = send(
        &app,
        with_cookie(
            post_form(
                "/account/password",
                &[("current_password", "password"), ("new_password", "n3w-pass")],
            ),
            &a,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    let a2 = r.session().expect("this session is renewed");
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &a2)).await.json()["state"],
        "authenticated"
    );
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &b)).await.json()["state"],
        "anonymous"
    );
    let r = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "n3w-pass")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
    )
    .await;
    assert!(r.text().contains(LOGIN_FAILED));
}

#[actix_web::test]
async fn throttling_locks_one_username_after_ten_failures() {
    let app = atest::init_service(demo().await.app()).await;
    for _ in 0..10 {
        send(
            &app,
            post_form("/login", &[("username", "user@example.com"), ("password", "bad")]),
        )
        .await;
    }
    let r = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
    )
    .await;
    assert!(r.session().is_none());
    assert!(r.text().contains(LOGIN_FAILED));
    login(&app, "root@example.com").await;
}

#[actix_web::test]
async fn the_api_accepts_every_credential_and_challenges_anonymous_requests() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(&app, get("/api/me").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, 401);
    let challenges = r.all("www-authenticate");
    assert!(
        challenges.contains(&"Basic realm=\"Protected access\""),
        "{challenges:?}"
    );
    assert!(challenges.iter().any(|c| c.starts_with("Bearer")), "{challenges:?}");
    let basic = format!("Basic {}", STANDARD.encode("root@example.com:password"));
    let session = login(&app, "root@example.com").await;
    let ways: Vec<atest::TestRequest> = vec![
        with_cookie(get("/api/me"), &session),
        get("/api/me").insert_header(("Authorization", basic)),
        get("/api/me").insert_header(("Authorization", "Bearer root-token")),
        get("/api/me").insert_header(("Authorization", "Token root-token")),
        get("/api/me?apikey=root-token"),
        get("/api/me").insert_header(("X-Api-Key", "root-token")),
    ];
    for req in ways {
        let r = send(&app, req).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["username"], "root@example.com");
    }
    assert_eq!(send(&app, get("/api/admin?apikey=user-token")).await.status, 403);
    assert_eq!(send(&app, get("/api/admin?apikey=root-token")).await.status, 200);
    assert_eq!(send(&app, get("/api/me?apikey=disabled-token")).await.status, 401);
    assert_eq!(send(&app, get("/api/admin")).await.status, 401);
}

#[actix_web::test]
async fn cross_site_state_changes_are_refused() {
    let app = atest::init_service(demo().await.app()).await;
    let creds = [("username", "root@example.com"), ("password", "password")];
    let r = send(
        &app,
        post_form("/login", &creds).insert_header(("Origin", "http://evil.example")),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.session().is_none());
    let r = send(
        &app,
        post_form("/login", &creds).insert_header(("Sec-Fetch-Site", "cross-site")),
    )
    .await;
    assert_eq!(r.status, 403);
    let cookie = login(&app, "root@example.com").await;
    let r = send(
        &app,
        with_cookie(atest::TestRequest::post().uri("/logout"), &cookie)
            .insert_header(("Origin", "http://evil.example")),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &cookie)).await.json()["state"],
        "authenticated"
    );
    // The demo is plain http: the same host and port over https is another origin.
    let https = post_form("/login", &creds)
        .insert_header(("Origin", "https://localhost:8080"))
        .insert_header(("Host", "localhost:8080"));
    assert_eq!(send(&app, https).await.status, 403);
    let same = post_form("/login", &creds)
        .insert_header(("Origin", "http://localhost:8080"))
        .insert_header(("Host", "localhost:8080"));
    assert_eq!(send(&app, same).await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_public_origin_is_the_origin_state_changes_must_come_from() {
    let config = DemoConfig {
        public_origin: Some("https://app.example".to_owned()),
        ..test_config(SessionBackend::Database)
    };
    assert!(config.public_origin_is_https());
    let app = atest::init_service(Demo::new(config).await.unwrap().app()).await;
    let creds = [("username", "user@example.com"), ("password", "password")];
    let from = |origin| {
        post_form("/login", &creds)
            .insert_header(("Host", "app.example"))
            .insert_header(("Origin", origin))
    };
    for refused in ["http://app.example", "https://app.example:8443", "https://evil.example"] {
        let r = send(&app, from(refused)).await;
        assert_eq!(r.status, 403, "{refused}");
        assert!(r.session().is_none(), "{refused}");
    }
    // The Host header no longer decides: the demo's own connection is plain http.
    let local = post_form("/login", &creds)
        .insert_header(("Host", "127.0.0.1:8000"))
        .insert_header(("Origin", "http://127.0.0.1:8000"));
    assert_eq!(send(&app, local).await.status, 403);
    assert_eq!(
        send(&app, from("https://app.example")).await.status,
        StatusCode::SEE_OTHER
    );
    // An https public origin keeps remember-me's `Secure` default, and the session's too.
    let remembered = send(
        &app,
        post_form(
            "/login",
            &[
                ("username", "user@example.com"),
                ("password", "password"),
                ("remember_me", "1"),
            ],
        )
        .insert_header(("Host", "app.example"))
        .insert_header(("Origin", "https://app.example")),
    )
    .await;
    assert_eq!(remembered.status, StatusCode::SEE_OTHER);
    let cookies = remembered.all("set-cookie");
    for name in ["imia_remember=", "imia_session="] {
        let set = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} {cookies:?}"));
        assert!(set.contains("Secure"), "{set}");
    }
}

#[actix_web::test]
async fn a_public_origin_that_is_not_an_origin_stops_the_demo() {
    for bad in ["app.example", "https://app.example/login", "null"] {
        let config = DemoConfig {
            public_origin: Some(bad.to_owned()),
            ..test_config(SessionBackend::Database)
        };
        assert!(!config.public_origin_is_https(), "{bad}");
        let err = Demo::new(config).await.unwrap_err();
        assert!(err.to_string().contains("invalid origin"), "{bad}: {err}");
    }
}

#[actix_web::test]
async fn sessions_survive_a_restart_with_the_same_secret() {
    let db = temp_db();
    let config = || DemoConfig {
        database_url: db.clone(),
        secret: Some(imia::SecretKey::from_bytes(&[3; 64]).unwrap()),
        ..test_config(SessionBackend::Database)
    };
    let cookie = {
        let app = atest::init_service(Demo::new(config()).await.unwrap().app()).await;
        login(&app, "user@example.com").await
    };
    let app = atest::init_service(Demo::new(config()).await.unwrap().app()).await;
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &cookie)).await.json()["state"],
        "authenticated"
    );
}

fn remember_cookie(r: &Reply) -> Option<String> {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("imia_remember=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[actix_web::test]
async fn remember_me_restores_a_session_without_the_session_cookie() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(
        &app,
        post_form(
            "/login",
            &[
                ("username", "user@example.com"),
                ("password", "password"),
                ("remember_me", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("imia_remember="))
        .unwrap()
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    assert!(
        !set.contains("Secure"),
        "plain http without a public origin opts out: {set}"
    );
    let remember = remember_cookie(&r).unwrap();
    // Without the box, no remember-me cookie.
    let plain = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
    )
    .await;
    assert!(remember_cookie(&plain).is_none());

    let r = send(&app, with_cookie(get("/app"), &remember)).await;
    assert_eq!(r.status, 200, "restored from the remember-me cookie");
    assert!(r.session().is_some(), "a new session");
    let rotated = remember_cookie(&r).expect("the token rotates");
    assert_ne!(rotated, remember);
    let me = send(&app, with_cookie(get("/whoami"), &rotated)).await;
    assert_eq!(me.json()["state"], "remembered");
}

#[actix_web::test]
async fn logout_and_password_changes_revoke_remember_me() {
    let app = atest::init_service(demo().await.app()).await;
    let login = |remember: bool| {
        let mut fields = vec![("username", "user@example.com"), ("password", "password")];
        if remember {
            fields.push(("remember_me", "1"));
        }
        post_form("/login", &fields)
    };
    // Logout revokes the token it is given.
    let r = send(&app, login(true)).await;
    let (session, remember) = (r.session().unwrap(), remember_cookie(&r).unwrap());
    let r = send(
        &app,
        with_cookie(
            atest::TestRequest::post().uri("/logout"),
            &format!("{session}; {remember}"),
        ),
    )
    .await;
    assert!(
        r.all("set-cookie")
            .iter()
            .any(|c| c.starts_with("imia_remember=") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &remember)).await.json()["state"],
        "anonymous"
    );

    // A password change (on another device) revokes every token of the user.
    let laptop = remember_cookie(&send(&app, login(true)).await).unwrap();
    let phone = send(&app, login(false)).await.session().unwrap();
    let r = send(
        &app,
        with_cookie(
            post_form(
                "/account/password",
                &[("current_password", "password"), ("new_password", "n3w-pass")],
            ),
            &phone,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &laptop)).await.json()["state"],
        "anonymous"
    );
}

async fn id_of<S, B>(app: &S, email: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let cookie = login(app, email).await;
    send(app, with_cookie(get("/whoami"), &cookie)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn impersonation_routes() {
    let app = atest::init_service(demo().await.app()).await;
    let user_id = id_of(&app, "user@example.com").await;
    let root_id = id_of(&app, "root@example.com").await;
    let disabled_id = (user_id.parse::<i64>().unwrap() + 1).to_string();
    let root = login(&app, "root@example.com").await;
    let user = login(&app, "user@example.com").await;

    // Refusals: 403, no change of identity; a missing field is 400.
    for (who, target) in [
        (&user, root_id.as_str()),
        (&root, root_id.as_str()),
        (&root, disabled_id.as_str()),
        (&root, "999"),
        (&root, "abc"),
        (&root, ""),
    ] {
        let r = send(
            &app,
            with_cookie(post_form("/impersonate", &[("user_id", target)]), who),
        )
        .await;
        assert_eq!(r.status, 403, "{target:?}");
    }
    assert_eq!(
        send(&app, with_cookie(post_form("/impersonate", &[]), &root))
            .await
            .status,
        400
    );
    let r = send(&app, post_form("/impersonate", &[("user_id", &user_id)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?next=%2Fimpersonate"));
    // Cross-site: refused before anything happens.
    let r = send(
        &app,
        with_cookie(post_form("/impersonate", &[("user_id", &user_id)]), &root)
            .insert_header(("Origin", "http://evil.example")),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &root)).await.json()["state"],
        "authenticated"
    );

    // Root acts as User.
    let r = send(
        &app,
        with_cookie(post_form("/impersonate", &[("user_id", &user_id)]), &root),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    let during = r.session().expect("a renewed session");
    let me = send(&app, with_cookie(get("/api/me"), &during)).await.json();
    assert_eq!(me["state"], "impersonated");
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["original_id"], root_id.as_str());
    assert_eq!(me["name"], "User");
    assert!(
        send(&app, with_cookie(get("/app"), &during))
            .await
            .text()
            .contains("impersonation-banner")
    );
    assert!(
        send(&app, with_cookie(get("/"), &during))
            .await
            .text()
            .contains("impersonation-banner")
    );
    assert_eq!(
        send(&app, with_cookie(get("/admin"), &during)).await.status,
        403,
        "the target's scopes"
    );

    let r = send(
        &app,
        with_cookie(atest::TestRequest::post().uri("/impersonate/exit"), &during),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    let after = r.session().unwrap();
    let me = send(&app, with_cookie(get("/whoami"), &after)).await.json();
    assert_eq!(
        (me["id"].as_str(), me["state"].as_str()),
        (Some(root_id.as_str()), Some("authenticated"))
    );
    assert!(
        !send(&app, with_cookie(get("/app"), &after))
            .await
            .text()
            .contains("impersonation-banner")
    );
}

#[actix_web::test]
async fn stateless_impersonation_in_the_demo() {
    let app = atest::init_service(demo().await.app()).await;
    let user_id = id_of(&app, "user@example.com").await;
    let r = send(&app, get(&format!("/api/me?apikey=root-token&_impersonate={user_id}"))).await;
    assert_eq!(r.json()["state"], "impersonated");
    assert_eq!(r.json()["username"], "user@example.com");
    let r = send(&app, get(&format!("/whoami?apikey=root-token&_impersonate={user_id}"))).await;
    assert_eq!(r.json()["state"], "impersonated");
    assert_eq!(
        send(&app, get("/api/me?apikey=root-token")).await.json()["state"],
        "authenticated"
    );
    // Without the permission, the request goes on as the real user.
    let r = send(&app, get("/api/me?apikey=user-token&_impersonate=1")).await;
    assert_eq!(r.json()["username"], "user@example.com");
    assert_eq!(r.json()["state"], "authenticated");
}

#[actix_web::test]
async fn logout_everywhere_ends_every_session_and_token_of_the_user() {
    let app = atest::init_service(demo().await.app()).await;
    let remembered = send(
        &app,
        post_form(
            "/login",
            &[
                ("username", "user@example.com"),
                ("password", "password"),
                ("remember_me", "1"),
            ],
        ),
    )
    .await;
    let laptop = remember_cookie(&remembered).unwrap();
    let phone = login(&app, "user@example.com").await;
    let admin = login(&app, "root@example.com").await;
    let here = login(&app, "user@example.com").await;

    let r = send(&app, with_cookie(post_form("/logout", &[("everywhere", "1")]), &here)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for (cookie, what) in [
        (&here, "this session"),
        (&phone, "another session"),
        (&laptop, "a remember-me token"),
    ] {
        assert_eq!(
            send(&app, with_cookie(get("/whoami"), cookie)).await.json()["state"],
            "anonymous",
            "{what} ends"
        );
    }
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &admin)).await.json()["state"],
        "authenticated",
        "other users stay logged in"
    );
    // The password still works.
    login(&app, "user@example.com").await;
}

/// `GET /account/sessions` as JSON with `cookie`.
async fn sessions_json<S, B>(app: &S, cookie: &str) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        with_cookie(get("/account/sessions"), cookie).insert_header(("Accept", "application/json")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()["sessions"].as_array().expect("a list").clone()
}

async fn state_of<S, B>(app: &S, cookie: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, with_cookie(get("/whoami"), cookie)).await.json()["state"].clone()
}

#[actix_web::test]
async fn the_sessions_page_lists_the_users_sessions_newest_first() {
    let app = atest::init_service(demo().await.app()).await;
    let phone = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")])
            .insert_header(("User-Agent", "Phone/1.0")),
    )
    .await
    .session()
    .unwrap();
    let laptop = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")])
            .insert_header(("User-Agent", "Laptop/2.0")),
    )
    .await
    .session()
    .unwrap();
    login(&app, "root@example.com").await; // another user's session is not listed

    let sessions = sessions_json(&app, &laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["user_agent"], "Laptop/2.0", "newest first");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["user_agent"], "Phone/1.0");
    assert_eq!(sessions[1]["current"], false);
    for session in &sessions {
        let id = session["id"].as_str().unwrap();
        assert!(
            id.len() >= 16 && !laptop.contains(id) && !phone.contains(id),
            "an opaque handle, not the key"
        );
        for field in ["created_at", "last_seen_at"] {
            let at = session[field].as_str().unwrap();
            assert!(
                at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
                "RFC 3339: {at}"
            );
        }
        assert!(session["ip"].is_string());
    }
    // The HTML page lists them too, with a button for the other one.
    let page = send(&app, with_cookie(get("/account/sessions"), &phone)).await;
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = page.text();
    assert!(html.contains("Laptop/2.0") && html.contains("this session"), "{html}");
    assert!(html.contains("id=\"end-others\""));

    // Anonymous visitors are treated like on /app.
    let r = send(&app, get("/account/sessions")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("location").unwrap().starts_with("/login?next="));
    let r = send(
        &app,
        get("/account/sessions").insert_header(("Accept", "application/json")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn ending_a_session_logs_that_device_out_and_nothing_else() {
    let app = atest::init_service(demo().await.app()).await;
    let phone = login(&app, "user@example.com").await;
    let laptop = login(&app, "user@example.com").await;
    let root = login(&app, "root@example.com").await;
    let phone_id = sessions_json(&app, &laptop)
        .await
        .into_iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let root_id = sessions_json(&app, &root).await[0]["id"].as_str().unwrap().to_owned();

    // Another user's session, unknown and malformed ids: 404, nothing ended.
    for id in [
        root_id.as_str(),
        "unknown-session-id",
        "not%20an%20id",
        &"x".repeat(200),
    ] {
        let r = send(
            &app,
            with_cookie(post_form(&format!("/account/sessions/{id}/end"), &[]), &laptop),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(state_of(&app, &root).await, "authenticated");
    assert_eq!(state_of(&app, &phone).await, "authenticated");

    let r = send(
        &app,
        with_cookie(post_form(&format!("/account/sessions/{phone_id}/end"), &[]), &laptop),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/account/sessions"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(state_of(&app, &phone).await, "anonymous", "the ended session");
    assert_eq!(state_of(&app, &laptop).await, "authenticated", "the one that ended it");
    assert_eq!(sessions_json(&app, &laptop).await.len(), 1);

    // Cross-site posts are refused like every other form.
    let r = send(
        &app,
        with_cookie(post_form(&format!("/account/sessions/{root_id}/end"), &[]), &root)
            .insert_header(("Origin", "https://evil.example")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(state_of(&app, &root).await, "authenticated");
}

#[actix_web::test]
async fn ending_the_other_sessions_keeps_this_one() {
    for backend in [SessionBackend::Database, SessionBackend::Cookie] {
        let app = atest::init_service(demo_with(backend.clone()).await.app()).await;
        let remembered = send(
            &app,
            post_form(
                "/login",
                &[
                    ("username", "user@example.com"),
                    ("password", "password"),
                    ("remember_me", "1"),
                ],
            ),
        )
        .await;
        let remember = remember_cookie(&remembered).unwrap();
        let other = login(&app, "user@example.com").await;
        let root = login(&app, "root@example.com").await;
        let here = login(&app, "user@example.com").await;

        let r = send(&app, with_cookie(post_form("/account/sessions/end-others", &[]), &here)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{backend:?}");
        assert_eq!(r.header("location"), Some("/account/sessions"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let here = r.session().unwrap_or(here); // renewed with the new fingerprint
        assert_eq!(
            state_of(&app, &here).await,
            "authenticated",
            "{backend:?}: this session stays"
        );
        assert_eq!(
            state_of(&app, &other).await,
            "anonymous",
            "{backend:?}: another session ends"
        );
        assert_eq!(
            state_of(&app, &remember).await,
            "anonymous",
            "{backend:?}: remember-me too"
        );
        assert_eq!(
            state_of(&app, &root).await,
            "authenticated",
            "{backend:?}: other users stay"
        );
        if backend == SessionBackend::Database {
            assert_eq!(sessions_json(&app, &here).await.len(), 1);
        } else {
            // No index on the cookie store: nothing listed, but ending others still worked.
            assert!(sessions_json(&app, &here).await.is_empty());
        }
    }
}

#[actix_web::test]
async fn every_page_links_the_one_local_stylesheet() {
    let app = atest::init_service(demo().await.app()).await;
    let css = send(&app, get("/style.css")).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.text().contains("body"));
    for page in ["/", "/login"] {
        let html = send(&app, get(page)).await.text();
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/style.css\">"), "{page}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page}: no external assets"
        );
    }
}

/// The Redis the demo's Redis tests use, or `None` (skipped) when it does not answer outside CI.
async fn redis_backend() -> Option<SessionBackend> {
    let url = std::env::var("IMIA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = test_config(SessionBackend::Redis(url.clone()));
    config.sessions = SessionBackend::Redis(url.clone());
    match Demo::new(config).await {
        Ok(_) => Some(SessionBackend::Redis(url)),
        Err(err) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Redis is not reachable under CI=true: {err}"
            );
            eprintln!("SKIPPED: Redis is not reachable ({err})");
            None
        }
    }
}

#[actix_web::test]
async fn redis_sessions_are_listed_and_ended_too() {
    let Some(backend) = redis_backend().await else { return };
    let app = atest::init_service(demo_with(backend).await.app()).await;
    let phone = login(&app, "user@example.com").await;
    let laptop = login(&app, "user@example.com").await;
    let listed = sessions_json(&app, &laptop).await;
    assert!(listed.len() >= 2, "{listed:?}");
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    let others = listed.iter().filter(|s| s["current"] == false).count();

    let r = send(
        &app,
        with_cookie(post_form("/account/sessions/end-others", &[]), &laptop),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let laptop = r.session().unwrap_or(laptop);
    assert_eq!(state_of(&app, &phone).await, "anonymous");
    assert_eq!(state_of(&app, &laptop).await, "authenticated");
    let listed = sessions_json(&app, &laptop).await;
    assert_eq!(listed.len(), 1, "{others} other sessions ended: {listed:?}");
    assert_eq!(listed[0]["current"], true);
}
