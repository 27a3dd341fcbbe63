//! Writes that fail half-way: the session store cannot save after a successful login, and the
//! remember-me store cannot rotate a token.

use std::time::Duration;

use imia::remember::RememberStore as _;
use imia_tests::http::{Client, Request};

use super::common::*;

#[test]
fn a_session_that_cannot_be_saved_after_login_logs_nobody_in() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);

    fx.store.write_fault.set(Fault::Broken);
    for remember in [false, true] {
        let mut client = Client::new(server.addr());
        let resp = client.send(&login_request(remember)).unwrap();
        // The credentials were right, but the login could not be stored: all or nothing.
        assert_fails_closed(&resp, Some(500), &format!("login, remember {remember}"));
        assert!(client.jar().is_empty(), "no cookie at all: {:?}", client.jar());
        assert_eq!(fx.store.logged_in(), 0, "no session holds the login");
        // The client is not half logged in.
        assert_eq!(client.get("/api/me").unwrap().status, 401);
        let page = client.get("/app").unwrap();
        assert_eq!(page.status, 303, "{page:?}");
    }

    // A client that already has a session (logged in before the fault) cannot switch users
    // either: the renewed session is not stored, and the old one still holds only the old login.
    fx.store.write_fault.set(Fault::None);
    let mut client = Client::new(server.addr());
    log_in(&mut client, false);
    let before = client.jar().get(SESSION).unwrap().to_owned();
    fx.store.write_fault.set(Fault::Broken);
    let resp = client.send(&login_request(false)).unwrap();
    assert_fails_closed(&resp, Some(500), "login over an existing session");
    assert_eq!(
        client.jar().get(SESSION),
        Some(before.as_str()),
        "the cookie was not replaced"
    );
    // Public pages and credentials that need no session keep working during the fault.
    assert_eq!(server.get("/public").unwrap().status, 200);
    let bearer = Request::get("/api/me").header("Authorization", format!("Bearer {}", ANN.2));
    assert_served_for_ann(
        &server.send(&bearer).unwrap(),
        "me",
        "Bearer while sessions cannot be saved",
    );

    fx.store.write_fault.set(Fault::None);
    let mut client = Client::new(server.addr());
    log_in(&mut client, true);
    assert_served_for_ann(&client.get("/app").unwrap(), "app", "login after the store recovered");
}

#[test]
fn a_failed_remember_me_rotation_logs_nobody_in_and_keeps_the_token() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);
    let mut browser = Client::new(server.addr());
    log_in(&mut browser, true);
    let remember = browser.jar().get(REMEMBER).unwrap().to_owned();
    let selector = remember.split(':').next().unwrap().to_owned();
    let stored = || {
        actix_rt::System::new()
            .block_on(fx.tokens.inner.find(&selector))
            .expect("the in-memory store answers")
    };
    let before = stored().expect("the token is stored");
    let sessions_before = fx.store.logged_in();

    fx.tokens.rotate_fault.set(Fault::Unavailable);
    for target in ["/api/me", "/app"] {
        let resp = server.send(&with_cookie(target, REMEMBER, &remember)).unwrap();
        // An outage, like a failed lookup: not logged in from the cookie, and neither a 401 nor
        // a login redirect that would hide it. No session was created, and the remember-me
        // cookie was neither cleared nor replaced (`assert_fails_closed` checks for no cookie).
        assert_fails_closed(
            &resp,
            Some(503),
            &format!("{target}: remember-me rotation while its store is down"),
        );
        assert!(!resp.text().contains(ANN.0), "{target}: {resp:?}");
    }
    assert_eq!(fx.store.logged_in(), sessions_before, "no session was created");
    let after = stored().expect("the token is kept");
    assert_eq!(
        after.validator_hash, before.validator_hash,
        "the stored validator is unchanged"
    );

    // A lookup failure is an outage: 503, not a denial.
    fx.tokens.rotate_fault.set(Fault::None);
    fx.tokens.find_fault.set(Fault::Unavailable);
    let resp = server.send(&with_cookie("/api/me", REMEMBER, &remember)).unwrap();
    assert_fails_closed(&resp, Some(503), "remember-me lookup while its store is down");
    fx.tokens.find_fault.set(Fault::None);

    // Once the store writes again, the same cookie logs Ann back in (and rotates).
    let mut returning = Client::new(server.addr());
    returning.jar_mut().insert(REMEMBER, remember.clone());
    let resp = returning.get("/api/me").unwrap();
    assert_served_for_ann(&resp, "me", "the kept token works after the store recovered");
    assert!(resp.text().ends_with(":remembered"), "{resp:?}");
    assert_ne!(returning.jar().get(REMEMBER), Some(remember.as_str()), "rotated");
    assert!(returning.jar().get(SESSION).is_some(), "a session was restored");
    assert_served_for_ann(&returning.get("/app").unwrap(), "app", "the restored session");
}

#[test]
fn a_session_store_that_fails_or_hangs_on_load_fails_closed_in_time_and_only_for_sessions() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);
    let mut browser = Client::new(server.addr());
    log_in(&mut browser, true);
    let session = browser.jar().get(SESSION).unwrap().to_owned();
    let mut remember = browser.jar().get(REMEMBER).unwrap().to_owned();
    // The store's deadline (`TimeoutSessionStore`, 1 s here) and slack for a loaded machine.
    let bound = fx.store_timeout + Duration::from_secs(3);

    for fault in [Fault::Broken, Fault::Hang] {
        fx.store.load_fault.set(fault);
        for target in ["/app", "/api/me", "/public", "/login"] {
            let ctx = format!("session store {fault:?}: session cookie on {target}");
            let resp = timed(bound, || server.send(&with_cookie(target, SESSION, &session)), &ctx);
            assert_fails_closed(&resp, Some(500), &ctx);
        }
        // Requests without a session cookie never touch the store.
        let ctx = format!("session store {fault:?}");
        let public = timed(bound, || server.get("/public"), &ctx);
        assert_eq!(
            (public.status, public.text().as_ref()),
            (200, "public::anonymous"),
            "{ctx}"
        );
        let bearer = Request::get("/api/me").header("Authorization", format!("Bearer {}", ANN.2));
        assert_served_for_ann(&timed(bound, || server.send(&bearer), &ctx), "me", &ctx);
        // Remember-me alone restores a session (it needs no load), whose next request fails.
        let mut returning = Client::new(server.addr());
        returning.jar_mut().insert(REMEMBER, remember.clone());
        let resp = timed(bound, || returning.get("/api/me"), &ctx);
        assert_served_for_ann(&resp, "me", &format!("{ctx}: remember-me"));
        let resp = timed(bound, || returning.get("/api/me"), &ctx);
        assert_fails_closed(&resp, Some(500), &format!("{ctx}: the restored session"));
        // The token rotated: the next round presents the new one.
        remember = returning.jar().get(REMEMBER).expect("a rotated token").to_owned();
    }

    fx.store.load_fault.set(Fault::None);
    assert_served_for_ann(&browser.get("/app").unwrap(), "app", "the session survived the outage");
}
