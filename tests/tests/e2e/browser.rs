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

/// The code of the time step `offset` steps from now (0 or +1: both stay within the accepted
/// drift if a step boundary passes before the demo checks them).
fn totp_code(secret: &imia::two_factor::TotpSecret, offset: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    secret.code_at(now + offset * 30)
}

/// Logs out with the button on `/app`.
fn log_out(browser: &Browser, server: &ExampleServer) {
    browser.goto(&server.url("/app")).unwrap();
    browser.click(&browser.wait_for("#logout").unwrap()).unwrap();
    browser.wait_for_url(|u| u.ends_with("/login")).unwrap();
}

/// Types `code` into the second step's form and submits it.
fn enter_code(browser: &Browser, code: &str) {
    browser.type_into(&browser.wait_for("#code").unwrap(), code).unwrap();
    browser.click(&browser.find("#submit-code").unwrap()).unwrap();
}

#[test]
fn a_user_enrols_a_second_factor_and_logs_in_with_a_code_then_a_recovery_code() {
    let Some(browser) = browser_or_skip() else { return };
    let (server, db) = demo("two-factor");
    log_in(&browser, &server, "user@example.com", "password", false);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();

    // Enrol from the account page: the QR code, the secret, and a first code from it.
    browser.click(&browser.wait_for("#two-factor-link").unwrap()).unwrap();
    browser.click(&browser.wait_for("#setup-2fa").unwrap()).unwrap();
    let secret = browser.text(&browser.wait_for("#totp-secret").unwrap()).unwrap();
    assert!(browser.find("#totp-qr svg").is_ok(), "an inline QR code");
    let uri = browser.text(&browser.find("#totp-uri").unwrap()).unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    screenshot(&browser, "two-factor-setup");
    let secret = imia::two_factor::TotpSecret::from_base32(&secret).expect("a base32 secret on the page");
    browser
        .type_into(&browser.find("#code").unwrap(), &totp_code(&secret, 0))
        .unwrap();
    browser.click(&browser.find("#confirm-2fa").unwrap()).unwrap();
    browser.wait_for("#recovery-codes").unwrap();
    let source = browser.source().unwrap();
    let codes: Vec<String> = source
        .match_indices("class=\"recovery-code\">")
        .map(|(at, m)| source[at + m.len()..].split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{source}");
    screenshot(&browser, "two-factor-recovery-codes");
    browser.goto(&server.url("/whoami")).unwrap();
    assert!(browser.source().unwrap().contains("\"mfa\":true"));

    // Log out, then in: the password leads to the code form, the code to the app.
    log_out(&browser, &server);
    fill_login(&browser, "user@example.com", "password", false);
    browser.wait_for_url(|u| u.ends_with("/login/2fa")).unwrap();
    screenshot(&browser, "two-factor-login");
    enter_code(&browser, &totp_code(&secret, 1));
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    assert_eq!(browser.text(&browser.wait_for("#user").unwrap()).unwrap(), "User");

    // And with a recovery code instead of the app.
    log_out(&browser, &server);
    fill_login(&browser, "user@example.com", "password", false);
    browser.wait_for_url(|u| u.ends_with("/login/2fa")).unwrap();
    enter_code(&browser, &codes[0]);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    assert_eq!(browser.text(&browser.wait_for("#user").unwrap()).unwrap(), "User");
    browser.goto(&server.url("/whoami")).unwrap();
    let whoami = browser.source().unwrap();
    assert!(
        whoami.contains("\"state\":\"authenticated\"") && whoami.contains("\"mfa\":true"),
        "{whoami}"
    );

    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
}

#[test]
fn a_user_resets_a_forgotten_password_through_the_mailed_link() {
    let Some(browser) = browser_or_skip() else { return };
    let mail_dir = std::env::temp_dir().join(format!("imia-browser-mail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&mail_dir);
    let db = std::env::temp_dir().join(format!("imia-browser-{}-reset.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", db.to_str().expect("a UTF-8 temp path")),
            ("MAIL_DIR", mail_dir.to_str().expect("a UTF-8 temp path")),
        ],
    )
    .expect("the demo starts");

    // From the login page: "Forgot your password?", the address, the same answer as for anyone.
    browser.goto(&server.url("/login")).unwrap();
    browser.click(&browser.wait_for("#forgot-link").unwrap()).unwrap();
    browser
        .type_into(&browser.wait_for("#email").unwrap(), "user@example.com")
        .unwrap();
    browser.click(&browser.find("#send-link").unwrap()).unwrap();
    browser.wait_for("#sent").unwrap();
    screenshot(&browser, "password-forgot");

    // The mailed link, as the demo wrote it into MAIL_DIR.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let message = loop {
        let found = std::fs::read_dir(&mail_dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .and_then(|e| std::fs::read_to_string(e.path()).ok())
        });
        if let Some(message) = found {
            break message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail in {}",
            mail_dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let origin = server.url("");
    let at = message
        .find(&format!("{origin}/password/reset/"))
        .expect("a reset link");
    let link = message[at..].split_whitespace().next().unwrap().to_owned();

    // Follow it, set a new password, log in with it.
    browser.goto(&link).unwrap();
    browser
        .type_into(&browser.wait_for("#new_password").unwrap(), "browser-new-pass")
        .unwrap();
    screenshot(&browser, "password-reset");
    browser.click(&browser.find("#set-password").unwrap()).unwrap();
    browser.wait_for_url(|u| u.ends_with("/login")).unwrap();
    fill_login(&browser, "user@example.com", "browser-new-pass", false);
    browser.wait_for_url(|u| u.ends_with("/app")).unwrap();
    assert_eq!(browser.text(&browser.wait_for("#user").unwrap()).unwrap(), "User");

    drop(browser);
    drop(server);
    let _ = std::fs::remove_file(db);
    let _ = std::fs::remove_dir_all(mail_dir);
}
