//! Adversarial session tests against the demo binary over real sockets: session fixation,
//! replay after logout, and the end of other sessions when the password changes or the user is
//! disabled or deleted, on every session store the demo offers (SQLite, PostgreSQL, Redis and
//! the cookie itself).
//!
//! Server-side stores need their server: PostgreSQL (`IMIA_TEST_POSTGRES_URL` and `psql`),
//! Redis (`IMIA_TEST_REDIS_URL`), and the `sqlite3` client to reach into the SQLite file. A
//! missing one skips its part with a message, except under `CI=true`, where it fails.

use actix_web::cookie::time::Duration;
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
            resp.set_cookies()
                .iter()
                .any(|c| c.name() == REMEMBER_COOKIE && c.max_age() == Some(Duration::ZERO)),
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

/// Every store the demo offers sessions in: the server-side ones and the cookie itself.
fn every_store(prefix: &str) -> Vec<Store> {
    let mut stores = server_side_stores(prefix);
    if imia_tests::session_attack::have_sqlite3() {
        stores.push(Store::Cookie(imia_tests::session_attack::temp_sqlite(prefix)));
    }
    stores
}

/// A client that restores a session from `remember` alone: it ends up holding the restored
/// session and the rotated token.
fn restore_from(demo: &ExampleServer, remember: &str) -> Client {
    let mut client = client_with(demo.addr(), &[(REMEMBER_COOKIE, remember)]);
    assert_eq!(
        whoami(&mut client),
        ("remembered".to_owned(), Some("user@example.com".to_owned())),
        "the token restores a session"
    );
    client
}

/// Finding: theft detection revoked the stored tokens, but the session the thief had already
/// restored from the stolen token stayed logged in. Detection now rotates the user's security
/// stamp, which the session fingerprint covers: every session of the user is anonymous at its
/// next request, on every session store, the cookie store included.
#[test]
fn theft_detection_ends_the_sessions_the_thief_restored() {
    for store in every_store("adv_theft") {
        let demo = start_demo(&store);
        let mut victim = demo.client();
        assert_eq!(try_login(&mut victim, "user@example.com", PASSWORD, true).status, 303);
        let stolen = victim
            .jar()
            .get(REMEMBER_COOKIE)
            .expect("a remember-me cookie")
            .to_owned();

        // The thief restores a session from the stolen token, then restores again from the
        // rotated one: the stolen validator is now neither the current nor the previous one.
        let mut thief = restore_from(&demo, &stolen);
        let rotated = thief.jar().get(REMEMBER_COOKIE).expect("the rotated token").to_owned();
        assert_ne!(rotated, stolen, "{store:?}: the token rotated");
        let thief_session = thief.jar().get(SESSION_COOKIE).expect("a restored session").to_owned();
        let mut second = restore_from(&demo, &rotated);
        assert_eq!(whoami(&mut thief).0, "remembered", "{store:?}: the thief is logged in");

        // The victim's browser presents the old token (no session: say, after a restart).
        let mut victim_again = client_with(demo.addr(), &[(REMEMBER_COOKIE, &stolen)]);
        let resp = victim_again.send(&Request::get("/whoami")).unwrap();
        assert_eq!(resp.json().unwrap()["state"], "anonymous", "{store:?}: theft detected");
        assert_eq!(
            store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(),
            "0",
            "{store:?}: every token of the user is revoked"
        );

        // Every session restored from the token ends at its next request...
        for (what, client) in [("first restore", &mut thief), ("second restore", &mut second)] {
            assert!(anonymous(client), "{store:?}: the thief's {what} ended");
            assert_eq!(
                client.send(&Request::get("/api/me")).unwrap().status,
                401,
                "{store:?} {what}"
            );
        }
        let mut replay = client_with(demo.addr(), &[(SESSION_COOKIE, &thief_session)]);
        assert_eq!(replay.send(&Request::get("/api/me")).unwrap().status, 401, "{store:?}");
        // ...and so does the victim's own session (the stamp ends them all).
        assert!(anonymous(&mut victim), "{store:?}: the victim logs in again");
        // The password still works: nothing but the sessions and tokens were ended.
        let mut fresh = demo.client();
        login(&mut fresh, "user@example.com");
        assert_eq!(whoami(&mut fresh).0, "authenticated", "{store:?}");
    }
}

/// Finding: a password set outside `change_password` (an administrator's reset, a reset link,
/// a direct `UPDATE`) left every remember-me token valid, and restoring recomputed the session
/// fingerprint from the new hash. Tokens are now bound to the password they were issued under.
#[test]
fn a_password_reset_behind_the_apps_back_refuses_remember_me_tokens() {
    for store in every_store("adv_remember_reset") {
        let demo = start_demo(&store);
        let mut victim = demo.client();
        assert_eq!(try_login(&mut victim, "user@example.com", PASSWORD, true).status, 303);
        let stolen = victim.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
        assert_eq!(store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(), "1");

        // Reset to the same password under a new salt: only the stored string changes, which
        // is all that any reset does as far as the token can tell.
        let other_hash = store
            .sql("SELECT password_hash FROM users WHERE email = 'root@example.com'")
            .unwrap();
        store
            .sql(&format!(
                "UPDATE users SET password_hash = '{other_hash}' WHERE email = 'user@example.com'"
            ))
            .unwrap();

        let mut thief = client_with(demo.addr(), &[(REMEMBER_COOKIE, &stolen)]);
        let resp = thief.send(&Request::get("/whoami")).unwrap();
        assert_eq!(
            resp.json().unwrap()["state"],
            "anonymous",
            "{store:?}: the token is refused"
        );
        assert_eq!(
            set_cookie(&resp, SESSION_COOKIE),
            None,
            "{store:?}: no session was made"
        );
        assert_eq!(
            store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(),
            "0",
            "{store:?}: and revoked"
        );
        assert_eq!(thief.send(&Request::get("/api/me")).unwrap().status, 401, "{store:?}");
        // The user logs in with the (unchanged) password and gets a token that works.
        let mut owner = demo.client();
        assert_eq!(try_login(&mut owner, "user@example.com", PASSWORD, true).status, 303);
        let fresh = owner.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
        restore_from(&demo, &fresh);
    }
}

/// A password change through the app keeps the changing device remembered (its token is
/// replaced by one bound to the new password) and revokes every other token of the user.
#[test]
fn a_password_change_keeps_this_devices_token_and_revokes_the_others() {
    let Some(store) = sqlite_store("adv_remember_keep") else {
        return;
    };
    let demo = start_demo(&store);
    let mut here = demo.client();
    let mut there = demo.client();
    assert_eq!(try_login(&mut here, "user@example.com", PASSWORD, true).status, 303);
    assert_eq!(try_login(&mut there, "user@example.com", PASSWORD, true).status, 303);
    let here_before = here.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
    let there_token = there.jar().get(REMEMBER_COOKIE).unwrap().to_owned();
    let resp = here
        .send(&post_form(
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "n3w-pass")],
        ))
        .unwrap();
    assert_eq!(resp.status, 303, "{}", resp.text());
    let here_after = set_cookie(&resp, REMEMBER_COOKIE).expect("this device gets a new token");
    assert_ne!(here_after, here_before);
    assert_eq!(store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(), "1");
    let mut other = client_with(demo.addr(), &[(REMEMBER_COOKIE, &there_token)]);
    assert!(anonymous(&mut other), "the other device's token is revoked");
    let mut old = client_with(demo.addr(), &[(REMEMBER_COOKIE, &here_before)]);
    assert!(anonymous(&mut old), "this device's old token is replaced");
    // The replacement is bound to the new password and restores a session.
    assert_eq!(store.sql("SELECT COUNT(*) FROM imia_remember_tokens").unwrap(), "1");
    restore_from(&demo, &here_after);
}
