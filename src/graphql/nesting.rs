//! Bounds on nesting, checked on the raw text before anything recursive runs on it.
//!
//! The GraphQL parser, JSON decoding, value conversion and even dropping a value recurse
//! once per nesting level: a 3.5 KB document with a list literal nested 1,750 deep
//! overflowed the stack and aborted the process. These scans are linear and iterative, so
//! they are safe on any input, and every GraphQL request (HTTP and WebSocket) passes them
//! before it is decoded or parsed. Selection depth has its own, tighter limit
//! ([`super::MAX_DEPTH`]); this one bounds brackets of any kind.

/// Deepest bracket nesting accepted in a request (JSON body, query text or variables).
/// The deepest real query (graphql-js's full introspection query) nests about 15.
pub const MAX_NESTING: usize = 64;

/// A request nested deeper than [`MAX_NESTING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {what} is nested more than {MAX_NESTING} levels deep")]
pub struct TooDeep {
    /// What was too deep: "request" (JSON) or "query".
    what: &'static str,
}

impl TooDeep {
    /// As a request error (`BAD_USER_INPUT`).
    pub fn into_server_error(self) -> async_graphql::ServerError {
        super::persisted::error(&self.to_string(), "BAD_USER_INPUT")
    }
}

/// Checks a request that is about to be parsed and run: its query text, and its
/// variables (which may come from a query string rather than a checked JSON body).
pub fn check_request(request: &async_graphql::Request) -> Result<(), TooDeep> {
    check_document(&request.query)?;
    let variables = serde_json::to_vec(&request.variables).unwrap_or_default();
    check_json(&variables)
}

/// Checks the nesting of JSON text: brackets outside strings.
pub fn check_json(text: &[u8]) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TooDeep { what: "request" });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the nesting of a GraphQL document: `[`, `{` and `(` outside strings, block
/// strings and comments.
pub fn check_document(text: &str) -> Result<(), TooDeep> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TooDeep { what: "query" });
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize) -> String {
        format!("{}1{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn deep_lists_and_objects_are_refused_in_queries_and_json() {
        let deep = format!("{{ __typename(x: {}) }}", nested("[", "]", 1_750));
        assert!(check_document(&deep).is_err());
        let deep_object = format!("{{ f(x: {}) }}", nested("{a: ", "}", 1_750));
        assert!(check_document(&deep_object).is_err());
        let deep_json = format!("{{\"variables\": {{\"v\": {}}}}}", nested("[", "]", 1_750));
        assert!(check_json(deep_json.as_bytes()).is_err());
        assert_eq!(
            check_json(deep_json.as_bytes()).map_err(|e| e.to_string()),
            Err("the request is nested more than 64 levels deep".into())
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let text = format!(
            "query {{ f(a: \"{}\", b: \"\"\"{}\\\"\"\" {}\"\"\") # {}\n }}",
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500),
            "[".repeat(500)
        );
        assert_eq!(check_document(&text), Ok(()));
        let json = format!(
            "{{\"query\": \"{}\\\"{}\"}}",
            "[".repeat(500),
            "{".repeat(500)
        );
        assert_eq!(check_json(json.as_bytes()), Ok(()));
    }

    #[test]
    fn real_queries_pass() {
        let introspection = include_str!("../../tests/fixtures/graphql/introspection.graphql");
        assert_eq!(check_document(introspection), Ok(()));
        assert_eq!(check_document(&nested("{ a ", "}", MAX_NESTING)), Ok(()));
        assert!(check_document(&nested("{ a ", "}", MAX_NESTING + 1)).is_err());
    }
}
