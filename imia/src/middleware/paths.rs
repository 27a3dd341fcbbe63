//! Which request paths the middleware protects.

use std::fmt;

use regex::Regex;

use crate::error::ConfigError;

/// A pattern over the request path, as the router sees it (percent-decoded, without the query).
///
/// - [`PathPattern::prefix`] (what a plain `&str` converts to) is segment-aware: `/admin`
///   matches `/admin`, `/admin/` and `/admin/users`, never `/administrator`; `/` matches every
///   path.
/// - [`PathPattern::exact`] matches one path.
/// - [`PathPattern::regex`] is anchored at both ends: `r"/users/\d+"` does not match
///   `/users/1/edit`.
///
/// Patterns never see the host or the query string, so `?x=/public` or a forged `Host` header
/// cannot change what is protected.
///
/// # Examples
///
/// ```
/// use imia::PathPattern;
///
/// let admin = PathPattern::from("/admin");
/// assert!(admin.matches("/admin/users"));
/// assert!(!admin.matches("/administrator"));
///
/// let user = PathPattern::regex(r"/users/\d+").unwrap();
/// assert!(user.matches("/users/42"));
/// assert!(!user.matches("/users/42/edit"));
/// ```
#[derive(Clone)]
pub struct PathPattern(Kind);

#[derive(Clone)]
enum Kind {
    Prefix(String),
    Exact(String),
    Regex(Regex),
}

impl PathPattern {
    /// Matches `prefix` and everything below it, segment by segment. A trailing `/` is ignored.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        Self(Kind::Prefix(prefix))
    }

    /// Matches exactly `path`.
    pub fn exact(path: impl Into<String>) -> Self {
        Self(Kind::Exact(path.into()))
    }

    /// Matches paths that the whole regular expression matches (it is anchored for you).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPattern`] when the expression does not compile.
    pub fn regex(re: &str) -> Result<Self, ConfigError> {
        Regex::new(&format!("^(?:{re})$"))
            .map(|r| Self(Kind::Regex(r)))
            .map_err(|e| ConfigError::InvalidPattern {
                pattern: re.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match &self.0 {
            Kind::Prefix(prefix) if prefix == "/" => true,
            Kind::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            Kind::Exact(exact) => path == exact,
            Kind::Regex(re) => re.is_match(path),
        }
    }
}

impl From<&str> for PathPattern {
    fn from(prefix: &str) -> Self {
        Self::prefix(prefix)
    }
}

impl From<String> for PathPattern {
    fn from(prefix: String) -> Self {
        Self::prefix(prefix)
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Prefix(p) => f.debug_tuple("Prefix").field(p).finish(),
            Kind::Exact(p) => f.debug_tuple("Exact").field(p).finish(),
            Kind::Regex(r) => f.debug_tuple("Regex").field(&r.as_str()).finish(),
        }
    }
}

/// Which paths the middleware authenticates and protects.
#[derive(Debug, Clone, Default)]
pub(crate) enum Protection {
    /// Every path.
    #[default]
    All,
    /// Only paths matching one of these.
    Include(Vec<PathPattern>),
    /// Every path except those matching one of these.
    Exclude(Vec<PathPattern>),
}

impl Protection {
    /// Whether the request is authenticated and protected.
    ///
    /// `raw` is the path as sent (still percent-encoded); `routed` is the decoded path the
    /// router dispatches on. A path the router could read differently from us (encoded slashes
    /// or backslashes, `;` parameters, dot segments, empty segments, control characters,
    /// percent-encoded bytes that are not UTF-8, escapes the router leaves encoded) is
    /// always protected: it never counts as excluded and always counts as included.
    pub(crate) fn covers(&self, raw: &str, routed: &str) -> bool {
        match self {
            Self::All => true,
            Self::Include(patterns) => is_ambiguous(raw, routed) || patterns.iter().any(|p| p.matches(routed)),
            Self::Exclude(patterns) => is_ambiguous(raw, routed) || !patterns.iter().any(|p| p.matches(routed)),
        }
    }
}

/// Whether a path could be read differently by the router, a proxy or a later normalisation
/// than by a plain pattern match.
pub(crate) fn is_ambiguous(raw: &str, routed: &str) -> bool {
    let raw_bytes = raw.as_bytes();
    let encoded = |needle: &[u8]| {
        raw_bytes
            .windows(3)
            .any(|w| w[0] == b'%' && w[1..].eq_ignore_ascii_case(&needle[1..]))
    };
    encoded(b"%2f")
        || encoded(b"%5c")
        || encoded(b"%2e")
        || encoded(b"%25")
        || encoded(b"%00")
        || routed.contains(['\\', ';'])
        || routed.chars().any(char::is_control)
        // The router decodes invalid UTF-8 (`%C0%AE`, an overlong `.`) lossily to U+FFFD; other
        // decoders read such bytes differently, or as dots and slashes.
        || routed.contains(char::REPLACEMENT_CHARACTER)
        || routed.contains("//")
        || routed.split('/').any(|seg| seg == "." || seg == "..")
        || !routed.starts_with('/')
        // The router leaves some escapes encoded (`%2B`, and a `%` that starts no valid escape,
        // so `/%%361dmin` routes as `/%61dmin`); path extractors decode them again, into a path
        // the patterns never saw.
        || routed.contains('%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_segment_aware() {
        let p = PathPattern::from("/admin");
        assert!(p.matches("/admin"));
        assert!(p.matches("/admin/"));
        assert!(p.matches("/admin/x/y"));
        assert!(!p.matches("/administrator"));
        assert!(!p.matches("/admin-panel"));
        assert!(!p.matches("/Admin"));
        assert!(!p.matches("/x/admin"));
        let trailing = PathPattern::from("/static/");
        assert!(trailing.matches("/static"));
        assert!(trailing.matches("/static/app.css"));
        assert!(!trailing.matches("/static-admin"));
        assert!(PathPattern::from("/").matches("/anything"));
    }

    #[test]
    fn exact_and_regex_are_anchored() {
        assert!(PathPattern::exact("/login").matches("/login"));
        assert!(!PathPattern::exact("/login").matches("/login/"));
        let r = PathPattern::regex(r"/api/v\d+/.*").unwrap();
        assert!(r.matches("/api/v1/users"));
        assert!(!r.matches("/x/api/v1/users"));
        let alt = PathPattern::regex("/a|/b").unwrap();
        assert!(alt.matches("/a") && alt.matches("/b"));
        assert!(!alt.matches("/a/b") && !alt.matches("/ab"));
        assert!(PathPattern::regex("(").is_err());
    }

    #[test]
    fn include_protects_only_matches() {
        let p = Protection::Include(vec!["/admin".into()]);
        assert!(p.covers("/admin/x", "/admin/x"));
        assert!(p.covers("/%61dmin/x", "/admin/x"));
        assert!(!p.covers("/public", "/public"));
        assert!(!p.covers("/administrator", "/administrator"));
    }

    #[test]
    fn exclude_never_covers_ambiguous_paths() {
        let p = Protection::Exclude(vec!["/static".into()]);
        assert!(!p.covers("/static/app.css", "/static/app.css"));
        assert!(p.covers("/static-admin", "/static-admin"));
        assert!(p.covers("/static/../admin", "/static/../admin"));
        assert!(p.covers("/static/%2e%2e/admin", "/static/../admin"));
        assert!(p.covers("/static%2f..%2fadmin", "/static%2F..%2Fadmin"));
        assert!(p.covers("/static;x/a", "/static;x/a"));
        assert!(p.covers("/static//a", "/static//a"));
        assert!(p.covers("/static/a%00", "/static/a\0"));
        assert!(p.covers("/static\\..\\admin", "/static\\..\\admin"));
        assert!(p.covers(
            "/static/%C0%AE%C0%AE/admin",
            "/static/\u{fffd}\u{fffd}\u{fffd}\u{fffd}/admin"
        ));
        assert!(!p.covers("/static/%E2%9C%93.svg", "/static/\u{2713}.svg"));
        assert!(p.covers("/admin", "/admin"));
    }

    #[test]
    fn include_treats_ambiguous_paths_as_protected() {
        let p = Protection::Include(vec!["/admin".into()]);
        assert!(p.covers("/public/../admin", "/public/../admin"));
        assert!(p.covers("/%2e%2e/admin", "/../admin"));
        assert!(p.covers("//admin", "//admin"));
    }

    #[test]
    fn escapes_left_in_the_routed_path_are_ambiguous() {
        let p = Protection::Include(vec!["/admin".into(), PathPattern::exact("/a+b")]);
        assert!(p.covers("/%%361dmin", "/%61dmin"));
        assert!(p.covers("/a%2Bb", "/a%2Bb"));
        assert!(!is_ambiguous("/%61dmin", "/admin"));
    }

    #[test]
    fn all_covers_everything() {
        assert!(Protection::All.covers("/x", "/x"));
    }
}
