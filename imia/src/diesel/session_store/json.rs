//! The JSON form of a session state: an object whose values are strings (what actix-session
//! itself keeps).

use std::{collections::HashMap, fmt};

/// `state` as a JSON object.
pub(super) fn encode(state: &HashMap<String, String>) -> String {
    // A map of strings always serialises.
    serde_json::to_string(state).unwrap_or_else(|_| "{}".to_owned())
}

/// Where a stored state stopped being the expected JSON; never quotes the state itself.
#[derive(Debug)]
pub(super) struct DecodeError {
    line: usize,
    column: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session state is not a JSON object of strings (line {}, column {})",
            self.line, self.column
        )
    }
}

impl std::error::Error for DecodeError {}

/// A stored state back into a map.
pub(super) fn decode(input: &str) -> Result<HashMap<String, String>, DecodeError> {
    serde_json::from_str(input).map_err(|e| DecodeError {
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn samples() -> Vec<HashMap<String, String>> {
        vec![
            HashMap::new(),
            map(&[("_auth_user_id", "\"root@localhost\"")]),
            map(&[
                ("quotes", r#""a \"quoted\" \\ value""#),
                ("controls", "\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}"),
                ("unicode", "zürich – 東京 – 🦀 – \u{2028}\u{2029} – \u{FEFF}"),
                ("", ""),
                ("slash/and\\back", "</script>"),
                ("numbers", "42"),
            ]),
        ]
    }

    #[test]
    fn json_round_trips_and_matches_serde_json() {
        for state in samples() {
            let ours = encode(&state);
            assert_eq!(decode(&ours).unwrap(), state, "{ours}");
            assert_eq!(
                serde_json::from_str::<HashMap<String, String>>(&ours).unwrap(),
                state,
                "{ours}"
            );
            let theirs = serde_json::to_string(&state).unwrap();
            assert_eq!(decode(&theirs).unwrap(), state, "{theirs}");
            let pretty = serde_json::to_string_pretty(&state).unwrap();
            assert_eq!(decode(&pretty).unwrap(), state, "{pretty}");
        }
    }

    #[test]
    fn json_reads_escapes_and_surrogate_pairs() {
        let state = decode(r#" { "a" : "\u00e9\ud83e\udd80\/\b\f\n\r\t\"\\" } "#).unwrap();
        assert_eq!(state, map(&[("a", "é🦀/\u{8}\u{c}\n\r\t\"\\")]));
    }

    #[test]
    fn json_refuses_everything_else() {
        for bad in [
            "",
            "null",
            "[]",
            "\"x\"",
            "{",
            "{\"a\"}",
            "{\"a\":1}",
            "{\"a\":null}",
            "{\"a\":{\"b\":\"c\"}}",
            "{\"a\":[\"b\"]}",
            "{\"a\":\"b\",}",
            "{,}",
            "{\"a\":\"b\"} x",
            "{\"a\":\"b\"}{}",
            "{'a':'b'}",
            "{a:\"b\"}",
            "{\"a\":\"b\" \"c\":\"d\"}",
            "{\"a\":\"line\nbreak\"}",
            "{\"a\":\"\\x41\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\u+123\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\u00é9\"}",
            "{\"a\":\"unterminated}",
            "{\"a\":\"b\\",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn decode_errors_do_not_quote_the_state() {
        let err = decode("{\"_auth_user_hash\":\"secret-value\",}").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
