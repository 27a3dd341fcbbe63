//! Password resets in the demo: the forgot-password page, the mailed link, the new password.

use std::path::PathBuf;

use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test as atest,
};
use futures_util::future::join_all;
use imia_examples::demo::{Demo, SessionBackend, mail::DemoMail, pages::FORGOT_SENT};

use super::{get, login, post_form, send, test_config, with_cookie};

/// A demo whose mail goes into a fresh directory.
async fn demo_with_mail(tag: &str) -> (Demo, PathBuf) {
    let dir = std::env::temp_dir().join(format!("imia-demo-mail-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let demo = Demo::with_mail(
        test_config(SessionBackend::Database),
        DemoMail::to_dir(&dir, "http://127.0.0.1:8000"),
    )
    .await
    .unwrap();
    (demo, dir)
}

/// The messages in `dir`, oldest first, once `count` have arrived.
async fn messages(dir: &PathBuf, count: usize) -> Vec<String> {
    for _ in 0..500 {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if names.len() >= count {
            names.sort();
            return names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{count} messages did not arrive in {}", dir.display());
}

/// The path of the first absolute link on `origin` in a message's text.
fn link(message: &str, prefix: &str) -> String {
    let at = message
        .find(&format!("http://127.0.0.1:8000{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link in {message}"));
    let url = message[at..].split_whitespace().next().unwrap();
    url.trim_start_matches("http://127.0.0.1:8000").to_owned()
}

async fn forgot<S, B>(app: &S, email: &str) -> super::Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, post_form("/password/forgot", &[("email", email)])).await
}

#[actix_web::test]
async fn the_forgot_page_answers_the_same_for_every_address() {
    let (demo, dir) = demo_with_mail("forgot").await;
    let app = atest::init_service(demo.app()).await;
    let r = send(&app, get("/password/forgot")).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("name=\"email\""));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let known = forgot(&app, "user@example.com").await;
    let unknown = forgot(&app, "nobody@example.com").await;
    let malformed = forgot(&app, "not an address").await;
    for r in [&known, &unknown, &malformed] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.text().contains(FORGOT_SENT) || r.text().contains("we have sent it a link"));
    }
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body, malformed.body);
    let sent = messages(&dir, 1).await;
    // Only the account got mail.
    actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(messages(&dir, 1).await.len(), 1, "{sent:?}");
    assert!(sent[0].contains("To: user@example.com"), "{}", sent[0]);
    assert!(sent[0].contains("Content-Type: text/plain"));
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn a_mailed_link_sets_a_new_password_once_and_ends_every_session() {
    let (demo, dir) = demo_with_mail("reset").await;
    let app = atest::init_service(demo.app()).await;
    let session = login(&app, "user@example.com").await;
    assert_eq!(forgot(&app, "user@example.com").await.status, 200);
    let path = link(&messages(&dir, 1).await[0], "/password/reset/");
    let r = send(&app, get(&path)).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("name=\"new_password\""), "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Too short: the form again, the link still works.
    let r = send(&app, post_form(&path, &[("new_password", "short")])).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("name=\"new_password\""));
    let r = send(&app, post_form(&path, &[("new_password", "brand-new-pass")])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    // The session from before is anonymous; the old password is refused, the new one works.
    let who = send(&app, with_cookie(get("/whoami"), &session)).await.json();
    assert_eq!(who["state"], "anonymous");
    let old = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
    )
    .await;
    assert_eq!(old.status, 200, "the login form again");
    let new = send(
        &app,
        post_form(
            "/login",
            &[("username", "user@example.com"), ("password", "brand-new-pass")],
        ),
    )
    .await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    // Used: 400 on both methods, nothing changed.
    assert_eq!(send(&app, get(&path)).await.status, 400);
    let r = send(&app, post_form(&path, &[("new_password", "another-new-pass")])).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("<html"));
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn unknown_superseded_and_racing_links_are_refused() {
    let (demo, dir) = demo_with_mail("links").await;
    let app = atest::init_service(demo.app()).await;
    for bad in ["/password/reset/nope", "/password/reset/a.b", "/password/reset/%00"] {
        assert_eq!(send(&app, get(bad)).await.status, 400, "{bad}");
    }
    forgot(&app, "user@example.com").await;
    let first = link(&messages(&dir, 1).await[0], "/password/reset/");
    forgot(&app, "user@example.com").await;
    let second = link(&messages(&dir, 2).await[1], "/password/reset/");
    assert_ne!(first, second);
    assert_eq!(send(&app, get(&first)).await.status, 400, "superseded");
    // One link, many requests at once: one new password.
    let replies = join_all((0..8).map(|i| {
        let password = format!("racing-password-{i}");
        send(&app, post_form(&second, &[("new_password", password.as_str())]))
    }))
    .await;
    let done = replies.iter().filter(|r| r.status == StatusCode::SEE_OTHER).count();
    assert_eq!(done, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn reset_forms_refuse_other_sites() {
    let (demo, dir) = demo_with_mail("csrf").await;
    let app = atest::init_service(demo.app()).await;
    let r = send(
        &app,
        post_form("/password/forgot", &[("email", "user@example.com")])
            .insert_header(("Origin", "https://evil.example")),
    )
    .await;
    assert_eq!(r.status, 403);
    let _ = std::fs::remove_dir_all(dir);
}

async fn sign_up<S, B>(app: &S, email: &str, password: &str) -> super::Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        post_form(
            "/signup",
            &[("email", email), ("name", "New Person"), ("password", password)],
        ),
    )
    .await
}

#[actix_web::test]
async fn sign_up_needs_the_mailed_link_before_the_first_login() {
    let (demo, dir) = demo_with_mail("signup").await;
    let app = atest::init_service(demo.app()).await;
    let r = send(&app, get("/signup")).await;
    assert_eq!(r.status, 200);
    for field in ["name=\"email\"", "name=\"name\"", "name=\"password\""] {
        assert!(r.text().contains(field), "{field}");
    }
    let new = sign_up(&app, "new@example.com", "new-person-pass").await;
    let taken = sign_up(&app, "user@example.com", "whatever-pass").await;
    assert_eq!((new.status, taken.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(new.body, taken.body, "the same answer for a taken address");
    assert_eq!(new.header("cache-control"), Some("no-store"));
    let sent = messages(&dir, 2).await;
    let verify = sent
        .iter()
        .find(|m| m.contains("To: new@example.com"))
        .expect("the new address's mail");
    let notice = sent
        .iter()
        .find(|m| m.contains("To: user@example.com"))
        .expect("the notice");
    assert!(!notice.contains("/signup/verify/"), "a notice, not a link: {notice}");
    let path = link(verify, "/signup/verify/");
    // Before the link: the right password does not log in.
    let r = send(
        &app,
        post_form(
            "/login",
            &[("username", "new@example.com"), ("password", "new-person-pass")],
        ),
    )
    .await;
    assert_ne!(r.status, StatusCode::SEE_OTHER);
    if let Some(cookie) = r.session() {
        assert_eq!(send(&app, with_cookie(get("/api/me"), &cookie)).await.status, 401);
    }
    // Nor does HTTP Basic.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "new@example.com:new-person-pass"
        )
    );
    let r = send(&app, get("/api/me").insert_header(("Authorization", basic.clone()))).await;
    assert_eq!(r.status, 401);
    // The link, once.
    let r = send(&app, get(&path)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(send(&app, get(&path)).await.status, 400, "used");
    let session = login_as(&app, "new@example.com", "new-person-pass").await;
    let me = send(&app, with_cookie(get("/api/me"), &session)).await.json();
    assert_eq!(me["username"], "new@example.com");
    assert_eq!(me["name"], "New Person");
    assert_eq!(me["scopes"], serde_json::json!([]));
    assert_eq!(me["state"], "authenticated");
    let r = send(&app, get("/api/me").insert_header(("Authorization", basic))).await;
    assert_eq!(r.status, 200, "verified: HTTP Basic too");
    // The taken address kept its password.
    login(&app, "user@example.com").await;
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn sign_up_refuses_bad_addresses_and_short_passwords() {
    let (demo, dir) = demo_with_mail("signup-bad").await;
    let app = atest::init_service(demo.app()).await;
    let r = sign_up(&app, "not an address", "long-enough-pass").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("name=\"email\""), "the form again");
    let r = sign_up(&app, "short@example.com", "short").await;
    assert_eq!(r.status, 400);
    assert_eq!(send(&app, get("/signup/verify/nope.nope")).await.status, 400);
    let _ = std::fs::remove_dir_all(dir);
}

async fn login_as<S, B>(app: &S, user: &str, password: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(app, post_form("/login", &[("username", user), ("password", password)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{user} logs in: {}", r.text());
    r.session().expect("a session")
}

#[actix_web::test]
async fn the_address_changes_only_through_the_link_sent_to_it() {
    let (demo, dir) = demo_with_mail("email").await;
    let app = atest::init_service(demo.app()).await;
    let session = login(&app, "user@example.com").await;
    let r = send(&app, with_cookie(get("/account/email"), &session)).await;
    assert_eq!(r.status, 200);
    let wrong = send(
        &app,
        with_cookie(
            post_form(
                "/account/email",
                &[("email", "renamed@example.com"), ("password", "nope")],
            ),
            &session,
        ),
    )
    .await;
    assert_eq!(wrong.status, 403);
    let r = send(
        &app,
        with_cookie(
            post_form(
                "/account/email",
                &[("email", "renamed@example.com"), ("password", "password")],
            ),
            &session,
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let sent = messages(&dir, 2).await;
    let to_new = sent
        .iter()
        .find(|m| m.contains("To: renamed@example.com"))
        .expect("a link to the new address");
    assert!(
        sent.iter().any(|m| m.contains("To: user@example.com")),
        "a notice to the old one"
    );
    // Not yet changed.
    login(&app, "user@example.com").await;
    let r = send(&app, get(&link(to_new, "/account/email/confirm/"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    login_as(&app, "renamed@example.com", "password").await;
    let old = send(
        &app,
        post_form("/login", &[("username", "user@example.com"), ("password", "password")]),
    )
    .await;
    assert_eq!(old.status, 200, "the old address no longer logs in");
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn a_forged_host_does_not_move_the_link() {
    let (demo, dir) = demo_with_mail("host").await;
    let app = atest::init_service(demo.app()).await;
    let r = send(
        &app,
        post_form("/password/forgot", &[("email", "user@example.com")]).insert_header(("Host", "evil.example")),
    )
    .await;
    assert_eq!(r.status, 200);
    let message = &messages(&dir, 1).await[0];
    assert!(!message.contains("evil.example"), "{message}");
    link(message, "/password/reset/");
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn a_reset_cancels_an_address_change_asked_for_with_the_old_password() {
    let (demo, dir) = demo_with_mail("cancel").await;
    let app = atest::init_service(demo.app()).await;
    // Someone with the password asks to move the account to their address...
    let thief = login(&app, "user@example.com").await;
    let r = send(
        &app,
        with_cookie(
            post_form(
                "/account/email",
                &[("email", "thief@example.com"), ("password", "password")],
            ),
            &thief,
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let change = messages(&dir, 2)
        .await
        .into_iter()
        .find(|m| m.contains("To: thief@example.com"))
        .unwrap();
    // ...the owner resets the password...
    forgot(&app, "user@example.com").await;
    let reset = messages(&dir, 3)
        .await
        .into_iter()
        .find(|m| m.contains("/password/reset/"))
        .unwrap();
    let r = send(
        &app,
        post_form(&link(&reset, "/password/reset/"), &[("new_password", "owner-new-pass")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // ...and the move is off.
    let r = send(&app, get(&link(&change, "/account/email/confirm/"))).await;
    assert_eq!(r.status, 400);
    let r = send(
        &app,
        post_form(
            "/login",
            &[("username", "user@example.com"), ("password", "owner-new-pass")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn signing_up_again_before_verifying_sends_a_new_link() {
    let (demo, dir) = demo_with_mail("again").await;
    let app = atest::init_service(demo.app()).await;
    sign_up(&app, "late@example.com", "late-person-pass").await;
    let first = link(&messages(&dir, 1).await[0], "/signup/verify/");
    let r = sign_up(&app, "late@example.com", "other-password").await;
    assert_eq!(r.status, 200);
    let sent = messages(&dir, 2).await;
    let second = link(&sent[1], "/signup/verify/");
    assert_ne!(first, second);
    assert_eq!(send(&app, get(&first)).await.status, 400, "superseded");
    assert_eq!(send(&app, get(&second)).await.status, StatusCode::SEE_OTHER);
    login_as(&app, "late@example.com", "late-person-pass").await;
    let _ = std::fs::remove_dir_all(dir);
}
