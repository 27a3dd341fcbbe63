//! The demo web app that the README's first command runs.
//!
//! One SQLite file holds users and sessions by default; `DATABASE_URL` may point at PostgreSQL
//! or MySQL instead (with the crate's features), `REDIS_URL` moves sessions to Redis, and
//! `SESSION_STORE=cookie` keeps them in the cookie.
//!
//! `PUBLIC_ORIGIN` (`https://app.example`) is the origin browsers reach the demo by, behind a
//! proxy or a TLS terminator: cross-site checks compare a request's `Origin` with it (scheme,
//! host and port). Unset, the demo's own origin is derived from each request: its scheme (plain
//! `http`) and its `Host` header.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | home page: who is logged in |
//! | `GET /whoami` | the identity as JSON |
//! | `GET /login`, `POST /login` | the login form (`username`, `password`, `remember_me`, `next`) |
//! | `POST /logout` | log out (`GET` is 405); with `everywhere=1`, every session and remember-me token of the user ends |
//! | `GET /account/sessions` | the user's sessions (HTML, or JSON with `Accept: application/json`) |
//! | `POST /account/sessions/{id}/end`, `POST /account/sessions/end-others` | end one session, or every other one |
//! | `GET /app` | logged-in users; browsers are sent to `/login?next=…`, API clients get 401 |
//! | `GET /admin` | the `admin` scope (403 without it) |
//! | `POST /account/password` | change the password (`current_password`, `new_password`) |
//! | `GET /api/me`, `GET /api/admin` | JSON; session, Basic, `Bearer`, `Token`, `?apikey=`, `X-Api-Key`; 401 with challenges |
//! | `POST /impersonate`, `POST /impersonate/exit` | act as another user (`user_id`), and stop; `?_impersonate=<id>` for one request |
//! | `GET /account/2fa` | the second factor: set it up, or remove it (a fresh login: remembered sessions log in again) |
//! | `POST /account/2fa/setup`, `POST /account/2fa/confirm` | start an enrolment (QR code, secret, URI), complete it with a first `code` (the recovery codes) |
//! | `POST /account/2fa/disable`, `POST /account/2fa/recovery-codes` | remove the second factor, or make new recovery codes (`password`) |
//! | `GET /login/2fa`, `POST /login/2fa` | the second step of a login: a TOTP or recovery `code` |
//! | `GET /password/forgot`, `POST /password/forgot` | ask for a reset link (`email`); the same answer for every address |
//! | `GET /password/reset/{token}`, `POST /password/reset/{token}` | set a new password (`new_password`) through a mailed link |
//! | `GET /signup`, `POST /signup` | create an account (`email`, `name`, `password`); the same answer for new and taken addresses |
//! | `GET /signup/verify/{token}` | confirm the address of a new account (303 to `/login`) |
//! | `GET /account/email`, `POST /account/email` | change the address (`email`, `password`): a link to the new one, a notice to the old one |
//! | `GET /account/email/confirm/{token}` | the new address takes effect |
//!
//! Mail goes into `MAIL_DIR` (`imia-demo-mail`) as `.eml` files, or to `SMTP_URL` when set
//! ([`mail::DemoMail`]).

use std::{sync::Arc, time::Duration};

use actix_session::{SessionMiddleware, config::CookieContentSecurity};
use actix_web::{
    App, Error,
    body::MessageBody,
    cookie::{Key, SameSite},
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};
#[cfg(feature = "redis")]
use imia::throttle::RedisThrottle;
use imia::{
    Authentication, Fallback, IntoAuthenticators, SecretKey, StrictSessionStore, TimeoutSessionStore,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, SessionAuthenticator, TokenAuthenticator},
    csrf::{Origin, SameOrigin},
    impersonation::Impersonation,
    login::LoginManager,
    password::{Argon2Hasher, PasswordPolicy},
    remember::RememberMe,
    throttle::ThrottlePolicy,
};

pub mod mail;
pub mod pages;
pub mod store;
pub mod users;

use store::{DemoThrottle, StoreChoice};
use users::{DemoTokens, DemoUsers};

/// The demo's remember-me handle.
pub type DemoRemember = RememberMe<DemoUsers, DemoTokens>;
/// The demo's impersonation handle.
pub type DemoImpersonation = Impersonation<DemoUsers>;
/// The demo's password resets and sign-ups.
pub type DemoAccounts = imia::account::Accounts<DemoUsers, Argon2Hasher>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "imia_session";
/// The remember-me cookie's name.
pub const REMEMBER_COOKIE: &str = "imia_remember";
/// How long the session store may take to answer.
pub const SESSION_STORE_TIMEOUT: Duration = Duration::from_secs(3);
/// The SQLite file used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE: &str = "imia-demo.sqlite3";

/// Where sessions live.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionBackend {
    /// In the demo's database (the default).
    Database,
    /// In Redis at this URL.
    Redis(String),
    /// In the cookie.
    Cookie,
}

/// The demo's configuration.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The database: a SQLite path, or a `postgres://` / `mysql://` URL.
    pub database_url: String,
    /// Where sessions live.
    pub sessions: SessionBackend,
    /// The secret key; `None` generates one (sessions then end at restart).
    pub secret: Option<SecretKey>,
    /// Whether cookies are marked `Secure` (HTTPS only).
    pub cookie_secure: bool,
    /// The password hasher.
    pub hasher: Argon2Hasher,
    /// Redis for the login throttle (`REDIS_URL`); `None` keeps the throttle in the database.
    pub redis_url: Option<String>,
    /// The origin browsers reach the demo by (`https://app.example`), from `PUBLIC_ORIGIN`;
    /// `None` derives it from each request (plain `http` and the `Host` header). State-changing
    /// requests from any other origin are refused.
    pub public_origin: Option<String>,
}

impl DemoConfig {
    /// Reads `DATABASE_URL`, `REDIS_URL`, `SESSION_STORE`, `IMIA_SECRET_KEY` (base64),
    /// `IMIA_COOKIE_SECURE` (`1`/`true`) and `PUBLIC_ORIGIN` (`https://app.example`).
    ///
    /// # Errors
    ///
    /// An invalid secret key, an unknown `SESSION_STORE`, or a `PUBLIC_ORIGIN` that is not an
    /// origin (`scheme://host[:port]`).
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let sessions = match (var("SESSION_STORE").as_deref(), var("REDIS_URL")) {
            (Some("cookie"), _) => SessionBackend::Cookie,
            (Some("redis"), Some(url)) | (None, Some(url)) => SessionBackend::Redis(url),
            (Some("redis"), None) => return Err("SESSION_STORE=redis needs REDIS_URL".into()),
            (Some("database") | None, None) => SessionBackend::Database,
            (Some("database"), Some(_)) => SessionBackend::Database,
            (Some(other), _) => {
                return Err(format!("unknown SESSION_STORE {other:?}: use database, redis or cookie").into());
            }
        };
        let public_origin = match var("PUBLIC_ORIGIN") {
            Some(origin) => Some(Origin::parse(&origin)?.to_string()),
            None => None,
        };
        Ok(Self {
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            sessions,
            secret: var("IMIA_SECRET_KEY").map(|k| secret_from_env(&k)),
            cookie_secure: var("IMIA_COOKIE_SECURE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            hasher: Argon2Hasher::default(),
            redis_url: var("REDIS_URL"),
            public_origin,
        })
    }

    /// Whether the public origin is configured and `https`: browsers then reach the demo over
    /// TLS, whatever the demo's own connections are.
    ///
    /// ```
    /// use imia::password::Argon2Hasher;
    /// use imia_examples::demo::{DemoConfig, SessionBackend};
    ///
    /// let mut config = DemoConfig {
    ///     database_url: "demo.sqlite3".to_owned(),
    ///     sessions: SessionBackend::Database,
    ///     secret: None,
    ///     cookie_secure: false,
    ///     hasher: Argon2Hasher::default(),
    ///     redis_url: None,
    ///     public_origin: Some("https://app.example".to_owned()),
    /// };
    /// assert!(config.public_origin_is_https());
    /// config.public_origin = Some("http://localhost:8000".to_owned());
    /// assert!(!config.public_origin_is_https());
    /// config.public_origin = None;
    /// assert!(!config.public_origin_is_https());
    /// ```
    pub fn public_origin_is_https(&self) -> bool {
        self.public_origin
            .as_deref()
            .and_then(|origin| Origin::parse(origin).ok())
            .is_some_and(|origin| origin.is_https())
    }
}

/// The secret key from `IMIA_SECRET_KEY`: base64 of at least 32 bytes (what
/// `SecretKey::to_base64` prints), else the value itself when it is 32 bytes or longer, else
/// (with a warning) a key derived from it by SHA-512, so that a short development value still
/// starts the demo.
fn secret_from_env(value: &str) -> SecretKey {
    if let Ok(key) = SecretKey::from_base64(value) {
        return key;
    }
    if let Ok(key) = SecretKey::from_bytes(value.as_bytes()) {
        return key;
    }
    tracing::warn!("IMIA_SECRET_KEY is shorter than 32 bytes: deriving a key from it; use a long random value");
    use sha2::{Digest as _, Sha512};
    SecretKey::from_bytes(&Sha512::digest(value.as_bytes())).expect("64 bytes")
}

/// The demo, connected and seeded, ready to make an app per server worker.
#[derive(Clone, Debug)]
pub struct Demo {
    users: DemoUsers,
    logins: LoginManager<DemoUsers, Argon2Hasher>,
    remember: DemoRemember,
    impersonation: DemoImpersonation,
    store: StoreChoice,
    secret: SecretKey,
    cookie_secure: bool,
    throttle: Arc<DemoThrottle>,
    csrf: SameOrigin,
    accounts: DemoAccounts,
}

/// actix-session's Redis store over a connection pool, whose connections are bounded by
/// [`SESSION_STORE_TIMEOUT`]: unlike a single connection, a pool recovers on the first request
/// after a Redis restart.
#[cfg(feature = "redis")]
async fn redis_store(url: &str) -> Result<store::RedisStore, Box<dyn std::error::Error + Send + Sync>> {
    let pool = deadpool_redis::Config::from_url(url)
        .builder()?
        .runtime(deadpool_redis::Runtime::Tokio1)
        .wait_timeout(Some(SESSION_STORE_TIMEOUT))
        .create_timeout(Some(SESSION_STORE_TIMEOUT))
        .recycle_timeout(Some(SESSION_STORE_TIMEOUT))
        .build()?;
    // Fail at start-up, not on the first request, when Redis cannot be reached.
    drop(pool.get().await?);
    let sessions = actix_session::storage::RedisSessionStore::new_pooled(pool.clone()).await?;
    // The per-user session index lives in the same Redis: `/account/sessions` on every server.
    Ok(imia::sessions::RedisSessionIndex::new(sessions, pool))
}

impl Demo {
    /// Connects to the database, creates and seeds the tables, and sets up the session store.
    ///
    /// # Errors
    ///
    /// When the database or Redis cannot be reached, this build lacks the backend named, or
    /// the public origin is not an origin.
    pub async fn new(config: DemoConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mail = mail::DemoMail::from_env(None, config.public_origin.as_deref())?;
        Self::with_mail(config, mail).await
    }

    /// Like [`Demo::new`], with the account e-mails going where `mail` says.
    ///
    /// # Errors
    ///
    /// As [`Demo::new`], and an SMTP URL that cannot be used.
    pub async fn with_mail(
        config: DemoConfig,
        mail: mail::DemoMail,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let csrf = match &config.public_origin {
            Some(origin) => SameOrigin::new().try_public_origin(origin)?,
            None => SameOrigin::new(),
        };
        // Cookies are `Secure` when the public origin is https (or IMIA_COOKIE_SECURE says so).
        // Plain http, as in the README's command, must keep working in a browser and with
        // curl: only then does the demo opt out of remember-me's `Secure` default.
        let cookie_secure = config.cookie_secure || config.public_origin_is_https();
        let (users, pool) = users::connect(&config.database_url, &config.hasher).await?;
        let tokens = pool.tokens();
        let links = pool.clone();
        let secret = config.secret.unwrap_or_else(|| {
            tracing::warn!("IMIA_SECRET_KEY is not set: using a generated key; sessions will not survive a restart");
            SecretKey::generate()
        });
        // Second factors in the same database: TOTP secrets sealed under the secret key,
        // recovery codes hashed. HTTP Basic finds them through the login manager registered
        // with the app, and refuses users who have one.
        let two_factor = pool.two_factor(&secret).issuer("imia demo");
        // Login throttling: 10 failures per username in 5 minutes, by the login form or HTTP
        // Basic in any mix (one throttle guards every password check); per-address limits are
        // off, since the demo's traffic all comes from loopback. Kept in Redis when REDIS_URL is
        // set, else in the database: a lockout survives a restart and holds on every server.
        // As many more attempts may be under way at once as the password hasher queues (64):
        // parallel correct logins all get in, as with a throttle in memory, and a reached
        // limit refuses every attempt.
        let policy = ThrottlePolicy::new()
            .per_username(10, Duration::from_secs(300))
            .burst(imia::password::DEFAULT_MAX_QUEUE);
        let throttle = Arc::new(match &config.redis_url {
            #[cfg(feature = "redis")]
            Some(url) => DemoThrottle::Redis(RedisThrottle::new(RedisThrottle::redis_pool(url)?, &secret, policy)),
            #[cfg(not(feature = "redis"))]
            Some(_) => return Err("REDIS_URL is set: build with `--features redis`".into()),
            None => pool.throttle(&secret, policy),
        });
        let store = match config.sessions {
            SessionBackend::Database => StoreChoice::Database(pool),
            SessionBackend::Cookie => StoreChoice::Cookie,
            #[cfg(feature = "redis")]
            SessionBackend::Redis(url) => StoreChoice::Redis(redis_store(&url).await?),
            #[cfg(not(feature = "redis"))]
            SessionBackend::Redis(_) => return Err("REDIS_URL is set: build with `--features redis`".into()),
        };
        // Remember-me: `imia_remember`, 30 days, rotated on use; revoked on logout and when the
        // password changes; bound to the password it was issued under.
        let remember = RememberMe::new(users.clone(), tokens, secret.clone())
            .cookie_name(REMEMBER_COOKIE)
            .secure(cookie_secure);
        let mut logins = LoginManager::builder(users.clone(), config.hasher, secret.clone())
            .throttle(Arc::clone(&throttle))
            .remember_me(remember.clone())
            .two_factor(two_factor);
        // The database store keeps a per-user index: `/account/sessions` lists and ends sessions.
        if let Some(index) = store.index() {
            logins = logins.sessions(index);
        }
        // Changing the password takes 8 characters or more, as sign-up and resets do.
        let logins = logins.password_policy(PasswordPolicy::new()).build();
        let accounts = mail.accounts(&logins, &links)?;
        // Impersonation: scope `auth:impersonate_others`, the default policy, and the original
        // library's `?_impersonate=<id>` for one request.
        let impersonation = Impersonation::new(users.clone()).stateless(true);
        Ok(Self {
            users,
            logins,
            remember,
            impersonation,
            store,
            secret,
            cookie_secure,
            throttle,
            csrf,
            accounts,
        })
    }

    /// Every way the demo accepts credentials, in the order they are tried.
    fn authenticators(&self) -> impl IntoAuthenticators {
        (
            SessionAuthenticator::new(self.users.clone(), self.secret.clone()),
            self.remember.clone(),
            BasicAuthenticator::new(self.users.clone(), self.logins.hasher().clone())
                .throttle(Arc::clone(&self.throttle)),
            TokenAuthenticator::bearer(self.users.clone()),
            TokenAuthenticator::new(self.users.clone(), "Token"),
            ApiKeyAuthenticator::new(self.users.clone()),
        )
    }

    /// The app, for one server worker (or one `actix_web::test` service).
    ///
    /// # Panics
    ///
    /// When the session store cannot be configured (checked once in [`Demo::new`]).
    pub fn app(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody + use<>>,
            Error = Error,
            InitError = (),
        > + use<>,
    > {
        // Browser pages: anonymous visitors may see `/`, `/whoami` and `/login`; pages that need
        // a user send browsers to the login page.
        let pages = Authentication::builder()
            .authenticators(self.authenticators())
            .exclude("/api")
            .login_url("/login")
            .build()
            .expect("a valid configuration");
        // The API: everything needs a user; anonymous requests get 401 with every challenge.
        let api = Authentication::builder()
            .authenticators(self.authenticators())
            .fallback(Fallback::Error)
            .build()
            .expect("a valid configuration");
        // A store that stops answering (Redis restarting) fails requests with a session after 3
        // seconds with an opaque 500, instead of holding them.
        // Strict: a request still running when its session is logged out (or renewed by a
        // password change) cannot write the login back. Timed: a store that hangs answers 500
        // after a deadline instead of holding the request.
        let store = TimeoutSessionStore::new(
            StrictSessionStore::new(self.store.store().expect("a session store")),
            SESSION_STORE_TIMEOUT,
        );
        let sessions = SessionMiddleware::builder(store, Key::derive_from(self.secret.as_bytes()))
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_secure(self.cookie_secure)
            .cookie_path("/".to_owned())
            .cookie_content_security(CookieContentSecurity::Private)
            .build();
        App::new()
            .app_data(self.logins.handle())
            .app_data(web::Data::new(self.impersonation.clone()))
            .app_data(web::Data::new(self.accounts.clone()))
            .service(
                web::scope("/api")
                    .wrap(self.impersonation.clone())
                    .wrap(api)
                    .route("/me", web::get().to(pages::api_me))
                    .route("/admin", web::get().to(pages::api_admin)),
            )
            .route("/", web::get().to(pages::home))
            .route("/whoami", web::get().to(pages::whoami))
            .route("/style.css", web::get().to(pages::stylesheet))
            .service(
                web::resource("/login")
                    .route(web::get().to(pages::login_page))
                    .route(web::post().to(pages::login)),
            )
            .service(
                web::resource("/logout")
                    .route(web::post().to(pages::logout))
                    .default_service(web::to(pages::method_not_allowed)),
            )
            .route("/app", web::get().to(pages::app))
            .route("/admin", web::get().to(pages::admin))
            .route("/account/password", web::post().to(pages::change_password))
            .route("/account/sessions", web::get().to(pages::sessions))
            .route(
                "/account/sessions/end-others",
                web::post().to(pages::end_other_sessions),
            )
            .route("/account/sessions/{id}/end", web::post().to(pages::end_session))
            .service(
                web::resource("/password/forgot")
                    .route(web::get().to(pages::forgot_page))
                    .route(web::post().to(pages::forgot)),
            )
            .service(
                web::resource("/password/reset/{token}")
                    .route(web::get().to(pages::reset_page))
                    .route(web::post().to(pages::reset)),
            )
            .service(
                web::resource("/signup")
                    .route(web::get().to(pages::signup_page))
                    .route(web::post().to(pages::signup)),
            )
            .route("/signup/verify/{token}", web::get().to(pages::verify))
            .service(
                web::resource("/account/email")
                    .route(web::get().to(pages::email_page))
                    .route(web::post().to(pages::email_change)),
            )
            .route("/account/email/confirm/{token}", web::get().to(pages::email_confirm))
            .route("/account/2fa", web::get().to(pages::two_factor_page))
            .route("/account/2fa/setup", web::post().to(pages::two_factor_setup))
            .route("/account/2fa/confirm", web::post().to(pages::two_factor_confirm))
            .route("/account/2fa/disable", web::post().to(pages::two_factor_disable))
            .route(
                "/account/2fa/recovery-codes",
                web::post().to(pages::two_factor_recovery_codes),
            )
            .service(
                web::resource("/login/2fa")
                    .route(web::get().to(pages::second_step_page))
                    .route(web::post().to(pages::second_step)),
            )
            .route("/impersonate", web::post().to(pages::impersonate))
            .route("/impersonate/exit", web::post().to(pages::stop_impersonating))
            .wrap(self.impersonation.clone())
            .wrap(pages)
            .wrap(self.csrf.clone())
            .wrap(sessions)
    }
}
