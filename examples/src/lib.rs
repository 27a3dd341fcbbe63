//! Shared pieces of the imia examples: the user type and the server start-up.
//!
//! Every example binary in `src/bin/` listens on `127.0.0.1:$PORT` (default
//! [`DEFAULT_PORT`]) and, once the socket is bound, prints exactly one line to stdout:
//!
//! ```text
//! listening on http://127.0.0.1:8000
//! ```
//!
//! `PORT=0` lets the operating system pick a free port; the line then shows the port actually
//! bound. The end-to-end tests in `imia-tests` rely on both behaviours.
#![forbid(unsafe_code)]

use std::{
    env, fmt,
    io::{self, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpListener},
};

use imia::UserLike;

pub mod demo;

/// Logs to stderr at `info` (or `RUST_LOG`), for the example binaries.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

/// The port examples listen on when `PORT` is not set: 8000.
pub const DEFAULT_PORT: u16 = 8000;

/// What an example prints, followed by its address, once it is bound: `listening on http://`.
pub const LISTENING_PREFIX: &str = "listening on http://";

/// The port to listen on: the `PORT` environment variable, else [`DEFAULT_PORT`].
///
/// `PORT=0` asks the operating system for a free port.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] when `PORT` is set but is not a port number (an unset or
/// empty `PORT` means the default).
pub fn port_from_env() -> io::Result<u16> {
    match env::var("PORT") {
        Err(env::VarError::NotPresent) => Ok(DEFAULT_PORT),
        Ok(port) if port.trim().is_empty() => Ok(DEFAULT_PORT),
        Ok(port) => port.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("PORT must be a port number (0 to 65535), got {port:?}"),
            )
        }),
        Err(env::VarError::NotUnicode(port)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("PORT must be a port number, got {port:?}"),
        )),
    }
}

/// Binds `127.0.0.1:$PORT` (see [`port_from_env`]), prints `listening on http://<addr>` to
/// stdout and flushes it.
///
/// Hand the listener to [`HttpServer::listen`](actix_web::HttpServer::listen). Connections that
/// arrive before the server runs wait in the socket's backlog, so the address is usable as soon
/// as the line is printed.
///
/// # Errors
///
/// An invalid `PORT`, a port already in use, or stdout being closed.
pub fn bind_from_env() -> io::Result<TcpListener> {
    let port = port_from_env()?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    announce(listener.local_addr()?)?;
    Ok(listener)
}

/// Prints the "listening on" line for `addr` and flushes stdout.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{LISTENING_PREFIX}{addr}")?;
    stdout.flush()
}

/// A user of the examples, with [`UserLike`] derived from its fields.
///
/// The id is the e-mail address, which is also the login name. `password` holds the password
/// **in plain text**, to be checked with
/// [`InsecurePlaintextVerifier`](imia::password::InsecurePlaintextVerifier): never do that
/// outside an example.
#[derive(Clone, PartialEq, Eq, UserLike)]
pub struct User {
    /// The e-mail address: the user's id and username.
    #[imia(id, username)]
    pub email: String,
    /// The name shown to people.
    pub name: String,
    /// The password in plain text (empty: the user cannot log in with a password).
    pub password: String,
    /// The user's API token, if any.
    pub token: Option<String>,
    /// The scopes granted to the user.
    pub scopes: Vec<String>,
}

impl User {
    /// A user without password, token or scopes.
    pub fn new(email: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            password: String::new(),
            token: None,
            scopes: Vec::new(),
        }
    }

    /// Sets the (plain-text) password.
    #[must_use]
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = password.into();
        self
    }

    /// Sets the API token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Grants scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }
}

/// Shows who the user is, never the password or the token.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Escapes text for HTML content and attribute values.
///
/// ```
/// assert_eq!(imia_examples::escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The users of the examples that check passwords or tokens.
///
/// | id and username | name | password | token | scopes |
/// |---|---|---|---|---|
/// | `user1@example.com` | `User1` | `password1` | `token-user1` | `admin` |
/// | `user2@example.com` | `User2` | `pass:word2` | `token-user2` | none |
///
/// User2's password contains a colon on purpose: HTTP Basic splits at the first one.
pub fn demo_users() -> Vec<User> {
    vec![
        User::new("user1@example.com", "User1")
            .with_password("password1")
            .with_token("token-user1")
            .with_scopes(["admin"]),
        User::new("user2@example.com", "User2")
            .with_password("pass:word2")
            .with_token("token-user2"),
    ]
}

/// The JSON body the examples' "who am I" routes answer with: `{"id": …, "name": …}`, where
/// `id` is `null` and `name` is `Anonymous` when nobody authenticated.
pub fn whoami_json(token: &imia::UserToken) -> serde_json::Value {
    serde_json::json!({
        "id": token.id(),
        "name": token.display_name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let dbg = format!("{:?}", demo_users()[0]);
        assert!(dbg.contains("user1@example.com"), "{dbg}");
        assert!(!dbg.contains("password1") && !dbg.contains("token-user1"), "{dbg}");
    }

    #[test]
    fn derived_user_like_reads_the_fields() {
        let user = &demo_users()[1];
        assert_eq!(user.id(), "user2@example.com");
        assert_eq!(user.username().as_deref(), Some("user2@example.com"));
        assert_eq!(user.display_name(), "User2");
        assert_eq!(user.hashed_password(), "pass:word2");
        assert_eq!(user.api_token(), Some("token-user2"));
        assert!(demo_users()[0].has_scope("admin"));
        assert!(!user.has_scope("admin"));
    }

    #[test]
    fn whoami_of_anonymous() {
        assert_eq!(
            whoami_json(&imia::UserToken::anonymous()),
            serde_json::json!({"id": null, "name": "Anonymous"})
        );
        let user = imia::UserToken::authenticated(User::new("a@example.com", "A"));
        assert_eq!(
            whoami_json(&user),
            serde_json::json!({"id": "a@example.com", "name": "A"})
        );
    }
}
