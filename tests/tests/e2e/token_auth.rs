//! End to end: the `token_auth` example over a real socket.

use imia_tests::{http::Request, server::ExampleServer};
use serde_json::json;

fn token_auth() -> ExampleServer {
    ExampleServer::start("token_auth").expect("the token_auth example starts")
}

fn me_with(authorization: &str) -> Request {
    Request::get("/me").header("Authorization", authorization)
}

#[test]
fn anonymous_may_ask_who_they_are() {
    let server = token_auth();
    let resp = server.get("/").unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json().unwrap(), json!({"id": null, "name": "Anonymous"}));
}

#[test]
fn both_schemes_authenticate() {
    let server = token_auth();
    let resp = server.send(&me_with("Bearer token-user1")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json().unwrap(),
        json!({"id": "user1@example.com", "name": "User1", "scopes": ["admin"]})
    );
    let resp = server.send(&me_with("Token token-user2")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json().unwrap(),
        json!({"id": "user2@example.com", "name": "User2", "scopes": []})
    );
    for value in ["bearer token-user1", "TOKEN token-user1", "Bearer   token-user1"] {
        assert_eq!(server.send(&me_with(value)).unwrap().status, 200, "{value}");
    }
}

#[test]
fn current_user_answers_anonymous_with_every_challenge() {
    let server = token_auth();
    let resp = server.get("/me").unwrap();
    assert_eq!(resp.status, 401, "{resp:?}");
    assert_eq!(resp.header_all("www-authenticate"), ["Bearer", "Token"], "{resp:?}");
    // Credentials of a scheme nobody reads are no credentials.
    let resp = server.send(&me_with("Basic dXNlcjpwYXNz")).unwrap();
    assert_eq!(resp.status, 401, "{resp:?}");
}

#[test]
fn unknown_tokens_get_401_and_malformed_ones_400() {
    let server = token_auth();
    for (value, expected) in [
        ("Bearer nope", 401),
        ("Token nope", 401),
        ("Bearer TOKEN-USER1", 401),
        ("Bearer", 400),
        ("Bearer a b", 400),
        ("Token a=b", 400),
        ("Bearer \u{e9}t\u{e9}", 400),
    ] {
        for target in ["/", "/me"] {
            let req = Request::get(target).header("Authorization", value);
            let resp = server.send(&req).unwrap();
            assert_eq!(resp.status, expected, "{value:?} on {target}: {resp:?}");
        }
    }
    let twice = me_with("Bearer token-user1").header("Authorization", "Token token-user1");
    assert_eq!(server.send(&twice).unwrap().status, 400);
}
