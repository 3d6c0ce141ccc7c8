//! Extractors that turn untrusted request parts into typed values or problem responses.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body any route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of an oversized body is read and thrown away so the client gets its 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// A JSON body, with every failure (wrong media type, bad syntax, wrong shape, too large)
/// answered as a 4xx problem, never a 500 or a plain-text error.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_length.is_some_and(|n| n > MAX_BODY_BYTES) {
            // Read (and drop) a moderately oversized body before answering: closing the
            // connection on unread data makes TCP reset it, and the client then never sees
            // the 413. Anything larger than the drain limit is cut off regardless.
            let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT_BYTES).await;
            return Err(ApiError::BodyTooLarge);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::MalformedBody("the body could not be read".into())
            }
        })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge);
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body; domain newtypes validate during deserialisation, so their messages
/// arrive here and are passed on (they never contain secrets).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(&mut de).map_err(|e| ApiError::MalformedBody(describe(&e)))?;
    de.end().map_err(|e| ApiError::MalformedBody(describe(&e)))?;
    Ok(value)
}

fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => "the body is not valid JSON".into(),
        Category::Data => {
            // serde's message names the field and the expectation, e.g. "missing field `code`".
            let text = e.to_string();
            text.split(" at line ").next().unwrap_or("invalid field").to_owned()
        }
        Category::Io => "the body could not be read".into(),
    }
}

/// The caller's address: API Gateway's `sourceIp` in Lambda, the socket peer locally.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
            parts.extensions.get::<lambda_http::request::RequestContext>()
        {
            if let Some(ip) = &ctx.http.source_ip {
                return Ok(Self(Some(ip.clone())));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer))
    }
}
