//! HTTP Basic authentication (RFC 7617).

use std::fmt;

use actix_web::HttpRequest;
use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    Authenticator, Challenge, Outcome, Rejection,
    header::{self, AuthHeader},
};
use crate::{
    error::AuthError,
    password::{PasswordError, PasswordVerifier},
    provider::UserProvider,
    user::UserLike,
};

/// The realm of the Basic challenge unless configured: `Protected access`.
pub const DEFAULT_REALM: &str = "Protected access";

/// Authenticates `Authorization: Basic <base64(username:password)>`.
///
/// Parsing follows RFC 7617: the scheme is case-insensitive, the payload is strict base64 and
/// UTF-8, and it splits at the *first* colon (passwords may contain `:`). Malformed headers
/// (bad base64, not UTF-8, no colon, control characters, over-long) are
/// [`Rejected`](Outcome::Rejected) as malformed; an empty username or password, an unknown or
/// inactive user, a user without a usable password and a wrong password are all rejected alike.
///
/// # Security
///
/// The password is verified exactly once per request whatever happens: against a dummy hash
/// when there is no user to check, so that response times do not reveal which usernames exist.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     UserLike,
///     authenticator::BasicAuthenticator,
///     password::InsecurePlaintextVerifier,
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone)]
/// struct User { email: &'static str, password: &'static str }
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.email.into() }
///     fn username(&self) -> Option<Cow<'_, str>> { Some(self.email.into()) }
///     fn hashed_password(&self) -> &str { self.password }
/// }
///
/// let users = InMemoryProvider::new([User { email: "ann@example.com", password: "secret" }]);
/// let basic = BasicAuthenticator::new(users, InsecurePlaintextVerifier).realm("Staff");
/// # let _ = basic;
/// ```
pub struct BasicAuthenticator<P, V> {
    provider: P,
    verifier: V,
    challenge: Challenge,
    max_len: usize,
}

impl<P, V> BasicAuthenticator<P, V> {
    /// Authenticates users of `provider`, checking passwords with `verifier`; realm
    /// `Protected access`.
    pub fn new(provider: P, verifier: V) -> Self {
        Self {
            provider,
            verifier,
            challenge: Challenge::basic(DEFAULT_REALM),
            max_len: header::DEFAULT_MAX_CREDENTIAL_LEN,
        }
    }

    /// Sets the realm of the `WWW-Authenticate: Basic realm="…"` challenge (quoted safely).
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = Challenge::basic(realm);
        self
    }

    /// Caps the `Authorization` header's length; longer ones are rejected before decoding.
    /// Default: [`DEFAULT_MAX_CREDENTIAL_LEN`](super::DEFAULT_MAX_CREDENTIAL_LEN).
    #[must_use]
    pub fn max_credential_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }
}

impl<P, V: fmt::Debug> fmt::Debug for BasicAuthenticator<P, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("challenge", &self.challenge)
            .field("verifier", &self.verifier)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// A decoded `username:password` pair.
#[derive(PartialEq, Eq)]
pub(crate) struct BasicCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Decodes the credentials that follow `Basic `.
pub(crate) fn decode(payload: &[u8]) -> Result<BasicCredentials, Rejection> {
    if payload.is_empty() {
        return Err(Rejection::malformed("Basic without credentials"));
    }
    let bytes = STANDARD
        .decode(payload)
        .map_err(|_| Rejection::malformed("Basic credentials are not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| Rejection::malformed("Basic credentials are not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(Rejection::malformed("control characters in Basic credentials"));
    }
    let Some((username, password)) = text.split_once(':') else {
        return Err(Rejection::malformed("Basic credentials without a colon"));
    };
    Ok(BasicCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

impl<P, V> Authenticator for BasicAuthenticator<P, V>
where
    P: UserProvider,
    V: PasswordVerifier,
{
    type User = P::User;

    async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        let payload = match header::credentials(req, "Basic", self.max_len) {
            AuthHeader::Absent => return Ok(Outcome::NoCredentials),
            AuthHeader::Malformed(reason) => return Ok(Outcome::Rejected(Rejection::malformed(reason))),
            AuthHeader::Credentials(payload) => payload,
        };
        let creds = match decode(payload) {
            Ok(creds) => creds,
            Err(rejection) => return Ok(Outcome::Rejected(rejection)),
        };
        if creds.username.is_empty() || creds.password.is_empty() {
            return Ok(Outcome::Rejected(Rejection::invalid("empty username or password")));
        }
        let user = self.provider.find_by_username(&creds.username).await?;
        let usable = user
            .as_ref()
            .filter(|u| u.is_active() && !u.hashed_password().is_empty());
        let hash = usable.map_or_else(|| self.verifier.dummy_hash(), |u| u.hashed_password());
        let matched = match self.verifier.verify(&creds.password, hash).await {
            Ok(matched) => matched,
            Err(PasswordError::TooLong) => false,
            Err(PasswordError::Busy) => return Err(AuthError::unavailable(PasswordError::Busy)),
            Err(err) => return Err(AuthError::internal(err)),
        };
        Ok(match (usable.is_some(), matched) {
            (true, true) => super::accept(user, "unknown user"),
            (true, false) => Outcome::Rejected(Rejection::invalid("wrong password")),
            (false, _) => Outcome::Rejected(Rejection::invalid("unknown, inactive or passwordless user")),
        })
    }

    fn challenge(&self) -> Option<Challenge> {
        Some(self.challenge.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn splits_at_the_first_colon() {
        let c = decode(b64(b"root@localhost:pa:ss:word").as_bytes()).unwrap();
        assert_eq!(c.username, "root@localhost");
        assert_eq!(c.password, "pa:ss:word");
    }

    #[test]
    fn keeps_empty_parts_for_the_caller() {
        let c = decode(b64(b"user:").as_bytes()).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", ""));
        let c = decode(b64(b":pw").as_bytes()).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("", "pw"));
    }

    #[test]
    fn unicode_is_fine() {
        let c = decode(b64("jürgen:pässwörd🔑".as_bytes()).as_bytes()).unwrap();
        assert_eq!(c.password, "pässwörd🔑");
    }

    #[test]
    fn malformed_payloads_are_rejected() {
        for bad in [
            "".to_string(),
            "abc".to_string(),                                   // bad padding
            "###".to_string(),                                   // not base64
            format!("{}!", b64(b"a:b")),                         // trailing junk
            b64(b"a:b").trim_end_matches('=').to_string() + "x", // not canonical
            b64(b"no-colon"),
            b64(b"\xff\xfe:x"), // not UTF-8
            b64(b"a\nb:c"),     // control character
            b64(b"a:b\x00"),
            "YTpi YTpi".to_string(), // space inside
        ] {
            let err = decode(bad.as_bytes()).expect_err(&bad);
            assert_eq!(err.kind(), super::super::RejectionKind::Malformed, "{bad}");
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = decode(b64(b"ann:hunter2").as_bytes()).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("ann") && !dbg.contains("hunter2"), "{dbg}");
    }
}
