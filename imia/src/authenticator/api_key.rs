//! API keys in a query parameter or a header.

use std::{borrow::Cow, fmt};

use actix_web::{
    HttpRequest,
    http::header::{HeaderMap, HeaderName},
};

use super::{Authenticator, Outcome, Rejection, header::DEFAULT_MAX_CREDENTIAL_LEN};
use crate::{error::AuthError, provider::UserProvider};

/// The query parameter read unless configured: `apikey`.
pub const DEFAULT_QUERY_PARAM: &str = "apikey";
/// The header read unless configured: `X-Api-Key`.
pub const DEFAULT_HEADER: &str = "x-api-key";

/// Authenticates an API key from a query parameter (`?apikey=…`) or a header (`X-Api-Key: …`)
/// through [`UserProvider::find_by_token`].
///
/// - A non-empty query parameter is used alone (the header is then ignored), as in the original
///   library; an empty one (`?apikey=`) falls back to the header.
/// - A parameter given twice, or the header given twice, is rejected as malformed: the request
///   is ambiguous and is not guessed at.
/// - Keys longer than the credential cap, headers that are not visible ASCII, and query values
///   that decode to control characters (`%00`, `%0A`) are malformed.
/// - Both sources can be renamed or switched off.
///
/// # Security
///
/// Query strings end up in access logs, browser history and `Referer` headers. Prefer the
/// header (or a bearer token) where clients allow it, and turn the query parameter off with
/// [`without_query_param`](Self::without_query_param).
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{UserLike, authenticator::ApiKeyAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct Client(&'static str);
/// impl UserLike for Client {
///     fn id(&self) -> Cow<'_, str> { self.0.into() }
///     fn api_token(&self) -> Option<&str> { Some(self.0) }
/// }
///
/// let clients = InMemoryProvider::new([Client("k-123")]);
/// let header_only = ApiKeyAuthenticator::new(clients)
///     .without_query_param()
///     .header("X-Token");
/// # let _ = header_only;
/// ```
pub struct ApiKeyAuthenticator<P> {
    provider: P,
    query_param: Option<Cow<'static, str>>,
    header: Option<HeaderName>,
    max_len: usize,
}

impl<P> ApiKeyAuthenticator<P> {
    /// Reads `?apikey=` and `X-Api-Key`.
    pub fn new(provider: P) -> Self {
        Self {
            provider,
            query_param: Some(Cow::Borrowed(DEFAULT_QUERY_PARAM)),
            header: Some(HeaderName::from_static(DEFAULT_HEADER)),
            max_len: DEFAULT_MAX_CREDENTIAL_LEN,
        }
    }

    /// Reads the key from this query parameter instead. Default: `apikey`.
    #[must_use]
    pub fn query_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.query_param = Some(name.into());
        self
    }

    /// Does not read the query string at all.
    #[must_use]
    pub fn without_query_param(mut self) -> Self {
        self.query_param = None;
        self
    }

    /// Reads the key from this header instead (matched case-insensitively). Default: `X-Api-Key`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name: a programming error caught at start-up.
    #[must_use]
    pub fn header(mut self, name: &str) -> Self {
        self.header = Some(HeaderName::try_from(name).expect("a valid header name"));
        self
    }

    /// Does not read any header.
    #[must_use]
    pub fn without_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// Caps the key's length. Default:
    /// [`DEFAULT_MAX_CREDENTIAL_LEN`](super::DEFAULT_MAX_CREDENTIAL_LEN).
    #[must_use]
    pub fn max_credential_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }
}

impl<P> fmt::Debug for ApiKeyAuthenticator<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthenticator")
            .field("query_param", &self.query_param)
            .field("header", &self.header)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// The key in the query string: `Ok(None)` when absent or empty.
pub(crate) fn from_query<'q>(query: &'q str, param: &str, max_len: usize) -> Result<Option<Cow<'q, str>>, Rejection> {
    let mut found = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name != param {
            continue;
        }
        if found.is_some() {
            return Err(Rejection::malformed("API key parameter repeated"));
        }
        found = Some(value);
    }
    match found {
        Some(key) if key.len() > max_len => Err(Rejection::malformed("API key too long")),
        Some(key) if key.is_empty() => Ok(None),
        // Percent-decoding can produce NUL and other control characters, which some stores
        // refuse with an error (PostgreSQL text cannot hold NUL): never pass them on.
        Some(key) if key.chars().any(char::is_control) => {
            Err(Rejection::malformed("control characters in the API key"))
        }
        key => Ok(key),
    }
}

/// The key in the header: `Ok(None)` when absent or empty.
pub(crate) fn from_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    max_len: usize,
) -> Result<Option<&'h str>, Rejection> {
    let mut values = headers.get_all(name);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::malformed("API key header repeated"));
    }
    if value.len() > max_len {
        return Err(Rejection::malformed("API key too long"));
    }
    match value.to_str() {
        Ok("") => Ok(None),
        // `to_str` lets tabs through.
        Ok(key) if key.contains('\t') => Err(Rejection::malformed("API key header is not visible ASCII")),
        Ok(key) => Ok(Some(key)),
        Err(_) => Err(Rejection::malformed("API key header is not visible ASCII")),
    }
}

impl<P: UserProvider> Authenticator for ApiKeyAuthenticator<P> {
    type User = P::User;

    async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        let from_query = match &self.query_param {
            Some(param) => from_query(req.query_string(), param, self.max_len),
            None => Ok(None),
        };
        let key = match from_query {
            Err(rejection) => return Ok(Outcome::Rejected(rejection)),
            Ok(Some(key)) => key,
            Ok(None) => {
                let from_header = match &self.header {
                    Some(name) => from_header(req.headers(), name, self.max_len),
                    None => Ok(None),
                };
                match from_header {
                    Err(rejection) => return Ok(Outcome::Rejected(rejection)),
                    Ok(Some(key)) => Cow::Borrowed(key),
                    Ok(None) => return Ok(Outcome::NoCredentials),
                }
            }
        };
        let user = self.provider.find_by_token(&key).await?;
        Ok(super::accept(user, "unknown API key"))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn query_parameter_is_decoded() {
        assert_eq!(
            from_query("apikey=a%2Bb%20c", "apikey", 64).unwrap().as_deref(),
            Some("a+b c")
        );
        assert_eq!(from_query("x=1&apikey=k", "apikey", 64).unwrap().as_deref(), Some("k"));
        assert_eq!(from_query("apikeyx=k", "apikey", 64).unwrap(), None);
        assert_eq!(from_query("apikey=", "apikey", 64).unwrap(), None);
        assert_eq!(from_query("apikey", "apikey", 64).unwrap(), None);
        assert_eq!(from_query("", "apikey", 64).unwrap(), None);
        assert_eq!(
            from_query("%ff%fe=1&apikey=%ff", "apikey", 64).unwrap().as_deref(),
            Some("\u{fffd}")
        );
    }

    #[test]
    fn repeated_or_long_parameters_are_malformed() {
        assert!(from_query("apikey=a&apikey=b", "apikey", 64).is_err());
        assert!(from_query("apikey=a&apikey=", "apikey", 64).is_err());
        assert!(from_query(&format!("apikey={}", "a".repeat(65)), "apikey", 64).is_err());
    }

    #[test]
    fn control_characters_are_malformed() {
        for query in [
            "apikey=a%00b",
            "apikey=a%0Ab",
            "apikey=%1B%5B2J",
            "apikey=a%09b",
            "apikey=a%7Fb",
        ] {
            assert!(from_query(query, "apikey", 64).is_err(), "{query}");
        }
        let name = HeaderName::from_static(DEFAULT_HEADER);
        let req = TestRequest::default()
            .insert_header(("X-Api-Key", "a\tb"))
            .to_http_request();
        assert!(from_header(req.headers(), &name, 64).is_err());
    }

    #[test]
    fn header_rules() {
        let name = HeaderName::from_static(DEFAULT_HEADER);
        let req = TestRequest::default()
            .insert_header(("X-API-KEY", "k"))
            .to_http_request();
        assert_eq!(from_header(req.headers(), &name, 64).unwrap(), Some("k"));
        let req = TestRequest::default()
            .insert_header(("X-Api-Key", ""))
            .to_http_request();
        assert_eq!(from_header(req.headers(), &name, 64).unwrap(), None);
        let req = TestRequest::default()
            .append_header(("X-Api-Key", "a"))
            .append_header(("X-Api-Key", "b"))
            .to_http_request();
        assert!(from_header(req.headers(), &name, 64).is_err());
        let req = TestRequest::default()
            .insert_header((
                "X-Api-Key",
                actix_web::http::header::HeaderValue::from_bytes(b"\xffk").unwrap(),
            ))
            .to_http_request();
        assert!(from_header(req.headers(), &name, 64).is_err());
        let req = TestRequest::default()
            .insert_header(("X-Api-Key", "a".repeat(65)))
            .to_http_request();
        assert!(from_header(req.headers(), &name, 64).is_err());
    }
}
