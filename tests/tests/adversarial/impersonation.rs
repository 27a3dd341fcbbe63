//! Adversarial impersonation tests over real sockets: who may act as whom (every refusal is the
//! same 403 and leaves the identity alone), and session poisoning: forged impersonation or user
//! entries written straight into the demo's server-side session store (its SQLite table, its
//! PostgreSQL table, Redis) never escalate.

use std::borrow::Cow;

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError as _, cookie::Key, web};
use imia::{
    Authentication, SecretKey, UserLike, UserToken,
    authenticator::SessionAuthenticator,
    impersonation::Impersonation,
    login::LoginManager,
    password::InsecurePlaintextVerifier,
    provider::{InMemoryProvider, hash_token},
    remember::{InMemoryRememberStore, RememberMe},
};
use imia_tests::{
    http::{Client, Request, Response},
    live::LiveServer,
    session_attack::{
        DEMO_SECRET, PASSWORD, REMEMBER_COOKIE, SESSION_COOKIE, Store, client_with, login, post_form,
        server_side_stores, session_key, start_demo, whoami,
    },
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

const SCOPE: &str = imia::impersonation::DEFAULT_SCOPE;
/// The session key of a stateful impersonation (the original library's name): forged by hand here.
const IMPERSONATION_KEY: &str = "_impersonated_user_id";

#[derive(Clone)]
struct Person {
    id: &'static str,
    scopes: Vec<&'static str>,
    active: bool,
}

impl UserLike for Person {
    fn id(&self) -> Cow<'_, str> {
        self.id.into()
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(self.id.into())
    }
    fn hashed_password(&self) -> &str {
        PASSWORD
    }
    fn scopes(&self) -> Vec<String> {
        self.scopes.iter().map(|s| (*s).to_owned()).collect()
    }
    fn is_active(&self) -> bool {
        self.active
    }
}

fn person(id: &'static str, scopes: &[&'static str]) -> Person {
    Person {
        id,
        scopes: scopes.to_vec(),
        active: true,
    }
}

type Users = InMemoryProvider<Person>;
type Remember = RememberMe<Users, InMemoryRememberStore>;

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    remember: Option<String>,
}

#[derive(Deserialize)]
struct Target {
    user_id: Option<String>,
}

async fn do_login(
    req: HttpRequest,
    logins: web::Data<LoginManager<Users, InsecurePlaintextVerifier>>,
    remember: web::Data<Remember>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    match logins.login(&req, &form.username, &form.password).await {
        Ok(token) => {
            if form.remember.is_some() {
                let user = token.user::<Person>().expect("a Person");
                remember.remember(&req, user).await.expect("a token");
            }
            HttpResponse::SeeOther().insert_header(("Location", "/")).finish()
        }
        Err(err) => HttpResponse::from_error(err),
    }
}

async fn start(req: HttpRequest, imp: web::Data<Impersonation<Users>>, form: web::Form<Target>) -> HttpResponse {
    let Some(target) = form.user_id.as_deref() else {
        return HttpResponse::BadRequest().finish();
    };
    match imp.start(&req, target).await {
        Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/")).finish(),
        Err(err) => err.error_response(),
    }
}

async fn stop(req: HttpRequest) -> HttpResponse {
    imia::impersonation::stop(&req);
    HttpResponse::SeeOther().insert_header(("Location", "/")).finish()
}

async fn me(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "state": token.state().as_str(),
        "username": token.username(),
        "id": token.id(),
        "original_id": token.original_id(),
        "scopes": token.scopes(),
    }))
}

/// The impersonation app: fresh logins only may impersonate (`require_fresh`).
fn serve() -> LiveServer {
    let users: Users = InMemoryProvider::new([
        person("boss", &[SCOPE, "admin", "billing"]),
        person("staff", &["billing"]),
        person("peer", &[SCOPE]),
        person("root2", &["admin", "ops"]),
        person("plain", &[]),
        person("plain2", &["billing"]),
        Person {
            active: false,
            ..person("off", &[])
        },
    ]);
    let secret = SecretKey::generate();
    let logins = LoginManager::new(users.clone(), InsecurePlaintextVerifier, secret.clone());
    let remember: Remember = RememberMe::new(users.clone(), InMemoryRememberStore::new(), secret.clone());
    let imp = Impersonation::new(users.clone()).require_fresh(true);
    let key = Key::generate();
    LiveServer::start(move || {
        App::new()
            .app_data(web::Data::new(logins.clone()))
            .app_data(web::Data::new(remember.clone()))
            .app_data(web::Data::new(imp.clone()))
            .route("/login", web::post().to(do_login))
            .route("/impersonate", web::post().to(start))
            .route("/impersonate/exit", web::post().to(stop))
            .route("/whoami", web::get().to(me))
            .wrap(imp.clone())
            .wrap(Authentication::new((
                SessionAuthenticator::new(users.clone(), secret.clone()),
                remember.clone(),
            )))
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_name(SESSION_COOKIE.to_owned())
                    .cookie_secure(false)
                    .build(),
            )
    })
    .expect("the impersonation app starts")
}

fn me_of(client: &mut Client) -> Value {
    client.send(&Request::get("/whoami")).unwrap().json().expect("JSON")
}

fn logged_in(server: &LiveServer, user: &str, remember: bool) -> Client {
    let mut client = Client::new(server.addr());
    let mut fields = vec![("username", user), ("password", PASSWORD)];
    if remember {
        fields.push(("remember", "1"));
    }
    let resp = client.send(&post_form("/login", &fields)).unwrap();
    assert_eq!(resp.status, 303, "{user} logs in");
    client
}

fn impersonate(client: &mut Client, target: &str) -> Response {
    client.send(&post_form("/impersonate", &[("user_id", target)])).unwrap()
}

/// Status, body and headers without `Date`.
fn shape(resp: &Response) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let mut headers: Vec<_> = resp
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.sort();
    (resp.status, resp.body.clone(), headers)
}

#[test]
fn the_permission_matrix_refuses_every_forbidden_pair_with_one_answer() {
    let server = serve();
    let long = "p".repeat(10_000);
    let mut refusals: Vec<(String, Response)> = Vec::new();
    let mut refused = |label: String, client: &mut Client, target: &str, expect: &Value| {
        let resp = impersonate(client, target);
        assert_eq!(resp.status, 403, "{label}: {}", resp.text());
        assert!(
            resp.cookie(SESSION_COOKIE).is_none(),
            "{label}: the session is untouched"
        );
        assert_eq!(&me_of(client), expect, "{label}: the identity did not change");
        refusals.push((label, resp));
    };

    let mut anonymous = Client::new(server.addr());
    let nobody = me_of(&mut anonymous);
    refused("anonymous".into(), &mut anonymous, "plain", &nobody);

    let mut staff = logged_in(&server, "staff", false);
    let staff_me = me_of(&mut staff);
    refused("user without the scope".into(), &mut staff, "plain", &staff_me);

    let mut boss = logged_in(&server, "boss", false);
    let boss_me = me_of(&mut boss);
    for (why, target) in [
        ("self", "boss"),
        ("inactive target", "off"),
        ("target holding the impersonation scope", "peer"),
        ("target with scopes the impersonator lacks", "root2"),
        ("unknown id", "ghost"),
        ("empty id", ""),
        ("id with a NUL", "plain\0"),
        ("id with a trailing space", "plain "),
        ("percent-encoded id", "%70lain"),
        ("case-changed id", "PLAIN"),
        ("over-long id", long.as_str()),
    ] {
        refused(format!("boss → {why}"), &mut boss, target, &boss_me);
    }

    // The positive control: the same impersonator, a permitted target.
    let resp = impersonate(&mut boss, "plain");
    assert_eq!(resp.status, 303, "boss may act as plain");
    let acting = me_of(&mut boss);
    assert_eq!(
        (acting["id"].as_str(), acting["original_id"].as_str()),
        (Some("plain"), Some("boss"))
    );
    assert_eq!(
        acting["scopes"],
        json!([]),
        "the target's scopes, not the impersonator's"
    );
    refused("while already impersonating".into(), &mut boss, "plain2", &acting);
    refused(
        "while impersonating, back to oneself".into(),
        &mut boss,
        "boss",
        &acting,
    );
    assert_eq!(boss.send(&post_form("/impersonate/exit", &[])).unwrap().status, 303);
    assert_eq!(me_of(&mut boss), boss_me);

    // A session restored from remember-me is not fresh: require_fresh refuses it.
    let remembered = logged_in(&server, "boss", true);
    let token = remembered
        .jar()
        .get(REMEMBER_COOKIE)
        .expect("a remember-me cookie")
        .to_owned();
    let mut restored = client_with(server.addr(), &[(REMEMBER_COOKIE, &token)]);
    let restored_me = me_of(&mut restored);
    assert_eq!(restored_me["state"], "remembered");
    refused(
        "remembered session with require_fresh".into(),
        &mut restored,
        "plain",
        &restored_me,
    );

    let first = shape(&refusals[0].1);
    for (label, resp) in &refusals {
        assert_eq!(shape(resp), first, "{label} answers like {}", refusals[0].0);
    }
    assert!(refusals.len() >= 16, "{}", refusals.len());
}

/// The demo (integer ids in a database): malformed and hostile ids, and the forbidden pairs,
/// are the same empty 403 as an unknown id, and change nothing.
#[test]
fn the_demo_refuses_hostile_ids_and_forbidden_pairs_alike() {
    let Some(store) = imia_tests::session_attack::sqlite_store("adv_demo_imp") else {
        return;
    };
    let demo = start_demo(&store);
    let id = |email: &str| {
        store
            .sql(&format!("SELECT id FROM users WHERE email = '{email}'"))
            .expect("the users table answers")
    };
    let (root_id, user_id, disabled_id) = (
        id("root@example.com"),
        id("user@example.com"),
        id("disabled@example.com"),
    );
    let mut answers = Vec::new();
    let mut root = demo.client();
    login(&mut root, "root@example.com");
    let hostile = [
        "abc".to_owned(),
        "-1".into(),
        "0".into(),
        "99999999999999999999".into(),
        format!("{user_id} OR 1=1"),
        format!("{user_id}.0"),
        // Integer parsing accepts these spellings of an id: they must meet the same policy
        // (oneself, an inactive user) as the canonical one.
        format!("+{root_id}"),
        format!("0{root_id}"),
        format!(" {root_id} "),
        format!("+{disabled_id}"),
        format!("00{disabled_id}"),
        format!("0x{user_id}"),
        format!("{user_id}\0"),
        format!("{user_id}'--"),
        "９".into(),
        "".into(),
        "9".repeat(5000),
        root_id.clone(),
        disabled_id.clone(),
    ];
    for target in &hostile {
        let resp = impersonate(&mut root, target);
        assert_eq!(resp.status, 403, "root → {target:?}: {}", resp.text());
        assert_eq!(whoami(&mut root).1.as_deref(), Some("root@example.com"), "{target:?}");
        answers.push(shape(&resp));
    }
    let mut user = demo.client();
    login(&mut user, "user@example.com");
    for target in [&root_id, &disabled_id, &user_id] {
        let resp = impersonate(&mut user, target);
        assert_eq!(resp.status, 403, "user → {target}");
        answers.push(shape(&resp));
    }
    // Anonymous visitors never reach the handler: the page sends them to the login form.
    let mut anonymous = demo.client();
    let resp = impersonate(&mut anonymous, &user_id);
    assert!(
        resp.header("location").is_some_and(|l| l.starts_with("/login")),
        "anonymous: {} {:?}",
        resp.status,
        resp.header("location")
    );
    assert_eq!(whoami(&mut anonymous).0, "anonymous");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert_eq!(answers[0].1, b"", "an empty body");
    // The control: the permitted pair works.
    assert_eq!(impersonate(&mut root, &user_id).status, 303);
    assert_eq!(whoami(&mut root).1.as_deref(), Some("user@example.com"));
}

/// The session key behind a client's cookie, and its state in the store as a map.
fn stored_state(store: &Store, client: &Client) -> (String, Map<String, Value>) {
    let sealed = client.jar().get(SESSION_COOKIE).expect("a session cookie");
    let key = session_key(sealed, DEMO_SECRET).expect("opens with the demo's key");
    let raw = store
        .read_session(&key, &hash_token(&key))
        .expect("the store answers")
        .expect("the session is stored");
    let state: Map<String, Value> = serde_json::from_str(&raw).expect("a JSON object");
    (key, state)
}

fn poison(store: &Store, key: &str, state: &Map<String, Value>) {
    store
        .write_session(key, &hash_token(key), &Value::Object(state.clone()).to_string())
        .expect("the store takes the forged state");
}

/// A session entry as actix-session keeps it: the JSON text of the value, as a string.
fn entry(value: &Value) -> Value {
    Value::String(value.to_string())
}

#[test]
fn forged_session_entries_in_the_server_side_store_never_escalate() {
    for store in server_side_stores("adv_poison") {
        let demo = start_demo(&store);
        let id = |email: &str| {
            store
                .sql(&format!("SELECT id FROM users WHERE email = '{email}'"))
                .expect("the users table answers")
        };
        let (root_id, user_id, disabled_id) = (
            id("root@example.com"),
            id("user@example.com"),
            id("disabled@example.com"),
        );
        let forged = |original: &str, target: &str| entry(&json!({"original": original, "target": target}));

        // 1. The unprivileged user writes an impersonation of root bound to themselves.
        let mut user = demo.client();
        login(&mut user, "user@example.com");
        let (key, mut state) = stored_state(&store, &user);
        state.insert(IMPERSONATION_KEY.into(), forged(&user_id, &root_id));
        poison(&store, &key, &state);
        assert_eq!(
            whoami(&mut user).1.as_deref(),
            Some("user@example.com"),
            "{store:?}: case 1"
        );
        assert_eq!(
            user.send(&Request::get("/api/admin")).unwrap().status,
            403,
            "{store:?}: case 1"
        );

        // 2. ... or one that claims root as the original.
        let (key, mut state) = stored_state(&store, &user);
        assert!(
            !state.contains_key(IMPERSONATION_KEY),
            "{store:?}: the forged impersonation was removed from the session"
        );
        state.insert(IMPERSONATION_KEY.into(), forged(&root_id, &user_id));
        poison(&store, &key, &state);
        let me = user.send(&Request::get("/api/me")).unwrap().json().unwrap();
        assert_eq!(
            (me["username"].as_str(), me["original_id"].as_str()),
            (Some("user@example.com"), None),
            "{store:?}: case 2"
        );

        // 3. The user's own session rewritten to name root: the fingerprint is the user's.
        let (key, mut state) = stored_state(&store, &user);
        state.insert("_auth_user_id".into(), entry(&json!(root_id)));
        poison(&store, &key, &state);
        assert_eq!(whoami(&mut user).0, "anonymous", "{store:?}: case 3");

        // 4. A user id without any fingerprint.
        let mut user = demo.client();
        login(&mut user, "user@example.com");
        let (key, mut state) = stored_state(&store, &user);
        state.insert("_auth_user_id".into(), entry(&json!(root_id)));
        state.remove("_auth_user_hash");
        poison(&store, &key, &state);
        assert_eq!(whoami(&mut user).0, "anonymous", "{store:?}: case 4");
        assert_eq!(
            user.send(&Request::get("/api/admin")).unwrap().status,
            401,
            "{store:?}: case 4"
        );

        // 5. Root's session forged to impersonate an inactive user, then to impersonate with a
        //    value of the wrong shape: both end, root stays root.
        let mut root = demo.client();
        login(&mut root, "root@example.com");
        for bad in [
            forged(&root_id, &disabled_id),
            forged(&root_id, &root_id),
            entry(&json!({"original": root_id})),
            // serde reads a struct from a sequence too: this one binds the user, not root.
            entry(&json!([user_id, root_id])),
            Value::String("not json".into()),
        ] {
            let (key, mut state) = stored_state(&store, &root);
            state.insert(IMPERSONATION_KEY.into(), bad.clone());
            poison(&store, &key, &state);
            let me = root.send(&Request::get("/api/me")).unwrap().json().unwrap();
            assert_eq!(
                (me["username"].as_str(), me["original_id"].as_str()),
                (Some("root@example.com"), None),
                "{store:?}: case 5 with {bad}"
            );
        }

        // 6. A forged "remembered" flag never makes a session fresh-er, and a forged auth entry
        //    in an anonymous session names nobody.
        let mut anon = demo.client();
        login(&mut anon, "user@example.com");
        let (key, mut state) = stored_state(&store, &anon);
        state.retain(|k, _| !k.starts_with("_auth_"));
        state.insert("_auth_user_hash".into(), entry(&json!("forged")));
        state.insert(IMPERSONATION_KEY.into(), forged(&root_id, &user_id));
        poison(&store, &key, &state);
        assert_eq!(whoami(&mut anon), ("anonymous".to_owned(), None), "{store:?}: case 6");
    }
}
