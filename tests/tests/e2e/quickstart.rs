//! End to end: the `quickstart` example over a real socket.

use imia_tests::{http::Request, server::ExampleServer};
use serde_json::json;

fn quickstart() -> ExampleServer {
    ExampleServer::start("quickstart").expect("the quickstart example starts")
}

#[test]
fn anonymous_request_gets_the_anonymous_identity() {
    let server = quickstart();
    let resp = server.get("/").unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-type"), Some("application/json"), "{resp:?}");
    assert_eq!(resp.json().unwrap(), json!({"id": null, "name": "Anonymous"}));
}

#[test]
fn apikey_query_parameter_identifies_each_user() {
    let server = quickstart();
    for (target, id, name) in [
        ("/?apikey=user1@example.com", "user1@example.com", "User1"),
        ("/?apikey=user2@example.com", "user2@example.com", "User2"),
        // Percent-encoded like a browser would send it, among other parameters.
        ("/?x=1&apikey=user1%40example.com&y=2", "user1@example.com", "User1"),
    ] {
        let resp = server.get(target).unwrap();
        assert_eq!(resp.status, 200, "{target}: {resp:?}");
        assert_eq!(resp.json().unwrap(), json!({"id": id, "name": name}), "{target}");
    }
}

#[test]
fn x_api_key_header_identifies_the_user() {
    let server = quickstart();
    for name in ["X-Api-Key", "x-api-key", "X-API-KEY"] {
        let resp = server
            .send(&Request::get("/").header(name, "user2@example.com"))
            .unwrap();
        assert_eq!(resp.status, 200, "{name}: {resp:?}");
        assert_eq!(
            resp.json().unwrap(),
            json!({"id": "user2@example.com", "name": "User2"}),
            "{name}"
        );
    }
}

#[test]
fn query_parameter_is_used_alone_and_an_empty_one_falls_back_to_the_header() {
    let server = quickstart();
    let both = Request::get("/?apikey=user1@example.com").header("X-Api-Key", "user2@example.com");
    assert_eq!(server.send(&both).unwrap().json().unwrap()["id"], "user1@example.com");
    let empty = Request::get("/?apikey=").header("X-Api-Key", "user2@example.com");
    assert_eq!(server.send(&empty).unwrap().json().unwrap()["id"], "user2@example.com");
}

#[test]
fn unknown_key_is_rejected_with_401() {
    let server = quickstart();
    for req in [
        Request::get("/?apikey=nobody@example.com"),
        Request::get("/").header("X-Api-Key", "nobody@example.com"),
        // Lookups are exact: no case folding, no trimming of the decoded value.
        Request::get("/?apikey=USER1@example.com"),
        Request::get("/?apikey=user1@example.com%20"),
        // Undecodable bytes become U+FFFD, which is nobody's key.
        Request::get("/?apikey=%ff"),
        Request::get("/?apikey=%"),
    ] {
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 401, "{req:?}: {resp:?}");
        assert!(resp.body.is_empty(), "{req:?}: {resp:?}");
    }
}

#[test]
fn malformed_credentials_get_400_and_never_500() {
    let server = quickstart();
    let long = "k".repeat(9000);
    let cases = [
        (Request::get("/?apikey=user1@example.com&apikey=user2@example.com"), 400),
        (Request::get("/?apikey=user1@example.com&apikey=user1@example.com"), 400),
        (Request::get("/?apikey=a&apikey="), 400),
        (Request::get(format!("/?apikey={long}")), 400),
        (
            Request::get("/")
                .header("X-Api-Key", "user1@example.com")
                .header("X-Api-Key", "user1@example.com"),
            400,
        ),
        (Request::get("/").header("X-Api-Key", &long), 400),
        (Request::get("/").header("X-Api-Key", b"\xffuser1@example.com"), 400),
        // Not credentials at all: anonymous.
        (Request::get("/?apikey"), 200),
        (Request::get("/?apikey=&x=%zz"), 200),
        (Request::get("/").header("X-Api-Key", ""), 200),
    ];
    for (req, expected) in cases {
        let resp = server.send(&req).unwrap();
        assert!(resp.status < 500, "{req:?}: {resp:?}");
        assert_eq!(resp.status, expected, "{req:?}: {resp:?}");
    }
}

#[test]
fn other_routes_and_methods_are_not_found_or_not_allowed() {
    let server = quickstart();
    assert_eq!(server.get("/nope").unwrap().status, 404);
    assert_eq!(server.get("/nope?apikey=user1@example.com").unwrap().status, 404);
    // actix-web answers an unrouted method with 404 or 405; never a 2xx or a 5xx.
    let status = server.send(&Request::post("/")).unwrap().status;
    assert!(matches!(status, 404 | 405), "{status}");
}
