//! Which request paths the middleware protects.

use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Hir, literal::Extractor};

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
/// Every path the router matches starts with `/`, and prefixes and exact paths are compared
/// literally, so [`AuthenticationBuilder::build`](crate::AuthenticationBuilder::build) refuses
/// ([`ConfigError::InvalidPattern`]) a prefix or exact path that does not start with `/`
/// (`"app2"`: write `"/app2"`), and a prefix holding a regular-expression character
/// (`^ $ * + ? ( ) [ ] { } | \`, as in `"^/admin"`: write `"/admin"`, or use
/// [`PathPattern::regex`]); either would silently protect nothing. To cover a path that really
/// holds such characters, escape them in a regex (`PathPattern::regex(r"/c\+\+(/.*)?")`).
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
    /// ```
    /// use imia::PathPattern;
    ///
    /// assert!(PathPattern::regex(r"/reports/\d+").is_ok());
    /// assert!(PathPattern::regex(r"^/admin(/.*)?$").is_ok()); // anchors of its own are fine
    /// assert!(PathPattern::regex("admin/.*").is_err()); // cannot match a path: no leading `/`
    /// assert!(PathPattern::regex("[0-9]+").is_err());
    /// assert!(PathPattern::regex("/a)|(/b").is_err()); // would escape the anchoring group
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPattern`] when the expression does not compile on its own, or when
    /// it cannot match a path because every string it matches starts with something other than
    /// `/` (or is empty). That is judged from the literal prefixes of its matches: a regex that
    /// starts with a large class (`[a-z]+/x`, `\w/x`, `\d+` (Unicode digits)) or `.` cannot be judged and is accepted,
    /// even when it can never match a path.
    pub fn regex(re: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidPattern {
            pattern: re.to_owned(),
            reason,
        };
        // Parsed alone, so that `/a)|(/b` cannot close the anchoring group below and match
        // anything ending in `/b`.
        let hir = regex_syntax::Parser::new()
            .parse(re)
            .map_err(|e| invalid(e.to_string()))?;
        if !may_match_a_path(&hir) {
            return Err(invalid(format!(
                "it cannot match a path: every path starts with `/` (write r\"/{}\")",
                re.trim_start_matches('^')
            )));
        }
        Regex::new(&format!("^(?:{re})$"))
            .map(|r| Self(Kind::Regex(r)))
            .map_err(|e| invalid(e.to_string()))
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

/// Characters that mean something in a regular expression and that a prefix, compared
/// literally, is almost never meant to hold.
const REGEX_CHARS: &[char] = &['^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\'];

impl PathPattern {
    /// Refuses a pattern that cannot be a path (see the [type docs](PathPattern)).
    pub(crate) fn check_is_path(&self) -> Result<(), ConfigError> {
        let (pattern, reason) = match &self.0 {
            Kind::Regex(_) => return Ok(()),
            Kind::Prefix(prefix) => match prefix_problem(prefix) {
                None => return Ok(()),
                Some(reason) => (prefix, reason),
            },
            Kind::Exact(path) if path.starts_with('/') => return Ok(()),
            Kind::Exact(path) => {
                let fixed = format!("/{path}");
                (
                    path,
                    format!("an exact path starts with `/`: use PathPattern::exact({fixed:?})"),
                )
            }
        };
        Err(ConfigError::InvalidPattern {
            pattern: pattern.clone(),
            reason,
        })
    }
}

/// What is wrong with a prefix, and what to write instead.
fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some("a prefix is a path: use \"/\" to cover every path".to_owned());
    }
    let regex_like = prefix.contains(REGEX_CHARS);
    if !regex_like && prefix.starts_with('/') {
        return None;
    }
    if !regex_like {
        let fixed = format!("/{prefix}");
        return Some(format!("a prefix is a path and starts with `/`: use {fixed:?}"));
    }
    // What the regex most likely meant: `^/admin`, `^/admin/.*$` -> `/admin`.
    let plain = prefix.strip_prefix('^').unwrap_or(prefix);
    let plain = plain.strip_suffix('$').unwrap_or(plain);
    let plain = plain.strip_suffix(".*").unwrap_or(plain);
    let plain = plain.trim_end_matches('/');
    let advice = if plain.contains(REGEX_CHARS) || plain.trim_start_matches('/').is_empty() {
        format!("use PathPattern::regex({prefix:?}) for a regular expression (it must match paths starting with `/`)")
    } else {
        let path = if plain.starts_with('/') {
            plain.to_owned()
        } else {
            format!("/{plain}")
        };
        format!(
            "use {path:?} (it covers the path and everything below it), or PathPattern::regex for a regular expression"
        )
    };
    Some(format!(
        "a prefix is compared literally, not as a regular expression, and this one holds one of ^ $ * + ? ( ) [ ] {{ }} | \\: {advice}"
    ))
}

/// Whether some string starting with `/` could match `hir`, judged from the literal prefixes of
/// its matches: `false` only when they are known and none starts with `/` (an exact empty
/// literal is a match of the empty string, never a path).
fn may_match_a_path(hir: &Hir) -> bool {
    let prefixes = Extractor::new().extract(hir);
    let Some(literals) = prefixes.literals() else {
        // Too many to list: cannot tell.
        return true;
    };
    literals.iter().any(|lit| match lit.as_bytes().first() {
        Some(first) => *first == b'/',
        None => !lit.is_exact(),
    })
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

    fn reason(pattern: &PathPattern) -> String {
        match pattern.check_is_path() {
            Err(ConfigError::InvalidPattern { reason, .. }) => reason,
            other => panic!("{pattern:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn prefixes_and_exact_paths_that_cannot_be_paths_are_refused() {
        for (pattern, advice) in [
            (PathPattern::from("app2"), r#"use "/app2""#),
            (PathPattern::from("app2/"), r#"use "/app2""#),
            (PathPattern::from("admin/users"), r#"use "/admin/users""#),
            (PathPattern::from(""), r#"use "/" to cover every path"#),
            (PathPattern::from("^/admin"), r#"use "/admin""#),
            (PathPattern::from("^/admin/.*$"), r#"use "/admin""#),
            (PathPattern::from("/admin$"), r#"use "/admin""#),
            (PathPattern::from("^admin"), r#"use "/admin""#),
            (PathPattern::from(r"/users/\d+"), "PathPattern::regex"),
            (PathPattern::from("/a|/b"), "PathPattern::regex"),
            (PathPattern::from("^$"), "PathPattern::regex"),
            (PathPattern::from(".*"), "PathPattern::regex"),
            (PathPattern::exact("login"), r#"PathPattern::exact("/login")"#),
            (PathPattern::exact(""), r#"PathPattern::exact("/")"#),
        ] {
            let reason = reason(&pattern);
            assert!(reason.contains(advice), "{pattern:?}: {reason}");
        }
        for c in ['^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\'] {
            let reason = reason(&PathPattern::from(format!("/a{c}b")));
            assert!(reason.contains("not as a regular expression"), "{c}: {reason}");
        }
        for fine in [
            PathPattern::from("/"),
            PathPattern::from("/admin"),
            PathPattern::from("/static/"),
            PathPattern::from("/files/robots.txt"),
            PathPattern::from("/a-b_c~d@e:f,g=h&i!j'k"),
            PathPattern::from("/caf\u{e9}"),
            PathPattern::exact("/"),
            PathPattern::exact("/a+b"),
            PathPattern::exact("/(x)"),
            PathPattern::regex("/x").unwrap(),
        ] {
            assert!(fine.check_is_path().is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn regexes_that_cannot_match_a_path_are_refused() {
        for re in [
            "admin",
            "admin/.*",
            "[0-9]+",
            "[0-9]+/x",
            r"(?-u:\d)+",
            "(?i-u)admin",
            "a|b",
            "(?:a|b)/c",
            "a*",
            "",
            "^$",
            r"\b",
            r"[^\s\S]",
            "^admin(/.*)?$",
        ] {
            match PathPattern::regex(re) {
                Err(ConfigError::InvalidPattern { pattern, reason }) => {
                    assert_eq!(pattern, re);
                    assert!(reason.contains("cannot match a path"), "{re:?}: {reason}");
                }
                other => panic!("{re:?} was accepted: {other:?}"),
            }
        }
        for re in [
            "/",
            "/admin",
            "^/admin(/.*)?$",
            r"\A/admin\z",
            r"/users/\d+",
            "(?i-u)/Admin",
            "/?admin",
            "(/a|/b)",
            "/a|b",
            "(?:/|x)y",
            "/a*",
            ".*",
            "(?s).+",
            // Starts with a class too large to list: accepted, whatever follows.
            "[a-z]+/x",
        ] {
            let pattern = PathPattern::regex(re).unwrap_or_else(|e| panic!("{re:?}: {e}"));
            assert!(pattern.check_is_path().is_ok(), "{re:?}");
        }
        assert!(PathPattern::regex("/a|b").unwrap().matches("/a"));
        assert!(PathPattern::regex("/?admin").unwrap().matches("/admin"));
    }

    #[test]
    fn a_regex_cannot_escape_its_anchors() {
        // `^(?:/a)|(/b)$` would match anything starting with `/a` or ending with `/b`.
        for re in ["/a)|(/b", "/a)|(?:/b", "/a)|.*(/b", ")"] {
            assert!(
                matches!(PathPattern::regex(re), Err(ConfigError::InvalidPattern { .. })),
                "{re:?}"
            );
        }
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
