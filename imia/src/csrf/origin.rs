//! Origins: what browsers send in `Origin`, what the application is served as, and what a
//! request was sent to.

use std::{fmt, net::Ipv6Addr, str::FromStr};

use actix_web::{
    HttpRequest,
    http::{header, uri},
};

use crate::error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

const NOT_AN_ORIGIN: &str =
    "expected scheme://host[:port] such as \"https://app.example\", without a path, query, fragment or user";
const BAD_PORT: &str = "the port must be a number from 1 to 65535";
const BAD_HOST: &str =
    "the host must be a DNS name (ASCII, punycode for others), an IPv4 address or an IPv6 address in brackets";
/// The longest DNS name.
const MAX_HOST_LEN: usize = 253;

/// A web origin: scheme (`http` or `https`), host and port, as browsers send it in `Origin`.
///
/// Hosts and schemes are lower-cased, IPv6 addresses written in their canonical form and the
/// scheme's default port made explicit, so that equal origins compare equal however they are
/// spelled.
///
/// # Examples
///
/// ```
/// use imia::csrf::Origin;
///
/// let origin = Origin::parse("HTTPS://App.Example:443/").unwrap();
/// assert_eq!(origin.to_string(), "https://app.example");
/// assert_eq!((origin.scheme(), origin.host(), origin.port()), ("https", "app.example", 443));
/// assert!(origin.is_https());
/// assert_eq!(origin, "https://app.example".parse().unwrap());
/// assert_ne!(origin, Origin::parse("http://app.example").unwrap());
/// assert_eq!(Origin::parse("http://[0:0::1]:8000").unwrap().to_string(), "http://[::1]:8000");
/// assert!(Origin::parse("app.example").is_err());
/// assert!(Origin::parse("https://app.example/login").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Reads an origin from configuration: `scheme://host[:port]`, with `http` or `https`,
    /// surrounding whitespace and one trailing `/` allowed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for anything else (`null`, a path, a user, another
    /// scheme, a port out of range, a host that is not ASCII).
    pub fn parse(origin: &str) -> Result<Self, ConfigError> {
        let trimmed = origin.trim();
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        parse_serialized(trimmed).map_err(|reason| ConfigError::InvalidOrigin {
            origin: origin.to_owned(),
            reason,
        })
    }

    /// `"http"` or `"https"`.
    pub fn scheme(&self) -> &'static str {
        self.scheme.as_str()
    }

    /// The host, lower-cased; an IPv6 address in brackets (`[::1]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when none was written.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }

    fn from_parts(scheme: Scheme, (host, port): (String, Option<u16>)) -> Self {
        Self {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
        }
    }
}

impl FromStr for Origin {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Origin {
    /// The serialized origin, without the default port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Origin").field(&self.to_string()).finish()
    }
}

/// A serialized origin exactly as browsers send it: `scheme://host[:port]`.
pub(super) fn parse_serialized(origin: &str) -> Result<Origin, &'static str> {
    let (scheme, authority) = origin.split_once("://").ok_or(NOT_AN_ORIGIN)?;
    let scheme = Scheme::parse(scheme).ok_or("the scheme must be http or https")?;
    Ok(Origin::from_parts(scheme, parse_authority(authority)?))
}

/// `host[:port]`, as in an origin or a `Host` header: the host lower-cased (an IPv6 address in
/// its canonical form, in brackets) and the port if one is written.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, rest) = if let Some(inner) = authority.strip_prefix('[') {
        let (literal, rest) = inner.split_once(']').ok_or(BAD_HOST)?;
        let ip: Ipv6Addr = literal.parse().map_err(|_| BAD_HOST)?;
        (format!("[{ip}]"), rest)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        let (host, rest) = authority.split_at(end);
        if host.is_empty() {
            return Err(NOT_AN_ORIGIN);
        }
        if host.contains(['/', '?', '#', '@']) {
            return Err(NOT_AN_ORIGIN);
        }
        let valid = host.len() <= MAX_HOST_LEN
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(BAD_HOST);
        }
        (host.to_ascii_lowercase(), rest)
    };
    if rest.is_empty() {
        return Ok((host, None));
    }
    let digits = rest.strip_prefix(':').ok_or(NOT_AN_ORIGIN)?;
    if digits.contains(['/', '?', '#', '@']) {
        return Err(NOT_AN_ORIGIN);
    }
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD_PORT);
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok((host, Some(port))),
        _ => Err(BAD_PORT),
    }
}

/// The origin the request was sent to, from the connection and the `Host` header (see the
/// [module docs](super#the-applications-own-origin)); `None` when there is no usable host.
pub(super) fn connection_origin(req: &HttpRequest) -> Option<Origin> {
    let scheme = if req.app_config().secure() || req.uri().scheme() == Some(&uri::Scheme::HTTPS) {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let authority = match req.headers().get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => req.uri().authority()?.as_str(),
    };
    parse_authority(authority)
        .ok()
        .map(|parts| Origin::from_parts(scheme, parts))
}
