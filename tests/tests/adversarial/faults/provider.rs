//! The user provider fails (unavailable: 503; broken: 500), and the password hasher is busy
//! (503) or broken (500), under every authenticator and the login endpoint.

use std::{
    sync::{Arc, Barrier, atomic::Ordering},
    thread,
};

use imia::{password::Argon2Hasher, provider::InMemoryProvider};

use imia_tests::http::{Client, Request, Response};

use super::common::*;

fn expected_status(fault: Fault) -> u16 {
    match fault {
        Fault::Unavailable => 503,
        _ => 500,
    }
}

#[test]
fn provider_failures_fail_every_authenticator_closed_and_the_server_recovers() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);
    let mut browser = Client::new(server.addr());
    log_in(&mut browser, true);
    let session = browser.jar().get(SESSION).unwrap().to_owned();
    let remember = browser.jar().get(REMEMBER).unwrap().to_owned();
    assert_served_for_ann(&browser.get("/app").unwrap(), "app", "before the fault");

    for fault in [Fault::Unavailable, Fault::Broken] {
        fx.users.fault.set(fault);
        let status = Some(expected_status(fault));
        let ctx = |what: &str| format!("{fault:?}: {what}");

        // The session, on a page (which would otherwise redirect) and on the API (401 otherwise).
        for target in ["/app", "/api/me", "/login"] {
            let resp = server.send(&with_cookie(target, SESSION, &session)).unwrap();
            assert_fails_closed(&resp, status, &ctx(&format!("session cookie on {target}")));
        }
        // Remember-me alone: its token is found, then the user cannot be loaded.
        for target in ["/app", "/api/me"] {
            let resp = server.send(&with_cookie(target, REMEMBER, &remember)).unwrap();
            assert_fails_closed(&resp, status, &ctx(&format!("remember-me cookie on {target}")));
        }
        // Basic, Bearer, API keys (query and header).
        for (name, req) in credential_requests() {
            assert_fails_closed(&server.send(&req).unwrap(), status, &ctx(name));
        }
        // The public route needs no lookup, with or without a session.
        let public = server.get("/public").unwrap();
        assert_eq!((public.status, public.text().as_ref()), (200, "public::anonymous"));
        let public = server.send(&with_cookie("/public", SESSION, &session)).unwrap();
        assert_eq!(public.status, 200, "{public:?}");
        // Anonymous requests are refused as usual: nothing to look up.
        assert_eq!(server.get("/api/me").unwrap().status, 401);
        let anon = server.get("/app").unwrap();
        assert_eq!(
            (anon.status, anon.header("location")),
            (303, Some("/login?next=%2Fapp"))
        );
    }

    fx.users.fault.set(Fault::None);
    assert_served_for_ann(
        &browser.get("/app").unwrap(),
        "app",
        "after the fault: the session survived",
    );
    for (name, req) in credential_requests() {
        assert_served_for_ann(&server.send(&req).unwrap(), "me", name);
    }
    let resp = server.send(&with_cookie("/api/me", REMEMBER, &remember)).unwrap();
    assert_served_for_ann(&resp, "me", "remember-me after the fault: the token was kept");
}

#[test]
fn login_during_a_provider_outage_is_generic_and_never_counts_as_a_failure() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);

    for fault in [Fault::Unavailable, Fault::Broken] {
        fx.users.fault.set(fault);
        // More attempts than the throttle allows: none may count.
        for attempt in 0..THROTTLE_MAX + 2 {
            for remember in [false, true] {
                let resp = server.send(&login_request(remember)).unwrap();
                let ctx = format!("{fault:?}, attempt {attempt}, remember {remember}");
                assert_fails_closed(&resp, Some(expected_status(fault)), &ctx);
                assert!(!resp.text().contains(LOGIN_FAILED), "{ctx}: no credential verdict");
            }
        }
        // A wrong password fails the same way: the verdict is never reached.
        let wrong = Request::post("/login").form(&[("username", ANN.0), ("password", "wrong")]);
        assert_fails_closed(
            &server.send(&wrong).unwrap(),
            Some(expected_status(fault)),
            "wrong password",
        );
    }
    assert_eq!(fx.throttle.failures(), 0, "an outage is not a failed login");
    assert_eq!(fx.store.logged_in(), 0, "no session was stored");

    fx.users.fault.set(Fault::None);
    // Had the outage been counted, the throttle would now refuse even the right password.
    let mut client = Client::new(server.addr());
    log_in(&mut client, false);
    assert_served_for_ann(&client.get("/app").unwrap(), "app", "logged in after the outage");
    // And the throttle still works: real failures are counted.
    let wrong = Request::post("/login").form(&[("username", ANN.0), ("password", "wrong")]);
    let resp = server.send(&wrong).unwrap();
    assert_eq!((resp.status, resp.text().as_ref()), (200, LOGIN_FAILED));
    assert_eq!(fx.throttle.failures(), 1);
}

#[test]
fn a_busy_or_broken_password_hasher_fails_closed_without_counting() {
    let fx = Fixture::new(memory_users(), FlakySessions::default(), memory_tokens());
    let server = serve(&fx);

    for (fault, status) in [(Fault::Unavailable, 503), (Fault::Broken, 500)] {
        fx.hasher.fault.set(fault);
        for attempt in 0..THROTTLE_MAX + 1 {
            let ctx = format!("hasher {fault:?}, login attempt {attempt}");
            assert_fails_closed(&server.send(&login_request(true)).unwrap(), Some(status), &ctx);
        }
        let basic = Request::get("/api/me").header("Authorization", basic());
        assert_fails_closed(
            &server.send(&basic).unwrap(),
            Some(status),
            &format!("hasher {fault:?}: Basic"),
        );
        // Credentials that need no password still work.
        let bearer = Request::get("/api/me").header("Authorization", format!("Bearer {}", ANN.2));
        assert_served_for_ann(&server.send(&bearer).unwrap(), "me", "Bearer while the hasher fails");
    }
    assert_eq!(fx.throttle.failures(), 0, "a hasher failure is not a failed login");
    assert_eq!(fx.throttle.successes.load(Ordering::SeqCst), 0);
    assert_eq!(fx.store.logged_in(), 0, "no session was stored");

    fx.hasher.fault.set(Fault::None);
    let mut client = Client::new(server.addr());
    log_in(&mut client, false);
    let basic = Request::get("/api/me").header("Authorization", basic());
    assert_served_for_ann(&server.send(&basic).unwrap(), "me", "Basic after the hasher recovered");
}

#[test]
fn a_full_password_hashing_queue_answers_503_and_never_counts() {
    // Argon2 at full cost (19 MiB a hash) in this process: not while a test measures its memory.
    let _heavy = imia_tests::serial::allocate_heavily();
    // The real argon2id hasher, with room for one hash running and one waiting.
    let argon2 = Argon2Hasher::builder()
        .params(imia::password::OWASP_MEMORY_KIB, 6, 1)
        .max_concurrent(1)
        .max_queue(1)
        .build()
        .expect("valid parameters");
    let hash = actix_rt::System::new().block_on(argon2.hash(ANN.1)).expect("a hash");
    let users = FlakyProvider::new(InMemoryProvider::new([User {
        password: hash,
        ..ann()
    }]));
    let mut fx = Fixture::new(users, FlakySessions::default(), memory_tokens());
    fx.hasher.argon2 = Some(argon2);
    let server = serve(&fx);

    // Many logins and Basic requests at once, all with the right password.
    let clients = 12;
    let start = Arc::new(Barrier::new(clients));
    let answers: Vec<(bool, Response)> = (0..clients)
        .map(|i| {
            let (start, addr) = (Arc::clone(&start), server.addr());
            thread::spawn(move || {
                let login = i % 2 == 0;
                let req = if login {
                    login_request(false)
                } else {
                    Request::get("/api/me").header("Authorization", basic())
                };
                start.wait();
                (login, imia_tests::http::send(addr, &req).expect("an answer"))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("the client thread"))
        .collect();
    let mut busy = 0;
    for (login, resp) in &answers {
        if resp.status == 503 {
            busy += 1;
            assert_fails_closed(resp, Some(503), "a full hashing queue");
        } else if *login {
            assert_eq!(resp.status, 303, "login served or refused as busy: {resp:?}");
        } else {
            assert_served_for_ann(resp, "me", "Basic served or refused as busy");
        }
    }
    assert!(
        busy > 0,
        "{clients} verifications at once overflow a queue of 2: {answers:?}"
    );
    assert!(busy < clients, "some were served: {answers:?}");
    assert_eq!(fx.throttle.failures(), 0, "a busy hasher is not a failed login");
    let mut client = Client::new(server.addr());
    log_in(&mut client, false);
}
