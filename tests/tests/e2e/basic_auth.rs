//! End to end: the `basic_auth` example over a real socket.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia_tests::{
    http::{Request, Response},
    server::ExampleServer,
};
use serde_json::json;

const CHALLENGE: &str = r#"Basic realm="Protected access""#;

fn basic_auth() -> ExampleServer {
    ExampleServer::start("basic_auth").expect("the basic_auth example starts")
}

fn with_basic(credentials: &str) -> Request {
    Request::get("/").header("Authorization", format!("Basic {}", STANDARD.encode(credentials)))
}

/// A 401 with exactly the Basic challenge and an empty body.
fn assert_challenged(resp: &Response) {
    assert_eq!(resp.status, 401, "{resp:?}");
    assert_eq!(resp.header_all("www-authenticate"), [CHALLENGE], "{resp:?}");
    assert!(resp.body.is_empty(), "{resp:?}");
}

#[test]
fn anonymous_request_is_challenged() {
    let server = basic_auth();
    assert_challenged(&server.get("/").unwrap());
    // Every path is covered, including unknown ones.
    assert_challenged(&server.get("/nope").unwrap());
}

#[test]
fn valid_credentials_are_accepted() {
    let server = basic_auth();
    let resp = server.send(&with_basic("user1@example.com:password1")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json().unwrap(),
        json!({"id": "user1@example.com", "name": "User1"})
    );
    // RFC 7617: the password is everything after the first colon.
    let resp = server.send(&with_basic("user2@example.com:pass:word2")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json().unwrap()["name"], "User2");
    // The scheme is case-insensitive.
    let lower = Request::get("/").header(
        "Authorization",
        format!("basic {}", STANDARD.encode("user1@example.com:password1")),
    );
    assert_eq!(server.send(&lower).unwrap().status, 200);
}

#[test]
fn wrong_credentials_are_challenged_alike() {
    let server = basic_auth();
    let answers: Vec<Response> = [
        "user1@example.com:wrong",
        "user1@example.com:PASSWORD1",
        "user1@example.com:",
        "nobody@example.com:password1",
        ":password1",
        "user2@example.com:pass",
    ]
    .into_iter()
    .map(|creds| server.send(&with_basic(creds)).unwrap())
    .collect();
    for resp in &answers {
        assert_challenged(resp);
    }
    // Unknown user and wrong password are indistinguishable (but for the date).
    let without_date = |r: &Response| {
        let mut headers: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .cloned()
            .collect();
        headers.sort();
        (r.status, headers, r.body.clone())
    };
    assert_eq!(without_date(&answers[0]), without_date(&answers[3]));
}

#[test]
fn malformed_credentials_get_400_and_never_500() {
    let server = basic_auth();
    let auth = |value: &[u8]| Request::get("/").header("Authorization", value);
    let cases = [
        auth(b"Basic !!!"),
        auth(b"Basic "),
        auth(format!("Basic {}", STANDARD.encode("no-colon")).as_bytes()),
        auth(format!("Basic {}", STANDARD.encode(b"\xff\xfe:x")).as_bytes()),
        auth(format!("Basic {}", STANDARD.encode("user1@example.com:pass\nword")).as_bytes()),
        auth(format!("Basic {}", "A".repeat(9000)).as_bytes()),
        auth(b"Basic \xff\xff"),
        with_basic("user1@example.com:password1").header("Authorization", "Basic Zm9vOmJhcg=="),
    ];
    for req in cases {
        let resp = server.send(&req).unwrap();
        assert_eq!(resp.status, 400, "{req:?}: {resp:?}");
    }
}

#[test]
fn other_schemes_are_not_basic_credentials() {
    let server = basic_auth();
    for value in ["Bearer token-user1", "Token abc", "Basicx abc"] {
        let resp = server.send(&Request::get("/").header("Authorization", value)).unwrap();
        assert_challenged(&resp);
    }
}
