//! The second factor in the demo: enrolment, the two-step login, recovery codes, removal, and
//! no way around it.

use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test as atest,
};
use futures_util::future::join_all;
use imia::two_factor::TotpSecret;

use super::{Reply, demo, get, login, post_form, remember_cookie, send, with_cookie};

const USER: &str = "user@example.com";

/// The code of the time step `offset` steps from now. Only offsets 0 and +1 are used: both stay
/// within the accepted drift if a step boundary passes before the server checks them.
fn code(secret: &TotpSecret, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    secret.code_at((now + offset * 30) as u64)
}

/// The text of the first element with `id="…"`.
fn element_text(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = open_end + html[open_end..].find('<').unwrap();
    html[open_end..close].to_owned()
}

/// The texts of the elements with class `recovery-code`.
fn recovery_codes(html: &str) -> Vec<String> {
    html.match_indices("class=\"recovery-code\">")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .collect()
}

async fn mfa<S, B>(app: &S, cookie: &str) -> Option<bool>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, with_cookie(get("/whoami"), cookie)).await.json()["mfa"].as_bool()
}

/// Enrols `user` through the account pages: the secret and the recovery codes, and the session
/// (still logged in, fresh) the enrolment was made in.
async fn enrol<S, B>(app: &S, user: &str) -> (TotpSecret, Vec<String>, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let cookie = login(app, user).await;
    let r = send(app, with_cookie(post_form("/account/2fa/setup", &[]), &cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let secret = TotpSecret::from_base32(&element_text(&r.text(), "totp-secret")).expect("a base32 secret");
    let r = send(
        app,
        with_cookie(
            post_form("/account/2fa/confirm", &[("code", &code(&secret, 0))]),
            &cookie,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let codes = recovery_codes(&r.text());
    assert_eq!(codes.len(), 10);
    // Enabling renewed this session's id (and ended the others).
    let cookie = r.session().expect("the renewed session");
    (secret, codes, cookie)
}

/// The first step for `user`: the pending login's session cookie.
async fn password_step<S, B>(app: &S, user: &str, extra: &[(&str, &str)]) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut fields = vec![("username", user), ("password", "password")];
    fields.extend_from_slice(extra);
    send(app, post_form("/login", &fields)).await
}

async fn pending<S, B>(app: &S, user: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = password_step(app, user, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login/2fa"));
    r.session().expect("the pending login's session")
}

fn second_step(cookie: &str, code: &str) -> atest::TestRequest {
    with_cookie(post_form("/login/2fa", &[("code", code)]), cookie)
}

#[actix_web::test]
async fn enrolment_shows_a_secret_and_needs_a_valid_first_code() {
    let app = atest::init_service(demo().await.app()).await;
    let cookie = login(&app, USER).await;
    assert_eq!(mfa(&app, &cookie).await, Some(false));
    let r = send(&app, with_cookie(get("/account/2fa"), &cookie)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text().contains("action=\"/account/2fa/setup\""), "{}", r.text());

    let first = send(&app, with_cookie(post_form("/account/2fa/setup", &[]), &cookie)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let html = first.text();
    assert!(html.contains("<svg"), "an inline QR code");
    assert!(html.contains("action=\"/account/2fa/confirm\"") && html.contains("name=\"code\""));
    let first_secret = element_text(&html, "totp-secret");
    let uri = element_text(&html, "totp-uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={first_secret}")), "{uri}");
    assert!(
        uri.contains("&issuer=imia%20demo&"),
        "the URI as it is, not HTML-escaped: {uri}"
    );
    let first_secret = TotpSecret::from_base32(&first_secret).unwrap();

    // Setting up again replaces the secret: the first one's codes no longer confirm.
    let second = send(&app, with_cookie(post_form("/account/2fa/setup", &[]), &cookie)).await;
    let secret = TotpSecret::from_base32(&element_text(&second.text(), "totp-secret")).unwrap();
    assert_ne!(secret, first_secret);
    let stale = code(&first_secret, 0);
    if stale != code(&secret, 0) && stale != code(&secret, 1) {
        let r = send(
            &app,
            with_cookie(post_form("/account/2fa/confirm", &[("code", &stale)]), &cookie),
        )
        .await;
        assert_eq!(r.status, 400, "the replaced secret's code");
    }
    let r = send(
        &app,
        with_cookie(post_form("/account/2fa/confirm", &[("code", "000000x")]), &cookie),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("name=\"code\""), "the form again");
    assert_eq!(mfa(&app, &cookie).await, Some(false), "nothing enabled");

    let r = send(
        &app,
        with_cookie(
            post_form("/account/2fa/confirm", &[("code", &code(&secret, 0))]),
            &cookie,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let renewed = r.session().expect("a renewed session id");
    assert_ne!(renewed, cookie);
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &cookie)).await.json()["state"],
        "anonymous",
        "the old id is dead"
    );
    let cookie = renewed;
    let codes = recovery_codes(&r.text());
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10,
        "distinct"
    );
    assert_eq!(mfa(&app, &cookie).await, Some(true));
    // The page now offers removal, and setup is refused.
    let page = send(&app, with_cookie(get("/account/2fa"), &cookie)).await.text();
    assert!(page.contains("action=\"/account/2fa/disable\"") && page.contains("name=\"password\""));
    let r = send(&app, with_cookie(post_form("/account/2fa/setup", &[]), &cookie)).await;
    assert_eq!(r.status, 409);
}

#[actix_web::test]
async fn enabling_ends_the_other_sessions_and_keeps_this_one() {
    let app = atest::init_service(demo().await.app()).await;
    let elsewhere = login(&app, USER).await;
    let (_, _, here) = enrol(&app, USER).await;
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &elsewhere)).await.json()["state"],
        "anonymous"
    );
    let me = send(&app, with_cookie(get("/api/me"), &here)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["mfa"], true);
}

#[actix_web::test]
async fn the_account_page_needs_a_fresh_login() {
    let app = atest::init_service(demo().await.app()).await;
    // Anonymous: as `/app`.
    let r = send(&app, get("/account/2fa").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?next=%2Faccount%2F2fa"));
    let r = send(&app, post_form("/account/2fa/setup", &[])).await;
    assert!(r.status == StatusCode::SEE_OTHER || r.status == 401, "{}", r.status);
    // Remembered: log in again.
    let r = password_step(&app, USER, &[("remember_me", "1")]).await;
    let remember = remember_cookie(&r).expect("a remember-me cookie");
    let r = send(&app, with_cookie(get("/account/2fa"), &remember)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?next=%2Faccount%2F2fa"));
    let r = send(&app, with_cookie(post_form("/account/2fa/setup", &[]), &remember)).await;
    assert!(r.status == StatusCode::SEE_OTHER || r.status == 401, "{}", r.status);
    assert!(!r.text().contains("totp-secret"));
}

#[actix_web::test]
async fn a_password_alone_leaves_the_session_anonymous_until_the_code() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    let r = password_step(&app, USER, &[("next", "/account/sessions")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login/2fa"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let pending = r.session().expect("a session cookie for the pending login");
    // Anonymous everywhere until the second step.
    assert_eq!(send(&app, with_cookie(get("/api/me"), &pending)).await.status, 401);
    let who = send(&app, with_cookie(get("/whoami"), &pending)).await.json();
    assert_eq!(
        (who["state"].as_str(), who["mfa"].as_bool()),
        (Some("anonymous"), Some(false))
    );
    assert_eq!(
        send(
            &app,
            with_cookie(get("/app").insert_header(("Accept", "text/html")), &pending)
        )
        .await
        .status,
        StatusCode::SEE_OTHER
    );
    // The code form.
    let r = send(&app, with_cookie(get("/login/2fa"), &pending)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text().contains("name=\"code\"") && r.text().contains("action=\"/login/2fa\""));
    // A wrong code: the form again, still anonymous.
    let r = send(&app, second_step(&pending, "123 45")).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("name=\"code\""));
    assert_eq!(send(&app, with_cookie(get("/api/me"), &pending)).await.status, 401);
    // The right code: a new session id, logged in, on to the first step's `next`.
    let r = send(&app, second_step(&pending, &code(&secret, 1))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), Some("/account/sessions"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let session = r.session().expect("a renewed session");
    assert_ne!(session, pending);
    let me = send(&app, with_cookie(get("/api/me"), &session)).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(
        (me["state"].as_str(), me["mfa"].as_bool()),
        (Some("authenticated"), Some(true))
    );
    assert_eq!(me["username"], USER);
    // The pending cookie is dead.
    assert_eq!(send(&app, with_cookie(get("/api/me"), &pending)).await.status, 401);
}

#[actix_web::test]
async fn without_a_pending_login_the_code_form_sends_to_the_login_page() {
    let app = atest::init_service(demo().await.app()).await;
    let r = send(&app, get("/login/2fa")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    let r = send(&app, post_form("/login/2fa", &[("code", "123456")])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    // A logged-in session without a pending login: the same.
    let cookie = login(&app, USER).await;
    let r = send(&app, with_cookie(get("/login/2fa"), &cookie)).await;
    assert_eq!(r.header("location"), Some("/login"));
}

#[actix_web::test]
async fn remember_me_is_issued_only_after_the_second_step() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    let r = password_step(&app, USER, &[("remember_me", "1")]).await;
    assert_eq!(r.header("location"), Some("/login/2fa"));
    assert!(
        remember_cookie(&r).is_none(),
        "no remember-me cookie for a password alone"
    );
    let pending = r.session().unwrap();
    let r = send(&app, second_step(&pending, "999999")).await;
    assert!(remember_cookie(&r).is_none());
    let r = send(&app, second_step(&pending, &code(&secret, 1))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    let remember = remember_cookie(&r).expect("the remember-me cookie, now");
    // It restores a session: remembered, which did not pass a second factor in this login.
    let r = send(&app, with_cookie(get("/whoami"), &remember)).await;
    assert_eq!(r.json()["state"], "remembered");
}

#[actix_web::test]
async fn a_code_is_accepted_once() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    let used = code(&secret, 1);
    let first = pending(&app, USER).await;
    assert_eq!(
        send(&app, second_step(&first, &used)).await.status,
        StatusCode::SEE_OTHER
    );
    // The same code in a later login: refused.
    let second = pending(&app, USER).await;
    let r = send(&app, second_step(&second, &used)).await;
    assert_eq!(r.status, 400, "a replayed code");
    assert_eq!(send(&app, with_cookie(get("/api/me"), &second)).await.status, 401);
}

#[actix_web::test]
async fn five_wrong_codes_end_the_pending_login() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    let cookie = pending(&app, USER).await;
    for attempt in 1..=5 {
        let r = send(&app, second_step(&cookie, "000000")).await;
        assert_eq!(r.status, 400, "wrong code {attempt}");
    }
    // Even a valid code now goes back to the password.
    let r = send(&app, second_step(&cookie, &code(&secret, 1))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(send(&app, with_cookie(get("/api/me"), &cookie)).await.status, 401);
    assert_eq!(
        send(&app, with_cookie(get("/login/2fa"), &cookie))
            .await
            .header("location"),
        Some("/login")
    );
    // The password again, then the code: in.
    let cookie = pending(&app, USER).await;
    let r = send(&app, second_step(&cookie, &code(&secret, 1))).await;
    assert_eq!(r.header("location"), Some("/app"));
}

#[actix_web::test]
async fn wrong_codes_count_towards_the_login_throttle() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    // Ten failures lock the username: five wrong codes, twice.
    for _ in 0..2 {
        let cookie = pending(&app, USER).await;
        for _ in 0..5 {
            send(&app, second_step(&cookie, "000000")).await;
        }
    }
    // The password step is now refused like a wrong password: no pending login.
    let r = password_step(&app, USER, &[]).await;
    assert_eq!(r.status, 200, "the login form again");
    assert!(r.header("location").is_none());
    let _ = secret;
}

#[actix_web::test]
async fn recovery_codes_log_in_once_each() {
    let app = atest::init_service(demo().await.app()).await;
    let (_, codes, _) = enrol(&app, USER).await;
    let cookie = pending(&app, USER).await;
    let r = send(&app, second_step(&cookie, &codes[0].to_uppercase())).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/app"));
    let session = r.session().unwrap();
    assert_eq!(send(&app, with_cookie(get("/api/me"), &session)).await.status, 200);
    let cookie = pending(&app, USER).await;
    assert_eq!(send(&app, second_step(&cookie, &codes[0])).await.status, 400, "used");
    assert_eq!(
        send(&app, second_step(&cookie, &codes[1])).await.header("location"),
        Some("/app")
    );
    // The account page counts what is left, and new codes replace the old ones.
    let page = send(&app, with_cookie(get("/account/2fa"), &session)).await.text();
    assert!(page.contains(">8<"), "{page}");
    let r = send(
        &app,
        with_cookie(
            post_form("/account/2fa/recovery-codes", &[("password", "nope")]),
            &session,
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &app,
        with_cookie(
            post_form("/account/2fa/recovery-codes", &[("password", "password")]),
            &session,
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let fresh = recovery_codes(&r.text());
    assert_eq!(fresh.len(), 10);
    let cookie = pending(&app, USER).await;
    assert_eq!(
        send(&app, second_step(&cookie, &codes[2])).await.status,
        400,
        "replaced"
    );
    assert_eq!(
        send(&app, second_step(&cookie, &fresh[0])).await.header("location"),
        Some("/app")
    );
}

#[actix_web::test]
async fn one_code_sent_by_many_requests_at_once_logs_in_once() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, _) = enrol(&app, USER).await;
    let cookie = pending(&app, USER).await;
    let code = code(&secret, 1);
    let replies = join_all((0..12).map(|_| send(&app, second_step(&cookie, &code)))).await;
    let logged_in = replies
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER && r.header("location") == Some("/app"))
        .count();
    assert_eq!(
        logged_in,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in &replies {
        assert!(r.status == 400 || r.status == StatusCode::SEE_OTHER, "{}", r.status);
    }
}

#[actix_web::test]
async fn http_basic_refuses_a_user_with_a_second_factor_like_a_wrong_password() {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let app = atest::init_service(demo().await.app()).await;
    let basic = |password: &str| format!("Basic {}", STANDARD.encode(format!("{USER}:{password}")));
    let api = |auth: String| get("/api/me").insert_header(("Authorization", auth));
    assert_eq!(send(&app, api(basic("password"))).await.status, 200, "before");
    let (_, _, cookie) = enrol(&app, USER).await;
    let right = send(&app, api(basic("password"))).await;
    let wrong = send(&app, api(basic("wrong"))).await;
    assert_eq!(
        (right.status, wrong.status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(right.all("www-authenticate"), wrong.all("www-authenticate"));
    assert_eq!(right.body, wrong.body);
    // API keys are credentials of their own: they keep working.
    assert_eq!(send(&app, get("/api/me?apikey=user-token")).await.status, 200);
    // Removed: Basic works again.
    let r = send(
        &app,
        with_cookie(post_form("/account/2fa/disable", &[("password", "password")]), &cookie),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(send(&app, api(basic("password"))).await.status, 200, "after");
}

#[actix_web::test]
async fn removal_needs_the_password_and_ends_other_sessions() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, here) = enrol(&app, USER).await;
    let pending_cookie = pending(&app, USER).await;
    let elsewhere = send(&app, second_step(&pending_cookie, &code(&secret, 1)))
        .await
        .session()
        .unwrap();
    let r = send(
        &app,
        with_cookie(post_form("/account/2fa/disable", &[("password", "wrong")]), &here),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(mfa(&app, &here).await, Some(true), "nothing changed");
    let r = send(
        &app,
        with_cookie(post_form("/account/2fa/disable", &[("password", "password")]), &here),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/account/2fa"));
    let here = r.session().unwrap_or(here);
    assert_eq!(mfa(&app, &here).await, Some(false));
    assert_eq!(
        send(&app, with_cookie(get("/whoami"), &elsewhere)).await.json()["state"],
        "anonymous",
        "the other session ended"
    );
    // One step again.
    login(&app, USER).await;
}

#[actix_web::test]
async fn second_factor_forms_refuse_other_sites() {
    let app = atest::init_service(demo().await.app()).await;
    let (secret, _, cookie) = enrol(&app, USER).await;
    let pending_cookie = pending(&app, USER).await;
    let cross = |req: atest::TestRequest| req.insert_header(("Origin", "https://evil.example"));
    let r = send(&app, cross(second_step(&pending_cookie, &code(&secret, 1)))).await;
    assert_eq!(r.status, 403);
    let r = send(
        &app,
        cross(with_cookie(
            post_form("/account/2fa/disable", &[("password", "password")]),
            &cookie,
        )),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(mfa(&app, &cookie).await, Some(true));
}
