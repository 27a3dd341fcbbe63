//! The demo in a real browser: headless Chromium driven through chromedriver, against the demo
//! binary on a free port.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test is skipped with a message, except under `CI=true`, where it fails.

use std::path::PathBuf;

use imia_tests::{
    require,
    server::ExampleServer,
    webdriver::{self, Browser},
};

fn browser_or_skip() -> Option<Browser> {
    if !webdriver::available() {
        return require::missing("install Debian's chromium and chromium-driver to run the browser test");
    }
    Some(Browser::start().expect("headless chromium starts"))
}

fn demo(tag: &str) -> (ExampleServer, PathBuf) {
    let db = std::env::temp_dir().join(format!("imia-browser-{}-{tag}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", db.to_str().expect("a UTF-8 temp path")),
            (
                "IMIA_SECRET_KEY",
                "aW1pYS1icm93c2VyLXRlc3Qtc2VjcmV0LWtleS0wMTIzNDU2Nzg5",
            ),
        ],
    )
    .expect("the demo starts");
    (server, db)
}

/// Logs in through the form at `/login`, ticking "remember me" when asked.
fn log_in(browser: &Browser, server: &ExampleServer, email: &str, password: &str, remember: bool) {
    browser.goto(&server.url("/login")).unwrap();
    fill_login(browser, email, password, remember);
}

/// Fills and submits the login form on the current page.
fn fill_login(browser: &Browser, email: &str, password: &str, remember: bool) {
    browser
        .type_into(&browser.wait_for("#username").unwrap(), email)
        .unwrap();
    browser
        .type_into(&browser.find("#password").unwrap(), password)
        .unwrap();
    if remember {
        browser.click(&browser.find("#remember_me").unwrap()).unwrap();
    }
    browser.click(&browser.find("#submit").unwrap()).unwrap();
}

fn screenshot(browser: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let _ = browser.screenshot(&dir.join(format!("{name}.png")));
}

#[test]
fn a_user_logs_in_meets_a_403_and_logs_out() {
    let Some(browser) = browser_or_skip() else { return };
    let (server, db) = demo("flow");

    // An anonymous visit to /app lands on the login page, remembering where it was going.
    browser.goto(&server.url("/app")).unwrap();
    let url = browser.url().unwrap();
    assert!(url.ends_with("/login?next=%2Fapp"), "{url}");

    // Log in with the form.
    fill_login(&browser, "user@example.com", "password", false);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    assert_eq!(browser.text(&browser.wait_for("#user").unwrap()).unwrap(), "User");
    assert!(browser.cookie_names().unwrap().contains(&"imia_session".to_owned()));
    screenshot(&browser, "app");

    // The admin page is not for this user.
    browser.goto(&server.url("/admin")).unwrap();
    let source = browser.source().unwrap();
    assert!(!source.contains("admin area"), "{source}");
    assert!(browser.find("#user").is_err());

    // Log out with the button: back on the login page, anonymous again.
    browser.goto(&server.url("/app")).unwrap();
    browser.click(&browser.wait_for("#logout").unwrap()).unwrap();
    browser.wait_for_url(|u| u.ends_with("/login")).unwrap();
    browser.goto(&server.url("/whoami")).unwrap();
    assert!(browser.source().unwrap().contains("\"state\":\"anonymous\""));
    browser.goto(&server.url("/app")).unwrap();
    assert!(browser.url().unwrap().contains("/login?next="));

    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
}

#[test]
fn a_wrong_password_shows_one_generic_message() {
    let Some(browser) = browser_or_skip() else { return };
    let (server, db) = demo("wrong-password");
    log_in(&browser, &server, "root@example.com", "not-the-password", false);
    assert_eq!(
        browser.text(&browser.wait_for("#error").unwrap()).unwrap(),
        "Invalid e-mail or password."
    );
    assert!(!browser.cookie_names().unwrap().contains(&"imia_session".to_owned()));
    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
}

#[test]
fn remember_me_survives_losing_the_session_cookie() {
    let Some(browser) = browser_or_skip() else { return };
    let (server, db) = demo("remember");
    log_in(&browser, &server, "user@example.com", "password", true);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    let cookies = browser.cookie_names().unwrap();
    assert!(cookies.contains(&"imia_remember".to_owned()), "{cookies:?}");

    // The browser loses its session (closed, expired): the remember-me cookie logs it back in.
    browser.delete_cookie("imia_session").unwrap();
    browser.goto(&server.url("/app")).unwrap();
    assert!(browser.url().unwrap().ends_with("/app"));
    assert_eq!(browser.text(&browser.wait_for("#user").unwrap()).unwrap(), "User");
    browser.goto(&server.url("/whoami")).unwrap();
    assert!(browser.source().unwrap().contains("\"state\":\"remembered\""));
    screenshot(&browser, "remembered");
    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
}

#[test]
fn root_impersonates_a_user_and_comes_back() {
    let Some(browser) = browser_or_skip() else { return };
    let (server, db) = demo("impersonate");
    // The user's id, as the API tells it.
    let user_id = server
        .send(&imia_tests::http::Request::get("/api/me?apikey=user-token"))
        .unwrap()
        .json()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    log_in(&browser, &server, "root@example.com", "password", false);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    browser
        .type_into(&browser.wait_for("#user_id").unwrap(), &user_id)
        .unwrap();
    browser.click(&browser.find("#impersonate").unwrap()).unwrap();
    browser
        .wait_for_text("#impersonation-banner", |text| text.contains("User"))
        .unwrap();
    // The page now shows the target as the current user.
    browser.wait_for_text("#user", |name| name == "User").unwrap();
    screenshot(&browser, "impersonating");
    browser.click(&browser.find("#exit-impersonation").unwrap()).unwrap();
    // Exiting lands on `/app` again: wait for the new page, not the URL.
    browser.wait_for_text("#user", |name| name == "Root").unwrap();
    assert!(browser.url().unwrap().ends_with("/app"));
    assert!(browser.find("#impersonation-banner").is_err());
    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
}

#[test]
fn a_user_ends_the_other_browsers_session_from_the_sessions_page() {
    let Some(laptop) = browser_or_skip() else { return };
    let phone = Browser::start().expect("a second headless chromium");
    let (server, db) = demo("sessions");
    for browser in [&laptop, &phone] {
        log_in(browser, &server, "user@example.com", "password", false);
        browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    }

    // On the laptop, the sessions page lists both: this one, and the phone's with an End button.
    laptop.click(&laptop.wait_for("#sessions-link").unwrap()).unwrap();
    laptop
        .wait_for_text("#sessions", |text| {
            text.contains("this session") && text.contains("End")
        })
        .unwrap();
    screenshot(&laptop, "sessions");
    laptop.click(&laptop.find(".end-session").unwrap()).unwrap();
    // Back on the list, with only this session left.
    laptop
        .wait_for_text("#sessions", |text| {
            text.contains("this session") && !text.contains("End")
        })
        .unwrap();

    // The phone is logged out at its next request; the laptop is not.
    phone.goto(&server.url("/app")).unwrap();
    let url = phone.url().unwrap();
    assert!(url.contains("/login?next="), "{url}");
    laptop.goto(&server.url("/app")).unwrap();
    assert_eq!(laptop.text(&laptop.wait_for("#user").unwrap()).unwrap(), "User");
    drop((laptop, phone));
    drop(server);
    let _ = std::fs::remove_file(db);
}
