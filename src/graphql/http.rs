//! `/graphql` over HTTP. POST runs any operation from an `application/json` body; GET
//! runs queries only (mutations are refused with 405) or serves GraphiQL. No batches, a
//! real body-size limit, and every error carries `extensions.code`.

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::AppSchema;
use super::context::RequestContext;
use super::errors::finish_response;
use super::loaders::loaders;
use crate::auth::viewer::Viewer;
use crate::state::AppState;

/// Largest accepted `/graphql` body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// State of the GraphQL routes.
#[derive(Clone)]
pub struct GraphqlState {
    /// Application state.
    pub app: AppState,
    /// The executable schema.
    pub schema: AppSchema,
}

/// `POST /graphql`.
pub async fn post(State(gql): State<GraphqlState>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "content-type must be application/json",
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "body is not valid JSON",
            );
        }
    };
    if value.is_array() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "batch requests are not supported",
        );
    }
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "body is not a GraphQL request",
            );
        }
    };
    execute(&gql, &headers, request).await
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
        return graphiql(&gql.app);
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
    match operation_type(&request) {
        Some(OperationType::Query) | None => execute(&gql, &headers, request).await,
        Some(_) => {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "BAD_USER_INPUT",
                "mutations and subscriptions require POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            response
        }
    }
}

fn graphiql(app: &AppState) -> Response {
    if !app.config().graphql_introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("DelightChat")
            .finish(),
    )
    .into_response()
}

async fn execute(
    gql: &GraphqlState,
    headers: &HeaderMap,
    request: async_graphql::Request,
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
        Err(e) => return error_response(StatusCode::UNAUTHORIZED, e.code(), e.message()),
    };
    let request = request
        .data(RequestContext::new(viewer, request_id.clone()))
        .data(loaders(gql.app.clone(), viewer.map(|v| v.user_id)));
    let mut response = gql.schema.execute(request).await;
    finish_response(&mut response, &request_id);
    let body = serde_json::to_vec(&response).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
