//! `/graphql` over HTTP, per the GraphQL-over-HTTP spec including its SHOULDs.
//!
//! - POST runs any operation from an `application/json` body (at most
//!   [`MAX_BODY_BYTES`]), or from a `multipart/form-data` file upload of a signed-in
//!   client ([`super::upload`]); GET runs queries only (mutations are refused with 405),
//!   or opens a WebSocket, or serves GraphiQL.
//! - The response media type is negotiated by `Accept`: `application/graphql-response+json`
//!   when the client asks for it, `application/json` for `*/*`, a missing header and
//!   legacy clients, 406 when neither is acceptable.
//! - Status codes: with `application/graphql-response+json` a request error (the
//!   document does not parse or validate, a variable does not coerce, a persisted query
//!   is unknown) is a 400 with no `data` entry; with `application/json` it is a 200, as
//!   the spec asks of legacy clients. Execution errors are 200 with both. Malformed HTTP
//!   (no JSON, a `query` that is not a string, a batch) is a 400 either way.
//! - Authentication: a bad token is 401 `UNAUTHENTICATED`, an expired one 401
//!   `TOKEN_EXPIRED`, both with `WWW-Authenticate: Bearer error="invalid_token"`
//!   (RFC 6750 §3.1). An operation that needs a token and got none carries a plain
//!   `WWW-Authenticate: Bearer` challenge with its `UNAUTHENTICATED` field error.
//! - Automatic persisted queries ([`super::persisted`]) work on GET and POST.
//!
//! No batches, a real body-size limit, and every error carries `extensions.code`.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::extract::ws::WebSocketUpgrade;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppSchema;
use super::context::RequestContext;
use super::errors::finish_response;
use super::loaders::loaders;
use super::persisted::PersistedQueries;
use crate::auth::viewer::Viewer;
use crate::error::AppError;
use crate::state::AppState;

/// Largest accepted `/graphql` body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The media type of the GraphQL-over-HTTP spec.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// State of the GraphQL routes.
#[derive(Clone)]
pub struct GraphqlState {
    /// Application state.
    pub app: AppState,
    /// The executable schema.
    pub schema: AppSchema,
    /// The automatic-persisted-query cache.
    pub persisted: PersistedQueries,
}

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: request errors are 400.
    GraphqlResponse,
    /// `application/json`: the legacy type, always 200 once the request is well-formed.
    Json,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }

    /// Picks the type from an `Accept` header: the acceptable one with the highest
    /// quality, `application/graphql-response+json` on a tie; `None` when neither is
    /// acceptable.
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(MediaType::Json);
        };
        let mut best: Option<(f32, MediaType)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let candidate = match mime.as_str() {
                GRAPHQL_RESPONSE_JSON => MediaType::GraphqlResponse,
                "application/json" | "application/*" | "*/*" => MediaType::Json,
                _ => continue,
            };
            let better = match best {
                None => true,
                Some((q, current)) => {
                    quality > q
                        || (quality == q
                            && candidate == MediaType::GraphqlResponse
                            && current == MediaType::Json)
                }
            };
            if quality > 0.0 && better {
                best = Some((quality, candidate));
            }
        }
        best.map(|(_, media)| media)
    }
}

/// `POST /graphql`: an `application/json` body of at most [`MAX_BODY_BYTES`], or a
/// `multipart/form-data` upload ([`super::upload`]) from a signed-in client.
pub async fn post(
    State(gql): State<GraphqlState>,
    ClientIp(client_ip): ClientIp,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let request = if is_json(&headers) {
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                &format!("a JSON body is at most {MAX_BODY_BYTES} bytes"),
            );
        };
        match request_of_json(&body) {
            Ok(request) => request,
            Err(problem) => {
                return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &problem);
            }
        }
    } else if let Some(boundary) = multipart_boundary(&headers) {
        let Some(boundary) = boundary else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "a multipart/form-data body needs a boundary",
            );
        };
        match receive_multipart(&gql, &headers, body, boundary).await {
            Ok(request) => request,
            Err(refused) => return refused,
        }
    } else {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "content-type must be application/json (or multipart/form-data to upload a file)",
        );
    };
    execute(&gql, client_ip, &headers, media, request, Method::Post).await
}

/// A JSON request body (or a multipart request's `operations` part) as a request:
/// nesting bounded before decoding, no batches, parameters of the right JSON types.
fn request_of_json(body: &[u8]) -> Result<async_graphql::Request, String> {
    super::nesting::check_json(body).map_err(|too_deep| too_deep.to_string())?;
    let value: Value =
        serde_json::from_slice(body).map_err(|_| "body is not valid JSON".to_owned())?;
    if value.is_array() {
        return Err("batch requests are not supported".into());
    }
    request_of(value).map_err(str::to_owned)
}

/// Reads a multipart upload. Only a signed-in client may send one: multipart is a
/// content type a cross-site HTML form can send, and a form cannot set
/// `Authorization`, so no operation (`signup` included) runs from one. The token and
/// the `Content-Length` (when given) are checked before anything is read.
async fn receive_multipart(
    gql: &GraphqlState,
    headers: &HeaderMap,
    body: axum::body::Body,
    boundary: String,
) -> Result<async_graphql::Request, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    // A bad or expired token is refused before the body is read.
    let signed_in = match Viewer::from_authorization(authorization, gql.app.jwt()) {
        Ok(viewer) => viewer.is_some(),
        Err(e) => return Err(token_refused(&e)),
    };
    if !signed_in {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "uploads need a bearer token",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"delightchat\""),
        );
        return Err(response);
    }
    let max_file = gql.app.config().media_upload_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = super::upload::max_body_bytes(max_file);
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_USER_INPUT",
            &format!("the request is larger than {limit} bytes"),
        ));
    }
    super::upload::receive(body, boundary, max_file, request_of_json)
        .await
        .map_err(|refused| error_response(refused.status, "BAD_USER_INPUT", &refused.message))
}

/// Checks the parameters' JSON types (the spec's "well-formed request") and builds the
/// request.
fn request_of(value: Value) -> Result<async_graphql::Request, &'static str> {
    let Value::Object(map) = &value else {
        return Err("body is not a GraphQL request");
    };
    let persisted = map
        .get("extensions")
        .is_some_and(|e| e.get("persistedQuery").is_some());
    match map.get("query") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) if persisted => {}
        None => return Err("the request has no query"),
        Some(_) => return Err("query must be a string"),
    }
    if !matches!(
        map.get("operationName"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err("operationName must be a string");
    }
    for parameter in ["variables", "extensions"] {
        if !matches!(
            map.get(parameter),
            None | Some(Value::Null | Value::Object(_))
        ) {
            return Err(if parameter == "variables" {
                "variables must be an object"
            } else {
                "extensions must be an object"
            });
        }
    }
    let mut value = value;
    if let Some(map) = value.as_object_mut() {
        // async-graphql wants a string (APQ requests may leave it out) and no nulls.
        map.entry("query")
            .or_insert_with(|| Value::String(String::new()));
        if map.get("query").is_some_and(Value::is_null) {
            map.insert("query".into(), Value::String(String::new()));
        }
        map.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(value).map_err(|_| "body is not a GraphQL request")
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), a query in the query string,
/// or GraphiQL in a browser.
pub async fn get(State(gql): State<GraphqlState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if is_websocket(&parts.headers) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &gql).await {
            Ok(upgrade) => super::ws::upgrade(gql, upgrade),
            Err(rejection) => rejection.into_response(),
        };
    }
    let headers = parts.headers;
    let query = parts.uri.query().map(str::to_owned);
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return super::graphiql::page(&gql.app);
    };
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(r) => r,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "query string is not a GraphQL request",
            );
        }
    };
    let client_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    execute(&gql, client_ip, &headers, media, request, Method::Get).await
}

/// The client's address, when the server was started with connection info (the
/// `delightchat serve` listener is; in-process tests are not).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The HTTP method of a GraphQL request: GET runs queries only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Why an operation may not run over GET.
fn refused_on_get() -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "BAD_USER_INPUT",
        "mutations and subscriptions require POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn execute(
    gql: &GraphqlState,
    client_ip: Option<IpAddr>,
    headers: &HeaderMap,
    media: MediaType,
    request: async_graphql::Request,
    method: Method,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let viewer = match Viewer::from_authorization(authorization, gql.app.jwt()) {
        Ok(viewer) => viewer,
        Err(e) => return token_refused(&e),
    };
    let (mut request, registration) = match gql.persisted.resolve(request) {
        Ok(resolved) => resolved,
        Err(error) => {
            let mut response = async_graphql::Response::from_errors(vec![error]);
            finish_response(&mut response, &request_id);
            return respond(media, &response, true, false);
        }
    };
    if let Err(too_deep) = super::nesting::check_request(&request) {
        let mut response = async_graphql::Response::from_errors(vec![too_deep.into_server_error()]);
        finish_response(&mut response, &request_id);
        return respond(media, &response, true, false);
    }
    if let Err(forged) = super::upload::check_markers(&request) {
        let mut response = async_graphql::Response::from_errors(vec![forged]);
        finish_response(&mut response, &request_id);
        return respond(media, &response, true, false);
    }
    if method == Method::Get
        && !matches!(operation_type(&request), Some(OperationType::Query) | None)
    {
        return refused_on_get();
    }
    let context =
        RequestContext::new(viewer, request_id.clone(), gql.app.pool().clone()).from_ip(client_ip);
    let outcome = context.outcome();
    let loaders = loaders(&context);
    request = request.data(context).data(loaders);
    let mut response = gql.schema.execute(request).await;
    finish_response(&mut response, &request_id);
    let request_error = !outcome.executed();
    if !request_error && let Some(registration) = registration {
        gql.persisted.store(registration);
    }
    respond(
        media,
        &response,
        request_error,
        outcome.token_was_required(),
    )
}

/// Writes a GraphQL response: `data` only when execution started, the status per
/// media type, a Bearer challenge when a field needed a token.
fn respond(
    media: MediaType,
    response: &async_graphql::Response,
    request_error: bool,
    token_required: bool,
) -> Response {
    let status = if request_error && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_vec(&ResponseBody::of(response, request_error)).unwrap_or_default();
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.header());
    if token_required {
        http.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"delightchat\""),
        );
    }
    http
}

/// A response as written on the wire, in the order of the spec: `errors`, `data`,
/// `extensions`. Serialised straight from async-graphql's values, which keep the
/// document's field order (a detour through `serde_json::Value` would sort them).
#[derive(serde::Serialize)]
pub struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

impl<'a> ResponseBody<'a> {
    /// The wire form of `response`; without `data` after a request error.
    pub fn of(response: &'a async_graphql::Response, request_error: bool) -> Self {
        Self {
            errors: &response.errors,
            data: (!request_error).then_some(&response.data),
            extensions: &response.extensions,
        }
    }
}

/// 401 for a token that is present but unusable (RFC 6750 `invalid_token`).
fn token_refused(error: &AppError) -> Response {
    let description = match error {
        AppError::TokenExpired => "the access token expired",
        _ => "the access token is invalid",
    };
    let mut response = error_response(StatusCode::UNAUTHORIZED, error.code(), error.message());
    let challenge = format!(
        "Bearer realm=\"delightchat\", error=\"invalid_token\", error_description=\"{description}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "BAD_USER_INPUT",
        "accept application/graphql-response+json or application/json",
    )
}

/// The type of the operation a request will run (`None` if the document does not parse:
/// execution then reports the syntax error).
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, op)| op.node.ty),
            // Several operations and no name: refuse unless all are queries.
            None => ops
                .values()
                .map(|op| op.node.ty)
                .find(|ty| *ty != OperationType::Query)
                .or(Some(OperationType::Query)),
        },
    }
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// For a `multipart/form-data` body: its boundary (`None` inside when it has none).
fn multipart_boundary(headers: &HeaderMap) -> Option<Option<String>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("multipart/form-data")
        .then(|| multer::parse_boundary(content_type).ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A GraphQL-shaped error response with a status code.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: Option<&str>) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        MediaType::negotiate(&headers)
    }

    #[test]
    fn accept_picks_the_media_type() {
        use MediaType::*;
        assert_eq!(negotiate(None), Some(Json));
        assert_eq!(negotiate(Some("*/*")), Some(Json));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(
            negotiate(Some(GRAPHQL_RESPONSE_JSON)),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some("application/json, application/graphql-response+json")),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Json)
        );
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }

    #[test]
    fn parameters_of_the_wrong_json_type_are_refused() {
        for body in [
            json!({"notquery": "{ a }"}),
            json!({"query": 1}),
            json!({"query": ["{ a }"]}),
            json!({"query": "{ a }", "operationName": false}),
            json!({"query": "{ a }", "variables": "x"}),
            json!({"query": "{ a }", "extensions": [1]}),
        ] {
            assert!(request_of(body.clone()).is_err(), "{body}");
        }
        for body in [
            json!({"query": "{ a }", "variables": null, "operationName": null, "extensions": null}),
            json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}),
        ] {
            assert!(request_of(body.clone()).is_ok(), "{body}");
        }
    }
}
