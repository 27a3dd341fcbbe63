//! End to end: the `multiple` example (session + bearer + API key, include patterns, login
//! redirect) over a real socket, with a cookie jar.

use imia_tests::{
    http::{Client, Request, Response},
    server::ExampleServer,
};
use serde_json::json;

/// The session cookie of actix-session.
const SESSION_COOKIE: &str = "id";

fn multiple() -> ExampleServer {
    ExampleServer::start("multiple").expect("the multiple example starts")
}

fn browser_get(target: &str) -> Request {
    Request::get(target).header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
}

fn login_form(username: &str, password: &str, next: &str) -> Request {
    Request::post("/login").form(&[("username", username), ("password", password), ("next", next)])
}

fn log_in(client: &mut Client, username: &str, password: &str) -> Response {
    let resp = client.send(&login_form(username, password, "/app")).unwrap();
    assert_eq!(resp.status, 303, "{resp:?}");
    assert!(client.jar().get(SESSION_COOKIE).is_some(), "{resp:?}");
    resp
}

#[test]
fn public_page_needs_nobody() {
    let server = multiple();
    let resp = server.send(&browser_get("/public")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(resp.header("set-cookie").is_none(), "{resp:?}");
}

#[test]
fn browsers_are_redirected_to_the_login_page() {
    let server = multiple();
    for (target, location) in [
        ("/app", "/login?next=%2Fapp"),
        ("/app?tab=2", "/login?next=%2Fapp%3Ftab%3D2"),
        ("/api/me", "/login?next=%2Fapi%2Fme"),
    ] {
        let resp = server.send(&browser_get(target)).unwrap();
        assert_eq!(resp.status, 303, "{target}: {resp:?}");
        assert_eq!(resp.header("location"), Some(location), "{target}");
        assert_eq!(resp.header("cache-control"), Some("no-store"), "{target}");
    }
    // No `Accept` at all (curl) is a browser too.
    assert_eq!(server.get("/app").unwrap().status, 303);
}

#[test]
fn api_clients_get_401() {
    let server = multiple();
    for req in [
        Request::get("/app").header("Accept", "application/json"),
        Request::get("/api/me").header("Accept", "application/json"),
        Request::get("/api/me").header("X-Requested-With", "XMLHttpRequest"),
    ] {
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 401, "{req:?}: {resp:?}");
        assert_eq!(resp.header_all("www-authenticate"), ["Bearer"], "{resp:?}");
    }
}

#[test]
fn login_page_is_never_redirected() {
    let server = multiple();
    let resp = server.send(&browser_get("/login?next=%2Fapp")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = resp.text();
    assert!(body.contains("You are not logged in"), "{body}");
    assert!(body.contains(r#"name="next" value="/app""#), "{body}");
}

#[test]
fn login_page_escapes_and_validates_next() {
    let server = multiple();
    let resp = server
        .get("/login?next=%2Fx%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = resp.text();
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&quot;&gt;&lt;script&gt;"), "{body}");
    let resp = server.get("/login?next=%2F%2Fevil.example").unwrap();
    assert!(resp.text().contains(r#"name="next" value="/app""#), "{resp:?}");
}

#[test]
fn login_then_app_with_the_session_cookie() {
    let server = multiple();
    let mut client = server.client();

    let resp = client
        .send(&login_form("user1@example.com", "password1", "/app?tab=2"))
        .unwrap();
    assert_eq!(resp.status, 303, "{resp:?}");
    assert_eq!(resp.header("location"), Some("/app?tab=2"));
    assert!(client.jar().get(SESSION_COOKIE).is_some(), "{resp:?}");
    let set_cookie = resp.header("set-cookie").unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    let resp = client.send(&browser_get("/app")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(resp.text().contains("Hello, User1!"), "{resp:?}");

    let resp = client.get("/login").unwrap();
    assert!(resp.text().contains("You are logged in as User1."), "{resp:?}");

    let resp = client.get("/api/me").unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json().unwrap(),
        json!({"id": "user1@example.com", "name": "User1", "scopes": ["admin"]})
    );
    let resp = client.get("/api/admin").unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json().unwrap(), json!({"admin": "User1"}));

    // Without the cookie, the same client is a stranger again.
    let resp = server.send(&browser_get("/app")).unwrap();
    assert_eq!(resp.status, 303, "{resp:?}");
}

#[test]
fn logout_ends_the_session() {
    let server = multiple();
    let mut client = server.client();
    log_in(&mut client, "user1@example.com", "password1");
    assert_eq!(client.send(&browser_get("/app")).unwrap().status, 200);

    let resp = client.send(&Request::post("/logout")).unwrap();
    assert_eq!(resp.status, 303, "{resp:?}");
    assert_eq!(resp.header("location"), Some("/login"));
    assert_eq!(client.jar().get(SESSION_COOKIE), None, "{resp:?}");
    assert_eq!(client.send(&browser_get("/app")).unwrap().status, 303);
}

#[test]
fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let server = multiple();
    let mut answers = Vec::new();
    for (username, password) in [
        ("user1@example.com", "wrong"),
        ("nobody@example.com", "password1"),
        ("user1@example.com", ""),
    ] {
        let mut client = server.client();
        let resp = client.send(&login_form(username, password, "/app")).unwrap();
        assert_eq!(resp.status, 401, "{username}: {resp:?}");
        assert!(client.jar().is_empty(), "{username}: {resp:?}");
        answers.push(resp.body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn login_never_redirects_off_site() {
    let server = multiple();
    for next in ["//evil.example", "https://evil.example/", "/\\evil.example", "", "app"] {
        let resp = server
            .send(&login_form("user2@example.com", "pass:word2", next))
            .unwrap();
        assert_eq!(resp.status, 303, "{next:?}: {resp:?}");
        assert_eq!(resp.header("location"), Some("/app"), "{next:?}");
    }
}

#[test]
fn scopes_are_enforced_for_every_authenticator() {
    let server = multiple();
    let mut user2 = server.client();
    log_in(&mut user2, "user2@example.com", "pass:word2");
    assert_eq!(user2.get("/api/me").unwrap().status, 200);
    assert_eq!(user2.get("/api/admin").unwrap().status, 403);

    for (req, expected) in [
        (
            Request::get("/api/admin").header("Authorization", "Bearer token-user1"),
            200,
        ),
        (
            Request::get("/api/admin").header("Authorization", "Bearer token-user2"),
            403,
        ),
        (Request::get("/api/admin?apikey=token-user1"), 200),
        (Request::get("/api/admin").header("X-Api-Key", "token-user2"), 403),
        (Request::get("/api/me").header("Authorization", "Bearer nope"), 401),
        (Request::get("/api/me?apikey=a&apikey=b"), 400),
    ] {
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, expected, "{req:?}: {resp:?}");
    }
}

#[test]
fn forged_session_cookies_are_anonymous_not_errors() {
    let server = multiple();
    for cookie in ["id=garbage", "id=", "id=%ff%fe", "id=a; id=b"] {
        let req = browser_get("/app").header("Cookie", cookie);
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 303, "{cookie}: {resp:?}");
    }
}
