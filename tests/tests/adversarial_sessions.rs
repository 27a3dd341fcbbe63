//! Adversarial session tests against the demo binary over real sockets: session fixation,
//! replay after logout, and the end of other sessions when the password changes or the user is
//! disabled or deleted, on every session store the demo offers (SQLite, PostgreSQL, Redis and
//! the cookie itself).
//!
//! Server-side stores need their server: PostgreSQL (`IMIA_TEST_POSTGRES_URL` and `psql`),
//! Redis (`IMIA_TEST_REDIS_URL`), and the `sqlite3` client to reach into the SQLite file. A
//! missing one skips its part with a message, except under `CI=true`, where it fails.

use imia::provider::hash_token;
use imia_tests::{
    http::{Client, Request},
    server::ExampleServer,
    session_attack::{
        DEMO_SECRET, PASSWORD, REMEMBER_COOKIE, SESSION_COOKIE, Store, client_with, login, post_form, redis_store,
        server_side_stores, session_key, set_cookie, sqlite_store, try_login, whoami,
    },
};

/// The session key behind the client's session cookie.
fn key_of(client: &Client) -> String {
    let sealed = client.jar().get(SESSION_COOKIE).expect("a session cookie");
    session_key(sealed, DEMO_SECRET).expect("the session cookie opens with the demo's key")
}

fn anonymous(client: &mut Client) -> bool {
    whoami(client).0 == "anonymous"
}

/// A live, anonymous server-side session planted by an attacker (as if they had obtained it from
/// the app and pushed it into the victim's browser): the cookie value that carries it.
fn plant_anonymous_session(store: &Store) -> (String, String) {
    let key = format!(
        "{:x<64}",
        imia_tests::session_attack::unique("attacker").replace('_', "x")
    );
    store
        .write_session(&key, &hash_token(&key), r#"{"cart":"\"planted\""}"#)
        .expect("the store takes the planted session");
    let sealed = imia_tests::session_attack::seal_session_key(&key, DEMO_SECRET).expect("sealable");
    (key, sealed)
}

#[test]
fn login_never_keeps_a_planted_session_id() {
    for store in server_side_stores("adv_fixation") {
        let demo = start_demo(&store);
        let (planted_key, planted) = plant_anonymous_session(&store);
        let mut victim = client_with(demo.addr(), &[(SESSION_COOKIE, &planted)]);
        assert!(anonymous(&mut victim), "{store:?}: the planted session is anonymous");
        assert!(
            store
                .read_session(&planted_key, &hash_token(&planted_key))
                .unwrap()
                .is_some(),
            "{store:?}: the planted session is live before the login"
        );

        login(&mut victim, "root@example.com");
        let after = key_of(&victim);
        assert_ne!(after, planted_key, "{store:?}: the login renewed the session id");
        assert_eq!(whoami(&mut victim).1.as_deref(), Some("root@example.com"));
        assert_eq!(
            store.read_session(&planted_key, &hash_token(&planted_key)).unwrap(),
            None,
            "{store:?}: the planted session is gone from the store"
        );
        // The attacker, still holding the planted cookie, is nobody.
        let mut attacker = client_with(demo.addr(), &[(SESSION_COOKIE, &planted)]);
        assert!(
            anonymous(&mut attacker),
            "{store:?}: the planted cookie did not get the login"
        );
        let api = attacker.send(&Request::get("/api/me")).unwrap();
        assert_eq!(api.status, 401, "{store:?}");
    }
}

#[test]
fn an_attackers_own_logged_in_session_is_replaced_when_the_victim_logs_in() {
    let Some(store) = sqlite_store("adv_fixation_own") else {
        return;
    };
    let demo = start_demo(&store);
    let mut attacker = demo.client();
    login(&mut attacker, "user@example.com");
    let attacker_key = key_of(&attacker);
    let planted = attacker.jar().get(SESSION_COOKIE).unwrap().to_owned();

    let mut victim = client_with(demo.addr(), &[(SESSION_COOKIE, &planted)]);
    assert_eq!(whoami(&mut victim).1.as_deref(), Some("user@example.com"));
    login(&mut victim, "root@example.com");
    assert_ne!(key_of(&victim), attacker_key);
    assert_eq!(whoami(&mut victim).1.as_deref(), Some("root@example.com"));
    // The attacker's copy is neither root nor still user: that session ended.
    assert!(
        anonymous(&mut attacker),
        "the planted session ended at the victim's login"
    );
}

#[test]
fn remember_me_restore_never_keeps_a_planted_session_id() {
    for store in server_side_stores("adv_fixation_remember") {
        let demo = start_demo(&store);
        let mut owner = demo.client();
        let resp = try_login(&mut owner, "user@example.com", PASSWORD, true);
        assert_eq!(resp.status, 303);
        let remember = owner
            .jar()
            .get(REMEMBER_COOKIE)
            .expect("a remember-me cookie")
            .to_owned();

        let (planted_key, planted) = plant_anonymous_session(&store);
        let mut victim = client_with(demo.addr(), &[(SESSION_COOKIE, &planted), (REMEMBER_COOKIE, &remember)]);
        let (state, who) = whoami(&mut victim);
        assert_eq!(
            (state.as_str(), who.as_deref()),
            ("remembered", Some("user@example.com"))
        );
        assert_ne!(
            key_of(&victim),
            planted_key,
            "{store:?}: the restore renewed the session id"
        );
        let mut attacker = client_with(demo.addr(), &[(SESSION_COOKIE, &planted)]);
        assert!(
            anonymous(&mut attacker),
            "{store:?}: the planted cookie did not get the login"
        );
    }
}

#[test]
fn impersonation_start_and_stop_renew_the_session_id() {
    for store in server_side_stores("adv_fixation_imp") {
        let demo = start_demo(&store);
        let mut root = demo.client();
        login(&mut root, "root@example.com");
        let before = key_of(&root);
        let before_cookie = root.jar().get(SESSION_COOKIE).unwrap().to_owned();
        let user_id = store
            .sql("SELECT id FROM users WHERE email = 'user@example.com'")
            .expect("the users table answers");
        let resp = root.send(&post_form("/impersonate", &[("user_id", &user_id)])).unwrap();
        assert_eq!(resp.status, 303, "{store:?}: {}", resp.text());
        let during = key_of(&root);
        assert_ne!(during, before, "{store:?}: impersonation start renewed the id");
        assert_eq!(whoami(&mut root).1.as_deref(), Some("user@example.com"));
        // The pre-impersonation cookie is dead, not root and not the target.
        let mut old = client_with(demo.addr(), &[(SESSION_COOKIE, &before_cookie)]);
        assert!(anonymous(&mut old), "{store:?}");

        let during_cookie = root.jar().get(SESSION_COOKIE).unwrap().to_owned();
        let resp = root.send(&post_form("/impersonate/exit", &[])).unwrap();
        assert_eq!(resp.status, 303);
        let after = key_of(&root);
        assert_ne!(after, during, "{store:?}: impersonation stop renewed the id");
        assert_eq!(whoami(&mut root).1.as_deref(), Some("root@example.com"));
        let mut old = client_with(demo.addr(), &[(SESSION_COOKIE, &during_cookie)]);
        assert!(anonymous(&mut old), "{store:?}: the impersonating cookie is dead");
    }
}

fn start_demo(store: &Store) -> ExampleServer {
    imia_tests::session_attack::start_demo(store)
}

#[test]
fn a_cookie_captured_before_logout_is_anonymous_afterwards_on_server_side_stores() {
    for store in server_side_stores("adv_replay") {
        let demo = start_demo(&store);
        let mut victim = demo.client();
        login(&mut victim, "root@example.com");
        let captured = victim.jar().get(SESSION_COOKIE).unwrap().to_owned();
        let key = key_of(&victim);
        assert!(store.read_session(&key, &hash_token(&key)).unwrap().is_some());

        let resp = victim.send(&post_form("/logout", &[])).unwrap();
        assert_eq!(resp.status, 303, "{store:?}");
        assert_eq!(
            store.read_session(&key, &hash_token(&key)).unwrap(),
            None,
            "{store:?}: logout deleted the session server-side"
        );
        let mut thief = client_with(demo.addr(), &[(SESSION_COOKIE, &captured)]);
        assert!(anonymous(&mut thief), "{store:?}: the replayed cookie is anonymous");
        for target in ["/api/me", "/api/admin"] {
            let resp = thief.send(&Request::get(target)).unwrap();
            assert_eq!(resp.status, 401, "{store:?} {target}");
        }
        let resp = thief.send(&Request::get("/admin")).unwrap();
        assert_ne!(resp.status, 200, "{store:?}: /admin refuses the replay");
        assert!(
            resp.header("location").is_some_and(|l| l.starts_with("/login")),
            "{store:?}: /admin sends the replay to the login page"
        );
        // Replaying it with a state change does not bring it back either.
        let resp = thief
            .send(&post_form(
                "/account/password",
                &[("current_password", PASSWORD), ("new_password", "x")],
            ))
            .unwrap();
        assert!(
            resp.header("location").is_some_and(|l| l.starts_with("/login")),
            "{store:?}: the replay is sent to the login page, the password is untouched"
        );
        assert!(anonymous(&mut thief), "{store:?}");
        let mut owner = demo.client();
        login(&mut owner, "root@example.com");
    }
}

/// SECURITY.md, "Known limits": with the cookie store, a copy of a session cookie made before
/// logout stays valid until the password changes. This pins that exact behaviour: it fails if
/// the limit silently widens (the copy survives a password change) or disappears (then the
/// documentation must change).
#[test]
fn cookie_store_replay_is_exactly_the_documented_limit() {
    if !imia_tests::session_attack::have_sqlite3() {
        return;
    }
    let store = Store::Cookie(imia_tests::session_attack::temp_sqlite("adv_cookie_replay"));
    let demo = start_demo(&store);
    let mut victim = demo.client();
    login(&mut victim, "user@example.com");
    let captured = victim.jar().get(SESSION_COOKIE).unwrap().to_owned();
    let resp = victim.send(&post_form("/logout", &[])).unwrap();
    assert_eq!(resp.status, 303);
    assert!(anonymous(&mut victim), "the browser that logged out is anonymous");

    // The documented limit: the copy still authenticates after logout.
    let mut thief = client_with(demo.addr(), &[(SESSION_COOKIE, &captured)]);
    assert_eq!(
        whoami(&mut thief),
        ("authenticated".to_owned(), Some("user@example.com".to_owned())),
        "SECURITY.md says a copied cookie-store session survives logout; update it if this changed"
    );

    // ... and only until the password changes.
    let mut owner = demo.client();
    login(&mut owner, "user@example.com");
    let resp = owner
        .send(&post_form(
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "n3w-pass")],
        ))
        .unwrap();
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert!(anonymous(&mut thief), "the copy ends with the password change");
    let mut replay_again = client_with(demo.addr(), &[(SESSION_COOKIE, &captured)]);
    assert_eq!(replay_again.send(&Request::get("/api/me")).unwrap().status, 401);
}

#[test]
fn a_remember_me_cookie_replayed_after_logout_is_refused() {
    let stores: Vec<Store> = [sqlite_store("adv_remember_replay"), redis_store("adv_remember_replay")]
        .into_iter()
        .flatten()
        .collect();
    for store in stores {
        let demo = start_demo(&store);
        let mut victim = demo.client();
        assert_eq!(try_login(&mut victim, "user@example.com", PASSWORD, true).status, 303);
        let remember = victim
            .jar()
            .get(REMEMBER_COOKIE)
            .expect("a remember-me cookie")
            .to_owned();
        let tokens = store
            .sql("SELECT COUNT(*) FROM imia_remember_tokens")
            .expect("the token table answers");
        assert_eq!(tokens, "1", "{store:?}");

        let resp = victim.send(&post_form("/logout", &[])).unwrap();
        assert_eq!(resp.status, 303);
        assert!(
            resp.header_all("set-cookie")
                .iter()
                .any(|c| c.starts_with(&format!("{REMEMBER_COOKIE}=")) && c.contains("Max-Age=0")),
            "{store:?}: logout clears the remember-me cookie: {:?}",
            resp.header_all("set-cookie")
        );
        assert_eq!(
            store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(),
            "0",
            "{store:?}"
        );
        let mut thief = client_with(demo.addr(), &[(REMEMBER_COOKIE, &remember)]);
        let resp = thief.send(&Request::get("/whoami")).unwrap();
        assert_eq!(resp.json().unwrap()["state"], "anonymous", "{store:?}");
        assert_eq!(
            set_cookie(&resp, SESSION_COOKIE),
            None,
            "{store:?}: no session was created"
        );
        assert_eq!(thief.send(&Request::get("/api/me")).unwrap().status, 401, "{store:?}");
    }
}

#[test]
fn a_password_change_ends_every_other_session_and_remember_me_token() {
    for store in server_side_stores("adv_password_change") {
        let demo = start_demo(&store);
        let mut here = demo.client();
        let mut there = demo.client();
        assert_eq!(try_login(&mut here, "user@example.com", PASSWORD, true).status, 303);
        assert_eq!(try_login(&mut there, "user@example.com", PASSWORD, true).status, 303);
        let there_remember = there.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
        let there_session = there.jar().get(SESSION_COOKIE).unwrap().to_owned();
        let here_before = key_of(&here);
        assert_eq!(whoami(&mut there).0, "authenticated");

        let resp = here
            .send(&post_form(
                "/account/password",
                &[("current_password", PASSWORD), ("new_password", "n3w-pass")],
            ))
            .unwrap();
        assert_eq!(resp.status, 303, "{store:?}: {}", resp.text());
        assert_ne!(
            key_of(&here),
            here_before,
            "{store:?}: the changing session got a new id"
        );
        assert_eq!(
            whoami(&mut here).0,
            "authenticated",
            "{store:?}: the changing session stays"
        );

        // The other browser: its session and its remember-me cookie are both worthless now.
        assert!(anonymous(&mut there), "{store:?}: the other session ended");
        let mut by_token = client_with(demo.addr(), &[(REMEMBER_COOKIE, &there_remember)]);
        assert!(anonymous(&mut by_token), "{store:?}: its remember-me token was revoked");
        let mut both = client_with(
            demo.addr(),
            &[(SESSION_COOKIE, &there_session), (REMEMBER_COOKIE, &there_remember)],
        );
        assert_eq!(both.send(&Request::get("/api/me")).unwrap().status, 401, "{store:?}");
        // The new password logs in; the old one no longer does.
        let mut fresh = demo.client();
        assert_eq!(try_login(&mut fresh, "user@example.com", PASSWORD, false).status, 200);
        assert_eq!(try_login(&mut fresh, "user@example.com", "n3w-pass", false).status, 303);
    }
}

/// Sessions and remember-me cookies of `user@example.com`, then `change` applied to the users
/// table behind the server's back: both must be anonymous on their next request.
fn sessions_end_when_the_user_row_changes(prefix: &str, change: &str) {
    for store in server_side_stores(prefix) {
        let demo = start_demo(&store);
        let mut by_session = demo.client();
        login(&mut by_session, "user@example.com");
        let mut by_remember = demo.client();
        assert_eq!(
            try_login(&mut by_remember, "user@example.com", PASSWORD, true).status,
            303
        );
        let remember = by_remember.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
        let key = key_of(&by_session);
        assert_eq!(whoami(&mut by_session).0, "authenticated");

        store.sql(change).expect("the users table takes the change");

        assert!(
            anonymous(&mut by_session),
            "{store:?} after {change:?}: the session ended"
        );
        assert_eq!(
            store.read_session(&key, &hash_token(&key)).unwrap(),
            None,
            "{store:?}: the stale session was purged from the store"
        );
        let mut restore = client_with(demo.addr(), &[(REMEMBER_COOKIE, &remember)]);
        assert!(
            anonymous(&mut restore),
            "{store:?} after {change:?}: no restore from remember-me"
        );
        assert_eq!(restore.send(&Request::get("/api/me")).unwrap().status, 401);
        let mut again = demo.client();
        assert_eq!(
            try_login(&mut again, "user@example.com", PASSWORD, false).status,
            200,
            "{store:?}: no new login either"
        );
    }
}

#[test]
fn disabling_the_user_ends_their_sessions_on_the_next_request() {
    sessions_end_when_the_user_row_changes(
        "adv_disabled",
        "UPDATE users SET is_active = false WHERE email = 'user@example.com'",
    );
}

#[test]
fn deleting_the_user_ends_their_sessions_on_the_next_request() {
    sessions_end_when_the_user_row_changes("adv_deleted", "DELETE FROM users WHERE email = 'user@example.com'");
}

#[test]
fn a_password_reset_behind_the_apps_back_ends_sessions_too() {
    // An administrator (or a reset flow) writes a new hash straight into the table: the session
    // fingerprint no longer matches on the next request.
    let Some(store) = sqlite_store("adv_reset") else { return };
    let demo = start_demo(&store);
    let mut victim = demo.client();
    login(&mut victim, "root@example.com");
    let other_hash = store
        .sql("SELECT password_hash FROM users WHERE email = 'user@example.com'")
        .unwrap();
    // The same password, hashed with another salt: only the stored string changes.
    store
        .sql(&format!(
            "UPDATE users SET password_hash = '{other_hash}' WHERE email = 'root@example.com'"
        ))
        .unwrap();
    assert!(anonymous(&mut victim), "the fingerprint no longer matches");
}
