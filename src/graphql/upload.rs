//! File uploads on `POST /graphql` per the GraphQL multipart request spec
//! (<https://github.com/jaydenseric/graphql-multipart-request-spec>): a
//! `multipart/form-data` body with an `operations` part (the JSON request, checked
//! exactly as a JSON body is), a `map` part (file field name -> variable paths) and the
//! files, in that order. The files reach resolvers as async-graphql's `Upload`.
//!
//! Everything is bounded before work: the whole body (the upload cap plus room for the
//! two JSON parts and framing), `operations` and `map` at the JSON body cap, at most
//! [`MAX_FILES`] files, and a few variable paths per file. multer (the parser
//! async-graphql's own `receive_body` uses) does the parsing; async-graphql's wrapper is
//! not used because it bounds neither the file count nor the JSON parts on their own,
//! and accepts batches.
//!
//! async-graphql turns each file into a marker string (`#__graphql_file__:N`) in the
//! variables and panics on a marker it cannot resolve, so [`check_markers`] refuses any
//! marker a client wrote itself, on every transport.

use std::collections::HashMap;

use async_graphql::{UploadValue, Value};
use axum::body::Body;
use axum::http::StatusCode;

use super::http::MAX_BODY_BYTES;

/// Most files in one request.
pub const MAX_FILES: usize = 1;
/// Most variable paths one file may fill.
const MAX_PATHS_PER_FILE: usize = 4;
/// Room for multipart framing (boundaries and part headers) beyond the parts' bytes.
const FRAMING_BYTES: usize = 64 * 1024;
/// The prefix async-graphql gives a file's place in the variables.
const MARKER: &str = "#__graphql_file__:";

/// Why a multipart request is refused: an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 400 for a malformed request, 413 for one over a size bound.
    pub status: StatusCode,
    /// What is wrong, for the client.
    pub message: String,
}

impl Refused {
    fn bad(message: impl Into<String>) -> Self {
        Refused {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn too_large(message: impl Into<String>) -> Self {
        Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: message.into(),
        }
    }
}

/// The largest multipart body accepted when files may have `max_file` bytes.
pub fn max_body_bytes(max_file: usize) -> usize {
    max_file
        .saturating_mul(MAX_FILES)
        .saturating_add(2 * MAX_BODY_BYTES + FRAMING_BYTES)
}

/// Reads a multipart GraphQL request with files of at most `max_file` bytes;
/// `parse_operations` checks and decodes the `operations` part as a JSON body is.
pub async fn receive(
    body: Body,
    boundary: String,
    max_file: usize,
    parse_operations: impl FnOnce(&[u8]) -> Result<async_graphql::Request, String>,
) -> Result<async_graphql::Request, Refused> {
    let limits = multer::SizeLimit::new()
        .whole_stream(max_body_bytes(max_file) as u64)
        .per_field(max_file as u64)
        .for_field("operations", MAX_BODY_BYTES as u64)
        .for_field("map", MAX_BODY_BYTES as u64);
    let mut multipart = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let mut next = async || {
        multipart
            .next_field()
            .await
            .map_err(|e| refusal(&e, max_file))
    };

    let operations = match next().await? {
        Some(field) if field.name() == Some("operations") => {
            field.bytes().await.map_err(|e| refusal(&e, max_file))?
        }
        _ => return Err(Refused::bad("the first part must be `operations`")),
    };
    let mut request = parse_operations(&operations).map_err(Refused::bad)?;
    let map = match next().await? {
        Some(field) if field.name() == Some("map") => {
            field.bytes().await.map_err(|e| refusal(&e, max_file))?
        }
        _ => return Err(Refused::bad("the second part must be `map`")),
    };
    let mut map = parse_map(&map)?;
    let mut received = 0;
    while let Some(field) = next().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let Some(paths) = map.remove(&name) else {
            return Err(Refused::bad(format!(
                "the part `{name}` is not a file named in `map`"
            )));
        };
        let filename = field.file_name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(ToString::to_string);
        let content = field.bytes().await.map_err(|e| refusal(&e, max_file))?;
        for path in &paths {
            let before = request.uploads.len();
            request.set_upload(
                path,
                UploadValue {
                    filename: filename.clone(),
                    content_type: content_type.clone(),
                    content: content.clone(),
                },
            );
            if request.uploads.len() == before {
                return Err(Refused::bad(format!(
                    "the map path `{path}` does not name a variable of the operation"
                )));
            }
        }
        received += 1;
    }
    if let Some(missing) = map.keys().next() {
        return Err(Refused::bad(format!(
            "the file `{missing}` named in `map` is not in the request"
        )));
    }
    if received == 0 {
        return Err(Refused::bad(
            "a multipart request carries a file; send other requests as application/json",
        ));
    }
    Ok(request)
}

/// The `map` part: at most [`MAX_FILES`] files, each with 1 to
/// [`MAX_PATHS_PER_FILE`] paths.
fn parse_map(bytes: &[u8]) -> Result<HashMap<String, Vec<String>>, Refused> {
    super::nesting::check_json(bytes).map_err(|e| Refused::bad(e.to_string()))?;
    let map: HashMap<String, Vec<String>> = serde_json::from_slice(bytes).map_err(|_| {
        Refused::bad("`map` must be a JSON object of file names to lists of variable paths")
    })?;
    if map.len() > MAX_FILES {
        return Err(Refused::bad(format!(
            "at most {MAX_FILES} file(s) per request; this one names {}",
            map.len()
        )));
    }
    if map
        .values()
        .any(|paths| paths.is_empty() || paths.len() > MAX_PATHS_PER_FILE)
    {
        return Err(Refused::bad(format!(
            "each file in `map` fills 1 to {MAX_PATHS_PER_FILE} variable paths"
        )));
    }
    Ok(map)
}

fn refusal(error: &multer::Error, max_file: usize) -> Refused {
    match error {
        multer::Error::FieldSizeExceeded { field_name, .. } => match field_name.as_deref() {
            Some(part @ ("operations" | "map")) => Refused::too_large(format!(
                "the `{part}` part is larger than {MAX_BODY_BYTES} bytes"
            )),
            _ => Refused::too_large(format!(
                "the file is larger than the upload limit of {max_file} bytes"
            )),
        },
        multer::Error::StreamSizeExceeded { limit } => {
            Refused::too_large(format!("the request is larger than {limit} bytes"))
        }
        other => Refused::bad(format!("the multipart body is malformed: {other}")),
    }
}

/// Refuses a request that names an upload it does not carry: a file marker in the
/// document, or one in the variables that is not one of the request's own files.
pub fn check_markers(request: &async_graphql::Request) -> Result<(), async_graphql::ServerError> {
    let forged = || {
        super::persisted::error(
            "files can only be sent as parts of a multipart request",
            "BAD_USER_INPUT",
        )
    };
    if request.query.contains(MARKER) {
        return Err(forged());
    }
    let mut pending: Vec<&Value> = request.variables.values().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) => {
                if let Some(index) = s.strip_prefix(MARKER)
                    && !index
                        .parse::<usize>()
                        .is_ok_and(|i| i < request.uploads.len())
                {
                    return Err(forged());
                }
            }
            Value::List(items) => pending.extend(items),
            Value::Object(fields) => pending.extend(fields.values()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_must_be_the_requests_own_files() {
        let with = |vars: serde_json::Value| {
            async_graphql::Request::new("mutation($f: Upload!) { a(f: $f) }")
                .variables(async_graphql::Variables::from_json(vars))
        };
        assert!(check_markers(&with(serde_json::json!({"f": null}))).is_ok());
        for forged in [
            "#__graphql_file__:0",
            "#__graphql_file__:x",
            "#__graphql_file__:",
        ] {
            let request = with(serde_json::json!({"f": forged, "nested": [{"g": 1}]}));
            assert!(check_markers(&request).is_err(), "{forged}");
            let nested = with(serde_json::json!({"i": {"list": [forged]}}));
            assert!(check_markers(&nested).is_err(), "{forged}");
        }
        let inline = async_graphql::Request::new("mutation { a(f: \"#__graphql_file__:x\") }");
        assert!(check_markers(&inline).is_err());
    }

    #[test]
    fn the_map_names_at_most_one_file() {
        assert!(parse_map(br#"{"0": ["variables.file"]}"#).is_ok());
        assert!(parse_map(br#"{"0": ["variables.a"], "1": ["variables.b"]}"#).is_err());
        assert!(parse_map(br#"{"0": []}"#).is_err());
        assert!(parse_map(br#"["variables.file"]"#).is_err());
        assert!(parse_map(&[b'['; 100]).is_err());
    }
}
